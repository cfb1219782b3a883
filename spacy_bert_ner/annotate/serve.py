"""The HTTP service: a FastAPI app that runs a loaded pipeline on the texts of each request.

``POST /ents`` takes ``{"texts": [...], "ids": [...]?}`` and returns
``{"docs": [record, ...]}``, one :func:`records.doc_record` per text in order,
the same records ``annotate`` writes. ``GET /health`` and ``GET /meta`` describe
the service. The model runs on ONE worker thread (spaCy's StringStore and the
HF fast tokenizer are not safe to share between threads), so the event loop
stays free to accept and validate requests while a request's texts go through
``nlp.pipe`` in one batch. Limits answer 413, malformed bodies 422 (pydantic), and
an exception inside the model 500 for that request only.
"""
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Union

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StrictInt, StrictStr
import spacy
from spacy.language import Language

from ..bench.env import package_versions, usable_cores
from .local import set_torch_threads
from ..util import scores_key
from .records import doc_record

logger = logging.getLogger("spacy_bert_ner.serve")
HEADS = ("token_classifier", "ner")  # factories whose labels are the entity types
VERSIONED_PACKAGES = ("spacy", "spacy-transformers", "torch", "spacy_bert_ner", "fastapi", "uvicorn")


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for; anything over answers 413 with the limit named."""

    max_texts: int = 256  # texts per request
    max_chars: int = 200_000  # characters per request, all texts together
    max_body_bytes: int = 4_000_000  # Content-Length of the request body

    def check(self) -> None:
        for name, value in asdict(self).items():
            if value < 1:
                raise ValueError(f"{name}: expected >= 1, got {value}")


class EntsRequest(BaseModel):
    """The body of ``POST /ents``; wrong types answer 422 (strict: no number-to-string coercion)."""

    texts: List[StrictStr]
    ids: Optional[List[Union[StrictStr, StrictInt, None]]] = None


def request_problem(body: EntsRequest, limits: ServeLimits) -> Optional[str]:
    """Why a parsed request is over the limits (413), or None."""
    if len(body.texts) > limits.max_texts:
        return f"too many texts: {len(body.texts)} > max_texts {limits.max_texts}; split the request"
    n_chars = sum(len(text) for text in body.texts)
    if n_chars > limits.max_chars:
        return f"too many characters: {n_chars} > max_chars {limits.max_chars}; split the request"
    return None


def annotate_texts(nlp: Language, texts: Sequence[str], ids: Sequence[Any],
                   batch_size: Optional[int] = None) -> List[Dict[str, Any]]:
    """``doc_record`` of each text through ``nlp.pipe``, in order (what ``annotate`` writes).

    Inside ``nlp.memory_zone()``: the strings of a request's texts leave the
    string store with its Docs, so a long-running server does not grow (spaCy#12037).
    """
    key = scores_key(nlp)
    with nlp.memory_zone():
        docs = nlp.pipe(texts, batch_size=batch_size)
        return [doc_record(doc, doc_id, spans_key=key) for doc, doc_id in zip(docs, ids)]


def pipeline_labels(nlp: Language) -> List[str]:
    """The entity types of the pipeline's NER heads (``token_classifier`` / ``ner``), sorted."""
    labels = set()
    for name in nlp.pipe_names:
        if nlp.get_pipe_meta(name).factory in HEADS:
            labels.update(nlp.get_pipe(name).labels)
    return sorted(labels)


def pipeline_meta(nlp: Language, limits: ServeLimits, threads: int) -> Dict[str, Any]:
    """``GET /meta``: the pipeline's name, version, labels and components, versions, limits."""
    meta = nlp.meta
    return {
        "name": f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
        "version": meta.get("version"),
        "spacy_version": meta.get("spacy_version"),
        "labels": pipeline_labels(nlp),
        "components": list(nlp.pipe_names),
        "scores_key": scores_key(nlp),
        "packages": package_versions(VERSIONED_PACKAGES),
        "limits": asdict(limits),
        "torch_threads": threads,
    }


def prepare_model_thread(threads: int, gpu_id: int) -> None:
    """Set up the model thread: torch threads, and thinc's GPU ops (both are per thread)."""
    set_torch_threads(threads)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)


def create_app(nlp: Language, limits: ServeLimits = ServeLimits(), *, threads: Optional[int] = None,
               batch_size: Optional[int] = None, gpu_id: int = -1) -> FastAPI:
    """The FastAPI app serving ``nlp`` (loaded on GPU ``gpu_id`` if >= 0) from one model thread.

    ``threads`` defaults to every usable core: the model thread is the only one
    computing, the event loop thread only parses and answers.
    """
    limits.check()
    threads = threads or usable_cores()
    executor = ThreadPoolExecutor(1, thread_name_prefix="spacy-bert-ner-model",
                                  initializer=prepare_model_thread, initargs=(threads, gpu_id))
    meta = pipeline_meta(nlp, limits, threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="spacy_bert_ner", version=str(meta["version"]), lifespan=lifespan,
                  description=f"Named entities from the {meta['name']} pipeline")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limits.max_body_bytes:
            return JSONResponse(status_code=413, content={
                "detail": f"request body too large: {length} bytes > max_body_bytes {limits.max_body_bytes}"})
        return await call_next(request)

    @app.get("/health")
    async def health() -> Dict[str, str]:
        return {"status": "ok"}

    @app.get("/meta")
    async def get_meta() -> Dict[str, Any]:
        return meta

    @app.post("/ents")
    async def ents(body: EntsRequest) -> JSONResponse:
        problem = request_problem(body, limits)
        if problem:
            raise HTTPException(status_code=413, detail=problem)
        ids = body.ids if body.ids is not None else list(range(len(body.texts)))
        if len(ids) != len(body.texts):
            raise HTTPException(status_code=422, detail=f"ids: expected one per text ({len(body.texts)}), got {len(ids)}")
        loop = asyncio.get_running_loop()
        try:
            docs = await loop.run_in_executor(executor, annotate_texts, nlp, body.texts, ids, batch_size)
        except Exception as err:  # the model failed on this request; the service goes on
            logger.exception("model error on a request of %d texts", len(body.texts))
            raise HTTPException(status_code=500, detail=f"model error: {type(err).__name__}: {err}") from err
        return JSONResponse({"docs": docs})

    return app
