"""Inference precision as a load-time choice (spacy-bert-ner.TransformerModel.v2): every mode loads, runs and
agrees with fp32 on most entities of a tiny trained pipeline; fp32 stays bit-identical to the saved pipeline."""
import importlib.util
from pathlib import Path
from typing import Dict, List, Tuple

import numpy
import pytest
import spacy

from spacy_bert_ner.precision import ARCHITECTURE, Precision, load_with_precision, precision_overrides, runners
from spacy_bert_ner.precision_backends import bf16_cpu_support

from .conftest import TRAIN_SENTENCES, build_pipeline, make_examples

TEXTS = [text for text, _ in TRAIN_SENTENCES] + ["Peter Blackburn said the European Commission visited Germany ."]
HAS_ORT = all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx"))
BF16, BF16_WHY = bf16_cpu_support()
SKIPS = {
    "bf16": pytest.mark.skipif(not BF16, reason=f"bf16: {BF16_WHY}"),
    "onnx": pytest.mark.skipif(not HAS_ORT, reason="onnxruntime / onnx not installed (the onnx extra)"),
    "onnx-int8": pytest.mark.skipif(not HAS_ORT, reason="onnxruntime / onnx not installed (the onnx extra)"),
}
Entities = List[List[Tuple[int, int, str]]]


def train_until_it_tags(tiny_bert_dir: Path, head: str, path: Path) -> Path:
    """transformer (v3, as older pipelines were saved) + ``head``, trained until it tags the texts."""
    nlp = build_pipeline(tiny_bert_dir, head=head)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, losses={})
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def trained_dirs(tiny_bert_dir, tmp_path_factory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("precision")
    return {head: train_until_it_tags(tiny_bert_dir, head, root / head) for head in ("token_classifier", "ner")}


@pytest.fixture(scope="module")
def trained_dir(trained_dirs) -> Path:
    return trained_dirs["token_classifier"]


def entities(nlp) -> Entities:
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(TEXTS)]


def scores(nlp) -> List[numpy.ndarray]:
    docs = [nlp.make_doc(text) for text in TEXTS]
    for name, pipe in nlp.pipeline:
        if name == "token_classifier":
            return [nlp.get_pipe(name).model.ops.to_numpy(s) for s in pipe.model.predict(docs)]
        docs = list(pipe.pipe(docs))
    raise AssertionError("no token_classifier")


@pytest.fixture(scope="module")
def fp32_by_head(trained_dirs) -> Dict[str, Entities]:
    found = {head: entities(spacy.load(path)) for head, path in trained_dirs.items()}
    for head, ents in found.items():
        assert sum(map(len, ents)) >= 8, f"the fixture {head} pipeline should tag most gold entities"
    return found


@pytest.fixture(scope="module")
def fp32_entities(fp32_by_head) -> Entities:
    return fp32_by_head["token_classifier"]


def test_fp32_is_bit_identical_to_the_saved_pipeline(trained_dir):
    saved = spacy.load(trained_dir)  # spacy-transformers.TransformerModel.v3, every window padded
    v2 = load_with_precision(trained_dir, "fp32", chunk_size=0)
    assert v2.config["components"]["transformer"]["model"]["@architectures"] == ARCHITECTURE
    for expected, got in zip(scores(saved), scores(v2)):
        assert numpy.array_equal(expected, got)
    v1 = spacy.load(trained_dir, config={"components.transformer.model.@architectures": "spacy-bert-ner.TransformerModel.v1"})
    for expected, got in zip(scores(v1), scores(load_with_precision(trained_dir, "fp32", chunk_size=4))):
        assert numpy.array_equal(expected, got)  # v2 fp32 with sorted chunks = v1's outputs


@pytest.mark.parametrize("head", ["token_classifier", "ner"])
@pytest.mark.parametrize("mode", [pytest.param(m, marks=SKIPS.get(m, ())) for m in ("bf16", "int8", "onnx", "onnx-int8")])
def test_each_precision_loads_runs_and_agrees_with_fp32(trained_dirs, fp32_by_head, mode, head):
    nlp = load_with_precision(trained_dirs[head], mode)
    found, expected = entities(nlp), fp32_by_head[head]
    agree = sum(len(set(a) & set(b)) for a, b in zip(found, expected))
    assert agree >= 0.8 * sum(map(len, expected)), (mode, found, expected)
    (runner,) = runners(nlp)
    assert runner.precision.mode == mode and runner.info  # what was built is stated
    if mode == "onnx":
        assert runner.info["providers"] == ["CPUExecutionProvider"]


