"""The GMB reader: Kaggle's ``ner_dataset.csv`` extract (``Sentence #,Word,POS,Tag``).

Kept because spaCy's converters read CoNLL, IOB and JSON text, not this CSV:
one token per row, a ``Sentence: N`` marker on a sentence's first row (or on
every row in forward-filled copies), words that may hold commas and quotes,
a Windows-1252 original, often kept gzip-compressed, and eight entity types
(a tag cut mid-way, ``B-g``, is not a ninth). Every bad row is a
:class:`CorpusFormatError` naming ``path:line``: a missing or unknown tag, a
marker that is not ``Sentence: N``, a sentence id going backwards. ``split``
keeps one block of the deterministic 80/10/10 split (:mod:`.splits`).
"""
import csv
import io
import re
from typing import Any, Collection, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .errors import CorpusFormatError, PathLike
from .iob import GMB_LABELS, SchemeReport, TagScheme, check_labels, check_scheme, resolve_scheme, tag_problem
from .sentences import Sentence, check_n_sents, groups, make_doc
from .splits import check_split, select_split
from .text import LineGetter, line_at, read_text_first_fit

GMB_HEADER = ["Sentence #", "Word", "POS", "Tag"]
# Tried in order when no encoding is given. Not latin-1: it decodes any byte, but maps
# cp1252's 0x80-0x9f (the original's ’ … and others) to C1 control characters.
GMB_ENCODINGS = ("utf-8", "cp1252")
_MARKER = re.compile(r"Sentence: ?(\d+)")


def read_gmb(
    path: PathLike, vocab: Vocab, *, encoding: Optional[str] = None, n_sents: int = 10,
    labels: Optional[Collection[str]] = None, split: str = "all",
) -> List[Doc]:
    """Read the GMB extract in Kaggle's ``ner_dataset.csv`` layout (``Sentence #,Word,POS,Tag``).

    ``encoding=None`` tries UTF-8, then Windows-1252 (the full original file's
    encoding); a gzip-compressed file is decompressed first. Groups
    ``n_sents`` sentences per Doc (the corpus has no document boundaries);
    ``n_sents == 0`` gives one Doc per sentence. An entity type outside
    ``labels`` (default: GMB's eight, :data:`GMB_LABELS`) is an error at its line.
    ``split``: ``all``, or ``train`` / ``dev`` / ``test``, one contiguous block
    of the sentences in file order (:func:`.splits.split_range`), grouped after
    the cut so no Doc straddles two splits.
    """
    docs, _ = read_gmb_scheme(path, vocab, encoding=encoding, n_sents=n_sents, labels=labels, split=split)
    return docs


def read_gmb_scheme(
    path: PathLike, vocab: Vocab, *, encoding: Optional[str], n_sents: int, scheme: TagScheme = "auto",
    labels: Optional[Collection[str]] = None, split: str = "all",
) -> Tuple[List[Doc], SchemeReport]:
    """:func:`read_gmb`, also returning the scheme the file was read as (``iob1`` or ``iob2``) and why.

    The scheme is decided on the whole file, before ``split`` keeps its block.
    """
    check_scheme(scheme)
    check_n_sents(n_sents)
    check_split(split)
    labels = GMB_LABELS if labels is None else labels
    check_labels(labels)
    text = read_text_first_fit(path, GMB_ENCODINGS if encoding is None else [encoding])
    sentences = _parse_gmb(path, text, frozenset(labels))
    detected = resolve_scheme(path, sentences, scheme, line_at(text))
    kept = select_split(sentences, split)
    docs = [make_doc(vocab, group, with_pos=True) for group in groups(kept, n_sents or 1)]
    return docs, detected


def _parse_gmb(path: PathLike, text: str, labels: Collection[str]) -> List[Sentence]:
    reader = csv.reader(io.StringIO(text, newline=""))
    get_line = line_at(text)
    try:
        return _gmb_sentences(path, reader, get_line, labels)
    except csv.Error as err:
        raise CorpusFormatError(path, reader.line_num, f"bad CSV: {err}", get_line(reader.line_num)) from err


def _gmb_sentences(path: PathLike, reader: Any, get_line: LineGetter, labels: Collection[str]) -> List[Sentence]:
    header = next(reader, None)
    if header is None:
        raise CorpusFormatError(path, 1, "file is empty")
    if header != GMB_HEADER:
        problem = f"expected header {','.join(GMB_HEADER)!r}, got {','.join(header)!r}"
        raise CorpusFormatError(path, reader.line_num, problem, get_line(reader.line_num))
    sentences: List[Sentence] = []
    marker = ""
    seen_tags: Set[str] = {"O"}
    for row in reader:
        line_no = reader.line_num
        if not row:
            continue
        _check_gmb_row(path, line_no, row, bool(sentences), get_line)
        # A new "Sentence: N" starts a sentence; a repeated one (forward-filled files) does not.
        if row[0] and row[0] != marker:
            marker = row[0]
            previous = sentences[-1].number if sentences else 0
            sentences.append(Sentence(number=_sentence_number(path, line_no, row[0], previous, get_line)))
        problem = tag_problem(row[3], seen_tags, labels)
        if problem:
            raise CorpusFormatError(path, line_no, problem, get_line(line_no))
        sentence = sentences[-1]
        sentence.words.append(row[1])
        sentence.pos.append(row[2])
        sentence.ner.append(row[3])
        sentence.lines.append(line_no)
    if not sentences:
        raise CorpusFormatError(path, reader.line_num, "no tokens found (header only)")
    return sentences


def _sentence_number(path: PathLike, line_no: int, marker: str, previous: int, get_line: LineGetter) -> int:
    """N of a ``Sentence: N`` marker, which must be greater than the previous sentence's."""
    found = _MARKER.fullmatch(marker.strip())
    if found is None:
        problem = f"expected 'Sentence: N' in the 'Sentence #' column, got {marker!r}"
        raise CorpusFormatError(path, line_no, problem, get_line(line_no))
    number = int(found.group(1))
    if number <= previous:
        problem = f"sentence id {number} goes backwards (previous sentence: {previous}); expected ids in increasing order"
        raise CorpusFormatError(path, line_no, problem, get_line(line_no))
    return number


def _check_gmb_row(path: PathLike, line_no: int, row: Sequence[str], started: bool, get_line: LineGetter) -> None:
    if len(row) != len(GMB_HEADER):
        problem = f"expected {len(GMB_HEADER)} fields ({', '.join(GMB_HEADER)}), got {len(row)}"
        raise CorpusFormatError(path, line_no, problem, get_line(line_no))
    if not started and not row[0]:
        problem = "first data row has no 'Sentence: N' in the 'Sentence #' column"
        raise CorpusFormatError(path, line_no, problem, get_line(line_no))
    if not row[1]:
        raise CorpusFormatError(path, line_no, "empty word", get_line(line_no))
    if not row[3]:
        raise CorpusFormatError(path, line_no, "missing NER tag in the 'Tag' column", get_line(line_no))
