"""The HuggingFace Trainer token-classification recipe, run offline: the peer to beat.

This is the recipe of the source write-ups (HF course chapter 7, ``run_ner.py``),
kept as they run it so its figures are a fair baseline:

* one example per sentence, no document context;
* ``AutoModelForTokenClassification`` on any local encoder folder;
* IOB2 label on each word's FIRST subword, -100 on continuation pieces and
  special tokens (``word_ids()``), ``truncation=True`` at the model maximum;
* ``DataCollatorForTokenClassification`` (dynamic padding), the ``Trainer``
  with AdamW, lr 5e-5, linear schedule with 10% warmup, batch 16,
  weight decay 0.01, 3 epochs, seed 42.

Evaluation is word-level: the argmax at each word's first subword, no BIO
repair, scored by :func:`~spacy_bert_ner.evaluation.seqeval_report` in both
seqeval default mode (conlleval-compatible, the headline) and strict IOB2.
A word with no subword in the input (dropped by the tokenizer, or cut by the
length limit) is predicted ``O`` and counted, never skipped.

:func:`run_recipe` writes one JSON with the scores, timings, hardware,
versions, hyperparameters and the data files' sha256.
"""
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy

from ..alignment import NO_PIECE, hf_first_subword_labels, hf_first_subword_positions
from ..bench.env import cpu_model, package_versions, usable_cores
from ..files import write_json_atomic
from ..data.datasets import sha256_of
from ..evaluation.metrics import doc_to_iob2, seqeval_report
from ..tags import OUTSIDE, bio_repair, make_iob2_labels, split_tag

PathLike = Union[str, Path]
Sentences = List[List[str]]

SYSTEM = "hf_trainer_recipe"
IGNORE_INDEX = -100  # HF's label for pieces the loss must not see
# Byte-level BPE tokenizers need a prefix space for pre-split words (run_ner.py does the same).
ADD_PREFIX_SPACE_TYPES = frozenset({"bloom", "gpt2", "roberta", "longformer", "bart"})
DEVICES = ("auto", "cpu", "cuda")


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


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def read_conll_sentences(path: PathLike) -> Tuple[Sentences, Sentences]:
    """Words and IOB2 tags per sentence of a CoNLL-2003 file, in file order.

    Reads with :func:`spacy_bert_ner.corpus.read_conll` (``-DOCSTART-`` lines
    are document boundaries, IOB1 files come back as IOB2) and splits each Doc
    at its sentence starts. Empty sentences do not occur.
    """
    from spacy.vocab import Vocab

    from ..data.corpus import read_conll

    words: Sentences = []
    tags: Sentences = []
    for doc in read_conll(path, Vocab()):
        doc_tags = doc_to_iob2(doc)
        for sent in doc.sents:
            if len(sent) == 0:
                continue
            words.append([token.text for token in sent])
            # read_conll never lets an entity cross a sentence; bio_repair is then a no-op.
            tags.append(bio_repair(doc_tags[sent.start : sent.end]))
    return words, tags


def entity_types(tag_sequences: Sequence[Sequence[str]]) -> List[str]:
    """Sorted entity types found in IOB2 sequences."""
    return sorted({split_tag(tag)[1] for seq in tag_sequences for tag in seq} - {""})


def align_labels(word_ids: Sequence[Optional[int]], word_labels: Sequence[int]) -> List[int]:
    """HF's label alignment: each word's first subword gets its label, the rest -100.

    word_ids: ``BatchEncoding.word_ids(i)`` (None for special tokens).
    word_labels: label id per word.
    """
    return hf_first_subword_labels(word_ids, word_labels, ignore=IGNORE_INDEX)


@dataclass
class EncodedSplit:
    """A tokenized split: Trainer features plus where each word's first piece sits."""

    features: List[Dict[str, List[int]]]
    first_positions: List[numpy.ndarray]  # per sentence: int[n_words], NO_PIECE (-1) if none
    n_words: int
    n_words_without_piece: int  # dropped by the tokenizer or cut by max_length


