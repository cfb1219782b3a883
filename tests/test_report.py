"""The comparison report from small hand-made metrics dicts (pure), its files and the compare CLI."""
import copy
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy
import pytest
from PIL import Image
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.cli.evaluate import system_dirs, train_seconds_pair
from spacy_bert_ner.evaluation.charts import plot_comparison, plot_confusion
from spacy_bert_ner.evaluation.comparison import build_comparison, encoder_and_head, load_reports
from spacy_bert_ner.evaluation.errors import error_breakdown
from spacy_bert_ner.evaluation.markdown import comparison_markdown, errors_markdown
from spacy_bert_ner.evaluation.report import write_comparison, write_evaluation
from spacy_bert_ner.evaluation.stats import f1_from_counts, paired_bootstrap

FINGERPRINTS = [f"doc{i:02d}" for i in range(20)]
# (tp, fp, fn) per document: "good" finds 9 of 10 entities per doc, "weak" 5 of 10.
GOOD = [[9, 1, 1]] * 20
WEAK = [[5, 3, 5]] * 20


def make_metrics(
    name: str,
    counts: Sequence[Sequence[int]],
    *,
    split: str = "test",
    fingerprints: Optional[List[str]] = None,
    words_per_second: float = 1000.0,
    train_seconds: Optional[float] = None,
    per_type: Optional[Dict[str, float]] = None,
) -> Dict:
    """A metrics dict shaped like evaluation.evaluate_pipeline's, numbers chosen by hand."""
    totals = numpy.asarray(counts).sum(axis=0)
    tp, fp, fn = (int(x) for x in totals)
    f1 = f1_from_counts(numpy.asarray(counts))
    per_type = per_type or {"PER": f1, "LOC": f1}
    return {
        "schema": "spacy_bert_ner.metrics.v1",
        "name": name,
        "split": split,
        "headline": {
            "precision": tp / (tp + fp), "recall": tp / (tp + fn), "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "definition": "exact-match entity F1 on the gold tokens", "ci": None,
        },
        "per_type": {t: {"precision": v, "recall": v, "f1": v, "support": 100} for t, v in per_type.items()},
        "seqeval": {
            "default": {"f1": f1, "mode": "default"},
            "strict": {"f1": f1 - 0.01, "mode": "strict"},
        },
        "token_accuracy": 0.95,
        "spacy": {"ents_f": f1, "ents_p": None, "ents_r": None, "ents_per_type": {}, "token_acc": 1.0, "speed": 1.0},
        "doc_counts": [list(row) for row in counts],
        "iob2_projection": {"overlapping_dropped": 0, "crossing_sentences": 0},
        "errors_summary": {
            "missed": fn, "spurious": fp, "wrong_type": 0, "wrong_boundary": 0, "wrong_type_and_boundary": 0,
            "correct": tp, "n_gold": tp + fn, "n_pred": tp + fp,
        },
        "speed": {"words_per_second": words_per_second, "batch_size": 64, "n_words": 5000},
        "resources": {"peak_rss_mb": 900.0, "model_size_mb": 90.5},
        "training": {"seconds": train_seconds, "source": None},
        "hardware": {"cpu": "Test CPU", "cores": 2, "torch_threads": 2, "torch": "2.x", "gpu": None},
        "pipeline": {
            "path": f"training/x/{name}/model-best",
            "head": name,
            "components": {"transformer": "transformer", name: name},
            "encoder": {"label": "tiny-bert", "model_type": "bert", "num_hidden_layers": 2},
        },
        "data": {
            "path": f"corpus/x/{split}.spacy",
            "n_docs": len(counts),
            "n_words": 5000,
            "doc_fingerprints": list(fingerprints if fingerprints is not None else FINGERPRINTS[: len(counts)]),
        },
    }


def two_heads(ner_counts=GOOD, tc_counts=WEAK, **kwargs) -> Dict:
    return {
        "ner": {"test": [make_metrics("ner", ner_counts, **kwargs)]},
        "token_classifier": {"test": [make_metrics("token_classifier", tc_counts, **kwargs)]},
    }


