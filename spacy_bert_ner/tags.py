"""IOB2 / BILUO label schemes, BIO repair, constrained decoding and a numpy CRF.

Conventions used throughout:

* IOB2 tags are ``"O"``, ``"B-<type>"`` or ``"I-<type>"``; anything else is a
  ``ValueError`` that names the offending tag.
* Label *indices* refer to a label list such as :func:`make_iob2_labels` gives
  (``"O"`` first, then ``B-``/``I-`` per type, types sorted).
* Spans are ``(start, end_exclusive, label)`` token offsets.
* Array functions compute on the host with numpy (float64 internally).
  CuPy arrays are accepted and copied to the host first: Viterbi and
  forward-backward loop over time, which is faster on the CPU for sentence-
  sized inputs anyway.
"""
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy

OUTSIDE = "O"
BEGIN = "B"
INSIDE = "I"
_BILUO_TO_IOB2 = {"B": "B", "I": "I", "L": "I", "U": "B"}

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

Span = Tuple[int, int, str]


# ---------------------------------------------------------------------------
# Label schemes
# ---------------------------------------------------------------------------
def make_iob2_labels(entity_types: Iterable[str]) -> List[str]:
    """``["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", ...]``: ``O`` first, types sorted.

    Duplicate types are merged. A type must be a non-empty string that is not
    ``"O"`` and is not itself a tag (``"B-PER"``), otherwise ``ValueError``.
    """
    types = sorted(set(entity_types))
    for entity_type in types:
        _check_entity_type(entity_type)
    labels = [OUTSIDE]
    for entity_type in types:
        labels.extend((f"B-{entity_type}", f"I-{entity_type}"))
    return labels


def _check_entity_type(entity_type: Any) -> None:
    if (
        not isinstance(entity_type, str)
        or not entity_type
        or entity_type == OUTSIDE
        or entity_type[:2] in ("B-", "I-", "L-", "U-")
    ):
        raise ValueError(
            f"expected an entity type such as 'PER' (not empty, 'O' or a tag), got {entity_type!r}"
        )


def split_tag(tag: str) -> Tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; ``ValueError`` otherwise."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if isinstance(tag, str) and len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(f"expected an IOB2 tag ('O', 'B-<type>' or 'I-<type>'), got {tag!r}")


def _split_biluo(tag: str) -> Tuple[str, str]:
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if isinstance(tag, str) and len(tag) > 2 and tag[:2] in ("B-", "I-", "L-", "U-"):
        return tag[0], tag[2:]
    raise ValueError(
        f"expected a BILUO tag ('O', or 'B-', 'I-', 'L-', 'U-' + type), got {tag!r}"
    )


def iob2_to_biluo(tags: Sequence[str]) -> List[str]:
    """IOB2 -> BILUO. Input is :func:`bio_repair`-ed first (an orphan ``I-X``
    starts an entity), so the output is always valid BILUO; valid IOB2 round
    trips exactly through :func:`biluo_to_iob2`."""
    repaired = bio_repair(tags)
    result: List[str] = []
    for i, tag in enumerate(repaired):
        prefix, entity_type = split_tag(tag)
        if prefix == OUTSIDE:
            result.append(OUTSIDE)
            continue
        continues = i + 1 < len(repaired) and repaired[i + 1] == f"I-{entity_type}"
        if prefix == BEGIN:
            result.append(f"{'B' if continues else 'U'}-{entity_type}")
        else:
            result.append(f"{'I' if continues else 'L'}-{entity_type}")
    return result


def biluo_to_iob2(tags: Sequence[str]) -> List[str]:
    """BILUO -> IOB2, tag by tag (``U``->``B``, ``L``->``I``).

    Tag-by-tag on purpose: a BILUO sequence with gaps (unknown tags replaced by
    ``O``) keeps each known position's class. Valid BILUO gives valid IOB2.
    """
    result = []
    for tag in tags:
        prefix, entity_type = _split_biluo(tag)
        result.append(OUTSIDE if prefix == OUTSIDE else f"{_BILUO_TO_IOB2[prefix]}-{entity_type}")
    return result


def bio_repair(tags: Sequence[str]) -> List[str]:
    """Make IOB2 valid the way HF's pipeline aggregation reads it.

    An ``I-X`` that does not continue an entity of type ``X`` (at the start, after
    ``O``, or after a tag of another type) becomes ``B-X``. Everything else is
    kept. This is also how conlleval / seqeval's default mode reads chunks.
    """
    result: List[str] = []
    previous_type = ""
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == INSIDE and entity_type != previous_type:
            tag = f"B-{entity_type}"
        result.append(tag)
        previous_type = entity_type
    return result


