"""Small lookups on a pipeline and its docs that the core and the tools share (one home each)."""
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc

TRANSFORMER_FACTORY = "transformer"
TOKEN_CLASSIFIER_FACTORY = "token_classifier"


def to_host(array: Any) -> numpy.ndarray:
    """numpy view of a numpy/CuPy array (or anything array-like)."""
    if type(array).__module__.split(".")[0] == "cupy":
        return array.get()
    return numpy.asarray(array)


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


def load_pipeline(path: Union[str, Path], **kwargs: Any) -> Language:
    """``spacy.load(path, **kwargs)``; when it fails on a damaged file, the error names that file.

    spacy-transformers' ``Transformer.from_disk`` reports a cut or corrupt
    weights file as a bare "Unpack failed"; here every component's ``model``
    file is then checked (msgpack) and the first unreadable one is named.
    """
    try:
        return spacy.load(path, **kwargs)
    except Exception as err:  # noqa: BLE001 - re-raised, with the damaged file named where one is found
        damaged = _unreadable_model_file(Path(path))
        if damaged is None:
            raise
        raise ValueError(
            f"{damaged[0]}: cannot be read ({damaged[1]}); the pipeline's weights are damaged or cut "
            "short: copy or train the pipeline again"
        ) from err


def _unreadable_model_file(pipeline_dir: Path) -> Optional[Tuple[Path, str]]:
    if not pipeline_dir.is_dir():
        return None
    for model_file in sorted(pipeline_dir.glob("*/model")):
        try:
            srsly.msgpack_loads(model_file.read_bytes())
        except Exception as err:  # noqa: BLE001 - any failure to parse means the file is damaged
            return model_file, f"{type(err).__name__}: {err}"
    return None
