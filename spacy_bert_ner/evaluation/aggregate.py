"""One aggregation over seeds, shared by ``compare`` and ``summary``.

A *system* is one head (on one encoder) trained one or more times, one metrics
folder per training seed, each holding ``{split}_metrics.json`` files written by
``evaluate``. :func:`load_systems` reads every folder of every system;
:func:`split_scores` aggregates one system's runs on one split: the mean ± std
over seeds of every score (:func:`~spacy_bert_ner.evaluation.stats.mean_std`,
the one place that is computed), each seed's F1, and a bootstrap CI over the
documents with the per-document counts pooled over seeds. :func:`seed_means`
merges per-seed rows of any shape (the summary's rows) the same way.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy

from .errors import ERROR_CATEGORIES
from .records import MetricsRecord
from .stats import bootstrap_ci, mean_std

PathLike = Union[str, Path]
SPLIT_ORDER = ("train", "dev", "test")
Runs = Sequence[Mapping[str, Any]]
# {system: {split: [metrics record per seed]}}
Systems = Dict[str, Dict[str, List[MetricsRecord]]]

# Scores averaged over seeds per split: name in the comparison -> where it sits in a metrics record.
RUN_SCORES: Dict[str, Callable[[Mapping[str, Any]], Optional[float]]] = {
    "precision": lambda m: m["headline"]["precision"],
    "recall": lambda m: m["headline"]["recall"],
    "f1_seqeval_default": lambda m: m["seqeval"]["default"]["f1"],
    "f1_strict": lambda m: m["seqeval"]["strict"]["f1"],
    "spacy_ents_f": lambda m: m["spacy"]["ents_f"],
    "token_accuracy": lambda m: m["token_accuracy"],
}


def ordered_splits(splits: Sequence[str]) -> List[str]:
    """train, dev, test first, then any other split by name."""
    return sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def read_json(path: PathLike, what: str = "a metrics JSON") -> Any:
    """One JSON file (e.g. ``{split}_metrics.json``); a one-line error naming it when missing or not JSON."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected {what}, found nothing")
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def load_systems(systems: Mapping[str, Sequence[PathLike]], required: Sequence[str] = ("test",)) -> Systems:
    """``{system: {split: [metrics per seed folder]}}`` from ``{split}_metrics.json`` files.

    Every folder must hold the ``required`` splits; another split is kept when
    every folder of every system has it (so dev shows up when all were
    evaluated on dev).
    """
    found: Dict[str, List[Dict[str, MetricsRecord]]] = {}
    for name, dirs in systems.items():
        found[name] = [_load_folder(Path(directory), required) for directory in dirs]
    common = set.intersection(*(set(run) for runs in found.values() for run in runs)) if found else set()
    return {
        name: {split: [run[split] for run in runs] for split in ordered_splits(list(common))}
        for name, runs in found.items()
    }


def _load_folder(directory: Path, required: Sequence[str]) -> Dict[str, MetricsRecord]:
    files = sorted(directory.glob("*_metrics.json"))
    for split in required:
        if not (directory / f"{split}_metrics.json").exists():
            raise FileNotFoundError(
                f"{directory}: expected {split}_metrics.json (from `python -m spacy_bert_ner "
                f"evaluate PIPELINE DATA {directory} --split {split}`), found "
                f"{[f.name for f in files] or 'no metrics files'}"
            )
    return {f.name[: -len("_metrics.json")]: read_json(f) for f in files}


