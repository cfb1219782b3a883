"""The CoNLL-2003 reader: 4 columns ``token POS chunk NER`` or 2 columns ``token NER``.

Kept because spaCy's ``spacy convert -c ner`` splits documents only on the exact
line ``-DOCSTART- -X- O O``, so CoNLL-2003's ``-DOCSTART- -X- -X- O`` lines
become tokens (946 in train), and it neither checks columns and tags nor reports
the tag scheme. Here ``-DOCSTART-`` lines are document boundaries, never tokens,
so the published counts come out exactly, and every bad line is a
:class:`CorpusFormatError` naming ``path:line``.
"""
import re
from typing import Collection, List, NamedTuple, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .errors import CorpusFormatError, PathLike
from .iob import CONLL_LABELS, SchemeReport, TagScheme, check_labels, check_scheme, resolve_scheme, tag_problem
from .sentences import Sentence, check_n_sents, groups, make_doc
from .text import read_text

DOCSTART = "-DOCSTART-"
CONLL_LAYOUTS = {2: "token NER", 4: "token POS chunk NER"}

# CoNLL columns are separated by ASCII whitespace only: str.split() would also
# split on U+00A0, U+2028, U+3000 ... which may occur inside a token.
_ASCII_SPACE = " \t\r\f\v"
_FIELD_SEP = re.compile(f"[{re.escape(_ASCII_SPACE)}]+")


class _ConllFile(NamedTuple):
    documents: List[List[Sentence]]  # non-empty documents of non-empty sentences
    n_columns: int
    has_docstart: bool


def read_conll(
    path: PathLike, vocab: Vocab, *, scheme: TagScheme = "auto", n_sents: int = 0,
    labels: Optional[Collection[str]] = None,
) -> List[Doc]:
    """Read a CoNLL-2003 file (4 columns ``token POS chunk NER`` or 2 columns ``token NER``).

    One Doc per ``-DOCSTART-`` document; ``n_sents > 0`` instead groups that
    many sentences per Doc, never across a document boundary. A file without
    ``-DOCSTART-`` lines gives one Doc per sentence when ``n_sents == 0``.
    Entities are IOB2 in the Doc whatever the file's ``scheme``. An entity
    type outside ``labels`` (default: CoNLL-2003's :data:`CONLL_LABELS`) is an
    error at its line.
    """
    docs, _ = read_conll_scheme(path, vocab, scheme=scheme, n_sents=n_sents, labels=labels)
    return docs


def read_conll_scheme(
    path: PathLike, vocab: Vocab, *, scheme: TagScheme, n_sents: int, encoding: str = "utf-8",
    labels: Optional[Collection[str]] = None,
) -> Tuple[List[Doc], SchemeReport]:
    """:func:`read_conll`, also returning the scheme the file was read as (``iob1`` or ``iob2``) and why."""
    check_scheme(scheme)
    check_n_sents(n_sents)
    labels = CONLL_LABELS if labels is None else labels
    check_labels(labels)
    lines = read_text(path, encoding).split("\n")
    parsed = _parse_conll(path, lines, frozenset(labels))
    sentences = [sentence for document in parsed.documents for sentence in document]
    detected = resolve_scheme(path, sentences, scheme, lambda n: lines[n - 1].rstrip("\r"))
    group_size = n_sents or (0 if parsed.has_docstart else 1)
    docs = [
        make_doc(vocab, group, with_pos=parsed.n_columns == 4)
        for document in parsed.documents
        for group in groups(document, group_size)
    ]
    return docs, detected


def _split_fields(line: str) -> List[str]:
    stripped = line.strip(_ASCII_SPACE)
    return _FIELD_SEP.split(stripped) if stripped else []


def _parse_conll(path: PathLike, lines: Sequence[str], labels: Collection[str]) -> _ConllFile:
    """Split lines into documents of sentences, checking columns, tags and -DOCSTART- placement."""
    documents: List[List[Sentence]] = [[]]
    sentence = Sentence()
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
        problem = tag_problem(fields[-1], seen_tags, labels)
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


def _close_sentence(document: List[Sentence], sentence: Sentence) -> Sentence:
    """Append ``sentence`` to ``document`` if it has tokens; return a fresh sentence to fill."""
    if not sentence.words:
        return sentence
    document.append(sentence)
    return Sentence()


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
