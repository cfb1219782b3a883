"""Decoding IOB2 label scores: constrained Viterbi, a numpy linear-chain CRF, confidences.

The token classifier's scores become labels here: the best path that obeys
the IOB2 constraints (:func:`constrained_viterbi`, or :func:`crf_viterbi` with
learnt transitions), the probability of each chosen label, and the CRF's
negative log-likelihood with its gradients (forward-backward). The tag-scheme
helpers these build on (label lists, ``split_tag``, repair, spans) live in
``tags.py``.

Array functions compute on the host with numpy (float64 internally). CuPy
arrays are accepted and copied to the host first: Viterbi and forward-backward
loop over time, which is faster on the CPU for sentence-sized inputs anyway
(thinc has no CRF or Viterbi layer to run them on the device instead).
"""
from typing import Any, Literal, Optional, Sequence, Tuple

import numpy

from .confidences import token_confidences
from .tags import BEGIN, INSIDE, OUTSIDE, bio_repair, split_tag
from .util import to_host

# Emissions and transition scores are clipped below at this value before
# decoding, so a ``-inf`` log-probability (a probability that underflowed to 0)
# can never leave only forbidden paths with a finite score. It only affects
# choices between paths that all contain such near-impossible scores.
SCORE_FLOOR = -1e6
# Search-only bias on rows flagged missing in constrained_viterbi: among
# otherwise equal paths prefer O, then continuing an entity, and start one only
# when the next known token needs it. The B- penalty outweighs the O/I bonuses
# for gaps of up to ~10,000 missing tokens; real score differences below ~1e-6
# could in principle be overridden.
MISSING_TIE_BREAK = {OUTSIDE: 2e-10, INSIDE: 1e-10, BEGIN: -1e-6}

Decoding = Literal["viterbi", "repair"]
# How an entity's confidence comes from its tokens' chosen-label probabilities.


