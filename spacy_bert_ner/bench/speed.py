"""Inference speed on the same documents: our pipelines against HF's, in one interleaved run.

Systems (all on the SAME words: a DocBin's documents, or its first N words):

* ``token_classifier`` / ``ner``: a trained spaCy pipeline folder, ``nlp.pipe``
  over the documents' texts (spaCy tokenization + transformer + head +
  annotation, one Doc per document, ``batch_size`` docs per batch), the
  transformer run in length-sorted chunks (``chunk_size``, see ``sorted_batches``);
* ``token_classifier_padded``: the same pipeline as saved, with spacy-transformers'
  padding of every window to the batch's longest (shown when ``chunk_size`` > 0);
* ``token_classifier_int8``: the ``token_classifier`` pipeline with the
  transformer's ``Linear`` layers quantized to int8 (:func:`quantize_transformer`);
  it changes accuracy, so its F1 on the same documents is reported next to its
  speed, as is the fp32 pipeline's;
* ``hf_pipeline``: ``transformers.pipeline("token-classification",
  aggregation_strategy="first")`` on the encoder folder with a RANDOM
  token-classification head (speed only), one string per sentence (its words
  joined by spaces), ``batch_size`` 32;
* ``bare_forward``: the ceiling: the same model called directly, sentences sorted
  by length, batches of 64, ``torch.inference_mode()``, the fast tokenizer with
  ``is_split_into_words=True``, argmax read at each word's first subword
  (``word_ids()``). Tokenization is inside the timed pass; "length" is the
  wordpiece count by default (least padding), or the word count.

Every system is warmed up on one small batch, then timed for ``repeats`` full
passes, interleaved (A1, B1, C1, A2, B2, ...) so that drifting machine load
hits all systems alike. Speeds are gold words (and encoder wordpieces) over the
MEDIAN pass time. :func:`run_benchmark` returns one JSON-able dict;
:func:`write_outputs` writes it as JSON, a Markdown table and a bar chart.
"""
import gc
import io
import json
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy

from ..alignment import NO_PIECE, hf_first_subword_positions
from .env import hardware_info, package_versions, peak_rss_mb
from ..files import write_bytes_atomic
from ..sorted_batches import ARCHITECTURE as SORTED_ARCHITECTURE
from ..sorted_batches import DEFAULT_CHUNK_SIZE
from ..tags import make_iob2_labels
from ..evaluation.windows import window_label

PathLike = Union[str, Path]
Sentences = List[List[str]]

SCHEMA = "spacy_bert_ner.speed.v1"
CONLL_TYPES = ("LOC", "MISC", "ORG", "PER")
SYSTEM_ORDER = (
    "token_classifier", "token_classifier_padded", "token_classifier_int8", "ner", "hf_pipeline", "bare_forward",
)
SPACY_SYSTEMS = ("token_classifier", "token_classifier_padded", "token_classifier_int8", "ner")
# (numerator, denominator) of the words/s ratios reported when both systems ran.
RATIO_PAIRS: Tuple[Tuple[str, str], ...] = (
    ("token_classifier", "hf_pipeline"),
    ("token_classifier", "bare_forward"),
    ("ner", "hf_pipeline"),
    ("ner", "bare_forward"),
    ("token_classifier", "ner"),
    ("token_classifier", "token_classifier_padded"),
    ("bare_forward", "hf_pipeline"),
    ("token_classifier_int8", "token_classifier"),
    ("token_classifier_int8", "hf_pipeline"),
    ("token_classifier_int8", "bare_forward"),
)
RSS_MODES = ("subprocess", "process", "none")
TRANSFORMER_ARCHITECTURES = ("spacy-transformers.TransformerModel.v3", SORTED_ARCHITECTURE)
ADD_PREFIX_SPACE_TYPES = frozenset({"bloom", "gpt2", "roberta", "longformer", "bart"})
OUTPUT_NAMES = {"json": "speed.json", "markdown": "speed.md", "png": "speed.png"}

