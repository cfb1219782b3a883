"""What a speed run measures (:class:`BenchmarkSpec`) and how each named system is built from it.

A system runs when its inputs are given: ``token_classifier`` (with its
``_padded`` variant and one twin per precision, ``_int8``, ``_bf16``, ``_onnx``,
``_onnx_int8``) needs the trained token_classifier folder, ``ner`` (and its
precision twins) the trained ner folder, ``hf_pipeline`` and ``bare_forward``
the HF encoder folder; each of ``extra_pipelines`` (NAME, folder) is one more
fp32 spaCy system, e.g. a pipeline on a larger encoder. The spec is plain JSON-able settings, so the peak-RSS child
process rebuilds exactly one system from it.
"""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..hf.loader import load_token_classifier
from ..precision import PRECISIONS, Precision
from ..sorted_batches import DEFAULT_CHUNK_SIZE
from ..tags import make_iob2_labels
from .data import BenchData
from .hf_systems import HEAD_SEED, SORT_KEYS, bare_forward_system, hf_pipeline_system
from .records import RSS_MODES
from .spacy_systems import spacy_system
from .timing import System, twin_name

CONLL_TYPES = ("LOC", "MISC", "ORG", "PER")
LOWER_PRECISIONS = tuple(mode for mode in PRECISIONS if mode != "fp32")


