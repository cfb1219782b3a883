"""The speed benchmark end to end: every system on the same words, report, outputs, memory, CLI."""
import json
import statistics
from typing import List

import pytest
import spacy
from PIL import Image
from typer.testing import CliRunner

from spacy_bert_ner.bench import rss
from spacy_bert_ner.bench.data import BenchData
from spacy_bert_ner.bench.render import markdown_table, write_outputs
from spacy_bert_ner.bench.spacy_systems import quantize_transformer, sorted_batches_override, spacy_system
from spacy_bert_ner.bench.spec import SYSTEM_ORDER, BenchmarkSpec, build_system
from spacy_bert_ner.bench.speed import run_benchmark
from spacy_bert_ner.bench.timing import RATIO_PAIRS
from spacy_bert_ner.cli import app
from spacy_bert_ner.util import hf_model

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)
from .conftest import TRAIN_SENTENCES

HARDWARE = {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "gpu": None}




@pytest.fixture(scope="module")
def result(pipelines, tiny_bert_dir, docbin_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("speed_training")
    train_time = root / "train_time.json"
    train_time.write_text(json.dumps({"seconds": 30.0, "epochs": 3.0, "seconds_per_epoch": 10.0, "hardware": HARDWARE}))
    recipe = root / "hf.json"
    recipe.write_text(json.dumps({"train_seconds": 60.0, "config": {"epochs": 3.0}, "hardware": HARDWARE}))
    spec = BenchmarkSpec(
        data_path=str(docbin_path), tc_dir=str(pipelines["token_classifier"]), ner_dir=str(pipelines["ner"]),
        encoder_dir=str(tiny_bert_dir), repeats=3, int8=True, rss="process", hf_batch_size=2, bare_batch_size=4,
    )
    return run_benchmark(spec, train_times={"token_classifier": train_time}, hf_recipe=recipe, command="test")


def test_every_system_is_measured_on_the_same_words(result):
    assert list(result["systems"]) == list(SYSTEM_ORDER)
    data = result["data"]
    assert data["n_docs"] == 3
    assert data["n_words"] == sum(len(text.split()) for text, _ in TRAIN_SENTENCES)
    assert data["n_wordpieces"] >= data["n_words"]
    for name, entry in result["systems"].items():
        assert entry["words_per_second"] > 0, name
        assert entry["repeats"] == 3 == len(entry["seconds_all"])
        assert entry["seconds_median"] == statistics.median(entry["seconds_all"])
        assert entry["words_per_second"] == pytest.approx(data["n_words"] / entry["seconds_median"])
        assert entry["wordpieces_per_second"] == pytest.approx(data["n_wordpieces"] / entry["seconds_median"])
        assert entry["threads"] >= 1
        assert entry["batch_size"] >= 1
        assert entry["peak_rss_mb"] > 0
        assert entry["model"]
    assert result["systems"]["hf_pipeline"]["batch_size"] == 2
    assert result["systems"]["bare_forward"]["batch_size"] == 4
    for key in ("hardware", "versions", "definitions", "model", "settings"):
        assert result[key]
    assert result["hardware"]["cores"] >= 1
    assert "SO FAR" in result["definitions"]["peak_rss_mb"]  # rss="process": says it is not per system


def test_schedule_is_interleaved(result):
    names = list(SYSTEM_ORDER)
    assert result["schedule"] == [f"warm-up:{n}" for n in names] + [f"{n}#{k}" for k in (1, 2, 3) for n in names]


def test_ratios_match_the_numbers(result):
    systems = result["systems"]
    assert set(result["ratios"]) == {f"{a}/{b}" for a, b in RATIO_PAIRS}
    for key, value in result["ratios"].items():
        a, b = key.split("/")
        assert value == pytest.approx(systems[a]["words_per_second"] / systems[b]["words_per_second"])


def test_int8_reports_f1_next_to_fp32(result):
    fp32, int8 = result["systems"]["token_classifier"], result["systems"]["token_classifier_int8"]
    for entry in (fp32, int8, result["systems"]["ner"]):
        quality = entry["quality"]
        assert 0.0 <= quality["f1"] <= 1.0
        assert quality["tp"] + quality["fn"] == sum(len(ents) for _, ents in TRAIN_SENTENCES)
    assert int8["quantization"]["dtype"] == "qint8"
    assert int8["quantization"]["n_linear_quantized"] > 0
    assert int8["precision"].startswith("int8") and fp32["precision"] == "fp32"
    assert result["systems"]["hf_pipeline"]["quality"] is None
    assert result["systems"]["bare_forward"]["quality"] is None


def test_training_section_in_the_report(result):
    training = result["training"]
    assert training["ratios"] == pytest.approx({"token_classifier/hf_recipe": 10.0 / 20.0})


def test_outputs_are_written(result, tmp_path):
    paths = write_outputs(result, tmp_path / "bench")
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(result))
    markdown = paths["markdown"].read_text()
    for name in SYSTEM_ORDER:
        assert f"| {name} |" in markdown
    assert "token_classifier/hf_pipeline" in markdown and "## Training" in markdown
    with Image.open(paths["png"]) as image:
        image.verify()
    with Image.open(paths["png"]) as image:
        assert image.format == "PNG" and min(image.size) > 100
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == ["speed.json", "speed.md", "speed.png"]


