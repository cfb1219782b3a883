"""Rendering records as Markdown (pure: records in, text out): errors, comparison, summary.

F1 is a fraction (0..1) in JSON, as in spaCy's scores, and points (0..100) here.
Tables go through wasabi's ``MarkdownRenderer.table``; the number formats
(:func:`pts`, :func:`p_text`) are shared with the verdict sentences.
"""
from collections import Counter
from typing import Any, List, Mapping, Optional, Sequence, Set, Tuple

from wasabi.markdown import MarkdownRenderer

from .errors import ERROR_CATEGORIES, ERROR_HELP

SPEED_NOTE = (
    "words/s (evaluation pass): gold words / wall time of the one `nlp.evaluate` pass that produced the "
    "scores (spaCy tokenization + `nlp.pipe`, first batch included), not a benchmark: passes of different "
    "systems may have run under different loads, so compare speeds with the benchmark (`bench`), not here."
)


def pts(value: Optional[float], std: Optional[float] = None, missing: str = "n/a") -> str:
    """A fraction as points with 2 decimals, ``± std`` (also points) when given."""
    if value is None:
        return missing
    return f"{100 * value:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def p_text(value: float, n_resamples: int) -> str:
    """``p=0.012``, or ``p<0.001`` when no resample of ``n_resamples`` crossed zero."""
    return f"p<{1 / n_resamples:.3g}" if value == 0 else f"p={value:.3f}"


def table(header: Sequence[str], aligns: str, rows: Sequence[Sequence[str]]) -> List[str]:
    """A Markdown table as lines; ``aligns`` one letter per column (``l``/``r``)."""
    return MarkdownRenderer().table(rows, header, aligns=list(aligns)).splitlines()  # type: ignore[arg-type]


