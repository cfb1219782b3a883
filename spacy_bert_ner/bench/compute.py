"""Distance to the machine's limit: the encoder's FLOPs per pass and this machine's matmul peak.

The encoder's work is counted from what it really ran: every call's
(rows, columns) including padding (:class:`EncoderCalls`, fed by the precision
runner of a spaCy pipeline or a forward pre-hook on an HF model), times the
FLOPs of one position at that call's sequence length (:func:`flops_per_position`,
from the HF config). The peak is measured in the same run
(:func:`measure_matmul_peak`): ``torch.matmul`` at the encoder's GEMM shapes
in fp32 (and bf16 where the CPU has it), and int8 as ``torch._int_mm`` and as
a dynamic-quantized ``Linear`` (activation quantization included).
"""
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .records import PEAK_SECONDS, PEAK_WINDOWS, ComputeRecord, EncoderGeometry, MatmulPeak, PeakRecord

DEFAULT_ROWS = 512  # GEMM rows when no encoder call was observed (4 windows of 128)
PEAK_KIND = {"fp32": "fp32", "bf16": "bf16", "int8": "int8", "onnx": "fp32", "onnx-int8": "int8"}


def encoder_geometry(config: Any) -> Optional[EncoderGeometry]:
    """Layers, hidden and intermediate width, heads of an HF config; None where a field is missing."""
    keys = {"layers": ("num_hidden_layers", "n_layers"), "hidden": ("hidden_size", "dim"),
            "intermediate": ("intermediate_size", "hidden_dim"), "heads": ("num_attention_heads", "n_heads")}
    values = {name: next((getattr(config, key) for key in options if getattr(config, key, None)), None)
              for name, options in keys.items()}
    if any(value is None for value in values.values()):
        return None
    return {name: int(value) for name, value in values.items()}  # type: ignore[return-value]


def flops_per_position(geometry: EncoderGeometry, sequence: int) -> float:
    """FLOPs (2 per multiply-add) of one position through the encoder's layers at sequence length ``sequence``.

    Per layer: Q, K, V and output projections (4 h^2 MACs), the feed-forward
    (2 h i), attention scores and their weighted sum (2 L h); embeddings,
    softmax, norms and activations are left out (a few percent at most).
    """
    h, i = geometry["hidden"], geometry["intermediate"]
    return 2.0 * geometry["layers"] * (4 * h * h + 2 * h * i + 2 * sequence * h)


@dataclass
class EncoderCalls:
    """(rows, columns, real positions) of every encoder call since the last :meth:`reset`."""

    calls: List[Tuple[int, int, int]] = field(default_factory=list)

    def reset(self) -> None:
        self.calls = []

    def observe(self, rows: int, columns: int, real: Optional[int] = None) -> None:
        self.calls.append((int(rows), int(columns), int(rows * columns if real is None else real)))

    def record(self, geometry: Optional[EncoderGeometry], seconds: float) -> ComputeRecord:
        """The last pass's work and the FLOP rate over ``seconds`` (the median pass)."""
        positions = sum(rows * columns for rows, columns, _ in self.calls)
        flops = sum(rows * columns * flops_per_position(geometry, columns) for rows, columns, _ in self.calls) if geometry else None
        return {
            "encoder_calls": len(self.calls),
            "positions_computed": positions,
            "positions_real": sum(real for _, _, real in self.calls),
            "mean_sequence": positions / sum(rows for rows, _, _ in self.calls) if self.calls else None,
            "encoder_flops_per_pass": flops,
            "achieved_flops_per_second": flops / seconds if flops is not None and seconds > 0 else None,
        }

    def median_rows(self) -> Optional[int]:
        """Median GEMM rows (positions) per call: the M of the peak's matmuls."""
        return int(statistics.median(rows * columns for rows, columns, _ in self.calls)) if self.calls else None


