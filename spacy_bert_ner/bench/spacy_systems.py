"""Trained spaCy pipelines as benchmark systems: ``nlp.pipe`` over the documents' texts.

A pipeline runs with its transformer loaded as ``spacy-bert-ner.TransformerModel.v2``
(``precision.precision_overrides``): in length-sorted chunks or padded
(``chunk_size`` 0, spacy-transformers' own batching), in one precision (fp32,
bf16, int8, ONNX Runtime). Every spaCy system is scored against the gold
documents, so a precision that changes predictions reports its accuracy next
to its speed, and counts the positions its encoder computed.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config

from ..evaluation.metrics import HEADLINE_DEFINITION, example_counts, prf_from_counts
from ..evaluation.windows import window_label
from ..precision import ARCHITECTURE as PRECISION_ARCHITECTURE
from ..precision import Precision, precision_overrides, runners
from ..sorted_batches import ARCHITECTURE as SORTED_ARCHITECTURE
from ..sorted_batches import DEFAULT_CHUNK_SIZE
from ..util import find_transformer, hf_model, load_pipeline
from .compute import EncoderCalls, encoder_geometry
from .data import BenchData
from .records import EncoderSummary, Quality, SystemInfo, encoder_shape
from .timing import System

PathLike = Union[str, Path]
TRANSFORMER_ARCHITECTURES = ("spacy-transformers.TransformerModel.v3", SORTED_ARCHITECTURE)


def score_predictions(predicted: Sequence[Doc], gold: Sequence[Doc]) -> Quality:
    """Entity P/R/F1 of predicted Docs against the gold Docs, as `spacy evaluate` counts."""
    if len(predicted) != len(gold):
        raise ValueError(f"expected one prediction per gold doc, got {len(predicted)} vs {len(gold)}")
    counts, _ = example_counts([Example(pred, ref) for pred, ref in zip(predicted, gold)])
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    prf = prf_from_counts(tp, fp, fn)
    return {
        "precision": prf["precision"], "recall": prf["recall"], "f1": prf["f1"],
        "tp": tp, "fp": fp, "fn": fn, "definition": HEADLINE_DEFINITION,
    }


def transformer_summary(nlp: Language) -> EncoderSummary:
    """The first transformer component's encoder name, windows and size; {} without one."""
    found = find_transformer(nlp)
    if found is None:
        return {}
    name = found[0]
    model_config = nlp.config["components"][name]["model"]
    return {
        "config_name": model_config.get("name"),
        "windows": window_label(model_config.get("get_spans")),
        "inference_windows": window_label(model_config.get("inference_get_spans") or model_config.get("get_spans")),
        **encoder_shape(getattr(hf_model(nlp, name), "config", None)),
    }


def sorted_batches_override(pipeline_dir: PathLike, chunk_size: int) -> Dict[str, Any]:
    """Config overrides that run the pipeline's transformer with ``chunk_size``.

    > 0: length-sorted chunks (``spacy-bert-ner.TransformerModel.v1``); 0: every
    window padded to the batch's longest (spacy-transformers' own batching), whether
    the pipeline was saved with ``spacy-transformers.TransformerModel.v3`` or v1.
    """
    config = load_config(Path(pipeline_dir) / "config.cfg", interpolate=False)
    overrides: Dict[str, Any] = {}
    for name, component in config["components"].items():
        architecture = component.get("model", {}).get("@architectures")
        if component.get("factory") != "transformer" or architecture not in TRANSFORMER_ARCHITECTURES:
            continue
        if chunk_size > 0 or architecture == SORTED_ARCHITECTURE:
            overrides[f"components.{name}.model.@architectures"] = SORTED_ARCHITECTURE
            overrides[f"components.{name}.model.chunk_size"] = chunk_size
    return overrides


def batching_label(nlp: Language) -> str:
    """How the pipeline's transformer batches its windows, in words."""
    for name in nlp.pipe_names:
        model = nlp.config["components"][name].get("model", {})
        chunk_size = model.get("chunk_size", DEFAULT_CHUNK_SIZE)
        architecture = model.get("@architectures")
        if architecture in (SORTED_ARCHITECTURE, PRECISION_ARCHITECTURE) and chunk_size:
            return f"length-sorted chunks of {chunk_size} windows ({architecture})"
    return "spacy-transformers default (all windows of a batch padded to the longest)"


def spacy_system(
    name: str,
    pipeline_dir: PathLike,
    data: BenchData,
    *,
    batch_size: Optional[int] = None,
    precision: Precision = Precision(),
    chunk_size: int = 0,
) -> System:
    """``nlp.pipe`` over the documents' texts, the encoder in ``precision``; scored against the gold documents.

    chunk_size > 0: length-sorted chunks of that many windows; 0: every window
    of a batch padded to the longest (spacy-transformers' batching). Outputs
    on real wordpieces are the same either way.
    """
    pipeline_dir = Path(pipeline_dir)
    if not pipeline_dir.exists():
        raise FileNotFoundError(f"{pipeline_dir}: expected a trained spaCy pipeline folder")
    nlp = load_pipeline(pipeline_dir, config=precision_overrides(pipeline_dir, precision, chunk_size))
    calls = EncoderCalls()
    for runner in runners(nlp):
        runner.observers.append(calls.observe)
    size = batch_size or nlp.batch_size
    texts = data.texts
    gold = data.docs

    def run() -> List[Doc]:
        calls.reset()
        return list(nlp.pipe(texts, batch_size=size))

    def warm_up() -> Any:
        return list(nlp.pipe(texts[:1], batch_size=size))

    def details() -> Dict[str, Any]:
        built = [runner.info for runner in runners(nlp) if runner.info]
        return {"quantization": built[0] if len(built) == 1 else (built or None)}

    info: SystemInfo = {
        "kind": "spacy",
        "model": str(pipeline_dir),
        "components": list(nlp.pipe_names),
        "encoder": transformer_summary(nlp),
        "batch_size": size,
        "batch_unit": "docs (one Doc per document; the transformer cuts them into windows, see windows)",
        "input": "document text, spaCy tokenization",
        "precision": precision.label(),
        "device": str(getattr(hf_model(nlp), "device", "cpu")),
        "precision_settings": precision.config(),
        "transformer_batching": batching_label(nlp),
    }
    found = find_transformer(nlp)
    tokenizer = found[1].model.tokenizer if found is not None else None
    return System(name, run, warm_up, info, score=lambda docs: score_predictions(docs, gold), tokenizer=tokenizer,
                  calls=calls, geometry=encoder_geometry(getattr(hf_model(nlp), "config", None)), details=details)