SYSTEM_ORDER = (
    "token_classifier", "token_classifier_padded", *(twin_name("token_classifier", m) for m in LOWER_PRECISIONS),
    "ner", *(twin_name("ner", m) for m in LOWER_PRECISIONS), "hf_pipeline", "bare_forward",
)
TWINS = {twin_name(head, mode): (head, mode) for head in ("token_classifier", "ner") for mode in LOWER_PRECISIONS}


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to measure. A system runs when its inputs are given:
    ``token_classifier`` (and its twin per mode of ``precisions``) needs ``tc_dir``,
    ``ner`` (and its twin per mode of ``ner_precisions``) needs ``ner_dir``,
    ``hf_pipeline`` and ``bare_forward`` need ``encoder_dir``.
    ``int8``: False drops int8 from ``precisions`` (the older switch).
    ``fp32_modules`` / ``int8_per_channel``: the int8 modes' settings (``precision.Precision``).
    ``peak``: measure the matmul peak and the kernels (``compute``, ``kernels``).
    ``gpu_id``: >= 0 runs every system on that CUDA device (spaCy through
    ``spacy.require_gpu``; the int8 and ONNX modes are CPU only).
    ``rss``: how peak RSS is measured (see ``records.RSS_DEFINITIONS``).
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
    precisions: Tuple[str, ...] = ("int8",)
    ner_precisions: Tuple[str, ...] = ()
    fp32_modules: Tuple[str, ...] = ()
    int8_per_channel: bool = False
    peak: bool = True
    gpu_id: int = -1
    extra_pipelines: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("precisions", "ner_precisions", "fp32_modules"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "extra_pipelines", tuple((str(n), str(p)) for n, p in self.extra_pipelines))
        for extra, _ in self.extra_pipelines:
            if extra in SYSTEM_ORDER or not extra.isidentifier():
                raise ValueError(
                    f"BenchmarkSpec.extra_pipelines: {extra!r} must be a new name of letters, digits and _ "
                    f"(not one of {', '.join(SYSTEM_ORDER)})"
                )
        if len(dict(self.extra_pipelines)) != len(self.extra_pipelines):
            raise ValueError("BenchmarkSpec.extra_pipelines: each name once")
        if not self.int8:
            object.__setattr__(self, "precisions", tuple(m for m in self.precisions if m != "int8"))
        for mode in self.precisions + self.ner_precisions:
            if mode not in LOWER_PRECISIONS:
                raise ValueError(f"BenchmarkSpec.precisions: expected modes among {', '.join(LOWER_PRECISIONS)}, got {mode!r}")
        checks = [
            ("repeats", self.repeats >= 1, ">= 1"),
            ("max_words", self.max_words >= 0, ">= 0 (0: all)"),
            ("hf_batch_size", self.hf_batch_size >= 1, ">= 1"),
            ("bare_batch_size", self.bare_batch_size >= 1, ">= 1"),
            ("chunk_size", self.chunk_size >= 0, ">= 0 (0: spacy-transformers' padding)"),
            ("spacy_batch_size", self.spacy_batch_size is None or self.spacy_batch_size >= 1, ">= 1 or None"),
            ("threads", self.threads is None or self.threads >= 1, ">= 1 or None"),
            ("gpu_id", self.gpu_id >= -1, ">= -1 (-1: CPU)"),
            ("rss", self.rss in RSS_MODES, f"one of {', '.join(RSS_MODES)}"),
            ("bare_sort_by", self.bare_sort_by in SORT_KEYS, f"one of {', '.join(SORT_KEYS)}"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"BenchmarkSpec.{name}: expected {expected}, got {getattr(self, name)!r}")
        if not self.system_names():
            raise ValueError("nothing to measure: give tc_dir, ner_dir, encoder_dir and/or extra_pipelines")

    def system_names(self) -> List[str]:
        present = {
            "token_classifier": self.tc_dir is not None,
            # the same pipeline with spacy-transformers' padding, when sorting is on
            "token_classifier_padded": self.tc_dir is not None and self.chunk_size > 0,
            "ner": self.ner_dir is not None,
            "hf_pipeline": self.encoder_dir is not None,
            "bare_forward": self.encoder_dir is not None,
        }
        for mode in self.precisions:
            present[twin_name("token_classifier", mode)] = self.tc_dir is not None
        for mode in self.ner_precisions:
            present[twin_name("ner", mode)] = self.ner_dir is not None
        return [name for name in SYSTEM_ORDER if present.get(name)] + [name for name, _ in self.extra_pipelines]

    def precision(self, mode: str) -> Precision:
        """The precision settings of a system in ``mode``."""
        return Precision(mode, self.fp32_modules, self.int8_per_channel)

    def settings(self) -> Dict[str, Any]:
        """The spec as JSON (the report's ``settings``; what the peak-RSS child is given)."""
        tuples = ("labels", "precisions", "ner_precisions", "fp32_modules")
        return {**asdict(self), **{name: list(getattr(self, name)) for name in tuples},
                "extra_pipelines": [list(pair) for pair in self.extra_pipelines]}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "BenchmarkSpec":
        """The spec back from :meth:`settings`."""
        return cls(**{**settings, "labels": tuple(settings["labels"])})  # lists become tuples in __post_init__

    def apply_threads(self) -> None:
        """``torch.set_num_threads(threads)`` where the spec sets them (default: torch's own); the GPU where set."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        if self.gpu_id >= 0:
            import spacy

            spacy.require_gpu(self.gpu_id)  # thinc on CuPy, spacy-transformers' torch default device on CUDA

    @property
    def device(self) -> str:
        """The torch device the systems run on."""
        return f"cuda:{self.gpu_id}" if self.gpu_id >= 0 else "cpu"

    def load_data(self) -> BenchData:
        """The documents (first ``max_words`` words) and their sentences; wordpieces not counted yet."""
        return BenchData.load(self.data_path, self.max_words)


def build_system(name: str, spec: BenchmarkSpec, data: BenchData, cache: Dict[str, Any]) -> System:
    """One system of the spec; ``cache`` shares the HF model between hf_pipeline and bare_forward."""
    extra = dict(spec.extra_pipelines)
    if name in extra:
        return spacy_system(name, extra[name], data, batch_size=spec.spacy_batch_size,
                            precision=spec.precision("fp32"), chunk_size=spec.chunk_size)
    head, mode = TWINS.get(name, (name.replace("_padded", ""), "fp32"))
    if head in ("token_classifier", "ner"):
        chunk_size = 0 if name.endswith("padded") else spec.chunk_size
        return spacy_system(name, spec.tc_dir if head == "token_classifier" else spec.ner_dir,  # type: ignore[arg-type]
                            data, batch_size=spec.spacy_batch_size, precision=spec.precision(mode), chunk_size=chunk_size)
    if name in ("hf_pipeline", "bare_forward"):
        encoder_dir: str = spec.encoder_dir  # type: ignore[assignment]
        if "hf_model" not in cache:
            if not Path(encoder_dir).is_dir():  # else the loader would take it for a hub name
                raise FileNotFoundError(f"{encoder_dir}: expected a HuggingFace model folder (config.json)")
            model, tokenizer = load_token_classifier(encoder_dir, spec.labels, seed=HEAD_SEED)
            cache["hf_model"] = (model.to(spec.device), tokenizer)
        model, tokenizer = cache["hf_model"]
        if name == "hf_pipeline":
            return hf_pipeline_system(model, tokenizer, data, encoder_dir, batch_size=spec.hf_batch_size,
                                      device=spec.gpu_id)
        return bare_forward_system(model, tokenizer, data, encoder_dir, batch_size=spec.bare_batch_size,
                                   sort_by=spec.bare_sort_by)
    raise ValueError(f"unknown system {name!r}; expected one of {', '.join(SYSTEM_ORDER)}")


def counting_tokenizer(systems: Sequence[System]) -> Any:
    """The tokenizer wordpieces are counted with: the HF systems' (the encoder folder's),
    else the first spaCy pipeline's transformer tokenizer."""
    ranked = sorted(systems, key=lambda system: system.info.get("kind") == "spacy")
    return next((system.tokenizer for system in ranked if system.tokenizer is not None), None)
