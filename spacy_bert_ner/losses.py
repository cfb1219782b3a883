"""The token classifier's training losses: gold IOB2 targets, masked cross-entropy, CRF.

Gold labels come from ``Example.get_aligned_ner`` as IOB2 class indices, with
``MISSING`` (HF's -100) where the gold is unknown. Tokens without a wordpiece
(an all-zero output row) are masked too. The softmax cross-entropy runs on the
model's device (``ops.xp``) with thinc's ``CategoricalCrossentropy`` for the
gradient; the CRF negative log-likelihood runs on the host (forward-backward
has no thinc equivalent), with one copy of the batch's scores each way.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
from thinc.api import CategoricalCrossentropy, Model, NumpyOps, Ops
from thinc.types import Floats2d

from .decoding import crf_log_likelihood_grad
from .tags import biluo_to_iob2

MISSING = -1
# Probabilities are clipped below at this value before the log, so a 0 gives a finite loss.
PROB_FLOOR = 1e-12


def gold_iob2_indices(biluo: Sequence[Optional[str]], tag_names: Sequence[str]) -> List[int]:
    """Aligned BILUO tags -> IOB2 class indices; MISSING for unknown (None, "-", "") or unseen tags."""
    index = {tag: i for i, tag in enumerate(tag_names)}
    known = [tag not in (None, "-", "") for tag in biluo]
    iob2 = biluo_to_iob2([tag if is_known else "O" for tag, is_known in zip(biluo, known)])
    return [index.get(tag, MISSING) if is_known else MISSING for tag, is_known in zip(iob2, known)]


def masked_cross_entropy(
    ops: Ops,
    probs: List[Floats2d],
    golds: List[numpy.ndarray],
    class_weights: Optional[Sequence[float]] = None,
    label_smoothing: float = 0.0,
    *,
    soft_targets: Optional[List[numpy.ndarray]] = None,
    soft_weight: float = 0.0,
) -> Tuple[float, List[Floats2d]]:
    """Softmax cross-entropy of ``probs`` (the Softmax layer's outputs) against ``golds``.

    Rows whose gold is MISSING or whose scores are all zero (no wordpiece) are
    masked. Each row is weighted by its gold class's weight, and loss and
    gradient are divided by the number of unmasked rows of the batch. The
    gradient with respect to the softmax inputs is ``probs - target``
    (thinc's ``CategoricalCrossentropy``); its loss value is not the NLL, so
    the NLL is computed here. The target is one-hot, or with
    ``label_smoothing`` = s > 0 thinc's smoothed one: 1 - s for the gold
    class, s / (n_classes - 1) for each other; the loss is then the
    cross-entropy against that target. With ``soft_targets`` (a teacher's
    distribution per row, NaN rows where it has none) the target of each row
    that has one is ``(1 - soft_weight) * target + soft_weight * teacher``.
    """
    rows = [P for P in probs if P.shape[0]]
    if not rows:
        return 0.0, [ops.alloc2f(*P.shape) for P in probs]
    xp = ops.xp
    guesses = xp.concatenate(rows)
    truths = ops.asarray1i(numpy.concatenate(golds))
    truths = xp.where(xp.any(guesses != 0, axis=1), truths, MISSING)
    valid = truths != MISSING
    n_valid = max(1, int(valid.sum()))
    if class_weights:
        row_weights = ops.asarray1f(class_weights)[truths]
    else:
        row_weights = xp.ones((guesses.shape[0],), dtype="f")
    loss_fn = CategoricalCrossentropy(normalize=False, missing_value=MISSING, label_smoothing=label_smoothing)
    row_scale = (row_weights / n_valid)[:, None]
    row_weights = xp.where(valid, row_weights, 0.0)
    target = None
    if soft_targets is not None and soft_weight:
        target = _mixed_target(ops, loss_fn.convert_truths(truths, guesses)[0], soft_targets, probs, soft_weight)
        d_guesses = (guesses - target) * valid[:, None] * row_scale
    else:
        d_guesses = loss_fn.get_grad(guesses, truths) * row_scale
        if label_smoothing:
            target = loss_fn.convert_truths(truths, guesses)[0]
    if target is not None:
        loss = float(-(row_weights[:, None] * target * xp.log(xp.clip(guesses, PROB_FLOOR, None))).sum()) / n_valid
    else:
        picked = xp.clip(guesses[xp.arange(guesses.shape[0]), truths], PROB_FLOOR, None)
        loss = float(-(row_weights * xp.log(picked)).sum()) / n_valid
    return loss, _split_like(ops, d_guesses, probs)


def _mixed_target(
    ops: Ops, target: Floats2d, soft_targets: List[numpy.ndarray], probs: List[Floats2d], weight: float
) -> Floats2d:
    """``target`` with each row that has a teacher row moved ``weight`` of the way to it."""
    for S, P in zip(soft_targets, probs):
        if S.shape != P.shape:
            raise ValueError(f"teacher targets of shape {S.shape} for scores of shape {P.shape}")
    soft = [numpy.asarray(S, dtype="float32") for S, P in zip(soft_targets, probs) if P.shape[0]]
    xp = ops.xp
    teacher = ops.asarray2f(numpy.concatenate(soft))
    has_teacher = xp.isfinite(teacher).all(axis=1, keepdims=True)
    mixed = (1.0 - weight) * target + weight * xp.nan_to_num(teacher)
    return xp.where(has_teacher, mixed, target)


def crf_loss(crf: Model, scores: List[Floats2d], golds: List[numpy.ndarray]) -> Tuple[float, List[Floats2d]]:
    """Joint CRF negative log-likelihood; each maximal run of known gold labels is one sequence.

    Adds the transition gradients to ``crf`` (``inc_grad``) and returns the
    loss and the emission gradients, both divided by the batch's known labels.
    """
    ops = crf.ops
    params = {key: ops.to_numpy(crf.get_param(key)) for key in ("transitions", "start", "end")}
    grads: Dict[str, numpy.ndarray] = {key: numpy.zeros_like(value) for key, value in params.items()}
    n_valid = max(1, sum(int((g != MISSING).sum()) for g in golds))
    emissions = _to_host_rows(ops, scores)
    total = 0.0
    d_scores = []
    for doc_emissions, gold in zip(emissions, golds):
        d = numpy.zeros_like(doc_emissions)
        for start, end in _known_runs(gold):
            nll, d_em, d_tr, d_st, d_en = crf_log_likelihood_grad(
                doc_emissions[start:end], gold[start:end],
                params["transitions"], params["start"], params["end"],
            )
            total += float(nll) / n_valid
            d[start:end] = d_em / n_valid
            grads["transitions"] += d_tr / n_valid
            grads["start"] += d_st / n_valid
            grads["end"] += d_en / n_valid
        d_scores.append(d)
    for key, grad in grads.items():
        crf.inc_grad(key, ops.asarray(grad, dtype="f"))
    rows = [d for d in d_scores if d.shape[0]]
    return total, _split_like(ops, ops.asarray2f(numpy.concatenate(rows)) if rows else None, scores)


def _to_host_rows(ops: Ops, arrays: List[Floats2d]) -> List[numpy.ndarray]:
    """Per-doc host copies of device arrays, in one transfer."""
    rows = [X for X in arrays if X.shape[0]]
    flat = ops.to_numpy(ops.xp.concatenate(rows)) if rows else None
    return _split_like(NumpyOps(), flat, arrays)


def _split_like(ops: Ops, flat: Optional[Floats2d], arrays: List[Floats2d]) -> List[Floats2d]:
    """``flat`` (the rows of the non-empty ``arrays``, concatenated) cut back into arrays shaped like them."""
    lengths = numpy.asarray([X.shape[0] for X in arrays if X.shape[0]], dtype="i")
    parts = iter(ops.unflatten(flat, lengths) if len(lengths) else [])
    return [next(parts) if X.shape[0] else ops.alloc2f(*X.shape) for X in arrays]


def _known_runs(gold: numpy.ndarray) -> List[Tuple[int, int]]:
    """``(start, end)`` of each maximal run of labels that are not MISSING."""
    runs: List[Tuple[int, int]] = []
    start = None
    for i, value in enumerate(list(gold) + [MISSING]):
        if value != MISSING and start is None:
            start = i
        elif value == MISSING and start is not None:
            runs.append((start, i))
            start = None
    return runs
