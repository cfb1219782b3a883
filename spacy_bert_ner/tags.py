"""IOB2 / BILUO tag schemes: label lists, conversions, BIO repair, spans.

Conventions used throughout (and by ``decoding.py``, which turns scores into
these tags):

* IOB2 tags are ``"O"``, ``"B-<type>"`` or ``"I-<type>"``; anything else is a
  ``ValueError`` that names the offending tag.
* Label *indices* refer to a label list such as :func:`make_iob2_labels` gives
  (``"O"`` first, then ``B-``/``I-`` per type, types sorted).
* Spans are ``(start, end_exclusive, label)`` token offsets.

spaCy's ``iob_utils`` does the IOB -> BILUO conversion; the rest is ours where
spaCy's helpers differ (noted at each function).
"""
from typing import Any, Iterable, List, Sequence, Tuple

from spacy.training.iob_utils import iob_to_biluo

OUTSIDE = "O"
BEGIN = "B"
INSIDE = "I"
_BILUO_TO_IOB2 = {"B": "B", "I": "I", "L": "I", "U": "B"}

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
    return iob_to_biluo(bio_repair(tags))


def biluo_to_iob2(tags: Sequence[str]) -> List[str]:
    """BILUO -> IOB2, tag by tag (``U``->``B``, ``L``->``I``).

    Tag-by-tag on purpose: a BILUO sequence with gaps (unknown tags replaced by
    ``O``) keeps each known position's class. Valid BILUO gives valid IOB2.
    Not spaCy's ``biluo_to_iob``: that one validates nothing and rewrites the
    first ``U-``/``L-`` anywhere in the tag, so a type such as ``EDU-ORG`` breaks.
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
    kept. This is also how conlleval / seqeval's default mode reads chunks, and
    it is the IOB1 -> IOB2 conversion (see :func:`iob1_to_iob2`).
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


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """IOB1 (an entity starts with ``I-X``; ``B-X`` only after a same-type entity) -> IOB2.

    The same rewrite as :func:`bio_repair`: an ``I-X`` that does not continue a
    ``B-X``/``I-X`` becomes ``B-X``. IOB2 input comes back unchanged.
    """
    return bio_repair(tags)


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
    tags come from an unconstrained argmax. Not spaCy's ``tags_to_entities``
    (BILUO input, an orphan ``I-`` of IOB2 would need converting first, and
    ``iob_to_biluo`` pops from the list front: quadratic on long documents).
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
