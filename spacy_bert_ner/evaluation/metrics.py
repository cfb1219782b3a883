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
import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Set, Tuple, Union

import numpy
from spacy.tokens import Doc
from spacy.training import Example

from ..tags import OUTSIDE, Span, bio_repair, split_tag, tags_to_spans

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


# ---------------------------------------------------------------------------
# Scoring predicted Examples the way `spacy evaluate` does
# ---------------------------------------------------------------------------
# `spacy evaluate` (Corpus with gold_preproc=False) runs the pipeline on
# nlp.make_doc(reference.text): spaCy's own tokenization, which on CoNLL-2003
# differs from the gold tokens in almost every document (dates such as
# 1996-12-06 are split). Its NER scorer maps each predicted entity onto the
# gold tokens through the alignment. The functions below make the same
# mapping, so the headline counts here equal `spacy evaluate` exactly, and
# then write the mapped entities as IOB2 over the GOLD sentences for seqeval,
# the confusion matrix and the error analysis.
HEADLINE_DEFINITION = (
    "exact-match entity P/R/F1 on the gold tokens, predicted entities mapped through "
    "spaCy's alignment (spaCy's NER scorer: identical to `spacy evaluate`); equals "
    "seqeval's conlleval-compatible default mode when the mapped predictions are "
    "valid IOB2 within the gold sentences"
)
METRICS_SCHEMA = "spacy_bert_ner.metrics.v1"


def aligned_entity_spans(example: Example) -> List[Span]:
    """Predicted entities as ``(start, end, label)`` spans over the GOLD tokens.

    Exactly spaCy's ``get_ner_prf`` reading: a predicted entity covers the gold
    tokens its tokens align to (first to last, so a piece of a gold token
    widens to the whole token); entities that align to nothing, or touch a
    gold token without NER annotation, are left out (neither right nor wrong).
    In spaCy's order; two spans may overlap when the tokenizations differ.
    """
    if not example.y.has_annotation("ENT_IOB"):
        return []
    x2y = example.alignment.x2y
    spans: List[Span] = []
    for ent in example.x.ents:
        indices = x2y[ent.start : ent.end]
        if len(indices):
            start, end = int(indices[0]), int(indices[-1]) + 1
            if all(token.ent_iob != 0 for token in example.y[start:end]):
                spans.append((start, end, ent.label_))
    return spans


def example_counts(examples: Sequence[Example]) -> Tuple[numpy.ndarray, Dict[str, List[int]]]:
    """``(int[n_examples, 3], {type: [tp, fp, fn]})`` counted as spaCy's NER scorer counts.

    One row of (tp, fp, fn) per example (document), so summing rows gives
    ``spacy evaluate``'s ``ents_p/r/f`` exactly, and :func:`bootstrap_ci` /
    :func:`paired_bootstrap` resample the very numbers that are reported.
    A predicted entity repeated on the same gold span is a tp once, then fp.
    Examples whose reference has no NER annotation give a zero row.
    """
    counts = numpy.zeros((len(examples), 3), dtype="int64")
    per_type: Dict[str, List[int]] = {}
    for i, example in enumerate(examples):
        if not example.y.has_annotation("ENT_IOB"):
            continue
        golds = {(ent.start, ent.end, ent.label_) for ent in example.y.ents}
        for ent in example.x.ents:
            per_type.setdefault(ent.label_, [0, 0, 0])
        for span in aligned_entity_spans(example):
            column = 0 if span in golds else 1
            golds.discard(span)
            counts[i, column] += 1
            per_type[span[2]][column] += 1
        for _, _, label in golds:
            counts[i, 2] += 1
            per_type.setdefault(label, [0, 0, 0])[2] += 1
    return counts, {label: per_type[label] for label in sorted(per_type)}


def prf_from_counts(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """``{"precision", "recall", "f1"}`` from counts; undefined ratios are 0.0."""
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
    }


def _sentence_bounds(doc: Doc) -> List[Tuple[int, int]]:
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents if sent.end > sent.start]
    return [(0, len(doc))] if len(doc) else []