def test_systems_map_names_both_heads_with_their_f1():
    comparison = build_comparison(two_heads(), n_resamples=200)
    systems = comparison["systems"]
    assert list(systems) == ["ner", "token_classifier"]
    assert systems["ner"]["test_f1"] == pytest.approx(f1_from_counts(numpy.asarray(GOOD)))
    assert systems["token_classifier"]["test_f1"] == pytest.approx(f1_from_counts(numpy.asarray(WEAK)))
    low, high = systems["ner"]["test_f1_ci"]
    assert low <= systems["ner"]["test_f1"] <= high
    assert systems["ner"]["test_f1_strict"] == pytest.approx(systems["ner"]["test_f1"] - 0.01)
    assert systems["ner"]["test_spacy_ents_f"] == systems["ner"]["test_f1"]
    assert systems["ner"]["words_per_second"] == 1000.0
    assert systems["ner"]["model_size_mb"] == 90.5
    json.dumps(comparison)


def test_paired_test_and_verdict_name_the_leader():
    comparison = build_comparison(two_heads(), n_resamples=200)
    (pair,) = comparison["splits"]["test"]["paired_bootstrap"]
    expected = paired_bootstrap(numpy.asarray(GOOD), numpy.asarray(WEAK), n_resamples=200)
    assert pair["delta"] == pytest.approx(expected["delta"])
    assert (pair["low"], pair["high"]) == pytest.approx((expected["low"], expected["high"]))
    assert pair["a"] == "ner" and pair["b"] == "token_classifier"
    assert comparison["verdict"].startswith("On test (20 documents), ner is ahead of token_classifier by")
    assert "p<0.005" in comparison["verdict"]  # 200 resamples: p is below 1/200


def test_identical_systems_give_no_significant_difference():
    comparison = build_comparison(two_heads(GOOD, GOOD), n_resamples=200)
    (pair,) = comparison["splits"]["test"]["paired_bootstrap"]
    assert pair["delta"] == 0.0 and pair["p_value"] == 1.0
    assert "no significant difference between ner and token_classifier" in comparison["verdict"]


def test_verdict_makes_no_speed_claim_from_evaluation_passes():
    reports = {
        "ner": {"test": [make_metrics("ner", GOOD, words_per_second=3000.0)]},
        "token_classifier": {"test": [make_metrics("token_classifier", WEAK, words_per_second=1500.0)]},
    }
    comparison = build_comparison(reports, n_resamples=50)
    assert "fast" not in comparison["verdict"] and "words/s" not in comparison["verdict"]
    assert comparison["systems"]["ner"]["words_per_second"] == 3000.0  # kept, labelled in the Markdown
    markdown = comparison_markdown(comparison)
    assert "words/s (evaluation pass)" in markdown and "not a benchmark" in markdown


@pytest.mark.parametrize(
    "tc_kwargs,match",
    [
        ({"fingerprints": FINGERPRINTS[1:] + FINGERPRINTS[:1]}, "first difference at doc 0"),
        ({"fingerprints": FINGERPRINTS[:19]}, "19 vs 20 docs"),
    ],
    ids=["other-order", "fewer-docs"],
)
def test_different_documents_raise(tc_kwargs, match):
    counts = GOOD[: len(tc_kwargs["fingerprints"])]
    reports = {
        "ner": {"test": [make_metrics("ner", GOOD)]},
        "token_classifier": {"test": [make_metrics("token_classifier", counts, **tc_kwargs)]},
    }
    with pytest.raises(ValueError, match=match) as err:
        build_comparison(reports, n_resamples=50)
    assert "same documents in the same order" in str(err.value)


def test_doc_counts_must_match_the_documents():
    metrics = make_metrics("token_classifier", WEAK)
    metrics["doc_counts"] = metrics["doc_counts"][:-1]
    reports = {"ner": {"test": [make_metrics("ner", GOOD)]}, "token_classifier": {"test": [metrics]}}
    with pytest.raises(ValueError, match=r"expected doc_counts of shape \(20, 3\)"):
        build_comparison(reports, n_resamples=50)


def test_dev_and_test_both_reported_test_headline():
    reports = {
        name: {split: [make_metrics(name, counts, split=split)] for split in ("test", "dev")}
        for name, counts in (("ner", GOOD), ("token_classifier", WEAK))
    }
    comparison = build_comparison(reports, n_resamples=50)
    assert list(comparison["splits"]) == ["dev", "test"]
    assert comparison["headline_split"] == "test"
    assert {"dev_f1", "test_f1", "dev_f1_ci", "test_f1_ci"} <= set(comparison["systems"]["ner"])
    assert comparison["verdict"].startswith("On test")
    assert "On dev: ner ahead by" in comparison["verdict"]
    assert "same direction as test" in comparison["verdict"]


