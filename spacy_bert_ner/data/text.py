"""Reading a corpus file as text so that every failure points at a line.

:func:`read_text` decodes a whole file and turns an undecodable byte into a
:class:`CorpusFormatError` at its line and byte column (Python's own
``UnicodeDecodeError`` only gives a byte offset); :func:`line_at` finds a line
again for quoting it in an error, without splitting the file unless one occurs.
"""
from pathlib import Path
from typing import Callable, List

from .errors import CorpusFormatError, PathLike

LineGetter = Callable[[int], str]

_BOM = "\ufeff"


def read_text(path: PathLike, encoding: str) -> str:
    """Read and decode a whole file, dropping a leading BOM; an undecodable byte is a CorpusFormatError."""
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


def line_at(text: str) -> LineGetter:
    """A lazy ``line_no -> line`` lookup for error messages: splits ``text`` on first use only."""
    lines: List[str] = []

    def get(line_no: int) -> str:
        if not lines:
            lines.extend(text.split("\n"))
        return lines[line_no - 1].rstrip("\r") if 0 < line_no <= len(lines) else ""

    return get
