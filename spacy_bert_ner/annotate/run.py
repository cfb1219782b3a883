"""``annotate`` end to end: read, validate, resume, run a backend, write, count, show progress.

The backends (:mod:`.local`, :mod:`.ray_backend`) only turn documents into
records in order; everything that makes the run lose nothing lives here: bad
lines stop the run (``INPUT:line: problem``) or go to the rejected side file,
``--resume`` skips the documents the partial output already holds (checking
their ids), and the counts add up: ``read == written + rejected``.
"""
import functools
import json
import time
from contextlib import contextmanager
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Union

from .inputs import InputDoc, InvalidInput, Rejection, check_input, count_documents, read_items
from .output import Counts, JsonlSink, check_paths, complete_lines, partial_ids, partial_path, rejected_path


@dataclass
class AnnotateSettings:
    """How to run: the backend and its parallelism (``threads`` None = cores // processes)."""

    backend: str = "local"
    n_process: int = 1
    batch_size: int = 64
    threads: Optional[int] = None
    address: Optional[str] = None  # ray: "auto" or host:port; None starts a local runtime
    concurrency: int = 2  # ray: actors
    num_cpus: float = 1  # ray: CPUs per actor
    runtime_env: Optional[Dict[str, Any]] = None  # ray: the job's runtime_env (e.g. the pipeline's wheel)
    ray_options: Dict[str, Any] = field(default_factory=dict)  # ray: extra annotate_ray keywords (tests)


def annotate_file(
    pipeline: Union[str, Path], input_path: Union[str, Path], output: Union[str, Path],
    settings: Optional[AnnotateSettings] = None, *, skip_invalid: bool = False, resume: bool = False,
    force: bool = False, progress: bool = False,
) -> Counts:
    """Annotate every document of ``input_path`` into ``output`` (JSONL, input order)."""
    start = time.perf_counter()
    settings = settings or AnnotateSettings()
    input_path, output = Path(input_path), Path(output)
    if settings.backend not in ("local", "ray"):
        raise ValueError(f"--backend: expected local or ray, got {settings.backend!r}")
    check_input(input_path)
    check_paths(input_path, output, resume=resume, force=force)
    run_backend = _backend(pipeline, settings)  # loads the pipeline or joins Ray before anything is written
    done = complete_lines(partial_path(output)) if resume else 0
    counts = Counts(resumed=done, written=done)
    sink = JsonlSink(output, resume=resume)
    try:
        docs = _documents(input_path, output, sink, counts, skip_invalid=skip_invalid, skip=done)
        words: Deque[int] = deque()
        records = run_backend(_counting_words(docs, words))
        with _progress_bar(input_path, done, progress) as bar:
            for record in records:
                sink.write(record)
                if not counts.first_record_seconds:
                    counts.first_record_seconds = time.perf_counter() - start
                counts.written += 1
                n_words = words.popleft()
                counts.words += n_words
                if bar is not None:
                    bar.update(1)
                    bar.words += n_words
                    bar.set_postfix_str(f"{bar.words / max(bar.format_dict['elapsed'], 1e-9):,.0f} words/s", refresh=False)
        if counts.read != counts.written + counts.rejected:  # pragma: no cover - a bug, never bad input
            raise RuntimeError(f"read {counts.read} documents but wrote {counts.written} and rejected {counts.rejected}")
        sink.finish()
        counts.seconds = time.perf_counter() - start
    except InvalidInput:
        sink.close()
        if not resume:  # this run's own partial files, useless with this input; a resumed run's stay
            for path in (sink.partial, sink.rejected_partial):
                path.unlink(missing_ok=True)
        raise
    finally:
        sink.close()
    return counts


def _documents(input_path: Path, output: Path, sink: JsonlSink, counts: Counts, *,
               skip_invalid: bool, skip: int) -> Iterator[InputDoc]:
    """The input's documents still to annotate; rejections written or raised; resumed ids checked."""
    done_ids = partial_ids(partial_path(output)) if skip else iter(())
    skipped = 0
    for item in read_items(input_path):
        counts.read += 1
        if isinstance(item, Rejection):
            if not skip_invalid:
                raise InvalidInput(f"{input_path}:{item.line}: {item.problem} (--skip-invalid sends bad lines to {rejected_path(output).name})")
            sink.reject(item)
            counts.rejected += 1
        elif skipped < skip:
            expected = next(done_ids)
            if json.loads(json.dumps(item.id)) != expected:
                raise ValueError(
                    f"{partial_path(output)}:{skipped + 1}: id {expected!r} but {input_path}:{item.line} has id "
                    f"{item.id!r}; not the same input (drop --resume and use --force to start over)"
                )
            skipped += 1
        else:
            yield item
    if skipped < skip:
        raise ValueError(f"{partial_path(output)}: holds {skip} documents but {input_path} has only {skipped}; not the same input")


def _counting_words(docs: Iterator[InputDoc], words: Deque[int]) -> Iterator[InputDoc]:
    for item in docs:
        words.append(len(item.text.split()))
        yield item


def _backend(pipeline: Union[str, Path], settings: AnnotateSettings) -> Callable[[Iterator[InputDoc]], Iterator[Dict[str, Any]]]:
    """The chosen backend, ready: a function from documents to records in order."""
    if settings.backend == "ray":
        from .ray_backend import annotate_ray, init_ray

        init_ray(settings.address, None if settings.address else int(max(1, settings.concurrency * settings.num_cpus)),
                 settings.runtime_env)
        name = Path(pipeline) if Path(pipeline).exists() else pipeline  # a path, or a package on the workers
        return functools.partial(
            annotate_ray, name, concurrency=settings.concurrency, num_cpus=settings.num_cpus,
            threads=settings.threads or max(1, int(settings.num_cpus)), batch_size=settings.batch_size,
            **settings.ray_options,
        )
    from .local import annotate_local, load_pipeline

    return functools.partial(
        annotate_local, load_pipeline(pipeline), n_process=settings.n_process, batch_size=settings.batch_size,
        threads=settings.threads,
    )


@contextmanager
def _progress_bar(input_path: Path, initial: int, enabled: bool) -> Iterator[Any]:
    """A tqdm bar (documents, words/s, ETA) when ``enabled``; None otherwise."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=count_documents(input_path), initial=initial, unit="doc", dynamic_ncols=True) as bar:
        bar.words = 0
        yield bar
