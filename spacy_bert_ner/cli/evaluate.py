"""CLI commands: scoring: evaluate one pipeline, choose windows, compare heads, summarize seeds."""
import math
from pathlib import Path
from typing import List, Optional, Tuple

import typer
from wasabi import msg

from ..files import check_not_input, check_report_output
from .app import app
from .options import parse_pair, split_values
from .progress import QUIET_HELP, progress_printer


@app.command("evaluate")
def evaluate_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder (e.g. training/RUN/ner/model-best)"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy), read as `spacy evaluate` reads it"),
    output_dir: Path = typer.Argument(..., help="Folder for {split}_metrics.json, _confusion.json/.png, _errors.json/.md"),
    name: str = typer.Option("ner", help="System name used in the report"),
    split: str = typer.Option("test", help="Split name, used in file names"),
    gpu_id: int = typer.Option(-1, help="-1 = CPU; N = GPU N"),
    n_examples: int = typer.Option(5, help="Example sentences per error category"),
    n_resamples: int = typer.Option(1000, help="Bootstrap resamples for the F1 CI"),
    train_time: Optional[Path] = typer.Option(None, help='JSON {"seconds": ...} (default: train_time.json beside PIPELINE_DIR)'),
    encoder: Optional[str] = typer.Option(None, help="Encoder name to report (default: from the pipeline config)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    gold_tags: bool = typer.Option(
        False, "--gold-tags", help="Copy the data's gold POS (token.tag_) into each document before the pipeline "
        "runs: for a head trained on gold POS (GMB's original setting); raw text has no gold tags",
    ),
    precision: str = typer.Option("fp32", help="Run the transformer in fp32, bf16, int8, onnx or onnx-int8 (spacy-bert-ner.TransformerModel.v2, docs/speed.md)"),
    fp32_module: List[str] = typer.Option([], "--fp32-module", help="fnmatch pattern of an encoder Linear layer int8 leaves in fp32 (from select-int8); repeat or comma-separate"),
    int8_per_channel: bool = typer.Option(False, "--int8-per-channel/--int8-per-tensor", help="int8 weight scales per output channel or per matrix"),
) -> None:
    """Score one pipeline like `spacy evaluate`, plus seqeval, bootstrap CI, errors, speed, size."""
    from ..evaluation.pipeline_eval import evaluate_pipeline
    from ..evaluation.report import evaluation_paths, write_evaluation
    from ..precision import Precision, precision_overrides

    try:
        names = [path.name for path in evaluation_paths(output_dir, split).values()]
        check_report_output(output_dir, names, [pipeline_dir, data_path, train_time])
        mode = Precision(precision, split_values(fp32_module), int8_per_channel)
        overrides = precision_overrides(pipeline_dir, mode) if mode.mode != "fp32" or mode.fp32_modules else None
        metrics = evaluate_pipeline(
            pipeline_dir, data_path, name=name, split=split, gpu_id=gpu_id, n_examples=n_examples,
            n_resamples=n_resamples, train_time_path=train_time, encoder_label=encoder, warn=msg.warn,
            progress=progress_printer(quiet), gold_tags=gold_tags, overrides=overrides,
        )
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    paths = write_evaluation(metrics, output_dir)
    head, ci = metrics["headline"], metrics["headline"]["ci"]
    ci_text = f" (95% CI {100 * ci['low']:.2f}..{100 * ci['high']:.2f})" if ci else ""
    if gold_tags:
        msg.warn("gold POS: the documents carried the data's gold tags (--gold-tags), which raw text never has")
    if overrides:
        msg.info(f"precision: {mode.label()}")
    msg.good(f"{name} on {split}: F1 {100 * head['f1']:.2f}{ci_text}, P {100 * head['precision']:.2f}, R {100 * head['recall']:.2f}")
    msg.text(
        f"seqeval default {100 * metrics['seqeval']['default']['f1']:.2f}, strict IOB2 "
        f"{100 * metrics['seqeval']['strict']['f1']:.2f}; {metrics['speed']['words_per_second']:,.0f} words/s (this evaluation pass); "
        f"wrote {', '.join(p.name for p in paths.values())} to {output_dir}"
    )


