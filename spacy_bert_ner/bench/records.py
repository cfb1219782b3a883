"""The speed report's records: the typed shape of ``speed.json`` and what its numbers mean.

Every part of the benchmark fills one of these records; the JSON keys (and the
schema name ``spacy_bert_ner.speed.v1``) are those of the files written before,
so old reports still read. TypedDicts, not dataclasses: a system's description
has different keys per kind (spaCy pipeline, HF pipeline, bare forward) and
absent keys must stay absent in the JSON.
"""
from typing import Any, Dict, List, Optional, TypedDict

from ..evaluation.records import EntityScores
from .env import HardwareInfo

SCHEMA = "spacy_bert_ner.speed.v1"
RSS_MODES = ("subprocess", "process", "none")

# The matmul peak (compute.measure_matmul_peak): the best of PEAK_WINDOWS timed windows of
# PEAK_SECONDS per shape and kind; one window can land on a slow moment (clock ramp, a
# neighbour's burst), and one such window once put the "peak" below what the encoder reached.
PEAK_SECONDS = 0.25
PEAK_WINDOWS = 5
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
    "precision": (
        "how the encoder ran when predicting (spacy-bert-ner.TransformerModel.v2, see "
        "spacy_bert_ner/precision.py): fp32, bf16 (torch.autocast), int8 (torch dynamic "
        "quantization of Linear layers), onnx / onnx-int8 (ONNX Runtime); fp32_modules: Linear "
        "layers the int8 modes left in fp32; quantization: what was built (after the passes)"
    ),
    "compute": (
        "the encoder's work in the last timed pass: every encoder call's rows x columns including "
        "padding (positions_computed; positions_real: attention-mask ones), FLOPs = sum over calls "
        "of positions x flops_per_position(columns), flops_per_position = 2 x layers x (4 h^2 + "
        "2 h i + 2 L h) (projections, feed-forward, attention at sequence length L; embeddings, "
        "softmax, norms left out); achieved_flops_per_second = those FLOPs / median pass seconds "
        "(the whole pass: tokenization and heads included)"
    ),
    "precisions": (
        "per precision twin (token_classifier_int8, ...): its words/s over its fp32 system's "
        "(speed_vs_fp32) and over hf_pipeline's, and its entity F1 minus its fp32 system's, in points"
    ),
    "fraction_of_peak": (
        "compute.achieved_flops_per_second / peak.reference_gflops_per_second of the system's "
        "kind (peak_kind: fp32 for fp32 and onnx, bf16, int8 for int8 and onnx-int8), measured "
        "in the same run with the same threads"
    ),
    "peak": (
        "matmul throughput at the encoder's GEMM shapes (rows = the median positions per encoder "
        f"call of the first spaCy system, else 512), the best of {PEAK_WINDOWS} timed windows of "
        f"{PEAK_SECONDS} s per shape and kind: torch.matmul fp32 / bf16, int8 as torch._int_mm "
        "(int8 x int8 -> int32) and as torch's dynamic-quantized Linear (activation quantization "
        "included); encoder_mix = one layer's six GEMMs' FLOPs over their summed time; the int8 "
        "reference is the faster int8 kind"
    ),
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


class DataSummary(TypedDict):
    """The words every system read (``data``)."""

    path: str
    max_words: int
    n_docs: int
    n_sentences: int
    n_words: int
    n_wordpieces: int
    fingerprint: str


class EncoderSummary(TypedDict, total=False):
    """The encoder a system runs; ``config_name`` and the windows for spaCy pipelines only."""

    config_name: Optional[str]
    windows: Optional[str]
    inference_windows: Optional[str]
    model_type: Optional[str]
    num_hidden_layers: Optional[int]
    hidden_size: Optional[int]


def encoder_shape(config: Any) -> EncoderSummary:
    """Model type, layers and width from a HuggingFace config (None where it has no such field)."""
    return {
        "model_type": getattr(config, "model_type", None),
        "num_hidden_layers": getattr(config, "num_hidden_layers", None),
        "hidden_size": getattr(config, "hidden_size", None),
    }


Quantization = Dict[str, Any]  # what a precision runner built (precision_backends: int8 copy, ONNX session)


class EncoderGeometry(TypedDict):
    """The sizes an encoder's FLOPs follow from (``compute.encoder_geometry``)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int


class ComputeRecord(TypedDict):
    """The encoder's work in one pass and its rate (see ``DEFINITIONS["compute"]``)."""

    encoder_calls: int
    positions_computed: int
    positions_real: int
    mean_sequence: Optional[float]
    encoder_flops_per_pass: Optional[float]
    achieved_flops_per_second: Optional[float]


