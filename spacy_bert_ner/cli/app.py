"""The typer app every command module registers on."""
import typer

app = typer.Typer(
    name="spacy-bert-ner",
    help="spaCy BERT NER: data conversion, encoders, evaluation, comparison, export.",
    no_args_is_help=True,
    add_completion=False,
)