def example_sequences(example: Example) -> Dict[str, Any]:
    """Gold and predicted IOB2 per GOLD sentence, for seqeval and the error analysis.

    Gold: :func:`docs_to_sequences` of the reference. Predicted: the
    :func:`aligned_entity_spans` written as IOB2 on the gold tokens; a span
    overlapping an earlier one cannot be written and is dropped (counted in
    ``"overlapping_dropped"``); a span crossing a gold sentence boundary is cut
    there WITHOUT repair (counted in ``"crossing_sentences"``), so its part in
    the next sentence starts with ``I-``: conlleval / seqeval's default mode
    count it as a second entity, strict IOB2 does not.
    Returns ``{"gold", "pred", "words", "sentences": [(start, end)],
    "overlapping_dropped", "crossing_sentences"}``.
    """
    reference = example.y
    bounds = _sentence_bounds(reference)
    tags = [OUTSIDE] * len(reference)
    dropped = crossing = 0
    for start, end, label in aligned_entity_spans(example):
        if any(tag != OUTSIDE for tag in tags[start:end]):
            dropped += 1
            continue
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
        crossing += any(start < s < end for s, _ in bounds)
    words = [token.text for token in reference]
    return {
        "gold": docs_to_sequences([reference]),
        "pred": [tags[s:e] for s, e in bounds],
        "words": [words[s:e] for s, e in bounds],
        "sentences": bounds,
        "overlapping_dropped": dropped,
        "crossing_sentences": int(crossing),
    }


def doc_fingerprint(doc: Doc) -> str:
    """Short hash of a document's words: checks two reports scored the same documents."""
    text = "\x1f".join(token.text for token in doc)
    return hashlib.sha1(text.encode("utf8")).hexdigest()[:16]


