"""HuggingFace token-classification checkpoints and spaCy pipelines: what both directions share.

The ``token_classifier`` head with ``hidden_width = 0``, no POS features and no
CRF computes exactly what HF's ``AutoModelForTokenClassification`` computes:
encoder -> (dropout) -> linear over each word's first subword. The two differ
only in where the weights live and in the class order:

=====================  ====================================  ===============================
                       HuggingFace                           spaCy pipeline
=====================  ====================================  ===============================
encoder                ``model.<base_model_prefix>``         ``transformer`` component
classifier             ``model.classifier`` (Linear)         ``output_layer`` (Softmax_v2)
                       weight [num_labels, hidden], bias     W [nO, nI], b [nO]
class order            ``config.id2label`` (any order)       ``make_iob2_labels`` (O, B-/I- sorted)
=====================  ====================================  ===============================

This module holds the checks and pieces both directions use: the error type,
the safe loading of a checkpoint folder (safetensors only; a folder holding
only pickled weights is refused), the IOB2 label mapping, the classifier and
encoder weights. :mod:`.hf_to_spacy` (``import_hf``) goes from an HF folder to a
spaCy pipeline, :mod:`.spacy_to_hf` (``export_hf``) back.
"""
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..tags import make_iob2_labels
from .loader import check_model_folder, load_token_classifier

PathLike = Union[str, Path]

DEFAULT_HEAD_DROPOUT = 0.1


class InteropError(ValueError):
    """A checkpoint or pipeline that cannot be converted (the message says why and what to do)."""


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------
def hf_tag_rows(id2label: Mapping[Any, str]) -> Tuple[List[str], List[Optional[int]]]:
    """Entity types and, for each of our IOB2 classes, the HF class id it reads from.

    id2label: ``config.id2label`` (keys may be ints or digit strings).
    Returns ``(entity_types, rows)``: ``make_iob2_labels(entity_types)[i]`` is
    HF class ``rows[i]``, or a class the checkpoint lacks when ``rows[i]`` is None.
    Raises :class:`InteropError` unless the labels are IOB2 (``O``, ``B-X``,
    ``I-X``) with ids ``0..n-1``, no duplicates and an ``O``.
    """
    try:
        labels = {int(key): value for key, value in id2label.items()}
    except (TypeError, ValueError):
        raise InteropError(f"expected integer ids in id2label, got {sorted(id2label)!r}") from None
    if sorted(labels) != list(range(len(labels))):
        raise InteropError(f"expected id2label ids 0..{len(labels) - 1}, got {sorted(labels)!r}")
    label2id: Dict[str, int] = {}
    types = set()
    for class_id, label in sorted(labels.items()):
        if label in label2id:
            raise InteropError(
                f"id2label maps {label!r} twice (ids {label2id[label]} and {class_id}); "
                "expected each label once"
            )
        label2id[label] = class_id
        if label != "O":
            if not (isinstance(label, str) and len(label) > 2 and label[:2] in ("B-", "I-")):
                raise InteropError(
                    f"id2label[{class_id}] = {label!r}: expected IOB2 labels 'O', 'B-<type>' or "
                    "'I-<type>'. Plain labels ('PER', IO scheme) and BILUO/BIOES prefixes "
                    "('U-', 'L-', 'S-', 'E-') cannot be mapped onto the token_classifier's IOB2 "
                    "classes; relabel the checkpoint's config.json first"
                )
            types.add(label[2:])
    if "O" not in label2id:
        raise InteropError(f"id2label has no 'O' class: {sorted(label2id)!r}")
    try:
        tags = make_iob2_labels(types)
    except ValueError as err:
        raise InteropError(f"id2label: {err}") from None
    return sorted(types), [label2id.get(tag) for tag in tags]


# ---------------------------------------------------------------------------
# Safe loading
# ---------------------------------------------------------------------------
def check_hf_folder(path: PathLike) -> Path:
    """A local HF model folder with safetensors weights, or :class:`InteropError`."""
    try:
        return check_model_folder(path, "AutoModelForTokenClassification")
    except ValueError as err:
        raise InteropError(str(err)) from None


def load_hf_token_classifier(hf_dir: PathLike) -> Tuple[Any, Any]:
    """``(model, fast tokenizer)`` of a local folder, its own head kept, through :mod:`.loader`.

    :func:`check_hf_folder` first, so a bad folder is an :class:`InteropError`
    naming the problem, as is a folder with only a slow tokenizer, a checkpoint
    without a token-classification head (an encoder, a sequence classifier)
    and one whose ``id2label`` is not IOB2 (:func:`hf_tag_rows`). Import and
    ONNX export both load through here, so both refuse the same checkpoints.
    """
    hf_dir = check_hf_folder(hf_dir)
    try:
        model, tokenizer = load_token_classifier(hf_dir)
    except ValueError as err:  # only a slow tokenizer, no token-classification head
        raise InteropError(str(err)) from None
    try:
        hf_tag_rows(model.config.id2label)
    except InteropError as err:
        raise InteropError(f"{hf_dir / 'config.json'}: {err}") from None
    return model, tokenizer


# ---------------------------------------------------------------------------
# Weights both directions move
# ---------------------------------------------------------------------------
def classifier_layer(model: Any) -> Any:
    """The ``torch.nn.Linear`` classifier of an HF token-classification model, or InteropError."""
    import torch

    layer = getattr(model, "classifier", None)
    if not isinstance(layer, torch.nn.Linear):
        raise InteropError(
            f"{type(model).__name__}: expected a Linear `classifier` over the encoder output "
            f"(HF's standard token-classification head), got {type(layer).__name__}"
        )
    return layer


def copy_encoder_weights(source: Any, target: Any) -> None:
    """Copy ``source``'s encoder weights into ``target``; only a pooler may be unmatched.

    Token-classification models build their encoder without the pooler that
    ``AutoModel`` adds; the pooler is not used by either head.
    """
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    stray = [key for key in list(missing) + list(unexpected) if not key.startswith("pooler.")]
    if stray:
        raise InteropError(
            f"encoder weights do not match between {type(source).__name__} and "
            f"{type(target).__name__}: {stray[:5]!r}"
        )


def head_dropout(config: Any) -> float:
    """The dropout HF applies before the classifier, read from an HF model config."""
    for attr in ("classifier_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(config, attr, None)
        if isinstance(value, (int, float)):
            return float(value)
    return DEFAULT_HEAD_DROPOUT
