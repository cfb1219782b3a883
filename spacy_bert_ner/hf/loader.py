"""The one place that loads HuggingFace tokenizers, encoders and token-classification models.

Every tool that runs a model outside spaCy (the HF pipeline and bare-forward
benchmarks, the Trainer recipe, import/export and ONNX checks, encoder
preparation) loads through here, so the rules live once: a fast tokenizer
(``word_ids()`` and offsets are needed for first-subword alignment),
``add_prefix_space`` for byte-level BPE families fed pre-split words,
safetensors only (``use_safetensors=True`` on every ``from_pretrained`` of
weights; :func:`check_model_folder` names the pickled files it refuses), and
transformers' expected "newly initialized weights" notes silenced where a head
is meant to be new. Where a checkpoint's own head is meant to be kept, a
checkpoint without one (an encoder, a sequence classifier) is refused
(:func:`check_own_head`) instead of getting a silent random head.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]

# Byte-level BPE tokenizers refuse pre-split words unless add_prefix_space is set.
ADD_PREFIX_SPACE_TYPES = frozenset({"bloom", "gpt2", "roberta", "longformer", "bart"})
# Weight files that unpickle (and so can run code) when loaded: never loaded here.
PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.h5", "*.msgpack")
# Every from_pretrained of weights: never unpickle (a .bin can run code when loaded).
SAFETENSORS_ONLY: Dict[str, Any] = {"use_safetensors": True}
TOKEN_CLASSIFICATION_SUFFIX = "ForTokenClassification"


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


def check_model_folder(path: PathLike, auto_class: str = "AutoModel") -> Path:
    """A local HF model folder (config.json) with safetensors weights, or a ValueError saying what to do.

    auto_class: the class named in the conversion hint of the message.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: not a HuggingFace model folder (expected {path / 'config.json'})")
    if not any(path.glob("*.safetensors")):
        pickled = sorted(p.name for pattern in PICKLED_WEIGHTS for p in path.glob(pattern))
        found = f"found only {', '.join(pickled)}" if pickled else "found no weights"
        raise ValueError(
            f"{path}: expected *.safetensors weights, {found}. Pickled checkpoints are never "
            "loaded (unpickling can run arbitrary code); convert them in a trusted environment, "
            f"e.g. {auto_class}.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)"
        )
    return path


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


def load_encoder(name_or_dir: PathLike) -> Tuple[Any, Any]:
    """``(AutoModel, tokenizer)`` as the folder or hub name has them, to save as a local encoder.

    The tokenizer keeps its own settings (no pre-split options: what is saved is
    what spacy-transformers will load). Errors are transformers' own
    (``OSError`` for missing files or no network, ``ValueError`` for bad names).
    """
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir))
    with quiet_transformers():  # a pretraining head left behind is expected
        model = AutoModel.from_pretrained(str(name_or_dir), **SAFETENSORS_ONLY)
    return model, tokenizer


def load_token_classifier(
    name_or_dir: PathLike,
    labels: Optional[Sequence[str]] = None,
    *,
    seed: Optional[int] = None,
) -> Tuple[Any, Any]:
    """``(model, fast tokenizer)`` of an ``AutoModelForTokenClassification``, in eval mode.

    labels: give them to put a NEW head of that size on an encoder (seeded with
        ``seed``); None keeps the checkpoint's own head and ``id2label``, and
        a checkpoint without a token-classification head is a ValueError
        (:func:`check_own_head`).
    """
    import torch
    from transformers import AutoModelForTokenClassification

    config = load_config(name_or_dir)
    if Path(name_or_dir).is_dir():
        check_model_folder(name_or_dir, "AutoModelForTokenClassification")
    tokenizer = load_fast_tokenizer(name_or_dir, config.model_type)
    options: Dict[str, Any] = dict(SAFETENSORS_ONLY)
    if labels is not None:
        options.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    if seed is not None:
        torch.manual_seed(seed)
    with quiet_transformers():  # the notes are checked below where they matter
        model, info = AutoModelForTokenClassification.from_pretrained(
            str(name_or_dir), output_loading_info=True, **options
        )
    if labels is None:
        check_own_head(name_or_dir, config.architectures, info)
    return model.eval(), tokenizer


def check_own_head(name_or_dir: PathLike, architectures: Optional[List[str]], info: Mapping[str, Any]) -> None:
    """ValueError unless the checkpoint held the token-classification weights just loaded.

    architectures: ``config.architectures`` (what saved the checkpoint);
    info: ``from_pretrained(..., output_loading_info=True)``'s second value.
    An encoder-only checkpoint misses the classifier, which transformers would
    initialize at random; a sequence classifier has a classifier of the same
    shape that classifies whole texts, not tokens.
    """
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise ValueError(
            f"{name_or_dir}: no token-classification head in the checkpoint (missing "
            f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}); it would be "
            "initialized at random. Fine-tune the encoder first (e.g. the HF recipe), or use it as an encoder"
        )
    others = [name for name in architectures or () if not name.endswith(TOKEN_CLASSIFICATION_SUFFIX)]
    if others:
        raise ValueError(
            f"{name_or_dir}: config.json says the checkpoint is {', '.join(others)}, not a "
            f"*{TOKEN_CLASSIFICATION_SUFFIX} model; its head does not label tokens"
        )
