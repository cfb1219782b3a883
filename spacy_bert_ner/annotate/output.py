"""The output side of ``annotate``: a streaming JSONL writer that loses nothing and can resume.

Lines are appended to a fixed sibling ``OUTPUT.partial`` (rejected lines to
``OUTPUT.rejected.jsonl.partial``) as they are made; only a finished run
renames them into place, so a crash or Ctrl-C never leaves a half-written
OUTPUT. ``--resume`` validates the partial file line by line, drops its last
incomplete line and continues after the last complete one. The checks are
:mod:`spacy_bert_ner.files`' rules: output equal to the input is refused, and
so is an existing non-empty OUTPUT that is not an annotate output, or a stale
partial file, without ``--force``.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Optional, Tuple

from ..files import OutputKind, check_not_input, check_output
from .inputs import Rejection


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def rejected_path(output: Path) -> Path:
    """Where ``--skip-invalid`` puts bad lines: ``OUTPUT.rejected.jsonl`` (``{"line", "problem", "raw"}``)."""
    return output.with_name(output.name + ".rejected.jsonl")


def _first_line_has(path: Path, keys: Tuple[str, ...]) -> bool:
    """Whether ``path``'s first line is a JSON object with ``keys`` (how annotate knows its own files)."""
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and all(key in record for key in keys)


ANNOTATE_OUTPUT = OutputKind(
    "an annotate output (JSONL records with \"id\" and \"ents\")", folder=False,
    is_own=lambda path: path.is_file() and _first_line_has(path, ("id", "ents")),
)
REJECTED_OUTPUT = OutputKind(
    "annotate's rejected lines (JSONL with \"line\", \"problem\", \"raw\")", folder=False,
    is_own=lambda path: path.is_file() and _first_line_has(path, ("line", "problem", "raw")),
)


def check_paths(input_path: Path, output: Path, *, resume: bool, force: bool) -> None:
    """Refuse output == input, a foreign non-empty output, or a stale partial file, unless told otherwise."""
    partial = partial_path(output)
    for path in (output, partial, rejected_path(output), partial_path(rejected_path(output))):
        check_not_input(path, [input_path])
    check_output(output, ANNOTATE_OUTPUT, force=force)
    check_output(rejected_path(output), REJECTED_OUTPUT, force=force)
    if resume and not partial.exists():
        raise ValueError(f"{partial}: nothing to resume (no partial output from an interrupted run)")
    if not resume and partial.exists() and not force:
        raise ValueError(f"{partial}: a partial output from an interrupted run exists; --resume to continue it or --force to start over")


def complete_lines(partial: Path) -> int:
    """Validate ``partial`` line by line, cut its last incomplete line, return the complete lines.

    A line cut short by a crash has no newline and is dropped; a complete line
    that is not a JSON object with an ``"id"`` means the file is not ours: error.
    """
    count, good_bytes = 0, 0
    with partial.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except ValueError as err:
                raise ValueError(f"{partial}:{count + 1}: not a JSON line ({err}); not written by annotate?") from None
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"{partial}:{count + 1}: expected an annotate record with \"id\"; not written by annotate?")
            count += 1
            good_bytes += len(raw)
    with partial.open("r+b") as handle:
        handle.truncate(good_bytes)
    return count


def partial_ids(partial: Path) -> Iterator[Any]:
    """The ``id`` of each line of a validated partial file, streamed (to check a resume's input)."""
    with partial.open("rb") as handle:
        for raw in handle:
            yield json.loads(raw)["id"]


@dataclass
class Counts:
    """What the run saw: ``read == written + rejected`` once it has finished."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    resumed: int = 0  # lines already in the partial file when --resume started (part of written)
    words: int = 0  # whitespace-separated words in the documents annotated by this run
    seconds: float = 0.0  # the whole run, start-up (pipeline load, Ray start) included
    first_record_seconds: float = 0.0  # from the start to the first record written (start-up, roughly)


class JsonlSink:
    """Appends records to OUTPUT.partial and rejections to their side file; ``finish`` renames both."""

    def __init__(self, output: Path, *, resume: bool) -> None:
        self.output = output
        self.partial = partial_path(output)
        self.rejected_partial = partial_path(rejected_path(output))
        output.parent.mkdir(parents=True, exist_ok=True)
        # Rejections are found again while re-reading the input, so their file restarts.
        self._out: IO[bytes] = self.partial.open("ab" if resume else "wb")
        self._rejected: Optional[IO[bytes]] = None

    def write(self, record: Mapping[str, Any]) -> None:
        self._out.write(json.dumps(record, ensure_ascii=False).encode("utf8") + b"\n")

    def reject(self, rejection: Rejection) -> None:
        if self._rejected is None:
            self._rejected = self.rejected_partial.open("wb")
        line = {"line": rejection.line, "problem": rejection.problem, "raw": rejection.raw}
        self._rejected.write(json.dumps(line, ensure_ascii=False).encode("utf8") + b"\n")

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        for handle in (self._out, self._rejected):
            if handle is not None and not handle.closed:
                handle.close()

    def finish(self) -> Tuple[Path, Optional[Path]]:
        """fsync and rename the partial files into place; returns (output, rejected file or None)."""
        for handle in (self._out, self._rejected):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
        self.close()
        os.replace(self.partial, self.output)
        rejected = rejected_path(self.output)
        if self._rejected is not None:
            os.replace(self.rejected_partial, rejected)
            return self.output, rejected
        self.rejected_partial.unlink(missing_ok=True)  # an interrupted run's, found again had it been current
        if rejected.exists() and REJECTED_OUTPUT.recognises(rejected):
            rejected.unlink()  # an earlier run's, which no longer describes OUTPUT
        return self.output, None
