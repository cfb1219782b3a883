"""HuggingFace's side of the benchmark: its ``pipeline`` and the bare encoder forward.

Both systems run the encoder folder with a RANDOM token-classification head
(``hf.loader.load_token_classifier`` seeded with :data:`HEAD_SEED`), so they
measure speed only:

* ``hf_pipeline``: ``transformers.pipeline("token-classification",
  aggregation_strategy="first")``, one string per sentence (its words joined
  by spaces);
* ``bare_forward``: the ceiling, :func:`bare_forward_predict`: sentences sorted
  by length, padded per batch, ``torch.inference_mode()``, the fast tokenizer
  with ``is_split_into_words=True``, argmax read at each word's first subword.
"""
from pathlib import Path
from typing import Any, List, Union

import numpy

from ..alignment import NO_PIECE, hf_first_subword_positions
from ..hf.loader import quiet_transformers
from .compute import EncoderCalls, encoder_geometry, hf_call_counter
from .data import BenchData, Sentences
from .records import SystemInfo, encoder_shape
from .timing import System

PathLike = Union[str, Path]
SORT_KEYS = ("wordpieces", "words")
HEAD_SEED = 0  # torch.manual_seed of the random head (named in the report's model.hf_head)


def model_info(model: Any, encoder_dir: PathLike) -> SystemInfo:
    """What both HF systems report about the model they run."""
    config = model.config
    return {
        "model": str(encoder_dir),
        "encoder": encoder_shape(config),
        "head": f"random linear, {config.num_labels} labels (speed only)",
        "precision": "fp32",
        "device": str(model.device),
    }


def hf_pipeline_system(
    model: Any, tokenizer: Any, data: BenchData, encoder_dir: PathLike, *, batch_size: int = 32, device: int = -1
) -> System:
    """``pipeline("token-classification", aggregation_strategy="first")`` on one string per sentence."""
    from transformers import pipeline

    with quiet_transformers():
        pipe = pipeline(
            "token-classification", model=model, tokenizer=tokenizer,
            aggregation_strategy="first", device=device,
        )
    texts = [" ".join(words) for words in data.sentences]

    calls = EncoderCalls()

    def run() -> List[Any]:
        return counted(model, calls, lambda: list(pipe(texts, batch_size=batch_size, num_workers=0)))

    def warm_up() -> Any:
        return pipe(texts[:batch_size], batch_size=batch_size, num_workers=0)

    info: SystemInfo = {
        "kind": "hf_pipeline",
        **model_info(model, encoder_dir),
        "batch_size": batch_size,
        "batch_unit": "sentences",
        "input": "one string per sentence (its words joined by spaces)",
        "aggregation_strategy": "first",
        "num_workers": 0,
    }
    return System("hf_pipeline", run, warm_up, info, tokenizer=tokenizer, calls=calls,
                  geometry=encoder_geometry(model.config))


def counted(model: Any, calls: EncoderCalls, run: Any) -> Any:
    """``run()`` with ``calls`` reset and fed by the model's forward calls (one pass)."""
    calls.reset()
    handle = hf_call_counter(model, calls)
    try:
        return run()
    finally:
        handle.remove()


def bare_forward_predict(
    model: Any, tokenizer: Any, sentences: Sentences, *, batch_size: int = 64, sort_by: str = "wordpieces"
) -> List[numpy.ndarray]:
    """Label id per word (first-subword argmax), per sentence, in the input order.

    All sentences are tokenized at once (fast tokenizer, ``is_split_into_words``,
    truncated at the model maximum), sorted by length (``sort_by``: wordpiece
    count, which keeps padding smallest, or word count), cut into batches of
    ``batch_size``, padded to the longest in the batch and run under
    ``torch.inference_mode()``. A word with no subword in the input gets label 0.
    """
    import torch

    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by: expected one of {', '.join(SORT_KEYS)}, got {sort_by!r}")
    if not sentences:
        return []
    max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
    encoding = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoding]
    lengths = [len(ids) for ids in encoding["input_ids"]]
    sizes = lengths if sort_by == "wordpieces" else [len(words) for words in sentences]
    order = sorted(range(len(sentences)), key=sizes.__getitem__)
    pad_values = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0, "token_type_ids": 0}
    left = getattr(tokenizer, "padding_side", "right") == "left"
    results: List[numpy.ndarray] = [numpy.zeros((0,), dtype="int64")] * len(sentences)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            indices = order[first : first + batch_size]
            width = max(lengths[i] for i in indices)
            arrays = {key: numpy.full((len(indices), width), pad_values[key], dtype="int64") for key in keys}
            offsets = []
            for row, index in enumerate(indices):
                offset = width - lengths[index] if left else 0
                offsets.append(offset)
                for key in keys:
                    arrays[key][row, offset : offset + lengths[index]] = encoding[key][index]
            inputs = {key: torch.from_numpy(array).to(model.device) for key, array in arrays.items()}
            predicted = model(**inputs).logits.argmax(dim=-1).cpu().numpy()
            for row, index in enumerate(indices):
                positions = hf_first_subword_positions(encoding.word_ids(index), len(sentences[index]))
                labels = predicted[row][numpy.maximum(positions, 0) + offsets[row]]
                results[index] = numpy.where(positions != NO_PIECE, labels, 0)
    return results


def bare_forward_system(
    model: Any, tokenizer: Any, data: BenchData, encoder_dir: PathLike, *, batch_size: int = 64,
    sort_by: str = "wordpieces",
) -> System:
    """The ceiling: :func:`bare_forward_predict` over every sentence."""
    sentences = data.sentences

    calls = EncoderCalls()

    def run() -> List[numpy.ndarray]:
        return counted(model, calls, lambda: bare_forward_predict(
            model, tokenizer, sentences, batch_size=batch_size, sort_by=sort_by))

    def warm_up() -> Any:
        return bare_forward_predict(model, tokenizer, sentences[:batch_size], batch_size=batch_size, sort_by=sort_by)

    info: SystemInfo = {
        "kind": "bare_forward",
        **model_info(model, encoder_dir),
        "batch_size": batch_size,
        "batch_unit": f"sentences, sorted by {sort_by} count",
        "sort_by": sort_by,
        "input": "pre-split words, fast tokenizer with is_split_into_words=True",
        "mode": "torch.inference_mode",
    }
    return System("bare_forward", run, warm_up, info, tokenizer=tokenizer, calls=calls,
                  geometry=encoder_geometry(model.config))
