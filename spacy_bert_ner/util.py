"""Small lookups on a pipeline and its docs that the core and the tools share (one home each)."""
from typing import Any, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc

TRANSFORMER_FACTORY = "transformer"
TOKEN_CLASSIFIER_FACTORY = "token_classifier"


def transformer_names(nlp: Language) -> List[str]:
    """Names of the pipeline's spacy-transformers components, in pipeline order."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == TRANSFORMER_FACTORY]


def find_transformer(nlp: Language, name: Optional[str] = None) -> Optional[Tuple[str, Any]]:
    """``(name, pipe)`` of the named (default: first) transformer component, or None."""
    names = transformer_names(nlp)
    if name is not None:
        if name not in names:
            raise ValueError(f"{name!r} is not a transformer component; the pipeline has {names or 'none'}")
        names = [name]
    return (names[0], nlp.get_pipe(names[0])) if names else None


def hf_model(nlp: Language, name: Optional[str] = None) -> Optional[Any]:
    """The HuggingFace torch module inside the (first) transformer component, or None.

    ``TransformerModel.transformer`` is spacy-transformers' public accessor for it.
    """
    found = find_transformer(nlp, name)
    return None if found is None else getattr(found[1].model, "transformer", None)


def sentence_bounds(doc: Doc) -> List[Tuple[int, int]]:
    """``(start, end)`` token offsets of each non-empty sentence; the whole doc without sentence starts."""
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents if sent.end > sent.start]
    return [(0, len(doc))] if len(doc) else []


def scores_key(nlp: Language) -> Optional[str]:
    """The ``doc.spans`` key where a ``token_classifier`` stores entity confidences, if any."""
    for name in nlp.pipe_names:
        if nlp.get_pipe_meta(name).factory == TOKEN_CLASSIFIER_FACTORY:
            key = nlp.get_pipe(name).cfg.get("spans_key")
            if key:
                return key
    return None
