"""Evaluating a pipeline: spaCy-identical headline, seqeval on gold sentences, per-doc counts, CLI."""
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.evaluation.windows import parse_window, score_windows, span_getter_config, window_label
from spacy_bert_ner.evaluation.metrics import aligned_entity_spans, example_counts, example_sequences
from spacy_bert_ner.evaluation.pipeline_eval import evaluate_pipeline, read_train_time, score_examples
from spacy_bert_ner.evaluation.stats import doc_counts, f1_from_counts

from .conftest import TRAIN_SENTENCES, build_pipeline, gold_doc, make_examples
from .test_report import assert_real_png

SpanSpec = Tuple[int, int, str]



def predicted(nlp: Language, text: str, ents: List[SpanSpec]) -> Doc:
    doc = nlp.make_doc(text)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return doc


@pytest.fixture(scope="module")
def nlp() -> Language:
    return spacy.blank("en")


# ---------------------------------------------------------------------------
# Pure: crafted Examples
# ---------------------------------------------------------------------------
def test_clean_predictions_agree_everywhere(nlp):
    gold = gold_doc(nlp, [("Peter Blackburn visited Brussels .", [(0, 2, "PER"), (3, 4, "LOC")]),
                          ("The EU said no .", [(1, 2, "ORG")])])
    pred = predicted(nlp, gold.text, [(0, 2, "PER"), (3, 4, "ORG"), (6, 7, "ORG")])
    example = Example(pred, gold)
    scores = score_examples([example], n_resamples=50)
    # tp = PER, EU; fp = Brussels/ORG; fn = Brussels/LOC -> F1 = 4 / 6
    assert scores["headline"]["f1"] == pytest.approx(2 / 3)
    assert scores["headline"]["f1"] == pytest.approx(get_ner_prf([example])["ents_f"])
    assert scores["seqeval"]["default"]["f1"] == pytest.approx(2 / 3)
    assert scores["seqeval"]["strict"]["f1"] == pytest.approx(2 / 3)
    assert scores["doc_counts"] == [[2, 1, 1]]
    seqs = example_sequences(example)
    assert seqs["pred"] == [["B-PER", "I-PER", "O", "B-ORG", "O"], ["O", "B-ORG", "O", "O", "O"]]
    assert doc_counts([seqs["gold"]], [seqs["pred"]]).tolist() == scores["doc_counts"]
    assert scores["iob2_projection"]["overlapping_dropped"] == 0
    assert scores["iob2_projection"]["crossing_sentences"] == 0
    assert scores["per_type"]["LOC"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "tp": 0, "fp": 0, "fn": 1})


def test_entity_crossing_a_gold_sentence_boundary_is_an_orphan_for_strict(nlp):
    """Predicted LOC over '. Paris' crosses the sentence boundary.

    spaCy / headline: one wrong entity -> tp 0, fp 1, fn 2 -> F1 0.
    Cut at the boundary: sentence 1 [O O B-LOC], sentence 2 [I-LOC O O O].
    default (conlleval): the orphan I-LOC starts LOC(3,4) = gold -> tp 1, fp 1, fn 1 -> F1 1/2.
    strict IOB2: the orphan is no entity -> tp 0, fp 1, fn 2 -> F1 0.
    """
    gold = gold_doc(nlp, [("Peter lives .", [(0, 1, "PER")]), ("Paris is big .", [(0, 1, "LOC")])])
    example = Example(predicted(nlp, gold.text, [(2, 4, "LOC")]), gold)
    seqs = example_sequences(example)
    assert seqs["pred"] == [["O", "O", "B-LOC"], ["I-LOC", "O", "O", "O"]]
    assert seqs["crossing_sentences"] == 1
    scores = score_examples([example], n_resamples=20)
    assert scores["headline"]["f1"] == 0.0 == get_ner_prf([example])["ents_f"]
    assert scores["seqeval"]["default"]["f1"] == pytest.approx(0.5)
    assert scores["seqeval"]["strict"]["f1"] == 0.0
    assert f1_from_counts(doc_counts([seqs["gold"]], [seqs["pred"]])) == pytest.approx(0.5)