def _num(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _code(text: str) -> str:
    return text.replace("`", "'")


# ---------------------------------------------------------------------------
# One evaluation's errors
# ---------------------------------------------------------------------------
def errors_markdown(errors: Mapping[str, Any], *, name: str, split: str) -> str:
    """Error-analysis Markdown: a count table, then example sentences per category."""
    counts = errors["counts"]
    lines = [
        f"# Errors of {name} on {split}",
        "",
        f"{counts['n_gold']:,} gold entities, {counts['n_pred']:,} predicted "
        f"(mapped onto the gold tokens), {counts['correct']:,} exactly right.",
        "",
    ]
    lines += table(("category", "count", "meaning"), "lrl",
                   [(c, f"{counts[c]:,}", ERROR_HELP[c]) for c in ERROR_CATEGORIES])
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


# ---------------------------------------------------------------------------
# The summary (README results table)
# ---------------------------------------------------------------------------
def summary_markdown(summary: Mapping[str, Any], heads: Sequence[str]) -> str:
    """The README results table: test/dev F1 per system, the recipe, time, hardware."""
    rows: List[List[str]] = []
    systems = [("hf_trainer_recipe", "HF Trainer recipe")] + [(head, head) for head in heads]
    settings = {head: _settings_label(summary.get(head) or {}) for head in heads}
    for key, label in systems:
        entry = summary.get(key)
        if not entry:
            continue
        if len(set(settings.values())) > 1 and key in settings:  # rows of several encoders or schedules
            label += f" [{settings[key]}]"
        if entry.get("measured_here") is False:
            label += " (quoted, not measured here)"
        ci = entry.get("test_f1_ci95") or [None, None]
        spacy_f1 = entry.get("test_f1_spacy_evaluate")
        spacy_text = pts(spacy_f1, entry.get("test_f1_spacy_evaluate_std"), "-")
        if spacy_f1 is not None and None not in ci:
            spacy_text += f" [{100 * ci[0]:.2f}..{100 * ci[1]:.2f}]"
        if entry.get("n_seeds"):
            label += f" (mean of {entry['n_seeds']} seeds)"
        rows.append([
            label, pts(entry["test_f1"], entry.get("test_f1_std"), "-"), pts(entry.get("test_f1_strict"), None, "-"),
            spacy_text, pts(entry.get("dev_f1"), entry.get("dev_f1_std"), "-"), _minutes(entry.get("train_seconds")),
            _rate(entry.get("words_per_second")),
        ])
    header = ("system", "test F1", "test F1 strict IOB2", "test F1 as `spacy evaluate`", "dev F1", "train time",
              "words/s (evaluation pass)")
    lines = table(header, "lrrrrrr", rows) + _seed_rows(summary, heads)
    return "\n".join(lines) + (
        f"\n\nEncoder {summary['encoder']}; {summary['hardware']}. F1: {summary['metric']}, in points. "
        "A ± is the sample standard deviation over seeds; [a..b] the 95% bootstrap CI over test documents "
        "(one run). words/s: the evaluation pass, not a benchmark.\n"
    )


def _settings_label(entry: Mapping[str, Any]) -> str:
    steps = entry.get("max_steps")
    return f"{entry.get('encoder') or '?'}, {steps if steps is not None else '?'} steps"


def _seed_rows(summary: Mapping[str, Any], heads: Sequence[str]) -> List[str]:
    """A table of each seed's run for the heads that have several."""
    rows = [
        [head, f"`{run['pipeline']}`", pts(run["test_f1"], None, "-"),
         pts(run.get("test_f1_spacy_evaluate"), None, "-"), pts(run.get("dev_f1"), None, "-")]
        for head in heads for run in (summary.get(head) or {}).get("seeds", [])
    ]
    header = ("system", "pipeline", "test F1", "test F1 as `spacy evaluate`", "dev F1")
    return [""] + table(header, "llrrr", rows) if rows else []


def _minutes(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _rate(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------
def comparison_markdown(comparison: Mapping[str, Any]) -> str:
    """The report a user reads to pick a head (pure)."""
    names = list(comparison["systems"])
    systems = comparison["systems"]
    headline = comparison["headline_split"]
    multi = any(s["n_runs"] > 1 for s in systems.values())
    encoder_head = comparison.get("encoder_head") or {}
    encoders = list(encoder_head.get("encoders", ()))
    if len(encoders) > 1:
        heads = list(dict.fromkeys(row["head"] for row in encoder_head["rows"]))
        title = f"# Which NER head? {' vs '.join(heads)} on {len(encoders)} encoders ({', '.join(encoders)})"
    else:
        title = f"# Which NER head? {' vs '.join(names)}"
    lines = [title, "", f"**Verdict.** {comparison['verdict']}", ""]
    if encoder_head.get("rows"):
        lines += _encoder_head_markdown(encoder_head, multi=multi)
    lines += _accuracy_markdown(comparison, multi=multi)
    lines += _pairs_markdown(comparison, several=len(encoders) > 1)
    lines += _per_type_markdown(comparison)
    scores = comparison["splits"][headline]["systems"]
    lines += ["", f"## Errors ({headline})", ""]
    lines.append(
        "Entity-level error categories (from each pipeline's `" + headline + "_errors.md`, which has example "
        "sentences)" + ("; mean over runs." if multi else ".")
    )
    lines += [""] + table(["category", *names], "l" + "r" * len(names), [
        [category] + [f"{scores[n]['errors'][category]:,.0f}" for n in names]
        for category in ("correct", *ERROR_CATEGORIES)
    ])
    lines += ["", "## Evaluation pass: words/s, size, memory, training time", ""]
    lines += table(
        ("system", "words/s (evaluation pass)", "batch size", "model size MB", "peak RSS MB", "training time"),
        "lrrrrr",
        [[name, _num(systems[name]["words_per_second"], ",.0f"), str(scores[name]["batch_size"]),
          _num(systems[name]["model_size_mb"], ",.1f"), _num(systems[name]["peak_rss_mb"], ",.0f"),
          _duration(systems[name]["train_seconds"])] for name in names],
    )
    lines += [
        "",
        f"{SPEED_NOTE} Peak RSS: the evaluate process (model load + inference). "
        "Model size: files of the pipeline folder. Training time: wall time of `spacy train` where the "
        "workflow recorded it (`train_time.json` next to model-best, or `--train-seconds`), else unknown.",
    ]
    lines += _setup_markdown(comparison, multi=multi)
    if comparison["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in comparison["warnings"]]
    lines += ["", "![F1 per type and overall](comparison.png)", ""]
    return "\n".join(lines)


def _accuracy_markdown(comparison: Mapping[str, Any], *, multi: bool) -> List[str]:
    level = f"{100 * comparison['confidence']:.0f}%"
    lines = ["## Accuracy", ""]
    lines.append(
        f"F1 in points. **F1** is the headline: {comparison['headline_definition']}. "
        f"CI: {level} percentile bootstrap over documents ({comparison['n_resamples']:,} resamples)"
        + ("; with several runs, F1 is mean ± std over runs and the CI is over the pooled counts." if multi else ".")
    )
    rows = []
    for split, data in comparison["splits"].items():
        for name in comparison["systems"]:
            s = data["systems"][name]
            bold = "**" if split == comparison["headline_split"] else ""
            rows.append([
                split, name, f"{bold}{pts(s['f1'], s['f1_std'])}{bold}", f"{pts(s['ci']['low'])}..{pts(s['ci']['high'])}",
                pts(s["precision"]), pts(s["recall"]), pts(s["f1_seqeval_default"]), pts(s["f1_strict"]),
                pts(s["spacy_ents_f"]), pts(s["token_accuracy"]),
            ])
    header = ("split", "system", "F1", f"{level} CI", "P", "R", "seqeval default", "strict IOB2",
              "spacy evaluate ents_f", "token acc")
    return lines + [""] + table(header, "llrrrrrrrr", rows)


def _pairs_markdown(comparison: Mapping[str, Any], *, several: bool) -> List[str]:
    level = f"{100 * comparison['confidence']:.0f}%"
    lines = ["", "## Is the difference real?", ""]
    lines.append(
        "Paired bootstrap over documents: each resample draws documents with replacement and scores "
        "both systems on the same draw; p is two-sided."
    )
    if several:
        lines[-1] += (
            " With several encoders, the pairs shown share the encoder (head vs head) or the head "
            "(encoder vs encoder); every pair is in `comparison.json`."
        )
    rows = []
    for split, data in comparison["splits"].items():
        for pair in _shown_pairs(data["paired_bootstrap"], several=several):
            significant = pair["low"] > 0 or pair["high"] < 0
            p = p_text(pair["p_value"], int(pair["n_resamples"])).replace("p=", "").replace("p<", "<")
            rows.append([
                split, f"{pair['a']} - {pair['b']}", f"{100 * pair['delta']:+.2f}",
                f"{100 * pair['low']:+.2f}..{100 * pair['high']:+.2f}", p,
                "significant" if significant else "not significant",
            ])
    return lines + [""] + table(("split", "A - B", "ΔF1", f"{level} CI", "p", "verdict"), "llrrrl", rows)


def _per_type_markdown(comparison: Mapping[str, Any]) -> List[str]:
    names = list(comparison["systems"])
    headline = comparison["headline_split"]
    scores = comparison["splits"][headline]["systems"]
    types = sorted({t for s in scores.values() for t in s["per_type"]})
    two = len(names) == 2
    rows = []
    for t in types:
        values = [scores[n]["per_type"].get(t, {}).get("f1") for n in names]
        support = max(scores[n]["per_type"].get(t, {}).get("support", 0) for n in names)
        row = [t, f"{support:,}"] + [pts(v) for v in values]
        if two:
            row.append(f"{100 * (values[0] - values[1]):+.2f}" if None not in values else "")
        rows.append(row)
    header = ["type", "support", *names] + ([f"{names[0]} - {names[1]}"] if two else [])
    return ["", f"## F1 per entity type ({headline})", ""] + table(header, "lr" + "r" * (len(header) - 2), rows)


def _setup_markdown(comparison: Mapping[str, Any], *, multi: bool) -> List[str]:
    systems = comparison["systems"]
    names = list(systems)
    hw = systems[names[0]]["hardware"]
    lines = ["", "## Setup", ""]
    lines.append(
        f"- Hardware: {hw.get('cpu')}, {hw.get('cores')} cores, torch {hw.get('torch')} with "
        f"{hw.get('torch_threads')} threads" + (f", GPU {hw['gpu']}" if hw.get("gpu") else ", no GPU")
    )
    short = {"num_hidden_layers": "layers", "hidden_size": "hidden", "n_parameters": "parameters"}
    for name in names:
        s = systems[name]
        encoder = s["encoder"] or {}
        details = ", ".join(
            f"{short.get(k, k)} {v:,}" if isinstance(v, int) else f"{v}"
            for k, v in encoder.items() if k in ("model_type", *short) and v is not None
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
    return lines


def _encoder_head_markdown(encoder_head: Mapping[str, Any], *, multi: bool) -> List[str]:
    """The encoder x head table: one row per (encoder, head), grouped by encoder."""
    splits = list(encoder_head["splits"])
    lines = ["## Encoder × head", ""]
    lines.append(
        "One row per (encoder, head), grouped by encoder; F1 in points"
        + (" (mean ± std over runs)" if multi else "")
        + f", {splits[0]} first. words/s (evaluation pass, not a benchmark) and peak RSS from the "
        f"{splits[0]} evaluation."
    )
    pairs = Counter((row["encoder"], row["head"]) for row in encoder_head["rows"])
    shared = {pair for pair, count in pairs.items() if count > 1}
    rows = [
        [row["encoder"], _head_label(row, shared)] + [pts(row["f1"][split], row["f1_std"][split]) for split in splits]
        + [_num(row["words_per_second"], ",.0f"), _num(row["model_size_mb"], ",.1f"), _num(row["peak_rss_mb"], ",.0f")]
        for row in encoder_head["rows"]
    ]
    header = ["encoder", "head", *(f"{split} F1" for split in splits),
              "words/s (evaluation pass)", "model size MB", "peak RSS MB"]
    lines += [""] + table(header, "ll" + "r" * (len(splits) + 3), rows)
    labels = {row["encoder"]: row["encoder_label"] for row in encoder_head["rows"] if row["encoder_label"]}
    renamed = [f"{encoder} = `{label}`" for encoder, label in labels.items() if label != encoder]
    if renamed:
        lines += ["", "Encoders: " + "; ".join(renamed) + "."]
    return lines + [""]


def _head_label(row: Mapping[str, Any], shared: Set[Tuple[str, str]]) -> str:
    """The head, and the system's name where several rows share encoder and head (``token_classifier (crf)``)."""
    system = row.get("system")
    if (row["encoder"], row["head"]) not in shared or system in (None, row["head"]):
        return row["head"]
    return f"{row['head']} ({system})"


def _shown_pairs(pairs: Sequence[Mapping[str, Any]], *, several: bool) -> List[Mapping[str, Any]]:
    """All pairs; with several encoders, those sharing the encoder or the head."""
    if not several:
        return list(pairs)
    return [pair for pair in pairs if pair.get("same_encoder") or pair.get("same_head")]
