"""CoNLL-2003 and GMB readers -> spaCy ``Doc`` objects, and atomic DocBin writing.

The readers are pure: they read one file and return Docs with words, POS in
``token.tag_``, sentence starts and IOB2 entities, or raise
:class:`CorpusFormatError` naming ``path:line`` and quoting the bad line. They
never skip or repair data silently; the one conversion they make, IOB1 ->
IOB2, is explicit (``scheme``) and its result is reported by :func:`convert`.

Unlike ``spacy convert -c ner``, ``-DOCSTART-`` lines are document boundaries,
never tokens, so the published CoNLL-2003 counts come out exactly.
"""
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

import spacy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..files import write_bytes_atomic

TagScheme = Literal["auto", "iob1", "iob2"]
CorpusFormat = Literal["conll", "gmb"]

DOCSTART = "-DOCSTART-"
GMB_HEADER = ["Sentence #", "Word", "POS", "Tag"]
CONLL_LAYOUTS = {2: "token NER", 4: "token POS chunk NER"}
TAG_SCHEMES = ("auto", "iob1", "iob2")
FORMATS = ("conll", "gmb")

# CoNLL columns are separated by ASCII whitespace only: str.split() would also
# split on U+00A0, U+2028, U+3000 ... which may occur inside a token.
_ASCII_SPACE = " \t\r\f\v"
_FIELD_SEP = re.compile(f"[{re.escape(_ASCII_SPACE)}]+")
_BOM = "\ufeff"

PathLike = Union[str, Path]
LineGetter = Callable[[int], str]


class CorpusFormatError(ValueError):
    """Bad input file: ``str()`` is ``f"{path}:{line_no}: {problem}: {line!r}"``.

    The ``: {line!r}`` part is left out when ``line`` is None (e.g. an empty
    file). ``line_no`` is 1-based.
    """

    def __init__(self, path: PathLike, line_no: int, problem: str, line: Optional[str] = None) -> None:
        self.path = path
        self.line_no = line_no
        self.problem = problem
        self.line = line
        message = f"{path}:{line_no}: {problem}"
        if line is not None:
            message = f"{message}: {line!r}"
        super().__init__(message)

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keeps the error picklable (e.g. across multiprocessing) despite the custom __init__.
        return (type(self), (self.path, self.line_no, self.problem, self.line))


@dataclass
class _Sentence:
    """One sentence as read: parallel lists, plus each token's 1-based line number."""

    words: List[str] = field(default_factory=list)
    pos: List[str] = field(default_factory=list)
    ner: List[str] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Tag schemes


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """Convert one sentence's IOB1 tags (``O``, ``B-X``, ``I-X``) to IOB2.

    In IOB1 an entity starts with ``I-X``; ``B-X`` only marks the start of an
    entity that directly follows another of the same type. An ``I-X`` that does
    not continue a ``B-X``/``I-X`` of the same type therefore becomes ``B-X``.
    IOB2 input comes back unchanged.
    """
    converted: List[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and not _continues(previous, tag):
            converted.append("B-" + tag[2:])
        else:
            converted.append(tag)
        previous = tag
    return converted


def _continues(previous: str, tag: str) -> bool:
    """Whether ``tag`` (an ``I-X``) continues an entity ended by ``previous``."""
    return previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]


def _first_iob1_start(tags: Sequence[str]) -> Optional[int]:
    """Index of the first ``I-X`` that starts an entity (IOB1 evidence), or None."""
    previous = "O"
    for index, tag in enumerate(tags):
        if tag.startswith("I-") and not _continues(previous, tag):
            return index
        previous = tag
    return None


def _is_valid_tag(tag: str) -> bool:
    return tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-"))


def _tag_problem(tag: str, seen: Set[str]) -> Optional[str]:
    """What is wrong with ``tag`` (None if it is O, B-TYPE or I-TYPE); ``seen`` caches valid tags."""
    if tag in seen:
        return None
    if not _is_valid_tag(tag):
        return f"invalid NER tag {tag!r}; expected O, B-TYPE or I-TYPE"
    seen.add(tag)
    return None


def _resolve_scheme(
    path: PathLike, sentences: Sequence[_Sentence], scheme: TagScheme, line_at: LineGetter
) -> TagScheme:
    """Bring every sentence's tags to IOB2 in place; return the scheme the file was read as.

    ``auto`` reads a file as IOB1 as soon as one ``I-X`` starts an entity.
    Converting IOB2 data with :func:`iob1_to_iob2` is a no-op, so ``auto`` and
    ``iob1`` can both simply convert.
    """
    _check_scheme(scheme)
    if scheme == "iob2":
        for sentence in sentences:
            _check_iob2(path, sentence, line_at)
        return "iob2"
    found_iob1 = False
    for sentence in sentences:
        if _first_iob1_start(sentence.ner) is not None:
            sentence.ner = iob1_to_iob2(sentence.ner)
            found_iob1 = True
    if scheme == "iob1":
        return "iob1"
    return "iob1" if found_iob1 else "iob2"


