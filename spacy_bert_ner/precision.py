"""The transformer's inference precision, chosen when a pipeline is loaded: fp32, bf16, int8, ONNX Runtime.

``spacy-bert-ner.TransformerModel.v2`` is ``spacy-bert-ner.TransformerModel.v1``
(length-sorted chunks, wordpiece limit) plus three settings that change how
the encoder runs when the pipeline PREDICTS; training, gradients and saving
always use the fp32 torch weights, so a saved pipeline stays as it was:

* ``precision``: ``fp32`` (default: outputs bit-identical to v1), ``bf16``
  (``torch.autocast`` with bfloat16, on a CPU with native bf16 instructions
  or a CUDA GPU), ``int8`` (``torch.ao.quantization.quantize_dynamic`` of the
  encoder's ``Linear`` layers, CPU), ``onnx`` (the encoder exported to ONNX and
  run by ONNX Runtime, CPU) or ``onnx-int8`` (that graph quantized with
  ``onnxruntime.quantization.quantize_dynamic``);
* ``fp32_modules``: ``fnmatch`` patterns of the encoder's ``Linear`` module
  names (``encoder.layer.5.output.dense``, ``*.output.dense``) that the int8
  modes leave in fp32 (``select-int8`` finds them on dev);
* ``int8_per_channel``: one int8 scale per output channel instead of one per
  weight matrix.

The lower-precision encoder is built from the loaded weights the first time the
pipeline predicts (int8 and ONNX need the weights; a pipeline reloaded or trained
further is rebuilt), and kept beside the fp32 module. Load a saved pipeline with
one: :func:`load_with_precision`, or ``spacy.load(path, config=overrides)`` with
:func:`precision_overrides` (dotted keys, which keep the rest of the block).
onnxruntime is imported only by the ONNX modes (``precision_backends``).
"""
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.util import load_config, registry
from thinc.api import Model
from thinc.layers.pytorchwrapper import forward as pytorch_forward

from .sorted_batches import DEFAULT_CHUNK_SIZE, build_sorted_transformer_model_v1, replace_forward, sorted_chunks_forward
from .util import load_pipeline

ARCHITECTURE = "spacy-bert-ner.TransformerModel.v2"
TRANSFORMER_ARCHITECTURES = (
    "spacy-transformers.TransformerModel.v3", "spacy-bert-ner.TransformerModel.v1", ARCHITECTURE,
)
PRECISIONS = ("fp32", "bf16", "int8", "onnx", "onnx-int8")
INT8_MODES = ("int8", "onnx-int8")
RUNNER_ATTR = "precision_runner"  # the node attr holding the PrecisionRunner (never serialized)
PathLike = Union[str, Path]
CallObserver = Callable[[int, int, int], None]  # (rows, columns, real wordpieces) of every encoder call


@dataclass(frozen=True)
class Precision:
    """How the encoder runs when predicting (see the module docstring)."""

    mode: str = "fp32"
    fp32_modules: Tuple[str, ...] = ()
    int8_per_channel: bool = False

    def __post_init__(self) -> None:
        if self.mode not in PRECISIONS:
            raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {self.mode!r}")
        object.__setattr__(self, "fp32_modules", tuple(self.fp32_modules))

    @property
    def is_int8(self) -> bool:
        return self.mode in INT8_MODES

    def label(self) -> str:
        """``int8 per-channel, fp32: *.output.dense`` and the like (what a report prints)."""
        parts = [self.mode]
        if self.is_int8:
            parts[0] += " per-channel" if self.int8_per_channel else " per-tensor"
            if self.fp32_modules:
                parts.append("fp32: " + " ".join(self.fp32_modules))
        return ", ".join(parts)

    def config(self) -> Dict[str, Any]:
        """The v2 architecture's settings for this precision."""
        return {"precision": self.mode, "fp32_modules": list(self.fp32_modules),
                "int8_per_channel": self.int8_per_channel}


def matching_linear_names(module: Any, patterns: Sequence[str]) -> Tuple[List[str], List[str]]:
    """``(to_quantize, kept_fp32)``: the module's ``torch.nn.Linear`` names, split by ``patterns``."""
    import torch

    names = [name for name, sub in module.named_modules() if isinstance(sub, torch.nn.Linear)]
    kept = [name for name in names if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]
    return [name for name in names if name not in kept], kept


