"""Training throughput for the speed report: seconds per epoch of each system against the HF recipe.

The runs record their own clocks (``bench.train_time.train_timed`` writes
``train_time.json``; ``hf.recipe.run_recipe`` writes the recipe's JSON); this
module only reads them, puts them on one scale (seconds per epoch) and warns
when they were measured on different machines.
"""
import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

from ..evaluation.pipeline_eval import read_train_time
from .env import hardware_key
from .records import TrainingEntry, TrainingSection

PathLike = Union[str, Path]
DEFINITION = (
    "seconds per epoch (one pass over the training set) from each run's own record; "
    "ratios NAME/hf_recipe = seconds per epoch of NAME / of the HF recipe (> 1: slower)"
)
RECIPE = "hf_recipe"


def read_train_time_entry(name: str, path: PathLike) -> TrainingEntry:
    """One system's ``train_time.json`` (keys ``seconds``, ``epochs``, ``seconds_per_epoch``, ``hardware``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a train_time.json for {name}")
    record = read_train_time(path)
    seconds, epochs = record["seconds"], record.get("epochs")
    return {
        "seconds": seconds,
        "epochs": epochs,
        "seconds_per_epoch": record.get("seconds_per_epoch") or (seconds / epochs if epochs else None),
        "what": record.get("what", "spacy train wall time"),
        "hardware": record.get("hardware"),
        "source": str(path),
    }


def read_recipe_entry(path: PathLike) -> TrainingEntry:
    """The HF recipe's JSON (``train_seconds``, ``config.epochs``, ``hardware``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected the HF recipe's JSON (hf_recipe.run_recipe)")
    recipe = json.loads(path.read_text(encoding="utf8"))
    try:
        seconds = float(recipe["train_seconds"])
        epochs = float(recipe["config"]["epochs"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: expected 'train_seconds' and 'config.epochs' ({err})") from err
    return {
        "seconds": seconds,
        "epochs": epochs,
        "seconds_per_epoch": seconds / epochs if epochs else None,
        "what": "Trainer.train() wall time (model loading and tokenization not included)",
        "hardware": recipe.get("hardware"),
        "source": str(path),
    }


def training_section(
    train_times: Mapping[str, PathLike], hf_recipe: Optional[PathLike] = None
) -> TrainingSection:
    """Seconds per epoch of each system, and each one over the HF recipe's.

    train_times: ``{name: train_time.json}``; hf_recipe: the recipe's JSON, which
    becomes the system ``hf_recipe``. Ratios ``NAME/hf_recipe`` are seconds per
    epoch over seconds per epoch (> 1: slower than the recipe). What each clock
    covers differs and is recorded under ``what``.
    """
    systems: Dict[str, TrainingEntry] = {
        name: read_train_time_entry(name, path) for name, path in train_times.items()
    }
    if hf_recipe is not None:
        systems[RECIPE] = read_recipe_entry(hf_recipe)
    ratios: Dict[str, float] = {}
    recipe_rate = systems[RECIPE]["seconds_per_epoch"] if RECIPE in systems else None
    if recipe_rate:
        for name, entry in systems.items():
            rate = entry["seconds_per_epoch"]
            if name != RECIPE and rate:
                ratios[f"{name}/{RECIPE}"] = rate / recipe_rate
    return {"systems": systems, "ratios": ratios, "definition": DEFINITION, "warnings": hardware_warnings(systems)}


def hardware_warnings(systems: Mapping[str, TrainingEntry]) -> List[str]:
    """A warning when the records name more than one machine (records without hardware pass)."""
    keys = {name: hardware_key(entry["hardware"]) for name, entry in systems.items()}
    if len({key for key in keys.values() if key is not None}) > 1:
        return [f"training times were measured on different hardware: {keys}"]
    return []
