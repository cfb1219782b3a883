"""`spacy train`, timed: the same training, plus ``train_time.json`` beside model-best.

The comparison report needs training time measured the same way for every
head, so the workflow trains through :func:`train_timed` instead of calling
``spacy train`` directly. Seconds per epoch come from counting the batches
the config's own batcher makes from the training corpus.
"""
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .benchmark_utils import hardware_info, write_json_atomic

PathLike = Union[str, Path]


def batches_per_epoch(config_path: PathLike, overrides: Dict[str, Any]) -> Optional[int]:
    """How many batches the config's batcher cuts one pass over the training corpus into."""
    import spacy
    from spacy.util import load_config, registry, resolve_dot_names

    config = load_config(config_path, overrides=overrides, interpolate=False)
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

    output_path = Path(output_path)
    n_batches = batches_per_epoch(config_path, overrides)
    started = time.perf_counter()
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)
    seconds = time.perf_counter() - started
    max_steps = overrides.get("training.max_steps")
    if max_steps is None:
        from spacy.util import load_config

        max_steps = load_config(config_path, overrides=overrides)["training"]["max_steps"]
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
        "hardware": hardware_info(gpu_id),
    }
    write_json_atomic(output_path / "train_time.json", record)
    return record
