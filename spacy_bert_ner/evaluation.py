"""Entity-level evaluation: Doc -> IOB2, seqeval wrapper, confusion matrix,
error analysis and document-level bootstrap.

Every F1 this module reports says how it was computed:

* ``"default"``: seqeval's default mode, conlleval-compatible. Chunks are read
  leniently: an ``I-X`` after ``O`` or another type starts an entity (exactly
  :func:`~spacy_bert_ner.tags.bio_repair`).
* ``"strict"``: seqeval ``mode="strict", scheme=IOB2``; an orphan ``I-X`` is
  not an entity. seqeval silently ignores ``mode="strict"`` unless the scheme
  is also passed, so :func:`seqeval_report` is the only place seqeval is called
  and always passes both.

For valid IOB2 (e.g. from constrained Viterbi decoding) the two modes agree.
"""
import warnings
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Set, Tuple

import numpy
from spacy.tokens import Doc

from .tags import OUTSIDE, Span, bio_repair, split_tag, tags_to_spans

Mode = Literal["default", "strict"]
MODES: Tuple[str, ...] = ("default", "strict")
MODE_LABELS = {"default": "conlleval-compatible (seqeval default)", "strict": "strict IOB2"}
ERROR_CATEGORIES: Tuple[str, ...] = (
    "missed",
    "spurious",
    "wrong_type",
    "wrong_boundary",
    "wrong_type_and_boundary",
)
Sequences = Sequence[Sequence[str]]


# ---------------------------------------------------------------------------
# Docs -> IOB2
# ---------------------------------------------------------------------------
def doc_to_iob2(doc: Doc) -> List[str]:
    """IOB2 tag per token from ``doc.ents``; tokens outside (or unannotated) are ``"O"``."""
    return [
        f"{token.ent_iob_}-{token.ent_type_}" if token.ent_iob_ in ("B", "I") else OUTSIDE
        for token in doc
    ]


def docs_to_sequences(docs: Iterable[Doc]) -> List[List[str]]:
    """One IOB2 sequence per sentence, or per doc when sentences are not set.

    Empty docs (and empty sentences) give nothing. An entity that crosses a
    sentence boundary is cut there: its part in the next sentence starts with
    ``B-``, so every sequence is valid IOB2.
    """
    sequences: List[List[str]] = []
    for doc in docs:
        tags = doc_to_iob2(doc)
        if doc.has_annotation("SENT_START"):
            bounds = [(sent.start, sent.end) for sent in doc.sents]
        else:
            bounds = [(0, len(doc))]
        sequences.extend(bio_repair(tags[s:e]) for s, e in bounds if e > s)
    return sequences


# ---------------------------------------------------------------------------
# seqeval
# ---------------------------------------------------------------------------
def seqeval_report(
    y_true: Sequences, y_pred: Sequences, *, mode: Mode = "default"
) -> Dict[str, Any]:
    """Entity-level P/R/F1 from seqeval, as a plain JSON-able dict.

    mode: ``"default"`` (conlleval-compatible, no scheme) or ``"strict"``
        (``mode="strict", scheme=IOB2``; both are always passed together).
    Returns ``{"mode", "scheme", "label", "precision", "recall", "f1"`` (micro),
    ``"macro": {"precision", "recall", "f1"}, "token_accuracy",
    "per_type": {type: {"precision", "recall", "f1", "support"}}, "n_sequences"}``.
    Undefined ratios (no entities) are 0.0, seqeval's ``zero_division=0``.
    Tags are checked first: anything not ``O``/``B-X``/``I-X`` raises ``ValueError``.
    """
    from seqeval.metrics import accuracy_score, classification_report
    from seqeval.scheme import IOB2

    if mode not in MODES:
        raise ValueError(f"expected mode 'default' or 'strict', got {mode!r}")
    y_true, y_pred = _check_sequences(y_true, y_pred)
    report: Dict[str, Any] = {
        "mode": mode,
        "scheme": "IOB2" if mode == "strict" else None,
        "label": MODE_LABELS[mode],
    }
    if not y_true:
        return {**report, **_empty_scores()}
    options: Dict[str, Any] = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    with warnings.catch_warnings():
        # seqeval's macro average over zero entity types is numpy's mean of []
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **options)
    micro, macro = raw.pop("micro avg"), raw.pop("macro avg")
    raw.pop("weighted avg", None)
    report.update(_prf(micro))
    report["macro"] = _prf(macro)
    report["token_accuracy"] = float(accuracy_score(y_true, y_pred))
    report["per_type"] = {
        entity_type: {**_prf(scores), "support": int(scores["support"])}
        for entity_type, scores in sorted(raw.items())
    }
    report["n_sequences"] = len(y_true)
    return report


