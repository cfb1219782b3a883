"""Profile: step timers around what nlp.pipe runs, and the encoder's forward calls inside."""
import json

import pytest
import spacy
from typer.testing import CliRunner

from spacy_bert_ner.bench.data import load_docs
from spacy_bert_ner.bench.profiling import ENCODER_STEP, TOKENIZER_STEP, profile_pipeline, time_steps
from spacy_bert_ner.cli import app
from spacy_bert_ner.util import hf_model

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)
from .conftest import TRAIN_SENTENCES




def test_profile_steps_and_encoder_positions(pipelines, docbin_path):
    result = profile_pipeline(pipelines["token_classifier"], docbin_path, max_words=0, with_pyinstrument=False)
    steps = {step["step"]: step for step in result["steps"]}
    assert list(steps)[:2] == [TOKENIZER_STEP, "transformer"]
    assert steps[ENCODER_STEP]["inside"] == "transformer"
    assert steps[ENCODER_STEP]["seconds"] <= steps["transformer.predict"]["seconds"] <= steps["transformer"]["seconds"]
    assert {"token_classifier", "token_classifier.predict", "token_classifier.set_annotations"} <= set(steps)
    top_level = sum(step["seconds"] for step in result["steps"] if not step.get("inside"))
    assert top_level == pytest.approx(result["seconds"], rel=0.05)
    # the encoder's real positions are the wordpieces of the windows nlp.pipe gives it
    nlp = spacy.load(pipelines["token_classifier"])
    texts = [doc.text for doc in load_docs(docbin_path)]
    windows = [length for doc in nlp.pipe(texts) for length in doc._.trf_data.wordpieces.lengths]
    encoder = result["encoder"]
    assert encoder["real_positions"] == sum(windows) and encoder["rows"] == len(windows)
    assert encoder["real_positions"] <= encoder["padded_positions"]
    assert result["words"] == sum(len(doc) for doc in load_docs(docbin_path))
    # the timers are removed afterwards: a second pass adds no time to the first's
    timings = time_steps(nlp, texts, batch_size=2)
    assert all("predict" not in vars(component) for _, component in nlp.pipeline)
    assert not hf_model(nlp)._forward_pre_hooks
    assert timings["encoder"]["rows"] == len(windows)


def test_profile_of_a_cython_component_times_it_whole(pipelines, docbin_path):
    nlp = spacy.load(pipelines["ner"])
    timings = time_steps(nlp, [doc.text for doc in load_docs(docbin_path)], batch_size=4)
    names = [step["step"] for step in timings["steps"]]
    assert "ner" in names and "ner.predict" not in names


def test_profile_cli(pipelines, docbin_path, tmp_path):
    out = tmp_path / "profile"
    args = ["profile", str(pipelines["token_classifier"]), str(docbin_path), str(out), "--chunk-size", "1"]
    result = CliRunner().invoke(app, args + ["--max-words", "20"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "profile.json").read_text())
    assert saved["encoder"]["calls"] == saved["encoder"]["rows"]  # chunks of one window
    assert saved["transformer"]["batching"].startswith("length-sorted chunks of 1 window")
    assert 0 < saved["words"] <= 20 + max(len(text.split()) for text, _ in TRAIN_SENTENCES)
    markdown = (out / "profile.md").read_text()
    assert "encoder forward" in markdown and "| Step | s | share |" in markdown
    missing = CliRunner().invoke(app, ["profile", str(tmp_path / "none"), str(docbin_path), str(out)])
    assert missing.exit_code == 1 and "pipeline folder" in missing.output
