"""The lower-precision encoders behind ``precision.PrecisionRunner``: bf16 autocast, torch int8, ONNX Runtime.

Each backend is built from the loaded fp32 torch module and leaves it as it
was (training and saving use it): the int8 copy shares every tensor with it
but its quantized ``Linear`` layers, the ONNX session holds its own graph.
onnxruntime (and onnx) are imported here only, and only by the ONNX modes.
"""
import copy
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from .precision import Precision, matching_linear_names

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
ONNX_OPSET = 17


def cpu_flags() -> List[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return []
    for line in cpuinfo.read_text(encoding="utf8", errors="replace").splitlines():
        if line.startswith("flags") and ":" in line:
            return line.split(":", 1)[1].split()
    return []


def bf16_cpu_support() -> Tuple[bool, str]:
    """Whether this CPU runs bf16 matmuls natively, and why (oneDNN's check, the cpuinfo flags)."""
    import torch

    flags = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
    onednn = torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if onednn and flags:
        return True, f"oneDNN bf16 supported; CPU flags {', '.join(flags)}"
    return False, f"no native bf16 on this CPU (oneDNN bf16: {onednn}; flags {BF16_CPU_FLAGS} present: {flags or 'none'})"


def check_bf16(module: Any) -> str:
    """The device type bf16 autocast runs on for ``module``; ValueError where bf16 would be emulated."""
    import torch

    device = next(module.parameters()).device.type
    if device == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ValueError("precision bf16: this GPU does not support bfloat16")
        return device
    supported, reason = bf16_cpu_support()
    if not supported:
        raise ValueError(f"precision bf16: {reason}; use fp32 or int8")
    return device


def bf16_autocast(device: str) -> Any:
    import torch

    return torch.autocast(device, dtype=torch.bfloat16)


def build_backend(module: Any, precision: Precision, example: Dict[str, Any]) -> Tuple[Any, Dict[str, Any]]:
    """``(callable(**inputs) -> model output, info)`` for an int8 or ONNX mode, built from ``module``."""
    if next(module.parameters()).device.type != "cpu":
        raise ValueError(f"precision {precision.mode}: runs on CPU only; load the pipeline without a GPU or use bf16")
    if precision.mode == "int8":
        return int8_copy(module, precision)
    if precision.mode in ("onnx", "onnx-int8"):
        encoder = OnnxEncoder(module, precision, example)
        return encoder, encoder.info
    raise ValueError(f"precision {precision.mode}: no separate backend")


def int8_copy(module: Any, precision: Precision) -> Tuple[Any, Dict[str, Any]]:
    """A copy of ``module`` whose ``Linear`` layers (but those matching ``fp32_modules``) are dynamic int8.

    The copy shares every parameter and buffer with ``module``; only the
    quantized layers' packed int8 weights are new.
    """
    import torch

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao (not installed).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

        quantized, kept = matching_linear_names(module, precision.fp32_modules)
        qconfig = per_channel_dynamic_qconfig if precision.int8_per_channel else default_dynamic_qconfig
        shared = {id(tensor): tensor for tensor in list(module.parameters()) + list(module.buffers())}
        twin = copy.deepcopy(module, shared).eval()
        if quantized:
            quantize_dynamic(twin, {name: qconfig for name in quantized}, dtype=torch.qint8, inplace=True)
    return twin, {
        "method": "torch.ao.quantization.quantize_dynamic",
        "dtype": "qint8",
        "weights": "per-channel" if precision.int8_per_channel else "per-tensor",
        "n_linear_quantized": len(quantized),
        "fp32_linear": kept,
        "engine": torch.backends.quantized.engine,
    }


class OnnxEncoder:
    """The encoder as an ONNX Runtime session: called with the torch inputs, returns the torch output type."""

    def __init__(self, module: Any, precision: Precision, example: Dict[str, Any]) -> None:
        import onnxruntime
        import torch

        self.input_names = list(example)
        module = module.eval()
        with torch.inference_mode():
            reference = module(**example)
        self.output_type = type(reference)
        self.output_names = [key for key, value in reference.items() if isinstance(value, torch.Tensor)]
        graph = export_graph(module, self.input_names, self.output_names, example)
        excluded: List[str] = []
        n_quantized = 0
        if precision.mode == "onnx-int8":
            graph, n_quantized, excluded = quantize_graph(graph, module, precision)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.info: Dict[str, Any] = {
            "method": "torch.onnx.export (TorchScript, opset %d) + onnxruntime.InferenceSession" % ONNX_OPSET,
            "onnxruntime": onnxruntime.__version__,
            "providers": self.session.get_providers(),
            "intra_op_num_threads": options.intra_op_num_threads,
        }
        if precision.mode == "onnx-int8":
            self.info.update({
                "quantization": "onnxruntime.quantization.quantize_dynamic (QInt8 weights, "
                + ("per-channel)" if precision.int8_per_channel else "per-tensor)"),
                "n_nodes_quantized": n_quantized,
                "fp32_nodes": excluded,
            })

    def __call__(self, **inputs: Any) -> Any:
        import numpy
        import torch

        feed = {name: numpy.ascontiguousarray(inputs[name].cpu().numpy()) for name in self.input_names}
        outputs = self.session.run(self.output_names, feed)
        return self.output_type(**{name: torch.from_numpy(value) for name, value in zip(self.output_names, outputs)})


def export_graph(module: Any, input_names: Sequence[str], output_names: Sequence[str], example: Dict[str, Any]) -> bytes:
    """``module`` as a serialized ONNX graph, batch and sequence axes dynamic."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, *inputs):  # type: ignore[no-untyped-def]
            output = self.module(**dict(zip(input_names, inputs)))
            return tuple(output[name] for name in output_names)

    axes: Dict[str, Dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in input_names}
    for name in output_names:
        axes[name] = {0: "batch", 1: "sequence"} if name == "last_hidden_state" else {0: "batch"}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            Positional().eval(), tuple(example[name] for name in input_names), buffer,
            input_names=list(input_names), output_names=list(output_names), dynamic_axes=axes,
            opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False,
        )
    return buffer.getvalue()


def quantize_graph(graph: bytes, module: Any, precision: Precision) -> Tuple[bytes, int, List[str]]:
    """The graph with its MatMul/Gemm nodes dynamically quantized to int8, but those of ``fp32_modules``.

    A node belongs to a ``Linear`` module when its scope name (``/encoder/layer.0/output/dense/MatMul``)
    read with dots contains the module's name.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_model_from_string(graph)
    _, kept = matching_linear_names(module, precision.fp32_modules)
    matmuls = [node.name for node in model.graph.node if node.op_type in ("MatMul", "Gemm")]
    excluded = [name for name in matmuls if any(f".{linear}." in name.replace("/", ".") + "." for linear in kept)]
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "encoder.onnx", Path(tmp) / "encoder.int8.onnx"
        source.write_bytes(graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                source, target, weight_type=QuantType.QInt8, per_channel=precision.int8_per_channel,
                nodes_to_exclude=excluded, op_types_to_quantize=["MatMul", "Gemm"],
            )
        quantized = onnx.load(str(target))
    n_quantized = sum(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in quantized.graph.node)
    return quantized.SerializeToString(), n_quantized, excluded
