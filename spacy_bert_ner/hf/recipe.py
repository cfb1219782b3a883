"""The HuggingFace Trainer token-classification recipe, run offline: the peer to beat.

This is the recipe of the source write-ups (HF course chapter 7, ``run_ner.py``),
kept as they run it so its figures are a fair baseline:

* one example per sentence, first-subword labels (:mod:`.recipe_data`);
* ``AutoModelForTokenClassification`` on any local encoder folder, loaded
  through :mod:`.loader` (safetensors weights, fast tokenizer, prefix space
  for byte-level BPE);
* ``DataCollatorForTokenClassification`` (dynamic padding), the ``Trainer``
  with AdamW, lr 5e-5, linear schedule with 10% warmup, batch 16,
  weight decay 0.01, 3 epochs, seed 42.

Evaluation is word-level: the argmax at each word's first subword, no BIO
repair, scored by :func:`~spacy_bert_ner.evaluation.metrics.seqeval_report` in
both seqeval default mode (conlleval-compatible, the headline) and strict IOB2.
A word with no subword in the input (dropped by the tokenizer, or cut by the
length limit) is predicted ``O`` and counted, never skipped.

:func:`run_recipe` writes one JSON (:class:`~.records.RecipeResult`) with the
scores, timings, hardware, versions, hyperparameters and the data files' sha256.
``python -m spacy_bert_ner hf-recipe`` runs it from the command line.
"""
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy

from ..alignment import NO_PIECE
from ..bench.env import hardware_info, package_versions, usable_cores
from ..encoders.prepare import OFFLINE_PACKAGES, packaged_encoder_dir
from ..evaluation.metrics import seqeval_report
from ..files import sha256_of, write_json_atomic
from ..tags import OUTSIDE, make_iob2_labels
from .loader import load_token_classifier
from .recipe_data import (
    EncodedSplit,
    PathLike,
    Sentences,
    encode_sentences,
    entity_types,
    read_sentences,
)
from .records import (
    DataRecord,
    EncoderRecord,
    RecipeHardware,
    RecipeResult,
    SplitScores,
    TrainerSettings,
)

SYSTEM = "hf_trainer_recipe"
DEVICES = ("auto", "cpu", "cuda")
VERSIONED_PACKAGES = ("torch", "transformers", "accelerate", "seqeval", "spacy", "spacy_bert_ner")


