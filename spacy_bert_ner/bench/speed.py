"""Inference speed on the same documents: our pipelines against HF's, in one interleaved run.

Systems (all on the SAME words: a DocBin's documents, or its first N words):

* ``token_classifier`` / ``ner``: a trained spaCy pipeline folder, ``nlp.pipe``
  over the documents' texts (spaCy tokenization + transformer + head +
  annotation, one Doc per document, ``batch_size`` docs per batch), the
  transformer run in length-sorted chunks (``chunk_size``, see ``sorted_batches``);
* ``token_classifier_padded``: the same pipeline as saved, with spacy-transformers'
  padding of every window to the batch's longest (shown when ``chunk_size`` > 0);
* ``token_classifier_<precision>`` (``_bf16``, ``_int8``, ``_onnx``, ``_onnx_int8``;
  ``ner_<precision>`` likewise): the pipeline with its encoder predicting in that
  precision (``spacy_bert_ner.precision``); it may change accuracy, so its F1 on
  the same documents is reported next to its speed, as is the fp32 pipeline's;
* ``hf_pipeline``: ``transformers.pipeline("token-classification",
  aggregation_strategy="first")`` on the encoder folder with a RANDOM
  token-classification head (speed only), one string per sentence, ``batch_size`` 32;
* ``bare_forward``: the ceiling: the same model called directly, sentences sorted
  by length, batches of 64, ``torch.inference_mode()``, argmax at each word's
  first subword. Tokenization is inside the timed pass.

Every system is warmed up on one small batch, then timed for ``repeats`` full
passes, interleaved (A1, B1, C1, A2, B2, ...) so that drifting machine load
hits all systems alike. Speeds are gold words (and encoder wordpieces) over the
MEDIAN pass time. Each system also reports the encoder FLOPs of its last pass
(from the positions its encoder computed) over the median time, against this
machine's matmul peak measured in the same run (``compute``), and the report
says which kernels ran (``kernels``). :func:`run_benchmark` runs it all and
returns the report record; ``render.write_outputs`` writes it as JSON, a
Markdown table and a bar chart.

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
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from .compute import fraction_of_peak, measure_matmul_peak
from .data import count_wordpieces
from .env import hardware_info, package_versions, peak_rss_mb
from .hf_systems import HEAD_SEED
from .kernels import environment_record, kernels_record
from .machine_load import LoadWatch
from .records import DEFINITIONS, RSS_DEFINITIONS, SCHEMA, ModelPaths, PeakRecord, SpeedReport, SystemResult
from .rss import rss_entry
from .spec import BenchmarkSpec, build_system, counting_tokenizer
from .timing import Progress, System, measure_interleaved, precision_base, silent, speed_ratios, summarize_seconds
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
    watch = LoadWatch()
    timings = measure_interleaved(
        systems, spec.repeats, clock=clock, warm_up=spec.rss != "process", progress=progress
    )
    load = watch.stop()
    schedule += timings.schedule
    threads = torch.get_num_threads()

    results: Dict[str, SystemResult] = {}
    for system in systems:
        if system.score:
            progress(f"benchmark: {system.name} scoring its predictions")
        summary = summarize_seconds(timings.seconds[system.name], data.n_words, data.n_wordpieces)
        entry: SystemResult = {
            **summary,
            **system.info,
            **(system.details() if system.details else {}),
            "threads": threads,
            "quality": system.score(timings.outputs[system.name]) if system.score else None,
            "compute": system.calls.record(system.geometry, summary["seconds_median"]) if system.calls else None,
        }
        results[system.name] = entry
    peak = None
    if spec.peak:
        progress("benchmark: matmul peak at the encoder's shapes")
        peak = measure_peak(systems, spec.device)
    del timings, systems, cache
    gc.collect()
    extra = dict(spec.extra_pipelines)
    for name, entry in results.items():  # the peak is measured at the main encoder's shapes: not theirs
        entry["peak_kind"], entry["fraction_of_peak"] = (
            fraction_of_peak(entry["compute"], peak, system_precision(entry))
            if peak and entry["compute"] and name not in extra else (None, None)
        )
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
        "hardware": hardware_info(spec.gpu_id),
        "versions": package_versions(VERSIONED_PACKAGES),
        "settings": spec.settings(),
        "definitions": {**DEFINITIONS, "peak_rss_mb": RSS_DEFINITIONS[spec.rss]},
        "training": training,
        "precisions": precision_summary(results),
        "peak": peak,
        "kernels": kernels_record(session_providers(results), probe=spec.peak),
        "environment": environment_record(),
        "machine_load": load.to_json(),
        "warnings": encoder_warnings({k: v for k, v in results.items() if k not in extra})
        + [w for w in [load.warning()] if w],
        "command": command if command is not None else shlex.join([sys.executable] + sys.argv),
    }


def model_paths(spec: BenchmarkSpec) -> ModelPaths:
    """The report's ``model``: the folders the systems were built from."""
    return {
        "token_classifier": spec.tc_dir,
        "ner": spec.ner_dir,
        "encoder": spec.encoder_dir,
        "extra_pipelines": dict(spec.extra_pipelines),
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


def system_precision(entry: Mapping[str, Any]) -> str:
    """The precision mode a system ran in (fp32 for the HF systems)."""
    return (entry.get("precision_settings") or {}).get("precision", "fp32")


def measure_peak(systems: Sequence[System], device: str = "cpu") -> Optional[PeakRecord]:
    """The matmul peak at the first measured encoder's shapes (rows: the first spaCy system's median call)."""
    import torch

    from ..precision_backends import bf16_cpu_support

    geometry = next((system.geometry for system in systems if system.geometry), None)
    if geometry is None:
        return None
    spacy_calls = [s.calls for s in systems if s.calls and s.info.get("kind") == "spacy" and s.calls.calls]
    rows = spacy_calls[0].median_rows() if spacy_calls else None
    bf16 = torch.cuda.is_bf16_supported() if device.startswith("cuda") else bf16_cpu_support()[0]
    return measure_matmul_peak(geometry, rows, bf16=bf16, device=device)


def session_providers(results: Mapping[str, Mapping[str, Any]]) -> Dict[str, List[str]]:
    """``{system: ONNX Runtime providers}`` of the systems that ran an ONNX session."""
    found = {}
    for name, entry in results.items():
        built = entry.get("quantization")
        if isinstance(built, Mapping) and "providers" in built:
            found[name] = list(built["providers"])
    return found


def precision_summary(results: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Optional[float]]]:
    """Per precision twin: words/s over its fp32 system's and the HF pipeline's, F1 points minus its fp32 system's."""
    summary: Dict[str, Dict[str, Optional[float]]] = {}
    for name, entry in results.items():
        base = precision_base(name)
        if base is None or base not in results:
            continue
        fp32, hf = results[base], results.get("hf_pipeline")
        speed = entry.get("words_per_second")
        quality, base_quality = entry.get("quality"), fp32.get("quality")
        summary[name] = {
            "speed_vs_fp32": speed / fp32["words_per_second"] if speed and fp32.get("words_per_second") else None,
            "speed_vs_hf_pipeline": speed / hf["words_per_second"] if speed and hf and hf.get("words_per_second") else None,
            "f1_points_vs_fp32": (quality["f1"] - base_quality["f1"]) * 100 if quality and base_quality else None,
        }
    return summary
