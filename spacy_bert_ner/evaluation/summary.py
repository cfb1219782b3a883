"""``reports/<run>/summary.json``: the headline numbers of a full run, one file.

Collects what the workflow already wrote -- each head's ``{split}_metrics.json``
(from ``evaluate``, one folder per seed, read and averaged over seeds by
:mod:`~spacy_bert_ner.evaluation.aggregate`, as ``compare`` does) and the HF
Trainer recipe's JSON (``hf_recipe``) -- into the shape the README table is
built from. Nothing is recomputed or typed in: every number names the file it
came from.
"""
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .aggregate import load_systems, read_json, seed_means
from .records import SUMMARY_SCHEMA, HeadSummary, MetricsRecord, SummaryRecord

PathLike = Union[str, Path]
SCHEMA = SUMMARY_SCHEMA
METRIC = "entity-level micro F1, conlleval-compatible (seqeval default mode), as a fraction"
SPLITS = ("test", "dev")
AVERAGED = (
    "test_f1", "test_precision", "test_recall", "test_f1_strict", "test_f1_spacy_evaluate",
    "dev_f1", "dev_f1_spacy_evaluate", "words_per_second", "model_size_mb", "train_seconds",
    "seconds_per_epoch",
)
SPREAD = ("test_f1", "dev_f1", "test_f1_spacy_evaluate")
# What produced a row, kept on the merged row when every seed agrees (rows of other encoders or
# schedules sit in one summary: the encoder-size rows).
SETTINGS = ("encoder", "encoder_parameters", "max_steps")


def seed_row(test: MetricsRecord, dev: MetricsRecord, head_dir: PathLike) -> HeadSummary:
    """One run of one head: test and dev scores, speed, size and training time from its metrics."""
    ci = test["headline"].get("ci") or {}
    training = test.get("training") or {}
    encoder = test["pipeline"].get("encoder") or {}
    return {
        "encoder": encoder.get("label") or encoder.get("config_name"),
        "encoder_parameters": encoder.get("n_parameters"),
        "max_steps": training.get("max_steps"),
        "train_overrides": training.get("overrides"),
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
        "train_seconds": training.get("seconds"),
        "seconds_per_epoch": training.get("seconds_per_epoch"),
        "pipeline": test["pipeline"]["path"],
        "sources": [str(Path(head_dir) / f"{split}_metrics.json") for split in SPLITS],
    }


def seeds_summary(rows: Sequence[HeadSummary]) -> HeadSummary:
    """One head trained with several seeds: means, sample standard deviations, each run.

    A single run gives its row unchanged. Several give the mean of every score
    (``test_f1`` is the mean over seeds), ``<key>_std`` (n-1) for the F1s,
    ``n_seeds`` and ``seeds`` (each run's own row).
    """
    if len(rows) == 1:
        return rows[0]
    over_seeds = seed_means(rows, AVERAGED)
    merged: Dict[str, Any] = {"n_seeds": len(rows)}
    merged.update({key: rows[0].get(key) for key in SETTINGS if len({row.get(key) for row in rows}) == 1})
    merged.update({key: over_seeds[key]["mean"] for key in AVERAGED})
    merged.update({f"{key}_std": over_seeds[key]["std"] for key in SPREAD})
    merged["test_f1_ci95"] = [None, None]
    merged["sources"] = [source for row in rows for source in row["sources"]]
    merged["seeds"] = list(rows)
    return merged  # type: ignore[return-value]


def recipe_summary(recipe_path: PathLike) -> Dict[str, Any]:
    """The HF Trainer recipe's scores and training time from its JSON (``hf_recipe.run_recipe``)."""
    recipe: Dict[str, Any] = read_json(recipe_path, "the HF Trainer recipe's JSON")
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
) -> SummaryRecord:
    """``{"encoder", "hardware", "hf_trainer_recipe", <head>: {...}, "margins_over_hf_recipe"}``.

    heads: name -> a folder with ``{test,dev}_metrics.json``, or a list of such
        folders (one per seed; see :func:`seeds_summary`).
    """
    if not heads:
        raise ValueError("expected at least one head (NAME=DIR)")
    head_dirs: Dict[str, List[PathLike]] = {
        name: [dirs] if isinstance(dirs, (str, Path)) else list(dirs) for name, dirs in heads.items()
    }
    systems = load_systems(head_dirs, required=SPLITS)
    first = next(iter(systems.values()))["test"][0]
    encoder = first["pipeline"]["encoder"]
    summary: Dict[str, Any] = {
        "schema": SCHEMA,
        "metric": METRIC,
        "encoder": encoder.get("label") or encoder.get("config_name"),
        "hardware": _hardware_label(first["hardware"]),
        "data": {key: first["data"].get(key) for key in ("path", "n_docs", "n_sentences", "n_words", "n_entities")},
        "hf_trainer_recipe": recipe_summary(recipe_path) if recipe_path else None,
    }
    for name, dirs in head_dirs.items():
        runs = systems[name]
        summary[name] = seeds_summary([seed_row(t, d, p) for t, d, p in zip(runs["test"], runs["dev"], dirs)])
    if summary["hf_trainer_recipe"] is not None:
        baseline = summary["hf_trainer_recipe"]["test_f1"]
        summary["margins_over_hf_recipe"] = {
            name: round(100 * (summary[name]["test_f1"] - baseline), 2) for name in heads
        }
    summary["commands"] = dict(commands or {})
    return summary  # type: ignore[return-value]
