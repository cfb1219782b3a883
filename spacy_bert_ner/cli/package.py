"""CLI: ``package-meta``, the ``meta.json`` overrides for ``spacy package --meta-path``.

Also the options that describe a model (name, version, license, data, base
model...), shared with ``export-hf``, whose model card says the same facts.
"""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..hf.interop import InteropError
from ..hf.model_facts import FactOptions
from ..hf.package_meta import write_package_meta
from .app import app

NAME = typer.Option(None, help="Package name without the language prefix (default: the pipeline's meta)")
VERSION = typer.Option(None, help="Package version (default: the pipeline's meta)")
LICENSE = typer.Option(None, help="License id, e.g. mit (default: the pipeline's meta; the card says 'unknown' if none)")
DATASET = typer.Option([], "--dataset", help="Training data as an HF dataset id, e.g. conll2003 (repeatable; default: the meta's sources)")
BASE_MODEL = typer.Option(None, help="HF hub id of the encoder, e.g. sentence-transformers/all-MiniLM-L6-v2 (default: the config's encoder name when it is one)")
DESCRIPTION = typer.Option(None, help="One-line description (default: the meta's, else one made from the facts)")
AUTHOR = typer.Option(None, help="Author (default: the pipeline's meta)")
URL = typer.Option(None, help="Author or project URL (default: the pipeline's meta)")


def fact_options(
    name: Optional[str], version: Optional[str], license: Optional[str], dataset: List[str],
    base_model: Optional[str], description: Optional[str], author: Optional[str], url: Optional[str],
) -> FactOptions:
    """The describing options of a command as one record."""
    return FactOptions(
        name=name, version=version, license=license, datasets=tuple(dataset), base_model=base_model,
        description=description, author=author, url=url,
    )


@app.command("package-meta")
def package_meta_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained spaCy pipeline with a token_classifier"),
    output_json: Path = typer.Argument(..., help="Where to write the meta.json overrides (for spacy package --meta-path)"),
    metrics: Optional[Path] = typer.Option(None, help="Evaluation JSON ({split}_metrics.json of `evaluate`): its figures become the meta's performance"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    name: Optional[str] = NAME, version: Optional[str] = VERSION, license: Optional[str] = LICENSE,
    dataset: List[str] = DATASET, base_model: Optional[str] = BASE_MODEL, description: Optional[str] = DESCRIPTION,
    author: Optional[str] = AUTHOR, url: Optional[str] = URL,
    force: bool = typer.Option(False, "--force", help="Replace an existing file that is not JSON"),
) -> None:
    """Write the meta.json overrides `spacy package --meta-path` reads: the model card's facts and test figures."""
    options = fact_options(name, version, license, dataset, base_model, description, author, url)
    try:
        meta = write_package_meta(
            pipeline_dir, output_json, options, metrics=metrics, component=component, force=force
        )
    except (InteropError, ValueError) as err:  # InteropError is a ValueError; so are damaged pipelines
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {output_json}: {meta['lang']}_{meta['name']} {meta['version']}")
    if "performance" not in meta:
        msg.warn("no --metrics given: the meta carries no scores")
