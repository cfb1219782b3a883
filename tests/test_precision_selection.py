"""select-int8: which encoder Linear groups an int8 mode keeps in fp32, chosen on a dev set."""
import json

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.bench.int8_selection import linear_groups, select_int8
from spacy_bert_ner.cli import app
from spacy_bert_ner.precision import load_with_precision
from spacy_bert_ner.util import hf_model

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)


def test_linear_groups_follow_parent_modules(pipelines):
    groups = linear_groups(hf_model(load_with_precision(pipelines["token_classifier"], "fp32")))
    assert groups[:4] == ["encoder.layer.0.attention.self.*", "encoder.layer.0.attention.output.*",
                          "encoder.layer.0.intermediate.*", "encoder.layer.0.output.*"]
    assert len(groups) == 2 * 4 + 1  # two layers and the pooler


def test_selection_stops_once_within_tolerance(pipelines, docbin_path):
    loose = select_int8(pipelines["token_classifier"], docbin_path, tolerance=100.0)
    assert loose.within_tolerance and loose.chosen == [] and len(loose.steps) == 1
    assert loose.sensitivity == {}  # no sweep when nothing has to stay fp32
    strict = select_int8(pipelines["token_classifier"], docbin_path, tolerance=0.0)
    kept = [len(step.fp32_modules) for step in strict.steps]
    assert set(strict.sensitivity) == set(strict.groups) or len(kept) == 1
    assert kept == list(range(len(kept)))  # one more group in fp32 per step, most sensitive first
    last = strict.steps[-1]
    assert strict.within_tolerance == (strict.fp32_f1 - last.f1 <= 0.0) and strict.chosen == last.fp32_modules
    if len(kept) == len(strict.groups) + 1:  # everything in fp32 gives fp32's tags back
        assert last.tags_changed == 0
    with pytest.raises(ValueError, match="mode"):
        select_int8(pipelines["token_classifier"], docbin_path, mode="bf16")


def test_cli_select_int8_writes_json(pipelines, docbin_path, tmp_path):
    output = tmp_path / "selection.json"
    result = CliRunner().invoke(app, ["select-int8", str(pipelines["ner"]), str(docbin_path), str(output),
                                      "--tolerance", "100", "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads(output.read_text())
    assert record["schema"] == "spacy_bert_ner.int8_selection.v1" and record["mode"] == "int8"
    assert "dev F1" in result.output
    (tmp_path / "not.json").write_text("plain text")
    bad = CliRunner().invoke(app, ["select-int8", str(pipelines["ner"]), str(docbin_path), str(tmp_path / "not.json")])
    assert bad.exit_code == 1 and "--force" in bad.output


def test_benchmark_reads_the_chosen_groups(tmp_path):
    from spacy_bert_ner.bench.int8_selection import SCHEMA, read_chosen

    saved = tmp_path / "selection.json"
    saved.write_text(json.dumps({"schema": SCHEMA, "chosen": ["encoder.layer.5.output.*"]}))
    assert read_chosen(saved) == ["encoder.layer.5.output.*"]
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something.else", "chosen": []}))
    with pytest.raises(ValueError, match="other.json: not a select-int8 result"):
        read_chosen(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_chosen(tmp_path / "missing.json")
