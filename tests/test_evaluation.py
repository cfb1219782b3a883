"""Entity-level metrics, confusion matrix, error analysis and bootstrap."""
import json

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span

from spacy_bert_ner.evaluation.errors import error_breakdown
from spacy_bert_ner.evaluation.metrics import confusion_matrix, doc_to_iob2, docs_to_sequences, seqeval_report
from spacy_bert_ner.evaluation.stats import bootstrap_ci, doc_counts, f1_from_counts, mean_std, paired_bootstrap

# Hand-computed case. Sentence 2 of the prediction has an orphan I-LOC.
GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["B-ORG", "I-ORG", "O", "O", "B-MISC"],
]
PRED = [
    ["B-PER", "I-PER", "O", "I-LOC"],
    ["B-ORG", "O", "O", "O", "B-PER"],
]
# Gold entities (both modes): PER(0,2) LOC(3,4) | ORG(0,2) MISC(4,5)          -> 4
# default: orphan I-LOC starts LOC(3,4) -> pred PER(0,2) LOC(3,4) | ORG(0,1) PER(4,5) -> 4
#          tp = PER(0,2), LOC(3,4) = 2 -> P = 2/4, R = 2/4, F1 = 1/2
#          PER: gold 1, pred 2, tp 1 -> P 1/2, R 1, F1 2/3; LOC: 1, 1, 1; ORG: 0; MISC: 0
#          macro P = (1/2 + 1 + 0 + 0)/4 = 3/8, R = (1 + 1)/4 = 1/2, F1 = (2/3 + 1)/4 = 5/12
# strict:  orphan I-LOC is no entity -> pred PER(0,2) | ORG(0,1) PER(4,5)    -> 3
#          tp = 1 -> P = 1/3, R = 1/4, F1 = 2 * (1/12) / (7/12) = 2/7
#          PER as in default; LOC: gold 1, pred 0 -> 0; macro P = 1/8, R = 1/4, F1 = 1/6
# token accuracy (both): sentence 1 3/4 correct, sentence 2 3/5 -> 6/9 = 2/3
EXPECTED = {
    "default": {
        "precision": 0.5, "recall": 0.5, "f1": 0.5,
        "macro": {"precision": 3 / 8, "recall": 1 / 2, "f1": 5 / 12},
        "LOC": (1.0, 1.0, 1.0),
    },
    "strict": {
        "precision": 1 / 3, "recall": 1 / 4, "f1": 2 / 7,
        "macro": {"precision": 1 / 8, "recall": 1 / 4, "f1": 1 / 6},
        "LOC": (0.0, 0.0, 0.0),
    },
}


@pytest.mark.parametrize("mode", ["default", "strict"])
def test_seqeval_report_hand_computed(mode):
    report = seqeval_report(GOLD, PRED, mode=mode)
    expected = EXPECTED[mode]
    for key in ("precision", "recall", "f1"):
        assert report[key] == pytest.approx(expected[key], abs=1e-6)
        assert report["macro"][key] == pytest.approx(expected["macro"][key], abs=1e-6)
    assert report["token_accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    per_type = report["per_type"]
    assert sorted(per_type) == ["LOC", "MISC", "ORG", "PER"]
    loc = per_type["LOC"]
    assert (loc["precision"], loc["recall"], loc["f1"]) == pytest.approx(expected["LOC"], abs=1e-6)
    assert per_type["PER"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}, abs=1e-6
    )
    assert per_type["MISC"]["support"] == 1 and per_type["MISC"]["f1"] == 0.0
    assert report["n_sequences"] == 2
    json.dumps(report)  # plain JSON-able


@pytest.mark.parametrize(
    "mode,scheme,label",
    [
        ("default", None, "conlleval-compatible (seqeval default)"),
        ("strict", "IOB2", "strict IOB2"),
    ],
)
def test_seqeval_report_labels_its_mode(mode, scheme, label):
    report = seqeval_report(GOLD, PRED, mode=mode)
    assert (report["mode"], report["scheme"], report["label"]) == (mode, scheme, label)


