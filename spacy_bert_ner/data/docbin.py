"""Corpus file -> DocBin: the ``convert`` entry point, atomic DocBin writing and corpus counts.

:func:`convert` picks the reader (:mod:`.conll` or :mod:`.gmb`), writes the
Docs with :func:`write_docbin` and returns :class:`ConvertStats`. Kept because
``DocBin.to_disk`` writes in place: a crash there leaves a partial ``.spacy``
file that a later ``spacy train`` reads, so the bytes go through
:func:`spacy_bert_ner.files.write_bytes_atomic` instead.
"""
import codecs
from collections import Counter
from pathlib import Path
from typing import Collection, Dict, Iterable, List, Literal, Optional, Tuple, TypedDict

import spacy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..files import check_output, file_kind, write_bytes_atomic
from .conll import read_conll_scheme
from .errors import PathLike
from .gmb import read_gmb_scheme
from .iob import SchemeReport, TagScheme
from .splits import check_split

CorpusFormat = Literal["conll", "gmb"]
FORMATS = ("conll", "gmb")
# DocBin.to_bytes is zlib-compressed msgpack: 0x78 then one of zlib's level bytes.
DOCBIN_FILE = file_kind("a DocBin (.spacy) file", (".spacy",), (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"))


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
    scheme_reason: str  # why: given, or the evidence ``auto`` found (first line, count)
    split: str  # "all", or the GMB block kept: "train", "dev" or "test" (.splits)


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


def write_docbin(docs: Iterable[Doc], path: PathLike, *, store_user_data: bool = False) -> None:
    """Serialize ``docs`` to ``path`` atomically: all of it or nothing, never a partial file.

    The bytes are built first, written to a temp file next to ``path`` and
    moved into place with ``os.replace``; on any error the temp file is
    removed and an existing file at ``path`` is left as it was. (Whether
    ``path`` may be written at all is the caller's check: :func:`convert`'s.)
    """
    data = DocBin(store_user_data=store_user_data, docs=docs).to_bytes()
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
    force: bool = False,
    labels: Optional[Collection[str]] = None,
    split: str = "all",
) -> ConvertStats:
    """Read a corpus file, write it as a DocBin and return its :func:`corpus_stats`.

    ``limit_docs > 0`` keeps only the first that many Docs (small smoke
    slices). For ``fmt="conll"``, ``encoding=None`` means UTF-8; for
    ``fmt="gmb"`` it means UTF-8 with a Windows-1252 fallback. The result also
    has ``input``, ``output``, ``scheme`` (the scheme the input was read as) and
    ``scheme_reason``. ``labels`` are the entity types allowed (None: the
    format's own, CoNLL-2003's or GMB's). ``split`` (GMB only): ``train``,
    ``dev`` or ``test`` keeps that contiguous block of the 80/10/10 split by
    sentence number (:mod:`.splits`), before ``limit_docs``; ``all`` keeps every sentence.
    Nothing is written when reading fails; ``output_path`` equal to the input,
    or a non-empty file that is not a DocBin (unless ``force``), is refused
    before reading.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if limit_docs < 0:
        raise ValueError(f"limit_docs must be >= 0 (0: all); got {limit_docs}")
    check_split(split)
    if split != "all" and fmt != "gmb":
        raise ValueError(f"split {split!r} applies to fmt='gmb' only (CoNLL-2003 comes as train/dev/test files)")
    if encoding is not None:
        _check_encoding(encoding)
    check_output(output_path, DOCBIN_FILE, inputs=[input_path], force=force)
    vocab = blank_vocab(lang)
    docs, detected = _read(
        input_path, vocab, fmt=fmt, scheme=scheme, n_sents=n_sents, encoding=encoding, labels=labels, split=split
    )
    if limit_docs:
        docs = docs[:limit_docs]
    write_docbin(docs, check_output(output_path, DOCBIN_FILE, inputs=[input_path], force=force))
    return ConvertStats(
        **corpus_stats(docs), input=str(input_path), output=str(output_path),
        scheme=detected.scheme, scheme_reason=detected.reason, split=split,
    )


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; expected a Python codec name such as utf-8, cp1252 or latin-1") from None


def blank_vocab(lang: str) -> Vocab:
    """The vocab of ``spacy.blank(lang)``, or a one-line ValueError for a language spaCy lacks."""
    try:
        return spacy.blank(lang).vocab
    except ImportError:
        raise ValueError(f"unknown spaCy language {lang!r}; expected a code from spacy.lang such as en, de, xx") from None


def _read(
    path: PathLike, vocab: Vocab, *, fmt: CorpusFormat, scheme: TagScheme, n_sents: int, encoding: Optional[str],
    labels: Optional[Collection[str]], split: str,
) -> Tuple[List[Doc], SchemeReport]:
    if fmt == "conll":
        return read_conll_scheme(
            path, vocab, scheme=scheme, n_sents=n_sents, encoding=encoding or "utf-8", labels=labels
        )
    return read_gmb_scheme(
        path, vocab, encoding=encoding, n_sents=n_sents, scheme=scheme, labels=labels, split=split
    )