DEFINITIONS = {
    "pass": (
        "one timed pass = every document of the data through the system, wall time by "
        "time.perf_counter; spaCy systems: list(nlp.pipe(doc texts, batch_size)) (spaCy "
        "tokenization, transformer, head, doc annotation); hf_pipeline: pipe(one string per "
        "sentence, batch_size) (tokenization, forward, aggregation); bare_forward: tokenize "
        "every sentence (is_split_into_words), sort by length (bare_sort_by), pad per batch, "
        "forward under torch.inference_mode, argmax at each word's first subword"
    ),
    "schedule": (
        "each system is warmed up on one small batch (one document / one batch of sentences), "
        "then passes are interleaved: system A pass 1, B pass 1, ..., A pass 2, ...; "
        "gc.collect() runs before every pass, outside the timing (objects alive before the first "
        "pass are frozen with gc.freeze())"
    ),
    "words_per_second": "gold words of the data / median seconds of one pass",
    "wordpieces_per_second": (
        "wordpieces of the same words / median seconds of one pass; wordpieces = the encoder's "
        "fast tokenizer on each sentence's words (is_split_into_words=True, no special tokens, "
        "no truncation). The numerator is the same for every system (a size of the data, not "
        "the work done: overlapping strided windows would encode some pieces twice, and spaCy's "
        "tokenizer cuts some words HF reads whole)"
    ),
    "ratios": "words_per_second of the first system / words_per_second of the second",
    "quality": (
        "entity P/R/F1 on the same documents from the predictions of the last timed pass, "
        "counted as spaCy's NER scorer / `spacy evaluate` counts (evaluation.example_counts); "
        "None for systems with a random head (hf_pipeline, bare_forward: speed only)"
    ),
    "threads": "torch.get_num_threads() when the system was measured",
}
RSS_DEFINITIONS = {
    "subprocess": (
        "peak_rss_mb: peak resident set (VmHWM, else ru_maxrss) of a fresh Python process that "
        "imported torch/transformers/spaCy, read the data, built ONLY this system, warmed it up "
        "and made one full pass; baseline_rss_mb: the same process's peak after imports and "
        "data, before the system was built; MB = 10^6 bytes"
    ),
    "process": (
        "peak_rss_mb: this benchmark process's peak resident set SO FAR, read after this "
        "system was built and warmed up (systems are built in the listed order, so each "
        "figure includes every system built before it); not a per-system figure; MB = 10^6 bytes"
    ),
    "none": "peak RSS not measured",
}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def load_docs(path: PathLike, max_words: int = 0, vocab: Any = None) -> List[Any]:
    """The gold Docs of a DocBin, in order; with ``max_words`` only the first N words.

    The cut keeps whole documents, and of the document that crosses the limit
    its first whole sentences up to the limit (at least one sentence), so the
    result has at most ``max_words`` words unless one sentence alone is longer.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a DocBin (.spacy) file, found nothing")
    if max_words < 0:
        raise ValueError(f"max_words: expected >= 0 (0: all), got {max_words}")
    docs = list(DocBin().from_disk(path).get_docs(vocab if vocab is not None else Vocab()))
    if not max_words:
        return docs
    kept: List[Any] = []
    total = 0
    for doc in docs:
        if total + len(doc) <= max_words:
            kept.append(doc)
            total += len(doc)
            continue
        end = 0
        for start, stop in _sentence_bounds(doc):
            if total + stop > max_words and (end > 0 or kept):
                break
            end = stop
        if end > 0:
            kept.append(doc[:end].as_doc())
        break
    return kept


def _sentence_bounds(doc: Any) -> List[Tuple[int, int]]:
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents if sent.end > sent.start]
    return [(0, len(doc))] if len(doc) else []


def doc_sentences(docs: Sequence[Any]) -> Sentences:
    """The words of every sentence (or of every doc without sentence starts), in order."""
    return [
        [token.text for token in doc[start:end]]
        for doc in docs
        for start, end in _sentence_bounds(doc)
    ]


def count_wordpieces(tokenizer: Any, sentences: Sentences) -> int:
    """Wordpieces of the words (is_split_into_words, no special tokens, no truncation)."""
    if not sentences:
        return 0
    total = 0
    for first in range(0, len(sentences), 1024):
        encoding = tokenizer(
            sentences[first : first + 1024], is_split_into_words=True,
            add_special_tokens=False, truncation=False,
        )
        total += sum(len(ids) for ids in encoding["input_ids"])
    return total


@dataclass
class BenchData:
    """The documents every system reads, and what they add up to."""

    path: str
    docs: List[Any]
    sentences: Sentences
    max_words: int
    n_wordpieces: int = 0

    @property
    def texts(self) -> List[str]:
        return [doc.text for doc in self.docs]

    @property
    def n_words(self) -> int:
        return sum(len(doc) for doc in self.docs)

    def summary(self) -> Dict[str, Any]:
        from ..evaluation.metrics import doc_fingerprint

        return {
            "path": self.path,
            "max_words": self.max_words,
            "n_docs": len(self.docs),
            "n_sentences": len(self.sentences),
            "n_words": self.n_words,
            "n_wordpieces": self.n_wordpieces,
            "fingerprint": _fingerprint_all([doc_fingerprint(doc) for doc in self.docs]),
        }


def _fingerprint_all(fingerprints: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha1("|".join(fingerprints).encode("utf8")).hexdigest()[:16]


# ---------------------------------------------------------------------------
# Systems and the interleaved schedule
# ---------------------------------------------------------------------------
@dataclass
class System:
    """One thing to time: ``run()`` makes a full pass and returns its predictions."""

    name: str
    run: Callable[[], Any]
    warm_up: Callable[[], Any]
    info: Dict[str, Any] = field(default_factory=dict)
    score: Optional[Callable[[Any], Dict[str, Any]]] = None
    tokenizer: Any = None  # the encoder's tokenizer, used to count wordpieces


@dataclass
class Timings:
    seconds: Dict[str, List[float]]
    outputs: Dict[str, Any]
    schedule: List[str]


def measure_interleaved(
    systems: Sequence[System],
    repeats: int,
    *,
    clock: Callable[[], float] = time.perf_counter,
    warm_up: bool = True,
) -> Timings:
    """Warm every system up, then time ``repeats`` passes of each, interleaved.

    Order: warm-ups in system order, then pass 1 of every system in order,
    pass 2 of every system, ... ``schedule`` records it (``"warm-up:NAME"``,
    ``"NAME#k"``). ``outputs`` holds each system's last pass.
    """
    if repeats < 1:
        raise ValueError(f"repeats: expected >= 1, got {repeats}")
    names = [system.name for system in systems]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    schedule: List[str] = []
    if warm_up:
        for system in systems:
            schedule.append(f"warm-up:{system.name}")
            system.warm_up()
    seconds: Dict[str, List[float]] = {name: [] for name in names}
    outputs: Dict[str, Any] = {}
    # Objects alive now (libraries, models) go to the permanent generation, so the
    # collection before each pass only walks what the passes made (~ms, not the
    # ~0.5 s a full collection takes once transformers is imported).
    gc.freeze()
    try:
        for repeat in range(1, repeats + 1):
            for system in systems:
                outputs.pop(system.name, None)  # free the previous pass's output first
                gc.collect()
                schedule.append(f"{system.name}#{repeat}")
                started = clock()
                outputs[system.name] = system.run()
                seconds[system.name].append(clock() - started)
    finally:
        gc.unfreeze()
    return Timings(seconds=seconds, outputs=outputs, schedule=schedule)


def summarize_seconds(seconds: Sequence[float], n_words: int, n_wordpieces: int) -> Dict[str, Any]:
    """Median pass time and the speeds it gives (see ``DEFINITIONS``)."""
    if not seconds:
        raise ValueError("expected at least one timed pass")
    median = float(statistics.median(seconds))
    return {
        "repeats": len(seconds),
        "seconds_all": [float(s) for s in seconds],
        "seconds_median": median,
        "words_per_second": n_words / median if median > 0 else None,
        "wordpieces_per_second": n_wordpieces / median if median > 0 else None,
        "words_per_second_all": [n_words / s if s > 0 else None for s in seconds],
    }


def speed_ratios(systems: Mapping[str, Mapping[str, Any]]) -> Dict[str, float]:
    """``{"A/B": wps(A) / wps(B)}`` for the :data:`RATIO_PAIRS` whose systems both ran."""
    ratios: Dict[str, float] = {}
    for a, b in RATIO_PAIRS:
        if a in systems and b in systems:
            wa, wb = systems[a].get("words_per_second"), systems[b].get("words_per_second")
            if wa is not None and wb:
                ratios[f"{a}/{b}"] = wa / wb
    return ratios


# ---------------------------------------------------------------------------
# spaCy systems
# ---------------------------------------------------------------------------
def quantize_transformer(nlp: Any) -> Dict[str, Any]:
    """Quantize the ``Linear`` layers of every ``transformer`` component to int8, in place.

    Dynamic quantization (``torch.ao.quantization.quantize_dynamic``, qint8
    weights, activations quantized per batch at run time), CPU only. The
    component keeps working through spacy-transformers as before. It changes
    the predictions slightly: measure accuracy next to speed. In memory only;
    do not ``nlp.to_disk`` the result. Returns what was done.
    Raises ValueError when the pipeline has no transformer component.
    """
    import torch

    components = []
    n_linear = 0
    for name, pipe in nlp.pipeline:
        hf_model = getattr(getattr(pipe, "model", None), "transformer", None)
        if nlp.get_pipe_meta(name).factory != "transformer" or hf_model is None:
            continue
        n_linear += sum(isinstance(m, torch.nn.Linear) for m in hf_model.modules())
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao (not installed).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic

            quantize_dynamic(hf_model.eval(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        components.append(name)
    if not components:
        raise ValueError(
            f"no transformer component to quantize in pipeline {nlp.pipe_names}"
        )
    return {
        "method": "torch.ao.quantization.quantize_dynamic",
        "dtype": "qint8",
        "modules": "torch.nn.Linear",
        "n_linear_quantized": n_linear,
        "components": components,
        "engine": torch.backends.quantized.engine,
    }


def score_predictions(predicted: Sequence[Any], gold: Sequence[Any]) -> Dict[str, Any]:
    """Entity P/R/F1 of predicted Docs against the gold Docs, as `spacy evaluate` counts."""
    from spacy.training import Example

    from ..evaluation.metrics import HEADLINE_DEFINITION, example_counts, prf_from_counts

    if len(predicted) != len(gold):
        raise ValueError(f"expected one prediction per gold doc, got {len(predicted)} vs {len(gold)}")
    examples = [Example(pred, ref) for pred, ref in zip(predicted, gold)]
    counts, _ = example_counts(examples)
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    return {**prf_from_counts(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "definition": HEADLINE_DEFINITION}


def transformer_summary(nlp: Any) -> Dict[str, Any]:
    """The first transformer component's encoder name, windows and size; {} without one."""
    for name in nlp.pipe_names:
        if nlp.get_pipe_meta(name).factory == "transformer":
            hf_model = getattr(nlp.get_pipe(name).model, "transformer", None)
            config = getattr(hf_model, "config", None)
            model_config = nlp.config["components"][name]["model"]
            return {
                "config_name": model_config.get("name"),
                "windows": window_label(model_config.get("get_spans")),
                "inference_windows": window_label(
                    model_config.get("inference_get_spans") or model_config.get("get_spans")
                ),
                "model_type": getattr(config, "model_type", None),
                "num_hidden_layers": getattr(config, "num_hidden_layers", None),
                "hidden_size": getattr(config, "hidden_size", None),
            }
    return {}


