"""Corpus file -> DocBin: the ``convert`` entry point, atomic DocBin writing and corpus counts.

:func:`convert` picks the reader (:mod:`.conll` or :mod:`.gmb`), writes the
Docs with :func:`write_docbin` and returns :class:`ConvertStats`. Kept because
``DocBin.to_disk`` writes in place: a crash there leaves a partial ``.spacy``
file that a later ``spacy train`` reads, so the bytes go through
:func:`spacy_bert_ner.files.write_bytes_atomic` instead.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Literal, Optional, Tuple, TypedDict

import spacy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..files import write_bytes_atomic
from .conll import read_conll_scheme
from .errors import PathLike
from .gmb import read_gmb_scheme
from .iob import TagScheme

CorpusFormat = Literal["conll", "gmb"]
FORMATS = ("conll", "gmb")


class CorpusStats(TypedDict):
    """Counts of a list of Docs (:func:`corpus_stats`); ``per_type`` is sorted by type."""

    documents: int
    sentences: int
    tokens: int
    entities: int
    per_type: Dict[str, int]


class ConvertStats(CorpusStats):
    """What :func:`convert` returns: the written Docs' counts plus where from, where to, and the scheme read."""

    input: str
    output: str
    scheme: TagScheme  # "iob1" or "iob2": what the input was read as


def corpus_stats(docs: Iterable[Doc]) -> CorpusStats:
    """Counts of documents, sentences, tokens and entities (total and per type, sorted)."""
    n_docs = n_sents = n_tokens = 0
    per_type: "Counter[str]" = Counter()
    for doc in docs:
        n_docs += 1
        n_sents += _count_sentences(doc)
        n_tokens += len(doc)
        per_type.update(ent.label_ for ent in doc.ents)
    return CorpusStats(
        documents=n_docs,
        sentences=n_sents,
        tokens=n_tokens,
        entities=sum(per_type.values()),
        per_type=dict(sorted(per_type.items())),
    )


def _count_sentences(doc: Doc) -> int:
    if not len(doc):
        return 0
    if doc.has_annotation("SENT_START") or doc.has_annotation("DEP"):
        return sum(1 for _ in doc.sents)
    return 1  # no sentence boundaries annotated: the Doc is one unit


def write_docbin(docs: Iterable[Doc], path: PathLike) -> None:
    """Serialize ``docs`` to ``path`` atomically: all of it or nothing, never a partial file.

    The bytes are built first, written to a temp file next to ``path`` and
    moved into place with ``os.replace``; on any error the temp file is
    removed and an existing file at ``path`` is left as it was.
    """
    data = DocBin(store_user_data=False, docs=docs).to_bytes()
    write_bytes_atomic(Path(path), data)


def convert(
    input_path: PathLike,
    output_path: PathLike,
    *,
    fmt: CorpusFormat = "conll",
    scheme: TagScheme = "auto",
    n_sents: int = 0,
    encoding: Optional[str] = None,
    limit_docs: int = 0,
    lang: str = "en",
) -> ConvertStats:
    """Read a corpus file, write it as a DocBin and return its :func:`corpus_stats`.

    ``limit_docs > 0`` keeps only the first that many Docs (small smoke
    slices). For ``fmt="conll"``, ``encoding=None`` means UTF-8; for
    ``fmt="gmb"`` it means UTF-8 with a latin-1 fallback. The result also has
    ``input``, ``output`` and ``scheme`` (the scheme the input was read as).
    Nothing is written when reading fails.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if limit_docs < 0:
        raise ValueError(f"limit_docs must be >= 0 (0: all); got {limit_docs}")
    vocab = spacy.blank(lang).vocab
    docs, detected = _read(input_path, vocab, fmt=fmt, scheme=scheme, n_sents=n_sents, encoding=encoding)
    if limit_docs:
        docs = docs[:limit_docs]
    write_docbin(docs, output_path)
    return ConvertStats(**corpus_stats(docs), input=str(input_path), output=str(output_path), scheme=detected)


def _read(
    path: PathLike, vocab: Vocab, *, fmt: CorpusFormat, scheme: TagScheme, n_sents: int, encoding: Optional[str]
) -> Tuple[List[Doc], TagScheme]:
    if fmt == "conll":
        return read_conll_scheme(path, vocab, scheme=scheme, n_sents=n_sents, encoding=encoding or "utf-8")
    return read_gmb_scheme(path, vocab, encoding=encoding, n_sents=n_sents, scheme=scheme)
