"""The files the evaluation commands write, and their names: one place for every output.

``evaluate`` writes, per pipeline and split, ``{split}_metrics.json`` (the
record of :func:`~spacy_bert_ner.evaluation.pipeline_eval.evaluate_pipeline`),
``{split}_confusion.{json,png}`` and ``{split}_errors.{json,md}``
(:func:`write_evaluation`); ``compare`` writes ``comparison.{json,md,png}``
(:func:`write_comparison`); ``summary`` writes ``summary.{json,md}``
(:func:`write_summary`). Every file is written atomically, and nothing else in
the folder is touched; the ``*_paths`` functions name the files before a command
runs, so it can refuse an output that is one of its inputs.
"""
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Union

from ..files import write_bytes_atomic, write_json_atomic
from .charts import plot_comparison, plot_confusion
from .markdown import comparison_markdown, errors_markdown, summary_markdown

PathLike = Union[str, Path]


def evaluation_paths(output_dir: PathLike, split: str) -> Dict[str, Path]:
    """``{kind: path}`` of the files :func:`write_evaluation` writes for ``split``."""
    output_dir = Path(output_dir)
    return {
        "metrics": output_dir / f"{split}_metrics.json",
        "confusion_json": output_dir / f"{split}_confusion.json",
        "confusion_png": output_dir / f"{split}_confusion.png",
        "errors_json": output_dir / f"{split}_errors.json",
        "errors_md": output_dir / f"{split}_errors.md",
        "entities_html": output_dir / f"{split}_entities.html",
        "spans_html": output_dir / f"{split}_spans.html",
    }


def comparison_paths(report_dir: PathLike) -> Dict[str, Path]:
    """``comparison.json``, ``.md`` and ``.png`` in ``report_dir``."""
    return {kind: Path(report_dir) / f"comparison.{kind}" for kind in ("json", "md", "png")}


def summary_paths(output_dir: PathLike) -> Dict[str, Path]:
    """``summary.json`` and ``summary.md`` in ``output_dir``."""
    return {"json": Path(output_dir) / "summary.json", "md": Path(output_dir) / "summary.md"}


def write_evaluation(metrics: Mapping[str, Any], output_dir: PathLike) -> Dict[str, Path]:
    """Write the files of one evaluation; returns ``{kind: path}``.

    metrics: :func:`evaluate_pipeline`'s record; its ``"confusion"`` and
    ``"errors"`` go to their own files, the rest to ``{split}_metrics.json``.
    """
    split, name = metrics["split"], metrics["name"]
    paths = evaluation_paths(output_dir, split)
    pages = metrics.get("displacy", {})
    for page in ("entities", "spans"):  # only a head with entity confidences has the span page
        if page not in pages:
            del paths[f"{page}_html"]
    body = {k: v for k, v in metrics.items() if k not in ("confusion", "errors", "displacy")}
    body["files"] = {kind: path.name for kind, path in paths.items() if kind != "metrics"}
    write_json_atomic(paths["metrics"], body)
    write_json_atomic(paths["confusion_json"], {"name": name, "split": split, "rows": "gold", **metrics["confusion"]})
    plot_confusion(metrics["confusion"], paths["confusion_png"], title=f"{name}: token-level IOB2 confusion ({split})")
    write_json_atomic(paths["errors_json"], {"name": name, "split": split, **metrics["errors"]})
    _write_text(paths["errors_md"], errors_markdown(metrics["errors"], name=name, split=split))
    for page, html in pages.items():
        _write_text(paths[f"{page}_html"], html)
    return paths


def write_comparison(comparison: Mapping[str, Any], report_dir: PathLike) -> Dict[str, Path]:
    """Write ``comparison.json``, ``comparison.md`` and ``comparison.png`` into ``report_dir``."""
    paths = comparison_paths(report_dir)
    write_json_atomic(paths["json"], dict(comparison))
    _write_text(paths["md"], comparison_markdown(comparison))
    plot_comparison(comparison, paths["png"])
    return paths


def write_summary(summary: Mapping[str, Any], heads: Sequence[str], output_dir: PathLike) -> Dict[str, Path]:
    """``summary.json`` and ``summary.md`` in ``output_dir``."""
    paths = summary_paths(output_dir)
    write_json_atomic(paths["json"], dict(summary))
    _write_text(paths["md"], summary_markdown(summary, heads))
    return paths


def _write_text(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf8"))
