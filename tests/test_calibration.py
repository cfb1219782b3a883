"""Entity confidences: the "min"/"mean" setting of token_classifier, and their calibration (ECE)."""
import re
import shutil

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example

from spacy_bert_ner.confidences import entity_confidence, span_confidences
from spacy_bert_ner.evaluation.calibration import calibration, scored_entities
from spacy_bert_ner.evaluation.pipeline_eval import calibration_entry, evaluate_pipeline
from spacy_bert_ner.pipeline import TokenClassifier

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)
from .conftest import build_pipeline, make_examples

TEXT = "Peter Blackburn visited Brussels on Monday ."


# ---------------------------------------------------------------------------
# The aggregation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("how, expected", [("min", [0.6, 0.9]), ("mean", [0.7, 0.9])])
def test_span_confidences_aggregate(how, expected):
    labels = ["O", "B-PER", "I-PER"]
    probs = numpy.asarray([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1], [0.1, 0.9, 0.0]])
    spans = span_confidences(probs, numpy.asarray([1, 2, 0, 1]), labels, how)
    assert [span[3] for span in spans] == pytest.approx(expected)


def test_entity_confidence_rejects_unknown_aggregation():
    with pytest.raises(ValueError, match="expected one of min, mean, got 'max'"):
        entity_confidence(numpy.asarray([0.5]), "max")  # type: ignore[arg-type]


def test_component_rejects_unknown_aggregation(tiny_bert_dir):
    with pytest.raises(ValueError, match="confidence"):
        TokenClassifier(spacy.blank("en").vocab, None, confidence="max")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="confidence"):  # spaCy's ConfigValidationError, from the Literal
        build_pipeline(tiny_bert_dir, confidence="max")


@pytest.fixture(scope="module")
def saved(initialized_pipeline_dir, tmp_path_factory):
    """The shared initialized pipeline, its config.cfg without the confidence key (saved before it existed)."""
    path = tmp_path_factory.mktemp("calibration") / "pipeline"
    shutil.copytree(initialized_pipeline_dir, path)
    config = path / "config.cfg"
    config.write_text(re.sub(r'confidence = "\w+"\n', "", config.read_text(encoding="utf8")), encoding="utf8")
    return path


def _entities_and_token_probs(nlp):
    """``([(start, end, label)], scores, token probabilities)`` of TEXT."""
    doc = nlp(TEXT)
    component = nlp.get_pipe("token_classifier")
    _, token_probs = component.predict([nlp.get_pipe("transformer")(nlp.make_doc(TEXT))])[0]
    group = doc.spans["token_classifier"]
    return [(s.start, s.end, s.label_) for s in group], group.attrs["scores"], token_probs


def test_old_pipeline_loads_as_min_and_mean_is_an_override(saved):
    old = spacy.load(saved)
    assert "confidence" not in old.config["components"]["token_classifier"] or \
        old.config["components"]["token_classifier"]["confidence"] == "min"
    assert old.get_pipe("token_classifier").confidence == "min"
    ents, scores, token_probs = _entities_and_token_probs(old)
    assert ents, "the untrained tiny head predicts some entities"
    assert scores == pytest.approx([float(token_probs[s:e].min()) for s, e, _ in ents])
    mean = spacy.load(saved, config={"components.token_classifier.confidence": "mean"})
    assert mean.get_pipe("token_classifier").confidence == "mean"
    ents_mean, scores, token_probs = _entities_and_token_probs(mean)
    assert ents_mean == ents
    assert scores == pytest.approx([float(token_probs[s:e].mean()) for s, e, _ in ents])


