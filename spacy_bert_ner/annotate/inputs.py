"""Reading what ``annotate`` runs on: JSONL, plain text or a DocBin, streamed one document at a time.

Every input document becomes an :class:`InputDoc` (its 1-based line or index,
id, text and the fields to carry through) or, for a bad line, a
:class:`Rejection` naming the line and the problem; nothing is skipped
silently and nothing is held in memory beyond the current document.
"""
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Union

INPUT_SUFFIXES = (".jsonl", ".txt", ".spacy")


@dataclass
class InputDoc:
    """One document to annotate; ``line`` is its 1-based line (``.spacy``: 1-based position)."""

    line: int
    id: Any
    text: str
    carried: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Rejection:
    """A bad input line: where it is, what is wrong, and the line as read."""

    line: int
    problem: str
    raw: str


InputItem = Union[InputDoc, Rejection]


class InvalidInput(ValueError):
    """A bad input line when invalid lines stop the run: ``INPUT:line: problem``."""


def input_format(path: Path) -> str:
    """``"jsonl"``, ``"txt"`` or ``"spacy"`` from the file name; anything else is refused."""
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise ValueError(f"{path}: expected a {', '.join(INPUT_SUFFIXES)} file, got {suffix or 'no suffix'!r}")
    return suffix[1:]


def check_input(path: Path) -> str:
    """The format of an existing input file (checked before anything is written)."""
    fmt = input_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: input file not found")
    return fmt


def read_items(path: Union[str, Path]) -> Iterator[InputItem]:
    """The documents of ``path`` in order, bad lines as :class:`Rejection` (never raised here)."""
    path = Path(path)
    if check_input(path) == "spacy":
        yield from _read_docbin(path)
    else:
        jsonl = path.suffix.lower() == ".jsonl"
        with path.open("rb") as handle:  # lines end at b"\n" only, as count_documents counts them
            for lineno, raw in enumerate(handle, 1):
                try:
                    line = raw.decode("utf8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    yield Rejection(lineno, f"not UTF-8 (byte {err.start + 1}: {raw[err.start:err.start + 1]!r})", raw.decode("utf8", "replace").rstrip("\r\n"))
                    continue
                yield _parse_jsonl(lineno, line) if jsonl else InputDoc(lineno, lineno, line)


def read_docs(path: Union[str, Path]) -> Iterator[InputDoc]:
    """The documents of ``path``; the first bad line raises :class:`InvalidInput`."""
    for item in read_items(path):
        if isinstance(item, Rejection):
            raise InvalidInput(f"{path}:{item.line}: {item.problem}")
        yield item


def count_documents(path: Union[str, Path]) -> int:
    """How many documents (good or bad) ``path`` holds: lines, or the DocBin's docs (for the ETA)."""
    path = Path(path)
    if input_format(path) == "spacy":
        return len(load_docbin(path))
    with path.open("rb") as handle:
        count, last = 0, b"\n"
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _parse_jsonl(lineno: int, line: str) -> InputItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return Rejection(lineno, f"invalid JSON ({err.msg} at column {err.colno})", line)
    if not isinstance(obj, dict):
        return Rejection(lineno, f"expected a JSON object with \"text\", got {type(obj).__name__}", line)
    if "text" not in obj:
        return Rejection(lineno, "no \"text\" field", line)
    text = obj.pop("text")
    if not isinstance(text, str):
        return Rejection(lineno, f"\"text\" must be a string, got {type(text).__name__}", line)
    return InputDoc(lineno, obj.pop("id", lineno), text, obj)


def load_docbin(path: Path) -> Any:
    """The DocBin at ``path`` (read whole: the format is not streamable), or a one-line error."""
    from spacy.tokens import DocBin

    try:
        return DocBin().from_disk(path)
    except (ValueError, TypeError, KeyError, zlib.error) as err:
        raise InvalidInput(f"{path}: not a spaCy DocBin ({type(err).__name__}: {err})") from None


def _read_docbin(path: Path) -> Iterator[InputDoc]:
    """A DocBin's texts; id = 0-based index, line = index + 1 (DocBins hold no ids)."""
    import spacy

    vocab = spacy.blank("xx").vocab
    for index, doc in enumerate(load_docbin(path).get_docs(vocab)):
        yield InputDoc(index + 1, index, doc.text)