def test_missing_headline_split_raises():
    with pytest.raises(ValueError, match="expected every system to have 'test' metrics"):
        build_comparison(
            {"ner": {"dev": [make_metrics("ner", GOOD, split="dev")]},
             "token_classifier": {"dev": [make_metrics("token_classifier", WEAK, split="dev")]}},
            n_resamples=10,
        )


def test_multi_seed_mean_and_std():
    seeds = [[[9, 1, 1]] * 20, [[8, 2, 2]] * 20, [[7, 3, 3]] * 20]
    reports = {
        "ner": {"test": [make_metrics("ner", counts) for counts in seeds]},
        "token_classifier": {"test": [make_metrics("token_classifier", WEAK)] * 2},
    }
    comparison = build_comparison(reports, n_resamples=100)
    ner = comparison["splits"]["test"]["systems"]["ner"]
    f1s = [f1_from_counts(numpy.asarray(c)) for c in seeds]
    assert ner["n_runs"] == 3
    assert ner["f1"] == pytest.approx(numpy.mean(f1s))
    assert ner["f1_std"] == pytest.approx(numpy.std(f1s, ddof=1))
    assert comparison["systems"]["ner"]["test_f1_std"] == pytest.approx(numpy.std(f1s, ddof=1))
    assert comparison["systems"]["token_classifier"]["test_f1_std"] == 0.0
    markdown = comparison_markdown(comparison)
    assert f"{100 * numpy.mean(f1s):.2f} ± {100 * numpy.std(f1s, ddof=1):.2f}" in markdown
    assert "Seed-to-seed spread" in comparison["verdict"]


def test_training_time_from_metrics_or_override():
    reports = two_heads(train_seconds=600.0)
    comparison = build_comparison(reports, n_resamples=10, train_seconds={"token_classifier": 3725.0})
    assert comparison["systems"]["ner"]["train_seconds"] == 600.0
    assert comparison["systems"]["token_classifier"]["train_seconds"] == 3725.0
    markdown = comparison_markdown(comparison)
    assert "| 10m 00s |" in markdown and "| 1h 02m |" in markdown
    with pytest.raises(ValueError, match="not systems"):
        build_comparison(reports, n_resamples=10, train_seconds={"crf": 1.0})


def test_unknown_training_time_is_null():
    comparison = build_comparison(two_heads(), n_resamples=10)
    assert comparison["systems"]["ner"]["train_seconds"] is None
    assert "| unknown |" in comparison_markdown(comparison)


def test_warnings_for_spacy_mismatch_and_hardware():
    reports = two_heads()
    reports["ner"]["test"][0]["spacy"]["ents_f"] = 0.5
    reports["token_classifier"]["test"][0]["hardware"] = {"cpu": "Other CPU", "cores": 8, "torch_threads": 8, "gpu": None}
    warnings = build_comparison(reports, n_resamples=10)["warnings"]
    assert any("differs from spaCy's ents_f" in w for w in warnings)
    assert any("different hardware" in w for w in warnings)


def test_markdown_has_every_section():
    markdown = comparison_markdown(build_comparison(two_heads(), n_resamples=50))
    for heading in (
        "# Which NER head? ner vs token_classifier",
        "**Verdict.**",
        "## Accuracy",
        "## Is the difference real?",
        "## F1 per entity type (test)",
        "## Errors (test)",
        "## Evaluation pass: words/s, size, memory, training time",
        "## Setup",
        "![F1 per type and overall](comparison.png)",
    ):
        assert heading in markdown
    assert "| test | ner | **90.00** |" in markdown
    assert "| PER | 100 | 90.00 | 55.56 | +34.44 |" in markdown


@pytest.mark.parametrize(
    "value,expected",
    [
        ("ner=reports/x/ner", ("ner", [Path("reports/x/ner")])),
        ("ner=a,b,c", ("ner", [Path("a"), Path("b"), Path("c")])),
        (" tc =d", ("tc", [Path("d")])),
    ],
)
def test_system_dirs(value, expected):
    assert system_dirs(value, "--system") == expected


@pytest.mark.parametrize("value", ["ner", "=dir", "ner=", "ner=,"])
def test_system_dirs_rejects(value):
    with pytest.raises(ValueError, match="--system expects NAME="):
        system_dirs(value, "--system")


def test_train_seconds_pair():
    assert train_seconds_pair("ner=1234.5") == ("ner", 1234.5)


@pytest.mark.parametrize("value", ["ner", "ner=abc", "ner=-1", "ner=nan", "=5"])
def test_train_seconds_pair_rejects(value):
    with pytest.raises(ValueError, match="--train-seconds expects NAME="):
        train_seconds_pair(value)