def spacy_system(
    name: str,
    pipeline_dir: PathLike,
    data: BenchData,
    *,
    batch_size: Optional[int] = None,
    int8: bool = False,
    chunk_size: int = 0,
) -> System:
    """``nlp.pipe`` over the documents' texts; scored against the gold documents.

    chunk_size > 0 runs a transformer saved as ``spacy-transformers.TransformerModel.v3``
    as ``spacy-bert-ner.TransformerModel.v1`` (length-sorted chunks, same weights and outputs).
    """
    import spacy

    pipeline_dir = Path(pipeline_dir)
    if not pipeline_dir.exists():
        raise FileNotFoundError(f"{pipeline_dir}: expected a trained spaCy pipeline folder")
    nlp = spacy.load(pipeline_dir, config=sorted_batches_override(pipeline_dir, chunk_size))
    quantization = quantize_transformer(nlp) if int8 else None
    size = batch_size or nlp.batch_size
    texts = data.texts
    gold = data.docs

    def run() -> List[Any]:
        return list(nlp.pipe(texts, batch_size=size))

    def warm_up() -> Any:
        return list(nlp.pipe(texts[:1], batch_size=size))

    info = {
        "kind": "spacy",
        "model": str(pipeline_dir),
        "components": list(nlp.pipe_names),
        "encoder": transformer_summary(nlp),
        "batch_size": size,
        "batch_unit": "docs (one Doc per document; the transformer cuts them into windows, see windows)",
        "input": "document text, spaCy tokenization",
        "precision": "int8 dynamic (transformer Linear layers)" if int8 else "fp32",
        "quantization": quantization,
        "transformer_batching": batching_label(nlp),
    }
    tokenizer = next(
        (nlp.get_pipe(n).model.tokenizer for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "transformer"),
        None,
    )
    return System(name, run, warm_up, info, score=lambda docs: score_predictions(docs, gold), tokenizer=tokenizer)


