"""Run the HuggingFace Trainer NER recipe (the peer baseline) offline and write its metrics JSON.

    python scripts/hf_trainer_recipe.py all-MiniLM-L6-v2 assets/conll2003 metrics/hf_recipe.json

The logic lives in ``spacy_bert_ner.hf.recipe``; this script parses arguments
and prints a summary.
"""
import shlex
import sys
from pathlib import Path

import typer
from wasabi import msg

from spacy_bert_ner.hf.recipe import RecipeConfig, resolve_encoder_dir, run_recipe

DEFAULTS = RecipeConfig()


def main(
    encoder: str = typer.Argument(..., help="Local HF model folder, or an offline alias such as all-MiniLM-L6-v2"),
    conll_dir: Path = typer.Argument(..., help="Folder holding CoNLL-2003 train.txt, dev.txt and test.txt"),
    output_json: Path = typer.Argument(..., help="Where to write the metrics JSON"),
    epochs: float = typer.Option(DEFAULTS.epochs, help="Training epochs"),
    learning_rate: float = typer.Option(DEFAULTS.learning_rate, help="Peak AdamW learning rate"),
    warmup_ratio: float = typer.Option(DEFAULTS.warmup_ratio, help="Linear warmup, fraction of all steps"),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help="Sentences per batch (train and eval)"),
    weight_decay: float = typer.Option(DEFAULTS.weight_decay, help="AdamW weight decay"),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed for the head's init and data order"),
    max_length: int = typer.Option(DEFAULTS.max_length, help="Truncate sentences at this many pieces"),
    max_train_sentences: int = typer.Option(0, help="Train on the first N sentences only (0: all)"),
    max_eval_sentences: int = typer.Option(0, help="Evaluate on the first N dev/test sentences only (0: all)"),
    logging_steps: int = typer.Option(DEFAULTS.logging_steps, help="Print the loss every N steps"),
    device: str = typer.Option("auto", help="auto (GPU if available), cpu or cuda"),
    no_dev: bool = typer.Option(False, "--no-dev", help="Skip the dev evaluation"),
) -> None:
    """Train and evaluate the HF Trainer recipe on CoNLL-2003 (sentence level, first-subword labels)."""
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
    splits = {name: conll_dir / f"{name}.txt" for name in ("train", "dev", "test")}
    missing = [str(path) for name, path in splits.items() if not path.exists() and not (name == "dev" and no_dev)]
    if missing:
        msg.fail(f"missing CoNLL file(s): {', '.join(missing)}", exits=1)
    msg.info(f"HF Trainer recipe: encoder {encoder_dir}, data {conll_dir}")
    result = run_recipe(
        encoder_dir, splits["train"], None if no_dev else splits["dev"], splits["test"], output_json,
        config=config, device=device, command=shlex.join([sys.executable] + sys.argv),
    )
    msg.good(f"Wrote {output_json}")
    rows = []
    for split in ("dev", "test"):
        scores = result[split]
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
        f"train {result['train_seconds']:,.0f} s for {config.epochs:g} epoch(s) on "
        f"{hardware['gpu'] or hardware['cpu_model']} ({hardware['torch_threads']} torch threads)"
    )


if __name__ == "__main__":
    typer.run(main)
