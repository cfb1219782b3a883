"""CLI commands for data and encoders: convert corpora to DocBin, check the assets, put an encoder in place."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..data.assets import check_assets
from .app import app


@app.command("convert")
def convert_cmd(
    input_path: Path = typer.Argument(..., help="CoNLL-2003 .txt or GMB ner_dataset.csv (.gz too)"),
    output_path: Path = typer.Argument(..., help="Output .spacy (DocBin) file"),
    fmt: str = typer.Option("conll", "--format", "-f", help="conll or gmb"),
    scheme: str = typer.Option("auto", help="Tag scheme of the input: auto, iob1 or iob2"),
    n_sents: Optional[int] = typer.Option(
        None, help="Sentences per Doc. Default: CoNLL one Doc per -DOCSTART- document, GMB 10"
    ),
    encoding: Optional[str] = typer.Option(None, help="Input encoding (default: CoNLL utf-8; GMB utf-8, else cp1252)"),
    limit_docs: int = typer.Option(0, help="Keep only the first N docs (0: all), for small slices"),
    lang: str = typer.Option("en", help="spaCy language code for the vocab"),
    force: bool = typer.Option(False, "--force", help="Replace an existing file that is not a DocBin"),
    labels: Optional[str] = typer.Option(
        None, help="Entity types allowed, comma-separated (default: CoNLL PER,ORG,LOC,MISC; GMB its eight)"
    ),
    split: str = typer.Option(
        "all", help="GMB only: train, dev or test keeps that contiguous block of sentences in file order "
        "(first 80%, next 10%, last 10%); all: every sentence"
    ),
) -> None:
    """Convert a NER corpus to spaCy's binary format, one Doc per document."""
    from ..data import CorpusFormatError, convert

    if n_sents is None:
        n_sents = 10 if fmt == "gmb" else 0
    try:
        stats = convert(
            input_path, output_path, fmt=fmt, scheme=scheme, n_sents=n_sents,  # type: ignore[arg-type]
            encoding=encoding, limit_docs=limit_docs, lang=lang, force=force,
            labels=None if labels is None else [label.strip() for label in labels.split(",")],
            split=split,
        )
    except (CorpusFormatError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    split_text = "" if stats["split"] == "all" else f" (split {stats['split']})"
    msg.good(f"Wrote {output_path}{split_text}")
    msg.info(f"Read as {stats['scheme'].upper()}: {stats['scheme_reason']}")
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
    force: bool = typer.Option(False, "--force", help="Write into an existing folder that is not a model folder (only the model files are replaced)"),
) -> None:
    """Put an encoder folder in place for training (offline when possible)."""
    from ..encoders.prepare import prepare_encoder

    try:
        path = prepare_encoder(name, output_dir, words_file=words_file, force=force)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Encoder {name} ready in {path}")


@app.command("data")
def data_cmd(
    project_dir: Path = typer.Argument(Path("."), help="Project folder whose project.yml lists the assets"),
) -> None:
    """Stop unless every asset of project.yml is in place with its checksum (after `spacy project assets`)."""
    problems = check_assets(project_dir)
    for problem in problems:
        msg.fail(f"{problem.dest}: {problem.problem}")
    if problems:
        raise typer.Exit(1)
    msg.good(f"Every asset of {project_dir / 'project.yml'} matches its checksum")
