"""Choose a trained pipeline's inference windows on dev: F1 and time per window/stride.

A spacy-transformers pipeline cuts each document into strided windows; the
overlap (``window - stride``) gives tokens near a window edge context on both
sides, and costs encoder work. ``spacy-bert-ner.TransformerModel.v1`` can
predict on other windows than it trained on (``inference_get_spans``). This
module scores one pipeline under several inference windows, each loaded through
a config override, so the choice is made on dev with its numbers saved.
"""
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

from .evaluation import CapturingScorer, example_counts, prf_from_counts, require_inputs
from .sorted_batches import ARCHITECTURE as SORTED_ARCHITECTURE

STRIDED_SPANS = "spacy-transformers.strided_spans.v1"


def parse_window(value: str) -> Tuple[int, int]:
    """``"160/128"`` -> ``(160, 128)``; window >= stride >= 1."""
    try:
        window, stride = (int(part) for part in value.split("/"))
    except ValueError:
        raise ValueError(f"window {value!r}: expected WINDOW/STRIDE, e.g. 160/128") from None
    if not 1 <= stride <= window:
        raise ValueError(f"window {value!r}: need 1 <= stride <= window")
    return window, stride


def transformer_names(pipeline_dir: Union[str, Path]) -> List[str]:
    """Names of the pipeline's transformer components, read from its saved config."""
    from spacy.util import load_config

    config = load_config(Path(pipeline_dir) / "config.cfg", interpolate=False)
    return [name for name, block in config["components"].items() if block.get("factory") == "transformer"]


def window_override(component: str, window: int, stride: int) -> Dict[str, Any]:
    """Config overrides that make ``component`` predict on ``window``/``stride`` windows."""
    return {
        f"components.{component}.model.@architectures": SORTED_ARCHITECTURE,
        f"components.{component}.model.inference_get_spans": {
            "@span_getters": STRIDED_SPANS, "window": window, "stride": stride,
        },
    }


def score_windows(
    pipeline_dir: Union[str, Path], data_path: Union[str, Path], windows: Sequence[Tuple[int, int]],
) -> Dict[str, Any]:
    """F1 (``spacy evaluate``'s counting) and seconds of one pass per inference window.

    The data is read as ``spacy evaluate`` reads it; each setting loads the
    pipeline afresh with :func:`window_override` and times ``nlp.evaluate``.
    """
    import spacy

    from .benchmark_utils import hardware_info

    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    components = transformer_names(pipeline_dir)
    if not components:
        raise ValueError(f"{pipeline_dir}: the pipeline has no transformer component")
    settings = []
    for window, stride in windows:
        overrides: Dict[str, Any] = {}
        for component in components:
            overrides.update(window_override(component, window, stride))
        nlp = spacy.load(pipeline_dir, config=overrides)
        settings.append({"window": window, "stride": stride, **_score_once(nlp, data_path)})
    return {
        "pipeline": str(pipeline_dir), "data": str(data_path), "components": components,
        "settings": settings, "hardware": hardware_info(),
        "definition": (
            "f1: entities as spacy evaluate counts them (micro P/R/F1 over the data); seconds: "
            "tokenization + nlp.pipe of one nlp.evaluate pass with the pipeline loaded under "
            "inference_get_spans = strided_spans(window, stride); the training windows are unchanged"
        ),
    }


def _score_once(nlp: Any, data_path: Path) -> Dict[str, Any]:
    """P/R/F1, spaCy's ents_f and the seconds of one timed ``nlp.evaluate`` pass."""
    from spacy.training import Corpus

    examples = list(Corpus(data_path, gold_preproc=False)(nlp))
    scorer = CapturingScorer(nlp)
    started = time.perf_counter()
    spacy_scores = nlp.evaluate(examples, scorer=scorer)  # type: ignore[arg-type]
    seconds = (scorer.done_at or time.perf_counter()) - started
    counts, _ = example_counts(scorer.examples)
    tp, fp, fn = (int(value) for value in counts.sum(axis=0))
    return {**prf_from_counts(tp, fp, fn), "spacy_ents_f": spacy_scores.get("ents_f"), "seconds": seconds}
