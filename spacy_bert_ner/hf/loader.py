"""The one place that loads HuggingFace tokenizers and token-classification models.

Every tool that runs a model outside spaCy (the HF pipeline and bare-forward
benchmarks, the Trainer recipe, import/export and ONNX checks, encoder
preparation) loads through here, so the rules live once: a fast tokenizer
(``word_ids()`` and offsets are needed for first-subword alignment),
``add_prefix_space`` for byte-level BPE families fed pre-split words,
safetensors only for folders we did not write, and transformers' expected
"newly initialized weights" notes silenced where a head is meant to be new.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]

# Byte-level BPE tokenizers refuse pre-split words unless add_prefix_space is set.
ADD_PREFIX_SPACE_TYPES = frozenset({"bloom", "gpt2", "roberta", "longformer", "bart"})


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' 'weights not used / newly initialized' notes we account for."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def tokenizer_options(model_type: str) -> Dict[str, Any]:
    """Keyword arguments for ``AutoTokenizer.from_pretrained`` when words come pre-split."""
    return {"add_prefix_space": True} if model_type in ADD_PREFIX_SPACE_TYPES else {}


def load_config(name_or_dir: PathLike) -> Any:
    """``AutoConfig`` of a local folder (which must hold config.json) or a hub name."""
    from transformers import AutoConfig

    path = Path(name_or_dir)
    if path.exists() and not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: expected a HuggingFace model folder (config.json)")
    return AutoConfig.from_pretrained(str(name_or_dir))


def load_fast_tokenizer(name_or_dir: PathLike, model_type: Optional[str] = None) -> Any:
    """A fast tokenizer for pre-split words; raises ValueError when only a slow one exists."""
    from transformers import AutoTokenizer

    if model_type is None:
        model_type = load_config(name_or_dir).model_type
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir), use_fast=True, **tokenizer_options(model_type))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{name_or_dir}: expected a fast tokenizer (tokenizer.json or a convertible vocabulary); "
            "first-subword alignment needs word_ids() and offset mappings"
        )
    return tokenizer


def load_token_classifier(
    name_or_dir: PathLike,
    labels: Optional[Sequence[str]] = None,
    *,
    seed: Optional[int] = None,
    safetensors_only: bool = True,
) -> Tuple[Any, Any]:
    """``(model, fast tokenizer)`` of an ``AutoModelForTokenClassification``, in eval mode.

    labels: give them to put a NEW head of that size on an encoder (seeded with
        ``seed``); None keeps the checkpoint's own head and ``id2label``.
    """
    import torch
    from transformers import AutoModelForTokenClassification

    config = load_config(name_or_dir)
    tokenizer = load_fast_tokenizer(name_or_dir, config.model_type)
    options: Dict[str, Any] = {"use_safetensors": True} if safetensors_only else {}
    if labels is not None:
        options.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    if seed is not None:
        torch.manual_seed(seed)
    with quiet_transformers():
        model = AutoModelForTokenClassification.from_pretrained(str(name_or_dir), **options)
    return model.eval(), tokenizer