def test_markdown_table_rows(result):
    table = markdown_table(result)
    f1 = result["systems"]["token_classifier_int8"]["quality"]["f1"] * 100
    assert f"{f1:.2f}" in table
    assert "n/a (random head)" in table


# ---------------------------------------------------------------------------
# Quantization, peak RSS in a fresh process, CLI
# ---------------------------------------------------------------------------
def test_quantize_transformer_swaps_linear_layers(pipelines):
    import torch

    nlp = spacy.load(pipelines["token_classifier"])
    module = hf_model(nlp)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in module.modules())
    info = quantize_transformer(nlp)
    assert info["n_linear_quantized"] == n_linear > 0
    assert info["components"] == ["transformer"]
    assert not any(type(m) is torch.nn.Linear for m in module.modules())
    doc = nlp("Peter Blackburn visited Brussels .")
    assert len(doc) == 5  # still runs
    with pytest.raises(ValueError, match="no transformer"):
        quantize_transformer(spacy.blank("en"))


def test_rss_child_builds_one_system_and_reports(tiny_bert_dir, docbin_path, monkeypatch, capsys):
    spec = BenchmarkSpec(data_path=str(docbin_path), encoder_dir=str(tiny_bert_dir), repeats=1)
    built: List[str] = []
    original = rss.build_system
    monkeypatch.setattr(rss, "build_system", lambda name, *a: built.append(name) or original(name, *a))
    payload = {"name": "hf_pipeline", "spec": spec.settings()}
    monkeypatch.setattr(rss.sys, "argv", ["-c", json.dumps(payload)])
    rss.rss_child()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert built == ["hf_pipeline"]
    assert report["peak_rss_mb"] >= report["baseline_rss_mb"] > 0


@pytest.mark.slow
def test_peak_rss_in_a_fresh_process(tiny_bert_dir, docbin_path):
    """The real thing: a fresh interpreter (several seconds: it imports torch, transformers, spaCy)."""
    spec = BenchmarkSpec(data_path=str(docbin_path), encoder_dir=str(tiny_bert_dir), repeats=1)
    record = rss.measure_rss_subprocess("bare_forward", spec)
    assert record["mode"] == "subprocess"
    assert record["peak_rss_mb"] >= record["baseline_rss_mb"] > 50  # torch + transformers + spaCy loaded
    assert record["system_rss_mb"] == pytest.approx(record["peak_rss_mb"] - record["baseline_rss_mb"])


