"""Running a trained pipeline on a DocBin: one timed ``nlp.evaluate`` pass, scored every way.

:func:`evaluate_pipeline` reads the data as ``spacy evaluate`` does, captures
the predictions of spaCy's own pass (:class:`CapturingScorer`) and turns them
into the metrics record (``{split}_metrics.json``) with :func:`score_examples`:
the headline counted as spaCy counts, seqeval in both modes, per-document
counts with a bootstrap CI, confusion matrix and error examples, plus speed of
that pass, size, memory, hardware and training time.
"""
import json
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.scorer import Scorer
from spacy.training import Corpus, Example
from spacy.util import fix_random_seed

from ..bench.env import dir_size_mb, hardware_info, peak_rss_mb
from ..bench.timing import Progress, silent
from ..data.corpora import copy_gold_tags, pos_readers_without_tags
from ..data.docbin import DOCBIN_FILE
from ..util import TOKEN_CLASSIFIER_FACTORY, find_transformer, hf_model, scores_key
from .calibration import Calibration, calibration, scored_entities
from .displacy_pages import displacy_pages
from .errors import error_breakdown
from .metrics import (
    HEADLINE_DEFINITION,
    MODES,
    confusion_matrix,
    doc_fingerprint,
    example_counts,
    example_sequences,
    prf_from_counts,
    seqeval_report,
)
from .records import METRICS_SCHEMA, MetricsRecord, TrainingSeconds
from .stats import bootstrap_ci

PathLike = Union[str, Path]
SPACY_SCORE_KEYS = ("token_acc", "ents_p", "ents_r", "ents_f", "ents_per_type", "speed")
ENTITY_FACTORIES = ("ner", "beam_ner", "token_classifier")  # components whose labels are entity types


