"""The hf tools' typed records: what import-hf, export-hf, export-onnx return and the recipe's JSON.

TypedDicts, so the summaries stay the plain dicts (and the recipe's
``hf_trainer_recipe.json`` keys stay those of the files written before) that
the command line, ``summary`` and ``benchmark`` read; the types only say what
each key holds.
"""
from typing import Any, Dict, List, Optional, TypedDict

from ..bench.env import HardwareInfo


class ImportSummary(TypedDict):
    """What :func:`~.hf_to_spacy.import_hf` wrote and what the imported pipeline predicts."""

    pipeline: str
    finetune_config: str
    labels: List[str]
    tags: List[str]
    absent_tags: List[str]  # IOB2 classes the checkpoint lacks: never predicted
    decoding: str


class ExportSummary(TypedDict):
    """What :func:`~.spacy_to_hf.export_hf` wrote, and where HF's behaviour will differ from the pipeline's."""

    output_dir: str
    architecture: str
    tags: List[str]
    files: List[str]
    decoding: str
    notes: List[str]


class OnnxSummary(TypedDict):
    """What :func:`~.onnx.export_onnx` wrote and how close ONNX Runtime came to PyTorch."""

    output: str
    inputs: List[str]
    labels: List[str]
    opset: int
    max_abs_diff: float
    atol: float
    check_texts: int


class TrainerSettings(TypedDict):
    """The Trainer's own settings the recipe does not choose, recorded next to RecipeConfig's."""

    optimizer: str
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    max_grad_norm: float
    lr_scheduler: str
    eval_batch_size: int
    total_steps: int
    warmup_steps: int


class SplitScores(TypedDict):
    """One evaluated split: seqeval reports in both modes, token accuracy, timing."""

    default: Dict[str, Any]  # seqeval_report(mode="default")
    strict: Dict[str, Any]  # seqeval_report(mode="strict"), scheme IOB2
    token_accuracy: float
    eval_seconds: float
    words_per_second: float
    n_sentences: int
    n_words: int
    n_words_without_piece: int


class DataRecord(TypedDict):
    """A data file used: its checksum, and how much of it the run used."""

    path: str
    sha256: str
    n_sentences_total: int
    n_sentences_used: int
    n_words_used: int


class EncoderRecord(TypedDict):
    """The encoder the recipe fine-tuned."""

    name: str  # as given (a folder or an offline alias)
    path: str
    model_type: str
    n_parameters: int


class RecipeHardware(HardwareInfo):
    """:func:`~spacy_bert_ner.bench.env.hardware_info` plus the device the recipe ran on."""

    device: str


class RecipeResult(TypedDict):
    """The recipe's JSON (``hf_trainer_recipe.json``)."""

    system: str  # "hf_trainer_recipe"
    encoder: EncoderRecord
    hardware: RecipeHardware
    versions: Dict[str, Optional[str]]
    # RecipeConfig's fields, TrainerSettings, effective_max_length, labels, label_alignment, input_unit
    config: Dict[str, Any]
    train_seconds: float
    train_loss: float
    train_words_without_piece: int
    test: SplitScores
    dev: Optional[SplitScores]
    test_f1: float
    test_f1_strict: float
    dev_f1: Optional[float]
    data: Dict[str, DataRecord]  # train, test and (when evaluated) dev
    command: str