@pytest.mark.parametrize("how, expected", [("min", [0.5, 0.9]), ("mean", [0.7, 0.9])])
def test_set_annotations_aggregates_as_set(saved, how, expected):
    nlp = spacy.load(saved, config={"components.token_classifier.confidence": how})
    component = nlp.get_pipe("token_classifier")
    tags = component.tag_names
    path = numpy.asarray([tags.index(t) for t in ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]])
    doc = nlp.make_doc(TEXT)
    component.set_annotations([doc], [(path, numpy.asarray([0.9, 0.5, 0.8, 0.9, 0.7, 0.7, 0.7]))])
    assert [(e.text, e.label_) for e in doc.ents] == [("Peter Blackburn", "PER"), ("Brussels", "LOC")]
    assert doc.spans["token_classifier"].attrs["scores"] == pytest.approx(expected)


def test_decoding_override_at_load_time_takes_effect(saved):
    """The saved cfg holds decoding too; the config (with its override) decides."""
    nlp = spacy.load(saved, config={"components.token_classifier.decoding": "repair"})
    assert nlp.get_pipe("token_classifier").cfg["decoding"] == "repair"
    assert spacy.load(saved).get_pipe("token_classifier").cfg["decoding"] == "viterbi"


# ---------------------------------------------------------------------------
# ECE and the reliability table
# ---------------------------------------------------------------------------
def test_calibration_by_hand():
    # bin 9 (0.9..1.0]: 0.95 right, 0.95 right, 0.95 wrong -> precision 2/3, confidence 0.95
    # bin 2 [0.2, 0.3): 0.25 wrong -> precision 0, confidence 0.25
    predicted = [[(0, 1, "PER", 0.95), (2, 3, "LOC", 0.95)], [(0, 2, "ORG", 0.95), (3, 4, "PER", 0.25)]]
    gold = [{(0, 1, "PER"), (2, 3, "LOC")}, {(0, 1, "ORG")}]
    result = calibration(predicted, gold, aggregation="min")
    expected = 3 / 4 * abs(2 / 3 - 0.95) + 1 / 4 * abs(0 - 0.25)
    assert result["ece"] == pytest.approx(expected)
    assert result["n_entities"] == 4 and result["aggregation"] == "min"
    counts = [b["count"] for b in result["bins"]]
    assert counts == [0, 0, 1, 0, 0, 0, 0, 0, 0, 3]
    assert result["bins"][9]["precision"] == pytest.approx(2 / 3)
    assert result["bins"][9]["mean_confidence"] == pytest.approx(0.95)
    assert result["bins"][0]["precision"] is None and result["bins"][0]["mean_confidence"] is None
    assert (result["bins"][2]["low"], result["bins"][2]["high"]) == pytest.approx((0.2, 0.3))


@pytest.mark.parametrize(
    "predicted, gold, ece",
    [
        ([[(0, 1, "PER", 1.0)]], [{(0, 1, "PER")}], 0.0),  # 1.0 falls in the last bin, right and sure
        ([[(0, 1, "PER", 0.0)]], [set()], 0.0),  # wrong and says so
        ([[(0, 1, "PER", 0.75), (0, 1, "PER", 0.75)]], [{(0, 1, "PER")}], 0.25),  # a repeat counts once
        ([[(0, 1, "LOC", 0.6)]], [{(0, 1, "PER")}], 0.6),  # a wrong type is wrong
        ([[]], [{(0, 1, "PER")}], None),  # nothing predicted: no ECE
    ],
    ids=["sure-right", "unsure-wrong", "repeat", "wrong-type", "none"],
)
def test_calibration_table(predicted, gold, ece):
    result = calibration(predicted, gold)
    assert result["ece"] == (None if ece is None else pytest.approx(ece))
    assert sum(b["count"] for b in result["bins"]) == sum(len(p) for p in predicted)


@pytest.mark.parametrize(
    "predicted, gold, match",
    [([[(0, 1, "PER", 1.5)]], [set()], r"\[0, 1\]"), ([[]], [], "each of 1 documents")],
    ids=["out-of-range", "length"],
)
def test_calibration_rejects(predicted, gold, match):
    with pytest.raises(ValueError, match=match):
        calibration(predicted, gold)