def test_other_tokenization_is_mapped_like_spacy(nlp):
    """spaCy splits 1996-12-06 into five tokens; two entities inside it land on one gold token."""
    gold = gold_doc(nlp, [("Brussels 1996-12-06 talks .", [(0, 1, "LOC"), (1, 2, "MISC")])])
    text = gold.text
    tokens = [t.text for t in nlp.make_doc(text)]
    assert tokens == ["Brussels", "1996", "-", "12", "-", "06", "talks", "."]
    example = Example(predicted(nlp, text, [(0, 1, "LOC"), (1, 2, "MISC"), (3, 4, "DATE")]), gold)
    assert aligned_entity_spans(example) == [(0, 1, "LOC"), (1, 2, "MISC"), (1, 2, "DATE")]
    counts, per_type = example_counts([example])
    assert counts.tolist() == [[2, 1, 0]]
    assert per_type == {"DATE": [0, 1, 0], "LOC": [1, 0, 0], "MISC": [1, 0, 0]}
    scores = score_examples([example], n_resamples=20)
    spacy_scores = get_ner_prf([example])
    assert scores["headline"]["f1"] == pytest.approx(spacy_scores["ents_f"])
    assert {t: v["f1"] for t, v in scores["per_type"].items()} == pytest.approx(
        {t: v["f"] for t, v in spacy_scores["ents_per_type"].items()})
    assert scores["iob2_projection"]["overlapping_dropped"] == 1
    assert example_sequences(example)["pred"] == [["B-LOC", "B-MISC", "O", "O"]]
    assert scores["seqeval"]["default"]["f1"] == 1.0  # the overlapping DATE cannot be written as IOB2
    assert scores["data"]["n_words"] == 4 and scores["data"]["n_predicted_tokens"] == 8


def test_repeated_prediction_on_one_gold_span_is_tp_then_fp(nlp):
    gold = gold_doc(nlp, [("Paris 1996-12-06 .", [(1, 2, "MISC")])])
    example = Example(predicted(nlp, gold.text, [(1, 2, "MISC"), (3, 4, "MISC")]), gold)
    assert example_counts([example])[0].tolist() == [[1, 1, 0]]
    assert score_examples([example], n_resamples=10)["headline"]["f1"] == pytest.approx(
        get_ner_prf([example])["ents_f"])


def test_doc_counts_one_row_per_document_and_bootstrap(nlp):
    examples = []
    for i, (text, ents) in enumerate(TRAIN_SENTENCES):
        gold = gold_doc(nlp, [(text, ents)])
        examples.append(Example(predicted(nlp, gold.text, ents if i % 2 else []), gold))
    scores = score_examples(examples, n_resamples=100)
    assert len(scores["doc_counts"]) == len(TRAIN_SENTENCES) == len(scores["doc_fingerprints"])
    assert [row[1] for row in scores["doc_counts"]] == [0] * len(TRAIN_SENTENCES)
    ci = scores["headline"]["ci"]
    assert ci["low"] <= scores["headline"]["f1"] <= ci["high"] and ci["n_resamples"] == 100
    assert len(set(scores["doc_fingerprints"])) == len(TRAIN_SENTENCES)


def test_error_examples_say_where_they_are(nlp):
    gold = gold_doc(nlp, [("Hello .", []), ("Peter Blackburn visited Brussels .", [(0, 2, "PER"), (3, 4, "LOC")])])
    example = Example(predicted(nlp, gold.text, [(2, 3, "PER")]), gold)
    errors = score_examples([example, example], n_resamples=10)["errors"]
    (wrong,) = errors["examples"]["wrong_boundary"][:1]
    assert (wrong["doc"], wrong["sentence"], wrong["text"]) == (0, 1, "Peter Blackburn")
    assert errors["counts"]["missed"] == 2


def test_no_examples(nlp):
    scores = score_examples([], n_resamples=10)
    assert scores["headline"]["f1"] == 0.0 and scores["headline"]["ci"] is None
    assert scores["doc_counts"] == [] and scores["data"]["n_docs"] == 0


@pytest.mark.parametrize(
    "content,expected",
    [
        ('{"seconds": 12.5, "max_rss_kb": 100}', 12.5),
        ('Command exited with non-zero status 1\n{"seconds": 3.0}', 3.0),
        ('{\n  "seconds": 7.0,\n  "epochs": 2.5\n}\n', 7.0),  # training.train_timed's file
    ],
)
def test_read_train_time(tmp_path, content, expected):
    path = tmp_path / "train_time.json"
    path.write_text(content)
    assert read_train_time(path)["seconds"] == expected


@pytest.mark.parametrize("content", ["", "12.5", '{"secs": 1}', '{"seconds": "soon"}'])
def test_read_train_time_rejects(tmp_path, content):
    path = tmp_path / "train_time.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="expected JSON with a number under 'seconds'"):
        read_train_time(path)


def test_read_train_time_missing_is_unknown(tmp_path):
    assert read_train_time(tmp_path / "nope.json") == {"seconds": None, "source": None}


