"""The speed benchmark end to end: every system on the same words, report, outputs, memory, CLI."""
import json
import statistics
from typing import List

import pytest
from PIL import Image
from typer.testing import CliRunner

from spacy_bert_ner.bench import compute, kernels, rss
from spacy_bert_ner.bench.data import BenchData
from spacy_bert_ner.bench.render import markdown_table, write_outputs
from spacy_bert_ner.bench.spacy_systems import sorted_batches_override, spacy_system
from spacy_bert_ner.bench.spec import BenchmarkSpec, build_system
from spacy_bert_ner.bench.speed import run_benchmark
from spacy_bert_ner.bench.timing import precision_base, ratio_pairs
from spacy_bert_ner.cli import app

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)
from .conftest import TRAIN_SENTENCES

HARDWARE = {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "gpu": None}
SYSTEM_ORDER = ("token_classifier", "token_classifier_padded", "token_classifier_int8", "ner", "hf_pipeline",
                "bare_forward")  # the default spec's systems


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
    with pytest.MonkeyPatch.context() as patch:  # a short peak, no probe process: the parts are tested below
        patch.setattr(compute, "PEAK_SECONDS", 0.02)
        patch.setattr(kernels, "onednn_primitives", lambda: {"probe": ["stubbed in the test"]})
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
    assert set(result["ratios"]) == {f"{a}/{b}" for a, b in ratio_pairs(SYSTEM_ORDER)}
    assert "token_classifier_int8/token_classifier" in result["ratios"]
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
    load = result["machine_load"]
    assert load["measured"] and load["wall_seconds"] > 0 and "Other processes during the timed passes" in table


# ---------------------------------------------------------------------------
# Quantization, peak RSS in a fresh process, CLI
# ---------------------------------------------------------------------------
def test_every_system_reports_its_encoder_work_against_the_peak(result):
    peak = result["peak"]
    assert peak["reference_gflops_per_second"]["fp32"] > 0 and peak["reference_gflops_per_second"]["int8"] > 0
    assert peak["rows"] > 0 and peak["shapes"]["h_i"][2] == 64  # the tiny BERT's intermediate width
    for name, entry in result["systems"].items():
        work = entry["compute"]
        assert work["encoder_calls"] >= 1, name
        assert work["positions_computed"] >= work["positions_real"] >= result["data"]["n_wordpieces"] > 0, name
        assert work["encoder_flops_per_pass"] > 0 and entry["fraction_of_peak"] > 0, name
        assert work["achieved_flops_per_second"] == pytest.approx(work["encoder_flops_per_pass"] / entry["seconds_median"])
    assert result["systems"]["token_classifier_int8"]["peak_kind"] == "int8"
    assert result["systems"]["hf_pipeline"]["peak_kind"] == "fp32"
    # spacy-transformers pads every window to the batch's longest; sorted chunks pad less
    padded, chunked = result["systems"]["token_classifier_padded"], result["systems"]["token_classifier"]
    assert padded["compute"]["positions_computed"] >= chunked["compute"]["positions_computed"]
    assert padded["compute"]["positions_real"] == chunked["compute"]["positions_real"]


def test_report_names_kernels_environment_and_precisions(result):
    assert any("BLAS_INFO" in line or "Math Kernel" in line or "OpenBLAS" in line
               for line in result["kernels"]["torch_config"])
    assert result["kernels"]["cpu_capability"] and result["kernels"]["quantized_engine"]
    assert set(result["environment"]["now"]) == set(kernels.BLAS_VARIABLES)
    int8 = result["precisions"]["token_classifier_int8"]
    systems = result["systems"]
    assert int8["speed_vs_fp32"] == pytest.approx(
        systems["token_classifier_int8"]["words_per_second"] / systems["token_classifier"]["words_per_second"])
    assert int8["f1_points_vs_fp32"] == pytest.approx(
        (systems["token_classifier_int8"]["quality"]["f1"] - systems["token_classifier"]["quality"]["f1"]) * 100)


def test_flops_per_position_follows_the_config():
    minilm = {"layers": 6, "hidden": 384, "intermediate": 1536, "heads": 12}
    # 2 x layers x (4 h^2 + 2 h i + 2 L h): about 22.4 MFLOP per position on 128-token windows
    assert compute.flops_per_position(minilm, 128) == 2 * 6 * (4 * 384**2 + 2 * 384 * 1536 + 2 * 128 * 384)
    calls = compute.EncoderCalls()
    calls.observe(2, 10, 15)
    calls.observe(1, 4)
    record = calls.record(minilm, 2.0)
    assert (record["positions_computed"], record["positions_real"], record["encoder_calls"]) == (24, 19, 2)
    expected = 20 * compute.flops_per_position(minilm, 10) + 4 * compute.flops_per_position(minilm, 4)
    assert record["encoder_flops_per_pass"] == expected and record["achieved_flops_per_second"] == expected / 2


