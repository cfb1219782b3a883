"""Reading a corpus file as text so that every failure points at a line.

:func:`read_text` decodes a whole file and turns an undecodable byte into a
:class:`CorpusFormatError` at its line and byte column (Python's own
``UnicodeDecodeError`` only gives a byte offset); :func:`line_at` finds a line
again for quoting it in an error, without splitting the file unless one occurs.
A gzip-compressed file (found by its magic bytes, whatever its name) is
decompressed first; line numbers then count lines of the decompressed text.
"""
import gzip
import zlib
from pathlib import Path
from typing import Callable, List, Sequence

from .errors import CorpusFormatError, PathLike

LineGetter = Callable[[int], str]

_BOM = "\ufeff"
_GZIP_MAGIC = b"\x1f\x8b"


def read_text(path: PathLike, encoding: str) -> str:
    """Read and decode a whole file, dropping a leading BOM; an undecodable byte is a CorpusFormatError."""
    return read_text_first_fit(path, [encoding])


def read_text_first_fit(path: PathLike, encodings: Sequence[str]) -> str:
    """:func:`read_text` with the first of ``encodings`` that decodes the whole file.

    The error, if none fits, is the last encoding's.
    """
    data = read_bytes(path)
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            if encoding == encodings[-1]:
                raise _decode_error(path, data, err, encoding) from err
            continue
        return text[1:] if text.startswith(_BOM) else text
    raise ValueError("no encoding given")


def read_bytes(path: PathLike) -> bytes:
    """A file's bytes, gzip-decompressed when it starts with gzip's magic bytes."""
    data = Path(path).read_bytes()
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise CorpusFormatError(path, 1, f"gzip-compressed but cannot be decompressed ({err}); the file may be cut short") from err


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
