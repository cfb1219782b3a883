"""Statistics over evaluations: per-document counts, bootstrap intervals, mean ± std over seeds.

The headline F1 is a ratio of counts summed over documents, so its uncertainty
is estimated by resampling documents: :func:`doc_counts` (or
``metrics.example_counts``) gives one (tp, fp, fn) row per document,
:func:`bootstrap_ci` a percentile interval for one system and
:func:`paired_bootstrap` one for the difference of two systems scored on the
same documents. :func:`mean_std` is the one place a score is averaged over
training seeds. Everything is deterministic given ``seed``.
"""
import statistics
from typing import Any, Iterable, Optional, Sequence, Tuple

import numpy

from ..tags import bio_repair, tags_to_spans
from .metrics import Sequences, check_sequences
from .records import BootstrapCI, PairedTest


def mean_std(values: Sequence[Optional[float]]) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (n-1) of one score over seeds.

    ``(None, None)`` when any value is unknown (or there are none); the std is
    None for a single value. ``statistics`` rounds its sums exactly, so the result
    does not depend on the order of the seeds.
    """
    known = [float(v) for v in values if v is not None]
    if not known or len(known) != len(values):
        return None, None
    std = statistics.stdev(known) if len(known) > 1 else None
    return statistics.fmean(known), std


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
        true_list, pred_list = check_sequences(gold_doc, pred_doc)
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
) -> BootstrapCI:
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
) -> PairedTest:
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
