"""The one output record of annotation: what ``annotate``, the Ray backend and ``serve`` all return.

``{"id": ..., "ents": [{"start", "end", "label", "text", "score"}], **carried}``:
character offsets into the input text, the entity's label and text, and its
confidence where the head gives one (``token_classifier``'s span group scores;
``null`` for spaCy's ``ner``).
"""
from typing import Any, Dict, List, Mapping, Optional, TypedDict

from spacy.tokens import Doc



class EntityRecord(TypedDict):
    start: int
    end: int
    label: str
    text: str
    score: Optional[float]




def entity_records(doc: Doc, spans_key: Optional[str] = None) -> List[EntityRecord]:
    """``doc.ents`` as records, each with its score from ``doc.spans[spans_key]`` where present."""
    scores: Dict[tuple, float] = {}
    if spans_key and spans_key in doc.spans:
        group = doc.spans[spans_key]
        for span, score in zip(group, group.attrs.get("scores", [])):
            scores[(span.start, span.end, span.label_)] = float(score)
    return [
        EntityRecord(
            start=ent.start_char, end=ent.end_char, label=ent.label_, text=ent.text,
            score=scores.get((ent.start, ent.end, ent.label_)),
        )
        for ent in doc.ents
    ]


def doc_record(doc: Doc, doc_id: Any, carried: Optional[Mapping[str, Any]] = None,
               spans_key: Optional[str] = None) -> Dict[str, Any]:
    """One output line: ``id``, ``ents`` and the input's other fields, carried through unchanged."""
    return make_record(doc_id, entity_records(doc, spans_key), carried)


def make_record(doc_id: Any, ents: List[EntityRecord], carried: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The record of :func:`doc_record` from entities already computed (e.g. on a Ray worker)."""
    record: Dict[str, Any] = {"id": doc_id, "ents": ents}
    for key, value in (carried or {}).items():
        if key not in ("id", "ents", "text"):
            record[key] = value
    return record