def _check_iob2(path: PathLike, sentence: _Sentence, line_at: LineGetter) -> None:
    index = _first_iob1_start(sentence.ner)
    if index is None:
        return
    tag = sentence.ner[index]
    after = f"follows {sentence.ner[index - 1]}" if index else "starts a sentence"
    line_no = sentence.lines[index]
    problem = f"{tag} {after}; this is IOB1, pass scheme='iob1' or 'auto'"
    raise CorpusFormatError(path, line_no, problem, line_at(line_no))


def _check_scheme(scheme: str) -> None:
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(TAG_SCHEMES)}; got {scheme!r}")


# ---------------------------------------------------------------------------
# Reading text


def _read_text(path: PathLike, encoding: str) -> str:
    """Read and decode a whole file; an undecodable byte is a CorpusFormatError at its line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise _decode_error(path, data, err, encoding) from err
    return text[1:] if text.startswith(_BOM) else text


def _decode_error(path: PathLike, data: bytes, err: UnicodeDecodeError, encoding: str) -> CorpusFormatError:
    """Locate a decoding failure by its byte offset: line, 1-based byte column, the line itself."""
    offset = err.start
    line_no = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    line_end = data.find(b"\n", offset)
    raw = data[line_start : len(data) if line_end < 0 else line_end].rstrip(b"\r")
    line = raw.decode(encoding, errors="backslashreplace")
    problem = (
        f"cannot decode as {encoding} (byte 0x{data[offset]:02x} at column {offset - line_start + 1}); "
        "re-encode the file or pass its real encoding"
    )
    return CorpusFormatError(path, line_no, problem, line)


def _line_at(text: str) -> LineGetter:
    """A lazy ``line_no -> line`` lookup for error messages: splits ``text`` on first use only."""
    lines: List[str] = []

    def get(line_no: int) -> str:
        if not lines:
            lines.extend(text.split("\n"))
        return lines[line_no - 1].rstrip("\r") if 0 < line_no <= len(lines) else ""

    return get


# ---------------------------------------------------------------------------
# CoNLL-2003


def read_conll(path: PathLike, vocab: Vocab, *, scheme: TagScheme = "auto", n_sents: int = 0) -> List[Doc]:
    """Read a CoNLL-2003 file (4 columns ``token POS chunk NER`` or 2 columns ``token NER``).

    One Doc per ``-DOCSTART-`` document; ``n_sents > 0`` instead groups that
    many sentences per Doc, never across a document boundary. A file without
    ``-DOCSTART-`` lines gives one Doc per sentence when ``n_sents == 0``.
    Entities are IOB2 in the Doc whatever the file's ``scheme``.
    """
    docs, _ = _read_conll(path, vocab, scheme=scheme, n_sents=n_sents)
    return docs


def _read_conll(
    path: PathLike, vocab: Vocab, *, scheme: TagScheme, n_sents: int, encoding: str = "utf-8"
) -> Tuple[List[Doc], TagScheme]:
    _check_scheme(scheme)
    _check_n_sents(n_sents)
    text = _read_text(path, encoding)
    lines = text.split("\n")
    parsed = _parse_conll(path, lines)
    sentences = [sentence for document in parsed.documents for sentence in document]
    detected = _resolve_scheme(path, sentences, scheme, lambda n: lines[n - 1].rstrip("\r"))
    group_size = n_sents or (0 if parsed.has_docstart else 1)
    docs = [
        _make_doc(vocab, group, with_pos=parsed.n_columns == 4)
        for document in parsed.documents
        for group in _groups(document, group_size)
    ]
    return docs, detected


def _split_fields(line: str) -> List[str]:
    stripped = line.strip(_ASCII_SPACE)
    return _FIELD_SEP.split(stripped) if stripped else []


class _ConllFile(NamedTuple):
    documents: List[List[_Sentence]]  # non-empty documents of non-empty sentences
    n_columns: int
    has_docstart: bool


def _parse_conll(path: PathLike, lines: Sequence[str]) -> _ConllFile:
    """Split lines into documents of sentences, checking columns, tags and -DOCSTART- placement."""
    documents: List[List[_Sentence]] = [[]]
    sentence = _Sentence()
    n_columns = 0
    has_docstart = False
    seen_tags: Set[str] = {"O"}
    for line_no, line in enumerate(lines, 1):
        fields = _split_fields(line)
        if not fields:
            sentence = _close_sentence(documents[-1], sentence)
            continue
        n_columns = _check_columns(path, line_no, line, fields, n_columns)
        if fields[0] == DOCSTART:
            if sentence.words:
                problem = f"{DOCSTART} inside a sentence; expected a blank line before it"
                raise CorpusFormatError(path, line_no, problem, line.rstrip("\r"))
            has_docstart = True
            if documents[-1]:
                documents.append([])
            continue
        problem = _tag_problem(fields[-1], seen_tags)
        if problem:
            raise CorpusFormatError(path, line_no, problem, line.rstrip("\r"))
        sentence.words.append(fields[0])
        sentence.pos.append(fields[1])  # the NER tag in 2-column files; not used there
        sentence.ner.append(fields[-1])
        sentence.lines.append(line_no)
    _close_sentence(documents[-1], sentence)
    documents = [document for document in documents if document]
    if not documents:
        problem = "file is empty" if not n_columns else f"no tokens found (only {DOCSTART} lines)"
        raise CorpusFormatError(path, 1, problem)
    return _ConllFile(documents, n_columns, has_docstart)


def _close_sentence(document: List[_Sentence], sentence: _Sentence) -> _Sentence:
    """Append ``sentence`` to ``document`` if it has tokens; return a fresh sentence to fill."""
    if not sentence.words:
        return sentence
    document.append(sentence)
    return _Sentence()


def _check_columns(path: PathLike, line_no: int, line: str, fields: Sequence[str], n_columns: int) -> int:
    """Return the file's column count, fixed by its first non-blank line."""
    got = len(fields)
    if n_columns == 0:
        if got not in CONLL_LAYOUTS:
            layouts = " or ".join(f"{n} columns ({layout})" for n, layout in CONLL_LAYOUTS.items())
            raise CorpusFormatError(path, line_no, f"expected {layouts}, got {got}", line.rstrip("\r"))
        return got
    if got != n_columns:
        problem = f"expected {n_columns} columns ({CONLL_LAYOUTS[n_columns]}), got {got}"
        raise CorpusFormatError(path, line_no, problem, line.rstrip("\r"))
    return n_columns


