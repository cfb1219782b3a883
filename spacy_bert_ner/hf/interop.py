"""HuggingFace token-classification checkpoints in and out of spaCy pipelines.

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

:func:`hf_to_spacy` / :func:`import_hf` go from an HF folder to a spaCy pipeline,
:func:`spacy_to_hf` / :func:`export_hf` back. Weights are read and written as
safetensors only; a folder holding only pickled weights (``*.bin``) is refused.
"""
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Config

from ..tags import make_iob2_labels

PathLike = Union[str, Path]

HEAD_ARCHITECTURE = "spacy-bert-ner.TokenClassifier.v1"
LISTENER_ARCHITECTURE = "spacy-bert-ner.FirstSubwordListener.v1"
# Bias given to an IOB2 class the checkpoint does not have (e.g. no ``I-X`` for a
# type that only ever spans one word): its probability underflows to exactly 0,
# so it is never predicted, as in the checkpoint.
ABSENT_CLASS_BIAS = -1e4
PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.h5", "*.msgpack")
FINETUNE_CONFIG = "finetune.cfg"
DECODINGS = ("repair", "viterbi")


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
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InteropError(f"{path}: not a HuggingFace model folder (expected {path / 'config.json'})")
    if not any(path.glob("*.safetensors")):
        pickled = sorted(p.name for pattern in PICKLED_WEIGHTS for p in path.glob(pattern))
        found = f"found only {', '.join(pickled)}" if pickled else "found no weights"
        raise InteropError(
            f"{path}: expected *.safetensors weights, {found}. Pickled checkpoints are never "
            "loaded (unpickling can run arbitrary code); convert them in a trusted environment, "
            "e.g. AutoModelForTokenClassification.from_pretrained(dir).save_pretrained(dir, "
            "safe_serialization=True)"
        )
    return path


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' 'weights not used / newly initialized' notes we account for."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_hf_token_classifier(hf_dir: PathLike):
    """``(model, tokenizer)`` from a local folder: safetensors only, fast tokenizer, eval mode."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    hf_dir = check_hf_folder(hf_dir)
    with _quiet_transformers():
        model = AutoModelForTokenClassification.from_pretrained(str(hf_dir), use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), use_fast=True)
    if not tokenizer.is_fast:
        raise InteropError(
            f"{hf_dir}: expected a fast tokenizer (tokenizer.json or a convertible vocabulary); "
            "first-subword alignment needs offset mappings"
        )
    return model.eval(), tokenizer


def _classifier(model) -> Any:
    import torch

    layer = getattr(model, "classifier", None)
    if not isinstance(layer, torch.nn.Linear):
        raise InteropError(
            f"{type(model).__name__}: expected a Linear `classifier` over the encoder output "
            f"(HF's standard token-classification head), got {type(layer).__name__}"
        )
    return layer


def _copy_encoder_weights(source, target) -> None:
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


def _head_dropout(config) -> float:
    for attr in ("classifier_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(config, attr, None)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.1


# ---------------------------------------------------------------------------
# HF -> spaCy
# ---------------------------------------------------------------------------
def hf_to_spacy(
    hf_dir: PathLike,
    *,
    lang: str = "en",
    window: int = 128,
    stride: int = 96,
    decoding: str = "repair",
) -> Language:
    """A ``transformer`` + ``token_classifier`` pipeline holding an HF checkpoint's weights.

    hf_dir: local ``AutoModelForTokenClassification`` folder (config.json with
        IOB2 ``id2label``, *.safetensors, tokenizer files).
    window, stride: spacy-transformers' strided spans, in spaCy tokens. A doc of
        at most ``window`` tokens (and 512 wordpieces) is read in one pass, exactly
        as HF reads it; longer docs are read in overlapping windows.
    decoding: "repair" (argmax + BIO repair: what HF's pipeline does, the default
        here so the imported pipeline predicts what the checkpoint predicts) or
        "viterbi" (the best valid IOB2 path).
    The transformer's ``name`` is ``hf_dir`` (absolute), so training from the
    saved config.cfg starts from the checkpoint's encoder.
    """
    if decoding not in DECODINGS:
        raise InteropError(f"expected decoding {' or '.join(map(repr, DECODINGS))}, got {decoding!r}")
    if not 0 < stride <= window:
        raise InteropError(f"expected 0 < stride <= window, got window {window}, stride {stride}")
    hf_dir = check_hf_folder(hf_dir).resolve()
    hf_model, _ = load_hf_token_classifier(hf_dir)
    classifier = _classifier(hf_model)
    types, rows = hf_tag_rows(hf_model.config.id2label)
    nlp = spacy.blank(lang, config={"nlp": {"batch_size": 64}})
    nlp.add_pipe(
        "transformer",
        config={
            "max_batch_items": 4096,
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(hf_dir),
                "get_spans": {
                    "@span_getters": "spacy-transformers.strided_spans.v1",
                    "window": window,
                    "stride": stride,
                },
                "tokenizer_config": {"use_fast": True},
            },
        },
    )
    nlp.add_pipe(
        "token_classifier",
        config={"decoding": decoding, "model": {"dropout": _head_dropout(hf_model.config)}},
    )
    # spacy-transformers loads the encoder and tokenizer from `name` (the folder
    # has safetensors weights, which transformers prefers over any *.bin).
    with _quiet_transformers():
        nlp.initialize(lambda: _label_examples(nlp, types))
    encoder = nlp.get_pipe("transformer").model.transformer
    _copy_encoder_weights(getattr(hf_model, hf_model.base_model_prefix), encoder)
    _set_head(nlp.get_pipe("token_classifier"), classifier, rows)
    nlp.meta["sources"] = [{"name": hf_dir.name, "url": str(hf_dir)}]
    return nlp


def _label_examples(nlp: Language, types: Sequence[str]) -> List[Example]:
    """One Doc with an entity of every type: tells initialize the label set."""
    words = ["entity"] * len(types) or ["entity"]
    reference = Doc(nlp.vocab, words=words)
    reference.set_ents([Span(reference, i, i + 1, label=t) for i, t in enumerate(types)])
    return [Example(Doc(nlp.vocab, words=words), reference)]


def _set_head(pipe, classifier, rows: Sequence[Optional[int]]) -> None:
    weight = classifier.weight.detach().cpu().numpy().astype("float32")
    bias = classifier.bias.detach().cpu().numpy().astype("float32")
    W = numpy.zeros((len(rows), weight.shape[1]), dtype="float32")
    b = numpy.full((len(rows),), ABSENT_CLASS_BIAS, dtype="float32")
    for i, row in enumerate(rows):
        if row is not None:
            W[i] = weight[row]
            b[i] = bias[row]
    layer = pipe.model.get_ref("output_layer")
    expected = (layer.get_dim("nO"), layer.get_dim("nI"))
    if W.shape != expected:
        raise InteropError(f"classifier shape {W.shape} does not fit the output layer {expected}")
    layer.set_param("W", layer.ops.asarray2f(W))
    layer.set_param("b", layer.ops.asarray1f(b))


def import_hf(
    hf_dir: PathLike,
    output_dir: PathLike,
    *,
    lang: str = "en",
    window: int = 128,
    stride: int = 96,
    decoding: str = "repair",
) -> Dict[str, Any]:
    """:func:`hf_to_spacy`, saved with ``nlp.to_disk``, plus ``finetune.cfg`` beside it.

    Returns a summary: labels, the IOB2 classes the checkpoint lacked (never
    predicted) and the files written.
    """
    nlp = hf_to_spacy(hf_dir, lang=lang, window=window, stride=stride, decoding=decoding)
    output_dir = Path(output_dir)
    nlp.to_disk(output_dir)
    finetune_path = output_dir / FINETUNE_CONFIG
    finetune_config(nlp, output_dir).to_disk(finetune_path)
    pipe = nlp.get_pipe("token_classifier")
    absent = [tag for tag, value in zip(pipe.tag_names, pipe.model.get_ref("output_layer").get_param("b"))
              if float(value) == ABSENT_CLASS_BIAS]
    return {
        "pipeline": str(output_dir),
        "finetune_config": str(finetune_path),
        "labels": list(pipe.labels),
        "tags": pipe.tag_names,
        "absent_tags": absent,
        "decoding": decoding,
    }


FINETUNE_TRAINING = """
[training]
max_steps = 1000
eval_frequency = 100
patience = 0
max_epochs = 0
dropout = 0.1
accumulate_gradient = 1

