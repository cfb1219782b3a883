"""summary.json / summary.md from hand-made metrics files."""
import json

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation.markdown import summary_markdown
from spacy_bert_ner.evaluation.report import write_summary
from spacy_bert_ner.evaluation.summary import build_summary

HARDWARE = {"cpu": "Test CPU", "cores": 2, "torch": "2.13.0+cpu", "torch_threads": 2, "gpu": None}


def _metrics(f1_default: float, f1_headline: float, split: str) -> dict:
    return {
        "headline": {"f1": f1_headline, "ci": {"low": f1_headline - 0.01, "high": f1_headline + 0.01}},
        "seqeval": {
            "default": {"f1": f1_default, "precision": f1_default - 0.005, "recall": f1_default + 0.005},
            "strict": {"f1": f1_default + 0.002},
        },
        "speed": {"words_per_second": 1234.0},
        "resources": {"model_size_mb": 90.5},
        "training": {"seconds": 600.0, "seconds_per_epoch": 200.0},
        "pipeline": {"path": f"training/x/{split}", "encoder": {"label": "all-MiniLM-L6-v2"}},
        "hardware": HARDWARE,
        "data": {"path": f"corpus/{split}.spacy", "n_docs": 3, "n_sentences": 9, "n_words": 90, "n_entities": 12},
    }


@pytest.fixture
def run_dir(tmp_path):
    for head, (test_f1, dev_f1) in {"ner": (0.88, 0.91), "token_classifier": (0.89, 0.92)}.items():
        head_dir = tmp_path / head
        head_dir.mkdir()
        (head_dir / "test_metrics.json").write_text(json.dumps(_metrics(test_f1, test_f1 + 0.001, "test")))
        (head_dir / "dev_metrics.json").write_text(json.dumps(_metrics(dev_f1, dev_f1, "dev")))
    recipe = {
        "test": {"default": {"precision": 0.85, "recall": 0.87}, "words_per_second": 900.0},
        "test_f1": 0.8650, "test_f1_strict": 0.8725, "dev_f1": 0.90, "train_seconds": 1247.0,
        "config": {"epochs": 3.0}, "command": "python scripts/hf_trainer_recipe.py ...",
    }
    (tmp_path / "hf.json").write_text(json.dumps(recipe))
    return tmp_path


def test_summary_has_the_issue_shape_and_margins(run_dir):
    heads = {"ner": run_dir / "ner", "token_classifier": run_dir / "token_classifier"}
    summary = build_summary(heads, run_dir / "hf.json", {"ner": "spacy project run train-ner"})
    assert summary["encoder"] == "all-MiniLM-L6-v2"
    assert "Test CPU" in summary["hardware"] and "no GPU" in summary["hardware"]
    assert summary["hf_trainer_recipe"]["test_f1"] == 0.8650
    assert summary["hf_trainer_recipe"]["seconds_per_epoch"] == pytest.approx(1247.0 / 3)
    assert summary["ner"]["test_f1"] == 0.88 and summary["ner"]["test_f1_spacy_evaluate"] == pytest.approx(0.881)
    assert summary["token_classifier"]["dev_f1"] == 0.92
    assert summary["margins_over_hf_recipe"] == {"ner": 1.5, "token_classifier": 2.5}
    assert summary["commands"] == {"ner": "spacy project run train-ner"}


def test_markdown_table_rows(run_dir):
    heads = {"ner": run_dir / "ner"}
    summary = build_summary(heads, run_dir / "hf.json")
    table = summary_markdown(summary, ["ner"])
    lines = table.splitlines()
    assert lines[2].startswith("| HF Trainer recipe | 86.50 | 87.25 | - | 90.00 | 20.8 min |")
    assert lines[3] == "| ner | 88.00 | 88.20 | 88.10 [87.10..89.10] | 91.00 | 10.0 min | 1,234 |"


def test_quoted_recipe_is_labelled(run_dir):
    recipe = json.loads((run_dir / "hf.json").read_text())
    (run_dir / "quoted.json").write_text(json.dumps({**recipe, "measured_here": False, "source": "DESIGN.md"}))
    summary = build_summary({"ner": run_dir / "ner"}, run_dir / "quoted.json")
    assert summary["hf_trainer_recipe"]["measured_here"] is False
    assert summary["hf_trainer_recipe"]["sources"][-1] == "DESIGN.md"
    assert "| HF Trainer recipe (quoted, not measured here) | 86.50 |" in summary_markdown(summary, ["ner"])


def test_summary_without_recipe_and_missing_files(run_dir, tmp_path):
    summary = build_summary({"ner": run_dir / "ner"}, None)
    assert summary["hf_trainer_recipe"] is None and "margins_over_hf_recipe" not in summary
    with pytest.raises(FileNotFoundError, match="test_metrics.json"):
        build_summary({"ner": tmp_path / "nowhere"}, None)
    with pytest.raises(ValueError, match="at least one head"):
        build_summary({}, None)


def test_cli_writes_files_and_rejects_bad_pairs(run_dir):
    out = run_dir / "out"
    result = CliRunner().invoke(app, [
        "summary", str(out), "--head", f"ner={run_dir / 'ner'}", "--hf-recipe", str(run_dir / "hf.json"),
    ])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["ner"]["test_f1"] == 0.88
    assert (out / "summary.md").read_text().startswith("| system |")
    bad = CliRunner().invoke(app, ["summary", str(out), "--head", "ner"])
    assert bad.exit_code == 1 and "NAME=VALUE" in bad.output


