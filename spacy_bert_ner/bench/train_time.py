"""`spacy train`, timed: the same training, plus ``train_time.json`` beside model-best.

The comparison report needs training time measured the same way for every
head, so the workflow trains through :func:`train_timed` instead of calling
``spacy train`` directly. Seconds per epoch come from counting the batches
the config's own batcher makes from the training corpus.
"""
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from spacy.util import registry

from .env import hardware_info

from ..files import write_json_atomic

PathLike = Union[str, Path]
STEP_TIMER = {"@callbacks": "spacy-bert-ner.step_timer.v1"}
# perf_counter() at every update of the training run in progress (see make_step_timer)
STEP_TIMES: List[float] = []


@registry.callbacks("spacy-bert-ner.step_timer.v1")
def make_step_timer() -> Callable[[Any, Dict[str, Any]], None]:
    """``[training.before_update]`` callback: a time stamp before every update.

    :func:`train_timed` adds it when the config has no ``before_update`` of its
    own and reads the median step time from it: the cost of an update without
    initialization and without the dev evaluations (the slow outliers).
    """

    def record(nlp: Any, info: Dict[str, Any]) -> None:
        STEP_TIMES.append(time.perf_counter())

    return record


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


def train_timed(
    config_path: PathLike, output_path: PathLike, overrides: Dict[str, Any], gpu_id: int = -1
) -> Dict[str, Any]:
    """Run ``spacy train`` in this process and write ``OUTPUT/train_time.json``."""
    from spacy.cli.train import train
    from spacy.util import load_config

    output_path = Path(output_path)
    config = load_config(config_path, overrides=overrides, interpolate=False)
    n_batches = batches_per_epoch(config)
    max_steps = config["training"]["max_steps"]
    overrides = dict(overrides)
    if config["training"].get("before_update") is None:
        overrides["training.before_update"] = STEP_TIMER
    STEP_TIMES.clear()
    started = time.perf_counter()
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)
    seconds = time.perf_counter() - started
    steps = [later - earlier for earlier, later in zip(STEP_TIMES, STEP_TIMES[1:])]
    median_step = statistics.median(steps) if steps else None
    epochs = max_steps / n_batches if n_batches and max_steps else None
    record = {
        "seconds": seconds,
        "what": "wall time of spacy train (initialize + training + dev evaluations), this process",
        "config": str(config_path),
        "overrides": {key: str(value) for key, value in overrides.items()},
        "max_steps": max_steps,
        "batches_per_epoch": n_batches,
        "epochs": epochs,
        "seconds_per_epoch": seconds / epochs if epochs else None,
        "median_step_seconds": median_step,
        "seconds_per_epoch_from_median_step": median_step * n_batches if median_step and n_batches else None,
        "step_definition": "median interval between consecutive updates (spacy-bert-ner.step_timer.v1): "
        "one update, without initialization or dev evaluations",
        "hardware": hardware_info(gpu_id),
    }
    write_json_atomic(output_path / "train_time.json", record)
    return record
