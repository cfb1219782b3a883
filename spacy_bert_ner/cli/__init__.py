"""Command line: ``python -m spacy_bert_ner COMMAND`` (also ``spacy-bert-ner COMMAND``).

Each command parses arguments, calls the package and prints a short summary;
the logic lives in the modules it calls.
"""
import json
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

app = typer.Typer(
    name="spacy-bert-ner",
    help="spaCy BERT NER: data conversion, encoders, evaluation, comparison, export.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("convert")
def convert_cmd(
    input_path: Path = typer.Argument(..., help="CoNLL-2003 .txt or GMB ner_dataset.csv"),
    output_path: Path = typer.Argument(..., help="Output .spacy (DocBin) file"),
    fmt: str = typer.Option("conll", "--format", "-f", help="conll or gmb"),
    scheme: str = typer.Option("auto", help="Tag scheme of the input: auto, iob1 or iob2"),
    n_sents: Optional[int] = typer.Option(
        None, help="Sentences per Doc. Default: CoNLL one Doc per -DOCSTART- document, GMB 10"
    ),
    encoding: Optional[str] = typer.Option(None, help="GMB file encoding (default: utf-8, else latin-1)"),
    limit_docs: int = typer.Option(0, help="Keep only the first N docs (0: all), for small slices"),
    lang: str = typer.Option("en", help="spaCy language code for the vocab"),
) -> None:
    """Convert a NER corpus to spaCy's binary format, one Doc per document."""
    from ..data.corpus import CorpusFormatError, convert

    if n_sents is None:
        n_sents = 10 if fmt == "gmb" else 0
    try:
        stats = convert(
            input_path, output_path, fmt=fmt, scheme=scheme, n_sents=n_sents,  # type: ignore[arg-type]
            encoding=encoding, limit_docs=limit_docs, lang=lang,
        )
    except (CorpusFormatError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {output_path}")
    per_type = ", ".join(f"{k} {v:,}" for k, v in stats["per_type"].items())
    msg.text(
        f"{stats['documents']:,} docs, {stats['sentences']:,} sentences, "
        f"{stats['tokens']:,} tokens, {stats['entities']:,} entities ({per_type})"
    )


@app.command("encoder")
def encoder_cmd(
    name: str = typer.Argument(..., help="all-MiniLM-L6-v2, tiny-bert / tiny-distilbert / tiny-roberta / tiny-deberta-v3 / tiny-xlm-roberta, a local folder or a hub name"),
    output_dir: Path = typer.Argument(..., help="Where to write the model folder"),
    words_file: Optional[Path] = typer.Option(None, help="CoNLL file whose words make a tiny-* encoder's vocab"),
) -> None:
    """Put an encoder folder in place for training (offline when possible)."""
    from ..encoders.prepare import prepare_encoder

    try:
        path = prepare_encoder(name, output_dir, words_file=words_file)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Encoder {name} ready in {path}")


@app.command("data")
def data_cmd(
    directory: Path = typer.Argument(..., help="Folder for train/dev/test.txt (a local mirror is used as is)"),
    download: bool = typer.Option(True, help="Download missing files from the public source"),
) -> None:
    """Check (or fetch) CoNLL-2003 in DIRECTORY against the published checksums."""
    from ..data.datasets import ensure_conll2003

    try:
        warnings = ensure_conll2003(directory, download=download)
    except (OSError, ValueError) as err:
        msg.fail(f"CoNLL-2003 not available in {directory}: {err}", exits=1)
    for warning in warnings:
        msg.warn(warning)
    msg.good(f"CoNLL-2003 train/dev/test in {directory}")


@app.command("import-hf")
def import_hf_cmd(
    hf_dir: Path = typer.Argument(..., help="HF token-classification folder (config.json with IOB2 id2label, *.safetensors, tokenizer)"),
    output_dir: Path = typer.Argument(..., help="Where to write the spaCy pipeline (nlp.to_disk) and finetune.cfg"),
    lang: str = typer.Option("en", help="spaCy language of the pipeline's tokenizer"),
    window: int = typer.Option(128, help="spacy-transformers window, in spaCy tokens"),
    stride: int = typer.Option(96, help="spacy-transformers stride, in spaCy tokens"),
    decoding: str = typer.Option("repair", help="repair (argmax + BIO repair, what HF's pipeline does) or viterbi"),
) -> None:
    """Turn a HuggingFace token-classification checkpoint into a spaCy pipeline."""
    from ..hf.interop import InteropError, import_hf

    try:
        summary = import_hf(hf_dir, output_dir, lang=lang, window=window, stride=stride, decoding=decoding)
    except InteropError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote spaCy pipeline {summary['pipeline']}")
    msg.text(f"labels: {', '.join(summary['labels'])}; decoding: {summary['decoding']}")
    if summary["absent_tags"]:
        msg.warn(f"not in the checkpoint, never predicted: {', '.join(summary['absent_tags'])}")
    msg.text(f"fine-tune: python -m spacy train {summary['finetune_config']} --paths.train TRAIN.spacy --paths.dev DEV.spacy")


@app.command("export-hf")
def export_hf_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained spaCy pipeline with a token_classifier"),
    output_dir: Path = typer.Argument(..., help="Where to write the HF folder (replaced if it exists)"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
) -> None:
    """Write a token_classifier pipeline as an HF AutoModelForTokenClassification folder."""
    from ..hf.interop import InteropError, export_hf

    try:
        summary = export_hf(pipeline_dir, output_dir, component=component)
    except InteropError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['architecture']} to {summary['output_dir']}")
    msg.text(f"labels: {', '.join(summary['tags'])}; files: {', '.join(summary['files'])}")
    for note in summary["notes"]:
        msg.warn(note)


@app.command("export-onnx")
def export_onnx_cmd(
    source: Path = typer.Argument(..., help="spaCy pipeline folder (or an HF token-classification folder)"),
    output_path: Path = typer.Argument(..., help="Output .onnx file"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    opset: int = typer.Option(17, help="ONNX opset (>= 14)"),
    atol: float = typer.Option(1e-4, help="Largest accepted |ONNX Runtime - PyTorch| logit difference"),
) -> None:
    """Export the token classifier to ONNX and check ONNX Runtime against PyTorch."""
    from ..hf.onnx import export_onnx

    try:
        summary = export_onnx(source, output_path, component=component, opset=opset, atol=atol)
    except (ValueError, ImportError) as err:  # InteropError is a ValueError
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['output']} (opset {summary['opset']})")
    msg.text(
        f"inputs: {', '.join(summary['inputs'])}; output: logits over {len(summary['labels'])} labels; "
        f"ONNX Runtime vs PyTorch max |diff| {summary['max_abs_diff']:.2e} (<= {summary['atol']:g})"
    )


@app.command("summary")
def summary_cmd(
    output_dir: Path = typer.Argument(..., help="Folder for summary.json and summary.md (e.g. reports/conll2003)"),
    head: List[str] = typer.Option(..., help="NAME=DIR holding {test,dev}_metrics.json; NAME=DIR1,DIR2,... for several seeds (mean ± std). Repeat per head"),
    hf_recipe: Optional[Path] = typer.Option(None, help="The HF Trainer recipe's JSON (scripts/hf_trainer_recipe.py)"),
    command: List[str] = typer.Option([], help="NAME=COMMAND that reproduces a number. Repeat"),
) -> None:
    """Collect a run's headline numbers into summary.json (+ the README table as summary.md)."""
    from ..evaluation.summary import build_summary, write_summary

    try:
        heads = {name: dirs.split(",") for name, dirs in (_split_pair(value, "--head") for value in head)}
        commands = dict(_split_pair(value, "--command") for value in command)
        summary = build_summary(heads, hf_recipe, commands)
    except (OSError, ValueError, KeyError) as err:
        msg.fail(f"summary: {err}", exits=1)
    paths = write_summary(summary, list(heads), output_dir)
    msg.good(f"Wrote {paths['json']} and {paths['md']}")
    typer.echo(paths["md"].read_text(encoding="utf8"))


def _split_pair(value: str, option: str) -> tuple:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"{option} expects NAME=VALUE, got {value!r}")
    return name, rest


