"""CLI commands: HuggingFace and ONNX interop."""
from pathlib import Path

import typer
from wasabi import msg

from .app import app


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
