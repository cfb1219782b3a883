"""Peak memory (RSS) of benchmark systems: one fresh process per system, or this process so far.

``subprocess`` mode starts a fresh Python for each system: it imports the
same libraries, reads the data (its baseline), builds ONLY that system, warms
it up, makes one pass and prints its peak (``VmHWM``) as one JSON line.
``process`` mode reads this process's peak after each system was built, which
includes every system built before it (see ``records.RSS_DEFINITIONS``).
"""
import json
import subprocess
import sys
from typing import Mapping, Optional

from .env import address_space_peak_rss_mb
from .records import RssRecord
from .spec import BenchmarkSpec, build_system

CHILD_CODE = "from spacy_bert_ner.bench.rss import rss_child; rss_child()"


def measure_rss_subprocess(name: str, spec: BenchmarkSpec, timeout: float = 3600.0) -> RssRecord:
    """Peak RSS of a fresh process that builds only ``name``, warms it up and makes one pass."""
    payload = json.dumps({"name": name, "spec": spec.settings()})
    completed = subprocess.run(
        [sys.executable, "-c", CHILD_CODE, payload], capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"peak-RSS subprocess for {name} failed (exit {completed.returncode}): "
            f"{completed.stderr[-2000:]}"
        )
    return {"mode": "subprocess", **json.loads(lines[-1])}


def rss_child() -> None:
    """Entry point of :func:`measure_rss_subprocess`'s process (JSON request in argv[1])."""
    import spacy  # noqa: F401  - every child imports the same libraries before the baseline
    import spacy_transformers  # noqa: F401
    import torch  # noqa: F401
    import transformers.pipelines  # noqa: F401

    request = json.loads(sys.argv[1])
    spec = BenchmarkSpec.from_settings(request["spec"])
    spec.apply_threads()
    data = spec.load_data()
    baseline = address_space_peak_rss_mb()
    system = build_system(request["name"], spec, data, {})
    system.warm_up()
    system.run()
    peak = address_space_peak_rss_mb()
    print(json.dumps({"peak_rss_mb": peak, "baseline_rss_mb": baseline, "system_rss_mb": peak - baseline}))


def rss_entry(name: str, spec: BenchmarkSpec, in_process: Mapping[str, float]) -> Optional[RssRecord]:
    """The ``rss`` record of one system in the spec's mode (None when not measured)."""
    if spec.rss == "none":
        return None
    if spec.rss == "process":
        return {"mode": "process", "peak_rss_mb": in_process.get(name)}
    return measure_rss_subprocess(name, spec)