def seed_means(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Dict[str, Dict[str, Optional[float]]]:
    """``{key: {"mean", "std"}}`` over per-seed rows (:func:`mean_std`: None when a seed lacks it)."""
    return {key: dict(zip(("mean", "std"), mean_std([row.get(key) for row in rows]))) for key in keys}


def check_same_documents(runs: Mapping[str, Runs], split: str) -> None:
    """Same documents, same order, in every run of every system; per-doc counts well-formed.

    Pooling counts over seeds and pairing systems both need it.
    """
    reference_name = next(iter(runs))
    reference = runs[reference_name][0]
    expected = reference["data"]["doc_fingerprints"]
    for name, metrics_list in runs.items():
        if not metrics_list:
            raise ValueError(f"{name}: no {split} metrics")
        for metrics in metrics_list:
            where = f"{name} ({metrics.get('pipeline', {}).get('path', '?')}, {split})"
            got = metrics["data"]["doc_fingerprints"]
            if got != expected:
                first = next((i for i, (x, y) in enumerate(zip(expected, got)) if x != y), min(len(expected), len(got)))
                raise ValueError(
                    f"{where} was scored on other documents than {reference_name} "
                    f"({reference['data']['path']}): {len(got)} vs {len(expected)} docs, first difference at "
                    f"doc {first}. The paired test needs the same documents in the same order: evaluate every "
                    f"pipeline on the same {split} DocBin."
                )
            counts = numpy.asarray(metrics["doc_counts"])
            if counts.shape != (len(expected), 3):
                raise ValueError(
                    f"{where}: expected doc_counts of shape ({len(expected)}, 3) = (tp, fp, fn) per doc, "
                    f"got {counts.shape}"
                )


def pooled_counts(runs: Runs) -> numpy.ndarray:
    """int[n_docs, 3]: each document's (tp, fp, fn) summed over the seeds."""
    return numpy.sum([numpy.asarray(m["doc_counts"], dtype="int64") for m in runs], axis=0)


def split_scores(
    runs: Runs, pooled: numpy.ndarray, *, n_resamples: int, confidence: float, seed: int
) -> Dict[str, Any]:
    """One system on one split: mean ± std over seeds, each seed's F1, pooled bootstrap CI."""
    def mean(getter: Callable[[Mapping[str, Any]], Optional[float]]) -> Optional[float]:
        return mean_std([getter(m) for m in runs])[0]

    f1s = [m["headline"]["f1"] for m in runs]
    f1, f1_std = mean_std(f1s)
    ci = bootstrap_ci(pooled, n_resamples=n_resamples, confidence=confidence, seed=seed)
    types = sorted({t for m in runs for t in m["per_type"]})
    per_type = {
        t: {
            "f1": mean(lambda m, t=t: m["per_type"].get(t, {}).get("f1", 0.0)),
            "support": runs[0]["per_type"].get(t, {}).get("support", 0),
        }
        for t in types
    }
    errors = {
        c: mean(lambda m, c=c: m["errors_summary"][c]) for c in (*ERROR_CATEGORIES, "correct", "n_gold", "n_pred")
    }
    first = runs[0]
    return {
        "f1": f1,
        "f1_std": f1_std,
        "f1_runs": f1s,
        "n_runs": len(runs),
        "precision": mean(RUN_SCORES["precision"]),
        "recall": mean(RUN_SCORES["recall"]),
        "ci": {"low": ci["low"], "high": ci["high"], "f1_pooled": ci["f1"], "confidence": confidence},
        **{key: mean(RUN_SCORES[key]) for key in ("f1_seqeval_default", "f1_strict", "spacy_ents_f", "token_accuracy")},
        "per_type": per_type,
        "errors": errors,
        "iob2_projection": {
            key: int(sum(m["iob2_projection"][key] for m in runs)) for key in ("overlapping_dropped", "crossing_sentences")
        },
        "words_per_second": mean(lambda m: m["speed"]["words_per_second"]),
        "batch_size": first["speed"]["batch_size"],
        "n_docs": first["data"]["n_docs"],
        "n_words": first["data"]["n_words"],
        "data_path": first["data"]["path"],
    }


def train_time(runs: Runs) -> Dict[str, Any]:
    """``{"seconds", "source"}``: mean over seeds of the recorded training time; None if any is unknown."""
    seconds, _ = mean_std([m.get("training", {}).get("seconds") for m in runs])
    if seconds is None:
        return {"seconds": None, "source": None}
    return {"seconds": seconds, "source": runs[0].get("training", {}).get("source") if len(runs) == 1 else "mean of runs"}