def sorted_batches_override(pipeline_dir: PathLike, chunk_size: int) -> Dict[str, Any]:
    """Config overrides that run the pipeline's transformer with ``chunk_size``.

    > 0: length-sorted chunks (``spacy-bert-ner.TransformerModel.v1``); 0: every
    window padded to the batch's longest (spacy-transformers' own batching), whether
    the pipeline was saved with ``spacy-transformers.TransformerModel.v3`` or v1.
    """
    from spacy.util import load_config

    config = load_config(Path(pipeline_dir) / "config.cfg", interpolate=False)
    overrides: Dict[str, Any] = {}
    for name, component in config["components"].items():
        architecture = component.get("model", {}).get("@architectures")
        if component.get("factory") != "transformer" or architecture not in TRANSFORMER_ARCHITECTURES:
            continue
        if chunk_size > 0 or architecture == SORTED_ARCHITECTURE:
            overrides[f"components.{name}.model.@architectures"] = SORTED_ARCHITECTURE
            overrides[f"components.{name}.model.chunk_size"] = chunk_size
    return overrides


def batching_label(nlp: Any) -> str:
    for name in nlp.pipe_names:
        model = nlp.config["components"][name].get("model", {})
        chunk_size = model.get("chunk_size", DEFAULT_CHUNK_SIZE)
        if model.get("@architectures") == SORTED_ARCHITECTURE and chunk_size:
            return f"length-sorted chunks of {chunk_size} windows ({SORTED_ARCHITECTURE})"
    return "spacy-transformers default (all windows of a batch padded to the longest)"