@dataclass
class PrecisionRunner:
    """Runs the encoder's calls in one precision; builds its backend from the loaded weights when first needed.

    ``observers`` are called with (rows, columns, real wordpieces) of every
    encoder call (the benchmark counts the positions the encoder computed).
    """

    precision: Precision
    observers: List[CallObserver] = field(default_factory=list)
    backend: Any = None
    backend_of: Optional[int] = None  # id() of the torch module the backend was built from
    info: Dict[str, Any] = field(default_factory=dict)

    def __deepcopy__(self, memo: Dict[int, Any]) -> "PrecisionRunner":
        return PrecisionRunner(self.precision)  # a copied model builds its own backend

    def invalidate(self) -> None:
        """Forget the backend (the fp32 weights are changing: training)."""
        self.backend, self.backend_of = None, None

    def call(self, model: Model, wordpieces: Any, is_train: bool) -> Tuple[Any, Callable]:
        """One encoder call (one chunk of windows) in this precision."""
        for observer in self.observers:
            observer(*wordpieces.input_ids.shape, int(sum(wordpieces.lengths)))
        mode = self.precision.mode
        if is_train or mode == "fp32":
            return pytorch_forward(model, wordpieces, is_train)
        if mode == "bf16":
            output, backprop = pytorch_forward(model, wordpieces, is_train)
            return _to_float32(output), backprop
        inputs, _ = model.attrs["convert_inputs"](model, wordpieces, is_train)
        backend = self._backend(model.shims[0]._model, inputs.kwargs)
        output = backend(**inputs.kwargs)
        return model.attrs["convert_outputs"](model, (inputs, output), is_train)

    def _backend(self, module: Any, example: Dict[str, Any]) -> Any:
        if self.backend is None or self.backend_of != id(module):
            from . import precision_backends

            self.backend, self.info = precision_backends.build_backend(module, self.precision, example)
            self.backend_of = id(module)
        return self.backend

    def context(self, model: Model) -> Any:
        """What a predict call runs inside: autocast for bf16, nothing otherwise."""
        from contextlib import nullcontext

        if self.precision.mode != "bf16":
            return nullcontext()
        from . import precision_backends

        module = model.shims[0]._model
        if self.backend is None or self.backend_of != id(module):  # the backend is the device type, checked once
            self.backend, self.backend_of = precision_backends.check_bf16(module), id(module)
            self.info = {"autocast": f"torch.autocast({self.backend!r}, dtype=torch.bfloat16)"}
        return precision_backends.bf16_autocast(self.backend)


def _to_float32(output: Any) -> Any:
    import torch

    for key, value in list(output.items()):
        if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16:
            output[key] = value.float()
    return output


def precision_forward(runner: PrecisionRunner, chunk_size: int) -> Callable:
    """The HF layer's forward: the runner's calls, in length-sorted chunks when ``chunk_size`` > 0."""
    inner = sorted_chunks_forward(runner.call, chunk_size) if chunk_size else runner.call

    def forward(model: Model, wordpieces: Any, is_train: bool) -> Tuple[Any, Callable]:
        if is_train:
            runner.invalidate()
            return inner(model, wordpieces, is_train)
        with runner.context(model):  # one autocast region per batch: cast weights are reused across chunks
            return inner(model, wordpieces, is_train)

    return forward


@registry.architectures(ARCHITECTURE)
def build_precision_transformer_model_v2(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    inference_get_spans: Optional[Callable] = None,
    precision: str = "fp32",
    fp32_modules: List[str] = [],
    int8_per_channel: bool = False,
) -> Model:
    """``spacy-bert-ner.TransformerModel.v1`` whose encoder predicts in ``precision``.

    Same nodes, weights and serialization as v1 and v3: a pipeline saved with
    either loads into v2 and back. fp32 gives v1's outputs exactly.
    """
    settings = Precision(precision, tuple(fp32_modules), int8_per_channel)
    if chunk_size < 0:
        raise ValueError(f"chunk_size must be >= 0, got {chunk_size}")
    model = build_sorted_transformer_model_v1(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config,
        chunk_size=0, inference_get_spans=inference_get_spans,
    )
    runner = PrecisionRunner(settings)
    model.layers[0] = replace_forward(
        model.layers[0], precision_forward(runner, chunk_size), chunk_size=chunk_size, **{RUNNER_ATTR: runner}
    )
    return model


def precision_overrides(
    pipeline_dir: PathLike, precision: Precision, chunk_size: Optional[int] = None
) -> Dict[str, Any]:
    """``spacy.load`` config overrides (dotted keys) that run every transformer of the pipeline in ``precision``.

    chunk_size: None keeps the saved value (v1/v2) or v2's default (v3);
    0 pads every window to the batch's longest, as spacy-transformers does.
    """
    config = load_config(Path(pipeline_dir) / "config.cfg", interpolate=False)
    overrides: Dict[str, Any] = {}
    for name, component in config["components"].items():
        model = component.get("model", {})
        if component.get("factory") != "transformer" or model.get("@architectures") not in TRANSFORMER_ARCHITECTURES:
            continue
        prefix = f"components.{name}.model."
        overrides[prefix + "@architectures"] = ARCHITECTURE
        if chunk_size is not None:
            overrides[prefix + "chunk_size"] = chunk_size
        overrides.update({prefix + key: value for key, value in precision.config().items()})
    if not overrides:
        raise ValueError(f"{pipeline_dir}: no spacy-transformers transformer component to set a precision on")
    return overrides


def load_with_precision(
    path: PathLike,
    precision: Union[str, Precision] = "fp32",
    *,
    fp32_modules: Sequence[str] = (),
    int8_per_channel: bool = False,
    chunk_size: Optional[int] = None,
    **kwargs: Any,
) -> Language:
    """``spacy.load(path)`` with the transformer predicting in ``precision`` (one call).

    kwargs go to ``spacy.load``; a ``config`` given there is merged over the precision's.
    """
    settings = precision if isinstance(precision, Precision) else Precision(precision, tuple(fp32_modules), int8_per_channel)
    overrides = {**precision_overrides(path, settings, chunk_size), **kwargs.pop("config", {})}
    return load_pipeline(path, config=overrides, **kwargs)


def runners(nlp: Language) -> List[PrecisionRunner]:
    """The precision runners of the pipeline's transformers (v2 only), in pipeline order."""
    found = []
    for name in nlp.pipe_names:
        model = getattr(nlp.get_pipe(name), "model", None)
        layers = getattr(model, "layers", None) or []
        runner = layers[0].attrs.get(RUNNER_ATTR) if layers else None
        if isinstance(runner, PrecisionRunner):
            found.append(runner)
    return found
