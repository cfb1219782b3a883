"""Timing systems fairly: warm-ups, interleaved passes, medians and speed ratios.

A :class:`System` is anything that makes a full pass over the benchmark's data.
:func:`measure_interleaved` warms every system up, then times ``repeats``
passes of each in turn (A1, B1, C1, A2, B2, ...), so drifting machine load hits
all systems alike; :func:`summarize_seconds` turns one system's pass times into
speeds over the MEDIAN pass, and :func:`speed_ratios` compares systems.
"""
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..precision import PRECISIONS
from .records import EncoderGeometry, PassSummary, Quality, SystemInfo

Progress = Callable[[str], None]  # takes one progress line; called only between timed passes


def silent(text: str) -> None:
    """The default :data:`Progress`: say nothing."""


# (numerator, denominator) of the words/s ratios reported when both systems ran.
RATIO_PAIRS: Tuple[Tuple[str, str], ...] = (
    ("token_classifier", "hf_pipeline"),
    ("token_classifier", "bare_forward"),
    ("ner", "hf_pipeline"),
    ("ner", "bare_forward"),
    ("token_classifier", "ner"),
    ("token_classifier", "token_classifier_padded"),
    ("bare_forward", "hf_pipeline"),
)
HEADS = ("token_classifier", "ner")


def twin_name(head: str, mode: str) -> str:
    """``token_classifier_onnx_int8`` for (token_classifier, onnx-int8)."""
    return f"{head}_{mode.replace('-', '_')}"


def precision_base(name: str) -> Optional[str]:
    """The fp32 system a precision twin (``token_classifier_int8``, ``ner_bf16``) is compared with, else
    None: ``token_classifier_padded`` and extra pipelines (``token_classifier_mpnet``) are not twins."""
    for head in HEADS:
        if any(name == twin_name(head, mode) for mode in PRECISIONS if mode != "fp32"):
            return head
    return None


def ratio_pairs(names: Sequence[str]) -> List[Tuple[str, str]]:
    """:data:`RATIO_PAIRS`, then each precision twin over its fp32 system, the HF pipeline and the bare
    forward, and each extra pipeline (``--pipeline``, e.g. a larger encoder) over token_classifier and
    the HF pipeline."""
    pairs = list(RATIO_PAIRS)
    known = {name for pair in RATIO_PAIRS for name in pair}
    for name in names:
        base = precision_base(name)
        if base is not None:
            pairs += [(name, base), (name, "hf_pipeline"), (name, "bare_forward")]
        elif name not in known:
            pairs += [(name, "token_classifier"), (name, "hf_pipeline")]
    return pairs


@dataclass
class System:
    """One thing to time: ``run()`` makes a full pass and returns its predictions."""

    name: str
    run: Callable[[], Any]
    warm_up: Callable[[], Any]
    info: SystemInfo = field(default_factory=SystemInfo)
    score: Optional[Callable[[Any], Quality]] = None
    tokenizer: Any = None  # the encoder's tokenizer, used to count wordpieces
    calls: Any = None  # compute.EncoderCalls of the last pass, where counted
    geometry: Optional[EncoderGeometry] = None  # the encoder's sizes, for its FLOPs
    details: Optional[Callable[[], Dict[str, Any]]] = None  # more info, known once the system ran


@dataclass
class Timings:
    """Pass times per system, each system's last output, and the order things ran in."""

    seconds: Dict[str, List[float]]
    outputs: Dict[str, Any]
    schedule: List[str]


def measure_interleaved(
    systems: Sequence[System],
    repeats: int,
    *,
    clock: Callable[[], float] = time.perf_counter,
    warm_up: bool = True,
    progress: Progress = silent,
) -> Timings:
    """Warm every system up, then time ``repeats`` passes of each, interleaved.

    Order: warm-ups in system order, then pass 1 of every system in order,
    pass 2 of every system, ... ``schedule`` records it (``"warm-up:NAME"``,
    ``"NAME#k"``). ``outputs`` holds each system's last pass. ``progress`` gets a
    line per warm-up and per pass, after the clock stopped (never inside a pass).
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
            progress(f"benchmark: {system.name} warm-up")
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
                progress(f"benchmark: {system.name} pass {repeat}/{repeats}: {seconds[system.name][-1]:.2f} s")
    finally:
        gc.unfreeze()
    return Timings(seconds=seconds, outputs=outputs, schedule=schedule)


def summarize_seconds(seconds: Sequence[float], n_words: int, n_wordpieces: int) -> PassSummary:
    """Median pass time and the speeds it gives (see ``records.DEFINITIONS``)."""
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
    """``{"A/B": wps(A) / wps(B)}`` for the :func:`ratio_pairs` whose systems both ran."""
    ratios: Dict[str, float] = {}
    for a, b in ratio_pairs(list(systems)):
        if a in systems and b in systems:
            wa, wb = systems[a].get("words_per_second"), systems[b].get("words_per_second")
            if wa is not None and wb:
                ratios[f"{a}/{b}"] = wa / wb
    return ratios
