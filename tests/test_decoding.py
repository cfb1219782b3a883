"""decoding.py: constraints, constrained Viterbi, confidences and the numpy CRF."""
import itertools

import numpy
import pytest

from spacy_bert_ner.decoding import (
    constrained_viterbi,
    crf_log_likelihood_grad,
    crf_viterbi,
    transition_constraints,
)
from spacy_bert_ner.confidences import span_confidences, token_confidences
from spacy_bert_ner.tags import bio_repair, is_valid_iob2, make_iob2_labels

LABELS = make_iob2_labels(["PER", "LOC", "ORG", "MISC"])


def _brute_force_best(scores, labels, transitions=None):
    """Best valid path by enumerating every label sequence."""
    n, n_labels = scores.shape
    best, best_path = -numpy.inf, None
    for path in itertools.product(range(n_labels), repeat=n):
        if not is_valid_iob2([labels[i] for i in path]):
            continue
        total = scores[numpy.arange(n), list(path)].sum()
        if transitions is not None:
            total += sum(transitions[a, b] for a, b in zip(path[:-1], path[1:]))
        if total > best:
            best, best_path = total, path
    return best, numpy.asarray(best_path)


def _path_score(em, gold, trans, start, end):
    total = start[gold[0]] + end[gold[-1]] + em[numpy.arange(len(gold)), gold].sum()
    return total + sum(trans[a, b] for a, b in zip(gold[:-1], gold[1:]))


# ---------------------------------------------------------------------------
# Constraints and constrained Viterbi
# ---------------------------------------------------------------------------
def test_transition_constraints():
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    start_allowed, allowed = transition_constraints(labels)
    assert start_allowed.tolist() == [True, True, False, True, False]
    expected_into_i_a = [False, True, True, False, False]  # from O, B-A, I-A, B-B, I-B
    assert allowed[:, 2].tolist() == expected_into_i_a
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()


@pytest.mark.parametrize("labels", [["O", "U-X"], ["O", "PER"], ["O", "E-X"]])
def test_transition_constraints_rejects_unknown_labels(labels):
    with pytest.raises(ValueError, match="IOB2"):
        transition_constraints(labels)


@pytest.mark.parametrize("seed", range(200))
def test_constrained_viterbi_always_valid(seed):
    rng = numpy.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    scores = rng.normal(scale=3.0, size=(n, len(LABELS)))
    # favour I- tags so the argmax is often invalid
    scores[:, 2::2] += 2.0
    if seed % 3 == 0:
        scores[rng.random(scores.shape) < 0.3] = -numpy.inf  # underflowed probabilities
    missing = rng.random(n) < 0.2 if seed % 2 else None
    path, _ = constrained_viterbi(scores, LABELS, missing=missing)
    assert path.shape == (n,)
    assert is_valid_iob2([LABELS[i] for i in path])


@pytest.mark.parametrize("seed", range(20))
def test_constrained_viterbi_is_optimal(seed):
    rng = numpy.random.default_rng(seed)
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    scores = rng.normal(size=(4, len(labels)))
    transitions = rng.normal(size=(len(labels), len(labels))) if seed % 2 else None
    best, best_path = _brute_force_best(scores, labels, transitions)
    path, score = constrained_viterbi(scores, labels, transitions)
    assert score == pytest.approx(best)
    assert path.tolist() == best_path.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_constrained_viterbi_equals_valid_argmax(seed):
    rng = numpy.random.default_rng(seed)
    probs = rng.dirichlet(numpy.ones(len(LABELS)), size=10)
    argmax_tags = bio_repair([LABELS[i] for i in probs.argmax(axis=1)])
    index = {label: i for i, label in enumerate(LABELS)}
    target = numpy.asarray([index[tag] for tag in argmax_tags])
    # make the (valid) target the clear argmax of each row
    probs[numpy.arange(10), target] += 5.0
    probs /= probs.sum(axis=1, keepdims=True)
    path, score = constrained_viterbi(numpy.log(probs), LABELS)
    assert path.tolist() == probs.argmax(axis=1).tolist()
    assert score == pytest.approx(numpy.log(probs.max(axis=1)).sum())


