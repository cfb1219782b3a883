"""displaCy pages of a pipeline's predictions, for either head.

``spacy evaluate --displacy-path`` renders only a component whose factory is
``ner``, so a ``token_classifier`` pipeline got no page. These pages come from
the evaluation pass itself: the entities (ent style) for every head, and for a
head that stores entity confidences in ``doc.spans`` the same entities in span
style labelled with their score.
"""
from typing import Dict, Iterable, Optional

from spacy import displacy
from spacy.tokens import Doc, Span, SpanGroup

SCORED_KEY = "scored_entities"  # a throwaway span group on the rendered docs


def displacy_pages(docs: Iterable[Doc], *, limit: int = 10, spans_key: Optional[str] = None) -> Dict[str, str]:
    """``{"entities": html}`` and, with ``spans_key``, ``{"spans": html}`` for the first ``limit`` docs."""
    shown = [doc for _, doc in zip(range(limit), docs)]
    pages = {"entities": displacy.render(shown, style="ent", page=True, jupyter=False)}
    if spans_key:
        scored = [_scored_copy(doc, spans_key) for doc in shown]
        pages["spans"] = displacy.render(
            scored, style="span", page=True, jupyter=False, options={"spans_key": SCORED_KEY}
        )
    return pages


def _scored_copy(doc: Doc, spans_key: str) -> Doc:
    """A copy of ``doc`` whose span group labels each entity with its confidence ("PER 0.97")."""
    copy = doc.copy()
    group = doc.spans.get(spans_key)
    scores = group.attrs.get("scores", []) if group is not None else []
    spans = [
        Span(copy, span.start, span.end, label=f"{span.label_} {score:.2f}")
        for span, score in zip(group or [], scores)
    ]
    copy.spans[SCORED_KEY] = SpanGroup(copy, name=SCORED_KEY, spans=spans)
    return copy