def test_write_summary_leaves_no_temp_files(run_dir):
    summary = build_summary({"ner": run_dir / "ner"}, None)
    paths = write_summary(summary, ["ner"], run_dir / "w")
    assert sorted(p.name for p in (run_dir / "w").iterdir()) == ["summary.json", "summary.md"]
    assert paths["json"].exists()


def test_several_seeds_give_mean_and_std(run_dir):
    seed1 = run_dir / "token_classifier_seed1"
    seed1.mkdir()
    (seed1 / "test_metrics.json").write_text(json.dumps(_metrics(0.87, 0.871, "test")))
    (seed1 / "dev_metrics.json").write_text(json.dumps(_metrics(0.90, 0.90, "dev")))
    heads = {"ner": run_dir / "ner", "token_classifier": [run_dir / "token_classifier", seed1]}
    summary = build_summary(heads, run_dir / "hf.json")
    tc = summary["token_classifier"]
    assert tc["n_seeds"] == 2 and len(tc["seeds"]) == 2
    assert tc["test_f1"] == pytest.approx(0.88) and tc["dev_f1"] == pytest.approx(0.91)
    assert tc["test_f1_std"] == pytest.approx(0.0141421, abs=1e-6)  # stdev of 0.89, 0.87
    assert summary["margins_over_hf_recipe"]["token_classifier"] == 1.5
    assert "seeds" not in summary["ner"] and "n_seeds" not in summary["ner"]  # one folder: unchanged shape
    table = summary_markdown(summary, ["ner", "token_classifier"])
    assert "| token_classifier (mean of 2 seeds) | 88.00 ± 1.41 |" in table
    result = CliRunner().invoke(app, [
        "summary", str(run_dir / "out"), "--head", f"token_classifier={run_dir / 'token_classifier'},{seed1}",
    ])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "out" / "summary.json").read_text())["token_classifier"]["n_seeds"] == 2


def test_markdown_lists_each_seed(run_dir):
    seed1 = run_dir / "ner_seed1"
    seed1.mkdir()
    (seed1 / "test_metrics.json").write_text(json.dumps(_metrics(0.86, 0.855, "test")))
    (seed1 / "dev_metrics.json").write_text(json.dumps(_metrics(0.90, 0.90, "dev")))
    summary = build_summary({"ner": [run_dir / "ner", seed1]}, None)
    table = summary_markdown(summary, ["ner"])
    assert "| ner | `training/x/test` | 88.00 | 88.10 | 91.00 |" in table
    assert "| ner | `training/x/test` | 86.00 | 85.50 | 90.00 |" in table
    single = summary_markdown(build_summary({"ner": run_dir / "ner"}, None), ["ner"])
    assert "| system | pipeline |" not in single


def test_markdown_labels_std_and_ci_for_what_they_are(run_dir):
    seed1 = run_dir / "ner_seed1"
    seed1.mkdir()
    (seed1 / "test_metrics.json").write_text(json.dumps(_metrics(0.86, 0.855, "test")))
    (seed1 / "dev_metrics.json").write_text(json.dumps(_metrics(0.90, 0.90, "dev")))
    table = summary_markdown(build_summary({"ner": [run_dir / "ner", seed1]}, None), ["ner"])
    header = table.splitlines()[0]
    assert "CI" not in header and "words/s (evaluation pass)" in header
    assert "| ner (mean of 2 seeds) | 87.00 ± 1.41 | 87.20 | 86.80 ± 1.84 |" in table  # ± std, no interval
    assert "± is the sample standard deviation over seeds" in table and "95% bootstrap CI" in table


def test_rows_name_their_encoder_and_schedule(run_dir):
    large = run_dir / "ner_large"
    large.mkdir()
    for split, f1 in (("test", 0.90), ("dev", 0.93)):
        metrics = _metrics(f1, f1, split)
        metrics["pipeline"]["encoder"] = {"label": "all-mpnet-base-v2", "n_parameters": 109486464}
        metrics["training"].update(max_steps=1020, overrides={"training.max_steps": "1020"})
        (large / f"{split}_metrics.json").write_text(json.dumps(metrics))
    summary = build_summary({"ner": run_dir / "ner", "ner_mpnet": large}, None)
    assert summary["ner_mpnet"]["encoder"] == "all-mpnet-base-v2"
    assert summary["ner_mpnet"]["encoder_parameters"] == 109486464
    assert summary["ner_mpnet"]["max_steps"] == 1020
    assert summary["ner_mpnet"]["train_overrides"] == {"training.max_steps": "1020"}
    table = summary_markdown(summary, ["ner", "ner_mpnet"])
    assert "| ner_mpnet [all-mpnet-base-v2, 1020 steps] | 90.00 |" in table
    assert "| ner [all-MiniLM-L6-v2, ? steps] | 88.00 |" in table
    assert "[" not in summary_markdown(summary, ["ner"]).splitlines()[3]  # one setting: labels as before


def test_seeds_keep_the_settings_they_share(run_dir):
    seed1 = run_dir / "ner_seed1"
    seed1.mkdir()
    for split in ("test", "dev"):
        metrics = _metrics(0.86, 0.86, split)
        metrics["training"]["max_steps"] = 99
        (seed1 / f"{split}_metrics.json").write_text(json.dumps(metrics))
    ner = build_summary({"ner": [run_dir / "ner", seed1]}, None)["ner"]
    assert ner["encoder"] == "all-MiniLM-L6-v2"  # both seeds
    assert "max_steps" not in ner  # the seeds differ: only each seed's row says
    assert [run["max_steps"] for run in ner["seeds"]] == [None, 99]
