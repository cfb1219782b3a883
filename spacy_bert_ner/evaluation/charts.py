"""Charts as PNG: the token-level confusion matrix of one evaluation and the comparison bars.

matplotlib is imported when a chart is drawn (the ``[tools]`` extra) and used
through its object API (``Figure``, Agg canvas, no pyplot state); files are
written atomically.
"""
import io
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy

from ..files import write_bytes_atomic

PathLike = Union[str, Path]


def plot_confusion(confusion: Mapping[str, Any], path: PathLike, *, title: str) -> Path:
    """Heat map of a token-level confusion matrix (rows gold, columns predicted).

    Cells are coloured by their share of the gold row and annotated with counts,
    so rare entity tags stay readable next to ``O``.
    """
    from matplotlib.figure import Figure

    labels = list(confusion["labels"])
    matrix = numpy.asarray(confusion["matrix"], dtype="float64").reshape(len(labels), len(labels))
    rows = matrix.sum(axis=1, keepdims=True)
    share = numpy.divide(matrix, rows, out=numpy.zeros_like(matrix), where=rows > 0)
    size = max(5.0, 0.75 * len(labels) + 2.5)
    fig = Figure(figsize=(size + 1.2, size), dpi=150)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    font = 9 if len(labels) <= 12 else 6
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(matrix[i, j]):,}", ha="center", va="center", fontsize=font, color=colour)
    fig.tight_layout()
    return save_png(fig, Path(path))


def plot_comparison(comparison: Mapping[str, Any], path: PathLike) -> Path:
    """Grouped bars: overall F1 (with CI error bars) and per-type F1 per system; words/s beside.

    The words/s are those of each evaluation pass (see ``markdown.SPEED_NOTE``), not a benchmark.
    """
    from matplotlib.figure import Figure

    headline = comparison["headline_split"]
    scores = comparison["splits"][headline]["systems"]
    names = list(comparison["systems"])
    types = sorted({t for s in scores.values() for t in s["per_type"]})
    groups = ["overall"] + types
    crowded = len(names) > 4  # value labels turn upright; the words/s panel is the colour key
    fig = Figure(figsize=(11 + 0.5 * max(0, len(names) - 4), 4.8), dpi=150)
    ax, ax_speed = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1.2]})
    width = 0.8 / len(names)
    x = numpy.arange(len(groups))
    lowest = 100.0
    for i, name in enumerate(names):
        s = scores[name]
        values = [s["f1"] or 0.0] + [s["per_type"].get(t, {}).get("f1") or 0.0 for t in types]
        values = [100 * v for v in values]
        low, high = 100 * s["ci"]["low"], 100 * s["ci"]["high"]
        offset = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(offset, values, width, label=name, color=f"C{i}")
        ax.errorbar(offset[0], values[0], yerr=[[max(0.0, values[0] - low)], [max(0.0, high - values[0])]],
                    fmt="none", ecolor="black", capsize=4)
        tops = [max(values[0], high)] + values[1:]
        for bar, value, top in zip(bars, values, tops):
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=6 if crowded else 7,
                        rotation=90 if crowded else 0)
        lowest = min([lowest, *values])
    ax.set_xticks(x, groups)
    # Systems that differ by tenths are indistinguishable on a 0-100 axis: start 10 points below the lowest bar.
    bottom, top = max(0.0, 10 * numpy.floor(lowest / 10) - 10), ax.get_ylim()[1]
    ax.set_ylim(bottom, min(112, max(10.0, top + 0.1 * (top - bottom))))
    ax.set_ylabel(f"F1 (points; axis from {bottom:.0f})" if bottom else "F1 (points)")
    level = f"{100 * comparison['confidence']:.0f}%"
    ax.set_title(f"Entity F1 on {headline} (overall with {level} bootstrap CI)")
    if not crowded:  # with more systems the words/s panel, one named bar each, is the colour key
        ax.legend(loc="upper right", fontsize=8, ncol=min(len(names), 4))
    ax.grid(axis="y", alpha=0.3)
    _speed_bars(ax_speed, names, [comparison["systems"][n]["words_per_second"] or 0.0 for n in names])
    fig.tight_layout()
    return save_png(fig, Path(path))


def _speed_bars(ax: Any, names: Sequence[str], speeds: Sequence[float]) -> None:
    """Words/s per system as horizontal bars: long system names need no rotation."""
    rows = numpy.arange(len(names))[::-1]
    ax.barh(rows, speeds, color=[f"C{i}" for i in range(len(names))])
    ax.set_yticks(rows, names, fontsize=8)
    ax.set_title("words/s (evaluation pass)")
    for row, value in zip(rows, speeds):
        ax.annotate(f"{value:,.0f}", (value, row), xytext=(2, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=7)
    ax.set_xlim(0, 1.25 * max([*speeds, 1.0]))
    ax.grid(axis="x", alpha=0.3)


def plot_reliability(calibrations: Mapping[str, Mapping[str, Any]], path: PathLike, *, title: str) -> Path:
    """Reliability diagram: precision against mean confidence per bin, one line per aggregation.

    Marker area follows the bin's share of the entities; the diagonal is perfect calibration.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.0), dpi=150)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, result in calibrations.items():
        bins = [b for b in result["bins"] if b["count"]]
        total = max(1, sum(b["count"] for b in bins))
        x = [b["mean_confidence"] for b in bins]
        y = [b["precision"] for b in bins]
        line = ax.plot(x, y, marker=None, label=f"{name}: ECE {100 * (result['ece'] or 0):.2f}%")[0]
        ax.scatter(x, y, s=[600 * b["count"] / total + 8 for b in bins], color=line.get_color(), alpha=0.6)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("precision in bin (exact-match entities)")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return save_png(fig, Path(path))


def save_png(fig: Any, path: Path) -> Path:
    """Render ``fig`` to PNG bytes and write them atomically to ``path``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_bytes_atomic(path, buffer.getvalue())
