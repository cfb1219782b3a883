"""How well entity confidences are calibrated: expected calibration error and a reliability table.

A head that scores its entities (``token_classifier`` stores one confidence per
entity in ``doc.spans[key].attrs["scores"]``) is calibrated when, among the
entities it gives confidence ~p, a share ~p is right. :func:`calibration` is
the pure computation over predicted entities with scores and gold entities
(an entity is right when it matches a gold entity exactly: same start, end and
type); :func:`scored_entities` reads both from evaluated Examples, in character
offsets so that the pipeline's tokenization need not be the gold one.
"""
from typing import Collection, List, Optional, Sequence, Tuple, TypedDict

import numpy
from spacy.training import Example

N_BINS = 10
DEFINITION = (
    "expected calibration error over predicted entities: 10 equal-width confidence bins "
    "(the last includes 1.0), sum over bins of |precision - mean confidence| x share of the "
    "entities in the bin; an entity is correct when a gold entity has the same start, end and type"
)

Entity = Tuple[int, int, str]
ScoredEntity = Tuple[int, int, str, float]


class ReliabilityBin(TypedDict):
    """One confidence bin: its bounds, how many entities fell in it, their mean confidence and precision."""

    low: float
    high: float
    count: int
    mean_confidence: Optional[float]
    precision: Optional[float]


class Calibration(TypedDict, total=False):
    """The ``calibration`` entry of a metrics record."""

    aggregation: Optional[str]
    ece: Optional[float]
    n_entities: int
    bins: List[ReliabilityBin]
    definition: str


def calibration(
    predicted: Sequence[Sequence[ScoredEntity]],
    gold: Sequence[Collection[Entity]],
    *,
    n_bins: int = N_BINS,
    aggregation: Optional[str] = None,
) -> Calibration:
    """ECE and reliability table of the predicted entities of a set of documents.

    predicted: per document, ``(start, end, type, confidence)`` with confidence in [0, 1].
    gold: per document, the gold ``(start, end, type)`` (same offsets as ``predicted``).
    A predicted entity repeated on one gold entity is correct once, as spaCy counts.
    Without predicted entities the ECE is None.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"expected gold entities for each of {len(predicted)} documents, got {len(gold)}")
    confidences, correct = _judge(predicted, gold)
    if ((confidences < 0) | (confidences > 1) | numpy.isnan(confidences)).any():
        raise ValueError("expected entity confidences in [0, 1]")
    edges = numpy.linspace(0.0, 1.0, n_bins + 1)
    index = numpy.clip(numpy.digitize(confidences, edges[1:-1], right=False), 0, n_bins - 1)
    bins: List[ReliabilityBin] = []
    ece = 0.0
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        mean_conf = float(confidences[members].mean()) if count else None
        precision = float(correct[members].mean()) if count else None
        if count:
            ece += count / len(confidences) * abs(precision - mean_conf)  # type: ignore[operator]
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                     "mean_confidence": mean_conf, "precision": precision})
    return {
        "aggregation": aggregation,
        "ece": float(ece) if len(confidences) else None,
        "n_entities": int(len(confidences)),
        "bins": bins,
        "definition": DEFINITION,
    }


def _judge(
    predicted: Sequence[Sequence[ScoredEntity]], gold: Sequence[Collection[Entity]]
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Confidences and correctness (bool) of every predicted entity, documents concatenated."""
    confidences: List[float] = []
    correct: List[bool] = []
    for doc_predicted, doc_gold in zip(predicted, gold):
        unmatched = set(doc_gold)
        for start, end, label, score in doc_predicted:
            confidences.append(float(score))
            correct.append((start, end, label) in unmatched)
            unmatched.discard((start, end, label))
    return numpy.asarray(confidences, dtype="float64"), numpy.asarray(correct, dtype=bool)


def scored_entities(
    examples: Sequence[Example], spans_key: str
) -> Tuple[List[List[ScoredEntity]], List[List[Entity]]]:
    """``(predicted, gold)`` for :func:`calibration` from evaluated Examples, in character offsets.

    predicted: the spans in ``example.predicted.spans[spans_key]`` with the
    confidences in its ``attrs["scores"]``; ValueError when their counts differ.
    """
    predicted: List[List[ScoredEntity]] = []
    gold: List[List[Entity]] = []
    for example in examples:
        group = example.predicted.spans.get(spans_key)
        spans = list(group) if group is not None else []
        scores = list(group.attrs.get("scores", [])) if group is not None else []
        if len(scores) != len(spans):
            raise ValueError(
                f"doc.spans[{spans_key!r}] holds {len(spans)} entities but {len(scores)} scores; "
                "expected one score per entity"
            )
        predicted.append([(s.start_char, s.end_char, s.label_, float(score)) for s, score in zip(spans, scores)])
        gold.append([(e.start_char, e.end_char, e.label_) for e in example.reference.ents])
    return predicted, gold
