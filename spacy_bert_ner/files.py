"""Writing outputs safely: the one home for every command that writes a file or a folder.

The rule (docs: never destroy a user's files): an output is built in a new
temporary sibling, checked, then moved into place; an output equal to an input
(or a folder inside one) is refused; an existing non-empty output that is not
the command's own kind (:class:`OutputKind`) is refused unless ``force``; and
then only what the command writes is replaced: files of the user's beside it
stay, and only the command's own stale entries (say, an old pipeline's
component folders) are removed. :func:`write_file` does this for one file,
:func:`folder_output` for a folder. Temporary names are ``.{name}.tmp-{pid}-{hex}``
(and ``.{name}.old-{pid}-{hex}`` for replaced entries on their way out); a run
removes those of dead processes beside its output, so a killed run leaves
nothing for long. Single files are written into an unnamed ``O_TMPFILE`` inode
where Linux allows it: killed mid-write, nothing at all remains.
"""
import ctypes
import fnmatch
import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Set, Tuple, Union

PathLike = Union[str, Path]
TEMP_TAG = "tmp"  # .{name}.tmp-{pid}-{hex}: a temporary sibling being written
OLD_TAG = "old"  # .{name}.old-{pid}-{hex}: replaced entries on their way out
_AT_EMPTY_PATH = 0x1000
_AT_FDCWD = -100


class OutputError(ValueError):
    """An output path refused: it is an input, or a foreign non-empty output without ``force``."""


@dataclass(frozen=True)
class OutputKind:
    """How a command recognises its own output, and which entries of a folder are its own.

    description: what the output is, for messages ("a spaCy pipeline folder ...").
    folder: a folder (True) or a single file.
    markers: files a folder of this kind always has; installed last, so a folder
        caught half-replaced is not mistaken for a whole one; with no ``is_own``,
        a folder holding all of them is of this kind.
    patterns: ``fnmatch`` patterns of the entries the command writes in a folder.
    is_own: a custom test of an existing path (file kinds: suffix and magic bytes).
    extra_owned: names an existing folder says it holds (a pipeline's components).
    """

    description: str
    folder: bool = True
    markers: Tuple[str, ...] = ()
    patterns: Tuple[str, ...] = ()
    is_own: Optional[Callable[[Path], bool]] = None
    extra_owned: Optional[Callable[[Path], Iterable[str]]] = None

    def recognises(self, path: Path) -> bool:
        """Whether the existing ``path`` holds this kind of output."""
        if self.is_own is not None:
            return self.is_own(path)
        return bool(self.markers) and all((path / name).is_file() for name in self.markers)

    def owned(self, folder: Path) -> Set[str]:
        """Entries of an existing ``folder`` that this kind of command writes."""
        names = {p.name for p in folder.iterdir() if any(fnmatch.fnmatchcase(p.name, pat) for pat in self.patterns)}
        if self.extra_owned is not None:
            names |= {name for name in self.extra_owned(folder) if _plain_name(name) and (folder / name).exists()}
        return names


def file_kind(description: str, suffixes: Sequence[str], magic: Sequence[bytes]) -> OutputKind:
    """A single-file kind recognised by its suffix and the first bytes of its content."""

    def is_own(path: Path) -> bool:
        if path.suffix.lower() not in suffixes or not path.is_file():
            return False
        with open(path, "rb") as handle:
            head = handle.read(8)
        return any(head.startswith(m) for m in magic)

    return OutputKind(description, folder=False, is_own=is_own)


JSON_FILE = file_kind("a JSON file", (".json",), (b"{",))


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and Path(name).name == name


def check_not_input(
    output: PathLike, inputs: Iterable[Optional[PathLike]], *, may_contain: bool = False,
    kind: Optional[OutputKind] = None,
) -> None:
    """Refuse ``output`` equal to an input or inside an input folder (or containing one, unless ``may_contain``)."""
    out = Path(output).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if out == source:
            what = f", not {kind.description} to replace" if kind is not None else ""
            raise OutputError(f"{output}: is the input {given}{what}; expected an output path of its own")
        if source in out.parents:
            raise OutputError(f"{output}: lies inside the input {given}; expected an output outside it")
        if not may_contain and out in source.parents:
            raise OutputError(f"{output}: holds the input {given}; expected an output folder that holds no input")


def check_report_output(
    folder: PathLike, names: Iterable[str], inputs: Iterable[Optional[PathLike]]
) -> None:
    """For commands that add named report files to a folder (and never delete): refuse a
    ``folder`` equal to or inside an input, and a file name of ``names`` that is an input."""
    inputs = list(inputs)
    check_not_input(folder, inputs, may_contain=True)
    for name in names:
        check_not_input(Path(folder) / name, inputs, may_contain=True)


def check_output(
    output: PathLike, kind: OutputKind, *, inputs: Iterable[Optional[PathLike]] = (), force: bool = False
) -> Path:
    """``output`` as a Path if the command may write it, else :class:`OutputError` saying why."""
    output = Path(output)
    check_not_input(output, inputs, kind=kind)
    if output.exists():
        if kind.folder != output.is_dir():
            expected = "a folder" if kind.folder else "a file"
            raise OutputError(f"{output}: exists and is not {expected}; expected {kind.description}")
        empty = not any(output.iterdir()) if kind.folder else output.stat().st_size == 0
        if not empty and not force and not kind.recognises(output):
            raise OutputError(
                f"{output}: exists and is not {kind.description}; choose a new path, or pass --force "
                "to write into it anyway (only what this command writes is replaced)"
            )
    return output