def hf_call_counter(model: Any, calls: EncoderCalls) -> Any:
    """A forward pre-hook on an HF model that feeds ``calls`` (input_ids shape, attention_mask sum)."""

    def hook(module: Any, args: Tuple, kwargs: Dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        mask = kwargs.get("attention_mask")
        calls.observe(ids.shape[0], ids.shape[1], int(mask.sum()) if mask is not None else None)

    return model.register_forward_pre_hook(hook, with_kwargs=True)


def _rate(step: Callable[[], Any], flops: float, sync: Callable[[], None]) -> float:
    """The best FLOP/s of ``step`` over PEAK_WINDOWS timed windows, after one warm-up call."""
    step()
    sync()
    return max(_window_rate(step, flops, sync) for _ in range(PEAK_WINDOWS))


def _window_rate(step: Callable[[], Any], flops: float, sync: Callable[[], None]) -> float:
    runs, started = 0, time.perf_counter()
    while True:
        step()
        runs += 1
        if runs % 8 == 0 or time.perf_counter() - started >= PEAK_SECONDS:
            sync()
            elapsed = time.perf_counter() - started
            if elapsed >= PEAK_SECONDS:
                return flops * runs / elapsed


def _kinds(torch: Any, bf16: bool, device: str) -> Dict[str, Callable[[int, int, int], Callable[[], Any]]]:
    def dense(dtype: Any) -> Callable[[int, int, int], Callable[[], Any]]:
        def build(m: int, k: int, n: int) -> Callable[[], Any]:
            a, b = torch.randn(m, k, device=device).to(dtype), torch.randn(k, n, device=device).to(dtype)
            return lambda: torch.matmul(a, b)
        return build

    def int_mm(m: int, k: int, n: int) -> Callable[[], Any]:
        a = torch.randint(-128, 127, (m, k), dtype=torch.int8, device=device)
        b = torch.randint(-128, 127, (k, n), dtype=torch.int8, device=device)
        return lambda: torch._int_mm(a, b)

    def dynamic_linear(m: int, k: int, n: int) -> Callable[[], Any]:
        with warnings.catch_warnings():  # torch.ao.quantization's deprecation notices
            warnings.simplefilter("ignore")
            from torch.ao.nn.quantized.dynamic import Linear

            layer = Linear(k, n, dtype=torch.qint8)
        x = torch.randn(m, k)
        return lambda: layer(x)

    kinds = {"fp32": dense(torch.float32), "int8_int_mm": int_mm}
    if device == "cpu":  # torch's dynamic quantization is CPU only
        kinds["int8_dynamic_linear"] = dynamic_linear
    if bf16:
        kinds["bf16"] = dense(torch.bfloat16)
    return kinds


def measure_matmul_peak(geometry: EncoderGeometry, rows: Optional[int], bf16: bool, device: str = "cpu") -> PeakRecord:
    """GFLOP/s of ``torch.matmul`` at the encoder's GEMM shapes, per kind, in this process's threads.

    Shapes: (rows x h) @ (h x h) (Q, K, V, output), (h x i) and (i x h) (feed-forward);
    ``encoder_mix`` is one layer's six GEMMs' FLOPs over their summed time, the
    figure systems are compared with. int8's reference is the faster of its two kinds.
    """
    import torch

    m = rows or DEFAULT_ROWS
    h, i = geometry["hidden"], geometry["intermediate"]
    shapes = {"h_h": ((m, h, h), 4), "h_i": ((m, h, i), 1), "i_h": ((m, i, h), 1)}
    kinds: Dict[str, MatmulPeak] = {}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        for kind, build in _kinds(torch, bf16, device).items():
            try:
                rates = {name: _rate(build(*shape), 2.0 * shape[0] * shape[1] * shape[2], sync)
                         for name, (shape, _) in shapes.items()}
            except (RuntimeError, NotImplementedError) as err:  # a kernel this build lacks
                kinds[kind] = {"error": f"{type(err).__name__}: {err}"}
                continue
            seconds = sum(count * 2.0 * m * s[1] * s[2] / rates[name] for name, (s, count) in shapes.items())
            flops = sum(count * 2.0 * m * s[1] * s[2] for _, (s, count) in shapes.items())
            kinds[kind] = {"gflops_per_second": {name: rate / 1e9 for name, rate in rates.items()},
                           "encoder_mix_gflops_per_second": flops / seconds / 1e9}
    reference = {"fp32": _mix(kinds, "fp32"), "bf16": _mix(kinds, "bf16"),
                 "int8": max(filter(None, (_mix(kinds, "int8_int_mm"), _mix(kinds, "int8_dynamic_linear"))), default=None)}
    return {"rows": m, "shapes": {name: list(shape) for name, (shape, _) in shapes.items()}, "device": device,
            "threads": torch.get_num_threads(), "kinds": kinds, "reference_gflops_per_second": reference}


def _mix(kinds: Dict[str, MatmulPeak], kind: str) -> Optional[float]:
    return kinds.get(kind, {}).get("encoder_mix_gflops_per_second")  # type: ignore[return-value]


def fraction_of_peak(compute: ComputeRecord, peak: PeakRecord, precision: str) -> Tuple[Optional[str], Optional[float]]:
    """``(reference kind, achieved / reference)`` for a system running in ``precision``."""
    kind = PEAK_KIND.get(precision, "fp32")
    reference = peak["reference_gflops_per_second"].get(kind)
    achieved = compute.get("achieved_flops_per_second")
    if not reference or achieved is None:
        return kind, None
    return kind, achieved / (reference * 1e9)
