"""Choose a trained pipeline's inference windows on dev: F1 and time per setting.

A spacy-transformers pipeline cuts each document into windows: strided ones,
whose overlap (``window - stride``) gives tokens near a window edge context on
both sides and costs encoder work, or whole sentences packed into windows
without overlap (``span_getters``). ``spacy-bert-ner.TransformerModel.v1`` can
predict on other windows than it trained on (``inference_get_spans``). This
module scores one pipeline under several inference windows, each loaded through
a config override, so the choice is made on dev with its numbers saved.
"""
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import spacy
from spacy.training import Corpus
from spacy.util import load_config

from ..bench.env import hardware_info
from ..bench.timing import Progress, silent
from ..sorted_batches import ARCHITECTURE as SORTED_ARCHITECTURE
from ..span_getters import SENTENCE_GETTER
from ..util import TRANSFORMER_FACTORY
from .metrics import example_counts, prf_from_counts
from .pipeline_eval import CapturingScorer, require_inputs

STRIDED_SPANS = "spacy-transformers.strided_spans.v1"
SENTENCES_PREFIX = "sentences:"


def parse_window(value: str) -> Tuple[int, Optional[int]]:
    """``"160/128"`` -> ``(160, 128)``, strided windows with window >= stride >= 1;
    ``"sentences:160"`` -> ``(160, None)``, sentences packed into windows of <= 160 tokens."""
    if value.startswith(SENTENCES_PREFIX):
        try:
            window = int(value[len(SENTENCES_PREFIX):])
        except ValueError:
            raise ValueError(f"window {value!r}: expected {SENTENCES_PREFIX}WINDOW, e.g. {SENTENCES_PREFIX}160") from None
        if window < 1:
            raise ValueError(f"window {value!r}: need window >= 1")
        return window, None
    try:
        window, stride = (int(part) for part in value.split("/"))
    except ValueError:
        raise ValueError(
            f"window {value!r}: expected WINDOW/STRIDE (e.g. 160/128) or {SENTENCES_PREFIX}WINDOW"
        ) from None
    if not 1 <= stride <= window:
        raise ValueError(f"window {value!r}: need 1 <= stride <= window")
    return window, stride


def span_getter_config(window: int, stride: Optional[int]) -> Dict[str, Any]:
    """The span getter block for strided windows, or sentence windows when ``stride`` is None."""
    if stride is None:
        return {"@span_getters": SENTENCE_GETTER, "window": window}
    return {"@span_getters": STRIDED_SPANS, "window": window, "stride": stride}


def saved_transformer_names(pipeline_dir: Union[str, Path]) -> List[str]:
    """Names of the transformer components of a SAVED pipeline, read from its ``config.cfg``
    without loading it (``util.transformer_names`` does the same for a loaded ``nlp``)."""
    config = load_config(Path(pipeline_dir) / "config.cfg", interpolate=False)
    return [name for name, block in config["components"].items() if block.get("factory") == TRANSFORMER_FACTORY]


def window_label(getter: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The :func:`parse_window` text of a span getter's config ("160/128", "sentences:128"),
    else its registered name; None without a getter."""
    if not getter:
        return None
    name = getter.get("@span_getters")
    if name == SENTENCE_GETTER and "window" in getter:
        return f"{SENTENCES_PREFIX}{getter['window']}"
    if "window" in getter and "stride" in getter:
        return f"{getter['window']}/{getter['stride']}"
    return name


def window_override(component: str, window: int, stride: Optional[int]) -> Dict[str, Any]:
    """Config overrides that make ``component`` predict on the windows :func:`span_getter_config` names."""
    return {
        f"components.{component}.model.@architectures": SORTED_ARCHITECTURE,
        f"components.{component}.model.inference_get_spans": span_getter_config(window, stride),
    }


def score_windows(
    pipeline_dir: Union[str, Path], data_path: Union[str, Path], windows: Sequence[Tuple[int, Optional[int]]],
    progress: Progress = silent,
) -> Dict[str, Any]:
    """F1 (``spacy evaluate``'s counting) and seconds of one pass per inference window.

    The data is read as ``spacy evaluate`` reads it; each setting loads the
    pipeline afresh with :func:`window_override` and times ``nlp.evaluate``.
    ``progress`` gets a line before and after each setting's pass (never inside it).
    """
    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    components = saved_transformer_names(pipeline_dir)
    if not components:
        raise ValueError(f"{pipeline_dir}: the pipeline has no transformer component")
    settings = []
    for number, (window, stride) in enumerate(windows, 1):
        overrides: Dict[str, Any] = {}
        for component in components:
            overrides.update(window_override(component, window, stride))
        getter = span_getter_config(window, stride)
        label = f"windows: {window_label(getter)} (setting {number}/{len(windows)})"
        progress(f"{label}: loading the pipeline and running one pass")
        nlp = spacy.load(pipeline_dir, config=overrides)
        scores = _score_once(nlp, data_path)
        progress(f"{label}: F1 {100 * scores['f1']:.2f}, {scores['seconds']:.1f} s")
        settings.append({"window": window, "stride": stride, "getter": getter["@span_getters"], **scores})
    return {
        "pipeline": str(pipeline_dir), "data": str(data_path), "components": components,
        "settings": settings, "hardware": hardware_info(),
        "definition": (
            "f1: entities as spacy evaluate counts them (micro P/R/F1 over the data); seconds: "
            "tokenization + nlp.pipe of one nlp.evaluate pass with the pipeline loaded under "
            "inference_get_spans = strided_spans(window, stride), or sentence_windows(window) where stride "
            "is null; the training windows are unchanged"
        ),
    }


def _score_once(nlp: Any, data_path: Path) -> Dict[str, Any]:
    """P/R/F1, spaCy's ents_f and the seconds of one timed ``nlp.evaluate`` pass."""
    examples = list(Corpus(data_path, gold_preproc=False)(nlp))
    scorer = CapturingScorer(nlp)
    started = time.perf_counter()
    spacy_scores = nlp.evaluate(examples, scorer=scorer)  # type: ignore[arg-type]
    seconds = (scorer.done_at or time.perf_counter()) - started
    counts, _ = example_counts(scorer.examples)
    tp, fp, fn = (int(value) for value in counts.sum(axis=0))
    return {**prf_from_counts(tp, fp, fn), "spacy_ents_f": spacy_scores.get("ents_f"), "seconds": seconds}
