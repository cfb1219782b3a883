"""The Ray backend: Ray Data ``map_batches`` over actors that each load the pipeline once.

The driver reads and validates the input as the local backend does (same
rejections, same ids), sends the texts in chunks of ``chunk_docs`` documents as
a Ray Dataset with an index column, and gets the entities back in input order
(``preserve_order``; the index is checked). Actors are restarted and their
batches retried when a worker dies (Ray Data actor pools default to
max_restarts=-1 and max_task_retries=-1; a test kills an actor to check it),
so a killed worker loses and doubles nothing: the driver writes each record
once, when its batch comes back. ``ray`` is an optional extra (``cluster``).
"""
import json
import logging
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Type, Union

from .inputs import InputDoc
from .local import load_pipeline, set_torch_threads
from ..util import scores_key
from .records import entity_records, make_record

RAY_EXTRA_HINT = "--backend ray needs Ray: pip install 'spacy_bert_ner[cluster]' (or 'ray[data]')"
CHUNK_DOCS = 50_000
MAX_BLOCKS = 1_000  # about one batch a block: small units to spread over the actors and to retry


def import_ray() -> Any:
    """``ray``, or a one-line error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RuntimeError(RAY_EXTRA_HINT) from None
    return ray


class Annotator:
    """A Ray Data callable class: loads the pipeline once per actor, returns entities as JSON per row."""

    def __init__(self, pipeline: str, threads: int = 1, batch_size: int = 64) -> None:
        set_torch_threads(threads)
        self.nlp = load_pipeline(pipeline)
        self.spans_key = scores_key(self.nlp)
        self.batch_size = batch_size

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        texts = [str(text) for text in batch["text"]]
        ents: List[str] = []
        with self.nlp.memory_zone():
            for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
                ents.append(json.dumps(entity_records(doc, self.spans_key)))
        return {"index": batch["index"], "ents": ents}


def init_ray(address: Optional[str], num_cpus: Optional[int], runtime_env: Optional[Dict[str, Any]] = None) -> Any:
    """Join ``address`` (``auto`` or host:port) or start a local runtime with ``num_cpus``.

    ``runtime_env`` (e.g. ``{"py_modules": ["pipeline.whl"]}``) is the job's
    environment on every worker; see docs/cluster.md.
    """
    ray = import_ray()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=num_cpus, runtime_env=runtime_env, log_to_driver=False, include_dashboard=False,
                     logging_level=logging.WARNING)
    return ray


def annotate_ray(
    pipeline: Union[str, Path], docs: Iterable[InputDoc], *, concurrency: int = 2, num_cpus: float = 1,
    threads: int = 1, batch_size: int = 64, chunk_docs: int = CHUNK_DOCS,
    annotator: Type[Annotator] = Annotator,
) -> Iterator[Dict[str, Any]]:
    """One record per input document, in input order, computed by ``concurrency`` Ray actors.

    Ray must be initialised (:func:`init_ray`). ``pipeline`` must be a path the
    workers can read (shared storage) or an installed package name (e.g. the
    ``spacy package`` wheel installed through ``runtime_env``).
    """
    ray = import_ray()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False  # annotate shows its own
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    docs = iter(docs)
    offset = 0
    while True:
        chunk = list(islice(docs, chunk_docs))
        if not chunk:
            return
        rows = [{"index": offset + i, "text": item.text} for i, item in enumerate(chunk)]
        n_blocks = max(1, min(-(-len(rows) // batch_size), MAX_BLOCKS))
        dataset = ray.data.from_items(rows, override_num_blocks=n_blocks).map_batches(
            annotator, fn_constructor_kwargs={"pipeline": str(pipeline), "threads": threads, "batch_size": batch_size},
            batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=concurrency), num_cpus=num_cpus,
        )  # Ray Data's actor pools default to max_restarts=-1, max_task_retries=-1: a dead actor's batch is retried
        position = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for index, ents in zip(batch["index"], batch["ents"]):
                if int(index) != offset + position:
                    raise RuntimeError(f"Ray returned document {int(index)} where {offset + position} was due")
                item = chunk[position]
                yield make_record(item.id, json.loads(ents), item.carried)
                position += 1
        if position != len(chunk):
            raise RuntimeError(f"Ray returned {position} of {len(chunk)} documents")
        offset += len(chunk)