@app.command(
    "train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def train_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config (configs/*.cfg)"),
    output_path: Path = typer.Option(..., "--output", "-o", help="Output folder (model-best, model-last, train_time.json)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="-1 = CPU; N = GPU N"),
) -> None:
    """`spacy train` with the same overrides (--paths.train ...), also writing train_time.json."""
    from spacy.cli._util import parse_config_overrides

    from ..bench.train_time import train_timed

    record = train_timed(config_path, output_path, parse_config_overrides(ctx.args), gpu_id=gpu_id)
    per_epoch = record["seconds_per_epoch"]
    epoch_text = f", {per_epoch:,.0f} s per epoch over {record['epochs']:.2f} epochs" if per_epoch else ""
    msg.good(f"Trained in {record['seconds']:,.0f} s{epoch_text}; wrote {output_path / 'train_time.json'}")


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
) -> None:
    """Score one pipeline like `spacy evaluate`, plus seqeval, bootstrap CI, errors, speed, size."""
    from ..evaluation.metrics import evaluate_pipeline
    from ..evaluation.report import write_evaluation

    try:
        metrics = evaluate_pipeline(
            pipeline_dir, data_path, name=name, split=split, gpu_id=gpu_id, n_examples=n_examples,
            n_resamples=n_resamples, train_time_path=train_time, encoder_label=encoder,
        )
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    paths = write_evaluation(metrics, output_dir)
    head, ci = metrics["headline"], metrics["headline"]["ci"]
    ci_text = f" (95% CI {100 * ci['low']:.2f}..{100 * ci['high']:.2f})" if ci else ""
    msg.good(f"{name} on {split}: F1 {100 * head['f1']:.2f}{ci_text}, P {100 * head['precision']:.2f}, R {100 * head['recall']:.2f}")
    msg.text(
        f"seqeval default {100 * metrics['seqeval']['default']['f1']:.2f}, strict IOB2 "
        f"{100 * metrics['seqeval']['strict']['f1']:.2f}; {metrics['speed']['words_per_second']:,.0f} words/s; "
        f"wrote {', '.join(p.name for p in paths.values())} to {output_dir}"
    )