[training.batcher]
@batchers = "spacy.batch_by_padded.v1"
discard_oversize = false
size = 2000
buffer = 256
get_length = null

[training.optimizer]
@optimizers = "Adam.v1"
beta1 = 0.9
beta2 = 0.999
L2_is_weight_decay = true
L2 = 0.01
grad_clip = 1.0
use_averages = false
eps = 0.00000001

[training.optimizer.learn_rate]
@schedules = "warmup_linear.v1"
warmup_steps = 100
total_steps = ${training.max_steps}
initial_rate = 0.00003
"""


def finetune_config(nlp: Language, pipeline_dir: PathLike) -> Config:
    """A ``spacy train`` config that resumes from the pipeline in ``pipeline_dir``.

    Both components are *sourced* (``source = ${paths.pipeline}``), so
    ``spacy train`` continues from the imported weights instead of
    re-initializing the head; ``--paths.pipeline`` points it elsewhere.
    Optimizer: Adam with a linear warm-up/decay from 3e-5 (a BERT fine-tuning
    rate), batches of 2,000 padded wordpieces.
    """
    config = nlp.config.copy()
    config["paths"]["pipeline"] = str(Path(pipeline_dir).resolve())
    for name in nlp.pipe_names:
        config["components"][name] = {"source": "${paths.pipeline}", "component": name}
    training = Config().from_str(FINETUNE_TRAINING, interpolate=False)["training"]
    config["training"].update(training)
    return Config().from_str(config.to_str(), interpolate=False)


# ---------------------------------------------------------------------------
# spaCy -> HF
# ---------------------------------------------------------------------------
def check_exportable(nlp: Language, component: str = "token_classifier") -> str:
    """Name of the transformer the head reads, or :class:`InteropError` naming what HF lacks."""
    from spacy_transformers import Transformer

    if component not in nlp.pipe_names:
        raise InteropError(f"expected a {component!r} component, got pipeline {nlp.pipe_names}")
    settings = nlp.config.interpolate()["components"][component]
    model_cfg = settings.get("model", {})
    if model_cfg.get("@architectures") != HEAD_ARCHITECTURE:
        raise InteropError(
            f"{component}: expected model {HEAD_ARCHITECTURE!r}, got {model_cfg.get('@architectures')!r}"
        )
    unsupported = {
        "hidden_width": (model_cfg.get("hidden_width", 0), 0),
        "pos_width": (model_cfg.get("pos_width", 0), 0),
        "shape_width": (model_cfg.get("shape_width", 0), 0),
        "use_crf": (bool(model_cfg.get("use_crf", False)), False),
    }
    for key, (value, plain) in unsupported.items():
        if value != plain:
            raise InteropError(
                f"{component}: model.{key} = {value!r}; HF's token-classification head is a single "
                f"linear layer, so only {key} = {plain!r} can be exported (a hidden layer, POS "
                "or shape features or CRF transitions have no place in AutoModelForTokenClassification)"
            )
    tok2vec = model_cfg.get("tok2vec", {})
    if tok2vec.get("@architectures") != LISTENER_ARCHITECTURE:
        raise InteropError(
            f"{component}: expected tok2vec {LISTENER_ARCHITECTURE!r}, got {tok2vec.get('@architectures')!r}"
        )
    listener = nlp.get_pipe(component).model.get_ref("tok2vec").get_ref("listener")
    for name, proc in nlp.pipeline:
        if isinstance(proc, Transformer) and listener in proc.listeners:
            return name
    raise InteropError(f"{component}: no transformer component feeds its listener")


def spacy_to_hf(nlp: Language, component: str = "token_classifier"):
    """``(AutoModelForTokenClassification, tokenizer)`` computing the head's logits.

    The softmax of the returned model's logits at each word's first subword is
    the head's output for a doc read in one window.
    """
    from transformers import AutoModelForTokenClassification

    transformer_name = check_exportable(nlp, component)
    trf_model = nlp.get_pipe(transformer_name).model
    encoder, tokenizer = trf_model.transformer, trf_model.tokenizer
    if encoder is None:
        raise InteropError(f"{transformer_name}: the transformer is not initialized")
    pipe = nlp.get_pipe(component)
    tags = pipe.tag_names
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    config.id2label = dict(enumerate(tags))
    config.label2id = {tag: i for i, tag in enumerate(tags)}
    if hasattr(config, "classifier_dropout"):
        config.classifier_dropout = _head_dropout_from_config(nlp, component)
    with _quiet_transformers():
        model = AutoModelForTokenClassification.from_config(config)
    config.architectures = [type(model).__name__]
    _copy_encoder_weights(encoder, getattr(model, model.base_model_prefix))
    layer = pipe.model.get_ref("output_layer")
    classifier = _classifier(model)
    W = layer.ops.to_numpy(layer.get_param("W"))
    b = layer.ops.to_numpy(layer.get_param("b"))
    if tuple(classifier.weight.shape) != W.shape:
        raise InteropError(f"classifier shape {tuple(classifier.weight.shape)} != output layer {W.shape}")
    import torch

    with torch.no_grad():
        classifier.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(W, dtype="float32")))
        classifier.bias.copy_(torch.from_numpy(numpy.ascontiguousarray(b, dtype="float32")))
    return model.eval(), tokenizer


def _head_dropout_from_config(nlp: Language, component: str) -> float:
    return float(nlp.config.interpolate()["components"][component]["model"].get("dropout", 0.1))


def export_hf(
    pipeline: Union[PathLike, Language], output_dir: PathLike, *, component: str = "token_classifier"
) -> Dict[str, Any]:
    """:func:`spacy_to_hf` saved with ``save_pretrained`` (safetensors only) + tokenizer.

    ``output_dir`` must be new, empty or an HF folder (which is replaced).
    Returns a summary with the labels and ``notes``: where HF's behaviour will
    differ from the pipeline's (decoding other than "repair", which is HF's
    argmax + grouping; a ``layer_norm_eps`` lost by spacy-transformers).
    """
    if not isinstance(pipeline, Language) and not (Path(pipeline) / "config.cfg").is_file():
        raise InteropError(f"{pipeline}: expected a spaCy pipeline folder (with config.cfg)")
    nlp = pipeline if isinstance(pipeline, Language) else spacy.load(pipeline)
    model, tokenizer = spacy_to_hf(nlp, component)
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
        raise InteropError(
            f"{output_dir}: exists and is not an HF model folder; expected a new or empty folder "
            "(an existing HF folder is replaced)"
        )
    tmp_dir = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    model.save_pretrained(str(tmp_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp_dir))
    pickled = [p.name for pattern in PICKLED_WEIGHTS for p in tmp_dir.glob(pattern)]
    if pickled:
        raise InteropError(f"save_pretrained wrote pickled files {pickled}; expected safetensors only")
    shutil.rmtree(output_dir, ignore_errors=True)
    tmp_dir.rename(output_dir)
    decoding = nlp.get_pipe(component).cfg["decoding"]
    notes = []
    if decoding != "repair":
        notes.append(
            f"the pipeline decodes with {decoding!r}; HF's pipeline takes the argmax and groups "
            "B-/I- tags (decoding 'repair'), so entities can differ where the argmax is not "
            "valid IOB2; the logits are the same"
        )
    if getattr(model.config, "layer_norm_eps", None) == 0.0:
        notes.append(
            "layer_norm_eps is 0.0, as in the loaded spaCy pipeline: spacy-transformers 1.4 "
            "restores the encoder config through srsly's JSON writer, which rounds 1e-12 (BERT's "
            "value) to 0.0. Outputs differ by well under 1e-5; set the original value in "
            "config.json if you want it back"
        )
    return {
        "output_dir": str(output_dir),
        "architecture": type(model).__name__,
        "tags": list(model.config.id2label.values()),
        "files": sorted(p.name for p in output_dir.iterdir()),
        "decoding": decoding,
        "notes": notes,
    }
