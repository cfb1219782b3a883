"""The speed report's training section: seconds per epoch against the HF recipe."""
import json

import pytest

from spacy_bert_ner.bench.training_speed import training_section

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


def test_training_section_without_the_recipe_has_no_ratios(tmp_path):
    tc = tmp_path / "train_time.json"
    tc.write_text(json.dumps({"seconds": 30.0, "epochs": 3.0}))  # no hardware recorded: no warning
    section = training_section({"token_classifier": tc})
    assert section["ratios"] == {} and section["warnings"] == []
    assert section["systems"]["token_classifier"]["seconds_per_epoch"] == 10.0