def test_int8_keeps_chosen_layers_in_fp32(trained_dir):
    import torch

    nlp = load_with_precision(trained_dir, "int8", fp32_modules=["*.output.dense"], int8_per_channel=True)
    nlp(TEXTS[0])
    (runner,) = runners(nlp)
    kept = runner.info["fp32_linear"]
    assert kept and all(name.endswith("output.dense") for name in kept)
    twin = runner.backend
    assert type(twin.get_submodule(kept[0])) is torch.nn.Linear
    assert type(twin.get_submodule("encoder.layer.0.intermediate.dense")) is not torch.nn.Linear
    assert runner.info["weights"] == "per-channel"


@SKIPS["onnx"]
def test_onnx_int8_keeps_chosen_nodes_in_fp32(trained_dir):
    nlp = load_with_precision(trained_dir, "onnx-int8", fp32_modules=["encoder.layer.0.output.*"])
    nlp(TEXTS[0])
    (runner,) = runners(nlp)
    assert [name for name in runner.info["fp32_nodes"]] == ["/module/encoder/layer.0/output/dense/MatMul"]
    assert runner.info["n_nodes_quantized"] > 0


def test_the_fp32_weights_stay_for_saving_and_training(trained_dir, tmp_path, fp32_entities):
    nlp = load_with_precision(trained_dir, "int8")
    entities(nlp)
    (runner,) = runners(nlp)
    assert runner.backend is not None
    nlp.to_disk(tmp_path / "saved")  # the fp32 module is what is saved
    assert entities(load_with_precision(tmp_path / "saved", "fp32")) == fp32_entities
    nlp.update(make_examples(nlp), losses={})  # training runs fp32 and drops the stale int8 copy
    assert runner.backend is None


def test_spacy_load_with_dotted_overrides(trained_dir):
    overrides = precision_overrides(trained_dir, Precision("int8"))
    assert overrides["components.transformer.model.@architectures"] == ARCHITECTURE
    nlp = spacy.load(trained_dir, config=overrides)
    assert nlp.config["components"]["transformer"]["model"]["precision"] == "int8"
    assert runners(nlp)[0].precision == Precision("int8")


def test_unknown_precision_and_missing_transformer_fail(trained_dir, tmp_path):
    with pytest.raises(ValueError, match="precision: expected one of"):
        Precision("fp16")
    (tmp_path / "config.cfg").write_text("[components]\n\n[components.ner]\nfactory = \"ner\"\n")
    with pytest.raises(ValueError, match="no spacy-transformers transformer"):
        precision_overrides(tmp_path, Precision("int8"))


def test_bf16_is_refused_where_it_would_be_emulated(trained_dir, monkeypatch):
    from spacy_bert_ner import precision_backends

    monkeypatch.setattr(precision_backends, "bf16_cpu_support", lambda: (False, "no native bf16 on this CPU (test)"))
    nlp = load_with_precision(trained_dir, "bf16")
    with pytest.raises(ValueError, match="no native bf16"):
        nlp(TEXTS[0])


def test_evaluate_cli_runs_in_a_chosen_precision(trained_dir, tmp_path):
    import json

    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    from spacy_bert_ner.cli import app

    gold = tmp_path / "gold.spacy"
    DocBin(docs=[eg.reference for eg in make_examples(spacy.load(trained_dir))]).to_disk(gold)
    reports = {}
    for mode in ("fp32", "int8"):
        result = CliRunner().invoke(app, ["evaluate", str(trained_dir), str(gold), str(tmp_path / mode),
                                          "--precision", mode, "--int8-per-channel", "--quiet"])
        assert result.exit_code == 0, result.output
        reports[mode] = json.loads((tmp_path / mode / "test_metrics.json").read_text())
    assert reports["fp32"]["load_overrides"] == {}
    assert reports["int8"]["load_overrides"]["components.transformer.model.precision"] == "int8"
    assert "precision: int8 per-channel" in result.output
    f1 = {mode: report["headline"]["f1"] for mode, report in reports.items()}
    assert f1["fp32"] > 0.5 and abs(f1["int8"] - f1["fp32"]) <= 0.2, f1
    bad = CliRunner().invoke(app, ["evaluate", str(trained_dir), str(gold), str(tmp_path / "bad"), "--precision", "fp16"])
    assert bad.exit_code == 1 and "precision: expected one of" in bad.output
