"""What a speed run measures (:class:`BenchmarkSpec`) and how each named system is built from it.

A system runs when its inputs are given: ``token_classifier`` (with its
``_padded`` and ``_int8`` variants) needs the trained token_classifier folder,
``ner`` the trained ner folder, ``hf_pipeline`` and ``bare_forward`` the HF
encoder folder. The spec is plain JSON-able settings, so the peak-RSS child
process rebuilds exactly one system from it.
"""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..hf.loader import load_token_classifier
from ..sorted_batches import DEFAULT_CHUNK_SIZE
from ..tags import make_iob2_labels
from .data import BenchData
from .hf_systems import HEAD_SEED, SORT_KEYS, bare_forward_system, hf_pipeline_system
from .records import RSS_MODES
from .spacy_systems import spacy_system
from .timing import System

CONLL_TYPES = ("LOC", "MISC", "ORG", "PER")
SYSTEM_ORDER = (
    "token_classifier", "token_classifier_padded", "token_classifier_int8", "ner", "hf_pipeline", "bare_forward",
)


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to measure. A system runs when its inputs are given:
    ``token_classifier`` (and with ``int8`` its quantized twin) needs ``tc_dir``,
    ``ner`` needs ``ner_dir``, ``hf_pipeline`` and ``bare_forward`` need ``encoder_dir``.
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

    def settings(self) -> Dict[str, Any]:
        """The spec as JSON (the report's ``settings``; what the peak-RSS child is given)."""
        return {**asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "BenchmarkSpec":
        """The spec back from :meth:`settings`."""
        return cls(**{**settings, "labels": tuple(settings["labels"])})

    def apply_threads(self) -> None:
        """``torch.set_num_threads(threads)`` where the spec sets them (default: torch's own)."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)

    def load_data(self) -> BenchData:
        """The documents (first ``max_words`` words) and their sentences; wordpieces not counted yet."""
        return BenchData.load(self.data_path, self.max_words)


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
        encoder_dir: str = spec.encoder_dir  # type: ignore[assignment]
        if "hf_model" not in cache:
            if not Path(encoder_dir).is_dir():  # else the loader would take it for a hub name
                raise FileNotFoundError(f"{encoder_dir}: expected a HuggingFace model folder (config.json)")
            cache["hf_model"] = load_token_classifier(encoder_dir, spec.labels, seed=HEAD_SEED)
        model, tokenizer = cache["hf_model"]
        if name == "hf_pipeline":
            return hf_pipeline_system(model, tokenizer, data, encoder_dir, batch_size=spec.hf_batch_size)
        return bare_forward_system(model, tokenizer, data, encoder_dir, batch_size=spec.bare_batch_size,
                                   sort_by=spec.bare_sort_by)
    raise ValueError(f"unknown system {name!r}; expected one of {', '.join(SYSTEM_ORDER)}")


def counting_tokenizer(systems: Sequence[System]) -> Any:
    """The tokenizer wordpieces are counted with: the HF systems' (the encoder folder's),
    else the first spaCy pipeline's transformer tokenizer."""
    ranked = sorted(systems, key=lambda system: system.info.get("kind") == "spacy")
    return next((system.tokenizer for system in ranked if system.tokenizer is not None), None)