def test_scored_entities_in_character_offsets():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["Peter", "Blackburn", "visited", "Brussels"])
    reference.set_ents([Span(reference, 0, 2, "PER"), Span(reference, 3, 4, "LOC")])
    predicted = nlp.make_doc("Peter Blackburn visited Brussels")
    spans = [Span(predicted, 0, 2, "PER"), Span(predicted, 3, 4, "ORG")]
    predicted.spans["tc"] = SpanGroup(predicted, name="tc", spans=spans, attrs={"scores": [0.9, 0.4]})
    pred, gold = scored_entities([Example(predicted, reference)], "tc")
    assert pred == [[(0, 15, "PER", 0.9), (24, 32, "ORG", 0.4)]]
    assert gold == [[(0, 15, "PER"), (24, 32, "LOC")]]
    assert calibration(pred, gold)["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)
    predicted.spans["tc"].attrs["scores"] = [0.9]
    with pytest.raises(ValueError, match="2 entities but 1 scores"):
        scored_entities([Example(predicted, reference)], "tc")


def test_calibration_entry_of_a_pipeline(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir, confidence="mean")
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    evaluated = [Example(nlp(eg.reference.text), eg.reference) for eg in examples]
    entry = calibration_entry(nlp, evaluated)["calibration"]
    assert entry["aggregation"] == "mean"
    assert entry["n_entities"] == sum(len(eg.predicted.spans["token_classifier"]) for eg in evaluated)
    ner = build_pipeline(tiny_bert_dir, head="ner")
    assert calibration_entry(ner, []) == {}


def test_evaluate_records_calibration_of_the_active_aggregation(pipelines, docbin_path):
    by_default = evaluate_pipeline(pipelines["token_classifier"], docbin_path, name="tc", n_resamples=10)
    mean = evaluate_pipeline(pipelines["token_classifier"], docbin_path, name="tc", n_resamples=10,
                             overrides={"components.token_classifier.confidence": "mean"})
    assert by_default["calibration"]["aggregation"] == "min" and mean["calibration"]["aggregation"] == "mean"
    assert by_default["calibration"]["n_entities"] == mean["calibration"]["n_entities"]
    assert by_default["headline"] == mean["headline"]  # the aggregation changes scores, not entities
    ner = evaluate_pipeline(pipelines["ner"], docbin_path, name="ner", n_resamples=10)
    assert "calibration" not in ner


def test_calibration_command_reports_both_aggregations(saved, docbin_path, tmp_path):
    """On the untrained (random-head) pipeline, which finds many entities."""
    import json

    from typer.testing import CliRunner

    from spacy_bert_ner.cli import app

    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["calibration", str(saved), str(docbin_path), str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "calibration.json").read_text())
    assert report["default"] == "min" and list(report["calibration"]) == ["min", "mean"]
    by_mode = report["calibration"]
    assert by_mode["min"]["n_entities"] == by_mode["mean"]["n_entities"] > 0
    # mean >= min for every entity and > for a multi-token entity with unequal probabilities (the
    # random head has many): equal averages would mean the load-time override was ignored
    def avg(mode):
        bins = [b for b in by_mode[mode]["bins"] if b["count"]]
        return sum(b["mean_confidence"] * b["count"] for b in bins) / sum(b["count"] for b in bins)
    assert avg("mean") > avg("min")
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert "ECE" in result.output


def test_calibration_command_refuses_a_pipeline_without_token_classifier(pipelines, docbin_path, tmp_path):
    from typer.testing import CliRunner

    from spacy_bert_ner.cli import app

    result = CliRunner().invoke(app, ["calibration", str(pipelines["ner"]), str(docbin_path), str(tmp_path / "o")])
    assert result.exit_code == 1 and "only its entities carry confidences" in result.output.replace("\n", " ")
    assert not (tmp_path / "o").exists()
