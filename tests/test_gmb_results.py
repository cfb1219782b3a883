"""gmb.json / gmb.md (spacy_bert_ner.evaluation.gmb_results) from hand-made metrics, and the gmb-results CLI."""
import json
from pathlib import Path

import numpy
import pytest
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation.gmb_results import (
    GOLD_POS,
    NO_POS,
    PREDICTED_POS,
    build_gmb_results,
    dev_curve,
    gmb_markdown,
    load_published,
    oriented_pair,
    pos_at_test_time,
)
from spacy_bert_ner.evaluation.stats import f1_from_counts

from .test_report import GOOD, WEAK, make_metrics

ORIGINAL = Path(__file__).resolve().parents[1] / "configs" / "gmb_original.json"
MID = [[7, 2, 3]] * 20


def _row(name: str, counts, split: str, *, tagger: bool = False, gold_tags: bool = False) -> dict:
    metrics = make_metrics(name, counts, split=split, per_type={"geo": 0.8, "per": 0.7, "art": 0.1})
    if tagger:
        metrics["pipeline"]["components"] = {"transformer": "transformer", "tagger": "tagger", name: "token_classifier"}
    metrics["data"]["gold_tags"] = gold_tags
    return metrics


@pytest.fixture
def run_dirs(tmp_path) -> dict:
    """Four rows, test and dev; gold POS best, predicted POS good, no POS weak, ner in between."""
    rows = {NO_POS: (WEAK, {}), PREDICTED_POS: (GOOD, {"tagger": True}), GOLD_POS: (GOOD, {"gold_tags": True}),
            "ner": (MID, {})}
    dirs = {}
    for name, (counts, kwargs) in rows.items():
        folder = tmp_path / name
        folder.mkdir()
        for split in ("test", "dev"):
            (folder / f"{split}_metrics.json").write_text(json.dumps(_row(name, counts, split, **kwargs)))
        dirs[name] = [folder]
    recipe = {
        "test": {"default": {"precision": 0.8, "recall": 0.82, "per_type": {"geo": {"f1": 0.85}, "per": {"f1": 0.75}}}},
        "test_f1": 0.81, "test_f1_strict": 0.815, "dev_f1": 0.83, "train_seconds": 3000.0, "config": {"epochs": 1.0},
    }
    (tmp_path / "hf.json").write_text(json.dumps(recipe))
    return dirs


def test_results_rows_pos_sources_and_answers(run_dirs, tmp_path):
    results = build_gmb_results(run_dirs, recipe_path=tmp_path / "hf.json", original_path=ORIGINAL, n_resamples=200)
    assert results["pos_at_test_time"] == {NO_POS: "none", PREDICTED_POS: "predicted", GOLD_POS: "gold", "ner": "none"}
    test_effects = [e for e in results["pos_effect"] if e["split"] == "test"]
    assert [(e["a"], e["b"]) for e in test_effects] == [(PREDICTED_POS, NO_POS), (GOLD_POS, NO_POS), (GOLD_POS, PREDICTED_POS)]
    gain = f1_from_counts(numpy.asarray(GOOD)) - f1_from_counts(numpy.asarray(WEAK))
    assert test_effects[0]["delta"] == pytest.approx(gain) and test_effects[0]["low"] > 0
    assert test_effects[0]["answer"].startswith("Do predicted POS tags (a tagger on raw text) help? Yes: ")
    assert test_effects[2]["delta"] == pytest.approx(0.0)
    assert "No significant difference" in test_effects[2]["answer"]
    assert {e["split"] for e in results["pos_effect"]} == {"test", "dev"}
    assert results["original"]["measured_here"] is False and results["original"]["micro"]["f1"] == 84.5
    assert results["hf_trainer_recipe"]["per_type_f1"] == {"geo": 0.85, "per": 0.75}
    assert results["warnings"] == []
    json.dumps(results)


def test_markdown_quotes_the_original_apart_and_answers_first(run_dirs, tmp_path):
    page = gmb_markdown(build_gmb_results(run_dirs, recipe_path=tmp_path / "hf.json", original_path=ORIGINAL,
                                          n_resamples=200))
    lines = page.splitlines()
    assert lines[2].startswith("**Does POS help?** Do predicted POS tags")
    original = next(line for line in lines if line.startswith("| original, quoted (another encoder and split) |"))
    assert original.endswith("| gold | 84.5 | - | 84.0 | 85.1 | - | - | bert-base-cased |")
    assert any(line.startswith("The original row is quoted as published, not measured here") for line in lines)
    geo = next(line for line in lines if line.startswith("| geo |"))
    assert geo.endswith("| 85.00 | 88 |")  # HF recipe, then the original as published (no invented decimals)
    assert next(line for line in lines if line.startswith("| art |")).endswith("| - |")  # not reported by the original
    assert "| token_classifier + gold POS (original setting) | gold |" in page
    assert "| HF Trainer recipe (sentence level) | none | 81.00 |" in page