# ---------------------------------------------------------------------------
# A tiny trained pipeline per head, evaluated like the workflow does
# ---------------------------------------------------------------------------
def train(nlp: Language, n_steps: int = 30) -> Language:
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(n_steps):
        nlp.update(examples, sgd=optimizer, losses={})
    return nlp


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_bert_dir) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    paths: Dict[str, Path] = {}
    for head in ("ner", "token_classifier"):
        paths[head] = root / "training" / head / "model-best"
        paths[head].parent.mkdir(parents=True)
        train(build_pipeline(tiny_bert_dir, head=head)).to_disk(paths[head])
    blank = spacy.blank("en")
    docs = [gold_doc(blank, TRAIN_SENTENCES[i : i + 2]) for i in range(0, len(TRAIN_SENTENCES), 2)]
    docs.append(gold_doc(blank, [("Peter Blackburn visited Brussels on 1996-12-06 .", [(0, 2, "PER"), (3, 4, "LOC")])]))
    paths["data"] = root / "test.spacy"
    DocBin(docs=docs).to_disk(paths["data"])
    return paths


@pytest.fixture(scope="module")
def metrics(workspace) -> Dict[str, Dict]:
    return {
        head: evaluate_pipeline(workspace[head], workspace["data"], name=head, n_resamples=100, encoder_label="tiny")
        for head in ("ner", "token_classifier")
    }


@pytest.mark.parametrize("head", ["ner", "token_classifier"])
def test_headline_equals_spacy_evaluate(workspace, metrics, head):
    from spacy.cli.evaluate import evaluate as spacy_evaluate

    expected = spacy_evaluate(str(workspace[head]), workspace["data"])
    got = metrics[head]
    assert expected["ents_f"] is not None and expected["ents_f"] > 0.3  # the head learnt something
    assert got["headline"]["f1"] == pytest.approx(expected["ents_f"], abs=1e-9)
    assert got["headline"]["precision"] == pytest.approx(expected["ents_p"], abs=1e-9)
    assert got["headline"]["recall"] == pytest.approx(expected["ents_r"], abs=1e-9)
    assert got["spacy"]["ents_f"] == pytest.approx(expected["ents_f"], abs=1e-9)
    assert {t: v["f1"] for t, v in got["per_type"].items()} == pytest.approx(
        {t: v["f"] for t, v in expected["ents_per_type"].items()})
    assert f1_from_counts(numpy.asarray(got["doc_counts"])) == pytest.approx(expected["ents_f"])


@pytest.mark.parametrize("head", ["ner", "token_classifier"])
def test_seqeval_both_modes_labelled(metrics, head):
    seqeval = metrics[head]["seqeval"]
    assert seqeval["default"]["label"] == "conlleval-compatible (seqeval default)"
    assert seqeval["strict"]["scheme"] == "IOB2"
    projection = metrics[head]["iob2_projection"]
    if projection["overlapping_dropped"] == 0 and projection["crossing_sentences"] == 0:
        assert seqeval["default"]["f1"] == pytest.approx(metrics[head]["headline"]["f1"])
        assert seqeval["strict"]["f1"] == pytest.approx(seqeval["default"]["f1"])
    assert seqeval["default"]["n_sequences"] == 7 == metrics[head]["data"]["n_sentences"]  # gold sentences


def test_metrics_describe_the_run(workspace, metrics):
    m = metrics["token_classifier"]
    assert m["data"]["n_docs"] == 4 and len(m["doc_counts"]) == 4 and len(m["data"]["doc_fingerprints"]) == 4
    assert m["data"]["n_words"] == sum(len(t.split()) for t, _ in TRAIN_SENTENCES) + 7
    assert m["speed"]["words_per_second"] > 0 and m["speed"]["batch_size"] > 0
    assert m["resources"]["peak_rss_mb"] > 50
    assert m["resources"]["model_size_mb"] > 0.1
    assert m["hardware"]["cores"] >= 1 and m["hardware"]["torch_threads"] >= 1 and m["hardware"]["cpu"]
    assert m["pipeline"]["head"] == "token_classifier"
    assert m["pipeline"]["components"] == {"transformer": "transformer", "token_classifier": "token_classifier"}
    assert m["pipeline"]["encoder"]["label"] == "tiny" and m["pipeline"]["encoder"]["model_type"] == "bert"
    assert m["training"] == {"seconds": None, "source": None}
    assert metrics["ner"]["data"]["doc_fingerprints"] == m["data"]["doc_fingerprints"]
    json.dumps(m)