def _prf(scores: Dict[str, Any]) -> Dict[str, float]:
    keys = (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"))
    return {name: _finite(scores[key]) for name, key in keys}


def _finite(value: Any) -> float:
    value = float(value)
    return value if numpy.isfinite(value) else 0.0


def _empty_scores() -> Dict[str, Any]:
    zeros = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return {**zeros, "macro": dict(zeros), "token_accuracy": 0.0, "per_type": {}, "n_sequences": 0}


def _check_sequences(
    y_true: Sequences, y_pred: Sequences
) -> Tuple[List[List[str]], List[List[str]]]:
    true_list = [list(seq) for seq in y_true]
    pred_list = [list(seq) for seq in y_pred]
    if len(true_list) != len(pred_list):
        raise ValueError(
            "expected as many predicted as gold sequences, "
            f"got {len(pred_list)} vs {len(true_list)}"
        )
    for i, (gold, pred) in enumerate(zip(true_list, pred_list)):
        if len(gold) != len(pred):
            raise ValueError(
                f"sequence {i}: expected {len(gold)} predicted tags (as gold), got {len(pred)}"
            )
        for tag in gold + pred:
            split_tag(tag)
    return true_list, pred_list


# ---------------------------------------------------------------------------
# Token-level confusion matrix
# ---------------------------------------------------------------------------
def confusion_matrix(
    y_true: Sequences, y_pred: Sequences, labels: Optional[Sequence[str]] = None
) -> Dict[str, Any]:
    """Token-level confusion over IOB2 tags: ``{"labels": [...], "matrix": [[int]]}``.

    Rows are gold, columns predicted. ``labels`` defaults to the union of tags
    seen, ``"O"`` first, then grouped by type (``B-LOC, I-LOC, B-MISC, ...``).
    A tag missing from explicit ``labels`` raises ``ValueError``.
    """
    true_list, pred_list = _check_sequences(y_true, y_pred)
    gold = [tag for seq in true_list for tag in seq]
    pred = [tag for seq in pred_list for tag in seq]
    names = list(labels) if labels is not None else _default_labels(set(gold) | set(pred))
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted((set(gold) | set(pred)) - set(index))
    if unknown:
        raise ValueError(f"tags {unknown} are not in labels {names}; add them or pass labels=None")
    matrix = numpy.zeros((len(names), len(names)), dtype="int64")
    numpy.add.at(matrix, ([index[t] for t in gold], [index[t] for t in pred]), 1)
    return {"labels": names, "matrix": matrix.tolist()}


def _default_labels(tags: Set[str]) -> List[str]:
    entity_tags = sorted(tags - {OUTSIDE}, key=lambda tag: split_tag(tag)[::-1])
    return [OUTSIDE] + entity_tags


# ---------------------------------------------------------------------------
# Error analysis
# ---------------------------------------------------------------------------
def error_breakdown(
    gold_seqs: Sequences,
    pred_seqs: Sequences,
    *,
    words: Optional[List[List[str]]] = None,
    max_examples: int = 5,
) -> Dict[str, Any]:
    """Entity-level error categories, on :func:`bio_repair`-ed sequences.

    Per gold entity that is not predicted exactly (same boundaries and type):

    * ``wrong_type``: a predicted entity has the same boundaries, another type;
    * ``wrong_boundary``: an overlapping predicted entity has the same type;
    * ``wrong_type_and_boundary``: overlapping predictions, none of its type;
    * ``missed``: no predicted entity overlaps it.

    Per predicted entity: ``spurious`` when it overlaps no gold entity.
    (A prediction spanning two gold entities counts once per gold entity.)

    Returns ``{"counts": {category: int, "correct": int, "n_gold": int, "n_pred": int},
    "examples": {category: [...]}}`` with at most ``max_examples`` examples per
    category, in order of appearance, each ``{"sequence": i, "entity": [s, e, label],
    "gold": [[s, e, label]], "pred": [...]}``; with ``words`` also ``"sentence"``
    (the words joined by spaces) and ``"gold_marked"`` / ``"pred_marked"`` (the
    sentence with ``[words]TYPE`` brackets around the gold / predicted entities).
    """
    true_list, pred_list = _check_sequences(gold_seqs, pred_seqs)
    if words is not None and [len(w) for w in words] != [len(s) for s in true_list]:
        raise ValueError("expected words with one list per sequence and one word per tag")
    counts = {category: 0 for category in ERROR_CATEGORIES}
    counts.update(correct=0, n_gold=0, n_pred=0)
    examples: Dict[str, List[Dict[str, Any]]] = {category: [] for category in ERROR_CATEGORIES}
    for i, (gold_tags, pred_tags) in enumerate(zip(true_list, pred_list)):
        gold = tags_to_spans(bio_repair(gold_tags))
        pred = tags_to_spans(bio_repair(pred_tags))
        counts["n_gold"] += len(gold)
        counts["n_pred"] += len(pred)
        for category, entity in _classify(gold, pred):
            counts[category] += 1
            if category in examples and len(examples[category]) < max_examples:
                sentence = words[i] if words is not None else None
                examples[category].append(_example(i, entity, gold, pred, sentence))
    return {"counts": counts, "examples": examples}


def _classify(gold: List[Span], pred: List[Span]) -> List[Tuple[str, Span]]:
    results = [(_gold_category(entity, pred), entity) for entity in gold]
    results += [("spurious", entity) for entity in pred if not _overlapping(entity, gold)]
    return results


def _gold_category(entity: Span, pred: List[Span]) -> str:
    if entity in pred:
        return "correct"
    overlapping = _overlapping(entity, pred)
    if not overlapping:
        return "missed"
    if any(p[:2] == entity[:2] for p in overlapping):
        return "wrong_type"
    if any(p[2] == entity[2] for p in overlapping):
        return "wrong_boundary"
    return "wrong_type_and_boundary"


def _overlapping(entity: Span, others: List[Span]) -> List[Span]:
    return [other for other in others if other[0] < entity[1] and entity[0] < other[1]]


def _example(
    index: int, entity: Span, gold: List[Span], pred: List[Span], words: Optional[List[str]]
) -> Dict[str, Any]:
    example: Dict[str, Any] = {
        "sequence": index,
        "entity": list(entity),
        "gold": [list(span) for span in gold],
        "pred": [list(span) for span in pred],
    }
    if words is not None:
        example["sentence"] = " ".join(words)
        example["gold_marked"] = _mark(words, gold)
        example["pred_marked"] = _mark(words, pred)
    return example


def _mark(words: List[str], spans: List[Span]) -> str:
    pieces = list(words)
    for start, end, label in spans:
        pieces[start] = "[" + pieces[start]
        pieces[end - 1] = f"{pieces[end - 1]}]{label}"
    return " ".join(pieces)


# ---------------------------------------------------------------------------
# Document-level counts and bootstrap
# ---------------------------------------------------------------------------
def doc_counts(
    gold_seqs_per_doc: Sequence[Sequences], pred_seqs_per_doc: Sequence[Sequences]
) -> numpy.ndarray:
    """int[n_docs, 3] of (tp, fp, fn) per document, entity-level exact match.

    Each document is a list of IOB2 sequences (e.g. its sentences). Entities are
    read from :func:`bio_repair`-ed sequences and match when start, end and type
    agree. That is exactly what conlleval / seqeval's default mode counts (its
    chunking treats an orphan ``I-X`` as a start, as ``bio_repair`` does), so
    summing the rows reproduces ``seqeval_report(..., mode="default")``'s micro
    P/R/F1.
    """
    if len(gold_seqs_per_doc) != len(pred_seqs_per_doc):
        raise ValueError(
            f"expected as many predicted as gold documents, "
            f"got {len(pred_seqs_per_doc)} vs {len(gold_seqs_per_doc)}"
        )
    counts = numpy.zeros((len(gold_seqs_per_doc), 3), dtype="int64")
    for d, (gold_doc, pred_doc) in enumerate(zip(gold_seqs_per_doc, pred_seqs_per_doc)):
        true_list, pred_list = _check_sequences(gold_doc, pred_doc)
        for gold_tags, pred_tags in zip(true_list, pred_list):
            gold = set(tags_to_spans(bio_repair(gold_tags)))
            pred = set(tags_to_spans(bio_repair(pred_tags)))
            tp = len(gold & pred)
            counts[d] += (tp, len(pred) - tp, len(gold) - tp)
    return counts


def f1_from_counts(counts: numpy.ndarray) -> float:
    """Micro F1 = 2tp / (2tp + fp + fn) over all rows of (tp, fp, fn); 0.0 if undefined."""
    return float(_f1_rows(_check_counts(counts).sum(axis=0, keepdims=True))[0])


def _f1_rows(totals: numpy.ndarray) -> numpy.ndarray:
    tp, fp, fn = totals[:, 0], totals[:, 1], totals[:, 2]
    denominator = 2 * tp + fp + fn
    return numpy.where(denominator > 0, 2 * tp / numpy.maximum(denominator, 1), 0.0)


def _check_counts(counts: Any) -> numpy.ndarray:
    counts = numpy.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != 3:
        raise ValueError(f"expected counts of shape (n_docs, 3) = (tp, fp, fn), got {counts.shape}")
    return counts.astype("int64")


def _resampled_f1(counts: numpy.ndarray, indices: numpy.ndarray) -> numpy.ndarray:
    return _f1_rows(counts[indices].sum(axis=1))


def _resample_indices(n_docs: int, n_resamples: int, seed: int) -> Iterable[numpy.ndarray]:
    """Doc indices per resample, in chunks of at most ~4M entries."""
    if n_docs == 0:
        raise ValueError("expected at least one document to bootstrap over, got 0")
    if n_resamples < 1:
        raise ValueError(f"expected n_resamples >= 1, got {n_resamples}")
    rng = numpy.random.default_rng(seed)
    chunk = max(1, 4_000_000 // n_docs)
    for first in range(0, n_resamples, chunk):
        yield rng.integers(0, n_docs, size=(min(chunk, n_resamples - first), n_docs))


def _interval(values: numpy.ndarray, confidence: float) -> Tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected 0 < confidence < 1, got {confidence}")
    tail = (1.0 - confidence) / 2.0
    low, high = numpy.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    counts: numpy.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Dict[str, float]:
    """Percentile bootstrap CI of micro F1, resampling documents with replacement.

    counts: int[n_docs, 3] from :func:`doc_counts`.
    Returns ``{"f1" (observed), "low", "high", "n_resamples", "confidence"}``;
    deterministic given ``seed``.
    """
    counts = _check_counts(counts)
    _interval(numpy.zeros(1), confidence)  # validate before the work
    f1s = numpy.concatenate(
        [_resampled_f1(counts, idx) for idx in _resample_indices(len(counts), n_resamples, seed)]
    )
    low, high = _interval(f1s, confidence)
    return {
        "f1": f1_from_counts(counts),
        "low": low,
        "high": high,
        "n_resamples": n_resamples,
        "confidence": confidence,
    }


def paired_bootstrap(
    counts_a: numpy.ndarray,
    counts_b: numpy.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Dict[str, float]:
    """Paired bootstrap of F1(a) - F1(b) over the same documents.

    Each resample draws one set of document indices and scores both systems
    on it. ``delta`` is the observed F1(a) - F1(b); ``low``/``high`` the
    percentile interval of the resampled deltas. ``p_value`` (two-sided) is
    twice the fraction of resamples whose delta is 0 or has the opposite sign
    to the observed delta, capped at 1; an observed delta of 0 gives 1.0.
    """
    counts_a, counts_b = _check_counts(counts_a), _check_counts(counts_b)
    if counts_a.shape != counts_b.shape:
        raise ValueError(
            "expected counts for the same documents, "
            f"got shapes {counts_a.shape} and {counts_b.shape}"
        )
    _interval(numpy.zeros(1), confidence)
    observed = f1_from_counts(counts_a) - f1_from_counts(counts_b)
    deltas = numpy.concatenate([
        _resampled_f1(counts_a, idx) - _resampled_f1(counts_b, idx)
        for idx in _resample_indices(len(counts_a), n_resamples, seed)
    ])
    low, high = _interval(deltas, confidence)
    flipped = (numpy.sign(deltas) != numpy.sign(observed)) | (deltas == 0)
    return {
        "delta": observed,
        "low": low,
        "high": high,
        "p_value": float(min(1.0, 2.0 * flipped.mean())),
        "n_resamples": n_resamples,
        "confidence": confidence,
    }
