"""Where CoNLL-2003 comes from, and checking a local copy against the published files."""
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, List, NamedTuple, Union

SOURCE = "https://raw.githubusercontent.com/kyzhouhzau/BERT-NER/master/old_version/NERdata"


class RemoteFile(NamedTuple):
    url: str
    sha256: str


CONLL2003: Dict[str, RemoteFile] = {
    "train": RemoteFile(f"{SOURCE}/train.txt", "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423"),
    "dev": RemoteFile(f"{SOURCE}/dev.txt", "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b"),
    "test": RemoteFile(f"{SOURCE}/test.txt", "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b"),
}


def sha256_of(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_conll2003(directory: Union[str, Path], *, download: bool = True) -> List[str]:
    """Make sure ``{train,dev,test}.txt`` are in ``directory``; return warnings.

    Missing files are downloaded from the public source (atomically, verified
    by sha256). Files already there (e.g. a local mirror) are kept; a checksum
    that differs from the published one is reported, not fatal, so users can
    bring their own copy.
    """
    directory = Path(directory)
    warnings: List[str] = []
    for split, remote in CONLL2003.items():
        path = directory / f"{split}.txt"
        if path.exists():
            got = sha256_of(path)
            if got != remote.sha256:
                warnings.append(f"{path}: sha256 {got} differs from the published {remote.sha256}")
            continue
        if not download:
            raise FileNotFoundError(f"{path} is missing (pass a folder holding train/dev/test.txt)")
        _download(remote, path)
    return warnings


def _download(remote: RemoteFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as response:
            out.write(response.read())
        got = sha256_of(tmp_name)
        if got != remote.sha256:
            raise ValueError(f"{remote.url}: sha256 {got}, expected {remote.sha256}")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
