"""``gmb.json`` / ``gmb.md``: the GMB rows side by side, the quoted original, and whether POS helps.

Built from what the ``gmb`` workflow wrote, never typed in: each row's
``{dev,test}_metrics.json`` (one folder per seed) through
:func:`~.comparison.build_comparison` (mean ± std over seeds, bootstrap CIs,
per-type F1, the paired bootstrap on the same documents), the HF Trainer
recipe's JSON, and the original system's figures from a JSON file
(:class:`PublishedResult`): another encoder and another split, shown beside the
rows and never tested against them. Which POS a row saw at test time is read
from its metrics (``data.gold_tags`` from ``evaluate --gold-tags``, a
``tagger`` among its components), not from its name.
"""
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..bench.train_time import TRAIN_LOG_FILE, read_train_log
from ..files import write_bytes_atomic, write_json_atomic
from .aggregate import read_json
from .comparison import build_comparison, load_reports
from .markdown import p_text, pts, table
from .summary import recipe_summary

PathLike = Union[str, Path]
GMB_SCHEMA = "spacy_bert_ner.gmb_results.v1"
NO_POS, PREDICTED_POS, GOLD_POS = "token_classifier", "token_classifier_pos", "token_classifier_goldpos"
# (A, B, question): A - B on the same documents answers the question.
POS_PAIRS = (
    (PREDICTED_POS, NO_POS, "Do predicted POS tags (a tagger on raw text) help?"),
    (GOLD_POS, NO_POS, "Do gold POS tags (the original setting) help?"),
    (GOLD_POS, PREDICTED_POS, "Do tagging errors cost accuracy (gold against predicted POS)?"),
)
# A run whose dev F1 rose more than this over its last evaluation interval had not flattened:
# its step budget, not the data, set its figure.
FLAT_GAIN_POINTS = 0.2
ROW_LABELS = {
    NO_POS: "token_classifier, no POS",
    PREDICTED_POS: "token_classifier + predicted POS (tagger)",
    GOLD_POS: "token_classifier + gold POS (original setting)",
    "ner": "spaCy ner",
}


@dataclass(frozen=True)
class PublishedResult:
    """A result quoted from elsewhere (``configs/gmb_original.json``); F1, P, R in points as published."""

    system: str
    encoder: str
    pos: str
    split: str
    source: str
    architecture: str
    micro: Dict[str, float]  # f1, precision, recall
    per_type_f1: Dict[str, float]


def load_published(path: PathLike) -> PublishedResult:
    """The quoted result in ``path``; ValueError naming the file and the field that is wrong."""
    data = read_json(path, "a quoted result (configs/gmb_original.json)")
    names = [f.name for f in fields(PublishedResult)]
    missing = [name for name in names if name not in data]
    if not isinstance(data, dict) or missing:
        raise ValueError(f"{path}: expected an object with {', '.join(names)}; missing {', '.join(missing)}")
    if sorted(data["micro"]) != ["f1", "precision", "recall"]:
        raise ValueError(f"{path}: micro must hold f1, precision and recall, got {sorted(data['micro'])}")
    for where in ("micro", "per_type_f1"):
        for key, value in data[where].items():
            if not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise ValueError(f"{path}: {where}.{key} must be a number of points in 0..100, got {value!r}")
    return PublishedResult(**{name: data[name] for name in names})


def pos_at_test_time(runs: Sequence[Mapping[str, Any]]) -> str:
    """``gold`` (evaluated with ``--gold-tags``), ``predicted`` (a tagger in the pipeline) or ``none``."""
    if any((m.get("data") or {}).get("gold_tags") for m in runs):
        return "gold"
    components = (runs[0].get("pipeline") or {}).get("components") or {}
    return "predicted" if "tagger" in components.values() else "none"


