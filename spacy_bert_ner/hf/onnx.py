"""ONNX export of a token_classifier pipeline (or an HF folder), checked with ONNX Runtime.

The graph is HF's ``AutoModelForTokenClassification`` built by
:func:`spacy_bert_ner.hf.spacy_to_hf.spacy_to_hf`: inputs are the tokenizer's
(``input_ids``, ``attention_mask`` and, where the model uses them,
``token_type_ids``), int64, shape [batch, sequence] with both axes dynamic;
the output is ``logits`` [batch, sequence, num_labels]. ``id2label`` is stored
in the model's metadata (``metadata_props``), so the file is self-describing.

Needs the ``onnx`` extra (``onnx``, ``onnxruntime``). Uses torch's TorchScript
exporter (``dynamo=False``), which needs no ``onnxscript``. Models over 2 GB
(the protobuf limit) are out of scope. The graph is built and checked in memory;
the file appears at the output path only once the parity check has passed.
"""
import io
import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy

from ..files import check_output, file_kind, write_file
from ..util import load_pipeline
from .interop import InteropError, PathLike, load_hf_token_classifier
from .records import OnnxSummary
from .spacy_to_hf import spacy_to_hf

DEFAULT_OPSET = 17
MIN_OPSET = 14
DEFAULT_ATOL = 1e-4
# Texts for the parity check: different lengths, so the batch is padded and the
# shapes differ from the ones the graph was traced with.
CHECK_TEXTS = (
    "Peter Blackburn visited Brussels on Monday .",
    "The European Commission said on Thursday it disagreed with German advice .",
    "Rare Hendrix song draft sells .",
)
# An ONNX ModelProto starts with field 1 (ir_version, a varint): the byte 0x08.
ONNX_FILE = file_kind("an ONNX model (.onnx) file", (".onnx",), (b"\x08",))
TRACE_TEXTS = ("EU rejects German call to boycott British lamb .", "Germany won .")


def _logits_only(model, input_names: Sequence[str]):
    """``model`` wrapped so the traced graph takes positional inputs and returns logits only."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):  # type: ignore[no-untyped-def]
            return self.model(**dict(zip(input_names, inputs))).logits

    return LogitsOnly().eval()


def load_for_export(source: PathLike, component: str = "token_classifier") -> Tuple[Any, Any]:
    """``(model, tokenizer)`` from a spaCy pipeline folder (config.cfg) or an HF folder (config.json)."""
    source = Path(source)
    if (source / "config.cfg").is_file():
        return spacy_to_hf(load_pipeline(source), component)
    if (source / "config.json").is_file():
        return load_hf_token_classifier(source)
    raise InteropError(
        f"{source}: expected a spaCy pipeline folder (config.cfg) or a HuggingFace folder (config.json)"
    )


def _input_names(model, tokenizer) -> List[str]:
    names = [name for name in tokenizer.model_input_names
             if name in ("input_ids", "attention_mask", "token_type_ids")]
    if "token_type_ids" in names and getattr(model.config, "type_vocab_size", 0) in (0, None):
        names.remove("token_type_ids")
    if names[:1] != ["input_ids"]:
        names = ["input_ids"] + [name for name in names if name != "input_ids"]
    return names


def _encode(tokenizer, texts: Sequence[str], names: Sequence[str]) -> Dict[str, numpy.ndarray]:
    encoding = tokenizer(list(texts), padding=True, truncation=True, return_tensors="np")
    return {name: numpy.asarray(encoding[name], dtype="int64") for name in names}


def export_onnx(
    source: PathLike,
    output_path: PathLike,
    *,
    component: str = "token_classifier",
    opset: int = DEFAULT_OPSET,
    atol: float = DEFAULT_ATOL,
    check_texts: Optional[Sequence[str]] = None,
    force: bool = False,
) -> OnnxSummary:
    """Export ``source`` to ``output_path`` and check ONNX Runtime against PyTorch.

    Raises ``ValueError`` when the largest logit difference on ``check_texts``
    (real, unpadded positions) exceeds ``atol``; nothing is written then, and a
    previous file at ``output_path`` stays as it was. An existing non-empty
    ``output_path`` that is not an ONNX file is refused unless ``force``.
    Returns a summary with the inputs, labels, opset and the measured difference.
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401  (the parity check below needs it)
    except ImportError as err:
        raise ImportError(
            f"export-onnx needs onnx and onnxruntime ({err}); pip install 'spacy_bert_ner[onnx]'"
        ) from err
    import torch

    if opset < MIN_OPSET:
        raise ValueError(f"expected opset >= {MIN_OPSET}, got {opset}")
    check_output(output_path, ONNX_FILE, inputs=[source], force=force)
    model, tokenizer = load_for_export(source, component)
    model = model.eval()
    names = _input_names(model, tokenizer)
    trace_inputs = _encode(tokenizer, TRACE_TEXTS, names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch", 1: "sequence"}
    graph = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter's deprecation notice, and tracer notes on constants
        # that HF's mask code creates (they are constants; the graph is checked below)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            _logits_only(model, names),
            tuple(torch.from_numpy(trace_inputs[name]) for name in names),
            graph,
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx_model = onnx.load_model_from_string(graph.getvalue())
    onnx.checker.check_model(onnx_model)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    onnx.helper.set_model_props(
        onnx_model,
        {"id2label": json.dumps(id2label), "inputs": json.dumps(names),
         "architecture": type(model).__name__},
    )
    data = onnx_model.SerializeToString()
    texts = list(check_texts) if check_texts is not None else list(CHECK_TEXTS)
    diff = max_logit_difference(data, model, tokenizer, texts)
    if not diff <= atol:
        raise ValueError(
            f"ONNX Runtime logits differ from PyTorch by {diff:.3g} (expected <= {atol:g}); "
            f"did not write {output_path}"
        )
    write_file(output_path, data, ONNX_FILE, inputs=[source], force=force)
    return OnnxSummary(
        output=str(output_path),
        inputs=names,
        labels=[id2label[i] for i in sorted(id2label)],
        opset=opset,
        max_abs_diff=diff,
        atol=atol,
        check_texts=len(texts),
    )


def max_logit_difference(onnx_model: Union[PathLike, bytes], model, tokenizer, texts: Sequence[str]) -> float:
    """Largest |ONNX Runtime - PyTorch| logit over the real (unpadded) positions of ``texts``.

    onnx_model: an .onnx path or the serialized model's bytes.
    """
    import onnxruntime
    import torch

    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    inputs = _encode(tokenizer, texts, names)
    (onnx_logits,) = session.run(["logits"], inputs)
    with torch.no_grad():
        torch_logits = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    real = inputs["attention_mask"].astype(bool) if "attention_mask" in inputs else numpy.ones(
        onnx_logits.shape[:2], dtype=bool
    )
    return float(numpy.abs(onnx_logits - torch_logits)[real].max())
