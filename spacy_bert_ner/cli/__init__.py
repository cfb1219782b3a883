"""Command line: ``python -m spacy_bert_ner COMMAND`` (also ``spacy-bert-ner COMMAND``).

Thin typer commands, one module per concern, each calling importable functions
in the sub-package of that concern and printing a short summary.
"""
from . import data, train, evaluate, bench, hf, package, annotate, serve  # noqa: F401  (registers the commands)
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
