"""Trained spaCy pipelines as benchmark systems: ``nlp.pipe`` over the documents' texts.

A pipeline runs as saved, or with its transformer in length-sorted chunks
(:func:`sorted_batches_override`, see ``sorted_batches``), or with the
transformer's ``Linear`` layers quantized to int8 (:func:`quantize_transformer`).
Every spaCy system is scored against the gold documents, so a variant that
changes predictions (int8) reports its accuracy next to its speed.
"""
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config

from ..evaluation.metrics import HEADLINE_DEFINITION, example_counts, prf_from_counts
from ..evaluation.windows import window_label
from ..sorted_batches import ARCHITECTURE as SORTED_ARCHITECTURE
from ..sorted_batches import DEFAULT_CHUNK_SIZE
from ..util import find_transformer, hf_model, load_pipeline, transformer_names
from .data import BenchData
from .records import EncoderSummary, Quality, Quantization, SystemInfo, encoder_shape
from .timing import System

PathLike = Union[str, Path]
TRANSFORMER_ARCHITECTURES = ("spacy-transformers.TransformerModel.v3", SORTED_ARCHITECTURE)


def quantize_transformer(nlp: Language) -> Quantization:
    """Quantize the ``Linear`` layers of every ``transformer`` component to int8, in place.

    Dynamic quantization (``torch.ao.quantization.quantize_dynamic``, qint8
    weights, activations quantized per batch at run time), CPU only. The
    component keeps working through spacy-transformers as before. It changes
    the predictions slightly: measure accuracy next to speed. In memory only;
    do not ``nlp.to_disk`` the result. Returns what was done.
    Raises ValueError when the pipeline has no transformer component.
    """
    import torch

    components = []
    n_linear = 0
    for name in transformer_names(nlp):
        module = hf_model(nlp, name)
        if module is None:
            continue
        n_linear += sum(isinstance(m, torch.nn.Linear) for m in module.modules())
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao (not installed).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic

            quantize_dynamic(module.eval(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        components.append(name)
    if not components:
        raise ValueError(f"no transformer component to quantize in pipeline {nlp.pipe_names}")
    return {
        "method": "torch.ao.quantization.quantize_dynamic",
        "dtype": "qint8",
        "modules": "torch.nn.Linear",
        "n_linear_quantized": n_linear,
        "components": components,
        "engine": torch.backends.quantized.engine,
    }


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
        if model.get("@architectures") == SORTED_ARCHITECTURE and chunk_size:
            return f"length-sorted chunks of {chunk_size} windows ({SORTED_ARCHITECTURE})"
    return "spacy-transformers default (all windows of a batch padded to the longest)"


def spacy_system(
    name: str,
    pipeline_dir: PathLike,
    data: BenchData,
    *,
    batch_size: Optional[int] = None,
    int8: bool = False,
    chunk_size: int = 0,
) -> System:
    """``nlp.pipe`` over the documents' texts; scored against the gold documents.

    chunk_size > 0 runs a transformer saved as ``spacy-transformers.TransformerModel.v3``
    as ``spacy-bert-ner.TransformerModel.v1`` (length-sorted chunks, same weights and outputs).
    """
    pipeline_dir = Path(pipeline_dir)
    if not pipeline_dir.exists():
        raise FileNotFoundError(f"{pipeline_dir}: expected a trained spaCy pipeline folder")
    nlp = load_pipeline(pipeline_dir, config=sorted_batches_override(pipeline_dir, chunk_size))
    quantization = quantize_transformer(nlp) if int8 else None
    size = batch_size or nlp.batch_size
    texts = data.texts
    gold = data.docs

    def run() -> List[Doc]:
        return list(nlp.pipe(texts, batch_size=size))

    def warm_up() -> Any:
        return list(nlp.pipe(texts[:1], batch_size=size))

    info: SystemInfo = {
        "kind": "spacy",
        "model": str(pipeline_dir),
        "components": list(nlp.pipe_names),
        "encoder": transformer_summary(nlp),
        "batch_size": size,
        "batch_unit": "docs (one Doc per document; the transformer cuts them into windows, see windows)",
        "input": "document text, spaCy tokenization",
        "precision": "int8 dynamic (transformer Linear layers)" if int8 else "fp32",
        "quantization": quantization,
        "transformer_batching": batching_label(nlp),
    }
    found = find_transformer(nlp)
    tokenizer = found[1].model.tokenizer if found is not None else None
    return System(name, run, warm_up, info, score=lambda docs: score_predictions(docs, gold), tokenizer=tokenizer)