class MatmulPeak(TypedDict, total=False):
    """One kind of matmul at the encoder's shapes: GFLOP/s per shape and for one layer's mix."""

    gflops_per_second: Dict[str, float]
    encoder_mix_gflops_per_second: float
    error: str


class PeakRecord(TypedDict):
    """``peak``: this machine's matmul throughput, measured in the same run."""

    rows: int
    shapes: Dict[str, List[int]]
    device: str
    threads: int
    kinds: Dict[str, MatmulPeak]
    reference_gflops_per_second: Dict[str, Optional[float]]


class KernelsRecord(TypedDict):
    """``kernels``: which math libraries and kernels ran (``kernels.kernels_record``)."""

    torch_config: List[str]
    thread_pools: List[Dict[str, Any]]
    cpu_capability: str
    mkldnn: Dict[str, bool]
    bf16: Dict[str, Any]
    quantized_engine: str
    onnxruntime: Optional[Dict[str, Any]]
    session_providers: Dict[str, List[str]]
    onednn_primitives: Dict[str, List[str]]


Quality = EntityScores  # a system's last pass, counted as ``spacy evaluate`` counts


class RssRecord(TypedDict, total=False):
    """Peak RSS of one system; baseline and system share in ``subprocess`` mode only."""

    mode: str
    peak_rss_mb: Optional[float]
    baseline_rss_mb: float
    system_rss_mb: float


class PassSummary(TypedDict):
    """Median pass time of one system and the speeds it gives."""

    repeats: int
    seconds_all: List[float]
    seconds_median: float
    words_per_second: Optional[float]
    wordpieces_per_second: Optional[float]
    words_per_second_all: List[Optional[float]]


class SystemInfo(TypedDict, total=False):
    """What a system says about itself; the keys present depend on its ``kind``."""

    kind: str  # "spacy", "hf_pipeline" or "bare_forward"
    model: str
    components: List[str]  # spacy
    encoder: EncoderSummary
    head: str  # hf_pipeline, bare_forward
    batch_size: int
    batch_unit: str
    input: str
    precision: str
    device: str
    precision_settings: Dict[str, Any]  # spacy: the v2 architecture's settings
    quantization: Optional[Quantization]  # spacy
    transformer_batching: str  # spacy
    aggregation_strategy: str  # hf_pipeline
    num_workers: int  # hf_pipeline
    sort_by: str  # bare_forward
    mode: str  # bare_forward


class SystemResult(PassSummary, SystemInfo, total=False):
    """One entry of ``systems``: pass times, the system's description, threads, quality, memory."""

    threads: int
    quality: Optional[Quality]
    compute: Optional[ComputeRecord]
    peak_kind: Optional[str]
    fraction_of_peak: Optional[float]
    rss: Optional[RssRecord]
    peak_rss_mb: Optional[float]


class TrainingEntry(TypedDict):
    """Training time of one system, from its own record."""

    seconds: float
    epochs: Optional[float]
    seconds_per_epoch: Optional[float]
    what: str
    hardware: Any
    source: str


class TrainingSection(TypedDict):
    """``training``: seconds per epoch of each system, and each one over the HF recipe's."""

    systems: Dict[str, TrainingEntry]
    ratios: Dict[str, float]
    definition: str
    warnings: List[str]


class ModelPaths(TypedDict):
    """``model``: the folders the systems were built from."""

    token_classifier: Optional[str]
    ner: Optional[str]
    encoder: Optional[str]
    extra_pipelines: Dict[str, str]
    hf_head: str


class SpeedReport(TypedDict):
    """The whole benchmark record: ``speed.json``."""

    schema: str
    systems: Dict[str, SystemResult]
    ratios: Dict[str, float]
    schedule: List[str]
    data: DataSummary
    model: ModelPaths
    hardware: HardwareInfo
    versions: Dict[str, Optional[str]]
    settings: Dict[str, Any]
    definitions: Dict[str, str]
    training: Optional[TrainingSection]
    precisions: Dict[str, Dict[str, Optional[float]]]
    peak: Optional[PeakRecord]
    kernels: Optional[KernelsRecord]
    environment: Dict[str, Any]
    machine_load: Dict[str, Any]  # machine_load.MachineLoad
    warnings: List[str]
    command: str