@app.command("windows")
def windows_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy), normally dev"),
    output_path: Path = typer.Argument(..., help="JSON file for the scores"),
    window: List[str] = typer.Option(..., help="Inference windows: WINDOW/STRIDE (strided, e.g. 160/128) or sentences:WINDOW (whole sentences packed into <= WINDOW tokens, no overlap); repeat"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Score a pipeline on DATA under several inference windows (choose them on dev)."""
    from ..files import write_json_atomic
    from ..evaluation.windows import parse_window, score_windows, span_getter_config, window_label

    try:
        check_not_input(output_path, [pipeline_dir, data_path])
        result = score_windows(pipeline_dir, data_path, [parse_window(value) for value in window],
                               progress=progress_printer(quiet))
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    write_json_atomic(output_path, result)
    for setting in result["settings"]:
        label = window_label(span_getter_config(setting["window"], setting["stride"]))
        msg.text(f"{label}: F1 {100 * setting['f1']:.2f}, {setting['seconds']:.1f} s")
    msg.good(f"Wrote {output_path}")


@app.command("compare")
def compare_cmd(
    report_dir: Path = typer.Argument(..., help="Folder for comparison.json/.md/.png"),
    system: List[str] = typer.Option(..., help="NAME=DIR with {split}_metrics.json; NAME=DIR1,DIR2,... for several seeds. Repeat per system"),
    split: str = typer.Option("test", help="Headline split; other splits every folder has are shown too"),
    n_resamples: int = typer.Option(1000, help="Bootstrap resamples (CIs and the paired test)"),
    seed: int = typer.Option(0, help="Bootstrap random seed"),
    train_seconds: List[str] = typer.Option([], help="NAME=SECONDS training time, overriding train_time.json"),
) -> None:
    """Head-to-head report: F1 with CIs, paired bootstrap, per type, size, training time, verdict."""
    from ..evaluation.comparison import build_comparison, load_reports
    from ..evaluation.report import comparison_paths, write_comparison

    try:
        systems = dict(system_dirs(value, "--system") for value in system)
        names = [path.name for path in comparison_paths(report_dir).values()]
        check_report_output(report_dir, names, [d for dirs in systems.values() for d in dirs])
        seconds = dict(train_seconds_pair(value) for value in train_seconds)
        comparison = build_comparison(
            load_reports(systems, headline_split=split), headline_split=split,
            n_resamples=n_resamples, seed=seed, train_seconds=seconds,
        )
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    paths = write_comparison(comparison, report_dir)
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")
    msg.text(comparison["verdict"])
    for warning in comparison["warnings"]:
        msg.warn(warning)


@app.command("summary")
def summary_cmd(
    output_dir: Path = typer.Argument(..., help="Folder for summary.json and summary.md (e.g. reports/conll2003)"),
    head: List[str] = typer.Option(..., help="NAME=DIR holding {test,dev}_metrics.json; NAME=DIR1,DIR2,... for several seeds (mean ± std). Repeat per head"),
    hf_recipe: Optional[Path] = typer.Option(None, help="The HF Trainer recipe's JSON (the hf-recipe command)"),
    command: List[str] = typer.Option([], help="NAME=COMMAND that reproduces a number. Repeat"),
) -> None:
    """Collect a run's headline numbers into summary.json (+ the README table as summary.md)."""
    from ..evaluation.report import summary_paths, write_summary
    from ..evaluation.summary import build_summary

    try:
        heads = dict(system_dirs(value, "--head") for value in head)
        names = [path.name for path in summary_paths(output_dir).values()]
        check_report_output(output_dir, names, [d for dirs in heads.values() for d in dirs] + [hf_recipe])
        commands = dict(parse_pair(value, "--command") for value in command)
        summary = build_summary(heads, hf_recipe, commands)
    except (OSError, ValueError, KeyError) as err:
        msg.fail(f"summary: {err}", exits=1)
    paths = write_summary(summary, list(heads), output_dir)
    msg.good(f"Wrote {paths['json']} and {paths['md']}")
    typer.echo(paths["md"].read_text(encoding="utf8"))



@app.command("gmb-results")
def gmb_results_cmd(
    output_dir: Path = typer.Argument(..., help="Folder for gmb.json and gmb.md (e.g. docs/results)"),
    system: List[str] = typer.Option(..., help="NAME=DIR with {test,dev}_metrics.json; NAME=DIR1,DIR2,... for several seeds. Rows named token_classifier, token_classifier_pos, token_classifier_goldpos are the POS rows"),
    original: Path = typer.Option(Path("configs/gmb_original.json"), help="The original system's quoted figures (another encoder and split)"),
    hf_recipe: Optional[Path] = typer.Option(None, help="The HF Trainer recipe's JSON on the same split and encoder"),
    training: List[str] = typer.Option([], help="NAME=DIR[,DIR...]: a row's training folders (train_log.jsonl), for its dev F1 curve"),
    split: str = typer.Option("test", help="Headline split"),
    n_resamples: int = typer.Option(1000, help="Bootstrap resamples (CIs and the paired tests)"),
    seed: int = typer.Option(0, help="Bootstrap random seed"),
) -> None:
    """GMB results: the rows (no POS, predicted POS, gold POS, ner, HF recipe), the quoted original, whether POS helps."""
    from ..evaluation.gmb_results import build_gmb_results, gmb_paths, write_gmb_results

    try:
        systems = dict(system_dirs(value, "--system") for value in system)
        runs = dict(system_dirs(value, "--training") for value in training)
        names = [path.name for path in gmb_paths(output_dir).values()]
        inputs = [d for dirs in [*systems.values(), *runs.values()] for d in dirs] + [hf_recipe, original]
        check_report_output(output_dir, names, inputs)
        results = build_gmb_results(systems, recipe_path=hf_recipe, original_path=original, training=runs,
                                    headline_split=split, n_resamples=n_resamples, seed=seed)
    except (OSError, ValueError, KeyError) as err:
        msg.fail(f"gmb-results: {err}", exits=1)
    paths = write_gmb_results(results, output_dir)
    msg.good(f"Wrote {paths['json']} and {paths['md']}")
    for effect in results["pos_effect"]:
        if effect["split"] == split:
            msg.text(effect["answer"])
    for warning in results["warnings"]:
        msg.warn(warning)


def system_dirs(value: str, option: str) -> Tuple[str, List[Path]]:
    """``"ner=dirA,dirB"`` -> ``("ner", [Path("dirA"), Path("dirB")])``: one metrics folder per seed."""
    name, text = parse_pair(value, option)
    dirs = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if not dirs:
        raise ValueError(f"{option} expects NAME=DIR[,DIR...], got {value!r}")
    return name, dirs


def train_seconds_pair(value: str) -> Tuple[str, float]:
    """``"ner=1234.5"`` -> ``("ner", 1234.5)``; seconds must be a finite number >= 0."""
    name, text = parse_pair(value, "--train-seconds")
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"--train-seconds expects NAME=SECONDS with SECONDS >= 0 (e.g. ner=1234.5), got {value!r}")
    return name, seconds


@app.command("calibration")
def calibration_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Pipeline with a token_classifier"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy), normally dev"),
    output_dir: Path = typer.Argument(..., help="Folder for calibration.json and calibration.png"),
    split: str = typer.Option("dev", help="Split name, for the report"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Expected calibration error and reliability diagram of entity confidences, "min" vs "mean"."""
    from ..evaluation.calibration_report import FILES, calibration_report
    from ..evaluation.charts import plot_reliability
    from ..files import write_json_atomic

    try:
        check_report_output(output_dir, FILES, [pipeline_dir, data_path])
        report = calibration_report(pipeline_dir, data_path, split=split, progress=progress_printer(quiet))
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(output_dir / FILES[0], report)
        plot_reliability(report["calibration"], output_dir / FILES[1], title=f"Entity confidences on {split}")
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    for name, result in report["calibration"].items():
        default = " (default)" if name == report["default"] else ""
        ece = "n/a" if result["ece"] is None else f"{100 * result['ece']:.2f}%"
        msg.text(f"{name}{default}: ECE {ece} over {result['n_entities']} entities")
    msg.good(f"Wrote {', '.join(FILES)} to {output_dir}")
