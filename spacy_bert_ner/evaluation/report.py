"""Metrics JSONs -> per-pipeline files and the head-to-head comparison (Markdown, JSON, PNG).

``python -m spacy_bert_ner evaluate`` writes, per pipeline and split,
``{split}_metrics.json`` (:func:`~spacy_bert_ner.evaluation.evaluate_pipeline`),
``{split}_confusion.{json,png}`` and ``{split}_errors.{json,md}``
(:func:`write_evaluation`). ``python -m spacy_bert_ner compare`` reads those
metrics for two or more systems (one folder per training run; several folders
for several seeds) and writes ``comparison.{json,md,png}``.

:func:`build_comparison`, :func:`comparison_markdown` and :func:`errors_markdown`
are pure (dicts in, dict / text out); plots use matplotlib's object API (Agg, no
pyplot state). F1 is a fraction (0..1) in JSON, as in spaCy's scores, and
points (0..100) in Markdown and plots.
"""
import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy

from ..files import write_bytes_atomic
from .metrics import (
    ERROR_CATEGORIES,
    MODE_LABELS,
    bootstrap_ci,
    paired_bootstrap,
)

COMPARISON_SCHEMA = "spacy_bert_ner.comparison.v1"
SPLIT_ORDER = ("train", "dev", "test")
ERROR_HELP = {
    "missed": "gold entity with no overlapping prediction",
    "spurious": "predicted entity overlapping no gold entity",
    "wrong_type": "same boundaries, other type",
    "wrong_boundary": "overlaps a prediction of its type, boundaries differ",
    "wrong_type_and_boundary": "overlapping predictions, none of its type",
}
PathLike = Union[str, Path]
Reports = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