def write_file(
    path: PathLike, data: bytes, kind: OutputKind, *, inputs: Iterable[Optional[PathLike]] = (), force: bool = False
) -> Path:
    """:func:`check_output`, then :func:`write_bytes_atomic`."""
    return write_bytes_atomic(check_output(path, kind, inputs=inputs, force=force), data)


@contextmanager
def folder_output(
    output: PathLike, kind: OutputKind, *, inputs: Iterable[Optional[PathLike]] = (), force: bool = False
) -> Iterator[Path]:
    """Yield a new temporary sibling folder to write ``output`` into; put it in place on success.

    Checked first (:func:`check_output`). On an error inside the block the
    temporary folder (made here) is removed and ``output`` is untouched. A new or
    empty ``output`` is replaced by one rename; an existing one gets each new
    entry by rename (files atomically, folders swapped), the kind's stale
    entries removed, its markers last; other entries are never touched.
    """
    output = check_output(output, kind, inputs=inputs, force=force)
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(output)
    temp = _temp_path(output, TEMP_TAG)
    temp.mkdir()
    try:
        yield temp
        _install(temp, output, kind)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _install(temp: Path, output: Path, kind: OutputKind) -> None:
    """Move the finished ``temp`` folder's entries into ``output`` (see :func:`folder_output`)."""
    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        if output.exists():
            output.rmdir()  # empty: nothing of the user's is lost, and one rename puts the whole output in place
        temp.rename(output)
        return
    new = {p.name for p in temp.iterdir()}
    stale = kind.owned(output) - new
    order = sorted(new, key=lambda name: (name in kind.markers, name))
    trash = _temp_path(output, OLD_TAG)
    trash.mkdir()
    for name in [n for n in order if n not in kind.markers]:
        _move_in(temp / name, output / name, trash)
    for name in sorted(stale):
        (output / name).rename(trash / name)
    for name in [n for n in order if n in kind.markers]:
        _move_in(temp / name, output / name, trash)
    shutil.rmtree(trash)
    temp.rmdir()


def _move_in(source: Path, target: Path, trash: Path) -> None:
    """Put ``source`` at ``target``: a file by one atomic ``os.replace``, anything else via ``trash``."""
    if target.is_dir() or source.is_dir() or target.is_symlink():
        if target.exists() or target.is_symlink():
            target.rename(trash / target.name)
        source.rename(target)
    else:
        os.replace(source, target)


def _temp_path(output: Path, tag: str) -> Path:
    return output.with_name(f".{output.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def remove_dead_temps(output: PathLike) -> None:
    """Remove ``output``'s temporary siblings left by processes that no longer run (a kill, a crash)."""
    output = Path(output)
    if not output.parent.is_dir():
        return
    for tag in (TEMP_TAG, OLD_TAG):
        for path in output.parent.glob(f".{output.name}.{tag}-*"):
            pid = path.name[len(f".{output.name}.{tag}-"):].split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` beside ``path``, fsync, then ``os.replace`` it in: the old file or the new one, whole.

    Where Linux has ``O_TMPFILE`` the bytes go to an unnamed inode that only gets
    its temporary name once complete (a kill mid-write leaves nothing); elsewhere a
    named temporary sibling, removed by the next run if its process died.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(path)
    temp = _temp_path(path, TEMP_TAG)
    try:
        if not _write_unnamed(path.parent, temp, data):
            # os.open with 0o666 honours the umask, unlike tempfile's 0o600.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            _write_all(fd, data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _write_unnamed(folder: Path, temp: Path, data: bytes) -> bool:
    """Write ``data`` to an ``O_TMPFILE`` inode in ``folder`` and link it as ``temp``; False if unsupported."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return False
    try:
        fd = os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:  # a filesystem without O_TMPFILE
        return False
    try:
        _write_all(os.dup(fd), data)
        return _link_fd(fd, temp)
    finally:
        os.close(fd)


def _link_fd(fd: int, temp: Path) -> bool:
    """Give the unnamed inode behind ``fd`` the name ``temp`` (linkat AT_EMPTY_PATH, else /proc/self/fd)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(str(temp)), _AT_EMPTY_PATH) == 0:
            return True
    except (OSError, AttributeError):
        pass
    try:
        os.link(f"/proc/self/fd/{fd}", temp, follow_symlinks=True)
        return True
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def write_json_atomic(path: PathLike, data: Any) -> None:
    """Write ``data`` as JSON next to ``path`` in a temp file, then ``os.replace`` it in."""
    text = json.dumps(data, indent=2) + "\n"  # fails before anything is written
    write_bytes_atomic(path, text.encode("utf8"))


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (data provenance in result JSON)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def naming_reader(load: Callable[[Path], Any], what: str) -> Callable[[Path], None]:
    """``load`` whose failure names the file: msgpack's 'Unpack failed' alone says nothing of where."""

    def reader(path: Path) -> None:
        try:
            load(path)
        except (ValueError, TypeError, KeyError, EOFError, OSError) as err:
            raise ValueError(
                f"{path}: cannot load the {what} ({type(err).__name__}: {err}); "
                "the file is damaged or cut short, or belongs to another model"
            ) from err

    return reader