def test_modes_agree_on_valid_iob2():
    pred = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "O", "O", "B-PER"]]
    default, strict = (seqeval_report(GOLD, pred, mode=m) for m in ("default", "strict"))
    assert default["f1"] == strict["f1"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "gold,pred,match",
    [
        ([["O"]], [["O"], ["O"]], "sequences"),
        ([["O", "O"]], [["O"]], "sequence 0"),
        ([["B-X", "C"]], [["O", "O"]], "'C'"),
    ],
)
def test_seqeval_report_rejects(gold, pred, match):
    with pytest.raises(ValueError, match=match):
        seqeval_report(gold, pred)


def test_seqeval_report_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        seqeval_report(GOLD, PRED, mode="lenient")


@pytest.mark.parametrize("gold,pred", [([], []), ([["O", "O"]], [["O", "O"]])])
def test_seqeval_report_without_entities_is_zero_not_nan(gold, pred):
    report = seqeval_report(gold, pred, mode="strict")
    assert report["f1"] == 0.0 and report["macro"]["f1"] == 0.0
    json.dumps(report, allow_nan=False)


# ---------------------------------------------------------------------------
# Docs -> sequences
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def _doc(nlp, words, ents, sent_starts=None):
    doc = Doc(nlp.vocab, words=words, sent_starts=sent_starts)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return doc


def test_doc_to_iob2(nlp):
    doc = _doc(nlp, ["Peter", "Blackburn", "visited", "Brussels"], [(0, 2, "PER"), (3, 4, "LOC")])
    assert doc_to_iob2(doc) == ["B-PER", "I-PER", "O", "B-LOC"]
    unannotated = Doc(nlp.vocab, words=["a", "b"])
    assert doc_to_iob2(unannotated) == ["O", "O"]


def test_docs_to_sequences(nlp):
    words = ["New", "York", "is", "big", ".", "Paris", "too", "."]
    whole = _doc(nlp, words, [(0, 2, "LOC"), (5, 6, "LOC")])
    sentenced = _doc(
        nlp, words, [(0, 2, "LOC"), (5, 6, "LOC")], sent_starts=[1, 0, 0, 0, 0, 1, 0, 0]
    )
    # an entity crossing a sentence boundary is cut; the next part starts with B-
    crossing = _doc(nlp, ["a", "b", "c"], [(0, 2, "ORG")], sent_starts=[1, 1, 0])
    empty = Doc(nlp.vocab, words=[])
    assert docs_to_sequences([whole, empty]) == [
        ["B-LOC", "I-LOC", "O", "O", "O", "B-LOC", "O", "O"]
    ]
    assert docs_to_sequences([sentenced]) == [
        ["B-LOC", "I-LOC", "O", "O", "O"],
        ["B-LOC", "O", "O"],
    ]
    assert docs_to_sequences([crossing]) == [["B-ORG"], ["B-ORG", "O"]]


