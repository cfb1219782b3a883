"""``reports/<run>/summary.json``: the headline numbers of a full run, one file.

Collects what the workflow already wrote -- each head's ``{split}_metrics.json``
(from ``evaluate``) and the HF Trainer recipe's JSON (``hf_recipe``) -- into the
shape the README table is built from. Nothing is recomputed or typed in: every
number names the file it came from.
"""
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..files import write_bytes_atomic, write_json_atomic

PathLike = Union[str, Path]
SCHEMA = "spacy_bert_ner.summary.v1"
METRIC = "entity-level micro F1, conlleval-compatible (seqeval default mode), as a fraction"


def _read_json(path: Path) -> Dict[str, Any]:
    import json

    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a metrics JSON, found nothing")
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def head_summary(head_dir: PathLike) -> Dict[str, Any]:
    """Test and dev scores, speed, size and training time of one head from its metrics files."""
    head_dir = Path(head_dir)
    splits = {split: _read_json(head_dir / f"{split}_metrics.json") for split in ("test", "dev")}
    test, dev = splits["test"], splits["dev"]
    ci = test["headline"].get("ci") or {}
    return {
        "test_f1": test["seqeval"]["default"]["f1"],
        "test_precision": test["seqeval"]["default"]["precision"],
        "test_recall": test["seqeval"]["default"]["recall"],
        "test_f1_strict": test["seqeval"]["strict"]["f1"],
        "test_f1_spacy_evaluate": test["headline"]["f1"],
        "test_f1_ci95": [ci.get("low"), ci.get("high")],
        "dev_f1": dev["seqeval"]["default"]["f1"],
        "dev_f1_spacy_evaluate": dev["headline"]["f1"],
        "words_per_second": test["speed"]["words_per_second"],
        "model_size_mb": test["resources"]["model_size_mb"],
        "train_seconds": (test.get("training") or {}).get("seconds"),
        "seconds_per_epoch": (test.get("training") or {}).get("seconds_per_epoch"),
        "pipeline": test["pipeline"]["path"],
        "sources": [str(head_dir / f"{split}_metrics.json") for split in ("test", "dev")],
    }


AVERAGED = (
    "test_f1", "test_precision", "test_recall", "test_f1_strict", "test_f1_spacy_evaluate",
    "dev_f1", "dev_f1_spacy_evaluate", "words_per_second", "model_size_mb", "train_seconds",
    "seconds_per_epoch",
)
SPREAD = ("test_f1", "dev_f1", "test_f1_spacy_evaluate")


def seeds_summary(head_dirs: Sequence[PathLike]) -> Dict[str, Any]:
    """One head trained with several seeds: means, sample standard deviations, each run.

    A single folder gives :func:`head_summary` unchanged. Several give the mean
    of every score (``test_f1`` is the mean over seeds), ``<key>_std`` (n-1) for
    the F1s, ``n_seeds`` and ``seeds`` (each run's own summary).
    """
    import statistics

    if len(head_dirs) == 1:
        return head_summary(head_dirs[0])
    runs = [head_summary(head_dir) for head_dir in head_dirs]
    merged: Dict[str, Any] = {"n_seeds": len(runs)}
    for key in AVERAGED:
        values = [run[key] for run in runs]
        merged[key] = None if None in values else statistics.fmean(values)
    for key in SPREAD:
        merged[f"{key}_std"] = statistics.stdev(run[key] for run in runs)
    merged["test_f1_ci95"] = [None, None]
    merged["sources"] = [source for run in runs for source in run["sources"]]
    merged["seeds"] = runs
    return merged


