"""Entity confidences from the decoded path: the chosen label's probability per token, aggregated per entity.

``confidence = "min"`` (the component's default) or ``"mean"`` (as HF's
``aggregation_strategy="simple"``); see docs/components.md.
"""
from typing import List, Literal, Sequence, Tuple

import numpy

from .tags import bio_repair, tags_to_spans
from .util import to_host

Confidence = Literal["min", "mean"]
CONFIDENCES = ("min", "mean")


def token_confidences(probs: numpy.ndarray, path: numpy.ndarray) -> numpy.ndarray:
    """Probability of the chosen label per token: float[n_tokens]."""
    probs = to_host(probs)
    path = to_host(path).astype("int64").reshape(-1)
    if probs.ndim != 2 or probs.shape[0] != path.shape[0]:
        raise ValueError(
            f"expected probs of shape ({path.shape[0]}, n_labels), got {probs.shape}"
        )
    return probs[numpy.arange(path.shape[0]), path]


def span_confidences(
    probs: numpy.ndarray, path: numpy.ndarray, labels: Sequence[str], confidence: Confidence = "min"
) -> List[Tuple[int, int, str, float]]:
    """``(start, end, type, confidence)`` per entity of the path.

    The confidence aggregates the chosen label's probability over the entity's
    tokens (:func:`entity_confidence`). The path's tags are :func:`bio_repair`-ed,
    so plain argmax paths are accepted too.
    """
    confidences = token_confidences(probs, path)
    tags = bio_repair([labels[i] for i in to_host(path).reshape(-1)])
    return [
        (start, end, label, entity_confidence(confidences[start:end], confidence))
        for start, end, label in tags_to_spans(tags)
    ]


def entity_confidence(token_probs: numpy.ndarray, confidence: Confidence = "min") -> float:
    """One entity's confidence from its tokens' chosen-label probabilities.

    "min" (the default): an entity is only as sure as its least sure token, so a
    long confident tail cannot hide a doubtful boundary. "mean": the average, as
    HF's ``aggregation_strategy="simple"`` scores an entity. A token without a
    wordpiece has probability 0 in both.
    """
    if confidence == "min":
        return float(numpy.min(token_probs))
    if confidence == "mean":
        return float(numpy.mean(token_probs))
    raise ValueError(f"confidence: expected one of {', '.join(CONFIDENCES)}, got {confidence!r}")
