"""The ``token_classifier`` component: HuggingFace's token-classification head in spaCy.

Dropout + linear + softmax over each token's FIRST wordpiece (read from a
shared spacy-transformers ``transformer`` through a listener), trained with
cross-entropy on those first pieces only (HF's -100 masking), decoded to
``doc.ents`` with a constrained Viterbi search that never emits an invalid
IOB2 sequence. Optional: a linear-chain CRF trained jointly, class weights,
a hidden layer, POS-tag features (see ``architectures.py``). The decoding is
in ``decoding.py``, the losses in ``losses.py``; this module is the spaCy
component that calls them.
"""
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Literal, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate
from thinc.types import Floats2d

from .confidences import CONFIDENCES, Confidence, entity_confidence
from .decoding import Decoding, decode_scores, empty_prediction, transition_constraints
from .distillation import teacher_rows
from .files import naming_reader
from .head_training import check_training_settings, finish_head_update
from .losses import MISSING, crf_loss, gold_iob2_indices, masked_cross_entropy
from .tags import make_iob2_labels, tags_to_spans

ClassWeighting = Literal["none", "balanced", "sqrt_balanced"]
CONFIG_SETTINGS = ("decoding", "spans_key")  # prediction settings in cfg that the config decides

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-bert-ner.TokenClassifier.v1"
hidden_width = 0
hidden_activation = "tanh"
dropout = 0.1
pos_width = 0
shape_width = 0
use_crf = false
nO = null

[model.tok2vec]
@architectures = "spacy-bert-ner.FirstSubwordListener.v1"
upstream = "*"
grad_factor = 1.0
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "token_classifier",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "decoding": "viterbi",
        "confidence": "min",
        "class_weighting": "none",
        "label_smoothing": 0.0,
        "head_lr_scale": 1.0,
        "distill_weight": 0.0,
        "spans_key": "token_classifier",
        "scorer": {"@scorers": "spacy-bert-ner.token_classifier_scorer.v1"},
    },
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
    },
)
def make_token_classifier(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats2d]],
    decoding: Decoding,
    confidence: Confidence,
    class_weighting: ClassWeighting,
    label_smoothing: float,
    head_lr_scale: float,
    distill_weight: float,
    spans_key: Optional[str],
    scorer: Optional[Callable],
) -> "TokenClassifier":
    """Create a TokenClassifier (see the class docstring)."""
    return TokenClassifier(
        nlp.vocab,
        model,
        name,
        decoding=decoding,
        confidence=confidence,
        class_weighting=class_weighting,
        label_smoothing=label_smoothing,
        head_lr_scale=head_lr_scale,
        distill_weight=distill_weight,
        spans_key=spans_key,
        scorer=scorer,
    )


def token_classifier_score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
    """spaCy's NER scores: ents_p, ents_r, ents_f and ents_per_type."""
    return get_ner_prf(examples, **kwargs)


@registry.scorers("spacy-bert-ner.token_classifier_scorer.v1")
def make_token_classifier_scorer() -> Callable:
    return token_classifier_score