def test_a_gold_pos_row_evaluated_without_gold_tags_is_flagged(run_dirs, tmp_path):
    folder = run_dirs[GOLD_POS][0]
    for split in ("test", "dev"):
        (folder / f"{split}_metrics.json").write_text(json.dumps(_row(GOLD_POS, GOOD, split)))
    results = build_gmb_results(run_dirs, recipe_path=None, original_path=ORIGINAL, n_resamples=50)
    assert results["pos_at_test_time"][GOLD_POS] == "none"
    assert any("evaluate it with --gold-tags" in w for w in results["warnings"])
    assert "HF Trainer recipe (sentence level)" not in gmb_markdown(results)


def test_pos_at_test_time_reads_the_metrics_not_the_name():
    assert pos_at_test_time([_row("x", GOOD, "test", gold_tags=True)]) == "gold"
    assert pos_at_test_time([_row("x", GOOD, "test", tagger=True)]) == "predicted"
    assert pos_at_test_time([{"pipeline": {"components": {}}, "data": {}}]) == "none"


def test_oriented_pair_turns_a_stored_pair_round():
    stored = [{"a": "x", "b": "y", "delta": 0.02, "low": 0.01, "high": 0.03, "p_value": 0.0}]
    assert oriented_pair(stored, "y", "x") == {**stored[0], "a": "y", "b": "x", "delta": -0.02, "low": -0.03, "high": -0.01}
    assert oriented_pair(stored, "x", "y") == stored[0]
    assert oriented_pair(stored, "x", "z") is None


def test_the_quoted_original_is_the_published_figure():
    original = load_published(ORIGINAL)
    assert original.micro == {"f1": 84.5, "precision": 84.0, "recall": 85.1}
    assert original.per_type_f1 == {"geo": 88, "gpe": 95, "org": 72, "per": 78, "tim": 87}
    assert (original.encoder, original.pos) == ("bert-base-cased", "gold")


@pytest.mark.parametrize("change,problem", [
    (lambda d: d.pop("encoder"), "missing encoder"),
    (lambda d: d["micro"].pop("recall"), "micro must hold f1, precision and recall"),
    (lambda d: d["per_type_f1"].update(geo=0.88 * 1000), "per_type_f1.geo must be a number of points in 0..100"),
])
def test_a_bad_quoted_result_names_the_file_and_field(tmp_path, change, problem):
    data = json.loads(ORIGINAL.read_text())
    change(data)
    path = tmp_path / "original.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=problem) as info:
        load_published(path)
    assert str(info.value).startswith(f"{path}: ")


def test_cli_writes_gmb_json_and_md(run_dirs, tmp_path):
    out = tmp_path / "results"
    args = ["gmb-results", str(out), "--original", str(ORIGINAL), "--hf-recipe", str(tmp_path / "hf.json"),
            "--n-resamples", "50"]
    for name, dirs in run_dirs.items():
        args += ["--system", f"{name}={','.join(map(str, dirs))}"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["gmb.json", "gmb.md"]
    assert "Do predicted POS tags (a tagger on raw text) help? Yes:" in result.output
    assert json.loads((out / "gmb.json").read_text())["schema"] == "spacy_bert_ner.gmb_results.v1"
    bad = CliRunner().invoke(app, args[:-2] + ["--system", f"{NO_POS}={tmp_path / 'nowhere'}"], terminal_width=200)
    assert bad.exit_code == 1 and "gmb-results:" in bad.output


def _train_log(folder: Path, f1s) -> Path:
    folder.mkdir()
    rows = [{"epoch": 0, "step": 100 * i, "losses": {}, "scores": {"ents_f": f1}} for i, f1 in enumerate(f1s)]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_dev_curves_say_whether_each_run_flattened(run_dirs, tmp_path):
    rising = _train_log(tmp_path / "rising", [1.0, 70.0, 75.0, 76.0])
    flat = _train_log(tmp_path / "flat", [1.0, 70.0, 80.0, 80.1])
    results = build_gmb_results(run_dirs, recipe_path=None, original_path=ORIGINAL, n_resamples=50,
                                training={NO_POS: [rising], "ner": [flat]})
    curves = results["dev_curves"]
    assert curves[NO_POS][0]["steps"] == [0, 100, 200, 300] and curves[NO_POS][0]["dev_f1"][-1] == 76.0
    assert curves[NO_POS][0]["last_gain"] == pytest.approx(1.0) and not curves[NO_POS][0]["flattened"]
    assert curves["ner"][0]["flattened"]
    page = gmb_markdown(results)
    assert "## Schedule: dev F1 during training" in page
    assert "| 76.00 | +1.00 | still rising: the budget set it |" in page
    assert "| 80.10 | +0.10 | flat |" in page


def test_a_bad_train_log_line_names_file_and_line(tmp_path):
    folder = _train_log(tmp_path / "run", [1.0, 2.0])
    with (folder / "train_log.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(ValueError, match=r"train_log.jsonl:3: not JSON"):
        dev_curve(folder)


def test_a_run_with_one_evaluation_has_no_curve(tmp_path):
    with pytest.raises(ValueError, match="fewer than two dev evaluations"):
        dev_curve(_train_log(tmp_path / "run", [1.0]))
