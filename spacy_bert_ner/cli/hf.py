"""CLI commands: HuggingFace and ONNX interop, and the HF Trainer recipe (the peer baseline)."""
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..files import check_not_input
from ..hf.recipe import RecipeConfig
from ..hf.records import RecipeResult
from .app import app
from .package import AUTHOR, BASE_MODEL, DATASET, DESCRIPTION, LICENSE, NAME, URL, VERSION, fact_options

RECIPE_DEFAULTS = RecipeConfig()


@app.command("import-hf")
def import_hf_cmd(
    hf_dir: Path = typer.Argument(..., help="HF token-classification folder (config.json with IOB2 id2label, *.safetensors, tokenizer)"),
    output_dir: Path = typer.Argument(..., help="Where to write the spaCy pipeline (nlp.to_disk) and finetune.cfg"),
    lang: str = typer.Option("en", help="spaCy language of the pipeline's tokenizer"),
    window: int = typer.Option(128, help="spacy-transformers window, in spaCy tokens"),
    stride: int = typer.Option(96, help="spacy-transformers stride, in spaCy tokens"),
    decoding: str = typer.Option("repair", help="repair (argmax + BIO repair, what HF's pipeline does) or viterbi"),
    force: bool = typer.Option(False, "--force", help="Write into an existing folder that is not a spaCy pipeline (only the pipeline's files are replaced)"),
) -> None:
    """Turn a HuggingFace token-classification checkpoint into a spaCy pipeline."""
    from ..hf.hf_to_spacy import import_hf
    from ..hf.interop import InteropError

    try:
        summary = import_hf(
            hf_dir, output_dir, lang=lang, window=window, stride=stride, decoding=decoding, force=force
        )
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
    output_dir: Path = typer.Argument(..., help="Where to write the HF folder (an existing HF folder's model files are replaced)"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    metrics: Optional[Path] = typer.Option(None, help="Evaluation JSON ({split}_metrics.json of `evaluate`): its figures go to the model card's model-index"),
    name: Optional[str] = NAME, version: Optional[str] = VERSION, license: Optional[str] = LICENSE,
    dataset: List[str] = DATASET, base_model: Optional[str] = BASE_MODEL, description: Optional[str] = DESCRIPTION,
    author: Optional[str] = AUTHOR, url: Optional[str] = URL,
    force: bool = typer.Option(False, "--force", help='Write into an existing folder that is not an HF model folder, or over a README.md that is not our model card (only the model files and README.md are replaced)'),
) -> None:
    """Write a token_classifier pipeline as an HF AutoModelForTokenClassification folder with a model card (README.md)."""
    from ..hf.interop import InteropError
    from ..hf.spacy_to_hf import export_hf

    card = fact_options(name, version, license, dataset, base_model, description, author, url)
    try:
        summary = export_hf(pipeline_dir, output_dir, component=component, card=card, metrics=metrics, force=force)
    except InteropError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['architecture']} to {summary['output_dir']}")
    msg.text(f"labels: {', '.join(summary['tags'])}; files: {', '.join(summary['files'])}")
    for note in summary["notes"]:
        msg.warn(note)
    if metrics is None:
        msg.warn("no --metrics given: the model card (README.md) carries no scores and no model-index")


