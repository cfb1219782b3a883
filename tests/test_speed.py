"""The speed benchmark: interleaved schedule, medians, ratios, int8 with F1, outputs, CLI."""
import json
import statistics
from pathlib import Path
from typing import Dict, List

import pytest
import spacy
from PIL import Image
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bert_ner.bench import speed
from spacy_bert_ner.cli import app
from spacy_bert_ner.bench.speed import (
    BenchmarkSpec,
    System,
    bare_forward_predict,
    count_wordpieces,
    doc_sentences,
    load_docs,
    load_token_classification_model,
    markdown_table,
    measure_interleaved,
    parse_named_path,
    quantize_transformer,
    run_benchmark,
    speed_ratios,
    summarize_seconds,
    training_section,
    write_outputs,
)

from .conftest import TRAIN_SENTENCES, build_pipeline, gold_doc, make_examples


# ---------------------------------------------------------------------------
# Pure: schedule, medians, ratios
# ---------------------------------------------------------------------------
class FakeClock:
    """Each system's pass advances the clock by the next of its scripted durations."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_system(name: str, durations: List[float], clock: FakeClock, calls: List[str]) -> System:
    pending = list(durations)

    def run():
        calls.append(name)
        clock.now += pending.pop(0)
        return f"{name}-output-{len(pending)}"

    return System(name, run, warm_up=lambda: calls.append(f"warm:{name}"))


def test_passes_are_interleaved_and_timed_per_pass():
    clock, calls = FakeClock(), []
    systems = [
        fake_system("a", [3.0, 1.0, 2.0], clock, calls),
        fake_system("b", [5.0, 4.0, 6.0], clock, calls),
    ]
    timings = measure_interleaved(systems, 3, clock=clock)
    assert calls == ["warm:a", "warm:b", "a", "b", "a", "b", "a", "b"]
    assert timings.schedule == ["warm-up:a", "warm-up:b", "a#1", "b#1", "a#2", "b#2", "a#3", "b#3"]
    assert timings.seconds == {"a": [3.0, 1.0, 2.0], "b": [5.0, 4.0, 6.0]}
    assert timings.outputs == {"a": "a-output-0", "b": "b-output-0"}  # the last pass


def test_measure_rejects_bad_input():
    clock, calls = FakeClock(), []
    with pytest.raises(ValueError, match="repeats"):
        measure_interleaved([fake_system("a", [1.0], clock, calls)], 0, clock=clock)
    with pytest.raises(ValueError, match="unique"):
        measure_interleaved([fake_system("a", [1.0], clock, calls)] * 2, 1, clock=clock)


@pytest.mark.parametrize("seconds", [[3.0, 1.0, 2.0], [4.0, 1.0, 2.0, 10.0], [2.5]])
def test_summary_uses_the_median_pass(seconds):
    summary = summarize_seconds(seconds, n_words=1000, n_wordpieces=1500)
    median = statistics.median(seconds)
    assert summary["seconds_median"] == median
    assert summary["words_per_second"] == pytest.approx(1000 / median)
    assert summary["wordpieces_per_second"] == pytest.approx(1500 / median)
    assert summary["seconds_all"] == seconds
    assert summary["repeats"] == len(seconds)
    assert summary["words_per_second_all"] == pytest.approx([1000 / s for s in seconds])


def test_summary_median_is_not_the_mean():
    summary = summarize_seconds([1.0, 1.0, 10.0], n_words=100, n_wordpieces=100)
    assert summary["seconds_median"] == 1.0
    assert summary["words_per_second"] == 100.0


def test_ratios_divide_words_per_second():
    systems = {
        "token_classifier": {"words_per_second": 1200.0},
        "hf_pipeline": {"words_per_second": 1000.0},
        "bare_forward": {"words_per_second": 2400.0},
    }
    ratios = speed_ratios(systems)
    assert ratios == pytest.approx({
        "token_classifier/hf_pipeline": 1.2,
        "token_classifier/bare_forward": 0.5,
        "bare_forward/hf_pipeline": 2.4,
    })


# ---------------------------------------------------------------------------
# Data slicing
# ---------------------------------------------------------------------------



@pytest.fixture(scope="module")
def docbin_path(tmp_path_factory) -> Path:
    blank = spacy.blank("en")
    docs = [gold_doc(blank, TRAIN_SENTENCES[i : i + 2]) for i in range(0, len(TRAIN_SENTENCES), 2)]
    path = tmp_path_factory.mktemp("speed_data") / "test.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def test_load_docs_cuts_at_sentence_boundaries(docbin_path):
    all_docs = load_docs(docbin_path)
    lengths = [[len(text.split()) for text, _ in TRAIN_SENTENCES[i : i + 2]] for i in (0, 2, 4)]
    assert [len(doc) for doc in all_docs] == [sum(pair) for pair in lengths]
    # whole first doc + the first sentence of the second
    limit = sum(lengths[0]) + lengths[1][0]
    cut = load_docs(docbin_path, max_words=limit + 1)
    assert [len(doc) for doc in cut] == [sum(lengths[0]), lengths[1][0]]
    assert doc_sentences(cut)[-1] == TRAIN_SENTENCES[2][0].split()
    assert [(e.start, e.end, e.label_) for e in cut[1].ents] == TRAIN_SENTENCES[2][1]
    # a limit inside the first sentence still keeps one sentence
    assert [len(doc) for doc in load_docs(docbin_path, max_words=2)] == [lengths[0][0]]
    with pytest.raises(FileNotFoundError):
        load_docs(docbin_path.parent / "missing.spacy")


def test_wordpieces_are_counted_without_special_tokens(tiny_bert_dir):
    _, tokenizer = load_token_classification_model(tiny_bert_dir, ["O", "B-PER", "I-PER"])
    sentences = [["Peter", "Blackburn"], ["Zwingmann"]]
    expected = sum(len(tokenizer.tokenize(word)) for sentence in sentences for word in sentence)
    assert count_wordpieces(tokenizer, sentences) == expected
    assert count_wordpieces(tokenizer, []) == 0


def test_bare_forward_restores_the_input_order(tiny_bert_dir):
    import torch

    model, tokenizer = load_token_classification_model(tiny_bert_dir, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    sentences = [text.split() for text, _ in TRAIN_SENTENCES] + [["Brussels"]]
    batched = bare_forward_predict(model, tokenizer, sentences, batch_size=3)
    by_words = bare_forward_predict(model, tokenizer, sentences, batch_size=3, sort_by="words")
    assert [len(labels) for labels in batched] == [len(s) for s in sentences]
    with torch.inference_mode():  # HF's own way, one sentence at a time
        for words, labels, other in zip(sentences, batched, by_words):
            encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
            argmax = model(**encoding).logits.argmax(dim=-1)[0].numpy()
            first = [encoding.word_ids().index(w) for w in range(len(words))]
            assert labels.tolist() == argmax[first].tolist() == other.tolist()
    assert bare_forward_predict(model, tokenizer, []) == []
    with pytest.raises(ValueError, match="sort_by"):
        bare_forward_predict(model, tokenizer, sentences, sort_by="chars")


# ---------------------------------------------------------------------------
# Training section
# ---------------------------------------------------------------------------
HARDWARE = {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "gpu": None}


def test_training_section_compares_seconds_per_epoch(tmp_path):
    tc = tmp_path / "train_time.json"
    tc.write_text(json.dumps({"seconds": 900.0, "epochs": 1.5, "seconds_per_epoch": 600.0, "hardware": HARDWARE}))
    recipe = tmp_path / "hf_recipe.json"
    recipe.write_text(json.dumps({
        "train_seconds": 1247.0, "config": {"epochs": 3.0},
        "hardware": {"cpu_model": "AMD EPYC", "cpu_cores": 2, "gpu": None},
    }))
    section = training_section({"token_classifier": tc}, recipe)
    assert section["systems"]["hf_recipe"]["seconds_per_epoch"] == pytest.approx(1247.0 / 3)
    assert section["systems"]["token_classifier"]["seconds_per_epoch"] == 600.0
    assert section["ratios"] == pytest.approx({"token_classifier/hf_recipe": 600.0 / (1247.0 / 3)})
    assert section["warnings"] == []
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"seconds": 100.0, "epochs": 2.0, "hardware": {**HARDWARE, "cpu": "Xeon"}}))
    section = training_section({"ner": other}, recipe)
    assert section["systems"]["ner"]["seconds_per_epoch"] == 50.0  # seconds / epochs
    assert "different hardware" in section["warnings"][0]
    with pytest.raises(FileNotFoundError):
        training_section({"ner": tmp_path / "missing.json"})
    recipe.write_text(json.dumps({"test_f1": 0.8}))
    with pytest.raises(ValueError, match="train_seconds"):
        training_section({}, recipe)


def test_parse_named_path():
    assert parse_named_path("token_classifier=a/b.json") == ("token_classifier", Path("a/b.json"))
    for bad in ("a/b.json", "=a.json", "ner="):
        with pytest.raises(ValueError, match="NAME=PATH"):
            parse_named_path(bad)


# ---------------------------------------------------------------------------
# End to end on tiny trained pipelines
# ---------------------------------------------------------------------------
def train_and_save(tiny_bert_dir: Path, head: str, path: Path, n_steps: int = 3) -> Path:
    nlp = build_pipeline(tiny_bert_dir, head=head)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(n_steps):
        nlp.update(examples, sgd=optimizer, losses={})
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory, tiny_bert_dir) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("speed_pipelines")
    return {head: train_and_save(tiny_bert_dir, head, root / head) for head in ("token_classifier", "ner")}


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
    assert list(result["systems"]) == list(speed.SYSTEM_ORDER)
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
    names = list(speed.SYSTEM_ORDER)
    assert result["schedule"] == [f"warm-up:{n}" for n in names] + [f"{n}#{k}" for k in (1, 2, 3) for n in names]


def test_ratios_match_the_numbers(result):
    systems = result["systems"]
    assert set(result["ratios"]) == {f"{a}/{b}" for a, b in speed.RATIO_PAIRS}
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
    for name in speed.SYSTEM_ORDER:
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
    hf_model = nlp.get_pipe("transformer").model.transformer
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in hf_model.modules())
    info = quantize_transformer(nlp)
    assert info["n_linear_quantized"] == n_linear > 0
    assert info["components"] == ["transformer"]
    assert not any(type(m) is torch.nn.Linear for m in hf_model.modules())
    doc = nlp("Peter Blackburn visited Brussels .")
    assert len(doc) == 5  # still runs
    with pytest.raises(ValueError, match="no transformer"):
        quantize_transformer(spacy.blank("en"))


def test_rss_child_builds_one_system_and_reports(tiny_bert_dir, docbin_path, monkeypatch, capsys):
    spec = BenchmarkSpec(data_path=str(docbin_path), encoder_dir=str(tiny_bert_dir), repeats=1)
    built: List[str] = []
    original = speed.build_system
    monkeypatch.setattr(speed, "build_system", lambda name, *a: built.append(name) or original(name, *a))
    payload = {"name": "hf_pipeline", "spec": {**speed.asdict(spec), "labels": list(spec.labels)}}
    monkeypatch.setattr(speed.sys, "argv", ["-c", json.dumps(payload)])
    speed._rss_child()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert built == ["hf_pipeline"]
    assert report["peak_rss_mb"] >= report["baseline_rss_mb"] > 0


@pytest.mark.slow
def test_peak_rss_in_a_fresh_process(tiny_bert_dir, docbin_path):
    """The real thing: a fresh interpreter (several seconds: it imports torch, transformers, spaCy)."""
    spec = BenchmarkSpec(data_path=str(docbin_path), encoder_dir=str(tiny_bert_dir), repeats=1)
    rss = speed.measure_rss_subprocess("bare_forward", spec)
    assert rss["mode"] == "subprocess"
    assert rss["peak_rss_mb"] >= rss["baseline_rss_mb"] > 50  # torch + transformers + spaCy loaded
    assert rss["system_rss_mb"] == pytest.approx(rss["peak_rss_mb"] - rss["baseline_rss_mb"])


def test_spec_validation(docbin_path):
    with pytest.raises(ValueError, match="nothing to measure"):
        BenchmarkSpec(data_path=str(docbin_path), int8=False)
    with pytest.raises(ValueError, match="repeats"):
        BenchmarkSpec(data_path=str(docbin_path), encoder_dir="x", repeats=0)
    with pytest.raises(ValueError, match="rss"):
        BenchmarkSpec(data_path=str(docbin_path), encoder_dir="x", rss="maybe")
    assert BenchmarkSpec(data_path="x", encoder_dir="e", int8=False).system_names() == ["hf_pipeline", "bare_forward"]


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
    for option in ("token_classifier", f"token_classifier={tmp_path / 'missing.json'}"):
        bad = CliRunner().invoke(app, [
            "benchmark", "--tc", str(pipelines["token_classifier"]), "--data", str(docbin_path),
            "--output-dir", str(tmp_path / "bad"), "--train-time", option,
        ])
        assert bad.exit_code == 1
    assert not (tmp_path / "bad").exists()


def test_sorted_batches_run_v3_pipelines_with_the_same_predictions(pipelines, docbin_path):
    data = speed.load_data(BenchmarkSpec(data_path=str(docbin_path), tc_dir=str(pipelines["token_classifier"])))
    as_saved = speed.spacy_system("token_classifier", pipelines["token_classifier"], data, chunk_size=0)
    chunked = speed.spacy_system("token_classifier", pipelines["token_classifier"], data, chunk_size=2)
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
    overrides = speed.sorted_batches_override(tmp_path, chunk_size)
    if expected is None:
        assert overrides == {}
    else:
        assert overrides == {
            "components.transformer.model.@architectures": expected[0],
            "components.transformer.model.chunk_size": expected[1],
        }


# ---------------------------------------------------------------------------
# Profile: step timers around what nlp.pipe runs
# ---------------------------------------------------------------------------
def test_profile_steps_and_encoder_positions(pipelines, docbin_path):
    from spacy_bert_ner.bench.profiling import ENCODER_STEP, TOKENIZER_STEP, profile_pipeline, time_steps

    result = profile_pipeline(pipelines["token_classifier"], docbin_path, max_words=0, with_pyinstrument=False)
    steps = {step["step"]: step for step in result["steps"]}
    assert list(steps)[:2] == [TOKENIZER_STEP, "transformer"]
    assert steps[ENCODER_STEP]["inside"] == "transformer"
    assert steps[ENCODER_STEP]["seconds"] <= steps["transformer.predict"]["seconds"] <= steps["transformer"]["seconds"]
    assert {"token_classifier", "token_classifier.predict", "token_classifier.set_annotations"} <= set(steps)
    top_level = sum(step["seconds"] for step in result["steps"] if not step.get("inside"))
    assert top_level == pytest.approx(result["seconds"], rel=0.05)
    # the encoder's real positions are the wordpieces of the windows nlp.pipe gives it
    nlp = spacy.load(pipelines["token_classifier"])
    texts = [doc.text for doc in load_docs(docbin_path)]
    windows = [length for doc in nlp.pipe(texts) for length in doc._.trf_data.wordpieces.lengths]
    encoder = result["encoder"]
    assert encoder["real_positions"] == sum(windows) and encoder["rows"] == len(windows)
    assert encoder["real_positions"] <= encoder["padded_positions"]
    assert result["words"] == sum(len(doc) for doc in load_docs(docbin_path))
    # the timers are removed afterwards: a second pass adds no time to the first's
    timings = time_steps(nlp, texts, batch_size=2)
    assert all("predict" not in vars(component) for _, component in nlp.pipeline)
    assert not nlp.get_pipe("transformer").model.layers[0].shims[0]._model._forward_pre_hooks
    assert timings["encoder"]["rows"] == len(windows)


def test_profile_of_a_cython_component_times_it_whole(pipelines, docbin_path):
    from spacy_bert_ner.bench.profiling import time_steps

    nlp = spacy.load(pipelines["ner"])
    timings = time_steps(nlp, [doc.text for doc in load_docs(docbin_path)], batch_size=4)
    names = [step["step"] for step in timings["steps"]]
    assert "ner" in names and "ner.predict" not in names


def test_profile_cli(pipelines, docbin_path, tmp_path):
    out = tmp_path / "profile"
    args = ["profile", str(pipelines["token_classifier"]), str(docbin_path), str(out), "--chunk-size", "1"]
    result = CliRunner().invoke(app, args + ["--max-words", "20"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "profile.json").read_text())
    assert saved["encoder"]["calls"] == saved["encoder"]["rows"]  # chunks of one window
    assert saved["transformer"]["batching"].startswith("length-sorted chunks of 1 window")
    assert 0 < saved["words"] <= 20 + max(len(text.split()) for text, _ in TRAIN_SENTENCES)
    assert "encoder forward" in (out / "profile.md").read_text()
    missing = CliRunner().invoke(app, ["profile", str(tmp_path / "none"), str(docbin_path), str(out)])
    assert missing.exit_code == 1 and "pipeline folder" in missing.output
