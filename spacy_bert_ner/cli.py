"""Command line: ``python -m spacy_bert_ner COMMAND`` (also ``spacy-bert-ner COMMAND``).

Each command parses arguments, calls the package and prints a short summary;
the logic lives in the modules it calls.
"""
import json
from pathlib import Path
from typing import Optional

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
    from .corpus import CorpusFormatError, convert

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
    name: str = typer.Argument(..., help="tiny-bert, all-MiniLM-L6-v2, a local folder or a hub name"),
    output_dir: Path = typer.Argument(..., help="Where to write the model folder"),
    words_file: Optional[Path] = typer.Option(None, help="CoNLL file whose words make tiny-bert's vocab"),
) -> None:
    """Put an encoder folder in place for training (offline when possible)."""
    from .encoders import prepare_encoder

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
    from .datasets import ensure_conll2003

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
    from .interop import InteropError, import_hf

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
    from .interop import InteropError, export_hf

    try:
        summary = export_hf(pipeline_dir, output_dir, component=component)
    except InteropError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['architecture']} to {summary['output_dir']}")
    msg.text(f"labels: {', '.join(summary['tags'])}; files: {', '.join(summary['files'])}")
    if summary["note"]:
        msg.warn(summary["note"])


@app.command("export-onnx")
def export_onnx_cmd(
    source: Path = typer.Argument(..., help="spaCy pipeline folder (or an HF token-classification folder)"),
    output_path: Path = typer.Argument(..., help="Output .onnx file"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    opset: int = typer.Option(17, help="ONNX opset (>= 14)"),
    atol: float = typer.Option(1e-4, help="Largest accepted |ONNX Runtime - PyTorch| logit difference"),
) -> None:
    """Export the token classifier to ONNX and check ONNX Runtime against PyTorch."""
    from .onnx_export import export_onnx

    try:
        summary = export_onnx(source, output_path, component=component, opset=opset, atol=atol)
    except (ValueError, ImportError) as err:  # InteropError is a ValueError
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['output']} (opset {summary['opset']})")
    msg.text(
        f"inputs: {', '.join(summary['inputs'])}; output: logits over {len(summary['labels'])} labels; "
        f"ONNX Runtime vs PyTorch max |diff| {summary['max_abs_diff']:.2e} (<= {summary['atol']:g})"
    )


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


def main() -> None:
    app()
