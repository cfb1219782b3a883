"""Writing outputs safely: a temporary sibling, fsync, then an atomic rename into place.

One home for every command that writes a file, so a crash or Ctrl-C never leaves
a half-written output at the final path.
"""
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Union


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync, then ``os.replace`` it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 honours the umask, unlike tempfile's 0o600.
        with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Union[str, Path], data: Any) -> None:
    """Write ``data`` as JSON next to ``path`` in a temp file, then ``os.replace`` it in."""
    text = json.dumps(data, indent=2) + "\n"  # fails before anything is written
    write_bytes_atomic(path, text.encode("utf8"))


def sha256_of(path: Union[str, Path]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (data provenance in result JSON)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