# ---------------------------------------------------------------------------
# GMB (Kaggle ner_dataset.csv)


def read_gmb(path: PathLike, vocab: Vocab, *, encoding: Optional[str] = None, n_sents: int = 10) -> List[Doc]:
    """Read the GMB extract in Kaggle's ``ner_dataset.csv`` layout (``Sentence #,Word,POS,Tag``).

    ``encoding=None`` tries UTF-8 and falls back to latin-1 (the full original
    file is latin-1). Groups ``n_sents`` sentences per Doc (the corpus has no
    document boundaries); ``n_sents == 0`` gives one Doc per sentence.
    """
    docs, _ = _read_gmb(path, vocab, encoding=encoding, n_sents=n_sents)
    return docs


def _read_gmb(
    path: PathLike, vocab: Vocab, *, encoding: Optional[str], n_sents: int, scheme: TagScheme = "auto"
) -> Tuple[List[Doc], TagScheme]:
    _check_scheme(scheme)
    _check_n_sents(n_sents)
    text = _read_gmb_text(path, encoding)
    sentences = _parse_gmb(path, text)
    detected = _resolve_scheme(path, sentences, scheme, _line_at(text))
    docs = [_make_doc(vocab, group, with_pos=True) for group in _groups(sentences, n_sents or 1)]
    return docs, detected


def _read_gmb_text(path: PathLike, encoding: Optional[str]) -> str:
    if encoding is not None:
        return _read_text(path, encoding)
    try:
        return _read_text(path, "utf-8")
    except CorpusFormatError:
        return _read_text(path, "latin-1")  # decodes any byte sequence


def _parse_gmb(path: PathLike, text: str) -> List[_Sentence]:
    reader = csv.reader(io.StringIO(text, newline=""))
    line_at = _line_at(text)
    try:
        return _gmb_sentences(path, reader, line_at)
    except csv.Error as err:
        raise CorpusFormatError(path, reader.line_num, f"bad CSV: {err}", line_at(reader.line_num)) from err