def test_constrained_viterbi_empty():
    path, score = constrained_viterbi(numpy.zeros((0, len(LABELS))), LABELS)
    assert path.shape == (0,) and path.dtype == numpy.int64
    assert score == 0.0


MISSING_CASES = [
    # (argmax of the known rows, missing flags, expected path)
    (["B-PER", "O", "I-PER"], [0, 1, 0], ["B-PER", "I-PER", "I-PER"]),  # continue the entity
    (["B-PER", "O", "O"], [0, 1, 0], ["B-PER", "O", "O"]),  # end it before the gap
    (["O", "O", "B-PER"], [1, 1, 0], ["O", "O", "B-PER"]),
    (["O", "O", "I-PER"], [1, 0, 1], ["O", "O", "O"]),  # all-missing rows need no entity
    (["B-PER", "O", "O", "I-PER"], [0, 1, 1, 0], ["B-PER", "I-PER", "I-PER", "I-PER"]),
    (["B-PER"] + ["O"] * 50 + ["I-PER"], [0] + [1] * 50 + [0], ["B-PER"] + ["I-PER"] * 51),
    (["O", "O", "I-PER"], [0, 1, 0], ["O", "B-PER", "I-PER"]),  # start it when needed
]


@pytest.mark.parametrize("argmax,missing,expected", MISSING_CASES)
def test_constrained_viterbi_missing_rows_follow_neighbours(argmax, missing, expected):
    labels = ["O", "B-PER", "I-PER"]
    probs = numpy.full((len(argmax), 3), 0.05)
    probs[numpy.arange(len(argmax)), [labels.index(tag) for tag in argmax]] = 0.9
    mask = numpy.asarray(missing, bool)
    path, score = constrained_viterbi(numpy.log(probs), labels, missing=mask)
    assert [labels[i] for i in path] == expected
    known = ~mask
    assert score == pytest.approx(numpy.log(probs[known, path[known]]).sum())


def test_constrained_viterbi_all_missing_or_all_inf_is_valid():
    labels = ["O", "B-PER", "I-PER"]
    scores = numpy.full((5, 3), -numpy.inf)
    path, score = constrained_viterbi(scores, labels)
    assert is_valid_iob2([labels[i] for i in path])
    assert score == -numpy.inf
    path, score = constrained_viterbi(scores, labels, missing=numpy.ones(5, dtype=bool))
    assert is_valid_iob2([labels[i] for i in path]) and score == 0.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"scores": numpy.zeros((2, 4))}, "shape"),
        ({"scores": numpy.full((2, 3), numpy.nan)}, "NaN"),
        ({"missing": numpy.zeros(3, dtype=bool)}, "missing"),
        ({"transitions": numpy.zeros((2, 2))}, "transitions"),
    ],
)
def test_constrained_viterbi_rejects(kwargs, match):
    args = {"scores": numpy.zeros((2, 3)), "labels": ["O", "B-X", "I-X"], **kwargs}
    with pytest.raises(ValueError, match=match):
        constrained_viterbi(**args)


def test_constrained_viterbi_without_start_label():
    with pytest.raises(ValueError, match="start"):
        constrained_viterbi(numpy.zeros((2, 1)), ["I-X"])


def test_confidences():
    labels = ["O", "B-PER", "I-PER"]
    probs = numpy.asarray([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1], [0.1, 0.9, 0.0]])
    path = numpy.asarray([1, 2, 0, 1])
    numpy.testing.assert_allclose(token_confidences(probs, path), [0.8, 0.6, 0.7, 0.9])
    assert span_confidences(probs, path, labels) == [
        (0, 2, "PER", pytest.approx(0.6)),
        (3, 4, "PER", pytest.approx(0.9)),
    ]
    with pytest.raises(ValueError, match="shape"):
        token_confidences(probs, path[:2])


