"""The model card export-hf writes and the meta.json overrides package-meta writes, on the tiny pipeline.

The figures come from a small evaluation JSON written here in the shape of
``{split}_metrics.json`` (schema ``spacy_bert_ner.metrics.v1``); the card's
front matter must parse as YAML and carry exactly those figures.
"""
import json
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.schemas import ModelMetaSchema, validate
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation.records import METRICS_SCHEMA
from spacy_bert_ner.hf.interop import InteropError
from spacy_bert_ner.hf.model_card import CARD_MARKER, CARD_NAME, render_card, training_lines
from spacy_bert_ner.hf.model_facts import FactOptions, gather_facts, read_metrics
from spacy_bert_ner.hf.package_meta import write_package_meta
from spacy_bert_ner.hf.spacy_to_hf import export_hf

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
CARD = FactOptions(name="bert_ner_test", version="1.2.3", license="mit", datasets=("conll2003",), base_model=HUB_ID)


def metrics_record(f1: float = 0.8123) -> dict:
    return {
        "schema": METRICS_SCHEMA, "name": "token_classifier", "split": "test",
        "headline": {"precision": 0.8011, "recall": 0.8238, "f1": f1, "tp": 10, "fp": 2, "fn": 3, "definition": "x", "ci": None},
        "spacy": {"ents_f": f1, "ents_per_type": {"PER": {"p": 0.9, "r": 0.8, "f": 0.847}}},
        "seqeval": {
            "default": {"mode": "default", "precision": 0.81, "recall": 0.83, "f1": 0.8199},
            "strict": {"mode": "strict", "scheme": "IOB2", "precision": 0.82, "recall": 0.82, "f1": 0.8177},
        },
        "speed": {"words_per_second": 1234.5},
        "data": {"path": "corpus/conll2003/test.spacy", "n_docs": 231},
    }


@pytest.fixture()
def metrics_json(tmp_path) -> Path:
    path = tmp_path / "test_metrics.json"
    path.write_text(json.dumps(metrics_record()))
    return path


def split_card(text: str) -> tuple:
    """(front matter as a dict, body) of a card; the front matter sits between the first two ``---`` lines."""
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return srsly.yaml_loads(header), body


def test_card_front_matter_carries_the_evaluation_figures(initialized_pipeline_dir, metrics_json, tmp_path):
    summary = export_hf(initialized_pipeline_dir, tmp_path / "hf", card=CARD, metrics=metrics_json)
    assert CARD_NAME in summary["files"]
    meta, body = split_card((tmp_path / "hf" / CARD_NAME).read_text())
    assert meta["pipeline_tag"] == "token-classification"
    assert meta["language"] == ["en"] and meta["license"] == "mit"
    assert meta["datasets"] == ["conll2003"] and meta["base_model"] == HUB_ID
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"] == {"type": "conll2003", "name": "CoNLL-2003", "split": "test"}
    values = {metric["name"]: metric["value"] for metric in result["metrics"]}
    assert values == {
        "Precision (exact-match entities)": 0.8011, "Recall (exact-match entities)": 0.8238,
        "F1 (exact-match entities)": 0.8123, "F1 (spaCy evaluate)": 0.8123,
        "F1 (seqeval default)": 0.8199, "F1 (seqeval strict IOB2)": 0.8177,
    }
    assert CARD_MARKER in body and "| 0.8011 | 0.8238 | 0.8123 |" in body
    assert 'aggregation_strategy="first"' in body and "Reuters news" in body
    nlp = spacy.load(initialized_pipeline_dir)
    for label in nlp.get_pipe("token_classifier").labels:
        assert label in body


def test_card_without_metrics_has_no_model_index_and_says_so(initialized_pipeline_dir, tmp_path):
    export_hf(initialized_pipeline_dir, tmp_path / "hf")
    meta, body = split_card((tmp_path / "hf" / CARD_NAME).read_text())
    assert "model-index" not in meta
    assert "base_model" not in meta  # the tiny encoder is a local folder, not a hub id
    assert meta["license"] == "unknown"
    assert "reports no scores" in body and "no hub id known" in body


def test_reexport_replaces_its_card_but_not_a_users_readme(initialized_pipeline_dir, metrics_json, tmp_path):
    out = tmp_path / "hf"
    export_hf(initialized_pipeline_dir, out)
    export_hf(initialized_pipeline_dir, out, card=CARD, metrics=metrics_json)  # our own card: replaced
    assert "model-index" in split_card((out / CARD_NAME).read_text())[0]
    (out / CARD_NAME).write_text("# my notes\n")
    with pytest.raises(InteropError, match="README.md: exists and is not a model card"):
        export_hf(initialized_pipeline_dir, out)
    assert (out / CARD_NAME).read_text() == "# my notes\n"
    export_hf(initialized_pipeline_dir, out, force=True)
    assert CARD_MARKER in (out / CARD_NAME).read_text()


def test_foreign_folder_with_a_readme_needs_force(initialized_pipeline_dir, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / CARD_NAME).write_text("# a project\n")
    with pytest.raises(InteropError, match="pass --force"):
        export_hf(initialized_pipeline_dir, folder)
    assert [p.name for p in folder.iterdir()] == [CARD_NAME]