def is_valid_iob2(tags: Sequence[str]) -> bool:
    """True when every tag is well formed and each ``I-X`` follows ``B-X`` or ``I-X``.

    Malformed tags give ``False`` (not an exception).
    """
    try:
        return bio_repair(tags) == list(tags)
    except ValueError:
        return False


def tags_to_spans(tags: Sequence[str]) -> List[Span]:
    """Entity spans ``(start, end_exclusive, type)`` of VALID IOB2 tags.

    An orphan ``I-`` raises ``ValueError``; call :func:`bio_repair` first when the
    tags come from an unconstrained argmax.
    """
    spans: List[Span] = []
    start, current = -1, ""
    for i, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        if prefix == INSIDE:
            if entity_type != current:
                raise ValueError(
                    f"invalid IOB2 at token {i}: {tag!r} does not continue an entity of type "
                    f"{entity_type!r} (previous tag {tags[i - 1] if i else None!r}); "
                    "call bio_repair() first"
                )
            continue
        if current:
            spans.append((start, i, current))
        start, current = (i, entity_type) if prefix == BEGIN else (-1, "")
    if current:
        spans.append((start, len(tags), current))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int) -> List[str]:
    """IOB2 tags of ``length`` tokens from non-overlapping spans (``ValueError`` otherwise)."""
    tags = [OUTSIDE] * length
    for start, end, label in sorted(spans):
        _check_entity_type(label)
        if not 0 <= start < end <= length:
            raise ValueError(
                f"expected a span with 0 <= start < end <= {length}, got {(start, end, label)!r}"
            )
        if any(tag != OUTSIDE for tag in tags[start:end]):
            raise ValueError(f"span {(start, end, label)!r} overlaps another span")
        tags[start] = f"B-{label}"
        tags[start + 1:end] = [f"I-{label}"] * (end - start - 1)
    return tags


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
    trans = numpy.zeros((n_labels, n_labels)) if transitions is None else _host(transitions)
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
    n_labels = _host(transitions).shape[0]
    if allowed is None:
        allowed = numpy.ones((n_labels, n_labels), dtype=bool)
    if start_allowed is None:
        start_allowed = numpy.ones((n_labels,), dtype=bool)
    path, _ = _decode(
        emissions, _host(transitions), _host(start), _host(end),
        _host(start_allowed).astype(bool), _host(allowed).astype(bool), missing,
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
    emissions = _host(scores).astype("float64")
    if emissions.ndim != 2 or emissions.shape[1] != n_labels:
        raise ValueError(
            f"expected scores of shape (n_tokens, {n_labels}), got {emissions.shape}"
        )
    if numpy.isnan(emissions).any():
        raise ValueError("scores contain NaN")
    if missing is None:
        return emissions, numpy.zeros((emissions.shape[0],), dtype=bool)
    mask = _host(missing).astype(bool).reshape(-1)
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


def _host(array: Any) -> numpy.ndarray:
    """numpy view of a numpy/CuPy array (or anything array-like)."""
    if type(array).__module__.split(".")[0] == "cupy":
        return array.get()
    return numpy.asarray(array)


# ---------------------------------------------------------------------------
# Confidences
# ---------------------------------------------------------------------------
def token_confidences(probs: numpy.ndarray, path: numpy.ndarray) -> numpy.ndarray:
    """Probability of the chosen label per token: float[n_tokens]."""
    probs = _host(probs)
    path = _host(path).astype("int64").reshape(-1)
    if probs.ndim != 2 or probs.shape[0] != path.shape[0]:
        raise ValueError(
            f"expected probs of shape ({path.shape[0]}, n_labels), got {probs.shape}"
        )
    return probs[numpy.arange(path.shape[0]), path]


def span_confidences(
    probs: numpy.ndarray, path: numpy.ndarray, labels: Sequence[str]
) -> List[Tuple[int, int, str, float]]:
    """``(start, end, type, confidence)`` per entity of the path.

    The confidence is the MINIMUM over the entity's tokens of the chosen label's
    probability: an entity is only as sure as its least sure token (a mean
    would let a long confident tail hide a doubtful boundary). The path's tags
    are :func:`bio_repair`-ed, so plain argmax paths are accepted too.
    """
    confidences = token_confidences(probs, path)
    tags = bio_repair([labels[i] for i in _host(path).reshape(-1)])
    return [
        (start, end, label, float(confidences[start:end].min()))
        for start, end, label in tags_to_spans(tags)
    ]


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
    em = _host(emissions).astype("float64")
    trans = _host(transitions).astype("float64")
    start_s, end_s = _host(start).astype("float64"), _host(end).astype("float64")
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
    gold = _host(gold).reshape(-1)
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