# ---------------------------------------------------------------------------
# One pipeline: metrics, confusion matrix, errors
# ---------------------------------------------------------------------------
def write_evaluation(metrics: Mapping[str, Any], output_dir: PathLike) -> Dict[str, Path]:
    """Write the files of one evaluation; returns ``{kind: path}``.

    metrics: :func:`~spacy_bert_ner.evaluation.evaluate_pipeline`'s dict; its
    ``"confusion"`` and ``"errors"`` go to their own files, the rest to
    ``{split}_metrics.json``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    split, name = metrics["split"], metrics["name"]
    paths = {
        "metrics": output_dir / f"{split}_metrics.json",
        "confusion_json": output_dir / f"{split}_confusion.json",
        "confusion_png": output_dir / f"{split}_confusion.png",
        "errors_json": output_dir / f"{split}_errors.json",
        "errors_md": output_dir / f"{split}_errors.md",
    }
    body = {k: v for k, v in metrics.items() if k not in ("confusion", "errors")}
    body["files"] = {kind: path.name for kind, path in paths.items() if kind != "metrics"}
    _write_json(paths["metrics"], body)
    _write_json(paths["confusion_json"], {"name": name, "split": split, "rows": "gold", **metrics["confusion"]})
    plot_confusion(metrics["confusion"], paths["confusion_png"], title=f"{name}: token-level IOB2 confusion ({split})")
    _write_json(paths["errors_json"], {"name": name, "split": split, **metrics["errors"]})
    _write_text(paths["errors_md"], errors_markdown(metrics["errors"], name=name, split=split))
    return paths


def errors_markdown(errors: Mapping[str, Any], *, name: str, split: str) -> str:
    """Error-analysis Markdown: a count table, then example sentences per category."""
    counts = errors["counts"]
    lines = [
        f"# Errors of {name} on {split}",
        "",
        f"{counts['n_gold']:,} gold entities, {counts['n_pred']:,} predicted "
        f"(mapped onto the gold tokens), {counts['correct']:,} exactly right.",
        "",
        "| category | count | meaning |",
        "|---|---:|---|",
    ]
    lines += [f"| {c} | {counts[c]:,} | {ERROR_HELP[c]} |" for c in ERROR_CATEGORIES]
    for category in ERROR_CATEGORIES:
        found = errors["examples"].get(category, [])
        if not found:
            continue
        lines += ["", f"## {category} (first {len(found)} of {counts[category]:,})", ""]
        for example in found:
            start, end, label = example["entity"]
            text = f"`{_code(example['text'])}` " if "text" in example else ""
            lines.append(
                f"- {text}({label}, tokens {start}..{end}) in doc {example.get('doc', '?')}, "
                f"sentence {example.get('sentence', '?')}"
            )
            if "gold_marked" in example:
                lines.append(f"  - gold: `{_code(example['gold_marked'])}`")
                lines.append(f"  - pred: `{_code(example['pred_marked'])}`")
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    return text.replace("`", "'")


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
    return _save_png(fig, Path(path))


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------
def parse_system_option(value: str) -> Tuple[str, List[Path]]:
    """``"ner=reports/x/ner"`` or ``"ner=dirA,dirB,dirC"`` (one folder per seed)."""
    name, sep, dirs = value.partition("=")
    paths = [Path(d) for d in dirs.split(",") if d.strip()]
    if not sep or not name.strip() or not paths:
        raise ValueError(f"expected --system NAME=DIR[,DIR...] (e.g. ner=reports/conll2003/ner), got {value!r}")
    return name.strip(), paths


def parse_seconds_option(value: str) -> Tuple[str, float]:
    """``"ner=1234.5"`` -> ``("ner", 1234.5)``."""
    name, sep, seconds = value.partition("=")
    try:
        parsed = float(seconds)
    except ValueError:
        parsed = math.nan
    if not sep or not name.strip() or not math.isfinite(parsed) or parsed < 0:
        raise ValueError(f"expected --train-seconds NAME=SECONDS (e.g. ner=1234.5), got {value!r}")
    return name.strip(), parsed


def load_reports(systems: Mapping[str, Sequence[PathLike]], headline_split: str = "test") -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    """``{system: {split: [metrics per run]}}`` from ``{split}_metrics.json`` files.

    Every folder must hold ``{headline_split}_metrics.json``; another split is
    kept when every folder of every system has it (so dev shows up when all
    were evaluated on dev).
    """
    if len(systems) < 2:
        raise ValueError(f"expected at least two systems to compare, got {len(systems)}: {list(systems)}")
    found: Dict[str, Dict[Path, Dict[str, Dict[str, Any]]]] = {}
    for name, dirs in systems.items():
        found[name] = {}
        for directory in map(Path, dirs):
            files = sorted(directory.glob("*_metrics.json"))
            if not (directory / f"{headline_split}_metrics.json").exists():
                raise FileNotFoundError(
                    f"{directory}: expected {headline_split}_metrics.json (from `python -m spacy_bert_ner "
                    f"evaluate PIPELINE DATA {directory} --split {headline_split}`), found "
                    f"{[f.name for f in files] or 'no metrics files'}"
                )
            found[name][directory] = {
                f.name[: -len("_metrics.json")]: json.loads(f.read_text(encoding="utf8")) for f in files
            }
    common = set.intersection(*(set(m) for runs in found.values() for m in runs.values()))
    return {
        name: {split: [metrics[split] for metrics in runs.values()] for split in _ordered(common)}
        for name, runs in found.items()
    }


def _ordered(splits: Sequence[str]) -> List[str]:
    return sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def build_comparison(
    reports: Reports,
    *,
    headline_split: str = "test",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    train_seconds: Optional[Mapping[str, float]] = None,
) -> Dict[str, Any]:
    """The comparison as a JSON-able dict (pure).

    reports: ``{system: {split: [metrics dict per run]}}`` (:func:`load_reports`).
    Per system and split: F1 (mean over runs), P, R, strict IOB2 and seqeval
    default F1, spaCy's ents_f, a bootstrap CI over documents (on the per-doc
    counts pooled over runs), per-type F1, token accuracy, error counts.
    Per pair of systems and split: a paired bootstrap of the F1 difference on
    the same documents, and a verdict sentence. Raises ValueError when the
    systems were not scored on the same documents in the same order.

    Several encoders (N encoders x heads): each system is placed in an
    (encoder, head) row (:func:`encoder_and_head`: ``"bert/ner"`` ->
    ``("bert", "ner")``; a name without ``/`` takes the metrics'
    ``pipeline.encoder.label`` and ``pipeline.head``), the rows are listed
    grouped by encoder under ``"encoder_head"``, every pair says whether it
    shares the encoder or the head, and the verdict weighs head against head
    within each encoder.
    """
    names = list(reports)
    if len(names) < 2:
        raise ValueError(f"expected at least two systems to compare, got {names}")
    splits = _ordered(list(set.intersection(*(set(reports[n]) for n in names))))
    if headline_split not in splits:
        raise ValueError(f"expected every system to have {headline_split!r} metrics, common splits are {splits}")
    train_seconds = dict(train_seconds or {})
    unknown = sorted(set(train_seconds) - set(names))
    if unknown:
        raise ValueError(f"--train-seconds names {unknown} are not systems {names}")
    keys = {name: encoder_and_head(name, _first_run({name: reports[name]}, headline_split)) for name in names}
    per_split: Dict[str, Dict[str, Any]] = {}
    for split in splits:
        runs = {name: list(reports[name][split]) for name in names}
        _check_runs(runs, split)
        pooled = {name: _pooled_counts(runs[name]) for name in names}
        scores = {
            name: _split_scores(runs[name], pooled[name], n_resamples=n_resamples, confidence=confidence, seed=seed)
            for name in names
        }
        pairs = []
        for a, b in combinations(names, 2):
            test = paired_bootstrap(pooled[a], pooled[b], n_resamples=n_resamples, confidence=confidence, seed=seed)
            pairs.append({
                "a": a, "b": b, **test, "verdict": _pair_verdict(a, b, test, split, scores),
                "same_encoder": keys[a][0] == keys[b][0], "same_head": keys[a][1] == keys[b][1],
            })
        per_split[split] = {"n_docs": scores[names[0]]["n_docs"], "systems": scores, "paired_bootstrap": pairs}
    systems = {name: _system_summary(name, reports[name], per_split, headline_split, train_seconds) for name in names}
    for name in names:
        systems[name]["row"] = {"encoder": keys[name][0], "head": keys[name][1]}
    encoder_head = _encoder_head_table(systems, per_split, headline_split)
    warnings = _warnings(systems, per_split, n_encoders=len(encoder_head["encoders"]))
    comparison = {
        "schema": COMPARISON_SCHEMA,
        "headline_split": headline_split,
        "headline_metric": "f1",
        "headline_definition": _first_run(reports, headline_split)["headline"]["definition"],
        "mode_labels": dict(MODE_LABELS),
        "n_resamples": n_resamples,
        "confidence": confidence,
        "seed": seed,
        "systems": systems,
        "splits": per_split,
        "hardware": {name: systems[name]["hardware"] for name in names},
        "encoder_head": encoder_head,
        "warnings": warnings,
    }
    comparison["verdict"] = _verdict(comparison)
    return comparison


def _first_run(reports: Reports, split: str) -> Mapping[str, Any]:
    return next(iter(reports.values()))[split][0]


def encoder_and_head(name: str, metrics: Mapping[str, Any]) -> Tuple[str, str]:
    """The (encoder, head) row of a system in the encoder x head table.

    ``"bert/ner"`` -> ``("bert", "ner")`` (split at the last ``/``, so
    ``"microsoft/deberta-v3-base/ner"`` works too); a name without ``/`` takes
    the metrics' ``pipeline.encoder.label`` (what ``evaluate --encoder`` wrote)
    and ``pipeline.head``.
    """
    encoder, sep, head = name.rpartition("/")
    if sep and encoder.strip() and head.strip():
        return encoder.strip(), head.strip()
    pipeline = metrics.get("pipeline") or {}
    label = (pipeline.get("encoder") or {}).get("label")
    return str(label or "unknown encoder"), str(pipeline.get("head") or name)


def _encoder_head_table(
    systems: Mapping[str, Mapping[str, Any]], per_split: Mapping[str, Mapping[str, Any]], headline_split: str
) -> Dict[str, Any]:
    """Rows (one per system) grouped by encoder, in the order encoders first appear."""
    encoders: List[str] = []
    for system in systems.values():
        if system["row"]["encoder"] not in encoders:
            encoders.append(system["row"]["encoder"])
    splits = [headline_split] + [split for split in per_split if split != headline_split]
    rows = []
    for encoder in encoders:
        for name, system in systems.items():
            if system["row"]["encoder"] != encoder:
                continue
            rows.append({
                "encoder": encoder,
                "head": system["row"]["head"],
                "system": name,
                "encoder_label": (system["encoder"] or {}).get("label"),
                "f1": {split: per_split[split]["systems"][name]["f1"] for split in splits},
                "f1_std": {split: per_split[split]["systems"][name]["f1_std"] for split in splits},
                "n_runs": system["n_runs"],
                "words_per_second": system["words_per_second"],
                "model_size_mb": system["model_size_mb"],
                "peak_rss_mb": system["peak_rss_mb"],
            })
    return {"encoders": encoders, "splits": splits, "rows": rows}


def _check_runs(runs: Mapping[str, Sequence[Mapping[str, Any]]], split: str) -> None:
    """Same documents, same order, everywhere; per-doc counts present and well-formed."""
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


def _pooled_counts(metrics_list: Sequence[Mapping[str, Any]]) -> numpy.ndarray:
    return numpy.sum([numpy.asarray(m["doc_counts"], dtype="int64") for m in metrics_list], axis=0)


def _mean_std(values: Sequence[Optional[float]]) -> Tuple[Optional[float], Optional[float]]:
    known = [float(v) for v in values if v is not None]
    if not known or len(known) != len(values):
        return None, None
    std = float(numpy.std(known, ddof=1)) if len(known) > 1 else None
    return float(numpy.mean(known)), std


def _split_scores(
    metrics_list: Sequence[Mapping[str, Any]],
    pooled: numpy.ndarray,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> Dict[str, Any]:
    def mean(getter) -> Optional[float]:
        return _mean_std([getter(m) for m in metrics_list])[0]

    f1s = [m["headline"]["f1"] for m in metrics_list]
    f1, f1_std = _mean_std(f1s)
    ci = bootstrap_ci(pooled, n_resamples=n_resamples, confidence=confidence, seed=seed)
    types = sorted({t for m in metrics_list for t in m["per_type"]})
    per_type = {
        t: {
            "f1": mean(lambda m, t=t: m["per_type"].get(t, {}).get("f1", 0.0)),
            "support": metrics_list[0]["per_type"].get(t, {}).get("support", 0),
        }
        for t in types
    }
    errors = {
        c: mean(lambda m, c=c: m["errors_summary"][c])
        for c in (*ERROR_CATEGORIES, "correct", "n_gold", "n_pred")
    }
    return {
        "f1": f1,
        "f1_std": f1_std,
        "f1_runs": f1s,
        "n_runs": len(metrics_list),
        "precision": mean(lambda m: m["headline"]["precision"]),
        "recall": mean(lambda m: m["headline"]["recall"]),
        "ci": {"low": ci["low"], "high": ci["high"], "f1_pooled": ci["f1"], "confidence": confidence},
        "f1_seqeval_default": mean(lambda m: m["seqeval"]["default"]["f1"]),
        "f1_strict": mean(lambda m: m["seqeval"]["strict"]["f1"]),
        "spacy_ents_f": mean(lambda m: m["spacy"]["ents_f"]),
        "token_accuracy": mean(lambda m: m["token_accuracy"]),
        "per_type": per_type,
        "errors": errors,
        "iob2_projection": {
            key: int(sum(m["iob2_projection"][key] for m in metrics_list))
            for key in ("overlapping_dropped", "crossing_sentences")
        },
        "words_per_second": mean(lambda m: m["speed"]["words_per_second"]),
        "batch_size": metrics_list[0]["speed"]["batch_size"],
        "n_docs": metrics_list[0]["data"]["n_docs"],
        "n_words": metrics_list[0]["data"]["n_words"],
        "data_path": metrics_list[0]["data"]["path"],
    }


def _system_summary(
    name: str,
    splits: Mapping[str, Sequence[Mapping[str, Any]]],
    per_split: Mapping[str, Mapping[str, Any]],
    headline_split: str,
    train_seconds: Mapping[str, float],
) -> Dict[str, Any]:
    runs = splits[headline_split]
    summary: Dict[str, Any] = {}
    for split, data in per_split.items():
        scores = data["systems"][name]
        summary[f"{split}_f1"] = scores["f1"]
        summary[f"{split}_f1_std"] = scores["f1_std"]
        summary[f"{split}_f1_ci"] = [scores["ci"]["low"], scores["ci"]["high"]]
        summary[f"{split}_precision"] = scores["precision"]
        summary[f"{split}_recall"] = scores["recall"]
        summary[f"{split}_f1_strict"] = scores["f1_strict"]
        summary[f"{split}_f1_seqeval_default"] = scores["f1_seqeval_default"]
        summary[f"{split}_spacy_ents_f"] = scores["spacy_ents_f"]
        summary[f"{split}_per_type_f1"] = {t: v["f1"] for t, v in scores["per_type"].items()}
    if name in train_seconds:
        train = {"seconds": train_seconds[name], "source": "--train-seconds"}
    else:
        seconds, _ = _mean_std([m.get("training", {}).get("seconds") for m in runs])
        sources = [m.get("training", {}).get("source") for m in runs]
        train = {"seconds": seconds, "source": sources[0] if seconds is not None and len(runs) == 1 else (
            "mean of runs" if seconds is not None else None)}
    pipeline = runs[0]["pipeline"]
    return {
        **summary,
        "words_per_second": per_split[headline_split]["systems"][name]["words_per_second"],
        "model_size_mb": _mean_std([m["resources"]["model_size_mb"] for m in runs])[0],
        "peak_rss_mb": _mean_std([m["resources"]["peak_rss_mb"] for m in runs])[0],
        "train_seconds": train["seconds"],
        "train_seconds_source": train["source"],
        "head": pipeline.get("head"),
        "components": pipeline.get("components"),
        "encoder": pipeline.get("encoder"),
        "hardware": runs[0]["hardware"],
        "n_runs": len(runs),
        "pipelines": [m["pipeline"]["path"] for m in runs],
    }


def _warnings(
    systems: Mapping[str, Mapping[str, Any]], per_split: Mapping[str, Mapping[str, Any]], *, n_encoders: int = 1
) -> List[str]:
    warnings: List[str] = []
    hardware = {json.dumps({k: s["hardware"].get(k) for k in ("cpu", "cores", "torch_threads", "gpu")}, sort_keys=True)
                for s in systems.values()}
    if len(hardware) > 1:
        warnings.append("the systems were timed on different hardware or thread settings: compare speeds with care")
    encoders = {json.dumps(s["encoder"], sort_keys=True) for s in systems.values()}
    if n_encoders > 1:
        warnings.append(
            f"the systems use different encoders ({n_encoders}): compare heads within an encoder "
            "(the encoder x head table; the verdict's head-to-head tests pair systems of the same encoder)"
        )
    elif len(encoders) > 1:
        warnings.append("the systems use different encoders: the comparison is not head against head alone")
    for split, data in per_split.items():
        for name, scores in data["systems"].items():
            spacy_f = scores["spacy_ents_f"]
            if spacy_f is not None and abs(spacy_f - scores["f1"]) > 1e-3:
                warnings.append(
                    f"{split}/{name}: F1 {scores['f1']:.4f} differs from spaCy's ents_f {spacy_f:.4f}"
                )
            projection = scores["iob2_projection"]
            if projection["overlapping_dropped"] or projection["crossing_sentences"]:
                warnings.append(
                    f"{split}/{name}: {projection['overlapping_dropped']} predicted entities overlap after mapping "
                    f"onto the gold tokens and {projection['crossing_sentences']} cross a gold sentence boundary; "
                    f"seqeval's F1 ({_pts(scores['f1_seqeval_default'])}) therefore differs from the headline "
                    f"({_pts(scores['f1'])})"
                )
    return warnings


def _pts(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def _p(value: float, n_resamples: int) -> str:
    return f"p<{1 / n_resamples:.3g}" if value == 0 else f"p={value:.3f}"


def _pair_verdict(a: str, b: str, test: Mapping[str, float], split: str, scores: Mapping[str, Mapping[str, Any]]) -> str:
    n_docs = scores[a]["n_docs"]
    p = _p(test["p_value"], int(test["n_resamples"]))
    level = f"{100 * test['confidence']:.0f}%"
    significant = test["low"] > 0 or test["high"] < 0
    if significant:
        leader, other, sign = (a, b, 1.0) if test["delta"] > 0 else (b, a, -1.0)
        low, high = sorted((sign * test["low"], sign * test["high"]))
        text = (
            f"On {split} ({n_docs} documents), {leader} is ahead of {other} by "
            f"{100 * abs(test['delta']):.2f} F1 points ({level} CI {100 * low:.2f}..{100 * high:.2f}, "
            f"paired bootstrap over documents, {p})."
        )
    else:
        text = (
            f"On {split} ({n_docs} documents), no significant difference between {a} and {b}: "
            f"{a} - {b} = {100 * test['delta']:+.2f} F1 points ({level} CI {100 * test['low']:+.2f}.."
            f"{100 * test['high']:+.2f}, paired bootstrap over documents, {p})."
        )
    stds = [scores[n]["f1_std"] for n in (a, b) if scores[n]["f1_std"] is not None]
    if stds:
        spread = max(stds)
        text += f" Seed-to-seed spread (largest std) is {100 * spread:.2f} points"
        text += "; the gap is smaller than that." if abs(test["delta"]) < spread else "."
    return text


def _verdict_pairs(comparison: Mapping[str, Any], split: str) -> List[Mapping[str, Any]]:
    """The pairs the verdict speaks about: all, or with several encoders those sharing one
    (head against head; all pairs if no two systems share an encoder)."""
    pairs = list(comparison["splits"][split]["paired_bootstrap"])
    if len(comparison.get("encoder_head", {}).get("encoders", ())) <= 1:
        return pairs
    return [pair for pair in pairs if pair.get("same_encoder")] or pairs


def _verdict(comparison: Mapping[str, Any]) -> str:
    headline = comparison["headline_split"]
    head_pairs = _verdict_pairs(comparison, headline)
    sentences = [pair["verdict"] for pair in head_pairs]
    for split, data in comparison["splits"].items():
        if split == headline:
            continue
        for pair, head_pair in zip(_verdict_pairs(comparison, split), head_pairs):
            same = math.copysign(1, pair["delta"]) == math.copysign(1, head_pair["delta"])
            p = _p(pair["p_value"], int(pair["n_resamples"]))
            if pair["low"] > 0 or pair["high"] < 0:
                leader = pair["a"] if pair["delta"] > 0 else pair["b"]
                text = f"{leader} ahead by {100 * abs(pair['delta']):.2f} points ({p})"
            else:
                text = (
                    f"no significant difference ({pair['a']} - {pair['b']} = "
                    f"{100 * pair['delta']:+.2f} points, {p})"
                )
            direction = "same direction as" if same else "OPPOSITE direction to"
            sentences.append(f"On {split}: {text}, {direction} {headline}.")
    systems = comparison["systems"]
    if len(comparison.get("encoder_head", {}).get("encoders", ())) > 1:
        scored = {n: s[f"{headline}_f1"] for n, s in systems.items() if s.get(f"{headline}_f1") is not None}
        if scored:
            best = max(scored, key=scored.get)  # type: ignore[arg-type]
            sentences.append(
                f"Highest {headline} F1 of the {len(systems)} systems: {best} ({_pts(scored[best])})."
            )
    speeds = {n: s["words_per_second"] for n, s in systems.items() if s["words_per_second"]}
    if len(speeds) >= 2:
        fast, slow = max(speeds, key=speeds.get), min(speeds, key=speeds.get)  # type: ignore[arg-type]
        cpu = systems[fast]["hardware"].get("gpu") or systems[fast]["hardware"].get("cpu")
        sentences.append(
            f"{fast} is {speeds[fast] / speeds[slow]:.2f}x as fast as {slow} "
            f"({speeds[fast]:,.0f} vs {speeds[slow]:,.0f} words/s on {cpu})."
        )
    return " ".join(sentences)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def comparison_markdown(comparison: Mapping[str, Any]) -> str:
    """The report a user reads to pick a head (pure)."""
    names = list(comparison["systems"])
    systems = comparison["systems"]
    headline = comparison["headline_split"]
    level = f"{100 * comparison['confidence']:.0f}%"
    multi = any(s["n_runs"] > 1 for s in systems.values())
    table = comparison.get("encoder_head") or {}
    encoders = list(table.get("encoders", ()))
    if len(encoders) > 1:
        heads = list(dict.fromkeys(row["head"] for row in table["rows"]))
        title = f"# Which NER head? {' vs '.join(heads)} on {len(encoders)} encoders ({', '.join(encoders)})"
    else:
        title = f"# Which NER head? {' vs '.join(names)}"
    lines = [title, "", f"**Verdict.** {comparison['verdict']}", ""]

    if table.get("rows"):
        lines += _encoder_head_markdown(table, multi=multi)

    lines += ["## Accuracy", ""]
    lines.append(
        f"F1 in points. **F1** is the headline: {comparison['headline_definition']}. "
        f"CI: {level} percentile bootstrap over documents ({comparison['n_resamples']:,} resamples)"
        + ("; with several runs, F1 is mean ± std over runs and the CI is over the pooled counts." if multi else ".")
    )
    lines += [
        "",
        f"| split | system | F1 | {level} CI | P | R | seqeval default | strict IOB2 | spacy evaluate ents_f | token acc |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for split, data in comparison["splits"].items():
        for name in names:
            s = data["systems"][name]
            f1 = _pts(s["f1"]) + (f" ± {_pts(s['f1_std'])}" if s["f1_std"] is not None else "")
            bold = "**" if split == headline else ""
            lines.append(
                f"| {split} | {name} | {bold}{f1}{bold} | {_pts(s['ci']['low'])}..{_pts(s['ci']['high'])} | "
                f"{_pts(s['precision'])} | {_pts(s['recall'])} | {_pts(s['f1_seqeval_default'])} | "
                f"{_pts(s['f1_strict'])} | {_pts(s['spacy_ents_f'])} | {_pts(s['token_accuracy'])} |"
            )

    lines += ["", "## Is the difference real?", ""]
    lines.append(
        "Paired bootstrap over documents: each resample draws documents with replacement and scores "
        "both systems on the same draw; p is two-sided."
    )
    if len(encoders) > 1:
        lines[-1] += (
            " With several encoders, the pairs shown share the encoder (head vs head) or the head "
            "(encoder vs encoder); every pair is in `comparison.json`."
        )
    lines += ["", f"| split | A - B | ΔF1 | {level} CI | p | verdict |", "|---|---|---:|---:|---:|---|"]
    for split, data in comparison["splits"].items():
        for pair in _shown_pairs(data["paired_bootstrap"], several=len(encoders) > 1):
            significant = pair["low"] > 0 or pair["high"] < 0
            lines.append(
                f"| {split} | {pair['a']} - {pair['b']} | {100 * pair['delta']:+.2f} | "
                f"{100 * pair['low']:+.2f}..{100 * pair['high']:+.2f} | "
                f"{_p(pair['p_value'], int(pair['n_resamples'])).replace('p=', '').replace('p<', '<')} | "
                f"{'significant' if significant else 'not significant'} |"
            )

    scores = comparison["splits"][headline]["systems"]
    types = sorted({t for s in scores.values() for t in s["per_type"]})
    lines += ["", f"## F1 per entity type ({headline})", ""]
    delta_head = f" {names[0]} - {names[1]} |" if len(names) == 2 else ""
    lines += [
        "| type | support | " + " | ".join(names) + " |" + delta_head,
        "|---|---:|" + "---:|" * len(names) + ("---:|" if len(names) == 2 else ""),
    ]
    for t in types:
        values = [scores[n]["per_type"].get(t, {}).get("f1") for n in names]
        support = max(scores[n]["per_type"].get(t, {}).get("support", 0) for n in names)
        row = f"| {t} | {support:,} | " + " | ".join(_pts(v) for v in values) + " |"
        if len(names) == 2 and None not in values:
            row += f" {100 * (values[0] - values[1]):+.2f} |"
        lines.append(row)

    lines += ["", f"## Errors ({headline})", ""]
    lines.append(
        "Entity-level error categories (from each pipeline's `" + headline + "_errors.md`, which has example "
        "sentences)" + ("; mean over runs." if multi else ".")
    )
    lines += ["", "| category | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for category in ("correct", *ERROR_CATEGORIES):
        lines.append(f"| {category} | " + " | ".join(f"{scores[n]['errors'][category]:,.0f}" for n in names) + " |")

    lines += ["", "## Speed, size, memory, training time", ""]
    lines += [
        "| system | words/s | batch size | model size MB | peak RSS MB | training time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        s = systems[name]
        lines.append(
            f"| {name} | {_num(s['words_per_second'], ',.0f')} | {scores[name]['batch_size']} | "
            f"{_num(s['model_size_mb'], ',.1f')} | {_num(s['peak_rss_mb'], ',.0f')} | {_duration(s['train_seconds'])} |"
        )
    lines += [
        "",
        f"words/s: gold words of {headline} / wall time of one `nlp.evaluate` pass (spaCy tokenization + "
        "`nlp.pipe`, first batch included). Peak RSS: the evaluate process (model load + inference). "
        "Model size: files of the pipeline folder. Training time: wall time of `spacy train` where the "
        "workflow recorded it (`train_time.json` next to model-best, or `--train-seconds`), else unknown.",
    ]

    lines += ["", "## Setup", ""]
    first = systems[names[0]]
    hw = first["hardware"]
    lines.append(
        f"- Hardware: {hw.get('cpu')}, {hw.get('cores')} cores, torch {hw.get('torch')} with "
        f"{hw.get('torch_threads')} threads" + (f", GPU {hw['gpu']}" if hw.get("gpu") else ", no GPU")
    )
    for name in names:
        s = systems[name]
        encoder = s["encoder"] or {}
        details = ", ".join(
            f"{k.replace('num_hidden_layers', 'layers').replace('hidden_size', 'hidden').replace('n_parameters', 'parameters')} {v:,}"
            if isinstance(v, int) else f"{v}"
            for k, v in encoder.items() if k in ("model_type", "num_hidden_layers", "hidden_size", "n_parameters") and v is not None
        )
        lines.append(
            f"- {name}: head `{s['head']}` on encoder `{encoder.get('label')}` ({details}); "
            f"{s['n_runs']} run(s): " + ", ".join(f"`{p}`" for p in s["pipelines"])
        )
    for split, data in comparison["splits"].items():
        s = data["systems"][names[0]]
        lines.append(f"- {split}: `{s['data_path']}`, {s['n_docs']:,} documents, {s['n_words']:,} words")
    lines += [
        "- Modes: " + "; ".join(f"{k}: {v}" for k, v in comparison["mode_labels"].items())
        + ". Predictions come from `doc.ents`, so before the mapping onto gold tokens they are valid IOB2.",
        "- The pipelines read the raw text with spaCy's tokenizer (as `spacy evaluate` does), not the gold "
        "tokens; predicted entities are mapped onto the gold tokens to be scored.",
    ]
    if not multi:
        lines.append(
            "- One training run per system: the CI covers the choice of test documents, not training "
            "randomness. Pass several runs (`--system ner=dirA,dirB,dirC`) for mean ± std over seeds."
        )
    if comparison["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in comparison["warnings"]]
    lines += ["", "![F1 per type and overall](comparison.png)", ""]
    return "\n".join(lines)


def _encoder_head_markdown(table: Mapping[str, Any], *, multi: bool) -> List[str]:
    """The encoder x head table: one row per (encoder, head), grouped by encoder."""
    splits = list(table["splits"])
    lines = ["## Encoder × head", ""]
    lines.append(
        "One row per (encoder, head), grouped by encoder; F1 in points"
        + (" (mean ± std over runs)" if multi else "")
        + f", {splits[0]} first. words/s and peak RSS from the {splits[0]} evaluation."
    )
    lines += [
        "",
        "| encoder | head | " + " | ".join(f"{split} F1" for split in splits)
        + " | words/s | model size MB | peak RSS MB |",
        "|---|---|" + "---:|" * (len(splits) + 3),
    ]
    for row in table["rows"]:
        f1s = [
            _pts(row["f1"][split]) + (f" ± {_pts(row['f1_std'][split])}" if row["f1_std"][split] is not None else "")
            for split in splits
        ]
        lines.append(
            f"| {row['encoder']} | {row['head']} | " + " | ".join(f1s)
            + f" | {_num(row['words_per_second'], ',.0f')} | {_num(row['model_size_mb'], ',.1f')} | "
            f"{_num(row['peak_rss_mb'], ',.0f')} |"
        )
    labels = {row["encoder"]: row["encoder_label"] for row in table["rows"] if row["encoder_label"]}
    renamed = [f"{encoder} = `{label}`" for encoder, label in labels.items() if label != encoder]
    if renamed:
        lines += ["", "Encoders: " + "; ".join(renamed) + "."]
    return lines + [""]


def _shown_pairs(pairs: Sequence[Mapping[str, Any]], *, several: bool) -> List[Mapping[str, Any]]:
    """All pairs; with several encoders, those sharing the encoder or the head."""
    if not several:
        return list(pairs)
    return [pair for pair in pairs if pair.get("same_encoder") or pair.get("same_head")]


def _num(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def plot_comparison(comparison: Mapping[str, Any], path: PathLike) -> Path:
    """Grouped bars: overall F1 (with CI error bars) and per-type F1 per system; words/s beside."""
    from matplotlib.figure import Figure

    headline = comparison["headline_split"]
    scores = comparison["splits"][headline]["systems"]
    names = list(comparison["systems"])
    types = sorted({t for s in scores.values() for t in s["per_type"]})
    groups = ["overall"] + types
    fig = Figure(figsize=(11, 4.8), dpi=150)
    ax, ax_speed = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1.2]})
    width = 0.8 / len(names)
    x = numpy.arange(len(groups))
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
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, top),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, groups)
    ax.set_ylabel("F1 (points)")
    ax.set_ylim(0, min(112, max(10.0, ax.get_ylim()[1] * 1.15)))
    level = f"{100 * comparison['confidence']:.0f}%"
    ax.set_title(f"Entity F1 on {headline} (overall with {level} bootstrap CI)")
    ax.legend(loc="upper right", fontsize=8, ncol=min(len(names), 4))
    ax.grid(axis="y", alpha=0.3)
    speeds = [comparison["systems"][n]["words_per_second"] or 0.0 for n in names]
    ax_speed.bar(range(len(names)), speeds, color=[f"C{i}" for i in range(len(names))])
    ax_speed.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax_speed.set_title("words/s")
    for i, value in enumerate(speeds):
        ax_speed.annotate(f"{value:,.0f}", (i, value), xytext=(0, 2), textcoords="offset points",
                          ha="center", va="bottom", fontsize=7)
    ax_speed.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save_png(fig, Path(path))


def write_comparison(comparison: Mapping[str, Any], report_dir: PathLike) -> Dict[str, Path]:
    """Write ``comparison.json``, ``comparison.md`` and ``comparison.png`` into ``report_dir``."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: report_dir / f"comparison.{kind}" for kind in ("json", "md", "png")}
    _write_json(paths["json"], comparison)
    _write_text(paths["md"], comparison_markdown(comparison))
    plot_comparison(comparison, paths["png"])
    return paths


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _save_png(fig: Any, path: Path) -> Path:
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())


def _write_text(path: Path, text: str) -> None:
    """Temp file + rename (``benchmark_utils.write_bytes_atomic``): never half-written."""
    write_bytes_atomic(path, text.encode("utf8"))


__all__ = [
    "build_comparison",
    "comparison_markdown",
    "encoder_and_head",
    "errors_markdown",
    "load_reports",
    "parse_seconds_option",
    "parse_system_option",
    "plot_comparison",
    "plot_confusion",
    "write_comparison",
    "write_evaluation",
]
