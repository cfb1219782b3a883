"""The local backend: ``nlp.pipe`` over a stream of documents, one record out per document, in order.

Runs in this process or, with ``n_process > 1``, in spaCy's forked workers;
torch threads are set so that the processes together do not oversubscribe the
cores. Memory stays flat on long streams: the input is a generator, each Doc is
dropped once its record is built, and every ``ZONE_DOCS`` documents run inside
``nlp.memory_zone()`` so the string store does not grow with the corpus
(spaCy#12037).
"""
import os
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, Iterator, Optional, Union

from spacy.language import Language

from ..bench.env import usable_cores
from .inputs import InputDoc
from ..util import load_pipeline as load_pipeline_dir
from ..util import scores_key
from .records import doc_record

ZONE_DOCS = 10_000


def threads_per_process(n_process: int, cores: Optional[int] = None) -> int:
    """Torch threads for each of ``n_process`` workers: ``cores // n_process``, at least 1."""
    return max(1, (cores or usable_cores()) // max(1, n_process))


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def load_pipeline(pipeline: Union[str, Path, Language]) -> Language:
    """A pipeline folder or package name (``spacy.load``), or an ``nlp`` already loaded."""
    return pipeline if isinstance(pipeline, Language) else load_pipeline_dir(pipeline)


def annotate_local(
    nlp: Language, docs: Iterable[InputDoc], *, n_process: int = 1, batch_size: int = 64,
    threads: Optional[int] = None,
) -> Iterator[Dict[str, Any]]:
    """One :func:`~.records.doc_record` per input document, in input order."""
    set_torch_threads(threads or threads_per_process(n_process))
    if n_process != 1:  # HF tokenizers' own threads would not survive the fork
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spans_key = scores_key(nlp)
    docs = iter(docs)
    while True:
        zone = list(islice(docs, ZONE_DOCS))  # only texts and ids: small beside the Docs
        if not zone:
            return
        pending: Deque[InputDoc] = deque(zone)
        with nlp.memory_zone():
            for doc in nlp.pipe((item.text for item in zone), n_process=n_process, batch_size=batch_size):
                item = pending.popleft()
                yield doc_record(doc, item.id, item.carried, spans_key)