def oriented_pair(pairs: Sequence[Mapping[str, Any]], a: str, b: str) -> Optional[Dict[str, Any]]:
    """The paired test of ``a - b`` among ``pairs`` (turned round if stored as ``b - a``), or None."""
    for pair in pairs:
        if (pair["a"], pair["b"]) == (a, b):
            return dict(pair)
        if (pair["a"], pair["b"]) == (b, a):
            return {**pair, "a": a, "b": b, "delta": -pair["delta"], "low": -pair["high"], "high": -pair["low"]}
    return None


def pos_answer(question: str, pair: Mapping[str, Any], split: str) -> str:
    """One plain sentence: the question, yes / no / no significant difference, with ΔF1, CI and p."""
    p = p_text(pair["p_value"], int(pair["n_resamples"]))
    numbers = (
        f"{pair['a']} - {pair['b']} = {100 * pair['delta']:+.2f} F1 points on {split} "
        f"({100 * pair['confidence']:.0f}% CI {100 * pair['low']:+.2f}..{100 * pair['high']:+.2f}, {p})"
    )
    if pair["low"] > 0:
        return f"{question} Yes: {numbers}."
    if pair["high"] < 0:
        return f"{question} No, it hurts: {numbers}."
    return f"{question} No significant difference: {numbers}."


@dataclass(frozen=True)
class DevCurve:
    """Dev F1 (points, spaCy's scorer) at each evaluation of one training run (``gmb.json``'s ``dev_curves``)."""

    log: str
    steps: List[int]
    dev_f1: List[float]
    last_gain: float  # over the last evaluation interval
    flattened: bool  # last_gain <= FLAT_GAIN_POINTS


def dev_curve(train_dir: PathLike, score: str = "ents_f") -> DevCurve:
    """The dev F1 curve of the run in ``train_dir`` (its ``train_log.jsonl``)."""
    log = Path(train_dir) / TRAIN_LOG_FILE
    points = [(row["step"], (row.get("scores") or {}).get(score)) for row in read_train_log(log)]
    points = [(step, value) for step, value in points if isinstance(value, (int, float))]
    if len(points) < 2:
        raise ValueError(f"{log}: fewer than two dev evaluations with {score!r}")
    last_gain = points[-1][1] - points[-2][1]
    return DevCurve(log=str(log), steps=[step for step, _ in points], dev_f1=[value for _, value in points],
                    last_gain=last_gain, flattened=last_gain <= FLAT_GAIN_POINTS)


def build_gmb_results(
    systems: Mapping[str, Sequence[PathLike]],
    *,
    recipe_path: Optional[PathLike],
    original_path: PathLike,
    training: Optional[Mapping[str, Sequence[PathLike]]] = None,
    headline_split: str = "test",
    n_resamples: int = 1000,
    seed: int = 0,
) -> Dict[str, Any]:
    """The record written to ``gmb.json`` (see the module docstring).

    training: row name -> its training folders (``train_log.jsonl``), for the dev F1 curves.
    """
    reports = load_reports(systems, headline_split=headline_split)
    comparison = build_comparison(reports, headline_split=headline_split, n_resamples=n_resamples, seed=seed)
    pos = {name: pos_at_test_time(reports[name][headline_split]) for name in reports}
    effects = []
    for split, data in comparison["splits"].items():
        for a, b, question in POS_PAIRS:
            pair = oriented_pair(data["paired_bootstrap"], a, b)
            if pair is not None:
                effects.append({"split": split, "question": question, **pair, "answer": pos_answer(question, pair, split)})
    recipe = None
    if recipe_path is not None:
        recipe = recipe_summary(recipe_path)
        recipe["per_type_f1"] = {t: v["f1"] for t, v in read_json(recipe_path)["test"]["default"]["per_type"].items()}
    return {
        "schema": GMB_SCHEMA,
        "headline_split": headline_split,
        "pos_at_test_time": pos,
        "pos_effect": effects,
        "hf_trainer_recipe": recipe,
        "original": {**asdict(load_published(original_path)), "measured_here": False, "file": str(original_path)},
        "sources": {name: [str(d) for d in dirs] for name, dirs in systems.items()},
        "dev_curves": {name: [asdict(dev_curve(d)) for d in dirs] for name, dirs in (training or {}).items()},
        "warnings": comparison["warnings"] + _pos_warnings(pos),
        "comparison": comparison,
    }