# ---------------------------------------------------------------------------
# HuggingFace systems
# ---------------------------------------------------------------------------
def load_token_classification_model(
    encoder_dir: PathLike, labels: Sequence[str], *, seed: int = 0
) -> Tuple[Any, Any]:
    """(model, fast tokenizer): the encoder with a RANDOM token-classification head, eval mode."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    encoder_dir = Path(encoder_dir)
    if not (encoder_dir / "config.json").exists():
        raise FileNotFoundError(f"{encoder_dir}: expected a HuggingFace model folder (config.json)")
    config = AutoConfig.from_pretrained(str(encoder_dir))
    options = {"add_prefix_space": True} if config.model_type in ADD_PREFIX_SPACE_TYPES else {}
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), use_fast=True, **options)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{encoder_dir}: needs a fast tokenizer (word_ids()); add tokenizer.json")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized weights": expected, speed only
    try:
        torch.manual_seed(seed)
        model = AutoModelForTokenClassification.from_pretrained(
            str(encoder_dir),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval(), tokenizer


def _model_info(model: Any, encoder_dir: PathLike) -> Dict[str, Any]:
    config = model.config
    return {
        "model": str(encoder_dir),
        "encoder": {
            "model_type": config.model_type,
            "num_hidden_layers": getattr(config, "num_hidden_layers", None),
            "hidden_size": getattr(config, "hidden_size", None),
        },
        "head": f"random linear, {config.num_labels} labels (speed only)",
        "precision": "fp32",
    }


def hf_pipeline_system(
    model: Any, tokenizer: Any, data: BenchData, encoder_dir: PathLike, *, batch_size: int = 32
) -> System:
    """``pipeline("token-classification", aggregation_strategy="first")`` on one string per sentence."""
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        pipe = pipeline(
            "token-classification", model=model, tokenizer=tokenizer,
            aggregation_strategy="first", device=-1,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    texts = [" ".join(words) for words in data.sentences]

    def run() -> List[Any]:
        return list(pipe(texts, batch_size=batch_size, num_workers=0))

    def warm_up() -> Any:
        return pipe(texts[:batch_size], batch_size=batch_size, num_workers=0)

    info = {
        "kind": "hf_pipeline",
        **_model_info(model, encoder_dir),
        "batch_size": batch_size,
        "batch_unit": "sentences",
        "input": "one string per sentence (its words joined by spaces)",
        "aggregation_strategy": "first",
        "num_workers": 0,
    }
    return System("hf_pipeline", run, warm_up, info, tokenizer=tokenizer)


SORT_KEYS = ("wordpieces", "words")


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
            inputs = {key: torch.from_numpy(array) for key, array in arrays.items()}
            predicted = model(**inputs).logits.argmax(dim=-1).numpy()
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

    def run() -> List[numpy.ndarray]:
        return bare_forward_predict(model, tokenizer, sentences, batch_size=batch_size, sort_by=sort_by)

    def warm_up() -> Any:
        return bare_forward_predict(model, tokenizer, sentences[:batch_size], batch_size=batch_size, sort_by=sort_by)

    info = {
        "kind": "bare_forward",
        **_model_info(model, encoder_dir),
        "batch_size": batch_size,
        "batch_unit": f"sentences, sorted by {sort_by} count",
        "sort_by": sort_by,
        "input": "pre-split words, fast tokenizer with is_split_into_words=True",
        "mode": "torch.inference_mode",
    }
    return System("bare_forward", run, warm_up, info, tokenizer=tokenizer)


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchmarkSpec:
    """What to measure. A system runs when its inputs are given:
    ``token_classifier`` (and with ``int8`` its quantized twin) needs ``tc_dir``,
    ``ner`` needs ``ner_dir``, ``hf_pipeline`` and ``bare_forward`` need ``encoder_dir``.
    ``rss``: how peak RSS is measured (see ``RSS_DEFINITIONS``).
    """

    data_path: str
    tc_dir: Optional[str] = None
    ner_dir: Optional[str] = None
    encoder_dir: Optional[str] = None
    max_words: int = 0
    repeats: int = 3
    int8: bool = True
    chunk_size: int = DEFAULT_CHUNK_SIZE
    spacy_batch_size: Optional[int] = None
    hf_batch_size: int = 32
    bare_batch_size: int = 64
    bare_sort_by: str = "wordpieces"
    threads: Optional[int] = None
    labels: Tuple[str, ...] = tuple(make_iob2_labels(CONLL_TYPES))
    rss: str = "subprocess"

    def __post_init__(self) -> None:
        checks = [
            ("repeats", self.repeats >= 1, ">= 1"),
            ("max_words", self.max_words >= 0, ">= 0 (0: all)"),
            ("hf_batch_size", self.hf_batch_size >= 1, ">= 1"),
            ("bare_batch_size", self.bare_batch_size >= 1, ">= 1"),
            ("chunk_size", self.chunk_size >= 0, ">= 0 (0: spacy-transformers' padding)"),
            ("spacy_batch_size", self.spacy_batch_size is None or self.spacy_batch_size >= 1, ">= 1 or None"),
            ("threads", self.threads is None or self.threads >= 1, ">= 1 or None"),
            ("rss", self.rss in RSS_MODES, f"one of {', '.join(RSS_MODES)}"),
            ("bare_sort_by", self.bare_sort_by in SORT_KEYS, f"one of {', '.join(SORT_KEYS)}"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"BenchmarkSpec.{name}: expected {expected}, got {getattr(self, name)!r}")
        if not self.system_names():
            raise ValueError("nothing to measure: give tc_dir, ner_dir and/or encoder_dir")

    def system_names(self) -> List[str]:
        present = {
            "token_classifier": self.tc_dir is not None,
            "token_classifier_int8": self.tc_dir is not None and self.int8,
            # the same pipeline with spacy-transformers' padding, when sorting is on
            "token_classifier_padded": self.tc_dir is not None and self.chunk_size > 0,
            "ner": self.ner_dir is not None,
            "hf_pipeline": self.encoder_dir is not None,
            "bare_forward": self.encoder_dir is not None,
        }
        return [name for name in SYSTEM_ORDER if present[name]]


def load_data(spec: BenchmarkSpec) -> BenchData:
    """The documents (first ``max_words`` words) and their sentences; wordpieces not counted yet."""
    docs = load_docs(spec.data_path, spec.max_words)
    return BenchData(path=str(spec.data_path), docs=docs, sentences=doc_sentences(docs), max_words=spec.max_words)


def counting_tokenizer(systems: Sequence[System]) -> Any:
    """The tokenizer wordpieces are counted with: the HF systems' (the encoder folder's),
    else the first spaCy pipeline's transformer tokenizer."""
    ranked = sorted(systems, key=lambda system: system.info.get("kind") == "spacy")
    for system in ranked:
        if system.tokenizer is not None:
            return system.tokenizer
    return None