@app.command("windows")
def windows_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy), normally dev"),
    output_path: Path = typer.Argument(..., help="JSON file for the scores"),
    window: List[str] = typer.Option(..., help="Inference windows: WINDOW/STRIDE (strided, e.g. 160/128) or sentences:WINDOW (whole sentences packed into <= WINDOW tokens, no overlap); repeat"),
) -> None:
    """Score a pipeline on DATA under several inference windows (choose them on dev)."""
    from ..files import write_json_atomic
    from ..evaluation.windows import parse_window, score_windows, span_getter_config, window_label

    try:
        result = score_windows(pipeline_dir, data_path, [parse_window(value) for value in window])
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    write_json_atomic(output_path, result)
    for setting in result["settings"]:
        label = window_label(span_getter_config(setting["window"], setting["stride"]))
        msg.text(f"{label}: F1 {100 * setting['f1']:.2f}, {setting['seconds']:.1f} s")
    msg.good(f"Wrote {output_path}")


@app.command("profile")
def profile_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy); its document texts are profiled"),
    output_dir: Path = typer.Argument(..., help="Folder for profile.json/.md (and profile_calls.txt)"),
    max_words: int = typer.Option(2000, help="Only the first N gold words (0: all)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size in docs (default: the pipeline's)"),
    pyinstrument: bool = typer.Option(True, "--pyinstrument/--no-pyinstrument", help="Also save pyinstrument's call tree of one nlp.pipe pass, where installed"),
    chunk_size: Optional[int] = typer.Option(None, help="Run the transformer in length-sorted chunks of N windows, as benchmark does (default: as saved; 0: padded)"),
) -> None:
    """Where inference time goes: a timer around each step nlp.pipe runs, and the encoder inside."""
    from ..bench.profiling import profile_markdown, profile_pipeline, write_profile

    try:
        result = profile_pipeline(pipeline_dir, data_path, max_words=max_words, batch_size=batch_size,
                                  with_pyinstrument=pyinstrument, chunk_size=chunk_size)
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    paths = write_profile(result, output_dir)
    typer.echo(profile_markdown(result))
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")


