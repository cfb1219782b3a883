"""End to end: `spacy project run smoke` on a copy of the project, tiny BERT, small slice."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SHARED_DATA

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory) -> Path:
    conll_dir = SHARED_DATA / "conll2003"
    if not (conll_dir / "train.txt").exists():
        pytest.skip("shared CoNLL-2003 data not available")
    project = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT_ROOT / "project.yml", project / "project.yml")
    shutil.copytree(PROJECT_ROOT / "configs", project / "configs")
    shutil.copytree(PROJECT_ROOT / "spacy_bert_ner", project / "spacy_bert_ner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "smoke", str(project),
         "--vars.conll_source", str(conll_dir)],
        capture_output=True, text=True, cwd=project, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


@pytest.mark.slow
@pytest.mark.parametrize("head", ["ner", "token_classifier"])
def test_smoke_workflow_trains_and_evaluates_both_heads(smoke_project, head):
    assert (smoke_project / "corpus" / "smoke" / "train.spacy").exists()
    assert (smoke_project / "training" / "smoke" / head / "model-best" / "meta.json").exists()
    for split in ("dev", "test"):
        metrics = json.loads((smoke_project / "reports" / "smoke" / head / f"{split}_spacy.json").read_text())
        assert 0.0 <= metrics["ents_f"] <= 1.0
        assert "ents_per_type" in metrics


@pytest.mark.slow
def test_smoke_workflow_writes_the_comparison(smoke_project):
    from PIL import Image

    reports = smoke_project / "reports" / "smoke"
    comparison = json.loads((reports / "comparison.json").read_text())
    assert set(comparison["systems"]) == {"ner", "token_classifier"}
    for head, system in comparison["systems"].items():
        for split in ("dev", "test"):
            spacy_scores = json.loads((reports / head / f"{split}_spacy.json").read_text())
            # `spacy evaluate` writes null when neither gold nor prediction has an entity
            assert system[f"{split}_f1"] == pytest.approx(spacy_scores["ents_f"] or 0.0, abs=0.001)
            low, high = system[f"{split}_f1_ci"]
            assert 0.0 <= low <= high <= 1.0
        metrics = json.loads((reports / head / "test_metrics.json").read_text())
        assert len(metrics["doc_counts"]) == metrics["data"]["n_docs"] == 12
        assert metrics["seqeval"]["default"]["label"] == "conlleval-compatible (seqeval default)"
    assert comparison["splits"]["test"]["paired_bootstrap"][0]["a"] == "ner"
    assert "ner" in comparison["verdict"] and "token_classifier" in comparison["verdict"]
    markdown = (reports / "comparison.md").read_text()
    assert markdown.startswith("# Which NER head? ner vs token_classifier")
    pngs = [reports / "comparison.png"] + [
        reports / head / f"{split}_confusion.png" for head in ("ner", "token_classifier") for split in ("dev", "test")
    ]
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG"
            assert png.stat().st_size > 10_000 or max(image.size) > 300, png