def score_examples(
    examples: Sequence[Example],
    *,
    n_examples: int = 5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Dict[str, Any]:
    """Every quality number of one evaluation, from Examples that hold predictions.

    examples: ``Example(predicted, reference)`` per document, the predicted
        doc already annotated by the pipeline (any tokenization).
    Returns a JSON-able dict: ``"headline"`` (P/R/F1 from :func:`example_counts`
    with its ``"definition"`` and bootstrap ``"ci"`` over documents),
    ``"per_type"`` ({type: P/R/F1 + support}), ``"seqeval"`` (``"default"`` and
    ``"strict"`` :func:`seqeval_report` s on the gold sentences),
    ``"token_accuracy"``, ``"doc_counts"`` ([[tp, fp, fn]] per document),
    ``"doc_fingerprints"``, ``"iob2_projection"`` (dropped / crossing spans),
    ``"confusion"`` (token level, rows gold), ``"errors"`` (:func:`error_breakdown`
    with ``"doc"``/``"sentence"``/``"text"`` on every example) and ``"data"`` sizes.
    """
    counts, per_type_counts = example_counts(examples)
    gold_seqs: List[List[str]] = []
    pred_seqs: List[List[str]] = []
    words: List[List[str]] = []
    where: List[Tuple[int, int]] = []
    dropped = crossing = 0
    for d, example in enumerate(examples):
        seqs = example_sequences(example)
        gold_seqs.extend(seqs["gold"])
        pred_seqs.extend(seqs["pred"])
        words.extend(seqs["words"])
        where.extend((d, s) for s in range(len(seqs["gold"])))
        dropped += seqs["overlapping_dropped"]
        crossing += seqs["crossing_sentences"]
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    headline: Dict[str, Any] = {**prf_from_counts(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn}
    headline["definition"] = HEADLINE_DEFINITION
    headline["ci"] = (
        bootstrap_ci(counts, n_resamples=n_resamples, confidence=confidence, seed=seed)
        if len(examples) else None
    )
    per_type = {
        label: {**prf_from_counts(*c), "support": c[0] + c[2], "tp": c[0], "fp": c[1], "fn": c[2]}
        for label, c in per_type_counts.items()
    }
    seqeval = {mode: seqeval_report(gold_seqs, pred_seqs, mode=mode) for mode in MODES}
    errors = error_breakdown(gold_seqs, pred_seqs, words=words, max_examples=n_examples)
    for found in errors["examples"].values():
        for example in found:
            example["doc"], example["sentence"] = where[example["sequence"]]
            start, end, _ = example["entity"]
            example["text"] = " ".join(words[example["sequence"]][start:end])
    return {
        "headline": headline,
        "per_type": per_type,
        "seqeval": seqeval,
        "token_accuracy": seqeval["default"]["token_accuracy"],
        "doc_counts": counts.tolist(),
        "doc_fingerprints": [doc_fingerprint(example.y) for example in examples],
        "iob2_projection": {
            "overlapping_dropped": dropped,
            "crossing_sentences": crossing,
            "note": (
                "predicted entities mapped onto the gold tokens that overlap an earlier one "
                "cannot be written as IOB2 (dropped from seqeval only); entities crossing a "
                "gold sentence boundary are cut there. With both 0, seqeval's default-mode "
                "F1 equals the headline F1."
            ),
        },
        "confusion": confusion_matrix(gold_seqs, pred_seqs),
        "errors": errors,
        "data": {
            "n_docs": len(examples),
            "n_sentences": len(gold_seqs),
            "n_words": sum(len(example.y) for example in examples),
            "n_predicted_tokens": sum(len(example.x) for example in examples),
            "n_entities": tp + fn,
        },
    }


# ---------------------------------------------------------------------------
# Evaluating a trained pipeline on a DocBin
# ---------------------------------------------------------------------------
class CapturingScorer:
    """Delegates to spaCy's Scorer and keeps the predicted Examples and the time they were done.

    ``Language.evaluate`` copies the examples, runs ``nlp.pipe`` and then calls
    ``scorer.score``: capturing there gives the exact predictions (and timing)
    behind spaCy's scores without a second pass over the data.
    """

    def __init__(self, nlp: Any) -> None:
        from spacy.scorer import Scorer

        self.scorer = Scorer(nlp=nlp)
        self.examples: List[Example] = []
        self.done_at: Optional[float] = None

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        self.done_at = time.perf_counter()
        self.examples = list(examples)
        return self.scorer.score(self.examples, **kwargs)


SPACY_SCORE_KEYS = ("token_acc", "ents_p", "ents_r", "ents_f", "ents_per_type", "speed")


def read_train_time(path: Union[str, Path]) -> Dict[str, Any]:
    """``{"seconds", "source"}`` from a JSON file holding ``{"seconds": float, ...}``.

    A missing file gives ``{"seconds": None, "source": None}``. GNU time's
    ``-f '{"seconds": %e, ...}' -o FILE`` writes such a file (a failed command
    adds a line before it, which is skipped). Anything else raises ValueError.
    """
    path = Path(path)
    if not path.exists():
        return {"seconds": None, "source": None}
    text = path.read_text(encoding="utf8")
    try:
        data = json.loads(text)
    except ValueError:  # GNU time: an error line, then one line of JSON
        json_lines = [line for line in text.splitlines() if line.lstrip().startswith("{")]
        data = None
    try:
        if data is None:
            data = json.loads(json_lines[-1]) if json_lines else None
        seconds = float(data["seconds"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: expected JSON with a number under 'seconds', e.g. "
            f'{{"seconds": 1234.5}}, got {path.read_text(encoding="utf8")[:200]!r} ({err})'
        ) from err
    return {"seconds": seconds, "source": str(path), **{k: v for k, v in data.items() if k != "seconds"}}


def pipeline_summary(nlp: Any, pipeline_dir: Union[str, Path], encoder_label: Optional[str] = None) -> Dict[str, Any]:
    """Name, components (name -> factory), head, and the encoder behind the transformer."""
    factories = {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    heads = [name for name, factory in factories.items() if factory not in ("transformer", "tok2vec")]
    encoder: Dict[str, Any] = {"label": encoder_label, "config_name": None}
    if "transformer" in factories.values():
        name = next(n for n, f in factories.items() if f == "transformer")
        encoder["config_name"] = nlp.config["components"][name]["model"].get("name")
        hf_model = getattr(nlp.get_pipe(name).model, "transformer", None)
        config = getattr(hf_model, "config", None)
        if config is not None:
            encoder.update(
                model_type=getattr(config, "model_type", None),
                num_hidden_layers=getattr(config, "num_hidden_layers", None),
                hidden_size=getattr(config, "hidden_size", None),
                n_parameters=int(sum(p.numel() for p in hf_model.parameters())),
            )
    if not encoder["label"]:
        encoder["label"] = encoder["config_name"]
    return {
        "path": str(pipeline_dir),
        "name": f"{nlp.meta.get('lang', '')}_{nlp.meta.get('name', '')}",
        "version": nlp.meta.get("version"),
        "spacy_version": nlp.meta.get("spacy_version"),
        "components": factories,
        "head": heads[-1] if heads else None,
        "encoder": encoder,
    }


def require_inputs(pipeline_dir: Union[str, Path], data_path: Union[str, Path]) -> Tuple[Path, Path]:
    """Both paths as Path, or FileNotFoundError naming the one that is missing."""
    pipeline_dir, data_path = Path(pipeline_dir), Path(data_path)
    for path, what in ((pipeline_dir, "pipeline folder"), (data_path, "DocBin (.spacy) file")):
        if not path.exists():
            raise FileNotFoundError(f"{path}: expected a {what}, found nothing")
    return pipeline_dir, data_path


def evaluate_pipeline(
    pipeline_dir: Union[str, Path],
    data_path: Union[str, Path],
    *,
    name: str,
    split: str = "test",
    gpu_id: int = -1,
    n_examples: int = 5,
    n_resamples: int = 1000,
    train_time_path: Optional[Union[str, Path]] = None,
    encoder_label: Optional[str] = None,
) -> Dict[str, Any]:
    """Load a pipeline, score it on a DocBin like ``spacy evaluate``, measure it.

    The data is read as ``spacy evaluate`` reads it (``Corpus(gold_preproc=False)``,
    the pipeline sees ``nlp.make_doc(text)``) and scored with ``nlp.evaluate`` in
    ONE pass, timed with ``time.perf_counter`` (tokenization + ``nlp.pipe`` at
    ``nlp.batch_size``; words/s counts the gold words). The predictions of that
    pass feed :func:`score_examples`. Peak RSS is this process's so far (model
    load + inference). ``train_time_path`` defaults to ``train_time.json`` next
    to the pipeline folder (``training/RUN/HEAD/``); missing means unknown.
    Returns the metrics dict written to ``{split}_metrics.json`` (with
    ``"confusion"`` and ``"errors"`` in it, written to files by the report module).
    """
    import spacy
    from spacy.training import Corpus
    from spacy.util import fix_random_seed

    from ..bench.env import dir_size_mb, hardware_info, peak_rss_mb

    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    fix_random_seed(0)  # as `spacy evaluate` does
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(pipeline_dir)
    examples = list(Corpus(data_path, gold_preproc=False)(nlp))
    scorer = CapturingScorer(nlp)
    started = time.perf_counter()
    spacy_scores = nlp.evaluate(examples, scorer=scorer)  # type: ignore[arg-type]
    seconds = (scorer.done_at or time.perf_counter()) - started
    quality = score_examples(scorer.examples, n_examples=n_examples, n_resamples=n_resamples)
    n_words = quality["data"]["n_words"]
    train_time = read_train_time(
        train_time_path if train_time_path is not None else pipeline_dir.parent / "train_time.json"
    )
    return {
        "schema": METRICS_SCHEMA,
        "name": name,
        "split": split,
        **{key: quality[key] for key in ("headline", "per_type", "seqeval", "token_accuracy")},
        "spacy": {key: spacy_scores.get(key) for key in SPACY_SCORE_KEYS},
        "doc_counts": quality["doc_counts"],
        "iob2_projection": quality["iob2_projection"],
        "errors_summary": quality["errors"]["counts"],
        "speed": {
            "words_per_second": n_words / seconds if seconds > 0 else None,
            "seconds": seconds,
            "n_words": n_words,
            "batch_size": nlp.batch_size,
            "device": "gpu" if gpu_id >= 0 else "cpu",
            "spacy_speed": spacy_scores.get("speed"),
            "definition": (
                "gold words / wall time (time.perf_counter) of nlp.evaluate's pass: spaCy "
                "tokenization + nlp.pipe at batch_size docs, one run, first batch included"
            ),
        },
        "resources": {
            "peak_rss_mb": peak_rss_mb(),
            "model_size_mb": dir_size_mb(pipeline_dir),
        },
        "training": train_time,
        "hardware": hardware_info(gpu_id),
        "pipeline": pipeline_summary(nlp, pipeline_dir, encoder_label),
        "data": {"path": str(data_path), **quality["data"], "doc_fingerprints": quality["doc_fingerprints"]},
        "confusion": quality["confusion"],
        "errors": quality["errors"],
    }
