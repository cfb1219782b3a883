"""Typed records of what the evaluation tools write as JSON.

One TypedDict per file shape: the metrics of one evaluation
(``{split}_metrics.json``, its ``calibration`` typed in ``calibration.py``), the training time read beside a pipeline
(``train_time.json``), the comparison (``comparison.json``) and the summary
(``summary.json``), plus the pieces they share. They are plain dicts at run
time, so files written before these types existed read the same; the keys and
the schema names are frozen.
"""
from typing import Any, Dict, List, Optional, TypedDict

from .calibration import Calibration

METRICS_SCHEMA = "spacy_bert_ner.metrics.v1"
COMPARISON_SCHEMA = "spacy_bert_ner.comparison.v1"
SUMMARY_SCHEMA = "spacy_bert_ner.summary.v1"


class BootstrapCI(TypedDict):
    """:func:`~spacy_bert_ner.evaluation.stats.bootstrap_ci`: observed F1 and its interval."""

    f1: float
    low: float
    high: float
    n_resamples: int
    confidence: float


class PairedTest(TypedDict):
    """:func:`~spacy_bert_ner.evaluation.stats.paired_bootstrap`: F1(a) - F1(b) and its interval."""

    delta: float
    low: float
    high: float
    p_value: float
    n_resamples: int
    confidence: float


class TrainingSeconds(TypedDict, total=False):
    """The ``training`` entry of a metrics record: read from ``train_time.json`` (bench.train_time writes it)."""

    seconds: Optional[float]
    source: Optional[str]
    seconds_per_epoch: Optional[float]


class EntityScores(TypedDict):
    """Entity P/R/F1 with their counts, as ``spacy evaluate`` counts, and how they were counted."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    definition: str


class Headline(EntityScores):
    """The headline scores of one evaluation with their bootstrap CI over documents."""

    ci: Optional[BootstrapCI]


class MetricsRecord(TypedDict, total=False):
    """``{split}_metrics.json``: every number of one evaluation of one pipeline on one split.

    ``confusion`` and ``errors`` are in the record :func:`evaluate_pipeline`
    returns and go to their own files; ``files`` names those files.
    """

    schema: str
    name: str
    split: str
    headline: Headline
    per_type: Dict[str, Dict[str, float]]
    seqeval: Dict[str, Dict[str, Any]]
    token_accuracy: float
    spacy: Dict[str, Any]
    doc_counts: List[List[int]]
    iob2_projection: Dict[str, Any]
    errors_summary: Dict[str, int]
    speed: Dict[str, Any]
    resources: Dict[str, float]
    training: TrainingSeconds
    hardware: Dict[str, Any]
    pipeline: Dict[str, Any]
    data: Dict[str, Any]
    confusion: Dict[str, Any]
    errors: Dict[str, Any]
    displacy: Dict[str, str]
    calibration: Calibration  # only for a head that scores its entities (token_classifier)
    files: Dict[str, str]


class PairRecord(PairedTest, total=False):
    """One pair of systems on one split in ``comparison.json``."""

    a: str
    b: str
    verdict: str
    same_encoder: bool
    same_head: bool


class ComparisonRecord(TypedDict):
    """``comparison.json``: systems, per-split scores and paired tests, the encoder x head table."""

    schema: str
    headline_split: str
    headline_metric: str
    headline_definition: str
    mode_labels: Dict[str, str]
    n_resamples: int
    confidence: float
    seed: int
    systems: Dict[str, Dict[str, Any]]
    splits: Dict[str, Dict[str, Any]]
    hardware: Dict[str, Dict[str, Any]]
    encoder_head: Dict[str, Any]
    warnings: List[str]
    verdict: str


class HeadSummary(TypedDict, total=False):
    """One head in ``summary.json``: one run, or the mean over seeds with ``*_std`` and ``seeds``."""

    encoder: Optional[str]
    encoder_parameters: Optional[int]
    max_steps: Optional[int]
    train_overrides: Optional[Dict[str, str]]
    test_f1: Optional[float]
    test_precision: Optional[float]
    test_recall: Optional[float]
    test_f1_strict: Optional[float]
    test_f1_spacy_evaluate: Optional[float]
    test_f1_ci95: List[Optional[float]]
    dev_f1: Optional[float]
    dev_f1_spacy_evaluate: Optional[float]
    words_per_second: Optional[float]
    model_size_mb: Optional[float]
    train_seconds: Optional[float]
    seconds_per_epoch: Optional[float]
    pipeline: str
    sources: List[str]
    n_seeds: int
    test_f1_std: Optional[float]
    dev_f1_std: Optional[float]
    test_f1_spacy_evaluate_std: Optional[float]
    seeds: List["HeadSummary"]


class SummaryRecord(TypedDict, total=False):
    """``summary.json``; besides these keys, one :class:`HeadSummary` under each head's name."""

    schema: str
    metric: str
    encoder: Optional[str]
    hardware: str
    data: Dict[str, Any]
    hf_trainer_recipe: Optional[Dict[str, Any]]
    margins_over_hf_recipe: Dict[str, float]
    commands: Dict[str, str]