# ---------------------------------------------------------------------------
# CRF
# ---------------------------------------------------------------------------
def _crf_params(seed, n, n_labels):
    rng = numpy.random.default_rng(seed)
    return (
        rng.normal(size=(n, n_labels)),
        rng.integers(0, n_labels, size=n),
        rng.normal(size=(n_labels, n_labels)),
        rng.normal(size=n_labels),
        rng.normal(size=n_labels),
    )


@pytest.mark.parametrize("seed", range(5))
def test_crf_nll_matches_brute_force(seed):
    em, gold, trans, start, end = _crf_params(seed, 3, 3)
    all_scores = [
        _path_score(em, numpy.asarray(path), trans, start, end)
        for path in itertools.product(range(3), repeat=3)
    ]
    log_z = numpy.log(numpy.exp(all_scores).sum())
    expected = log_z - _path_score(em, gold, trans, start, end)
    nll, *_ = crf_log_likelihood_grad(em, gold, trans, start, end)
    assert nll == pytest.approx(expected, abs=1e-10)
    assert nll > 0


@pytest.mark.parametrize("seed,n,n_labels", [(0, 3, 3), (1, 1, 4), (2, 6, 5), (3, 2, 2)])
def test_crf_gradient_matches_finite_differences(seed, n, n_labels):
    params = list(_crf_params(seed, n, n_labels))
    _, *grads = crf_log_likelihood_grad(*params)
    eps = 1e-6
    for which, grad in zip([0, 2, 3, 4], grads):
        numeric = numpy.zeros_like(params[which])
        for idx in numpy.ndindex(params[which].shape):
            shifted = [p.copy() for p in params]
            shifted[which][idx] += eps
            up = crf_log_likelihood_grad(*shifted)[0]
            shifted[which][idx] -= 2 * eps
            down = crf_log_likelihood_grad(*shifted)[0]
            numeric[idx] = (up - down) / (2 * eps)
        numpy.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_crf_is_stable_for_large_scores():
    em, gold, trans, start, end = _crf_params(0, 4, 3)
    nll, d_em, d_tr, *_ = crf_log_likelihood_grad(em * 1000, gold, trans, start, end)
    assert numpy.isfinite(nll) and numpy.isfinite(d_em).all() and numpy.isfinite(d_tr).all()
    numpy.testing.assert_allclose(d_em.sum(axis=1), 0.0, atol=1e-9)  # marginals sum to 1


def test_crf_empty_sequence():
    nll, d_em, d_tr, d_st, d_en = crf_log_likelihood_grad(
        numpy.zeros((0, 3)), numpy.zeros((0,), dtype=int),
        numpy.ones((3, 3)), numpy.ones(3), numpy.ones(3),
    )
    assert nll == 0.0
    assert d_em.shape == (0, 3)
    assert not d_tr.any() and not d_st.any() and not d_en.any()


def test_crf_rejects_bad_gold():
    em, gold, trans, start, end = _crf_params(0, 3, 3)
    with pytest.raises(ValueError, match="gold"):
        crf_log_likelihood_grad(em, numpy.asarray([0, 3, 1]), trans, start, end)


@pytest.mark.parametrize("seed", range(10))
def test_crf_viterbi_matches_brute_force(seed):
    em, _, trans, start, end = _crf_params(seed, 4, 3)
    best = max(
        itertools.product(range(3), repeat=4),
        key=lambda p: _path_score(em, numpy.asarray(p), trans, start, end),
    )
    assert crf_viterbi(em, trans, start, end).tolist() == list(best)


@pytest.mark.parametrize("seed", range(30))
def test_crf_viterbi_with_constraints_is_valid(seed):
    em, _, trans, start, end = _crf_params(seed, 12, len(LABELS))
    trans[:, 2::2] += 3.0  # the unconstrained CRF would like I- tags everywhere
    start_allowed, allowed = transition_constraints(LABELS)
    path = crf_viterbi(em, trans, start, end, allowed=allowed, start_allowed=start_allowed)
    assert is_valid_iob2([LABELS[i] for i in path])