def test_errors_markdown_lists_examples():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "O"], ["B-MISC", "B-LOC"]]
    words = [["Peter", "Blackburn", "in", "Brussels"], ["the", "EU"]]
    errors = error_breakdown(gold, pred, words=words)
    markdown = errors_markdown(errors, name="ner", split="test")
    assert "| missed | 1 |" in markdown and "| spurious | 1 |" in markdown
    assert "## wrong_boundary (first 1 of 1)" in markdown
    assert "gold: `[Peter Blackburn]PER in [Brussels]LOC`" in markdown


def assert_real_png(path: Path) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert path.stat().st_size > 10_000 or max(image.size) > 300


def test_plots_are_real_images(tmp_path):
    comparison = build_comparison(two_heads(), n_resamples=50)
    assert_real_png(plot_comparison(comparison, tmp_path / "comparison.png"))
    confusion = {"labels": ["O", "B-PER", "I-PER"], "matrix": [[100, 2, 0], [3, 40, 1], [0, 2, 30]]}
    assert_real_png(plot_confusion(confusion, tmp_path / "confusion.png", title="test"))


def test_a_comparison_of_many_systems_gets_a_wider_chart(tmp_path):
    comparison = build_comparison(two_heads(), n_resamples=50)
    crowded = copy.deepcopy(comparison)
    for table in (crowded["systems"], crowded["splits"][crowded["headline_split"]]["systems"]):
        table.update({f"{name}_{k}": dict(value) for k in range(3) for name, value in list(table.items())})
    assert len(crowded["systems"]) == 8
    with Image.open(plot_comparison(comparison, tmp_path / "two.png")) as two, \
            Image.open(plot_comparison(crowded, tmp_path / "eight.png")) as eight:
        assert eight.size[0] > two.size[0]


def write_reports(root: Path, reports: Dict) -> Dict[str, Path]:
    dirs = {}
    for name, splits in reports.items():
        dirs[name] = root / name
        dirs[name].mkdir(parents=True)
        for split, (metrics,) in splits.items():
            (dirs[name] / f"{split}_metrics.json").write_text(json.dumps(metrics))
    return dirs


def test_load_reports_and_write_comparison(tmp_path):
    dirs = write_reports(tmp_path, two_heads())
    reports = load_reports({name: [d] for name, d in dirs.items()})
    assert list(reports) == ["ner", "token_classifier"] and list(reports["ner"]) == ["test"]
    paths = write_comparison(build_comparison(reports, n_resamples=20), tmp_path / "out")
    assert json.loads(paths["json"].read_text())["systems"]["ner"]["test_f1"] > 0.8
    assert paths["md"].read_text().startswith("# Which NER head?")
    assert_real_png(paths["png"])


def test_load_reports_names_the_missing_file(tmp_path):
    dirs = write_reports(tmp_path, two_heads())
    with pytest.raises(FileNotFoundError, match="expected dev_metrics.json"):
        load_reports({name: [d] for name, d in dirs.items()}, headline_split="dev")


def test_compare_cli(tmp_path):
    dirs = write_reports(tmp_path, two_heads())
    result = CliRunner().invoke(app, [
        "compare", str(tmp_path / "report"),
        "--system", f"ner={dirs['ner']}", "--system", f"token_classifier={dirs['token_classifier']}",
        "--n-resamples", "50", "--train-seconds", "ner=12.5",
    ])
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert comparison["systems"]["ner"]["train_seconds"] == 12.5
    assert "ner is ahead of token_classifier" in result.output


def test_compare_cli_fails_cleanly_on_bad_system(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path), "--system", "ner"])
    assert result.exit_code == 1
    assert "--system expects NAME=VALUE" in result.output


def test_write_evaluation_writes_every_file(tmp_path):
    metrics = make_metrics("ner", GOOD)
    metrics["confusion"] = {"labels": ["O", "B-PER", "I-PER"], "matrix": [[10, 1, 0], [0, 5, 0], [0, 0, 4]]}
    metrics["errors"] = error_breakdown([["B-PER", "O"]], [["O", "O"]], words=[["Peter", "said"]])
    paths = write_evaluation(metrics, tmp_path / "ner")
    assert sorted(p.name for p in paths.values()) == sorted([
        "test_metrics.json", "test_confusion.json", "test_confusion.png", "test_errors.json", "test_errors.md",
    ])
    written = json.loads(paths["metrics"].read_text())
    assert "confusion" not in written and "errors" not in written
    assert written["files"]["confusion_png"] == "test_confusion.png"
    assert json.loads(paths["confusion_json"].read_text())["rows"] == "gold"
    assert_real_png(paths["confusion_png"])