def encode_sentences(
    tokenizer: Any,
    words: Sentences,
    tags: Optional[Sentences],
    label2id: Dict[str, int],
    *,
    max_length: int,
) -> EncodedSplit:
    """Tokenize pre-split sentences and align labels to first subwords.

    tags: gold IOB2 per sentence; a tag not in ``label2id`` (a type unseen in
        training) raises. None: features carry no ``labels``.
    """
    if not words:
        return EncodedSplit([], [], 0, 0)
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    features: List[Dict[str, List[int]]] = []
    positions: List[numpy.ndarray] = []
    n_missing = 0
    for i, sentence in enumerate(words):
        word_ids = encoding.word_ids(i)
        feature = {key: list(values[i]) for key, values in encoding.items()}
        if tags is not None:
            feature["labels"] = align_labels(word_ids, _label_ids(tags[i], label2id, i))
        first = hf_first_subword_positions(word_ids, len(sentence))
        n_missing += int((first == NO_PIECE).sum())
        features.append(feature)
        positions.append(first)
    n_words = sum(len(sentence) for sentence in words)
    return EncodedSplit(features, positions, n_words, n_missing)


def _label_ids(tags: Sequence[str], label2id: Dict[str, int], index: int) -> List[int]:
    try:
        return [label2id[tag] for tag in tags]
    except KeyError as err:
        raise ValueError(
            f"sentence {index}: tag {err.args[0]!r} is not among the training labels "
            f"{sorted(label2id)}"
        ) from None


def _check_fast_tokenizer(tokenizer: Any, encoder_dir: Path) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{encoder_dir}: the recipe needs a fast tokenizer (word_ids()), got "
            f"{type(tokenizer).__name__}; add a tokenizer.json to the folder"
        )


# ---------------------------------------------------------------------------
# Encoder, hardware, versions
# ---------------------------------------------------------------------------
def resolve_encoder_dir(name: PathLike) -> Path:
    """A local HF model folder, or an offline package alias such as ``all-MiniLM-L6-v2``."""
    from ..encoders.prepare import OFFLINE_PACKAGES, packaged_encoder_dir

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


def hardware_info(device: str) -> Dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {
        "device": device,
        "cpu_model": cpu_model(),
        "cpu_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "platform": platform.platform(),
    }


def _versions() -> Dict[str, Optional[str]]:
    return package_versions(("torch", "transformers", "accelerate", "seqeval", "spacy", "spacy_bert_ner"))


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
) -> Dict[str, Any]:
    """Scores (default and strict seqeval), token accuracy, timing of one split."""
    predictions, seconds = predict_tags(trainer, split, id2label)
    default = seqeval_report(gold, predictions, mode="default")
    strict = seqeval_report(gold, predictions, mode="strict")
    return {
        "default": default,
        "strict": strict,
        "token_accuracy": default["token_accuracy"],
        "eval_seconds": seconds,
        "words_per_second": split.n_words / seconds if seconds > 0 else 0.0,
        "n_sentences": len(gold),
        "n_words": split.n_words,
        "n_words_without_piece": split.n_words_without_piece,
    }


def _slice(words: Sentences, tags: Sentences, limit: int) -> Tuple[Sentences, Sentences]:
    return (words[:limit], tags[:limit]) if limit else (words, tags)