def recipe_summary(recipe_path: PathLike) -> Dict[str, Any]:
    """The HF Trainer recipe's scores and training time from its JSON (``hf_recipe.run_recipe``)."""
    recipe = _read_json(Path(recipe_path))
    test = recipe["test"]["default"]
    epochs = recipe["config"].get("epochs")
    return {
        "test_f1": recipe["test_f1"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "test_f1_strict": recipe["test_f1_strict"],
        "dev_f1": recipe.get("dev_f1"),
        "words_per_second": recipe["test"].get("words_per_second"),
        "train_seconds": recipe["train_seconds"],
        "seconds_per_epoch": recipe["train_seconds"] / epochs if epochs else None,
        "command": recipe.get("command"),
        "measured_here": recipe.get("measured_here", True),
        "sources": [str(recipe_path)] + ([recipe["source"]] if recipe.get("source") else []),
    }


def _hardware_label(hardware: Mapping[str, Any]) -> str:
    device = hardware.get("gpu") or "no GPU"
    return (
        f"{hardware.get('cpu') or hardware.get('cpu_model')}, {hardware.get('cores')} cores, "
        f"torch {hardware.get('torch') or (hardware.get('versions') or {}).get('torch')} "
        f"with {hardware.get('torch_threads')} threads, {device}"
    )


def build_summary(
    heads: Mapping[str, Union[PathLike, Sequence[PathLike]]],
    recipe_path: Optional[PathLike],
    commands: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """``{"encoder", "hardware", "hf_trainer_recipe", <head>: {...}, "margins_over_hf_recipe"}``.

    heads: name -> a folder with ``{test,dev}_metrics.json``, or a list of such
        folders (one per seed; see :func:`seeds_summary`).
    """
    if not heads:
        raise ValueError("expected at least one head (NAME=DIR)")
    head_dirs = {name: [dirs] if isinstance(dirs, (str, Path)) else list(dirs) for name, dirs in heads.items()}
    summary: Dict[str, Any] = {"schema": SCHEMA, "metric": METRIC}
    first = _read_json(Path(next(iter(head_dirs.values()))[0]) / "test_metrics.json")
    encoder = first["pipeline"]["encoder"]
    summary["encoder"] = encoder.get("label") or encoder.get("config_name")
    summary["hardware"] = _hardware_label(first["hardware"])
    summary["data"] = {key: first["data"].get(key) for key in ("path", "n_docs", "n_sentences", "n_words", "n_entities")}
    summary["hf_trainer_recipe"] = recipe_summary(recipe_path) if recipe_path else None
    for name, dirs in head_dirs.items():
        summary[name] = seeds_summary(dirs)
    if summary["hf_trainer_recipe"] is not None:
        baseline = summary["hf_trainer_recipe"]["test_f1"]
        summary["margins_over_hf_recipe"] = {
            name: round(100 * (summary[name]["test_f1"] - baseline), 2) for name in heads
        }
    summary["commands"] = dict(commands or {})
    return summary


def summary_markdown(summary: Mapping[str, Any], heads: Sequence[str]) -> str:
    """The README results table: test/dev F1 per system, the recipe, time, hardware."""
    rows: List[str] = [
        "| system | test F1 | test F1 strict IOB2 | test F1 as `spacy evaluate` [95% CI] | dev F1 | train time | words/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    systems = [("hf_trainer_recipe", "HF Trainer recipe")] + [(head, head) for head in heads]
    for key, label in systems:
        entry = summary.get(key)
        if not entry:
            continue
        if entry.get("measured_here") is False:
            label += " (quoted, not measured here)"
        ci = entry.get("test_f1_ci95") or [None, None]
        spacy_f1 = entry.get("test_f1_spacy_evaluate")
        ci_text = "-" if spacy_f1 is None else _pts(spacy_f1, entry.get("test_f1_spacy_evaluate_std"))
        if None not in ci:
            ci_text += f" [{100 * ci[0]:.2f}..{100 * ci[1]:.2f}]"
        if entry.get("n_seeds"):
            label += f" (mean of {entry['n_seeds']} seeds)"
        rows.append(
            f"| {label} | {_pts(entry['test_f1'], entry.get('test_f1_std'))} | {_pts(entry.get('test_f1_strict'))} | {ci_text} | "
            f"{_pts(entry.get('dev_f1'), entry.get('dev_f1_std'))} | {_minutes(entry.get('train_seconds'))} | {_rate(entry.get('words_per_second'))} |"
        )
    rows += _seed_rows(summary, heads)
    return "\n".join(rows) + f"\n\nEncoder {summary['encoder']}; {summary['hardware']}. F1: {summary['metric']}, in points.\n"


def _seed_rows(summary: Mapping[str, Any], heads: Sequence[str]) -> List[str]:
    """A table of each seed's run for the heads that have several."""
    rows = ["", "| system | pipeline | test F1 | test F1 as `spacy evaluate` | dev F1 |", "|---|---|---:|---:|---:|"]
    for head in heads:
        for run in (summary.get(head) or {}).get("seeds", []):
            rows.append(
                f"| {head} | `{run['pipeline']}` | {_pts(run['test_f1'])} | "
                f"{_pts(run.get('test_f1_spacy_evaluate'))} | {_pts(run.get('dev_f1'))} |"
            )
    return rows if len(rows) > 3 else []


def _pts(value: Optional[float], std: Optional[float] = None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def _minutes(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _rate(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


def write_summary(summary: Mapping[str, Any], heads: Sequence[str], output_dir: PathLike) -> Dict[str, Path]:
    """``summary.json`` and ``summary.md`` in ``output_dir``, each written atomically."""
    output_dir = Path(output_dir)
    paths = {"json": output_dir / "summary.json", "md": output_dir / "summary.md"}
    write_json_atomic(paths["json"], dict(summary))
    write_bytes_atomic(paths["md"], summary_markdown(summary, heads).encode("utf8"))
    return paths