def _gmb_sentences(path: PathLike, reader: Any, line_at: LineGetter) -> List[_Sentence]:
    header = next(reader, None)
    if header is None:
        raise CorpusFormatError(path, 1, "file is empty")
    if header != GMB_HEADER:
        problem = f"expected header {','.join(GMB_HEADER)!r}, got {','.join(header)!r}"
        raise CorpusFormatError(path, reader.line_num, problem, line_at(reader.line_num))
    sentences: List[_Sentence] = []
    marker = ""
    seen_tags: Set[str] = {"O"}
    for row in reader:
        line_no = reader.line_num
        if not row:
            continue
        _check_gmb_row(path, line_no, row, bool(sentences), line_at)
        # A new "Sentence: N" starts a sentence; a repeated one (forward-filled files) does not.
        if row[0] and row[0] != marker:
            marker = row[0]
            sentences.append(_Sentence())
        problem = _tag_problem(row[3], seen_tags)
        if problem:
            raise CorpusFormatError(path, line_no, problem, line_at(line_no))
        sentence = sentences[-1]
        sentence.words.append(row[1])
        sentence.pos.append(row[2])
        sentence.ner.append(row[3])
        sentence.lines.append(line_no)
    if not sentences:
        raise CorpusFormatError(path, reader.line_num, "no tokens found (header only)")
    return sentences


def _check_gmb_row(path: PathLike, line_no: int, row: Sequence[str], started: bool, line_at: LineGetter) -> None:
    if len(row) != len(GMB_HEADER):
        problem = f"expected {len(GMB_HEADER)} fields ({', '.join(GMB_HEADER)}), got {len(row)}"
        raise CorpusFormatError(path, line_no, problem, line_at(line_no))
    if not started and not row[0]:
        problem = "first data row has no 'Sentence: N' in the 'Sentence #' column"
        raise CorpusFormatError(path, line_no, problem, line_at(line_no))
    if not row[1]:
        raise CorpusFormatError(path, line_no, "empty word", line_at(line_no))


# ---------------------------------------------------------------------------
# Docs


def _check_n_sents(n_sents: int) -> None:
    if n_sents < 0:
        raise ValueError(f"n_sents must be >= 0 (0: natural grouping); got {n_sents}")


def _groups(sentences: Sequence[_Sentence], size: int) -> Iterator[Sequence[_Sentence]]:
    """Consecutive groups of ``size`` sentences; ``size == 0`` means all in one group."""
    if size <= 0:
        yield sentences
        return
    for start in range(0, len(sentences), size):
        yield sentences[start : start + size]


def _make_doc(vocab: Vocab, sentences: Sequence[_Sentence], *, with_pos: bool) -> Doc:
    """One Doc from whole sentences: single spaces between tokens, sentence starts, IOB2 ents."""
    words: List[str] = []
    sent_starts: List[bool] = []
    ner: List[str] = []
    pos: List[str] = []
    for sentence in sentences:
        words.extend(sentence.words)
        sent_starts.append(True)
        sent_starts.extend([False] * (len(sentence.words) - 1))
        ner.extend(sentence.ner)
        pos.extend(sentence.pos)
    spaces = [True] * len(words)
    spaces[-1] = False
    tags = pos if with_pos else None
    return Doc(vocab, words=words, spaces=spaces, tags=tags, sent_starts=sent_starts, ents=ner)


def corpus_stats(docs: Iterable[Doc]) -> Dict[str, Any]:
    """Counts of documents, sentences, tokens and entities (total and per type, sorted)."""
    n_docs = n_sents = n_tokens = 0
    per_type: "Counter[str]" = Counter()
    for doc in docs:
        n_docs += 1
        n_sents += _count_sentences(doc)
        n_tokens += len(doc)
        per_type.update(ent.label_ for ent in doc.ents)
    return {
        "documents": n_docs,
        "sentences": n_sents,
        "tokens": n_tokens,
        "entities": sum(per_type.values()),
        "per_type": dict(sorted(per_type.items())),
    }


def _count_sentences(doc: Doc) -> int:
    if not len(doc):
        return 0
    if doc.has_annotation("SENT_START") or doc.has_annotation("DEP"):
        return sum(1 for _ in doc.sents)
    return 1  # no sentence boundaries annotated: the Doc is one unit


# ---------------------------------------------------------------------------
# Writing


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
) -> Dict[str, Any]:
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
    if fmt == "conll":
        docs, detected = _read_conll(input_path, vocab, scheme=scheme, n_sents=n_sents, encoding=encoding or "utf-8")
    else:
        docs, detected = _read_gmb(input_path, vocab, encoding=encoding, n_sents=n_sents, scheme=scheme)
    if limit_docs:
        docs = docs[:limit_docs]
    write_docbin(docs, output_path)
    stats = corpus_stats(docs)
    stats.update(input=str(input_path), output=str(output_path), scheme=detected)
    return stats
