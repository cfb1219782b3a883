"""The speed report on disk: ``speed.json``, a Markdown table (``speed.md``) and a bar chart (``speed.png``).

Rendering reads only the report record (:class:`~.records.SpeedReport`), so a
JSON written by an earlier run renders the same. matplotlib is imported only
when a chart is drawn.
"""
import io
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from wasabi import MarkdownRenderer

from ..files import write_bytes_atomic, write_json_atomic

PathLike = Union[str, Path]
OUTPUT_NAMES = {"json": "speed.json", "markdown": "speed.md", "png": "speed.png"}
SYSTEM_HEADER = ("System", "words/s", "wordpieces/s", "median s/pass", "passes (s)", "entity F1",
                 "encoder GFLOP/s", "of peak", "peak RSS MB", "threads", "batch")
SYSTEM_ALIGNS = ("l", "r", "r", "r", "l", "r", "r", "r", "r", "r", "l")
TRAINING_HEADER = ("System", "seconds", "epochs", "s/epoch", "clock")


def _fmt(value: Any, pattern: str = "{:,.0f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _unit(batch_unit: Optional[str]) -> str:
    return (batch_unit or "").split(" ")[0].strip(",;")


def _scaled(value: Optional[float], factor: float) -> Optional[float]:
    return None if value is None else value * factor


def _system_rows(systems: Mapping[str, Mapping[str, Any]]) -> Iterator[List[str]]:
    for name, entry in systems.items():
        quality = entry.get("quality")
        yield [
            name, _fmt(entry["words_per_second"]), _fmt(entry["wordpieces_per_second"]),
            f"{entry['seconds_median']:.3f}", ", ".join(f"{s:.2f}" for s in entry["seconds_all"]),
            _fmt(quality["f1"] * 100, "{:.2f}") if quality else "n/a (random head)",
            _fmt(_scaled((entry.get("compute") or {}).get("achieved_flops_per_second"), 1e-9), "{:,.1f}"),
            _fmt(entry.get("fraction_of_peak"), "{:.0%}") + (f" {entry['peak_kind']}" if entry.get("fraction_of_peak") else ""),
            _fmt(entry.get("peak_rss_mb")), str(entry.get("threads")),
            f"{entry.get('batch_size')} {_unit(entry.get('batch_unit'))}",
        ]


def _training_blocks(md: MarkdownRenderer, training: Mapping[str, Any]) -> List[str]:
    rows = [
        [name, _fmt(entry["seconds"]), _fmt(entry["epochs"], "{:.2f}"), _fmt(entry["seconds_per_epoch"]), entry["what"]]
        for name, entry in training["systems"].items()
    ]
    notes = [f"{key}: {value:.2f}x seconds per epoch" for key, value in training["ratios"].items()]
    notes += [f"warning: {w}" for w in training.get("warnings", [])]
    blocks = [md.title(2, "Training"), md.table(rows, TRAINING_HEADER, ("l", "r", "r", "r", "l"))]
    return blocks + ([md.list(notes)] if notes else [])


def _load_line(result: Mapping[str, Any]) -> str:
    """What else took CPU time during the timed passes (``machine_load``), in one sentence."""
    load = result.get("machine_load") or {}
    if not load.get("measured"):
        return "Other processes during the timed passes: not measured."
    busy = ", ".join(f"{p['command'][:50]} {p['share_of_one_core']:.0%}" for p in load["busy"][:3])
    return (f"Other processes during the timed passes ({load['wall_seconds']:,.0f} s): "
            f"{load['others_share_of_one_core']:.1%} of one core" + (f" ({busy})." if busy else "."))


def markdown_table(result: Mapping[str, Any]) -> str:
    """The report as Markdown: speeds, ratios, training, what the numbers mean."""
    md = MarkdownRenderer()
    data, hardware = result["data"], result["hardware"]
    md.add(md.title(1, "Inference speed"))
    md.add(
        f"Data: {md.code(data['path'])}, {data['n_docs']:,} docs, {data['n_sentences']:,} sentences, "
        f"{data['n_words']:,} words, {data['n_wordpieces']:,} wordpieces. "
        f"Hardware: {hardware.get('cpu')}, {hardware.get('cores')} cores, torch "
        f"{hardware.get('torch')} with {hardware.get('torch_threads')} threads. {_load_line(result)}"
    )
    md.add(md.table(_system_rows(result["systems"]), SYSTEM_HEADER, SYSTEM_ALIGNS))
    if result.get("precisions"):
        rows = [[name, _fmt(v["speed_vs_fp32"], "{:.2f}x"), _fmt(v["speed_vs_hf_pipeline"], "{:.2f}x"),
                 _fmt(v["f1_points_vs_fp32"], "{:+.2f}")] for name, v in result["precisions"].items()]
        md.add(md.table(rows, ("Precision twin", "vs fp32", "vs hf_pipeline", "F1 points vs fp32"), ("l", "r", "r", "r")))
    if result.get("peak"):
        peak = result["peak"]["reference_gflops_per_second"]
        md.add("Matmul peak at the encoder's shapes (GFLOP/s, same run): "
               + ", ".join(f"{kind} {_fmt(value, '{:,.1f}')}" for kind, value in peak.items()) + ".")
    if result.get("ratios"):
        md.add(md.table([[key, f"{value:.2f}x"] for key, value in result["ratios"].items()],
                        ("Ratio (words/s)", "value"), ("l", "r")))
    if result.get("training"):
        for block in _training_blocks(md, result["training"]):
            md.add(block)
    md.add(md.title(2, "Definitions"))
    definitions = [f"{md.bold(key)}: {text}" for key, text in result["definitions"].items()]
    md.add(md.list(definitions + [f"warning: {w}" for w in result.get("warnings", [])]))
    return md.text + "\n"


def plot_speed(result: Mapping[str, Any]) -> bytes:
    """A horizontal bar chart of words/s per system, as PNG bytes (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["systems"])
    speeds = [result["systems"][n]["words_per_second"] or 0.0 for n in names]
    figure, axis = plt.subplots(figsize=(8, 1.0 + 0.6 * len(names)), dpi=120)
    try:
        bars = axis.barh(names[::-1], speeds[::-1], color="#4c72b0")
        for bar, speed in zip(bars, speeds[::-1]):
            axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {speed:,.0f}",
                      va="center", fontsize=9)
        data = result["data"]
        axis.set_xlabel("words per second (median of interleaved passes)")
        axis.set_title(f"Inference speed on {data['n_words']:,} words "
                       f"({result['hardware'].get('torch_threads')} torch threads)", fontsize=10)
        axis.set_xlim(0, max(speeds + [1.0]) * 1.2)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def write_outputs(result: Mapping[str, Any], output_dir: PathLike) -> Dict[str, Path]:
    """``speed.json``, ``speed.md`` and ``speed.png`` in ``output_dir``, each written atomically."""
    paths = {key: Path(output_dir) / name for key, name in OUTPUT_NAMES.items()}
    write_json_atomic(paths["json"], result)  # a report that is not JSON fails before anything is written
    write_bytes_atomic(paths["markdown"], markdown_table(result).encode("utf8"))
    write_bytes_atomic(paths["png"], plot_speed(result))
    return paths
