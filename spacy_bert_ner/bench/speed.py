"""Inference speed on the same documents: our pipelines against HF's, in one interleaved run.

Systems (all on the SAME words: a DocBin's documents, or its first N words):

* ``token_classifier`` / ``ner``: a trained spaCy pipeline folder, ``nlp.pipe``
  over the documents' texts (spaCy tokenization + transformer + head +
  annotation, one Doc per document, ``batch_size`` docs per batch), the
  transformer run in length-sorted chunks (``chunk_size``, see ``sorted_batches``);
* ``token_classifier_padded``: the same pipeline as saved, with spacy-transformers'
  padding of every window to the batch's longest (shown when ``chunk_size`` > 0);
* ``token_classifier_int8``: the ``token_classifier`` pipeline with the
  transformer's ``Linear`` layers quantized to int8; it changes accuracy, so its
  F1 on the same documents is reported next to its speed, as is the fp32 pipeline's;
* ``hf_pipeline``: ``transformers.pipeline("token-classification",
  aggregation_strategy="first")`` on the encoder folder with a RANDOM
  token-classification head (speed only), one string per sentence, ``batch_size`` 32;
* ``bare_forward``: the ceiling: the same model called directly, sentences sorted
  by length, batches of 64, ``torch.inference_mode()``, argmax at each word's
  first subword. Tokenization is inside the timed pass.

Every system is warmed up on one small batch, then timed for ``repeats`` full
passes, interleaved (A1, B1, C1, A2, B2, ...) so that drifting machine load
hits all systems alike. Speeds are gold words (and encoder wordpieces) over the
MEDIAN pass time. :func:`run_benchmark` runs it all and returns the report
record; ``render.write_outputs`` writes it as JSON, a Markdown table and a bar chart.

Where the parts live: the words in ``data``, the systems in ``spacy_systems`` and
``hf_systems`` (built from a ``spec.BenchmarkSpec``), the clock in ``timing``,
memory in ``rss``, training time in ``training_speed``, the record's shape in
``records``, the files in ``render``.
"""
import gc
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Union

from .data import count_wordpieces
from .env import hardware_info, package_versions, peak_rss_mb
from .hf_systems import HEAD_SEED
from .records import DEFINITIONS, RSS_DEFINITIONS, SCHEMA, ModelPaths, SpeedReport, SystemResult
from .rss import rss_entry
from .spec import BenchmarkSpec, build_system, counting_tokenizer
from .timing import Progress, System, measure_interleaved, silent, speed_ratios, summarize_seconds
from .training_speed import training_section

PathLike = Union[str, Path]
VERSIONED_PACKAGES = ("torch", "transformers", "spacy", "spacy-transformers", "thinc", "spacy_bert_ner")


def run_benchmark(
    spec: BenchmarkSpec,
    *,
    train_times: Optional[Mapping[str, PathLike]] = None,
    hf_recipe: Optional[PathLike] = None,
    clock: Callable[[], float] = time.perf_counter,
    command: Optional[str] = None,
    progress: Progress = silent,
) -> SpeedReport:
    """Measure every system of ``spec`` on the same documents, interleaved; return the report.

    train_times: ``{system: train_time.json}`` (written by ``bench.train_time.train_timed``).
    hf_recipe: the JSON ``hf.recipe.run_recipe`` wrote; both feed the ``training`` section.
    progress: gets a line per system and per pass, between the timed passes.
    """
    import torch

    # Read the training records first: a wrong path fails before minutes of measuring.
    training = training_section(train_times or {}, hf_recipe) if (train_times or hf_recipe) else None
    spec.apply_threads()
    data = spec.load_data()
    if data.n_words == 0:
        raise ValueError(f"{spec.data_path}: no words to measure on")
    cache: Dict[str, object] = {}
    systems: List[System] = []
    rss_in_process: Dict[str, float] = {}
    schedule: List[str] = []
    names = spec.system_names()
    for number, name in enumerate(names, 1):
        progress(f"benchmark: {name} loading (system {number}/{len(names)}), {data.n_words:,} words")
        system = build_system(name, spec, data, cache)
        systems.append(system)
        if spec.rss == "process":  # warm up right away, to read the peak after this system
            schedule.append(f"warm-up:{name}")
            progress(f"benchmark: {name} warm-up")
            system.warm_up()
            rss_in_process[name] = peak_rss_mb()
    tokenizer = counting_tokenizer(systems)
    data.n_wordpieces = count_wordpieces(tokenizer, data.sentences) if tokenizer is not None else 0
    timings = measure_interleaved(
        systems, spec.repeats, clock=clock, warm_up=spec.rss != "process", progress=progress
    )
    schedule += timings.schedule
    threads = torch.get_num_threads()

    results: Dict[str, SystemResult] = {}
    for system in systems:
        if system.score:
            progress(f"benchmark: {system.name} scoring its predictions")
        entry: SystemResult = {
            **summarize_seconds(timings.seconds[system.name], data.n_words, data.n_wordpieces),
            **system.info,
            "threads": threads,
            "quality": system.score(timings.outputs[system.name]) if system.score else None,
        }
        results[system.name] = entry
    del timings, systems, cache
    gc.collect()
    for name, entry in results.items():
        if spec.rss == "subprocess":
            progress(f"benchmark: {name} peak RSS in a fresh process")
        entry["rss"] = rss_entry(name, spec, rss_in_process)
        entry["peak_rss_mb"] = entry["rss"].get("peak_rss_mb") if entry["rss"] else None

    return {
        "schema": SCHEMA,
        "systems": results,
        "ratios": speed_ratios(results),
        "schedule": schedule,
        "data": data.summary(),
        "model": model_paths(spec),
        "hardware": hardware_info(),
        "versions": package_versions(VERSIONED_PACKAGES),
        "settings": spec.settings(),
        "definitions": {**DEFINITIONS, "peak_rss_mb": RSS_DEFINITIONS[spec.rss]},
        "training": training,
        "warnings": encoder_warnings(results),
        "command": command if command is not None else shlex.join([sys.executable] + sys.argv),
    }


def model_paths(spec: BenchmarkSpec) -> ModelPaths:
    """The report's ``model``: the folders the systems were built from."""
    return {
        "token_classifier": spec.tc_dir,
        "ner": spec.ner_dir,
        "encoder": spec.encoder_dir,
        "hf_head": f"random (torch.manual_seed({HEAD_SEED})), labels " + ", ".join(spec.labels),
    }


def encoder_warnings(results: Mapping[str, SystemResult]) -> List[str]:
    """A warning when the systems do not run the same encoder architecture."""
    layers = {
        name: tuple((entry.get("encoder") or {}).get(key) for key in ("model_type", "num_hidden_layers", "hidden_size"))
        for name, entry in results.items()
    }
    if len(set(layers.values())) > 1:
        return [f"the systems do not run the same encoder architecture: {layers}"]
    return []