# ---------------------------------------------------------------------------
# Constrained decoding
# ---------------------------------------------------------------------------
def transition_constraints(labels: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Which IOB2 label sequences are valid, as boolean masks.

    Returns ``(start_allowed, allowed)``: ``start_allowed[j]`` is True for ``O``
    and ``B-X``; ``allowed[i, j]`` (previous ``i``, next ``j``) is False only when
    ``j`` is ``I-X`` and ``i`` is neither ``B-X`` nor ``I-X``. Any label that is
    not ``O``/``B-``/``I-`` raises ``ValueError``.
    """
    parts = [split_tag(label) for label in labels]
    prefixes = numpy.asarray([prefix for prefix, _ in parts], dtype=object)
    types = numpy.asarray([entity_type for _, entity_type in parts], dtype=object)
    is_inside = prefixes == INSIDE
    start_allowed = ~is_inside
    same_type = types[:, None] == types[None, :]
    prev_in_entity = (prefixes != OUTSIDE)[:, None]
    allowed = ~is_inside[None, :] | (same_type & prev_in_entity)
    return start_allowed.astype(bool), allowed.astype(bool)


def constrained_viterbi(
    scores: numpy.ndarray,
    labels: Sequence[str],
    transitions: Optional[numpy.ndarray] = None,
    *,
    missing: Optional[numpy.ndarray] = None,
) -> Tuple[numpy.ndarray, float]:
    """Best valid IOB2 label path.

    scores: float[n_tokens, n_labels] log-probabilities or unnormalised
        log-potentials, columns in the order of ``labels``.
    labels: the IOB2 label names (see :func:`transition_constraints`).
    transitions: optional additive float[n_labels(prev), n_labels(next)] scores
        (a CRF's); forbidden transitions stay forbidden whatever their value.
    missing: optional bool[n_tokens]; flagged rows get zero emission, so their
        label is chosen by their neighbours and the constraints (tokens with no
        wordpiece). Ties on such rows are broken towards ``O``, then ``I-``, then
        ``B-`` (a tiny bias, ``MISSING_TIE_BREAK``, used for the search only):
        ``B-PER [missing] I-PER`` decodes as one entity, ``B-PER [missing] O``
        ends the entity before the missing token.
    Returns ``(path, score)``: int64[n_tokens] label indices and the path's total
    score computed from the unclipped inputs (``-inf`` if it had to use a
    ``-inf`` emission). ``n_tokens == 0`` gives an empty path and 0.0.
    """
    start_allowed, allowed = transition_constraints(labels)
    n_labels = len(labels)
    trans = numpy.zeros((n_labels, n_labels)) if transitions is None else to_host(transitions)
    zeros = numpy.zeros((n_labels,))
    prefixes = [split_tag(label)[0] for label in labels]
    tie_break = numpy.asarray([MISSING_TIE_BREAK[prefix] for prefix in prefixes])
    return _decode(scores, trans, zeros, zeros, start_allowed, allowed, missing, tie_break)


def crf_viterbi(
    emissions: numpy.ndarray,
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    end: numpy.ndarray,
    *,
    allowed: Optional[numpy.ndarray] = None,
    start_allowed: Optional[numpy.ndarray] = None,
    missing: Optional[numpy.ndarray] = None,
) -> numpy.ndarray:
    """Best path of a linear-chain CRF (same scoring as :func:`crf_log_likelihood_grad`).

    allowed / start_allowed: optional boolean masks as returned by
        :func:`transition_constraints`; without them every path is allowed.
    missing: optional bool[n_tokens] rows whose emission is treated as zero.
    Returns int64[n_tokens] label indices.
    """
    n_labels = to_host(transitions).shape[0]
    if allowed is None:
        allowed = numpy.ones((n_labels, n_labels), dtype=bool)
    if start_allowed is None:
        start_allowed = numpy.ones((n_labels,), dtype=bool)
    path, _ = _decode(
        emissions, to_host(transitions), to_host(start), to_host(end),
        to_host(start_allowed).astype(bool), to_host(allowed).astype(bool), missing,
    )
    return path


def _decode(
    scores: Any,
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    end: numpy.ndarray,
    start_allowed: numpy.ndarray,
    allowed: numpy.ndarray,
    missing: Optional[Any],
    tie_break: Optional[numpy.ndarray] = None,
) -> Tuple[numpy.ndarray, float]:
    _check_shapes(transitions, start, end, start_allowed, allowed)
    emissions, mask = _emissions(scores, missing, start_allowed.shape[0])
    if emissions.shape[0] == 0:
        return numpy.zeros((0,), dtype="int64"), 0.0
    if not start_allowed.any():
        raise ValueError("no label may start a sequence: expected at least one 'O' or 'B-' label")
    forbidden = -numpy.inf
    masked_trans = numpy.where(allowed, _floor(transitions), forbidden)
    masked_start = numpy.where(start_allowed, _floor(start), forbidden)
    search_emissions = _floor(emissions)
    if tie_break is not None:
        search_emissions[mask] += tie_break
    path = _viterbi(search_emissions, masked_trans, masked_start, _floor(end))
    return path, _path_score(emissions, transitions, start, end, path)


def _emissions(
    scores: Any, missing: Optional[Any], n_labels: int
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """float64 emissions with missing rows zeroed, and the bool[n_tokens] missing mask."""
    emissions = to_host(scores).astype("float64")
    if emissions.ndim != 2 or emissions.shape[1] != n_labels:
        raise ValueError(
            f"expected scores of shape (n_tokens, {n_labels}), got {emissions.shape}"
        )
    if numpy.isnan(emissions).any():
        raise ValueError("scores contain NaN")
    if missing is None:
        return emissions, numpy.zeros((emissions.shape[0],), dtype=bool)
    mask = to_host(missing).astype(bool).reshape(-1)
    if mask.shape[0] != emissions.shape[0]:
        raise ValueError(f"expected missing of shape ({emissions.shape[0]},), got {mask.shape}")
    emissions[mask] = 0.0
    return emissions, mask


def _check_shapes(transitions, start, end, start_allowed, allowed) -> None:
    n_labels = start_allowed.shape[0]
    expected = {
        "transitions": (transitions, (n_labels, n_labels)),
        "start": (start, (n_labels,)),
        "end": (end, (n_labels,)),
        "start_allowed": (start_allowed, (n_labels,)),
        "allowed": (allowed, (n_labels, n_labels)),
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {array.shape}")
        if numpy.isnan(array.astype("float64")).any():
            raise ValueError(f"{name} contains NaN")


def _viterbi(
    emissions: numpy.ndarray, transitions: numpy.ndarray, start: numpy.ndarray, end: numpy.ndarray
) -> numpy.ndarray:
    """Max-sum over a chain; vectorised over labels, loops over time."""
    n_tokens, n_labels = emissions.shape
    backpointers = numpy.zeros((n_tokens, n_labels), dtype="int64")
    columns = numpy.arange(n_labels)
    score = start + emissions[0]
    for t in range(1, n_tokens):
        candidates = score[:, None] + transitions
        backpointers[t] = candidates.argmax(axis=0)
        score = candidates[backpointers[t], columns] + emissions[t]
    path = numpy.zeros((n_tokens,), dtype="int64")
    path[-1] = int((score + end).argmax())
    for t in range(n_tokens - 1, 0, -1):
        path[t - 1] = backpointers[t, path[t]]
    return path


def _path_score(emissions, transitions, start, end, path: numpy.ndarray) -> float:
    total = start[path[0]] + end[path[-1]] + emissions[numpy.arange(path.shape[0]), path].sum()
    total += transitions[path[:-1], path[1:]].sum()
    return float(total)


def _floor(array: numpy.ndarray) -> numpy.ndarray:
    return numpy.maximum(numpy.asarray(array, dtype="float64"), SCORE_FLOOR)


# ---------------------------------------------------------------------------
# One doc of the token classifier's output
# ---------------------------------------------------------------------------
def decode_scores(
    scores: numpy.ndarray,
    tag_names: Sequence[str],
    constraints: Tuple[numpy.ndarray, numpy.ndarray],
    *,
    decoding: Decoding = "viterbi",
    crf: Optional[Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]] = None,
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """``(IOB2 label indices, probability of each chosen label)`` of one doc.

    scores: float[n_tokens, n_labels] probabilities, or CRF emission scores when
        ``crf`` (transitions, start, end) is given. All-zero rows are tokens
        without a wordpiece: their label follows their neighbours and the
        constraints, and their confidence is 0.
    constraints: ``transition_constraints(tag_names)`` (the caller caches it).
    decoding: "viterbi" (best valid path) or "repair" (argmax, then
        :func:`bio_repair`); ignored with a CRF, which always runs Viterbi.
    """
    if scores.shape[0] == 0:
        return empty_prediction()
    missing = ~numpy.any(scores != 0, axis=1)
    start_allowed, allowed = constraints
    if crf is not None:
        probs = _softmax(scores)
        emissions = numpy.where(missing[:, None], 0.0, scores)
        path = crf_viterbi(emissions, *crf, allowed=allowed, start_allowed=start_allowed)
    elif decoding == "repair":
        probs = scores
        tags = bio_repair([tag_names[i] for i in scores.argmax(axis=1)])
        index = {tag: i for i, tag in enumerate(tag_names)}
        path = numpy.asarray([index[tag] for tag in tags], dtype="int64")
    else:
        probs = scores
        path = scores.argmax(axis=1)
        # With hard constraints only, a valid argmax path is already the best path.
        if missing.any() or not _is_valid_path(path, start_allowed, allowed):
            with numpy.errstate(divide="ignore"):
                log_probs = numpy.log(scores)
            path, _ = constrained_viterbi(log_probs, tag_names, missing=missing)
    path = numpy.asarray(path, dtype="int64")
    confidences = token_confidences(probs, path).astype("float32")
    confidences[missing] = 0.0
    return path, confidences


def empty_prediction() -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The prediction of a doc without tokens: no labels, no confidences."""
    return numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="float32")


def _softmax(scores: numpy.ndarray) -> numpy.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _is_valid_path(path: numpy.ndarray, start_allowed: numpy.ndarray, allowed: numpy.ndarray) -> bool:
    """Whether a label path obeys the IOB2 start and transition constraints."""
    return bool(start_allowed[path[0]]) and bool(allowed[path[:-1], path[1:]].all())


# ---------------------------------------------------------------------------
# Linear-chain CRF (one sequence)
# ---------------------------------------------------------------------------
def crf_log_likelihood_grad(
    emissions: numpy.ndarray,
    gold: numpy.ndarray,
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    end: numpy.ndarray,
) -> Tuple[float, numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Negative log-likelihood of ``gold`` under a linear-chain CRF, and its gradients.

    score(y) = start[y_0] + sum_t emissions[t, y_t]
               + sum_t transitions[y_{t-1}, y_t] + end[y_{n-1}]
    nll = logsumexp_y score(y) - score(gold), by log-space forward-backward.

    emissions: float[n, L]; gold: int[n] in ``[0, L)``; transitions: float[L, L]
    (previous, next); start, end: float[L].
    Returns ``(nll, d_emissions, d_transitions, d_start, d_end)``: each gradient
    is expected counts (marginals) minus observed counts, float64, shaped like
    its parameter. ``n == 0`` gives 0.0 and zero gradients.
    """
    em = to_host(emissions).astype("float64")
    trans = to_host(transitions).astype("float64")
    start_s, end_s = to_host(start).astype("float64"), to_host(end).astype("float64")
    gold = _check_gold(gold, em, trans)
    n, n_labels = em.shape
    d_trans = numpy.zeros_like(trans)
    d_start, d_end = numpy.zeros((n_labels,)), numpy.zeros((n_labels,))
    if n == 0:
        return 0.0, numpy.zeros_like(em), d_trans, d_start, d_end
    alpha, beta, log_z = _forward_backward(em, trans, start_s, end_s)
    gold_score = _path_score(em, trans, start_s, end_s, gold)
    marginals = numpy.exp(alpha + beta - log_z)
    d_em = marginals.copy()
    d_em[numpy.arange(n), gold] -= 1.0
    for t in range(1, n):
        pair = alpha[t - 1][:, None] + trans + (em[t] + beta[t])[None, :] - log_z
        d_trans += numpy.exp(pair)
    numpy.add.at(d_trans, (gold[:-1], gold[1:]), -1.0)
    d_start += marginals[0]
    d_start[gold[0]] -= 1.0
    d_end += marginals[-1]
    d_end[gold[-1]] -= 1.0
    return float(log_z - gold_score), d_em, d_trans, d_start, d_end


def _check_gold(gold: Any, em: numpy.ndarray, trans: numpy.ndarray) -> numpy.ndarray:
    gold = to_host(gold).reshape(-1)
    n_labels = trans.shape[0]
    if em.ndim != 2 or em.shape != (gold.shape[0], n_labels):
        raise ValueError(
            f"expected emissions of shape ({gold.shape[0]}, {n_labels}), got {em.shape}"
        )
    if gold.size and (gold.min() < 0 or gold.max() >= n_labels):
        raise ValueError(
            f"expected gold label indices in [0, {n_labels}), got {gold.min()}..{gold.max()}"
        )
    return gold.astype("int64")


def _forward_backward(
    em: numpy.ndarray, trans: numpy.ndarray, start: numpy.ndarray, end: numpy.ndarray
) -> Tuple[numpy.ndarray, numpy.ndarray, float]:
    n = em.shape[0]
    alpha = numpy.empty_like(em)
    beta = numpy.empty_like(em)
    alpha[0] = start + em[0]
    for t in range(1, n):
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + trans, axis=0) + em[t]
    beta[-1] = end
    for t in range(n - 2, -1, -1):
        beta[t] = _logsumexp(trans + (em[t + 1] + beta[t + 1])[None, :], axis=1)
    return alpha, beta, float(_logsumexp(alpha[-1] + end, axis=0))


def _logsumexp(values: numpy.ndarray, axis: int) -> numpy.ndarray:
    """Stable log(sum(exp(values))) along ``axis``; all ``-inf`` gives ``-inf``."""
    top = values.max(axis=axis, keepdims=True)
    top = numpy.where(numpy.isfinite(top), top, 0.0)
    with numpy.errstate(divide="ignore"):
        summed = numpy.log(numpy.exp(values - top).sum(axis=axis, keepdims=True))
    return numpy.squeeze(summed + top, axis=axis)