# ---- N encoders x 2 heads ---------------------------------------------------------------

MID = [[7, 2, 3]] * 20
POOR = [[4, 4, 6]] * 20
# Interleaved on purpose: the table groups by encoder in order of first appearance.
ENCODER_SYSTEMS = {
    "minilm/ner": (GOOD, 3000.0, 90.5, 900.0),
    "tiny-roberta/ner": (WEAK, 9000.0, 1.2, 400.0),
    "minilm/token_classifier": (MID, 3500.0, 90.4, 880.0),
    "tiny-roberta/token_classifier": (POOR, 9500.0, 1.1, 390.0),
}


def encoder_reports() -> Dict:
    reports = {}
    for name, (counts, speed, size, rss) in ENCODER_SYSTEMS.items():
        reports[name] = {}
        for split in ("test", "dev"):
            metrics = make_metrics(name, counts, split=split, words_per_second=speed)
            metrics["resources"] = {"model_size_mb": size, "peak_rss_mb": rss}
            metrics["pipeline"]["head"] = name.split("/")[1]
            metrics["pipeline"]["encoder"]["label"] = (
                "all-MiniLM-L6-v2" if name.startswith("minilm") else "tiny-roberta"
            )
            reports[name][split] = [metrics]
    return reports


@pytest.mark.parametrize(
    "name,pipeline,expected",
    [
        ("minilm/ner", {}, ("minilm", "ner")),
        ("tiny-roberta/token_classifier", {"head": "ner"}, ("tiny-roberta", "token_classifier")),
        ("microsoft/deberta-v3-base/ner", {}, ("microsoft/deberta-v3-base", "ner")),
        ("ner", {"head": "ner", "encoder": {"label": "all-MiniLM-L6-v2"}}, ("all-MiniLM-L6-v2", "ner")),
        ("/ner", {"head": "ner", "encoder": {"label": "roberta-base"}}, ("roberta-base", "ner")),
        ("tc", {}, ("unknown encoder", "tc")),
    ],
)
def test_encoder_and_head_from_name_or_metrics(name, pipeline, expected):
    assert encoder_and_head(name, {"pipeline": pipeline}) == expected


def test_encoder_head_table_groups_systems_by_encoder():
    comparison = build_comparison(encoder_reports(), n_resamples=50)
    table = comparison["encoder_head"]
    assert table["encoders"] == ["minilm", "tiny-roberta"]
    assert table["splits"] == ["test", "dev"]
    assert [(row["encoder"], row["head"]) for row in table["rows"]] == [
        ("minilm", "ner"), ("minilm", "token_classifier"),
        ("tiny-roberta", "ner"), ("tiny-roberta", "token_classifier"),
    ]
    first = table["rows"][0]
    assert first["system"] == "minilm/ner" and first["encoder_label"] == "all-MiniLM-L6-v2"
    assert first["f1"]["test"] == pytest.approx(0.9) and first["f1"]["dev"] == pytest.approx(0.9)
    assert (first["words_per_second"], first["model_size_mb"], first["peak_rss_mb"]) == (3000.0, 90.5, 900.0)
    assert comparison["systems"]["tiny-roberta/ner"]["row"] == {"encoder": "tiny-roberta", "head": "ner"}
    json.dumps(comparison)