def build_system(name: str, spec: BenchmarkSpec, data: BenchData, cache: Dict[str, Any]) -> System:
    """One system of the spec; ``cache`` shares the HF model between hf_pipeline and bare_forward."""
    if name in ("token_classifier", "token_classifier_int8", "token_classifier_padded"):
        chunk_size = 0 if name.endswith("padded") else spec.chunk_size
        return spacy_system(name, spec.tc_dir, data, batch_size=spec.spacy_batch_size,  # type: ignore[arg-type]
                            int8=name.endswith("int8"), chunk_size=chunk_size)
    if name == "ner":
        return spacy_system(name, spec.ner_dir, data, batch_size=spec.spacy_batch_size,  # type: ignore[arg-type]
                            chunk_size=spec.chunk_size)
    if name in ("hf_pipeline", "bare_forward"):
        if "hf_model" not in cache:
            cache["hf_model"] = load_token_classification_model(spec.encoder_dir, spec.labels)  # type: ignore[arg-type]
        model, tokenizer = cache["hf_model"]
        if name == "hf_pipeline":
            return hf_pipeline_system(model, tokenizer, data, spec.encoder_dir, batch_size=spec.hf_batch_size)  # type: ignore[arg-type]
        return bare_forward_system(model, tokenizer, data, spec.encoder_dir, batch_size=spec.bare_batch_size,  # type: ignore[arg-type]
                                   sort_by=spec.bare_sort_by)
    raise ValueError(f"unknown system {name!r}; expected one of {', '.join(SYSTEM_ORDER)}")


def _set_threads(threads: Optional[int]) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def run_benchmark(
    spec: BenchmarkSpec,
    *,
    train_times: Optional[Mapping[str, PathLike]] = None,
    hf_recipe: Optional[PathLike] = None,
    clock: Callable[[], float] = time.perf_counter,
    command: Optional[str] = None,
) -> Dict[str, Any]:
    """Measure every system of ``spec`` on the same documents, interleaved; return the report.

    train_times: ``{system: train_time.json}`` (written by ``training.train_timed``).
    hf_recipe: the JSON ``hf_recipe.run_recipe`` wrote; both feed the ``training`` section.
    """
    import torch

    # Read the training records first: a wrong path fails before minutes of measuring.
    training = training_section(train_times or {}, hf_recipe) if (train_times or hf_recipe) else None
    _set_threads(spec.threads)
    data = load_data(spec)
    if data.n_words == 0:
        raise ValueError(f"{spec.data_path}: no words to measure on")
    cache: Dict[str, Any] = {}
    systems: List[System] = []
    rss_in_process: Dict[str, float] = {}
    schedule: List[str] = []
    for name in spec.system_names():
        system = build_system(name, spec, data, cache)
        systems.append(system)
        if spec.rss == "process":  # warm up right away, to read the peak after this system
            schedule.append(f"warm-up:{name}")
            system.warm_up()
            rss_in_process[name] = peak_rss_mb()
    tokenizer = counting_tokenizer(systems)
    data.n_wordpieces = count_wordpieces(tokenizer, data.sentences) if tokenizer is not None else 0
    timings = measure_interleaved(systems, spec.repeats, clock=clock, warm_up=spec.rss != "process")
    schedule += timings.schedule
    threads = torch.get_num_threads()

    results: Dict[str, Dict[str, Any]] = {}
    for system in systems:
        entry = summarize_seconds(timings.seconds[system.name], data.n_words, data.n_wordpieces)
        entry.update(system.info)
        entry["threads"] = threads
        entry["quality"] = system.score(timings.outputs[system.name]) if system.score else None
        results[system.name] = entry
    del timings, systems, cache
    gc.collect()
    for name, entry in results.items():
        entry["rss"] = _rss_entry(name, spec, rss_in_process)
        entry["peak_rss_mb"] = entry["rss"].get("peak_rss_mb") if entry["rss"] else None

    return {
        "schema": SCHEMA,
        "systems": results,
        "ratios": speed_ratios(results),
        "schedule": schedule,
        "data": data.summary(),
        "model": {
            "token_classifier": spec.tc_dir,
            "ner": spec.ner_dir,
            "encoder": spec.encoder_dir,
            "hf_head": "random (torch.manual_seed(0)), labels " + ", ".join(spec.labels),
        },
        "hardware": hardware_info(),
        "versions": _versions(),
        "settings": {**asdict(spec), "labels": list(spec.labels)},
        "definitions": {**DEFINITIONS, "peak_rss_mb": RSS_DEFINITIONS[spec.rss]},
        "training": training,
        "warnings": _warnings(results),
        "command": command if command is not None else shlex.join([sys.executable] + sys.argv),
    }


def _rss_entry(name: str, spec: BenchmarkSpec, in_process: Mapping[str, float]) -> Optional[Dict[str, Any]]:
    if spec.rss == "none":
        return None
    if spec.rss == "process":
        return {"mode": "process", "peak_rss_mb": in_process.get(name)}
    return measure_rss_subprocess(name, spec)


def _warnings(results: Mapping[str, Mapping[str, Any]]) -> List[str]:
    found = []
    layers = {
        name: ((entry.get("encoder") or {}).get("model_type"),
               (entry.get("encoder") or {}).get("num_hidden_layers"),
               (entry.get("encoder") or {}).get("hidden_size"))
        for name, entry in results.items()
    }
    if len(set(layers.values())) > 1:
        found.append(f"the systems do not run the same encoder architecture: {layers}")
    return found


