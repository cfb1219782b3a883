"""train_timed: `spacy train` from configs/ on the tiny BERT, plus train_time.json."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import load_config

from spacy_bert_ner.bench.train_time import (
    STEP_TIMES_FILE,
    TRAIN_LOG_FILE,
    batches_per_epoch,
    make_step_timer,
    read_step_times,
    train_timed,
)

from .conftest import TRAIN_SENTENCES, make_doc

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def docbin(tmp_path_factory) -> Path:
    nlp = spacy.blank("en")
    path = tmp_path_factory.mktemp("corpus") / "train.spacy"
    DocBin(docs=[make_doc(nlp, text, ents) for text, ents in TRAIN_SENTENCES]).to_disk(path)
    return path


def _overrides(docbin: Path, tiny_bert_dir: Path, batch_size: int) -> dict:
    return {
        "paths.train": str(docbin),
        "paths.dev": str(docbin),
        "components.transformer.model.name": str(tiny_bert_dir),
        "training.max_steps": 3,
        "training.eval_frequency": 2,
        "training.batcher.size": batch_size,
    }


@pytest.mark.parametrize("batch_size,expected", [(1000, 1), (12, 6)])
def test_batches_per_epoch_counts_the_configs_batcher(docbin, tiny_bert_dir, batch_size, expected):
    # six one-sentence docs of 7-12 words: all fit in 1000 padded words, one per batch at 12
    overrides = _overrides(docbin, tiny_bert_dir, batch_size)
    config = load_config(CONFIGS / "token_classifier.cfg", overrides=overrides, interpolate=False)
    assert batches_per_epoch(config) == expected


@pytest.mark.parametrize("config", ["token_classifier.cfg", "ner_trf.cfg"])
def test_train_timed_trains_and_records_time(docbin, tiny_bert_dir, tmp_path, config):
    output = tmp_path / "out"
    record = train_timed(CONFIGS / config, output, _overrides(docbin, tiny_bert_dir, 12))
    assert (output / "model-best" / "config.cfg").exists()
    saved = json.loads((output / "train_time.json").read_text())
    assert saved["seconds"] == pytest.approx(record.seconds) and saved["seconds"] > 0
    assert saved["batches_per_epoch"] == 6 and saved["epochs"] == pytest.approx(0.5)
    assert saved["seconds_per_epoch"] == pytest.approx(saved["seconds"] * 2)
    assert saved["hardware"]["cores"] >= 1
    assert 0 < saved["median_step_seconds"] < saved["seconds"]
    assert saved["seconds_per_epoch_from_median_step"] == pytest.approx(saved["median_step_seconds"] * 6)
    assert "step_timer" in (output / "model-last" / "config.cfg").read_text()
    assert len(read_step_times(output / STEP_TIMES_FILE)) == 4  # one stamp per update: steps 0..max_steps
    log = [json.loads(line) for line in (output / TRAIN_LOG_FILE).read_text().splitlines()]
    assert [entry["step"] for entry in log] == [0, 2]  # spaCy evaluates at step 0 and every eval_frequency
    assert not [p for p in output.iterdir() if p.name.endswith(".tmp")]


def test_train_timed_replaces_its_own_files_from_an_earlier_run(docbin, tiny_bert_dir, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / TRAIN_LOG_FILE).write_text("{}\n")
    (output / STEP_TIMES_FILE).write_text("1.0\n2.0\n")
    train_timed(CONFIGS / "token_classifier.cfg", output, _overrides(docbin, tiny_bert_dir, 12))
    assert len(read_step_times(output / STEP_TIMES_FILE)) == 4
    assert (output / TRAIN_LOG_FILE).read_text() != "{}\n"


def test_step_timer_keeps_its_stamps_without_a_file():
    timer = make_step_timer()
    timer(None, {})
    timer(None, {})
    assert len(timer.times) == 2 and timer.times[0] <= timer.times[1]


def test_train_cli_set_adds_overrides_that_a_project_variable_can_hold(docbin, tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from spacy_bert_ner.cli.app import app

    output = tmp_path / "out"
    args = [f"--{key}={value}" for key, value in _overrides(docbin, tiny_bert_dir, 12).items()]
    pooling = (
        "components.token_classifier.model.tok2vec.@architectures=spacy-bert-ner.SubwordPoolingListener.v1"
        " components.token_classifier.model.tok2vec.pooling=mean components.token_classifier.label_smoothing=0.1"
    )
    result = CliRunner().invoke(
        app, ["train", str(CONFIGS / "token_classifier.cfg"), "--output", str(output), "--set", pooling, *args]
    )
    assert result.exit_code == 0, result.output
    config = load_config(output / "model-best" / "config.cfg")
    component = config["components"]["token_classifier"]
    assert component["model"]["tok2vec"]["pooling"] == "mean"
    assert component["model"]["tok2vec"]["@architectures"] == "spacy-bert-ner.SubwordPoolingListener.v1"
    assert component["label_smoothing"] == 0.1


@pytest.mark.parametrize("text", ["pooling=mean", "components.x.y", "components.x.y="])
def test_train_set_refuses_an_item_without_section_key_and_value(text):
    from spacy_bert_ner.cli.options import parse_set_overrides

    with pytest.raises(ValueError, match="--set expects SECTION.KEY=VALUE"):
        parse_set_overrides(text)
