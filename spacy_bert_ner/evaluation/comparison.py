"""Building the head-to-head comparison of two or more systems (pure: metrics in, a record out).

On top of :mod:`~spacy_bert_ner.evaluation.aggregate` (scores averaged over
seeds, bootstrap on counts pooled over seeds), this adds what only a comparison
has: a paired bootstrap per pair of systems on the same documents, the encoder
x head table when several encoders are compared, warnings, and the verdict.
The verdict speaks about accuracy only: the words/s in the metrics come from
evaluation passes that may have run under different loads, so speed claims are
left to the benchmark (``bench``).
"""
import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .aggregate import (
    Systems,
    check_same_documents,
    load_systems,
    ordered_splits,
    pooled_counts,
    split_scores,
    train_time,
)
from .markdown import p_text, pts
from .metrics import MODE_LABELS
from .records import COMPARISON_SCHEMA, ComparisonRecord, PairRecord
from .stats import mean_std, paired_bootstrap

PathLike = Union[str, Path]
Reports = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


def load_reports(systems: Mapping[str, Sequence[PathLike]], headline_split: str = "test") -> Systems:
    """``{system: {split: [metrics per run]}}`` (:func:`~.aggregate.load_systems`), at least two systems."""
    if len(systems) < 2:
        raise ValueError(f"expected at least two systems to compare, got {len(systems)}: {list(systems)}")
    return load_systems(systems, required=(headline_split,))


def build_comparison(
    reports: Reports,
    *,
    headline_split: str = "test",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    train_seconds: Optional[Mapping[str, float]] = None,
) -> ComparisonRecord:
    """The comparison record written to ``comparison.json`` (pure).

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
    splits = ordered_splits(list(set.intersection(*(set(reports[n]) for n in names))))
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
        check_same_documents(runs, split)
        pooled = {name: pooled_counts(runs[name]) for name in names}
        scores = {
            name: split_scores(runs[name], pooled[name], n_resamples=n_resamples, confidence=confidence, seed=seed)
            for name in names
        }
        pairs: List[PairRecord] = []
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
    comparison: ComparisonRecord = {  # type: ignore[typeddict-item]  # verdict added below
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
        train = train_time(runs)
    pipeline = runs[0]["pipeline"]
    return {
        **summary,
        "words_per_second": per_split[headline_split]["systems"][name]["words_per_second"],
        "model_size_mb": mean_std([m["resources"]["model_size_mb"] for m in runs])[0],
        "peak_rss_mb": mean_std([m["resources"]["peak_rss_mb"] for m in runs])[0],
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
        warnings.append("the systems were evaluated on different hardware or thread settings: their evaluation-pass words/s are not comparable")
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
                    f"seqeval, which cannot score those as predicted, gives F1 {pts(scores['f1_seqeval_default'])} "
                    f"against the headline's {pts(scores['f1'])}"
                )
    return warnings


def _pair_verdict(a: str, b: str, test: Mapping[str, float], split: str, scores: Mapping[str, Mapping[str, Any]]) -> str:
    n_docs = scores[a]["n_docs"]
    p = p_text(test["p_value"], int(test["n_resamples"]))
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
            p = p_text(pair["p_value"], int(pair["n_resamples"]))
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
                f"Highest {headline} F1 of the {len(systems)} systems: {best} ({pts(scored[best])})."
            )
    return " ".join(sentences)