def _versions() -> Dict[str, Optional[str]]:
    return package_versions(("torch", "transformers", "spacy", "spacy-transformers", "thinc", "spacy_bert_ner"))


# ---------------------------------------------------------------------------
# Peak RSS of one system in a fresh process
# ---------------------------------------------------------------------------
def _vm_hwm_mb() -> float:
    """This address space's peak RSS (VmHWM) in MB; ru_maxrss where /proc is missing.

    ru_maxrss survives execve on Linux, so a process started from a big parent
    (subprocess uses vfork) can report the parent's peak; VmHWM cannot.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return peak_rss_mb()


def measure_rss_subprocess(name: str, spec: BenchmarkSpec, timeout: float = 3600.0) -> Dict[str, Any]:
    """Peak RSS of a fresh process that builds only ``name``, warms it up and makes one pass."""
    payload = json.dumps({"name": name, "spec": {**asdict(spec), "labels": list(spec.labels)}})
    code = "from spacy_bert_ner.speed import _rss_child; _rss_child()"
    completed = subprocess.run(
        [sys.executable, "-c", code, payload], capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"peak-RSS subprocess for {name} failed (exit {completed.returncode}): "
            f"{completed.stderr[-2000:]}"
        )
    return {"mode": "subprocess", **json.loads(lines[-1])}


def _rss_child() -> None:
    """Entry point of :func:`measure_rss_subprocess`'s process (JSON spec in argv[1])."""
    import spacy  # noqa: F401  - every child imports the same libraries before the baseline
    import spacy_transformers  # noqa: F401
    import torch  # noqa: F401
    import transformers.pipelines  # noqa: F401

    request = json.loads(sys.argv[1])
    settings = dict(request["spec"])
    settings["labels"] = tuple(settings["labels"])
    spec = BenchmarkSpec(**settings)
    _set_threads(spec.threads)
    data = load_data(spec)
    baseline = _vm_hwm_mb()
    system = build_system(request["name"], spec, data, {})
    system.warm_up()
    system.run()
    peak = _vm_hwm_mb()
    print(json.dumps({"peak_rss_mb": peak, "baseline_rss_mb": baseline, "system_rss_mb": peak - baseline}))


# ---------------------------------------------------------------------------
# Training throughput
# ---------------------------------------------------------------------------
def parse_named_path(value: str) -> Tuple[str, Path]:
    """``"token_classifier=training/x/train_time.json"`` -> ``(name, Path)``."""
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"expected NAME=PATH (e.g. token_classifier=training/run/token_classifier/train_time.json), got {value!r}")
    return name.strip(), Path(path.strip())