@dataclass(frozen=True)
class RecipeConfig:
    """Hyperparameters of the recipe; the defaults are the write-ups' values.

    max_train_sentences / max_eval_sentences: keep only the first N sentences
    of train / of dev and test (0: all), for smoke runs.
    logging_steps: how often the Trainer prints the training loss.
    The evaluation batch size is ``batch_size``.
    """

    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    batch_size: int = 16
    weight_decay: float = 0.01
    epochs: float = 3.0
    seed: int = 42
    max_length: int = 512
    max_train_sentences: int = 0
    max_eval_sentences: int = 0
    logging_steps: int = 50

    def __post_init__(self) -> None:
        checks = [
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("warmup_ratio", 0.0 <= self.warmup_ratio < 1.0, "in [0, 1)"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("epochs", self.epochs > 0, "> 0"),
            ("max_length", self.max_length >= 3, ">= 3 (special tokens plus one piece)"),
            ("max_train_sentences", self.max_train_sentences >= 0, ">= 0 (0: all)"),
            ("max_eval_sentences", self.max_eval_sentences >= 0, ">= 0 (0: all)"),
            ("logging_steps", self.logging_steps >= 1, ">= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"RecipeConfig.{name}: expected {expected}, got {getattr(self, name)!r}")


class _Split(NamedTuple):
    """A CoNLL file or DocBin read and cut to the sentences used."""

    path: Path
    words: Sentences
    tags: Sentences
    n_total: int

    def record(self) -> DataRecord:
        return DataRecord(
            path=str(self.path), sha256=sha256_of(self.path), n_sentences_total=self.n_total,
            n_sentences_used=len(self.words), n_words_used=sum(len(sentence) for sentence in self.words),
        )


def _read_split(path: PathLike, limit: int) -> _Split:
    words, tags = read_sentences(path)
    n_total = len(words)
    if limit:
        words, tags = words[:limit], tags[:limit]
    return _Split(Path(path), words, tags, n_total)


# ---------------------------------------------------------------------------
# Encoder and device
# ---------------------------------------------------------------------------
def resolve_encoder_dir(name: PathLike) -> Path:
    """A local HF model folder, or an offline package alias such as ``all-MiniLM-L6-v2``."""
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{path}: not a HuggingFace model folder (no config.json)")
        return path
    packaged = packaged_encoder_dir(str(name))
    if packaged is not None:
        return packaged
    raise ValueError(
        f"encoder {str(name)!r}: expected a local model folder or one of "
        f"{', '.join(sorted(OFFLINE_PACKAGES))} (pip install spacy_bert_ner[minilm]); "
        "the recipe never downloads"
    )


def _resolve_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ValueError(f"device: expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no GPU; use device='cpu' or 'auto'")
    return device


def recipe_hardware(device: str) -> RecipeHardware:
    """The machine as every report records it, plus ``device`` (the Trainer uses GPU 0)."""
    return RecipeHardware(device=device, **hardware_info(0 if device == "cuda" else -1))


# ---------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------
def _argmax_ids(logits: Any, labels: Any) -> Any:
    """Keep only the argmax during prediction (Trainer's preprocess_logits_for_metrics)."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def _training_arguments(config: RecipeConfig, output_dir: str, device: str) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_ratio=config.warmup_ratio,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        seed=config.seed,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        report_to=[],
        push_to_hub=False,
        use_cpu=device == "cpu",
    )


def _trainer_settings(trainer: Any) -> TrainerSettings:
    args, max_steps = trainer.args, trainer.state.max_steps
    return TrainerSettings(
        optimizer=str(args.optim.value if hasattr(args.optim, "value") else args.optim),
        adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2,
        adam_epsilon=args.adam_epsilon,
        max_grad_norm=args.max_grad_norm,
        lr_scheduler="linear",
        eval_batch_size=args.per_device_eval_batch_size,
        total_steps=max_steps,
        warmup_steps=args.get_warmup_steps(max_steps),
    )


def predict_tags(
    trainer: Any, split: EncodedSplit, id2label: Dict[int, str]
) -> Tuple[Sentences, float]:
    """Word-level IOB2 predictions (first-subword argmax, no repair) and the seconds taken."""
    start = time.perf_counter()
    output = trainer.predict(split.features)
    seconds = time.perf_counter() - start
    piece_ids = numpy.asarray(output.predictions)  # [n, padded_len], padding -100
    predictions: Sentences = []
    for i, positions in enumerate(split.first_positions):
        row = piece_ids[i]
        predictions.append(
            [id2label[int(row[p])] if p != NO_PIECE else OUTSIDE for p in positions]
        )
    return predictions, seconds


def evaluate_split(
    trainer: Any, split: EncodedSplit, gold: Sentences, id2label: Dict[int, str]
) -> SplitScores:
    """Scores (default and strict seqeval), token accuracy, timing of one split."""
    predictions, seconds = predict_tags(trainer, split, id2label)
    default = seqeval_report(gold, predictions, mode="default")
    strict = seqeval_report(gold, predictions, mode="strict")
    return SplitScores(
        default=default,
        strict=strict,
        token_accuracy=default["token_accuracy"],
        eval_seconds=seconds,
        words_per_second=split.n_words / seconds if seconds > 0 else 0.0,
        n_sentences=len(gold),
        n_words=split.n_words,
        n_words_without_piece=split.n_words_without_piece,
    )


def run_recipe(
    encoder_dir: PathLike,
    train_path: PathLike,
    dev_path: Optional[PathLike],
    test_path: PathLike,
    output_json: PathLike,
    *,
    config: RecipeConfig = RecipeConfig(),
    device: str = "auto",
    command: Optional[str] = None,
) -> RecipeResult:
    """Train the HF Trainer recipe on ``train_path``, evaluate on dev and test, write JSON.

    encoder_dir: a local HF model folder (or an offline alias, see
        :func:`resolve_encoder_dir`); nothing is downloaded.
    dev_path: None skips the dev evaluation.
    device: ``auto`` (GPU if torch sees one), ``cpu`` or ``cuda``.
    command: the command line to record (default: this process's argv).
    Returns the record written to ``output_json`` (atomically).
    """
    import torch
    import transformers
    from transformers import DataCollatorForTokenClassification, Trainer

    device = _resolve_device(device)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or usable_cores()))  # as torch does
    encoder_path = resolve_encoder_dir(encoder_dir)
    train = _read_split(train_path, config.max_train_sentences)
    test = _read_split(test_path, config.max_eval_sentences)
    dev = _read_split(dev_path, config.max_eval_sentences) if dev_path else None

    labels = make_iob2_labels(entity_types(train.tags))
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    transformers.set_seed(config.seed)  # before the head is initialized, as run_ner.py
    model, tokenizer = load_token_classifier(encoder_path, labels)
    max_length = min(config.max_length, getattr(model.config, "max_position_embeddings", config.max_length))
    encoded_train = encode_sentences(tokenizer, train.words, train.tags, label2id, max_length=max_length)
    # Gold dev/test tags are scored as strings; a type unseen in training is simply never predicted.
    encoded_test = encode_sentences(tokenizer, test.words, None, label2id, max_length=max_length)
    encoded_dev = encode_sentences(tokenizer, dev.words, None, label2id, max_length=max_length) if dev else None

    with tempfile.TemporaryDirectory(prefix="hf_recipe_") as scratch:
        trainer = Trainer(
            model=model,
            args=_training_arguments(config, scratch, device),
            train_dataset=encoded_train.features,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
            preprocess_logits_for_metrics=_argmax_ids,
        )
        start = time.perf_counter()
        train_output = trainer.train()
        train_seconds = time.perf_counter() - start
        model.eval()
        test_scores = evaluate_split(trainer, encoded_test, test.tags, id2label)
        dev_scores = evaluate_split(trainer, encoded_dev, dev.tags, id2label) if dev and dev.words else None
        settings = _trainer_settings(trainer)

    data = {"train": train.record(), "test": test.record(), **({"dev": dev.record()} if dev else {})}
    result = RecipeResult(
        system=SYSTEM,
        encoder=EncoderRecord(
            name=str(encoder_dir), path=str(encoder_path), model_type=model.config.model_type,
            n_parameters=int(sum(p.numel() for p in model.parameters())),
        ),
        hardware=recipe_hardware(device),
        versions=package_versions(VERSIONED_PACKAGES),
        config={
            **asdict(config),
            **settings,
            "effective_max_length": max_length,
            "labels": labels,
            "label_alignment": "first subword; -100 on other pieces and special tokens",
            "input_unit": "sentence",
        },
        train_seconds=train_seconds,
        train_loss=float(train_output.training_loss),
        train_words_without_piece=encoded_train.n_words_without_piece,
        test=test_scores,
        dev=dev_scores,
        test_f1=test_scores["default"]["f1"],
        test_f1_strict=test_scores["strict"]["f1"],
        dev_f1=dev_scores["default"]["f1"] if dev_scores else None,
        data=data,
        command=command if command is not None else shlex.join([sys.executable] + sys.argv),
    )
    write_json_atomic(output_json, result)
    return result