@app.command("compare")
def compare_cmd(
    report_dir: Path = typer.Argument(..., help="Folder for comparison.json/.md/.png"),
    system: List[str] = typer.Option(..., help="NAME=DIR with {split}_metrics.json; NAME=DIR1,DIR2,... for several seeds. Repeat per system"),
    split: str = typer.Option("test", help="Headline split; other splits every folder has are shown too"),
    n_resamples: int = typer.Option(1000, help="Bootstrap resamples (CIs and the paired test)"),
    seed: int = typer.Option(0, help="Bootstrap random seed"),
    train_seconds: List[str] = typer.Option([], help="NAME=SECONDS training time, overriding train_time.json"),
) -> None:
    """Head-to-head report: F1 with CIs, paired bootstrap, per type, speed, size, verdict."""
    from ..evaluation.report import build_comparison, load_reports, parse_seconds_option, parse_system_option, write_comparison

    try:
        systems = dict(parse_system_option(value) for value in system)
        seconds = dict(parse_seconds_option(value) for value in train_seconds)
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


@app.command("benchmark")
def benchmark_cmd(
    tc: Optional[Path] = typer.Option(None, "--tc", help="Trained token_classifier pipeline folder"),
    ner: Optional[Path] = typer.Option(None, "--ner", help="Trained ner pipeline folder"),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="HF encoder folder for hf_pipeline and bare_forward (random head)"),
    data: Path = typer.Option(..., "--data", help="Gold DocBin (.spacy), e.g. corpus/conll2003/test.spacy"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for speed.json/.md/.png"),
    repeats: int = typer.Option(3, help="Timed passes per system (interleaved); medians are reported"),
    max_words: int = typer.Option(0, help="Only the first N words of the data (0: all)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size in docs (default: the pipeline's)"),
    hf_batch_size: int = typer.Option(32, help="hf_pipeline batch size (sentences)"),
    bare_batch_size: int = typer.Option(64, help="bare_forward batch size (sentences)"),
    bare_sort_by: str = typer.Option("wordpieces", help="bare_forward sorts sentences by wordpieces or words"),
    threads: Optional[int] = typer.Option(None, help="torch.set_num_threads (default: torch's)"),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Also time the token_classifier with int8 dynamic quantization (and its F1)"),
    chunk_size: int = typer.Option(4, help="Run the pipelines' transformer in length-sorted chunks of N windows (spacy-bert-ner.TransformerModel.v1); 0: spacy-transformers' padding of every window to the longest"),
    rss: str = typer.Option("subprocess", help="Peak RSS: subprocess (per system, fresh process), process (this process so far) or none"),
    train_time: List[str] = typer.Option([], "--train-time", help="NAME=PATH of a train_time.json; repeat per system"),
    hf_recipe: Optional[Path] = typer.Option(None, "--hf-recipe", help="The HF recipe's JSON (train seconds and epochs)"),
) -> None:
    """Inference speed of the pipelines, HF's pipeline and the bare encoder on the same words."""
    from ..bench.speed import BenchmarkSpec, markdown_table, parse_named_path, run_benchmark, write_outputs

    try:
        spec = BenchmarkSpec(
            data_path=str(data), tc_dir=str(tc) if tc else None, ner_dir=str(ner) if ner else None,
            encoder_dir=str(encoder) if encoder else None, max_words=max_words, repeats=repeats,
            int8=int8 and tc is not None, chunk_size=chunk_size, spacy_batch_size=batch_size, hf_batch_size=hf_batch_size,
            bare_batch_size=bare_batch_size, bare_sort_by=bare_sort_by, threads=threads, rss=rss,
        )
        result = run_benchmark(
            spec, train_times=dict(parse_named_path(value) for value in train_time), hf_recipe=hf_recipe,
        )
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    paths = write_outputs(result, output_dir)
    typer.echo(markdown_table(result).split("## Definitions")[0].rstrip())
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


def main() -> None:
    app()
