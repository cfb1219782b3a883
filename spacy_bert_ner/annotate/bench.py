"""Timing ``annotate`` on one input under several parallel settings, one fresh process each.

The issue's three settings on the same cores: local 1 process x 2 threads,
local ``--n-process 2`` x 1 thread, Ray 2 actors x 1 thread. Each run is a
fresh Python (no torch threads or Ray runtime carried over) that prints its
:class:`~.output.Counts` as JSON; the result records docs/s and words/s over
the whole run (start-up included: ``repeat`` makes the stream long enough for
it not to dominate), the hardware, and the load average before and after each
run (what else ran).
"""
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

from ..bench.env import hardware_info, package_versions
from ..files import write_json_atomic
from .inputs import read_docs
from .output import Counts
from .run import AnnotateSettings, annotate_file

CHILD_CODE = "from spacy_bert_ner.annotate.bench import bench_child; bench_child()"

THREE_SETTINGS: Tuple[Tuple[str, AnnotateSettings], ...] = (
    ("local 1 process x 2 threads", AnnotateSettings(n_process=1, threads=2)),
    ("local 2 processes x 1 thread", AnnotateSettings(n_process=2, threads=1)),
    ("ray 2 actors x 1 thread", AnnotateSettings(backend="ray", concurrency=2, num_cpus=1, threads=1)),
)


def bench_child() -> None:
    """Child process: ``argv[1]`` = JSON {pipeline, input, output, settings}; prints Counts as JSON."""
    job = json.loads(sys.argv[1])
    counts = annotate_file(job["pipeline"], job["input"], job["output"], AnnotateSettings(**job["settings"]), force=True)
    print(json.dumps(asdict(counts)))


def run_setting(pipeline: Union[str, Path], input_path: Path, settings: AnnotateSettings, timeout: float) -> Dict[str, Any]:
    """One fresh-process run of :func:`annotate_file`; its counts, rates and the load around it."""
    with tempfile.TemporaryDirectory() as tmp:
        job = {"pipeline": str(pipeline), "input": str(input_path), "output": str(Path(tmp) / "out.jsonl"),
               "settings": asdict(settings)}
        load_before = os.getloadavg()
        completed = subprocess.run([sys.executable, "-c", CHILD_CODE, json.dumps(job)], capture_output=True,
                                   text=True, timeout=timeout)
        load_after = os.getloadavg()
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"annotate run failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    counts = Counts(**json.loads(lines[-1]))
    return {
        "settings": asdict(settings), "counts": asdict(counts),
        "docs_per_second": counts.written / counts.seconds, "words_per_second": counts.words / counts.seconds,
        "load_average_before": load_before, "load_average_after": load_after,
    }


def repeated_input(input_path: Path, repeat: int, folder: Path) -> Path:
    """A JSONL of the input's documents ``repeat`` times over (ids made unique), in ``folder``."""
    path = folder / "repeated.jsonl"
    with path.open("w", encoding="utf8") as out:
        for round_ in range(repeat):
            for doc in read_docs(input_path):
                out.write(json.dumps({"id": f"{round_}-{doc.id}", "text": doc.text}) + "\n")
    return path


def bench_annotate(
    pipeline: Union[str, Path], input_path: Union[str, Path], output_json: Union[str, Path],
    settings: Sequence[Tuple[str, AnnotateSettings]] = THREE_SETTINGS, timeout: float = 3600.0,
    repeat: int = 1,
) -> Dict[str, Any]:
    """Run every setting once, in order, on the input ``repeat`` times over; write one JSON (also returned)."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    runs: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(input_path) if repeat == 1 else repeated_input(Path(input_path), repeat, Path(tmp))
        for name, setting in settings:
            runs.append({"name": name, **run_setting(pipeline, stream, setting, timeout)})
    result: Dict[str, Any] = {
        "schema": "spacy_bert_ner.annotate_bench.v1",
        "pipeline": str(pipeline), "input": str(input_path), "repeat": repeat, "runs": runs,
        "hardware": hardware_info(), "versions": package_versions(["spacy", "torch", "ray"]),
    }
    rates = {run["settings"]["backend"] + str(run["settings"]["n_process"]): run["words_per_second"] for run in runs}
    if "ray1" in rates and "local2" in rates:
        result["ray_overhead_vs_local_2_processes"] = rates["local2"] / rates["ray1"] - 1
    write_json_atomic(output_json, result)
    return result