# ---------------------------------------------------------------------------
# Confusion matrix
# ---------------------------------------------------------------------------
def test_confusion_matrix_counts():
    result = confusion_matrix(GOLD, PRED)
    labels = result["labels"]
    assert labels == ["O", "B-LOC", "I-LOC", "B-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    matrix = numpy.asarray(result["matrix"])
    assert matrix.sum() == 9
    cell = {(labels[i], labels[j]): int(matrix[i, j]) for i, j in zip(*numpy.nonzero(matrix))}
    assert cell == {
        ("O", "O"): 3,
        ("B-PER", "B-PER"): 1,
        ("I-PER", "I-PER"): 1,
        ("B-LOC", "I-LOC"): 1,
        ("B-ORG", "B-ORG"): 1,
        ("I-ORG", "O"): 1,
        ("B-MISC", "B-PER"): 1,
    }
    assert numpy.trace(matrix) == 6  # the token accuracy numerator


def test_confusion_matrix_explicit_labels():
    result = confusion_matrix([["B-X", "O"]], [["B-X", "B-X"]], labels=["O", "B-X", "I-X"])
    assert result == {"labels": ["O", "B-X", "I-X"], "matrix": [[0, 1, 0], [0, 1, 0], [0, 0, 0]]}
    with pytest.raises(ValueError, match="B-Y"):
        confusion_matrix([["B-Y"]], [["O"]], labels=["O", "B-X"])


# ---------------------------------------------------------------------------
# Error breakdown
# ---------------------------------------------------------------------------
ERROR_CASES = [
    # (gold, pred, category)
    (["B-PER", "I-PER", "O"], ["O", "O", "O"], "missed"),
    (["O", "O", "O"], ["O", "B-LOC", "O"], "spurious"),
    (["B-PER", "I-PER", "O"], ["B-ORG", "I-ORG", "O"], "wrong_type"),
    (["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "I-PER"], "wrong_boundary"),
    (["B-PER", "I-PER", "O"], ["O", "B-ORG", "I-ORG"], "wrong_type_and_boundary"),
]


@pytest.mark.parametrize("gold,pred,category", ERROR_CASES)
def test_error_breakdown_categories(gold, pred, category):
    words = ["w0", "w1", "w2"]
    result = error_breakdown([gold], [pred], words=[words])
    counts = result["counts"]
    errors = {name: n for name, n in counts.items() if name not in ("correct", "n_gold", "n_pred")}
    assert errors == {name: int(name == category) for name in errors}
    assert counts["correct"] == 0
    (example,) = result["examples"][category]
    assert example["sentence"] == "w0 w1 w2"
    assert example["gold"] == [list(span) for span in _spans(gold)]
    assert example["pred"] == [list(span) for span in _spans(pred)]
    assert "[" in example["gold_marked"] + example["pred_marked"]


def _spans(tags):
    from spacy_bert_ner.tags import tags_to_spans

    return tags_to_spans(tags)


def test_error_breakdown_on_hand_case_and_example_limit():
    result = error_breakdown(GOLD * 3, PRED * 3, max_examples=2)
    # per copy: PER and LOC correct (default reading), ORG wrong boundary, MISC wrong type
    counts = result["counts"]
    assert counts["correct"] == 6
    assert counts["wrong_boundary"] == 3 and counts["wrong_type"] == 3
    assert counts["missed"] == counts["spurious"] == counts["wrong_type_and_boundary"] == 0
    assert counts["n_gold"] == 12 and counts["n_pred"] == 12
    assert len(result["examples"]["wrong_type"]) == 2
    assert "sentence" not in result["examples"]["wrong_type"][0]
    example = result["examples"]["wrong_boundary"][0]
    assert example["entity"] == [0, 2, "ORG"] and example["sequence"] == 1


def test_error_breakdown_marks_spans():
    result = error_breakdown(
        [["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]], words=[["Peter", "Blackburn", "said"]]
    )
    (example,) = result["examples"]["wrong_boundary"]
    assert example["gold_marked"] == "[Peter Blackburn]PER said"
    assert example["pred_marked"] == "[Peter]PER Blackburn said"


# ---------------------------------------------------------------------------
# Counts and bootstrap
# ---------------------------------------------------------------------------
def test_doc_counts_match_seqeval_default():
    counts = doc_counts([GOLD[:1], GOLD[1:]], [PRED[:1], PRED[1:]])
    assert counts.tolist() == [[2, 0, 0], [0, 2, 2]]
    assert f1_from_counts(counts) == pytest.approx(seqeval_report(GOLD, PRED)["f1"])


@pytest.mark.parametrize("seed", range(10))
def test_doc_counts_agree_with_seqeval_on_random_tags(seed):
    rng = numpy.random.default_rng(seed)
    tags = ["O", "O", "O", "B-A", "I-A", "B-B", "I-B"]
    gold = [[tags[i] for i in rng.integers(0, 7, size=n)] for n in rng.integers(1, 12, size=8)]
    pred = [[tags[i] for i in rng.integers(0, 7, size=len(g))] for g in gold]
    counts = doc_counts([gold[:3], gold[3:]], [pred[:3], pred[3:]])
    report = seqeval_report(gold, pred)
    tp, fp, fn = counts.sum(axis=0)
    assert tp / max(tp + fp, 1) == pytest.approx(report["precision"])
    assert tp / max(tp + fn, 1) == pytest.approx(report["recall"])
    assert f1_from_counts(counts) == pytest.approx(report["f1"])


@pytest.mark.parametrize(
    "counts,f1",
    [([[1, 0, 0]], 1.0), ([[0, 0, 0]], 0.0), ([[2, 1, 0], [0, 0, 1]], 4 / 6), ([[0, 3, 3]], 0.0)],
)
def test_f1_from_counts(counts, f1):
    assert f1_from_counts(numpy.asarray(counts)) == pytest.approx(f1)


def _random_counts(seed, n_docs=60):
    rng = numpy.random.default_rng(seed)
    gold = rng.integers(1, 20, size=n_docs)
    tp = rng.binomial(gold, 0.8)
    fp = rng.poisson(2, size=n_docs)
    return numpy.stack([tp, fp, gold - tp], axis=1)


@pytest.mark.parametrize("seed", range(5))
def test_bootstrap_ci_contains_observed_and_is_deterministic(seed):
    counts = _random_counts(seed)
    result = bootstrap_ci(counts, n_resamples=500, seed=seed)
    assert result["f1"] == pytest.approx(f1_from_counts(counts))
    assert result["low"] <= result["f1"] <= result["high"]
    assert result["low"] < result["high"]
    assert (result["n_resamples"], result["confidence"]) == (500, 0.95)
    assert bootstrap_ci(counts, n_resamples=500, seed=seed) == result
    assert bootstrap_ci(counts, n_resamples=500, seed=seed + 1) != result


def test_bootstrap_ci_narrows_with_lower_confidence():
    counts = _random_counts(0)
    wide = bootstrap_ci(counts, confidence=0.99)
    narrow = bootstrap_ci(counts, confidence=0.5)
    assert wide["low"] <= narrow["low"] <= narrow["high"] <= wide["high"]


@pytest.mark.parametrize(
    "kwargs,match",
    [({"confidence": 1.0}, "confidence"), ({"n_resamples": 0}, "n_resamples")],
)
def test_bootstrap_ci_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(_random_counts(0), **kwargs)
    with pytest.raises(ValueError, match="document"):
        bootstrap_ci(numpy.zeros((0, 3)))
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ci(numpy.zeros((4, 2)))


def test_paired_bootstrap_identical_systems():
    counts = _random_counts(0)
    result = paired_bootstrap(counts, counts.copy(), n_resamples=200)
    assert result["delta"] == 0.0 and result["low"] == 0.0 and result["high"] == 0.0
    assert result["p_value"] == 1.0


def test_paired_bootstrap_clear_difference():
    better = _random_counts(1)
    worse = better.copy()
    worse[:, 0] -= numpy.minimum(worse[:, 0], 3)  # 3 fewer true positives per doc ...
    worse[:, 2] = better[:, 0] + better[:, 2] - worse[:, 0]  # ... become false negatives
    result = paired_bootstrap(better, worse, n_resamples=300, seed=3)
    assert result["delta"] == pytest.approx(f1_from_counts(better) - f1_from_counts(worse))
    assert 0 < result["low"] <= result["delta"] <= result["high"]
    assert result["p_value"] < 0.01
    swapped = paired_bootstrap(worse, better, n_resamples=300, seed=3)
    assert swapped["delta"] == pytest.approx(-result["delta"])
    assert swapped["p_value"] == result["p_value"]
    assert paired_bootstrap(better, worse, n_resamples=300, seed=3) == result


def test_paired_bootstrap_rejects_different_documents():
    with pytest.raises(ValueError, match="same documents"):
        paired_bootstrap(_random_counts(0, 10), _random_counts(0, 11))


@pytest.mark.parametrize(
    "values,expected",
    [
        ([0.8], (0.8, None)),
        ([0.8, 0.9], (0.85, float(numpy.std([0.8, 0.9], ddof=1)))),
        ([0.8, None], (None, None)),
        ([], (None, None)),
    ],
)
def test_mean_std_over_seeds(values, expected):
    assert mean_std(values) == pytest.approx(expected) if expected[1] is not None else mean_std(values) == expected


def test_confusion_matrix_of_nothing():
    assert confusion_matrix([], []) == {"labels": ["O"], "matrix": [[0]]}


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_counts_every_token_once(seed):
    rng = numpy.random.default_rng(seed)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [list(rng.choice(tags, size=n)) for n in rng.integers(1, 12, size=8)]
    pred = [list(rng.choice(tags, size=len(seq))) for seq in gold]
    result = confusion_matrix(gold, pred)
    index = {label: i for i, label in enumerate(result["labels"])}
    expected = numpy.zeros((len(index), len(index)), dtype=int)
    for g, p in zip(sum(gold, []), sum(pred, [])):
        expected[index[g], index[p]] += 1
    assert result["matrix"] == expected.tolist()
