"""`spacy train`, timed: the same training, plus ``train_time.json`` beside model-best.

The comparison report needs training time measured the same way for every
head, so the workflow trains through :func:`train_timed` instead of calling
``spacy train`` directly. Seconds per epoch come from counting the batches
the config's own batcher makes from the training corpus.
"""
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from spacy.util import registry

from ..files import write_json_atomic
from .env import hardware_info

PathLike = Union[str, Path]
STEP_TIMER = "spacy-bert-ner.step_timer.v1"
STEP_TIMES_FILE = "step_times.txt"
TRAIN_LOG_FILE = "train_log.jsonl"


@dataclass
class StepTimer:
    """``[training.before_update]`` callback: a time stamp before every update.

    Stamps are ``time.perf_counter()`` values, kept in ``times`` and, with a
    ``path``, appended to that file one per line (``spacy train`` builds the
    callback itself, so the file is how :func:`train_timed` reads them).
    """

    path: Optional[Path] = None
    times: List[float] = field(default_factory=list)

    def __call__(self, nlp: Any, info: Dict[str, Any]) -> None:
        now = time.perf_counter()
        self.times.append(now)
        if self.path is not None:
            with self.path.open("a", encoding="utf8") as file:
                file.write(f"{now!r}\n")


@registry.callbacks(STEP_TIMER)
def make_step_timer(path: Optional[str] = None) -> StepTimer:
    """The step timer; ``path``: file the stamps are appended to (None: memory only).

    :func:`train_timed` adds it when the config has no ``before_update`` of its
    own and reads the median step time from it: the cost of an update without
    initialization and without the dev evaluations (the slow outliers).
    """
    return StepTimer(None if path is None else Path(path))


def read_step_times(path: Path) -> List[float]:
    """The stamps a :class:`StepTimer` appended to ``path`` (none if it never ran)."""
    if not path.exists():
        return []
    return [float(line) for line in path.read_text(encoding="utf8").split()]


def batches_per_epoch(config: Any) -> Optional[int]:
    """How many batches the config's batcher cuts one pass over the training corpus into.

    config: a ``spacy.util.load_config(..., interpolate=False)`` result, overrides applied.
    """
    import spacy
    from spacy.util import registry, resolve_dot_names

    if config["training"].get("max_epochs", 0) < 0:  # streamed corpora have no epochs
        return None
    nlp = spacy.blank(config["nlp"]["lang"])
    resolved = config.interpolate()
    train_corpus, = resolve_dot_names(resolved, [resolved["training"]["train_corpus"]])
    batcher = registry.resolve({"batcher": resolved["training"]["batcher"]})["batcher"]
    return sum(1 for _ in batcher(train_corpus(nlp)))


@dataclass
class TrainTime:
    """``train_time.json``: how long one ``spacy train`` run took, and its step time."""

    seconds: float
    config: str
    overrides: Dict[str, str]
    max_steps: int
    batches_per_epoch: Optional[int]
    epochs: Optional[float]
    seconds_per_epoch: Optional[float]
    median_step_seconds: Optional[float]
    seconds_per_epoch_from_median_step: Optional[float]
    hardware: Dict[str, Any]
    what: str = "wall time of spacy train (initialize + training + dev evaluations), this process"
    step_definition: str = (
        f"median interval between consecutive updates ({STEP_TIMER}): "
        "one update, without initialization or dev evaluations"
    )


def train_timed(
    config_path: PathLike, output_path: PathLike, overrides: Dict[str, Any], gpu_id: int = -1
) -> TrainTime:
    """Run ``spacy train`` in this process and write ``OUTPUT/train_time.json``."""
    from spacy.cli.train import train
    from spacy.util import load_config

    output_path = Path(output_path)
    config = load_config(config_path, overrides=overrides, interpolate=False)
    n_batches = batches_per_epoch(config)
    max_steps = config["training"]["max_steps"]
    overrides = dict(overrides)
    steps_path = output_path / STEP_TIMES_FILE
    ours = []  # files this run writes; a previous run's copies go first (the logger won't overwrite)
    if config["training"].get("before_update") is None:
        overrides["training.before_update"] = {"@callbacks": STEP_TIMER, "path": str(steps_path)}
        ours.append(steps_path)
    if config["paths"].get("train_log", "") is None and "paths.train_log" not in overrides:
        overrides["paths.train_log"] = str(output_path / TRAIN_LOG_FILE)
        ours.append(output_path / TRAIN_LOG_FILE)
    for path in ours:
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)
    seconds = time.perf_counter() - started
    stamps = read_step_times(steps_path)
    steps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
    median_step = statistics.median(steps) if steps else None
    epochs = max_steps / n_batches if n_batches and max_steps else None
    record = TrainTime(
        seconds=seconds,
        config=str(config_path),
        overrides={key: str(value) for key, value in overrides.items()},
        max_steps=max_steps,
        batches_per_epoch=n_batches,
        epochs=epochs,
        seconds_per_epoch=seconds / epochs if epochs else None,
        median_step_seconds=median_step,
        seconds_per_epoch_from_median_step=median_step * n_batches if median_step and n_batches else None,
        hardware=hardware_info(gpu_id),
    )
    write_json_atomic(output_path / "train_time.json", asdict(record))
    return record


def read_train_log(path: PathLike) -> List[Dict[str, Any]]:
    """The rows of a ``train_log.jsonl``, one per dev evaluation; ValueError ``file:line: problem``."""
    rows = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise ValueError(f"{path}:{lineno}: expected an object with an integer 'step'")
        rows.append(row)
    return rows