def _data_entry(path: Path, words: Sentences, n_total: int) -> Dict[str, Any]:
    return {
        "path": str(path),
        "sha256": sha256_of(path),
        "n_sentences_total": n_total,
        "n_sentences_used": len(words),
        "n_words_used": sum(len(sentence) for sentence in words),
    }


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
) -> Dict[str, Any]:
    """Train the HF Trainer recipe on ``train_path``, evaluate on dev and test, write JSON.

    encoder_dir: a local HF model folder (or an offline alias, see
        :func:`resolve_encoder_dir`); nothing is downloaded.
    dev_path: None skips the dev evaluation.
    device: ``auto`` (GPU if torch sees one), ``cpu`` or ``cuda``.
    command: the command line to record (default: this process's argv).
    Returns the dict written to ``output_json`` (atomically).
    """
    import torch
    import transformers
    from transformers import (
        AutoConfig,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
    )

    device = _resolve_device(device)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or usable_cores()))  # as torch does
    encoder_path = resolve_encoder_dir(encoder_dir)
    paths = {"train": Path(train_path), "dev": Path(dev_path) if dev_path else None, "test": Path(test_path)}

    train_all = read_conll_sentences(paths["train"])
    test_all = read_conll_sentences(paths["test"])
    dev_all = read_conll_sentences(paths["dev"]) if paths["dev"] else ([], [])
    train_words, train_tags = _slice(*train_all, config.max_train_sentences)
    dev_words, dev_tags = _slice(*dev_all, config.max_eval_sentences)
    test_words, test_tags = _slice(*test_all, config.max_eval_sentences)

    labels = make_iob2_labels(entity_types(train_tags))
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))

    model_config = AutoConfig.from_pretrained(str(encoder_path))
    tokenizer_options = {"add_prefix_space": True} if model_config.model_type in ADD_PREFIX_SPACE_TYPES else {}
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path), use_fast=True, **tokenizer_options)
    _check_fast_tokenizer(tokenizer, encoder_path)
    max_length = min(config.max_length, getattr(model_config, "max_position_embeddings", config.max_length))
    encoded_train = encode_sentences(tokenizer, train_words, train_tags, label2id, max_length=max_length)
    # Gold dev/test tags are scored as strings; a type unseen in training is simply never predicted.
    encoded_dev = encode_sentences(tokenizer, dev_words, None, label2id, max_length=max_length)
    encoded_test = encode_sentences(tokenizer, test_words, None, label2id, max_length=max_length)

    transformers.set_seed(config.seed)  # before the head is initialized, as run_ner.py
    model = AutoModelForTokenClassification.from_pretrained(
        str(encoder_path), num_labels=len(labels), id2label=id2label, label2id=label2id
    )
    with tempfile.TemporaryDirectory(prefix="hf_recipe_") as scratch:
        args = _training_arguments(config, scratch, device)
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=encoded_train.features,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
            preprocess_logits_for_metrics=_argmax_ids,
        )
        start = time.perf_counter()
        train_output = trainer.train()
        train_seconds = time.perf_counter() - start
        model.eval()
        test_scores = evaluate_split(trainer, encoded_test, test_tags, id2label)
        dev_scores = evaluate_split(trainer, encoded_dev, dev_tags, id2label) if dev_words else None
        max_steps = trainer.state.max_steps
        recorded_args = {
            "optimizer": str(args.optim.value if hasattr(args.optim, "value") else args.optim),
            "adam_beta1": args.adam_beta1,
            "adam_beta2": args.adam_beta2,
            "adam_epsilon": args.adam_epsilon,
            "max_grad_norm": args.max_grad_norm,
            "lr_scheduler": "linear",
            "eval_batch_size": args.per_device_eval_batch_size,
            "total_steps": max_steps,
            "warmup_steps": args.get_warmup_steps(max_steps),
        }

    data = {
        "train": _data_entry(paths["train"], train_words, len(train_all[0])),
        "test": _data_entry(paths["test"], test_words, len(test_all[0])),
    }
    if paths["dev"]:
        data["dev"] = _data_entry(paths["dev"], dev_words, len(dev_all[0]))
    result: Dict[str, Any] = {
        "system": SYSTEM,
        "encoder": {
            "name": str(encoder_dir),
            "path": str(encoder_path),
            "model_type": model_config.model_type,
            "n_parameters": int(sum(p.numel() for p in model.parameters())),
        },
        "hardware": hardware_info(device),
        "versions": _versions(),
        "config": {
            **asdict(config),
            **recorded_args,
            "effective_max_length": max_length,
            "labels": labels,
            "label_alignment": "first subword; -100 on other pieces and special tokens",
            "input_unit": "sentence",
        },
        "train_seconds": train_seconds,
        "train_loss": float(train_output.training_loss),
        "train_words_without_piece": encoded_train.n_words_without_piece,
        "test": test_scores,
        "dev": dev_scores,
        "test_f1": test_scores["default"]["f1"],
        "test_f1_strict": test_scores["strict"]["f1"],
        "dev_f1": dev_scores["default"]["f1"] if dev_scores else None,
        "data": data,
        "command": command if command is not None else shlex.join([sys.executable] + sys.argv),
    }
    write_json_atomic(output_json, result)
    return result