def test_evaluate_and_compare_cli(workspace, tmp_path):
    (workspace["token_classifier"].parent / "train_time.json").write_text('{"seconds": 42.0}')
    runner = CliRunner()
    dirs = {}
    try:
        for head in ("ner", "token_classifier"):
            dirs[head] = tmp_path / head
            result = runner.invoke(app, [
                "evaluate", str(workspace[head]), str(workspace["data"]), str(dirs[head]),
                "--name", head, "--split", "test", "--n-examples", "2", "--n-resamples", "50",
            ])
            assert result.exit_code == 0, result.output
    finally:
        (workspace["token_classifier"].parent / "train_time.json").unlink()
    for name in ("test_metrics.json", "test_confusion.json", "test_errors.json", "test_errors.md"):
        assert (dirs["ner"] / name).exists()
    assert_real_png(dirs["ner"] / "test_confusion.png")
    tc = json.loads((dirs["token_classifier"] / "test_metrics.json").read_text())
    assert tc["training"]["seconds"] == 42.0 and tc["training"]["source"].endswith("train_time.json")
    result = runner.invoke(app, [
        "compare", str(tmp_path / "report"), "--system", f"ner={dirs['ner']}",
        "--system", f"token_classifier={dirs['token_classifier']}", "--n-resamples", "50",
    ])
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert set(comparison["systems"]) == {"ner", "token_classifier"}
    assert comparison["systems"]["token_classifier"]["train_seconds"] == 42.0
    for head in ("ner", "token_classifier"):
        evaluated = json.loads((dirs[head] / "test_metrics.json").read_text())
        assert comparison["systems"][head]["test_f1"] == pytest.approx(evaluated["headline"]["f1"])
        assert comparison["systems"][head]["test_f1"] == pytest.approx(evaluated["spacy"]["ents_f"])
    assert_real_png(tmp_path / "report" / "comparison.png")


def test_evaluate_cli_missing_pipeline(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nope"), str(tmp_path / "x.spacy"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "expected a pipeline folder" in result.output


# ---------------------------------------------------------------------------
# Inference windows (windows.py): choose them on dev
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,expected", [("160/128", (160, 128)), ("8/8", (8, 8)), ("sentences:160", (160, None))],
)
def test_parse_window(value, expected):
    assert parse_window(value) == expected


@pytest.mark.parametrize("value", ["160", "128/160", "a/b", "8/0", "sentences:x", "sentences:0", "sentence:8"])
def test_parse_window_rejects(value):
    with pytest.raises(ValueError, match=value):
        parse_window(value)


@pytest.mark.parametrize("value", ["160/128", "sentences:128"])
def test_window_label_round_trips(value):
    assert window_label(span_getter_config(*parse_window(value))) == value


def test_window_label_of_other_getters():
    assert window_label({"@span_getters": "spacy-transformers.doc_spans.v1"}) == "spacy-transformers.doc_spans.v1"
    assert window_label(None) is None


def test_window_sweep_at_the_training_windows_reproduces_the_evaluation(workspace, metrics):
    result = score_windows(workspace["token_classifier"], workspace["data"], [(8, 6), (8, 8), (4, 2), (8, None)])
    assert result["components"] == ["transformer"]
    as_trained, no_overlap, short, sentences = result["settings"]
    assert sentences["getter"] == "spacy-bert-ner.sentence_windows.v1" and sentences["stride"] is None
    assert as_trained["getter"] == "spacy-transformers.strided_spans.v1"
    assert as_trained["f1"] == pytest.approx(metrics["token_classifier"]["headline"]["f1"])
    assert as_trained["spacy_ents_f"] == pytest.approx(metrics["token_classifier"]["spacy"]["ents_f"])
    for setting in (no_overlap, short, sentences):
        assert 0.0 <= setting["f1"] <= 1.0 and setting["seconds"] > 0


def test_windows_cli(workspace, tmp_path):
    out = tmp_path / "windows.json"
    args = ["windows", str(workspace["ner"]), str(workspace["data"]), str(out), "--window", "sentences:8", "--window", "8/8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "sentences:8: F1" in result.output
    saved = json.loads(out.read_text())
    assert [(s["window"], s["stride"]) for s in saved["settings"]] == [(8, None), (8, 8)]
    bad = CliRunner().invoke(app, args[:-1] + ["8/9"])
    assert bad.exit_code == 1 and "8/9" in bad.output
    missing = CliRunner().invoke(app, ["windows", str(tmp_path / "none"), str(workspace["data"]), str(out), "--window", "8/8"])
    assert missing.exit_code == 1 and "pipeline folder" in missing.output


@pytest.mark.parametrize("head", ["ner", "token_classifier"])
def test_displacy_pages_for_both_heads(metrics, head, tmp_path):
    """spacy evaluate renders only a factory named `ner`; ours renders either head, and the
    token_classifier's entities with their confidence in span style."""
    from spacy_bert_ner.evaluation.report import write_evaluation

    paths = write_evaluation(metrics[head], tmp_path)
    entities = paths["entities_html"].read_text(encoding="utf8")
    assert "<mark" in entities and "Blackburn" in entities
    if head == "token_classifier":
        spans = paths["spans_html"].read_text(encoding="utf8")
        assert re.search(r">\s*(PER|LOC|ORG|MISC) [01]\.\d\d\s*<", spans), "no entity labelled with its score"
    else:
        assert "spans_html" not in paths and not (tmp_path / "test_spans.html").exists()
    written = json.loads(paths["metrics"].read_text())
    assert "displacy" not in written and set(written["files"]) >= {"entities_html"}
