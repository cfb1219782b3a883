"""project.yml's GMB workflows hang together: each step's deps are the previous steps' outputs.

The whole `gmb` workflow takes minutes even on the tiny BERT (`spacy project run gmb-smoke`
runs it); this checks its wiring in milliseconds: names, paths, options, variables.
"""
import re
from pathlib import Path

import pytest
import yaml
from spacy.util import registry

import spacy_bert_ner.data  # noqa: F401  (registers the GoldTagsCorpus reader)

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "project.yml").read_text(encoding="utf8"))
COMMANDS = {command["name"]: command for command in PROJECT["commands"]}
ROWS = {"tc": "token_classifier", "tc-pos": "token_classifier_pos", "tc-goldpos": "token_classifier_goldpos",
        "ner": "ner"}


def _script(name: str) -> str:
    return " ".join(COMMANDS[name]["script"])


def test_gmb_workflows_name_existing_commands():
    for workflow in ("gmb", "gmb-rows", "gmb-publish"):
        missing = [name for name in PROJECT["workflows"][workflow] if name not in COMMANDS]
        assert missing == [], (workflow, missing)
    assert PROJECT["workflows"]["gmb"][: len(PROJECT["workflows"]["gmb-rows"])] == PROJECT["workflows"]["gmb-rows"]


@pytest.mark.parametrize("short,row", ROWS.items())
def test_each_row_is_trained_evaluated_and_compared(short, row):
    train, evaluate = COMMANDS[f"gmb-train-{short}"], COMMANDS[f"gmb-evaluate-{short}"]
    model = f"training/${{vars.gmb_run}}/{row}/model-best"
    assert model in train["outputs"] and model in evaluate["deps"]
    assert f"--output training/${{vars.gmb_run}}/{row} " in _script(f"gmb-train-{short}")
    for dep in ("corpus/${vars.gmb_run}/train.spacy", "corpus/${vars.gmb_run}/dev.spacy", "training/${vars.gmb_run}/encoder"):
        assert dep in train["deps"] and dep in COMMANDS["gmb-convert"]["outputs"] + COMMANDS["gmb-encoder"]["outputs"]
    for split in ("dev", "test"):
        metrics = f"reports/${{vars.gmb_run}}/{row}/{split}_metrics.json"
        assert metrics in evaluate["outputs"] and metrics in COMMANDS["gmb-compare"]["deps"]
        assert metrics in COMMANDS["gmb-results"]["deps"] and metrics in COMMANDS["gmb-results-seed0"]["deps"]
        assert metrics.replace("${vars.gmb_run}", "${vars.gmb_run}-seed1") in COMMANDS["gmb-results"]["deps"]
    assert f"--system {row}=reports/${{vars.gmb_run}}/{row} " in _script("gmb-compare") + " "
    assert f"--system {row}=reports/${{vars.gmb_run}}/{row} " in _script("gmb-results-seed0") + " "
    assert f"--system {row}=reports/${{vars.gmb_run}}/{row},reports/${{vars.gmb_run}}-seed1/{row} " in _script("gmb-results")
    assert f"--training {row}=training/${{vars.gmb_run}}/{row} " in _script("gmb-results-seed0") + " "
    assert f"--training {row}=training/${{vars.gmb_run}}/{row},training/${{vars.gmb_run}}-seed1/{row} " in _script("gmb-results") + " "
    assert f"training/${{vars.gmb_run}}/{row}/train_log.jsonl" in COMMANDS["gmb-results-seed0"]["deps"]
    assert f"--name {row} " in _script(f"gmb-evaluate-{short}")


def test_pos_rows_get_their_pos():
    assert "configs/token_classifier_pos.cfg" in _script("gmb-train-tc-pos")
    for short in ("tc-pos", "tc-goldpos"):
        assert "--components.token_classifier.model.pos_width ${vars.gmb_pos_width}" in _script(f"gmb-train-{short}")
    readers = re.findall(r"--corpora\.(\w+)\.@readers (\S+)", _script("gmb-train-tc-goldpos"))
    assert sorted(split for split, _ in readers) == ["dev", "train"]
    assert all(registry.readers.get(name) for _, name in readers)
    assert "--gold-tags" in _script("gmb-evaluate-tc-goldpos")
    assert all("--gold-tags" not in _script(f"gmb-evaluate-{s}") for s in ("tc", "tc-pos", "ner"))
    assert "pos_width" not in _script("gmb-train-tc") + _script("gmb-train-ner")


def test_convert_writes_the_three_splits_of_the_source():
    script = _script("gmb-convert")
    for split in ("train", "dev", "test"):
        assert f"corpus/${{vars.gmb_run}}/{split}.spacy --format gmb --split {split}" in script
    assert script.count("${vars.gmb_source}") == 3 and "${vars.gmb_source}" in COMMANDS["gmb-convert"]["deps"]


def test_every_variable_and_config_the_gmb_commands_use_exists():
    gmb = [c for name, c in COMMANDS.items() if name.startswith("gmb-")]
    text = " ".join(" ".join(c["script"] + c.get("deps", []) + c.get("outputs", [])) for c in gmb)
    used = set(re.findall(r"\$\{vars\.(\w+)\}", text))
    assert used - set(PROJECT["vars"]) == set()
    for config in set(re.findall(r"configs/[\w.]+", text)):
        assert (ROOT / config).is_file(), config
    seed1 = _script("gmb-seed1")
    passed = set(re.findall(r"--vars\.(\w+) ", seed1))
    assert {"gmb_source", "encoder", "gmb_max_steps", "gmb_eval_frequency", "gmb_pos_width", "batch_size"} <= passed


def test_gmb_ends_in_the_curated_results_and_the_smoke_run_keeps_out_of_them():
    assert PROJECT["workflows"]["gmb"][-1] == "gmb-results-seed0"
    assert "${vars.results_dir}/gmb.json" in COMMANDS["gmb-results-seed0"]["outputs"]
    smoke = _script("gmb-smoke")
    assert "spacy project run gmb " in smoke and "--vars.results_dir reports/gmb-smoke" in smoke
    assert set(COMMANDS["gmb-smoke"]["outputs"]) == {"reports/gmb-smoke/gmb.json", "reports/gmb-smoke/gmb.md"}