def score_examples(
    examples: Sequence[Example],
    *,
    n_examples: int = 5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Dict[str, Any]:
    """Every quality number of one evaluation, from Examples that hold predictions.

    examples: ``Example(predicted, reference)`` per document, the predicted
        doc already annotated by the pipeline (any tokenization).
    Returns a JSON-able dict: ``"headline"`` (P/R/F1 from :func:`example_counts`
    with its ``"definition"`` and bootstrap ``"ci"`` over documents),
    ``"per_type"`` ({type: P/R/F1 + support}), ``"seqeval"`` (``"default"`` and
    ``"strict"`` :func:`seqeval_report` s on the gold sentences),
    ``"token_accuracy"``, ``"doc_counts"`` ([[tp, fp, fn]] per document),
    ``"doc_fingerprints"``, ``"iob2_projection"`` (dropped / crossing spans),
    ``"confusion"`` (token level, rows gold), ``"errors"`` (:func:`error_breakdown`
    with ``"doc"``/``"sentence"``/``"text"`` on every example) and ``"data"`` sizes.
    """
    counts, per_type_counts = example_counts(examples)
    gold_seqs: List[List[str]] = []
    pred_seqs: List[List[str]] = []
    words: List[List[str]] = []
    where: List[Tuple[int, int]] = []
    dropped = crossing = 0
    for d, example in enumerate(examples):
        seqs = example_sequences(example)
        gold_seqs.extend(seqs["gold"])
        pred_seqs.extend(seqs["pred"])
        words.extend(seqs["words"])
        where.extend((d, s) for s in range(len(seqs["gold"])))
        dropped += seqs["overlapping_dropped"]
        crossing += seqs["crossing_sentences"]
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    headline: Dict[str, Any] = {**prf_from_counts(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn}
    headline["definition"] = HEADLINE_DEFINITION
    headline["ci"] = (
        bootstrap_ci(counts, n_resamples=n_resamples, confidence=confidence, seed=seed)
        if len(examples) else None
    )
    per_type = {
        label: {**prf_from_counts(*c), "support": c[0] + c[2], "tp": c[0], "fp": c[1], "fn": c[2]}
        for label, c in per_type_counts.items()
    }
    seqeval = {mode: seqeval_report(gold_seqs, pred_seqs, mode=mode) for mode in MODES}
    errors = error_breakdown(gold_seqs, pred_seqs, words=words, max_examples=n_examples)
    for found in errors["examples"].values():
        for example in found:
            example["doc"], example["sentence"] = where[example["sequence"]]
            start, end, _ = example["entity"]
            example["text"] = " ".join(words[example["sequence"]][start:end])
    return {
        "headline": headline,
        "per_type": per_type,
        "seqeval": seqeval,
        "token_accuracy": seqeval["default"]["token_accuracy"],
        "doc_counts": counts.tolist(),
        "doc_fingerprints": [doc_fingerprint(example.y) for example in examples],
        "iob2_projection": {
            "overlapping_dropped": dropped,
            "crossing_sentences": crossing,
            "note": (
                "predicted entities mapped onto the gold tokens that overlap an earlier one "
                "cannot be written as IOB2 (dropped from seqeval only); entities crossing a "
                "gold sentence boundary are cut there. With both 0, seqeval's default-mode "
                "F1 equals the headline F1."
            ),
        },
        "confusion": confusion_matrix(gold_seqs, pred_seqs),
        "errors": errors,
        "data": {
            "n_docs": len(examples),
            "n_sentences": len(gold_seqs),
            "n_words": sum(len(example.y) for example in examples),
            "n_predicted_tokens": sum(len(example.x) for example in examples),
            "n_entities": tp + fn,
        },
    }


class CapturingScorer:
    """Delegates to spaCy's Scorer and keeps the predicted Examples and the time they were done.

    ``Language.evaluate`` copies the examples, runs ``nlp.pipe`` and then calls
    ``scorer.score``: capturing there gives the exact predictions (and timing)
    behind spaCy's scores without a second pass over the data.
    """

    def __init__(self, nlp: Any) -> None:
        self.scorer = Scorer(nlp=nlp)
        self.examples: List[Example] = []
        self.done_at: Optional[float] = None

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        self.done_at = time.perf_counter()
        self.examples = list(examples)
        return self.scorer.score(self.examples, **kwargs)


def read_train_time(path: PathLike) -> TrainingSeconds:
    """``{"seconds", "source"}`` from a JSON file holding ``{"seconds": float, ...}``.

    A missing file gives ``{"seconds": None, "source": None}``. GNU time's
    ``-f '{"seconds": %e, ...}' -o FILE`` writes such a file (a failed command
    adds a line before it, which is skipped). Anything else raises ValueError.
    """
    path = Path(path)
    if not path.exists():
        return {"seconds": None, "source": None}
    text = path.read_text(encoding="utf8")
    try:
        data = json.loads(text)
    except ValueError:  # GNU time: an error line, then one line of JSON
        json_lines = [line for line in text.splitlines() if line.lstrip().startswith("{")]
        data = None
    try:
        if data is None:
            data = json.loads(json_lines[-1]) if json_lines else None
        seconds = float(data["seconds"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: expected JSON with a number under 'seconds', e.g. "
            f'{{"seconds": 1234.5}}, got {path.read_text(encoding="utf8")[:200]!r} ({err})'
        ) from err
    return {"seconds": seconds, "source": str(path), **{k: v for k, v in data.items() if k != "seconds"}}


def pipeline_summary(nlp: Any, pipeline_dir: PathLike, encoder_label: Optional[str] = None) -> Dict[str, Any]:
    """Name, components (name -> factory), head, and the encoder behind the transformer."""
    factories = {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    heads = [name for name, factory in factories.items() if factory not in ("transformer", "tok2vec")]
    encoder: Dict[str, Any] = {"label": encoder_label, "config_name": None}
    found = find_transformer(nlp)
    if found is not None:
        encoder["config_name"] = nlp.config["components"][found[0]]["model"].get("name")
        model = hf_model(nlp, found[0])
        config = getattr(model, "config", None)
        if config is not None:
            encoder.update(
                model_type=getattr(config, "model_type", None),
                num_hidden_layers=getattr(config, "num_hidden_layers", None),
                hidden_size=getattr(config, "hidden_size", None),
                n_parameters=int(sum(p.numel() for p in model.parameters())),
            )
    if not encoder["label"]:
        encoder["label"] = encoder["config_name"]
    return {
        "path": str(pipeline_dir),
        "name": f"{nlp.meta.get('lang', '')}_{nlp.meta.get('name', '')}",
        "version": nlp.meta.get("version"),
        "spacy_version": nlp.meta.get("spacy_version"),
        "components": factories,
        "head": heads[-1] if heads else None,
        "encoder": encoder,
    }


def require_inputs(pipeline_dir: PathLike, data_path: PathLike) -> Tuple[Path, Path]:
    """Both paths as Path, or FileNotFoundError naming the one that is missing."""
    pipeline_dir, data_path = Path(pipeline_dir), Path(data_path)
    for path, what in ((pipeline_dir, "pipeline folder"), (data_path, "DocBin (.spacy) file")):
        if not path.exists():
            raise FileNotFoundError(f"{path}: expected a {what}, found nothing")
    check_docbin_path(data_path)
    return pipeline_dir, data_path


def check_docbin_path(data_path: Path) -> None:
    """ValueError unless ``data_path`` is a folder or a file with a DocBin's suffix and first bytes."""
    if data_path.is_file() and not DOCBIN_FILE.recognises(data_path):
        raise ValueError(
            f"{data_path}: not a DocBin (.spacy) file; expected spaCy's binary format "
            "(python -m spacy_bert_ner convert makes one from CoNLL or GMB)"
        )


def read_gold(nlp: Any, data_path: Path) -> List[Example]:
    """The gold Examples of a DocBin file (or a folder of them), as ``spacy evaluate`` reads them.

    Raises ValueError, naming the path, for a file that is not a DocBin and
    for data without a single document (which would score F1 0.00).
    """
    check_docbin_path(data_path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\[W090\]")  # "no .spacy files": said below
            examples = list(Corpus(data_path, gold_preproc=False)(nlp))
    except (zlib.error, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{data_path}: cannot read it as a DocBin ({type(err).__name__}: {err})") from err
    if not examples:
        raise ValueError(f"{data_path}: no documents (or no .spacy files); expected a DocBin with gold Docs")
    return examples


def check_gold_labels(nlp: Any, examples: Sequence[Example], warn: Callable[[str], None]) -> None:
    """ValueError when no gold entity type is a label of the pipeline; ``warn`` when only some are."""
    labels = {label for name, pipe in nlp.pipeline if nlp.get_pipe_meta(name).factory in ENTITY_FACTORIES
              for label in getattr(pipe, "labels", ())}
    gold = {ent.label_ for example in examples for ent in example.reference.ents}
    if not labels or not gold:
        return
    unknown = sorted(gold - labels)
    if len(unknown) == len(gold):
        raise ValueError(
            f"gold entity types {', '.join(unknown)} share none with the pipeline's labels "
            f"{', '.join(sorted(labels))}; expected data labelled with the pipeline's types"
        )
    if unknown:
        warn(
            f"gold entity types {', '.join(unknown)} are not labels of the pipeline "
            f"({', '.join(sorted(labels))}): it can never find them, and they count as misses"
        )


def _warn(text: str) -> None:
    warnings.warn(text, UserWarning, stacklevel=3)


def evaluate_pipeline(
    pipeline_dir: PathLike,
    data_path: PathLike,
    *,
    name: str,
    split: str = "test",
    gpu_id: int = -1,
    n_examples: int = 5,
    n_resamples: int = 1000,
    train_time_path: Optional[PathLike] = None,
    encoder_label: Optional[str] = None,
    warn: Callable[[str], None] = _warn,
    overrides: Optional[Dict[str, Any]] = None,
    progress: Progress = silent,
    gold_tags: bool = False,
) -> MetricsRecord:
    """Load a pipeline, score it on a DocBin like ``spacy evaluate``, measure it.

    The data is read as ``spacy evaluate`` reads it (``Corpus(gold_preproc=False)``,
    the pipeline sees ``nlp.make_doc(text)``) and scored with ``nlp.evaluate`` in
    ONE pass, timed with ``time.perf_counter`` (tokenization + ``nlp.pipe`` at
    ``nlp.batch_size``; words/s counts the gold words). The predictions of that
    pass feed :func:`score_examples`. Peak RSS is this process's so far (model
    load + inference). ``train_time_path`` defaults to ``train_time.json`` next
    to the pipeline folder (``training/RUN/HEAD/``); missing means unknown.
    Data that is not a DocBin, has no documents or no entity type of the
    pipeline raises ValueError (:func:`read_gold`, :func:`check_gold_labels`);
    gold types the pipeline lacks beside ones it has go to ``warn``.
    ``overrides``: config overrides at load time (``spacy.load(config=)``), e.g.
    ``{"components.token_classifier.confidence": "mean"}``. ``progress`` gets a
    line before and after each phase, never inside the timed pass.
    ``gold_tags``: copy the gold ``token.tag_`` into every predicted doc before
    the pass (:func:`spacy_bert_ner.data.corpora.copy_gold_tags`), for a head
    trained on gold POS; recorded as ``data.gold_tags``. Raw text has no gold tags.
    Returns the metrics record written to ``{split}_metrics.json`` (with
    ``"confusion"``, ``"errors"`` and the ``"displacy"`` pages in it, which
    ``report.write_evaluation`` writes to their own files).
    """
    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    fix_random_seed(0)  # as `spacy evaluate` does
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    progress(f"evaluate: {name}: loading {pipeline_dir}")
    nlp = spacy.load(pipeline_dir, config=overrides or {})
    examples = read_gold(nlp, data_path)
    check_gold_labels(nlp, examples, warn)
    untagged = [] if gold_tags else pos_readers_without_tags(nlp)
    if gold_tags:
        examples = [copy_gold_tags(example) for example in examples]
    if untagged:
        warn(f"{', '.join(untagged)} embeds token.tag_ (pos_width > 0) but nothing before it tags the text: "
             "it sees no POS; a head trained on gold POS needs --gold-tags")
    scorer = CapturingScorer(nlp)
    progress(f"evaluate: {name}: pass 1/1 over {len(examples)} docs of {data_path}")
    started = time.perf_counter()
    spacy_scores = nlp.evaluate(examples, scorer=scorer)  # type: ignore[arg-type]
    seconds = (scorer.done_at or time.perf_counter()) - started
    progress(f"evaluate: {name}: pass 1/1 done in {seconds:.2f} s; scoring (seqeval, bootstrap, errors)")
    quality = score_examples(scorer.examples, n_examples=n_examples, n_resamples=n_resamples)
    n_words = quality["data"]["n_words"]
    train_time = read_train_time(
        train_time_path if train_time_path is not None else pipeline_dir.parent / "train_time.json"
    )
    return {
        "schema": METRICS_SCHEMA,
        "name": name,
        "split": split,
        **{key: quality[key] for key in ("headline", "per_type", "seqeval", "token_accuracy")},
        "spacy": {key: spacy_scores.get(key) for key in SPACY_SCORE_KEYS},
        "doc_counts": quality["doc_counts"],
        "iob2_projection": quality["iob2_projection"],
        "errors_summary": quality["errors"]["counts"],
        "speed": {
            "words_per_second": n_words / seconds if seconds > 0 else None,
            "seconds": seconds,
            "n_words": n_words,
            "batch_size": nlp.batch_size,
            "device": "gpu" if gpu_id >= 0 else "cpu",
            "spacy_speed": spacy_scores.get("speed"),
            "definition": (
                "gold words / wall time (time.perf_counter) of nlp.evaluate's pass: spaCy "
                "tokenization + nlp.pipe at batch_size docs, one run, first batch included"
            ),
        },
        "resources": {
            "peak_rss_mb": peak_rss_mb(),
            "model_size_mb": dir_size_mb(pipeline_dir),
        },
        "training": train_time,
        "hardware": hardware_info(gpu_id),
        "pipeline": pipeline_summary(nlp, pipeline_dir, encoder_label),
        "load_overrides": dict(overrides or {}),
        "data": {
            "path": str(data_path), **quality["data"], "doc_fingerprints": quality["doc_fingerprints"],
            "gold_tags": gold_tags,
        },
        "confusion": quality["confusion"],
        "errors": quality["errors"],
        "displacy": displacy_pages((eg.predicted for eg in scorer.examples), spans_key=scores_key(nlp)),
        **calibration_entry(nlp, scorer.examples),
    }


def calibration_entry(nlp: Any, examples: Sequence[Example]) -> Dict[str, Calibration]:
    """``{"calibration": ...}`` of the head's entity confidences, or {} for a head without them.

    The confidences are the ones of this pass, aggregated as the head is set
    (``confidence = "min"`` or ``"mean"``); the other aggregation needs a run with
    that setting overridden at load time (``evaluate_pipeline(..., overrides=)``).
    """
    key = scores_key(nlp)
    if key is None:
        return {}
    aggregation = next(
        (getattr(nlp.get_pipe(name), "confidence", None) for name in nlp.pipe_names
         if nlp.get_pipe_meta(name).factory == TOKEN_CLASSIFIER_FACTORY), None,
    )
    return {"calibration": calibration(*scored_entities(examples, key), aggregation=aggregation)}