def test_blas_variables_are_unset_by_a_restart(monkeypatch):
    calls = []
    monkeypatch.setattr(kernels.os, "execve", lambda *args: calls.append(args))
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    cli = ["/x/spacy_bert_ner/__main__.py", "benchmark", "--data", "x"]
    kernels.clean_blas_environment(cli)
    assert calls == []  # nothing to unset: no restart
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    kernels.clean_blas_environment(cli)
    (executable, argv, env), = calls
    assert argv[1:] == ["-m", "spacy_bert_ner", "benchmark", "--data", "x"]
    assert "OPENBLAS_CORETYPE" not in env and env[kernels.UNSET_MARKER] == "OPENBLAS_CORETYPE=Haswell,restarted=yes"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.setenv(kernels.UNSET_MARKER, env[kernels.UNSET_MARKER])
    assert kernels.environment_record()["unset"] == {"OPENBLAS_CORETYPE": "Haswell", "restarted": "yes"}


def test_blas_variables_are_dropped_without_restart_in_process(monkeypatch):
    monkeypatch.setattr(kernels.os, "execve", lambda *args: pytest.fail("restarted a process that is not the CLI"))
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    monkeypatch.delenv(kernels.UNSET_MARKER, raising=False)
    kernels.clean_blas_environment(["pytest", "-q"])  # a test calling the command in-process
    assert "OPENBLAS_L2_SIZE" not in kernels.os.environ
    assert kernels.environment_record()["unset"]["restarted"].startswith("no")
    assert kernels.started_as_cli(["/usr/bin/spacy-bert-ner", "benchmark"])
    assert not kernels.started_as_cli(["/x/other/__main__.py", "benchmark"])


def test_onednn_verbose_lines_are_summarised():
    stdout = "\n".join([
        "probe:fp32", "probe:bf16",
        "onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support",
        "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_bf16,undef,src:bf16,,64x384:384x384,1.1",
        "probe:int8",
    ])
    seen = kernels.parse_onednn_verbose(stdout)
    assert seen["bf16"] == ["cpu,matmul,brg_matmul:avx512_core_bf16"]
    assert seen["fp32"] == [] and seen["int8"] == [] and "bfloat16" in seen["isa"][0]


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


def test_spec_precision_twins(docbin_path):
    spec = BenchmarkSpec(data_path="x", tc_dir="t", ner_dir="n", precisions=("bf16", "onnx-int8"),
                         ner_precisions=("int8",), chunk_size=0)
    assert spec.system_names() == ["token_classifier", "token_classifier_bf16", "token_classifier_onnx_int8",
                                   "ner", "ner_int8"]
    assert BenchmarkSpec.from_settings(json.loads(json.dumps(spec.settings()))) == spec
    assert BenchmarkSpec(data_path="x", tc_dir="t", int8=False).system_names() == ["token_classifier",
                                                                                   "token_classifier_padded"]
    with pytest.raises(ValueError, match="precisions"):
        BenchmarkSpec(data_path="x", tc_dir="t", precisions=("fp16",))


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


def test_extra_pipelines_are_timed_beside_the_others(pipelines, docbin_path, tmp_path):
    out = tmp_path / "extra"
    outcome = CliRunner().invoke(app, [
        "benchmark", "--tc", str(pipelines["token_classifier"]), "--data", str(docbin_path),
        "--pipeline", f"token_classifier_large={pipelines['ner']}", "--output-dir", str(out), "--repeats", "1",
        "--no-int8", "--rss", "none", "--chunk-size", "0", "--no-peak",
    ])
    assert outcome.exit_code == 0, outcome.output
    report = json.loads((out / "speed.json").read_text())
    assert list(report["systems"]) == ["token_classifier", "token_classifier_large"]
    assert report["systems"]["token_classifier_large"]["words_per_second"] > 0
    assert report["systems"]["token_classifier_large"]["quality"]["f1"] is not None
    assert report["model"]["extra_pipelines"] == {"token_classifier_large": str(pipelines["ner"])}
    assert BenchmarkSpec.from_settings(report["settings"]).extra_pipelines == (
        ("token_classifier_large", str(pipelines["ner"])),)
    assert report["precisions"] == {}  # a larger encoder is not a precision twin of token_classifier
    large, base = (report["systems"][n]["words_per_second"] for n in ("token_classifier_large", "token_classifier"))
    assert report["ratios"] == {"token_classifier_large/token_classifier": pytest.approx(large / base)}


@pytest.mark.parametrize("name, base", [
    ("token_classifier_onnx_int8", "token_classifier"), ("ner_bf16", "ner"), ("token_classifier_int8", "token_classifier"),
    ("token_classifier_padded", None), ("token_classifier_mpnet", None), ("ner_mpnet", None), ("token_classifier", None),
])
def test_precision_twins_are_only_the_precision_modes(name, base):
    assert precision_base(name) == base


@pytest.mark.parametrize("extra, message", [
    ((("ner", "x"),), "must be a new name"),
    ((("large model", "x"),), "must be a new name"),
    ((("a", "x"), ("a", "y")), "each name once"),
])
def test_extra_pipeline_names_are_checked(extra, message):
    with pytest.raises(ValueError, match=message):
        BenchmarkSpec(data_path="x", extra_pipelines=extra)


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


def test_the_matmul_peak_is_the_best_of_its_timed_windows(monkeypatch):
    rates = iter([1.0, 3.0, 2.0, 0.5, 2.5])
    monkeypatch.setattr(compute, "_window_rate", lambda step, flops, sync: next(rates))
    assert compute._rate(lambda: None, 1.0, lambda: None) == 3.0
    assert next(rates, None) is None  # every window was timed
