"""Pure entity-level metrics: Doc -> IOB2, the seqeval helper, the confusion matrix,
and predicted Examples counted exactly as ``spacy evaluate`` counts them.

Every F1 this module reports says how it was computed:

* ``"default"``: seqeval's default mode, conlleval-compatible. Chunks are read
  leniently: an ``I-X`` after ``O`` or another type starts an entity (exactly
  :func:`~spacy_bert_ner.tags.bio_repair`).
* ``"strict"``: seqeval ``mode="strict", scheme=IOB2``; an orphan ``I-X`` is
  not an entity. seqeval silently ignores ``mode="strict"`` unless the scheme
  is also passed, so :func:`seqeval_report` is the only place seqeval is called
  and always passes both.

For valid IOB2 (e.g. from constrained Viterbi decoding) the two modes agree.
seqeval and scikit-learn are imported when first used (the ``[tools]`` extra),
so loading a packaged pipeline never imports them. Error categories live in
``errors.py``, bootstrap and averaging over seeds in ``stats.py``.
"""
import hashlib
import warnings
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Set, Tuple

import numpy
from spacy.tokens import Doc
from spacy.training import Example

from ..tags import OUTSIDE, Span, bio_repair, split_tag
from ..util import sentence_bounds

Mode = Literal["default", "strict"]
MODES: Tuple[str, ...] = ("default", "strict")
MODE_LABELS = {"default": "conlleval-compatible (seqeval default)", "strict": "strict IOB2"}
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
        sequences.extend(bio_repair(tags[s:e]) for s, e in sentence_bounds(doc))
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
    y_true, y_pred = check_sequences(y_true, y_pred)
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


def check_sequences(
    y_true: Sequences, y_pred: Sequences
) -> Tuple[List[List[str]], List[List[str]]]:
    """Both as lists of lists, or ValueError: other lengths, or a tag that is not O / B-X / I-X."""
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

    Rows are gold, columns predicted (scikit-learn's ``confusion_matrix``).
    ``labels`` defaults to the union of tags seen, ``"O"`` first, then grouped
    by type (``B-LOC, I-LOC, B-MISC, ...``). A tag missing from explicit
    ``labels`` raises ``ValueError`` (scikit-learn would silently drop it).
    """
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    true_list, pred_list = check_sequences(y_true, y_pred)
    gold = [tag for seq in true_list for tag in seq]
    pred = [tag for seq in pred_list for tag in seq]
    names = list(labels) if labels is not None else _default_labels(set(gold) | set(pred))
    unknown = sorted((set(gold) | set(pred)) - set(names))
    if unknown:
        raise ValueError(f"tags {unknown} are not in labels {names}; add them or pass labels=None")
    if not gold:  # scikit-learn rejects empty input
        return {"labels": names, "matrix": [[0] * len(names) for _ in names]}
    matrix = sklearn_confusion_matrix(gold, pred, labels=names)
    return {"labels": names, "matrix": matrix.astype("int64").tolist()}


def _default_labels(tags: Set[str]) -> List[str]:
    entity_tags = sorted(tags - {OUTSIDE}, key=lambda tag: split_tag(tag)[::-1])
    return [OUTSIDE] + entity_tags


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
    bounds = sentence_bounds(reference)
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
