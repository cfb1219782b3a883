"""HuggingFace -> spaCy: a token-classification checkpoint as a ``transformer`` + ``token_classifier`` pipeline.

:func:`hf_to_spacy` builds the pipeline in memory (the checkpoint's encoder in
the transformer component, its classifier rows put in our IOB2 class order);
:func:`import_hf` saves it with ``nlp.to_disk`` plus a ``finetune.cfg`` that
resumes training from the imported weights (``import-hf`` on the command line).
Checks and weight moves shared with the export live in :mod:`.interop`.
"""
import json
from pathlib import Path
from typing import List, Optional, Sequence

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Config

from ..files import OutputError, OutputKind, folder_output
from ..util import hf_model
from .interop import (
    InteropError,
    PathLike,
    check_hf_folder,
    classifier_layer,
    copy_encoder_weights,
    head_dropout,
    hf_tag_rows,
    load_hf_token_classifier,
)
from .loader import quiet_transformers
from .records import ImportSummary

# Bias given to an IOB2 class the checkpoint does not have (e.g. no ``I-X`` for a
# type that only ever spans one word): its probability underflows to exactly 0,
# so it is never predicted, as in the checkpoint.
ABSENT_CLASS_BIAS = -1e4
FINETUNE_CONFIG = "finetune.cfg"
DECODINGS = ("repair", "viterbi")


def _pipeline_components(folder: Path) -> List[str]:
    """The component folders an existing pipeline's meta.json names (its stale ones when replaced)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf8"))
        names = list(meta.get("components", [])) + list(meta.get("pipeline", []))
    except (OSError, ValueError, TypeError, AttributeError):
        return []
    return [name for name in names if isinstance(name, str)]


# What nlp.to_disk plus finetune.cfg writes: import-hf's own kind of output. A
# pipeline without finetune.cfg (a trained one, say) is not import-hf's: --force.
IMPORTED_PIPELINE = OutputKind(
    "a pipeline folder written by import-hf (config.cfg, meta.json and finetune.cfg)",
    markers=("config.cfg", "meta.json", FINETUNE_CONFIG),
    patterns=("config.cfg", "meta.json", "tokenizer", "vocab", FINETUNE_CONFIG),
    extra_owned=_pipeline_components,
)


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
    checkpoint, _ = load_hf_token_classifier(hf_dir)
    classifier = classifier_layer(checkpoint)
    types, rows = hf_tag_rows(checkpoint.config.id2label)
    try:
        nlp = spacy.blank(lang, config={"nlp": {"batch_size": 64}})
    except ImportError:
        raise InteropError(f"unknown spaCy language {lang!r}; expected a code from spacy.lang such as en, de, xx") from None
    nlp.add_pipe(
        "transformer",
        config={
            "max_batch_items": 4096,
            "model": {
                "@architectures": "spacy-bert-ner.TransformerModel.v1",  # v3 + sorted chunks + the wordpiece limit
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
    head = nlp.add_pipe(
        "token_classifier",
        config={"decoding": decoding, "model": {"dropout": head_dropout(checkpoint.config)}},
    )
    # spacy-transformers loads the encoder and tokenizer from `name` (the folder
    # has safetensors weights, which transformers prefers over any *.bin).
    with quiet_transformers():
        nlp.initialize(lambda: _label_examples(nlp, types))
    copy_encoder_weights(getattr(checkpoint, checkpoint.base_model_prefix), hf_model(nlp))
    _set_head(head, classifier, rows)
    nlp.meta["sources"] = [{"name": hf_dir.name, "url": str(hf_dir)}]
    return nlp


def _label_examples(nlp: Language, types: Sequence[str]) -> List[Example]:
    """One Doc with an entity of every type: tells initialize the label set."""
    words = ["entity"] * len(types) or ["entity"]
    reference = Doc(nlp.vocab, words=words)
    reference.set_ents([Span(reference, i, i + 1, label=t) for i, t in enumerate(types)])
    return [Example(Doc(nlp.vocab, words=words), reference)]


def _set_head(pipe, classifier, rows: Sequence[Optional[int]]) -> None:
    """The classifier's rows in our class order; a class it lacks gets ABSENT_CLASS_BIAS."""
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
    force: bool = False,
) -> ImportSummary:
    """:func:`hf_to_spacy`, saved with ``nlp.to_disk``, plus ``finetune.cfg`` beside it.

    ``output_dir`` must be new, empty or a pipeline folder import-hf wrote (its
    pipeline entries are replaced, stale component folders removed, other files
    kept), or, with ``force``, any folder but the checkpoint's (a trained pipeline).
    Returns a summary: labels, the IOB2 classes the checkpoint lacked (never
    predicted) and the files written.
    """
    output_dir = Path(output_dir)
    try:
        with folder_output(output_dir, IMPORTED_PIPELINE, inputs=[hf_dir], force=force) as temp:
            nlp = hf_to_spacy(hf_dir, lang=lang, window=window, stride=stride, decoding=decoding)
            nlp.to_disk(temp)
            finetune_config(nlp, output_dir).to_disk(temp / FINETUNE_CONFIG)
    except OutputError as err:
        raise InteropError(str(err)) from err
    finetune_path = output_dir / FINETUNE_CONFIG
    pipe = nlp.get_pipe("token_classifier")
    absent = [tag for tag, value in zip(pipe.tag_names, pipe.model.get_ref("output_layer").get_param("b"))
              if float(value) == ABSENT_CLASS_BIAS]
    return ImportSummary(
        pipeline=str(output_dir),
        finetune_config=str(finetune_path),
        labels=list(pipe.labels),
        tags=pipe.tag_names,
        absent_tags=absent,
        decoding=decoding,
    )


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