@app.command("export-onnx")
def export_onnx_cmd(
    source: Path = typer.Argument(..., help="spaCy pipeline folder (or an HF token-classification folder)"),
    output_path: Path = typer.Argument(..., help="Output .onnx file"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    opset: int = typer.Option(17, help="ONNX opset (>= 14)"),
    atol: float = typer.Option(1e-4, help="Largest accepted |ONNX Runtime - PyTorch| logit difference"),
    force: bool = typer.Option(False, "--force", help='Replace an existing file that is not an ONNX model'),
) -> None:
    """Export the token classifier to ONNX and check ONNX Runtime against PyTorch."""
    from ..hf.onnx import export_onnx

    try:
        summary = export_onnx(source, output_path, component=component, opset=opset, atol=atol, force=force)
    except (ValueError, ImportError) as err:  # InteropError is a ValueError
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {summary['output']} (opset {summary['opset']})")
    msg.text(
        f"inputs: {', '.join(summary['inputs'])}; output: logits over {len(summary['labels'])} labels; "
        f"ONNX Runtime vs PyTorch max |diff| {summary['max_abs_diff']:.2e} (<= {summary['atol']:g})"
    )


@app.command("hf-recipe")
def hf_recipe_cmd(
    encoder: str = typer.Argument(..., help="Local HF model folder, or an offline alias such as all-MiniLM-L6-v2"),
    conll_dir: Path = typer.Argument(..., help="Folder holding train, dev and test as CoNLL-2003 .txt files or DocBins (.spacy, e.g. corpus/gmb); .txt first"),
    output_json: Path = typer.Argument(..., help="Where to write the metrics JSON"),
    epochs: float = typer.Option(RECIPE_DEFAULTS.epochs, help="Training epochs"),
    learning_rate: float = typer.Option(RECIPE_DEFAULTS.learning_rate, help="Peak AdamW learning rate"),
    warmup_ratio: float = typer.Option(RECIPE_DEFAULTS.warmup_ratio, help="Linear warmup, fraction of all steps"),
    batch_size: int = typer.Option(RECIPE_DEFAULTS.batch_size, help="Sentences per batch (train and eval)"),
    weight_decay: float = typer.Option(RECIPE_DEFAULTS.weight_decay, help="AdamW weight decay"),
    seed: int = typer.Option(RECIPE_DEFAULTS.seed, help="Seed for the head's init and data order"),
    max_length: int = typer.Option(RECIPE_DEFAULTS.max_length, help="Truncate sentences at this many pieces"),
    max_train_sentences: int = typer.Option(0, help="Train on the first N sentences only (0: all)"),
    max_eval_sentences: int = typer.Option(0, help="Evaluate on the first N dev/test sentences only (0: all)"),
    logging_steps: int = typer.Option(RECIPE_DEFAULTS.logging_steps, help="Print the loss every N steps"),
    device: str = typer.Option("auto", help="auto (GPU if available), cpu or cuda"),
    no_dev: bool = typer.Option(False, "--no-dev", help="Skip the dev evaluation"),
) -> None:
    """Train and evaluate the HF Trainer recipe on CoNLL-2003 or DocBin splits (sentence level, first-subword labels)."""
    from ..hf.recipe import resolve_encoder_dir, run_recipe

    try:
        encoder_dir = resolve_encoder_dir(encoder)
        config = RecipeConfig(
            learning_rate=learning_rate, warmup_ratio=warmup_ratio, batch_size=batch_size,
            weight_decay=weight_decay, epochs=epochs, seed=seed, max_length=max_length,
            max_train_sentences=max_train_sentences, max_eval_sentences=max_eval_sentences,
            logging_steps=logging_steps,
        )
    except ValueError as err:
        msg.fail(str(err), exits=1)
    splits = {name: split_file(conll_dir, name) for name in ("train", "dev", "test")}
    try:
        check_not_input(output_json, [encoder_dir, *splits.values()])
    except ValueError as err:
        msg.fail(str(err), exits=1)
    missing = [str(path) for name, path in splits.items() if not path.exists() and not (name == "dev" and no_dev)]
    if missing:
        msg.fail(f"missing CoNLL file(s): {', '.join(missing)} (nor a DocBin NAME.spacy beside them)", exits=1)
    msg.info(f"HF Trainer recipe: encoder {encoder_dir}, data {conll_dir}")
    try:
        result = run_recipe(
            encoder_dir, splits["train"], None if no_dev else splits["dev"], splits["test"], output_json,
            config=config, device=device,
            command=shlex.join([sys.executable, "-m", "spacy_bert_ner", *sys.argv[1:]]),
        )
    except (OSError, ValueError) as err:  # bad data lines, no GPU, a folder without safetensors
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {output_json}")
    _print_recipe_scores(result)


def split_file(folder: Path, name: str) -> Path:
    """``folder/name.txt`` (CoNLL) if it exists, else ``folder/name.spacy`` if that does, else the .txt path."""
    conll = folder / f"{name}.txt"
    docbin = folder / f"{name}.spacy"
    return docbin if not conll.exists() and docbin.exists() else conll


def _print_recipe_scores(result: RecipeResult) -> None:
    rows = []
    for split, scores in (("dev", result["dev"]), ("test", result["test"])):
        if scores is None:
            continue
        default, strict = scores["default"], scores["strict"]
        rows.append((
            split, f"{default['precision']:.4f}", f"{default['recall']:.4f}", f"{default['f1']:.4f}",
            f"{strict['f1']:.4f}", f"{scores['token_accuracy']:.4f}", f"{scores['words_per_second']:,.0f}",
        ))
    msg.table(
        rows,
        header=("split", "P", "R", "F1 (default)", "F1 (strict IOB2)", "token acc", "words/s"),
        divider=True,
    )
    hardware = result["hardware"]
    msg.text(
        f"train {result['train_seconds']:,.0f} s for {result['config']['epochs']:g} epoch(s) on "
        f"{hardware['gpu'] or hardware['cpu']} ({hardware['torch_threads']} torch threads)"
    )


@app.command("hf-parity")
def hf_parity_cmd(
    pipeline_dir: Path = typer.Argument(..., help="spaCy pipeline with a token_classifier"),
    hf_dir: Path = typer.Argument(..., help="Its export-hf folder"),
    corpus: Path = typer.Argument(..., help="DocBin (.spacy) whose sentences both read, e.g. the test split"),
    output_path: Path = typer.Argument(..., help="Output JSON: counts and the disagreements"),
    component: str = typer.Option("token_classifier", help="Name of the head component"),
    limit: int = typer.Option(0, help="Compare only the first N sentences (0: all)"),
    force: bool = typer.Option(False, "--force", help="Replace an existing file that is not a JSON file"),
) -> None:
    """HF's pipeline (aggregation "first") on the export vs the spaCy pipeline (decoding "repair"), per sentence."""
    import srsly

    from ..files import JSON_FILE, write_file
    from ..hf.parity import hf_parity, parity_lines

    inputs = [pipeline_dir, hf_dir, corpus]
    try:
        report = hf_parity(pipeline_dir, hf_dir, corpus, component=component, limit=limit)
        write_file(output_path, srsly.json_dumps(report, indent=2).encode("utf8"), JSON_FILE, inputs=inputs, force=force)
    except (ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    for line in parity_lines(report):
        msg.text(line)
    msg.good(f"Wrote {output_path}")