def test_encoder_head_markdown_table():
    markdown = comparison_markdown(build_comparison(encoder_reports(), n_resamples=50))
    assert markdown.startswith(
        "# Which NER head? ner vs token_classifier on 2 encoders (minilm, tiny-roberta)"
    )
    table = markdown.split("## Encoder × head")[1].split("## Accuracy")[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert rows == [
        "| encoder | head | test F1 | dev F1 | words/s (evaluation pass) | model size MB | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        "| minilm | ner | 90.00 | 90.00 | 3,000 | 90.5 | 900 |",
        "| minilm | token_classifier | 73.68 | 73.68 | 3,500 | 90.4 | 880 |",
        "| tiny-roberta | ner | 55.56 | 55.56 | 9,000 | 1.2 | 400 |",
        "| tiny-roberta | token_classifier | 44.44 | 44.44 | 9,500 | 1.1 | 390 |",
    ]
    assert "Encoders: minilm = `all-MiniLM-L6-v2`." in table  # tiny-roberta's label is its name


def test_several_encoders_verdict_pairs_heads_within_an_encoder():
    comparison = build_comparison(encoder_reports(), n_resamples=50)
    pairs = {(p["a"], p["b"]): p for p in comparison["splits"]["test"]["paired_bootstrap"]}
    assert len(pairs) == 6
    within = pairs[("minilm/ner", "minilm/token_classifier")]
    across = pairs[("minilm/ner", "tiny-roberta/ner")]
    diagonal = pairs[("minilm/ner", "tiny-roberta/token_classifier")]
    assert (within["same_encoder"], within["same_head"]) == (True, False)
    assert (across["same_encoder"], across["same_head"]) == (False, True)
    assert (diagonal["same_encoder"], diagonal["same_head"]) == (False, False)
    verdict = comparison["verdict"]
    assert verdict.startswith("On test (20 documents), minilm/ner is ahead of minilm/token_classifier by")
    assert "tiny-roberta/ner is ahead of tiny-roberta/token_classifier" in verdict
    assert across["verdict"] not in verdict and diagonal["verdict"] not in verdict
    assert "Highest test F1 of the 4 systems: minilm/ner (90.00)." in verdict
    assert any(w.startswith("the systems use different encoders (2)") for w in comparison["warnings"])
    markdown = comparison_markdown(comparison)
    real = markdown.split("## Is the difference real?")[1].split("## F1 per entity type")[0]
    assert "| test | minilm/ner - minilm/token_classifier |" in real
    assert "| test | minilm/ner - tiny-roberta/ner |" in real
    assert "minilm/ner - tiny-roberta/token_classifier" not in real


def test_one_encoder_keeps_the_head_to_head_report():
    comparison = build_comparison(two_heads(), n_resamples=50)
    assert comparison["encoder_head"]["encoders"] == ["tiny-bert"]
    assert all(pair["same_encoder"] for pair in comparison["splits"]["test"]["paired_bootstrap"])
    assert "Highest" not in comparison["verdict"]
    markdown = comparison_markdown(comparison)
    assert markdown.startswith("# Which NER head? ner vs token_classifier\n")
    assert "| tiny-bert | ner | 90.00 | 1,000 | 90.5 | 900 |" in markdown
    assert not any("different encoders" in w for w in comparison["warnings"])


def test_encoder_head_table_shows_std_over_runs():
    reports = encoder_reports()
    reports["minilm/ner"]["test"].append(make_metrics("minilm/ner", MID))
    reports["minilm/ner"]["dev"].append(make_metrics("minilm/ner", MID, split="dev"))
    markdown = comparison_markdown(build_comparison(reports, n_resamples=20))
    mean = numpy.mean([0.9, 14 / 19])
    std = numpy.std([0.9, 14 / 19], ddof=1)
    assert f"| minilm | ner | {100 * mean:.2f} ± {100 * std:.2f} | {100 * mean:.2f} ± {100 * std:.2f} |" in markdown


def test_compare_cli_with_encoders_times_heads(tmp_path):
    dirs = write_reports(tmp_path / "reports", encoder_reports())
    args = ["compare", str(tmp_path / "reports" / "encoders"), "--n-resamples", "20"]
    for name, directory in dirs.items():
        args += ["--system", f"{name}={directory}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "reports" / "encoders" / "comparison.md").read_text()
    assert "| tiny-roberta | token_classifier | 44.44 | 44.44 | 9,500 | 1.1 | 390 |" in markdown
    comparison = json.loads((tmp_path / "reports" / "encoders" / "comparison.json").read_text())
    assert comparison["encoder_head"]["encoders"] == ["minilm", "tiny-roberta"]
    assert_real_png(tmp_path / "reports" / "encoders" / "comparison.png")


def test_encoder_head_rows_sharing_encoder_and_head_name_their_system():
    from spacy_bert_ner.evaluation.markdown import _encoder_head_markdown

    def row(head, system):
        return {"encoder": "minilm", "head": head, "system": system, "encoder_label": None,
                "f1": {"dev": 0.9}, "f1_std": {"dev": None}, "words_per_second": 1000.0,
                "model_size_mb": 90.0, "peak_rss_mb": 900.0}

    lines = _encoder_head_markdown(
        {"splits": ["dev"], "rows": [row("token_classifier", "token_classifier"), row("token_classifier", "crf"),
                                     row("ner", "ner")]}, multi=False)
    assert "| minilm | token_classifier | 90.00 |" in "\n".join(lines)
    assert "| minilm | token_classifier (crf) | 90.00 |" in "\n".join(lines)
    assert "| minilm | ner | 90.00 |" in "\n".join(lines)
