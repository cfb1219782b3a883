"""spaCy -> HuggingFace: a ``token_classifier`` pipeline as an ``AutoModelForTokenClassification`` folder.

:func:`check_exportable` says what HF's single-linear head cannot express (a
hidden layer, POS or shape features, CRF transitions); :func:`spacy_to_hf`
builds the HF model in memory; :func:`export_hf` saves it, safetensors only,
with the pipeline's tokenizer (``export-hf`` on the command line). The HF
model is also what :mod:`.onnx` exports. Checks and weight moves shared with
the import live in :mod:`.interop`.
"""
import json
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy
import spacy
from spacy.language import Language

from ..files import OutputError, OutputKind, folder_output
from ..util import hf_model, transformer_names
from .interop import (
    DEFAULT_HEAD_DROPOUT,
    InteropError,
    PathLike,
    classifier_layer,
    copy_encoder_weights,
)
from .loader import PICKLED_WEIGHTS, quiet_transformers
from .model_card import CARD_NAME, is_own_card, render_card
from .model_facts import FactOptions, gather_facts, read_metrics
from .records import ExportSummary

HEAD_ARCHITECTURE = "spacy-bert-ner.TokenClassifier.v1"
LISTENER_ARCHITECTURE = "spacy-bert-ner.FirstSubwordListener.v1"
# The same model as LISTENER_ARCHITECTURE when pooling = "first", the only pooling HF has.
POOLING_LISTENER_ARCHITECTURE = "spacy-bert-ner.SubwordPoolingListener.v1"
# What save_pretrained writes for a model and its tokenizer (any family): the
# entries of an HF folder that export-hf (and the encoder command) own.
HF_FOLDER_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "model-*-of-*.safetensors",
    "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spm.model", "spiece.model",
    "sentencepiece.bpe.model", "chat_template.jinja",
)


def _has_id2label(folder: Path) -> bool:
    try:
        return "id2label" in json.loads((folder / "config.json").read_text(encoding="utf8"))
    except (OSError, ValueError, TypeError):
        return False


HF_EXPORT = OutputKind(
    "an HF model folder (config.json with id2label)",
    markers=("config.json",), patterns=(*HF_FOLDER_FILES, CARD_NAME), is_own=_has_id2label,
)


def check_exportable(nlp: Language, component: str = "token_classifier") -> str:
    """Name of the transformer the head reads, or :class:`InteropError` naming what HF lacks."""
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
    if tok2vec.get("@architectures") == POOLING_LISTENER_ARCHITECTURE:
        _check_first_pooling(component, tok2vec.get("pooling", "first"))
    elif tok2vec.get("@architectures") != LISTENER_ARCHITECTURE:
        raise InteropError(
            f"{component}: expected tok2vec {LISTENER_ARCHITECTURE!r}, got {tok2vec.get('@architectures')!r}"
        )
    listener = nlp.get_pipe(component).model.get_ref("tok2vec").get_ref("listener")
    for name in transformer_names(nlp):
        if listener in nlp.get_pipe(name).listeners:
            return name
    raise InteropError(f"{component}: no transformer component feeds its listener")


def _check_first_pooling(component: str, pooling: str) -> None:
    if pooling != "first":
        raise InteropError(
            f"{component}: model.tok2vec.pooling = {pooling!r}; HF's token classification reads each "
            "word's first subword only, so only pooling = 'first' can be exported (retrain with it)"
        )


def spacy_to_hf(nlp: Language, component: str = "token_classifier") -> Tuple[Any, Any]:
    """``(AutoModelForTokenClassification, tokenizer)`` computing the head's logits.

    The softmax of the returned model's logits at each word's first subword is
    the head's output for a doc read in one window.
    """
    import torch
    from transformers import AutoModelForTokenClassification

    transformer_name = check_exportable(nlp, component)
    encoder = hf_model(nlp, transformer_name)
    if encoder is None:
        raise InteropError(f"{transformer_name}: the transformer is not initialized")
    tokenizer = nlp.get_pipe(transformer_name).model.tokenizer
    pipe = nlp.get_pipe(component)
    tags = pipe.tag_names
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    config.id2label = dict(enumerate(tags))
    config.label2id = {tag: i for i, tag in enumerate(tags)}
    if hasattr(config, "classifier_dropout"):
        config.classifier_dropout = _head_dropout_from_config(nlp, component)
    with quiet_transformers():
        model = AutoModelForTokenClassification.from_config(config)
    config.architectures = [type(model).__name__]
    copy_encoder_weights(encoder, getattr(model, model.base_model_prefix))
    layer = pipe.model.get_ref("output_layer")
    classifier = classifier_layer(model)
    W = layer.ops.to_numpy(layer.get_param("W"))
    b = layer.ops.to_numpy(layer.get_param("b"))
    if tuple(classifier.weight.shape) != W.shape:
        raise InteropError(f"classifier shape {tuple(classifier.weight.shape)} != output layer {W.shape}")
    with torch.no_grad():
        classifier.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(W, dtype="float32")))
        classifier.bias.copy_(torch.from_numpy(numpy.ascontiguousarray(b, dtype="float32")))
    return model.eval(), tokenizer