class TokenClassifier(TrainablePipe):
    """Per-token IOB2 classifier over first wordpieces, decoded to entities.

    Predictions: ``doc.ents`` (every token's IOB set, "O" outside entities)
    and, when ``spans_key`` is set, ``doc.spans[spans_key]`` holding the same
    entities with ``attrs["scores"]``: per entity its tokens' chosen-label
    probabilities aggregated as ``confidence`` says, "min" (the lowest, a
    conservative confidence; the default) or "mean" (HF's "simple" aggregation).
    ``confidence`` is a setting of the config only, not of the saved ``cfg``, so
    a load-time override (``config={"components.NAME.confidence": "mean"}``)
    takes effect and pipelines saved before the setting existed load as "min".
    So are the training settings ``label_smoothing``, ``head_lr_scale``
    (the head's learning rate relative to the optimizer's; see ``head_training.py``)
    and ``distill_weight`` (the teacher's share of the target; see ``distillation.py``).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "token_classifier",
        *,
        decoding: Decoding = "viterbi",
        confidence: Confidence = "min",
        class_weighting: ClassWeighting = "none",
        label_smoothing: float = 0.0,
        head_lr_scale: float = 1.0,
        distill_weight: float = 0.0,
        spans_key: Optional[str] = "token_classifier",
        scorer: Optional[Callable] = token_classifier_score,
    ) -> None:
        if confidence not in CONFIDENCES:
            raise ValueError(f"confidence: expected one of {', '.join(CONFIDENCES)}, got {confidence!r}")
        use_crf = model is not None and bool(model.attrs.get("use_crf"))
        check_training_settings(label_smoothing, head_lr_scale, use_crf, distill_weight)
        self.confidence = confidence
        self.label_smoothing = label_smoothing
        self.head_lr_scale = head_lr_scale
        self.distill_weight = distill_weight
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "decoding": decoding,
            "class_weighting": class_weighting,
            "class_weights": None,
            "spans_key": spans_key,
        }
        self._constraints: Optional[Tuple[numpy.ndarray, numpy.ndarray]] = None

    # ---- labels -------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        """The entity types (``PER``, ``LOC``, ...)."""
        return tuple(self.cfg["labels"])

    @property
    def tag_names(self) -> List[str]:
        """The IOB2 output classes, in model-output order."""
        return make_iob2_labels(self.labels)

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    @property
    def use_crf(self) -> bool:
        return bool(self.model.attrs.get("use_crf", False)) if self.model.has_ref("crf") else False

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label or label.startswith(("B-", "I-")) or label == "O":
            raise ValueError(
                f"token_classifier labels are entity types such as 'PER', got {label!r}"
            )
        if label in self.cfg["labels"]:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        self._constraints = None
        self.vocab.strings.add(label)
        return 1

    def _constraint_masks(self) -> Tuple[numpy.ndarray, numpy.ndarray]:
        if self._constraints is None:
            self._constraints = transition_constraints(self.tag_names)
        return self._constraints

    # ---- initialize ---------------------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_get_examples(get_examples, "TokenClassifier.initialize")
        if labels is not None:
            entity_types = set(labels)
        else:
            entity_types = {
                ent.label_ for eg in get_examples() for ent in eg.reference.ents
            }
        self.cfg["labels"] = []
        for label in sorted(entity_types):
            self.add_label(label)
        n_tags = len(self.tag_names)
        self.model.get_ref("output_layer").set_dim("nO", n_tags)
        if self.use_crf:
            self.model.get_ref("crf").set_dim("nO", n_tags)
        self.cfg["class_weights"] = self._class_weights(get_examples)
        doc_sample = [eg.x for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)

    def _class_weights(self, get_examples: Callable[[], Iterable[Example]]) -> Optional[List[float]]:
        """Per-IOB2-class loss weights from training label counts (sklearn's 'balanced')."""
        mode = self.cfg["class_weighting"]
        if mode == "none":
            return None
        counts = numpy.zeros(len(self.tag_names), dtype="float64")
        for eg in get_examples():
            for index in self._gold_indices(eg):
                if index != MISSING:
                    counts[index] += 1
        weights = counts.sum() / (len(counts) * numpy.maximum(counts, 1.0))
        if mode == "sqrt_balanced":
            weights = numpy.sqrt(weights)
        return [float(w) for w in weights]

    # ---- prediction ---------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[Tuple[numpy.ndarray, numpy.ndarray]]:
        """Decode each doc: (IOB2 label indices, probability of each chosen label)."""
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [empty_prediction() for _ in docs]
        scores = self.model.predict(docs)
        return [self._decode(self.model.ops.to_numpy(doc_scores)) for doc_scores in scores]

    def _decode(self, scores: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
        crf = None
        if self.use_crf:
            layer = self.model.get_ref("crf")
            crf = tuple(self.model.ops.to_numpy(layer.get_param(key)) for key in ("transitions", "start", "end"))
        return decode_scores(
            scores, self.tag_names, self._constraint_masks(), decoding=self.cfg["decoding"], crf=crf
        )

    def set_annotations(
        self, docs: Iterable[Doc], predictions: List[Tuple[numpy.ndarray, numpy.ndarray]]
    ) -> None:
        tag_names = self.tag_names
        spans_key = self.cfg["spans_key"]
        for doc, (path, confidences) in zip(docs, predictions):
            tags = [tag_names[i] for i in path]
            ents = []
            scores = []
            for start, end, label in tags_to_spans(tags):
                ents.append(Span(doc, start, end, label=label))
                scores.append(entity_confidence(confidences[start:end], self.confidence))
            doc.set_ents(ents, default="outside")
            if spans_key:
                doc.spans[spans_key] = SpanGroup(
                    doc, name=spans_key, spans=ents, attrs={"scores": scores}
                )

    # ---- loading ------------------------------------------------------
    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "TokenClassifier":
        """``TrainablePipe.from_disk``, but a file it cannot read is named, and the labels are checked.

        The labels in ``cfg`` must give as many IOB2 classes as the weights in
        ``model`` output; otherwise the first call would fail with a bare shape
        error (labels edited in ``cfg``, or files from two pipelines).
        """
        path = Path(path)
        settings = self._config_settings()
        deserialize = {
            "cfg": naming_reader(lambda p: self.cfg.update(srsly.read_json(p) if p.exists() else {}), "token_classifier settings"),
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": naming_reader(lambda p: self.model.from_bytes(p.read_bytes()), "token_classifier weights"),
        }
        util.from_disk(path, deserialize, exclude)
        self.cfg.update(settings)
        self._constraints = None
        self._check_labels_fit_weights(f"{path / 'cfg'}", f"{path / 'model'}")
        return self

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "TokenClassifier":
        """``TrainablePipe.from_bytes``, with the same label check as :meth:`from_disk`."""
        settings = self._config_settings()
        super().from_bytes(bytes_data, exclude=exclude)
        self.cfg.update(settings)
        self._constraints = None
        self._check_labels_fit_weights(f"{self.name} cfg", f"{self.name} model")
        return self

    def _config_settings(self) -> Dict[str, Any]:
        """The prediction settings the config gave, which the saved ``cfg`` must not override.

        ``cfg`` is saved with them too, so without this a load-time override
        (``spacy.load(path, config={"components.NAME.decoding": "repair"})``)
        was silently replaced by the saved value.
        """
        return {key: self.cfg[key] for key in CONFIG_SETTINGS}

    def _check_labels_fit_weights(self, cfg_source: str, model_source: str) -> None:
        try:
            n_tags = len(self.tag_names)
        except ValueError as err:
            raise ValueError(f"{cfg_source}: bad labels {self.cfg.get('labels')!r}: {err}") from None
        width = self.model.get_ref("output_layer").maybe_get_dim("nO")
        if width is not None and width != n_tags:
            raise ValueError(
                f"{cfg_source}: labels {list(self.labels)} give {n_tags} IOB2 classes, but the weights in "
                f"{model_source} output {width}; cfg was edited or the files come from different pipelines "
                "(restore the labels the model was trained with, or retrain)"
            )
        class_weights = self.cfg.get("class_weights")
        if class_weights is not None and len(class_weights) != n_tags:
            raise ValueError(
                f"{cfg_source}: {len(class_weights)} class_weights for {n_tags} IOB2 classes; expected one per class"
            )

    # ---- training -----------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd=None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "TokenClassifier.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def _gold_indices(self, example: Example) -> List[int]:
        """IOB2 class index per predicted token; MISSING where the gold is unknown."""
        return gold_iob2_indices(example.get_aligned_ner(), self.tag_names)

    def get_loss(
        self, examples: Iterable[Example], scores: List[Floats2d]
    ) -> Tuple[float, List[Floats2d]]:
        """Cross-entropy on first wordpieces (or CRF negative log-likelihood).

        Tokens with unknown gold labels, or with no wordpiece at all, are masked
        (HF's -100). The loss is averaged over the unmasked tokens of the batch.
        """
        examples = list(examples)
        validate_examples(examples, "TokenClassifier.get_loss")
        golds = [numpy.asarray(self._gold_indices(eg), dtype="int64") for eg in examples]
        if self.use_crf:
            return crf_loss(self.model.get_ref("crf"), scores, golds)
        soft = [teacher_rows(eg, self.tag_names) for eg in examples] if self.distill_weight else None
        return masked_cross_entropy(
            self.model.ops, scores, golds, self.cfg.get("class_weights"), self.label_smoothing,
            soft_targets=soft, soft_weight=self.distill_weight,
        )

    def finish_update(self, sgd) -> None:
        """The optimizer's step, with the head's parameters at ``head_lr_scale`` times its learning rate."""
        finish_head_update(self.model, sgd, self.head_lr_scale)