def test_spec_validation(docbin_path):
    with pytest.raises(ValueError, match="nothing to measure"):
        BenchmarkSpec(data_path=str(docbin_path), int8=False)
    with pytest.raises(ValueError, match="repeats"):
        BenchmarkSpec(data_path=str(docbin_path), encoder_dir="x", repeats=0)
    with pytest.raises(ValueError, match="rss"):
        BenchmarkSpec(data_path=str(docbin_path), encoder_dir="x", rss="maybe")
    assert BenchmarkSpec(data_path="x", encoder_dir="e", int8=False).system_names() == ["hf_pipeline", "bare_forward"]
    spec = BenchmarkSpec(data_path=str(docbin_path), encoder_dir="missing", int8=False)
    assert BenchmarkSpec.from_settings(json.loads(json.dumps(spec.settings()))) == spec
    with pytest.raises(FileNotFoundError, match="HuggingFace model folder"):
        build_system("hf_pipeline", spec, BenchData.load(docbin_path), {})


def test_cli_benchmark(pipelines, docbin_path, tmp_path):
    out = tmp_path / "cli"
    outcome = CliRunner().invoke(app, [
        "benchmark", "--tc", str(pipelines["token_classifier"]), "--data", str(docbin_path),
        "--output-dir", str(out), "--repeats", "2", "--max-words", "20", "--no-int8", "--rss", "none",
        "--chunk-size", "0",
    ])
    assert outcome.exit_code == 0, outcome.output
    report = json.loads((out / "speed.json").read_text())
    assert list(report["systems"]) == ["token_classifier"]  # no int8, no sorted/padded pair
    assert report["data"]["n_words"] <= 20 + 14  # at least one whole sentence is kept
    assert report["systems"]["token_classifier"]["repeats"] == 2
    assert report["systems"]["token_classifier"]["peak_rss_mb"] is None
    assert "| token_classifier |" in outcome.output
    bad = CliRunner().invoke(app, ["benchmark", "--data", str(docbin_path), "--output-dir", str(out)])
    assert bad.exit_code == 1 and "nothing to measure" in bad.output
    for option, message in (
        ("token_classifier", "--train-time expects NAME=VALUE"),
        (f"token_classifier={tmp_path / 'missing.json'}", "expected a train_time.json"),
    ):
        bad = CliRunner().invoke(app, [
            "benchmark", "--tc", str(pipelines["token_classifier"]), "--data", str(docbin_path),
            "--output-dir", str(tmp_path / "bad"), "--train-time", option,
        ])
        assert bad.exit_code == 1 and message in bad.output
    assert not (tmp_path / "bad").exists()


def test_sorted_batches_run_v3_pipelines_with_the_same_predictions(pipelines, docbin_path):
    data = BenchData.load(docbin_path)
    as_saved = spacy_system("token_classifier", pipelines["token_classifier"], data, chunk_size=0)
    chunked = spacy_system("token_classifier", pipelines["token_classifier"], data, chunk_size=2)
    assert "length-sorted chunks of 2" in chunked.info["transformer_batching"]
    assert "default" in as_saved.info["transformer_batching"]
    expected, got = as_saved.score(as_saved.run()), chunked.score(chunked.run())
    assert (got["tp"], got["fp"], got["fn"]) == (expected["tp"], expected["fp"], expected["fn"])


@pytest.mark.parametrize(
    "architecture,chunk_size,expected",
    [
        ("spacy-transformers.TransformerModel.v3", 8, ("spacy-bert-ner.TransformerModel.v1", 8)),
        ("spacy-transformers.TransformerModel.v3", 0, None),
        ("spacy-bert-ner.TransformerModel.v1", 0, ("spacy-bert-ner.TransformerModel.v1", 0)),
        ("spacy-bert-ner.TransformerModel.v1", 4, ("spacy-bert-ner.TransformerModel.v1", 4)),
    ],
)
def test_sorted_batches_override(tmp_path, architecture, chunk_size, expected):
    (tmp_path / "config.cfg").write_text(
        "[components]\n\n[components.transformer]\nfactory = \"transformer\"\n\n"
        f"[components.transformer.model]\n@architectures = \"{architecture}\"\n\n"
        "[components.ner]\nfactory = \"ner\"\n"
    )
    overrides = sorted_batches_override(tmp_path, chunk_size)
    if expected is None:
        assert overrides == {}
    else:
        assert overrides == {
            "components.transformer.model.@architectures": expected[0],
            "components.transformer.model.chunk_size": expected[1],
        }