def _head_dropout_from_config(nlp: Language, component: str) -> float:
    model_cfg = nlp.config.interpolate()["components"][component]["model"]
    return float(model_cfg.get("dropout", DEFAULT_HEAD_DROPOUT))


def export_hf(
    pipeline: Union[PathLike, Language], output_dir: PathLike, *, component: str = "token_classifier",
    card: FactOptions = FactOptions(), metrics: Optional[PathLike] = None, force: bool = False,
) -> ExportSummary:
    """:func:`spacy_to_hf` saved with ``save_pretrained`` (safetensors only) + tokenizer + model card.

    The card (``README.md``, :mod:`.model_card`) takes its facts from the
    pipeline, the ``card`` options and the evaluation JSON ``metrics`` (its
    test figures go to ``model-index``; without it the card has no scores).
    ``output_dir`` must be new, empty or an HF folder (whose HF files and
    card are replaced; other files stay), or anything but the pipeline with
    ``force``; a ``README.md`` there that is not a card of ours also needs ``force``.
    Returns a summary with the labels and ``notes``: where HF's behaviour will
    differ from the pipeline's (decoding other than "repair", which is HF's
    argmax + grouping; a ``layer_norm_eps`` lost by spacy-transformers).
    """
    if not isinstance(pipeline, Language) and not (Path(pipeline) / "config.cfg").is_file():
        raise InteropError(f"{pipeline}: expected a spaCy pipeline folder (with config.cfg)")
    output_dir = Path(output_dir)
    inputs = [] if isinstance(pipeline, Language) else [pipeline]
    readme = output_dir / CARD_NAME
    if readme.exists() and not force and not is_own_card(readme):
        raise InteropError(
            f"{readme}: exists and is not a model card written by export-hf; move it, or pass --force to replace it"
        )
    figures = read_metrics(metrics) if metrics is not None else None
    try:
        with folder_output(output_dir, HF_EXPORT, inputs=[*inputs, metrics], force=force) as temp:
            nlp = pipeline if isinstance(pipeline, Language) else spacy.load(pipeline)
            model, tokenizer = spacy_to_hf(nlp, component)
            _save_checked(model, tokenizer, temp)
            facts = gather_facts(nlp, card, component=component, metrics=figures)
            (temp / CARD_NAME).write_text(render_card(facts), encoding="utf8")
            written = sorted(p.name for p in temp.iterdir())
    except OutputError as err:
        raise InteropError(str(err)) from err
    decoding = nlp.get_pipe(component).cfg["decoding"]
    return ExportSummary(
        output_dir=str(output_dir),
        architecture=type(model).__name__,
        tags=list(model.config.id2label.values()),
        files=written,
        decoding=decoding,
        notes=_export_notes(decoding, model.config),
    )


def _save_checked(model: Any, tokenizer: Any, folder: Path) -> None:
    """``save_pretrained`` of model and tokenizer into ``folder``; refuses pickled weights."""
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    pickled = [p.name for pattern in PICKLED_WEIGHTS for p in folder.glob(pattern)]
    if pickled:
        raise InteropError(f"save_pretrained wrote pickled files {pickled}; expected safetensors only")


def _export_notes(decoding: str, config: Any) -> List[str]:
    notes = []
    if decoding != "repair":
        notes.append(
            f"the pipeline decodes with {decoding!r}; HF's pipeline takes the argmax and groups "
            "B-/I- tags (decoding 'repair'), so entities can differ where the argmax is not "
            "valid IOB2; the logits are the same"
        )
    if getattr(config, "layer_norm_eps", None) == 0.0:
        notes.append(
            "layer_norm_eps is 0.0, as in the loaded spaCy pipeline: spacy-transformers 1.4 "
            "restores the encoder config through srsly's JSON writer, which rounds 1e-12 (BERT's "
            "value) to 0.0. Outputs differ by well under 1e-5; set the original value in "
            "config.json if you want it back"
        )
    return notes