def gmb_paths(output_dir: PathLike) -> Dict[str, Path]:
    """``gmb.json`` and ``gmb.md`` in ``output_dir`` (the curated results folder)."""
    return {"json": Path(output_dir) / "gmb.json", "md": Path(output_dir) / "gmb.md"}


def write_gmb_results(results: Mapping[str, Any], output_dir: PathLike) -> Dict[str, Path]:
    """Write both files atomically; nothing else in ``output_dir`` is touched."""
    paths = gmb_paths(output_dir)
    write_json_atomic(paths["json"], dict(results))
    write_bytes_atomic(paths["md"], gmb_markdown(results).encode("utf8"))
    return paths


def _pos_warnings(pos: Mapping[str, str]) -> List[str]:
    expected = {NO_POS: "none", PREDICTED_POS: "predicted", GOLD_POS: "gold"}
    return [
        f"{name}: its metrics say POS at test time was {pos[name]!r}, expected {want!r} for this row "
        f"({'evaluate it with --gold-tags' if want == 'gold' else 'check its pipeline'})"
        for name, want in expected.items() if name in pos and pos[name] != want
    ]


def gmb_markdown(results: Mapping[str, Any]) -> str:
    """The page a user reads (pure): answers first, then F1, per type, the paired tests, how to read them."""
    comparison = results["comparison"]
    split = results["headline_split"]
    lines = ["# GMB: POS features, spaCy ner and the HF Trainer recipe", ""]
    answers = [e["answer"] for e in results["pos_effect"] if e["split"] == split]
    if answers:
        lines += ["**Does POS help?** " + " ".join(answers), ""]
    lines += _f1_table(results) + _per_type_table(results) + _pairs_table(results)
    lines += _curves_table(results.get("dev_curves") or {})
    lines += ["", "## Reading the POS rows", "", READING_POS]
    if results["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in results["warnings"]]
    sources = "; ".join(f"{name}: {', '.join(dirs)}" for name, dirs in results["sources"].items())
    lines += ["", f"Sources: {sources}; the original: `{results['original']['file']}`. "
              f"Headline F1: {comparison['headline_definition']}.", ""]
    return "\n".join(lines)


READING_POS = (
    "*Gold POS* feeds the corpus's own POS column to the classifier at test time, as the original "
    "system did: what POS adds when the tags are perfect, which raw text never has. *Predicted POS* is "
    "what a user gets: a tagger trained on the same column from the shared transformer tags the text "
    "first, and the classifier was trained on those predicted tags. Read gold - none as what perfect "
    "tags give, predicted - none as what POS gives in practice, and gold - predicted as the cost of "
    "tagging errors. The quoted original used another encoder (BERT-base-cased) and another split: "
    "it is context, not a row to test against."
)


def _f1_table(results: Mapping[str, Any]) -> List[str]:
    comparison = results["comparison"]
    split = comparison["headline_split"]
    others = [s for s in comparison["splits"] if s != split]
    rows = []
    for name, system in comparison["systems"].items():
        scores = comparison["splits"][split]["systems"][name]
        dev = comparison["splits"][others[0]]["systems"][name] if others else None
        rows.append([
            ROW_LABELS.get(name, name), results["pos_at_test_time"][name], pts(scores["f1"], scores["f1_std"]),
            f"{pts(scores['ci']['low'])}..{pts(scores['ci']['high'])}", pts(scores["precision"]),
            pts(scores["recall"]), pts(dev["f1"], dev["f1_std"]) if dev else "-", str(system["n_runs"]),
            (system["encoder"] or {}).get("label") or "-",
        ])
    recipe = results["hf_trainer_recipe"]
    if recipe:
        rows.append(["HF Trainer recipe (sentence level)", "none", pts(recipe["test_f1"]), "-",
                     pts(recipe["test_precision"]), pts(recipe["test_recall"]), pts(recipe["dev_f1"], None, "-"),
                     "1", "same encoder"])
    original = results["original"]
    rows.append([
        "original, quoted (another encoder and split)", original["pos"], f"{original['micro']['f1']}", "-",
        f"{original['micro']['precision']}", f"{original['micro']['recall']}", "-", "-", original["encoder"],
    ])
    header = ("system", "POS at test time", f"{split} F1", "95% CI", "P", "R",
              f"{others[0]} F1" if others else "dev F1", "runs", "encoder")
    note = (f"F1, P, R in points on the {split} split; ± is the std over runs (seeds), the CI a bootstrap over "
            "documents on the pooled counts. The HF recipe is scored by seqeval (default mode) on the gold words.")
    quoted = (f"The original row is quoted as published, not measured here: {original['system']}; "
              f"{original['architecture']}; {original['split']}; {original['source']}.")
    return [f"## F1 ({split})", "", note, ""] + table(header, "llrrrrrrl", rows) + ["", quoted]


def _per_type_table(results: Mapping[str, Any]) -> List[str]:
    comparison = results["comparison"]
    split = comparison["headline_split"]
    scores = comparison["splits"][split]["systems"]
    names = list(comparison["systems"])
    recipe = results["hf_trainer_recipe"] or {}
    original = results["original"]["per_type_f1"]
    types = sorted({t for s in scores.values() for t in s["per_type"]} | set(original))
    rows = []
    for t in types:
        support = max(scores[n]["per_type"].get(t, {}).get("support", 0) for n in names)
        row = [t, f"{support:,}"] + [pts(scores[n]["per_type"].get(t, {}).get("f1")) for n in names]
        if recipe:
            row.append(pts((recipe.get("per_type_f1") or {}).get(t)))
        row.append(str(original[t]) if t in original else "-")
        rows.append(row)
    header = ["type", "support", *names] + (["HF recipe"] if recipe else []) + ["original (quoted)"]
    return ["", f"## F1 per entity type ({split})", ""] + table(header, "lr" + "r" * (len(header) - 2), rows)


def _pairs_table(results: Mapping[str, Any]) -> List[str]:
    rows = []
    for effect in results["pos_effect"]:
        significant = effect["low"] > 0 or effect["high"] < 0
        rows.append([
            effect["split"], f"{effect['a']} - {effect['b']}", f"{100 * effect['delta']:+.2f}",
            f"{100 * effect['low']:+.2f}..{100 * effect['high']:+.2f}",
            p_text(effect["p_value"], int(effect["n_resamples"])), "significant" if significant else "not significant",
        ])
    if not rows:
        return []
    intro = ("Paired bootstrap over documents (each resample scores both rows on the same documents, counts "
             "pooled over seeds); p is two-sided. Every pair of rows is in `gmb.json` (`comparison`).")
    return ["", "## Does POS help? Paired bootstrap", "", intro, ""] + table(
        ("split", "A - B", "ΔF1", "95% CI", "p", "verdict"), "llrrrl", rows
    )


def _curves_table(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> List[str]:
    runs = [(name, curve) for name, row_curves in curves.items() for curve in row_curves]
    if not runs:
        return []
    steps = sorted({step for _, curve in runs for step in curve["steps"] if step > 0})
    rows = []
    for name, curve in runs:
        at = dict(zip(curve["steps"], curve["dev_f1"]))
        verdict = "flat" if curve["flattened"] else "still rising: the budget set it"
        rows.append([name, curve["log"], *[f"{at[s]:.2f}" if s in at else "-" for s in steps],
                     f"{curve['last_gain']:+.2f}", verdict])
    intro = (f"Dev F1 (points, spaCy's scorer) at each evaluation of each training run, from its "
             f"`{TRAIN_LOG_FILE}`; a run whose last gain is above {FLAT_GAIN_POINTS} points had not flattened.")
    header = ["row", "log", *[f"step {s:,}" for s in steps], "last gain", "verdict"]
    return ["", "## Schedule: dev F1 during training", "", intro, ""] + table(
        header, "ll" + "r" * (len(steps) + 1) + "l", rows
    )
