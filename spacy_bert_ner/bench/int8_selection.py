"""Which of the encoder's ``Linear`` layers an int8 mode should leave in fp32: chosen on dev.

1. The fp32 pipeline predicts the dev documents once (the reference).
2. Sensitivity: the ``Linear`` layers are grouped by parent module
   (``encoder.layer.3.attention.self.*`` = Q, K and V; ``encoder.layer.3.output.*``
   = the feed-forward's down-projection, ...); each group alone is quantized, the
   rest left fp32, and the tokens whose predicted entity tag changes against
   fp32 are counted (more sensitive than F1 on one group, and not noisy).
   Skipped when everything in int8 is already within ``tolerance``.
3. Greedy: everything int8, then the most sensitive groups kept in fp32 one at
   a time, until dev entity F1 is within ``tolerance`` points of fp32's.

The pipeline is loaded once; each configuration rebuilds only the int8 encoder.
The chosen patterns go to ``benchmark --fp32-module`` and to the v2
architecture's ``fp32_modules`` (``precision.load_with_precision``).
Timings here are of single passes on a possibly busy machine: not a benchmark.
"""
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc

from ..evaluation.aggregate import read_json
from ..precision import INT8_MODES, Precision, load_with_precision, matching_linear_names, runners
from ..util import hf_model
from .data import BenchData
from .spacy_systems import score_predictions
from .timing import Progress, silent

PathLike = Union[str, Path]
SCHEMA = "spacy_bert_ner.int8_selection.v1"


@dataclass
class Trial:
    """One configuration on dev: the groups kept fp32, F1 and tags changed against fp32."""

    fp32_modules: List[str]
    f1: float
    tags_changed: int
    seconds: float


@dataclass
class Selection:
    """What ``select-int8`` found (written as JSON)."""

    pipeline: str
    data: str
    n_words: int
    mode: str
    int8_per_channel: bool
    tolerance_points: float
    fp32_f1: float
    groups: List[str]
    sensitivity: Dict[str, Trial]
    steps: List[Trial]
    chosen: List[str]
    chosen_f1: float
    within_tolerance: bool
    schema: str = SCHEMA
    note: str = ("F1 in [0, 1]; tags_changed: tokens whose (IOB, type) differs from the fp32 pipeline's; "
                 "seconds: one pass each, not a benchmark")
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def read_chosen(path: PathLike) -> List[str]:
    """The groups a saved selection keeps in fp32; ValueError naming the file if it is not one."""
    data = read_json(path, "a select-int8 JSON")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("chosen"), list):
        raise ValueError(f"{path}: not a select-int8 result (expected schema {SCHEMA} with a 'chosen' list)")
    return [str(pattern) for pattern in data["chosen"]]


def linear_groups(module: Any) -> List[str]:
    """One ``fnmatch`` pattern per parent module of the encoder's ``Linear`` layers, in model order."""
    linear, _ = matching_linear_names(module, ())
    groups: List[str] = []
    for name in linear:
        parent = name.rsplit(".", 1)[0] + ".*" if "." in name else name
        if parent not in groups:
            groups.append(parent)
    return groups


def entity_tags(docs: Sequence[Doc]) -> List[Tuple[str, str]]:
    """(IOB, type) of every token of the documents, in order."""
    return [(token.ent_iob_, token.ent_type_) for doc in docs for token in doc]


class Evaluator:
    """One loaded pipeline, predicting the dev texts under any int8 configuration."""

    def __init__(self, pipeline_dir: PathLike, data: BenchData, mode: str, per_channel: bool) -> None:
        self.nlp = load_with_precision(pipeline_dir, "fp32")
        self.data, self.mode, self.per_channel = data, mode, per_channel
        self.reference: List[Tuple[str, str]] = []

    def run(self, fp32_modules: Sequence[str], mode: Optional[str] = None) -> Trial:
        precision = Precision(mode or self.mode, tuple(fp32_modules), self.per_channel)
        for runner in runners(self.nlp):
            runner.precision = precision
            runner.invalidate()
        started = time.perf_counter()
        docs = list(self.nlp.pipe(self.data.texts))
        seconds = time.perf_counter() - started
        tags = entity_tags(docs)
        if not self.reference:  # the first run is fp32's
            self.reference = tags
        changed = sum(a != b for a, b in zip(tags, self.reference))
        f1 = score_predictions(docs, self.data.docs)["f1"]
        return Trial(list(fp32_modules), f1, changed, seconds)


def select_int8(
    pipeline_dir: PathLike,
    data_path: PathLike,
    *,
    mode: str = "int8",
    per_channel: bool = False,
    tolerance: float = 0.1,
    max_words: int = 0,
    progress: Progress = silent,
) -> Selection:
    """The fewest parent-module groups to keep in fp32 for dev F1 within ``tolerance`` points of fp32."""
    if mode not in INT8_MODES:
        raise ValueError(f"mode: expected one of {', '.join(INT8_MODES)}, got {mode!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance: expected >= 0 F1 points, got {tolerance}")
    data = BenchData.load(data_path, max_words)
    if not data.docs:
        raise ValueError(f"{data_path}: no documents to select on")
    evaluator = Evaluator(pipeline_dir, data, mode, per_channel)
    if not runners(evaluator.nlp):
        raise ValueError(f"{pipeline_dir}: no transformer component to quantize")
    groups = linear_groups(hf_model(evaluator.nlp))
    progress(f"select-int8: fp32 reference on {data.n_words:,} words")
    fp32 = evaluator.run([], mode="fp32")

    def within(trial: Trial) -> bool:
        return (fp32.f1 - trial.f1) * 100 <= tolerance

    steps = [evaluator.run([])]
    progress(f"select-int8: everything in int8: F1 {steps[0].f1 * 100:.2f} (fp32 {fp32.f1 * 100:.2f})")
    sensitivity: Dict[str, Trial] = {}
    if not within(steps[0]):  # the sweep costs one dev pass per group: only when something must stay fp32
        for number, group in enumerate(groups, 1):
            sensitivity[group] = evaluator.run([g for g in groups if g != group])
            progress(f"select-int8: {group} alone in int8 ({number}/{len(groups)}): "
                     f"{sensitivity[group].tags_changed} tags changed, F1 {sensitivity[group].f1 * 100:.2f}")
    ranked = sorted(sensitivity, key=lambda g: (-sensitivity[g].tags_changed, sensitivity[g].f1))
    for kept in range(1, len(ranked) + 1):
        if within(steps[-1]):
            break
        steps.append(evaluator.run(ranked[:kept]))
        progress(f"select-int8: {kept} group(s) in fp32: F1 {steps[-1].f1 * 100:.2f} (fp32 {fp32.f1 * 100:.2f})")
    best = steps[-1]
    return Selection(
        pipeline=str(pipeline_dir), data=str(data_path), n_words=data.n_words, mode=mode,
        int8_per_channel=per_channel, tolerance_points=tolerance, fp32_f1=fp32.f1, groups=groups,
        sensitivity=sensitivity, steps=steps, chosen=best.fp32_modules, chosen_f1=best.f1,
        within_tolerance=within(best),
    )
