"""The facts that go out with a trained pipeline: what it is, how it was trained, how well it scores.

One :class:`ModelFacts` record, gathered once from the pipeline (``nlp.meta``,
``nlp.config``, the head's labels, the encoder's tokenizer), the evaluation
JSON written by ``python -m spacy_bert_ner evaluate`` (``{split}_metrics.json``)
and the user's options; :mod:`.model_card` renders it as the HF ``README.md``
that ``export-hf`` writes, :mod:`.package_meta` as the ``meta.json`` overrides
``spacy package --meta-path`` reads. No figure is typed in by hand: a card or a
meta without an evaluation JSON carries no scores and says so.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from spacy.language import Language

from ..evaluation.records import METRICS_SCHEMA
from ..util import find_transformer
from .interop import InteropError, PathLike

# Known training data: the HF hub dataset id, its display name and where it comes from.
DATASETS: Dict[str, Dict[str, str]] = {
    "conll2003": {
        "name": "CoNLL-2003",
        "url": "https://www.clips.uantwerpen.be/conll2003/ner/",
        "author": "Erik F. Tjong Kim Sang and Fien De Meulder",
        "domain": "Reuters news stories from 1996-1997 (English)",
    },
}
HUB_URL = "https://huggingface.co/"
# A hub id as HF metadata accepts it: "org/name" (not a local path).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class EvalFigures:
    """The test figures of one ``{split}_metrics.json`` the card and the meta cite."""

    path: str
    split: str
    data: str  # the evaluated corpus
    n_docs: Optional[int]
    precision: float  # headline: exact-match entity P/R/F1, as spacy evaluate counts
    recall: float
    f1: float
    spacy_f1: Optional[float]  # nlp.evaluate's ents_f
    per_type: Dict[str, Dict[str, float]]  # spaCy's ents_per_type: {type: {p, r, f}}
    seqeval: Dict[str, Dict[str, float]]  # mode -> {precision, recall, f1}
    words_per_second: Optional[float]
    encoder_label: Optional[str]  # the encoder the evaluation names (evaluate --encoder)


@dataclass
class ModelFacts:
    """Everything the model card and the package meta say, from one place."""

    lang: str
    name: str
    version: str
    license: str
    description: str
    author: str
    url: str
    email: str
    labels: List[str]  # entity types
    tags: List[str]  # IOB2 classes of the head
    datasets: List[str]  # hub ids, keys of DATASETS when known
    base_model: Optional[str]  # hub id of the encoder, None when not known
    encoder: str  # what the pipeline config names (often a local folder)
    uncased: bool
    training: Dict[str, Any] = field(default_factory=dict)
    metrics: Optional[EvalFigures] = None


def read_metrics(path: PathLike) -> EvalFigures:
    """The figures of an evaluation JSON, or :class:`InteropError` naming the file and the problem."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf8"))
    except OSError as err:
        raise InteropError(f"{path}: cannot read the evaluation JSON ({err.strerror or err})") from err
    except ValueError as err:
        raise InteropError(f"{path}: not JSON ({err})") from err
    if not isinstance(record, dict) or record.get("schema") != METRICS_SCHEMA:
        got = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise InteropError(
            f"{path}: expected an evaluation JSON of schema {METRICS_SCHEMA!r} "
            f"(python -m spacy_bert_ner evaluate), got {got!r}"
        )
    try:
        headline = record["headline"]
        spacy_scores = record.get("spacy", {})
        data = record.get("data", {})
        return EvalFigures(
            path=str(path), split=str(record["split"]), data=str(data.get("path", "")),
            n_docs=data.get("n_docs"),
            precision=float(headline["precision"]), recall=float(headline["recall"]), f1=float(headline["f1"]),
            spacy_f1=_optional_float(spacy_scores.get("ents_f")),
            per_type=dict(spacy_scores.get("ents_per_type") or {}),
            seqeval={
                mode: {key: float(scores[key]) for key in ("precision", "recall", "f1")}
                for mode, scores in record.get("seqeval", {}).items()
            },
            words_per_second=_optional_float(record.get("speed", {}).get("words_per_second")),
            encoder_label=(record.get("pipeline", {}).get("encoder") or {}).get("label"),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InteropError(f"{path}: evaluation JSON without a usable {err} entry") from err


def _optional_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


@dataclass(frozen=True)
class FactOptions:
    """What the user says about the model; each one given wins over the pipeline's meta."""

    name: Optional[str] = None
    version: Optional[str] = None
    license: Optional[str] = None
    datasets: Tuple[str, ...] = ()
    base_model: Optional[str] = None  # HF hub id of the encoder
    description: Optional[str] = None
    author: Optional[str] = None
    url: Optional[str] = None


def gather_facts(
    nlp: Language, options: FactOptions = FactOptions(), *, component: str = "token_classifier",
    metrics: Optional[EvalFigures] = None,
) -> ModelFacts:
    """The facts of ``nlp``, the ``options`` given winning over what the pipeline's meta says.

    ``datasets`` default to the known datasets the meta's sources or the
    evaluated corpus's path name; ``base_model`` to the encoder the config (or
    the evaluation) names, when that is a hub id (``org/name``), not a local folder.
    """
    if component not in nlp.pipe_names:
        raise InteropError(f"expected a {component!r} component, got pipeline {nlp.pipe_names}")
    meta = nlp.meta
    pipe = nlp.get_pipe(component)
    found = find_transformer(nlp)
    transformer = found[0] if found else None
    encoder = str(nlp.config["components"][transformer]["model"].get("name", "")) if transformer else ""
    facts = ModelFacts(
        lang=nlp.lang, name=options.name or meta.get("name") or "pipeline",
        version=options.version or meta.get("version") or "0.0.0", license=options.license or meta.get("license") or "",
        description="", author=options.author or meta.get("author") or "", url=options.url or meta.get("url") or "",
        email=meta.get("email") or "",
        labels=list(pipe.labels), tags=list(getattr(pipe, "tag_names", [])),
        datasets=list(options.datasets) or _known_datasets(_meta_sources(meta) + ([metrics.data] if metrics else [])),
        base_model=options.base_model or _hub_id(encoder) or _hub_id(metrics.encoder_label if metrics else None),
        encoder=encoder, uncased=_lowercases(nlp, transformer), training=training_facts(nlp, component, transformer),
        metrics=metrics,
    )
    facts.description = options.description or meta.get("description") or default_description(facts)
    return facts


def _meta_sources(meta: Dict[str, Any]) -> List[str]:
    return [source.get("name", "") if isinstance(source, dict) else str(source) for source in meta.get("sources") or []]


def _known_datasets(labels: List[str]) -> List[str]:
    """Keys of :data:`DATASETS` named in ``labels`` (meta sources, the evaluated corpus's path)."""
    found: List[str] = []
    for label in labels:
        folded = label.lower().replace("-", "")
        found.extend(key for key in DATASETS if key in folded and key not in found)
    return found


def _hub_id(name: Optional[str]) -> Optional[str]:
    if not name or Path(name).exists() or not _HUB_ID.match(name):
        return None
    return name


def _lowercases(nlp: Language, transformer: Optional[str]) -> bool:
    """Whether the encoder's tokenizer folds case ("Apple" and "apple" give the same pieces)."""
    if transformer is None:
        return False
    tokenizer = getattr(nlp.get_pipe(transformer).model, "tokenizer", None)
    if tokenizer is None:
        return False
    return tokenizer.tokenize("Apple Paris") == tokenizer.tokenize("apple paris")


def training_facts(nlp: Language, component: str, transformer: Optional[str]) -> Dict[str, Any]:
    """Encoder windows, head settings and the optimizer schedule, as the pipeline's config says."""
    config = nlp.config.interpolate()
    head = dict(config["components"][component])
    model = head.pop("model", {})
    facts: Dict[str, Any] = {
        "head": {
            "architecture": model.get("@architectures"),
            **{key: model[key] for key in ("hidden_width", "pos_width", "shape_width", "use_crf", "dropout") if key in model},
            **{key: value for key, value in head.items() if not isinstance(value, dict) and key != "factory"},
        },
    }
    if transformer is not None:
        spans = config["components"][transformer]["model"].get("get_spans", {})
        facts["windows"] = {key: value for key, value in spans.items() if key != "@span_getters"}
        facts["windows"]["getter"] = spans.get("@span_getters")
    training = config.get("training", {})
    optimizer = training.get("optimizer", {})
    schedule = optimizer.get("learn_rate")
    facts["schedule"] = {
        "optimizer": optimizer.get("@optimizers"),
        "learn_rate": schedule,
        "max_steps": training.get("max_steps"),
        "max_epochs": training.get("max_epochs"),
        "batch_size": training.get("batcher", {}).get("size"),
        "seed": config.get("system", {}).get("seed"),
    }
    return facts


def default_description(facts: ModelFacts) -> str:
    """One sentence saying what the pipeline is, when neither the option nor the meta says."""
    encoder = facts.base_model or "a BERT-family encoder"
    data = " and ".join(DATASETS[key]["name"] if key in DATASETS else key for key in facts.datasets)
    trained = f", trained on {data}" if data else ""
    return (
        f"Named entity recognition ({', '.join(facts.labels)}) with spacy_bert_ner's token_classifier: "
        f"a first-subword token-classification head on {encoder}{trained}."
    )


def sources(facts: ModelFacts) -> List[Dict[str, str]]:
    """The training data and the encoder, with their URLs (spaCy meta ``sources`` entries)."""
    found = []
    for key in facts.datasets:
        known = DATASETS.get(key, {})
        entry = {"name": known.get("name", key), "url": known.get("url", HUB_URL + "datasets/" + key)}
        if known.get("author"):
            entry["author"] = known["author"]
        found.append(entry)
    if facts.base_model:
        found.append({"name": facts.base_model, "url": HUB_URL + facts.base_model})
    return found