@pytest.mark.parametrize(
    "content,match",
    [
        ("{not json", "not JSON"),
        ('{"schema": "other"}', "expected an evaluation JSON of schema"),
        (json.dumps({"schema": METRICS_SCHEMA, "split": "test"}), "without a usable 'headline' entry"),
    ],
)
def test_bad_metrics_json_is_a_one_line_error(initialized_pipeline_dir, tmp_path, content, match):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(InteropError, match=match) as err:
        export_hf(initialized_pipeline_dir, tmp_path / "hf", metrics=path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert not (tmp_path / "hf").exists()
    with pytest.raises(InteropError, match="cannot read"):
        read_metrics(tmp_path / "missing.json")


def test_hub_id_encoders_become_base_model(initialized_pipeline_dir):
    nlp = spacy.load(initialized_pipeline_dir)
    assert gather_facts(nlp).base_model is None  # a local folder
    nlp.config["components"]["transformer"]["model"]["name"] = "bert-base/cased-x"
    assert gather_facts(nlp).base_model == "bert-base/cased-x"
    assert gather_facts(nlp, FactOptions(base_model=HUB_ID)).base_model == HUB_ID


def test_training_lines_name_encoder_head_windows_and_schedule(initialized_pipeline_dir):
    facts = gather_facts(spacy.load(initialized_pipeline_dir), CARD)
    lines = training_lines(facts)
    assert lines[0] == f"Encoder: {HUB_ID}"
    assert lines[1].startswith("Head: spacy-bert-ner.TokenClassifier.v1(") and "decoding=" in lines[1]
    assert lines[2] == "Windows: spacy-transformers.strided_spans.v1(window=8, stride=6)"
    assert lines[3].startswith("Schedule: Adam.v1")
    assert lines[4].startswith("Data: CoNLL-2003 (https://")
    assert render_card(facts) == render_card(facts)  # no clock or path of the machine in it


def test_package_meta_is_valid_spacy_meta(initialized_pipeline_dir, metrics_json, tmp_path):
    out = tmp_path / "meta.json"
    meta = write_package_meta(initialized_pipeline_dir, out, CARD, metrics=metrics_json)
    assert json.loads(out.read_text()) == meta
    nlp = spacy.load(initialized_pipeline_dir)
    assert validate(ModelMetaSchema, {**nlp.meta, **meta}) == []
    assert (meta["name"], meta["version"], meta["license"]) == ("bert_ner_test", "1.2.3", "mit")
    assert [source["name"] for source in meta["sources"]] == ["CoNLL-2003", HUB_ID]
    assert all(source["url"].startswith("https://") for source in meta["sources"])
    performance = meta["performance"]
    assert (performance["ents_p"], performance["ents_r"], performance["ents_f"]) == (0.8011, 0.8238, 0.8123)
    assert (performance["seqeval_default_f"], performance["seqeval_strict_f"]) == (0.8199, 0.8177)
    assert performance["speed"] == 1234.5 and "test split" in meta["notes"]
    with pytest.raises(InteropError, match="is the input"):
        write_package_meta(initialized_pipeline_dir, metrics_json, metrics=metrics_json)


def test_cli_package_meta_and_export_hf_with_metrics(initialized_pipeline_dir, metrics_json, tmp_path):
    runner = CliRunner()
    out = tmp_path / "meta.json"
    result = runner.invoke(app, [
        "package-meta", str(initialized_pipeline_dir), str(out), "--metrics", str(metrics_json),
        "--name", "bert_ner_test", "--version", "1.2.3", "--dataset", "conll2003", "--base-model", HUB_ID,
    ])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["performance"]["ents_f"] == 0.8123
    result = runner.invoke(app, [
        "export-hf", str(initialized_pipeline_dir), str(tmp_path / "hf"), "--metrics", str(metrics_json),
        "--dataset", "conll2003", "--license", "mit",
    ])
    assert result.exit_code == 0, result.output
    assert split_card((tmp_path / "hf" / CARD_NAME).read_text())[0]["datasets"] == ["conll2003"]
    result = runner.invoke(app, ["package-meta", str(tmp_path / "nowhere"), str(out)])
    assert result.exit_code == 1 and "(with config.cfg)" in result.output


def test_dataset_and_base_model_default_to_what_the_evaluation_names(initialized_pipeline_dir, tmp_path):
    record = metrics_record()
    record["pipeline"] = {"encoder": {"label": HUB_ID, "config_name": "training/x/encoder"}}
    path = tmp_path / "test_metrics.json"
    path.write_text(json.dumps(record))
    facts = gather_facts(spacy.load(initialized_pipeline_dir), metrics=read_metrics(path))
    assert facts.datasets == ["conll2003"]  # corpus/conll2003/test.spacy
    assert facts.base_model == HUB_ID
    record["pipeline"]["encoder"]["label"] = "all-MiniLM-L6-v2"  # an offline alias, not a hub id
    path.write_text(json.dumps(record))
    assert gather_facts(spacy.load(initialized_pipeline_dir), metrics=read_metrics(path)).base_model is None
