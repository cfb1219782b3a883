"""Load on the HTTP service: a bounded client (N requests, C at a time) and the benchmark record.

:func:`run_load` posts prepared ``/ents`` bodies from a pool of client threads
and keeps every status, body and latency; the load test of the suite and the
``serve-bench`` command both use it. :func:`bench_server` starts ``serve`` as a
child process on 127.0.0.1, sends the load, stops it and returns a
:class:`ServeBenchRecord` (p50/p95 latency, requests/s, texts/s, the settings,
the hardware and what else ran) for ``files.write_json_atomic``.
"""
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict, Union

import numpy

from ..bench.env import HardwareInfo, hardware_info
from .inputs import read_docs
from .serve_runner import LOCALHOST, server_process

SCHEMA = "spacy_bert_ner.serve_bench.v1"
REQUEST_TIMEOUT_S = 120.0
SAMPLE_TEXTS = (  # the default load when no --texts are given: short news sentences
    "EU rejects German call to boycott British lamb.",
    "Peter Blackburn visited Brussels on Monday.",
    "The European Commission said on Thursday it disagreed with German advice to consumers.",
    "Germany's representative to the European Union's veterinary committee Werner Zwingmann said on Wednesday.",
    "Fischler proposed EU-wide measures after reports from Britain and France.",
    "Rare Hendrix song draft sells for almost $17,000 in London.",
)
Payload = Dict[str, Any]


class LatencySummary(TypedDict):
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float


class ServeBenchRecord(TypedDict):
    """What ``serve-bench`` writes: the figures, the settings, and the machine and its load."""

    schema: str
    pipeline: str
    server: Dict[str, Any]  # the server's GET /meta
    settings: Dict[str, Any]
    requests_ok: int
    errors: int
    error_statuses: Dict[str, int]
    seconds: float
    requests_per_second: float
    texts_per_second: float
    latency: LatencySummary
    hardware: HardwareInfo
    what_else_ran: Dict[str, Any]


@dataclass
class LoadResult:
    """Every request's status, decoded body and latency (seconds), in the order sent."""

    statuses: List[int]
    bodies: List[Any]
    latencies: List[float]
    seconds: float

    @property
    def errors(self) -> int:
        return sum(status != 200 for status in self.statuses)


def post_json(url: str, payload: Any, timeout: float = REQUEST_TIMEOUT_S) -> Tuple[int, Any]:
    """``POST`` ``payload`` as JSON; ``(status, decoded body)`` for any HTTP status (never raises on 4xx/5xx)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body)
        except ValueError:
            return err.code, body.decode("utf8", "replace")


def get_json(url: str, timeout: float = REQUEST_TIMEOUT_S) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def timed_post(url: str, payload: Any) -> Tuple[int, Any, float]:
    start = time.perf_counter()
    try:
        status, body = post_json(url, payload)
    except OSError as err:  # refused, reset, timed out: an error of this request, counted as status 0
        status, body = 0, f"{type(err).__name__}: {err}"
    return status, body, time.perf_counter() - start


def run_load(base_url: str, payloads: Sequence[Payload], concurrency: int) -> LoadResult:
    """Post every payload to ``/ents``, ``concurrency`` at a time; results in payload order."""
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    url = f"{base_url}/ents"
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
        results = list(pool.map(lambda payload: timed_post(url, payload), payloads))
    seconds = time.perf_counter() - start
    return LoadResult([r[0] for r in results], [r[1] for r in results], [r[2] for r in results], seconds)


def make_payloads(texts: Sequence[str], n_requests: int, texts_per_request: int) -> List[Payload]:
    """``n_requests`` bodies of ``texts_per_request`` texts each, cycling through ``texts``."""
    if not texts:
        raise ValueError("texts: expected at least one text, got none")
    if n_requests < 1 or texts_per_request < 1:
        raise ValueError(f"requests and texts per request: expected >= 1, got {n_requests} and {texts_per_request}")
    n = len(texts)
    return [
        {"texts": [texts[(i * texts_per_request + j) % n] for j in range(texts_per_request)]}
        for i in range(n_requests)
    ]


def read_texts(path: Union[str, Path]) -> List[str]:
    """The texts of an ``annotate`` input (``.jsonl``, ``.txt``, ``.spacy``), read as ``annotate`` reads them."""
    texts = [doc.text for doc in read_docs(path)]
    if not any(text.strip() for text in texts):
        raise ValueError(f"{path}: no texts in the file")
    return texts


def latency_summary(latencies: Sequence[float]) -> LatencySummary:
    ms = numpy.asarray(latencies, dtype=float) * 1000
    return LatencySummary(p50_ms=float(numpy.percentile(ms, 50)), p95_ms=float(numpy.percentile(ms, 95)),
                          mean_ms=float(ms.mean()), max_ms=float(ms.max()))


def load_average() -> Optional[List[float]]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def bench_server(pipeline_dir: Union[str, Path], texts: Sequence[str], *, n_requests: int = 300,
                 concurrency: int = 8, texts_per_request: int = 4, server_options: Sequence[str] = (),
                 texts_source: str = "built-in samples", note: str = "") -> ServeBenchRecord:
    """Start ``serve`` on 127.0.0.1, send the bounded load (after one warm-up request), stop it."""
    payloads = make_payloads(texts, n_requests, texts_per_request)
    before = load_average()
    with server_process(pipeline_dir, LOCALHOST, server_options) as base_url:
        server_meta = get_json(f"{base_url}/meta")
        post_json(f"{base_url}/ents", payloads[0])  # warm-up: first-call allocations off the clock
        result = run_load(base_url, payloads, concurrency)
    n_texts = sum(len(payload["texts"]) for payload, status in zip(payloads, result.statuses) if status == 200)
    statuses: Dict[str, int] = {}
    for status in result.statuses:
        if status != 200:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    return ServeBenchRecord(
        schema=SCHEMA, pipeline=str(pipeline_dir), server=server_meta,
        settings={
            "requests": n_requests, "concurrency": concurrency, "texts_per_request": texts_per_request,
            "server_options": list(server_options), "host": LOCALHOST, "texts_source": texts_source,
            "distinct_texts": len(texts),
            "mean_chars_per_request": sum(len(t) for p in payloads for t in p["texts"]) / len(payloads),
        },
        requests_ok=len(payloads) - result.errors, errors=result.errors, error_statuses=statuses,
        seconds=result.seconds, requests_per_second=(len(payloads) - result.errors) / result.seconds,
        texts_per_second=n_texts / result.seconds, latency=latency_summary(result.latencies),
        hardware=hardware_info(),
        what_else_ran={
            "client": f"this process: {concurrency} client threads (urllib, one connection per request) "
                      "on the same machine as the server process",
            "load_average_before": before, "load_average_after": load_average(), "note": note,
        },
    )