def training_section(
    train_times: Mapping[str, PathLike], hf_recipe: Optional[PathLike] = None
) -> Dict[str, Any]:
    """Seconds per epoch of each system, and each one over the HF recipe's.

    train_times: ``{name: train_time.json}`` from ``training.train_timed`` (keys
        ``seconds``, ``epochs``, ``seconds_per_epoch``, ``hardware``).
    hf_recipe: the JSON of ``hf_recipe.run_recipe`` (``train_seconds``,
        ``config.epochs``, ``hardware``); it becomes the system ``hf_recipe``.
    Ratios ``NAME/hf_recipe`` are seconds per epoch over seconds per epoch
    (> 1: slower than the recipe). What each clock covers differs and is
    recorded under ``what``.
    """
    from ..evaluation.metrics import read_train_time

    systems: Dict[str, Dict[str, Any]] = {}
    for name, path in train_times.items():
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: expected a train_time.json for {name}")
        record = read_train_time(path)
        seconds, epochs = record["seconds"], record.get("epochs")
        per_epoch = record.get("seconds_per_epoch") or (seconds / epochs if epochs else None)
        systems[name] = {
            "seconds": seconds,
            "epochs": epochs,
            "seconds_per_epoch": per_epoch,
            "what": record.get("what", "spacy train wall time"),
            "hardware": record.get("hardware"),
            "source": str(path),
        }
    if hf_recipe is not None:
        path = Path(hf_recipe)
        if not path.exists():
            raise FileNotFoundError(f"{path}: expected the HF recipe's JSON (hf_recipe.run_recipe)")
        recipe = json.loads(path.read_text(encoding="utf8"))
        try:
            seconds = float(recipe["train_seconds"])
            epochs = float(recipe["config"]["epochs"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: expected 'train_seconds' and 'config.epochs' ({err})") from err
        systems["hf_recipe"] = {
            "seconds": seconds,
            "epochs": epochs,
            "seconds_per_epoch": seconds / epochs if epochs else None,
            "what": "Trainer.train() wall time (model loading and tokenization not included)",
            "hardware": recipe.get("hardware"),
            "source": str(path),
        }
    ratios: Dict[str, float] = {}
    recipe_rate = systems.get("hf_recipe", {}).get("seconds_per_epoch")
    if recipe_rate:
        for name, entry in systems.items():
            if name != "hf_recipe" and entry["seconds_per_epoch"]:
                ratios[f"{name}/hf_recipe"] = entry["seconds_per_epoch"] / recipe_rate
    return {
        "systems": systems,
        "ratios": ratios,
        "definition": (
            "seconds per epoch (one pass over the training set) from each run's own record; "
            "ratios NAME/hf_recipe = seconds per epoch of NAME / of the HF recipe (> 1: slower)"
        ),
        "warnings": _hardware_warnings(systems),
    }


def _hardware_key(hardware: Any) -> Optional[Tuple[Any, Any]]:
    if not isinstance(hardware, dict):
        return None
    cpu = hardware.get("cpu") or hardware.get("cpu_model")
    cores = hardware.get("cores") or hardware.get("cpu_cores")
    gpu = hardware.get("gpu")
    return (cpu, cores, gpu)


def _hardware_warnings(systems: Mapping[str, Mapping[str, Any]]) -> List[str]:
    keys = {name: _hardware_key(entry.get("hardware")) for name, entry in systems.items()}
    known = {key for key in keys.values() if key is not None}
    if len(known) > 1:
        return [f"training times were measured on different hardware: {keys}"]
    return []


# ---------------------------------------------------------------------------
# Output: JSON, Markdown, PNG
# ---------------------------------------------------------------------------
def _fmt(value: Any, pattern: str = "{:,.0f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _unit(batch_unit: Optional[str]) -> str:
    return (batch_unit or "").split(" ")[0].strip(",;")


def markdown_table(result: Mapping[str, Any]) -> str:
    """The report as Markdown: speeds, ratios, training, what the numbers mean."""
    data = result["data"]
    hardware = result["hardware"]
    lines = [
        "# Inference speed",
        "",
        f"Data: `{data['path']}`, {data['n_docs']:,} docs, {data['n_sentences']:,} sentences, "
        f"{data['n_words']:,} words, {data['n_wordpieces']:,} wordpieces. "
        f"Hardware: {hardware.get('cpu')}, {hardware.get('cores')} cores, torch "
        f"{hardware.get('torch')} with {hardware.get('torch_threads')} threads.",
        "",
        "| System | words/s | wordpieces/s | median s/pass | passes (s) | entity F1 | peak RSS MB | threads | batch |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for name, entry in result["systems"].items():
        quality = entry.get("quality")
        f1 = _fmt(quality["f1"] * 100, "{:.2f}") if quality else "n/a (random head)"
        passes = ", ".join(f"{s:.2f}" for s in entry["seconds_all"])
        lines.append(
            f"| {name} | {_fmt(entry['words_per_second'])} | {_fmt(entry['wordpieces_per_second'])} | "
            f"{entry['seconds_median']:.3f} | {passes} | {f1} | {_fmt(entry.get('peak_rss_mb'))} | "
            f"{entry.get('threads')} | {entry.get('batch_size')} {_unit(entry.get('batch_unit'))} |"
        )
    if result.get("ratios"):
        lines += ["", "| Ratio (words/s) | value |", "|---|---:|"]
        lines += [f"| {key} | {value:.2f}x |" for key, value in result["ratios"].items()]
    training = result.get("training")
    if training:
        lines += ["", "## Training", "", "| System | seconds | epochs | s/epoch | clock |", "|---|---:|---:|---:|---|"]
        for name, entry in training["systems"].items():
            lines.append(
                f"| {name} | {_fmt(entry['seconds'])} | {_fmt(entry['epochs'], '{:.2f}')} | "
                f"{_fmt(entry['seconds_per_epoch'])} | {entry['what']} |"
            )
        lines += [f"- {key}: {value:.2f}x seconds per epoch" for key, value in training["ratios"].items()]
        lines += [f"- warning: {w}" for w in training.get("warnings", [])]
    lines += ["", "## Definitions", ""]
    lines += [f"- **{key}**: {text}" for key, text in result["definitions"].items()]
    lines += [f"- warning: {w}" for w in result.get("warnings", [])]
    return "\n".join(lines) + "\n"


def plot_speed(result: Mapping[str, Any]) -> bytes:
    """A horizontal bar chart of words/s per system, as PNG bytes (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["systems"])
    speeds = [result["systems"][n]["words_per_second"] or 0.0 for n in names]
    figure, axis = plt.subplots(figsize=(8, 1.0 + 0.6 * len(names)), dpi=120)
    try:
        bars = axis.barh(names[::-1], speeds[::-1], color="#4c72b0")
        for bar, speed in zip(bars, speeds[::-1]):
            axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {speed:,.0f}",
                      va="center", fontsize=9)
        data = result["data"]
        axis.set_xlabel("words per second (median of interleaved passes)")
        axis.set_title(f"Inference speed on {data['n_words']:,} words "
                       f"({result['hardware'].get('torch_threads')} torch threads)", fontsize=10)
        axis.set_xlim(0, max(speeds + [1.0]) * 1.2)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def write_outputs(result: Mapping[str, Any], output_dir: PathLike) -> Dict[str, Path]:
    """``speed.json``, ``speed.md`` and ``speed.png`` in ``output_dir``, each written atomically."""
    output_dir = Path(output_dir)
    text = json.dumps(result, indent=2) + "\n"  # fails before anything is written
    return {
        "json": write_bytes_atomic(output_dir / OUTPUT_NAMES["json"], text.encode("utf8")),
        "markdown": write_bytes_atomic(output_dir / OUTPUT_NAMES["markdown"], markdown_table(result).encode("utf8")),
        "png": write_bytes_atomic(output_dir / OUTPUT_NAMES["png"], plot_speed(result)),
    }
