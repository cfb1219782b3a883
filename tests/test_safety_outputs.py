"""Every command that writes keeps what it did not write (issue 18, items 1-5 and 12).

One test per case: a pre-existing unrelated file survives; output == input is
refused; a foreign non-empty output is refused without --force; --force replaces
only what the command writes; a SIGKILL inside the write of ``convert`` and
``export-onnx`` leaves the previous output byte-identical and no temp file. Plus
the one-line errors of ``convert`` (--encoding, --lang). The report commands are
in :mod:`tests.test_safety_reports`. Tiny pipelines from conftest, data written here.
"""
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.files import OutputError, OutputKind, check_output, folder_output, remove_dead_temps

from .corpus_samples import CONLL_IOB2

CONLL = CONLL_IOB2  # two documents, four entity types
KEEP = "the user's own file"
# Run the CLI in a child process whose os.fsync / os.replace, called from
# spacy_bert_ner/files.py, SIGKILLs the process: a kill inside the write.
KILL_CHILD = """
import os, signal, sys
target = sys.argv[1]
real = getattr(os, target)
def killing(*args, **kwargs):
    if sys._getframe(1).f_code.co_filename.endswith("files.py"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(os, target, killing)
from spacy_bert_ner.cli import app
app(sys.argv[2:])
"""


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def said(result) -> str:
    """The command's output with wasabi's line wrapping undone."""
    return " ".join(result.output.split())


def listing(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


def kill_inside_write(target: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILL_CHILD, target, *map(str, args)], capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def pipeline_dir(initialized_pipeline_dir) -> Path:
    return initialized_pipeline_dir


@pytest.fixture(scope="module")
def conll_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conll") / "d.txt"
    path.write_text(CONLL, encoding="utf8")
    return path


@pytest.fixture(scope="module")
def docbin_file(conll_file, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("docbin") / "d.spacy"
    assert run("convert", conll_file, path).exit_code == 0
    return path


@pytest.fixture(scope="module")
def hf_dir(pipeline_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hf") / "hf"
    assert run("export-hf", pipeline_dir, path).exit_code == 0
    return path


def foreign_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "keep.txt").write_text(KEEP)
    return path


# ---------------------------------------------------------------------------
# The helper itself
# ---------------------------------------------------------------------------
KIND = OutputKind("a test folder (marker.txt)", markers=("marker.txt",), patterns=("marker.txt", "part*"))


def test_folder_output_replaces_only_its_own_entries(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in (("marker.txt", "old"), ("part1", "old"), ("keep.txt", KEEP)):
        (out / name).write_text(text)
    (out / "part2").mkdir()  # stale: a part the new output does not have
    with folder_output(out, KIND) as temp:
        (temp / "marker.txt").write_text("new")
        (temp / "part1").write_text("new")
    assert listing(out) == ["keep.txt", "marker.txt", "part1"]
    assert (out / "part1").read_text() == "new" and (out / "keep.txt").read_text() == KEEP
    assert listing(tmp_path) == ["out"]


def test_folder_output_error_leaves_output_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with folder_output(out, KIND) as temp:
            (temp / "marker.txt").write_text("new")
            raise RuntimeError("the check failed")
    assert (out / "marker.txt").read_text() == "old" and listing(tmp_path) == ["out"]


@pytest.mark.parametrize("output,inputs", [("a", ["a"]), ("a/b", ["a"]), ("a", ["a/b.txt"])])
def test_output_equal_to_inside_or_holding_an_input_is_refused(tmp_path, output, inputs):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.txt").write_text("x")
    with pytest.raises(OutputError, match="input"):
        check_output(tmp_path / output, KIND, inputs=[tmp_path / i for i in inputs], force=True)


def test_temp_siblings_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f".out.tmp-{pid}-abcd").mkdir()
    (tmp_path / f".out.old-{pid}-abcd").write_text("x")
    (tmp_path / ".out.tmp-notapid").write_text(KEEP)  # not a name this package makes
    remove_dead_temps(tmp_path / "out")
    assert listing(tmp_path) == [".out.tmp-notapid"]


# ---------------------------------------------------------------------------
# encoder (item 1)
# ---------------------------------------------------------------------------
def test_encoder_refuses_a_foreign_folder_and_force_keeps_its_files(tmp_path, conll_file):
    victim = foreign_folder(tmp_path / "victim")
    result = run("encoder", "tiny-bert", victim, "--words-file", conll_file)
    assert result.exit_code == 1 and "--force" in said(result)
    assert listing(victim) == ["keep.txt"]
    result = run("encoder", "tiny-bert", victim, "--words-file", conll_file, "--force")
    assert result.exit_code == 0, said(result)
    assert (victim / "keep.txt").read_text() == KEEP and (victim / "config.json").is_file()


def test_encoder_rerun_keeps_unrelated_files_and_drops_stale_shards(tmp_path, conll_file):
    out = tmp_path / "enc"
    assert run("encoder", "tiny-bert", out, "--words-file", conll_file).exit_code == 0
    (out / "keep.txt").write_text(KEEP)
    (out / "model-00002-of-00002.safetensors").write_bytes(b"stale")
    assert run("encoder", "tiny-bert", out, "--words-file", conll_file).exit_code == 0
    assert (out / "keep.txt").read_text() == KEEP
    assert not (out / "model-00002-of-00002.safetensors").exists()


def test_encoder_output_equal_to_or_holding_its_input_is_refused(tmp_path, tiny_bert_dir, conll_file):
    result = run("encoder", tiny_bert_dir, tiny_bert_dir, "--force")
    assert result.exit_code == 1 and "is the input" in said(result)
    result = run("encoder", "tiny-bert", conll_file.parent, "--words-file", conll_file, "--force")
    assert result.exit_code == 1 and "holds the input" in said(result)
    assert conll_file.read_text(encoding="utf8") == CONLL


# ---------------------------------------------------------------------------
# export-hf (item 2)
# ---------------------------------------------------------------------------
def test_export_hf_refuses_a_foreign_folder_and_force_keeps_its_files(tmp_path, pipeline_dir):
    out = foreign_folder(tmp_path / "out")
    result = run("export-hf", pipeline_dir, out)
    assert result.exit_code == 1 and "not an HF model folder" in said(result)
    assert run("export-hf", pipeline_dir, out, "--force").exit_code == 0
    assert (out / "keep.txt").read_text() == KEEP and (out / "model.safetensors").is_file()


def test_export_hf_into_an_hf_folder_keeps_unrelated_files(tmp_path, pipeline_dir, hf_dir):
    out = tmp_path / "hf"
    shutil.copytree(hf_dir, out)
    (out / "keep.txt").write_text(KEEP)
    result = run("export-hf", pipeline_dir, out)
    assert result.exit_code == 0, said(result)
    assert (out / "keep.txt").read_text() == KEEP
    assert "keep.txt" not in said(result)  # the summary lists what it wrote


def test_export_hf_into_its_pipeline_is_refused(pipeline_dir):
    before = listing(pipeline_dir)
    result = run("export-hf", pipeline_dir, pipeline_dir / "hf", "--force")
    assert result.exit_code == 1 and "inside the input" in said(result)
    assert listing(pipeline_dir) == before


# ---------------------------------------------------------------------------
# export-onnx (item 3)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_file(pipeline_dir, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    result = run("export-onnx", pipeline_dir, path)
    assert result.exit_code == 0, said(result)
    return path


def test_onnx_parity_failure_keeps_the_previous_file(tmp_path, pipeline_dir, onnx_file):
    out = tmp_path / "m.onnx"
    shutil.copy(onnx_file, out)
    (tmp_path / "keep.txt").write_text(KEEP)
    result = run("export-onnx", pipeline_dir, out, "--atol", "-1")
    assert result.exit_code == 1 and "did not write" in said(result)
    assert out.read_bytes() == onnx_file.read_bytes()
    assert listing(tmp_path) == ["keep.txt", "m.onnx"]


def test_onnx_file_appears_only_after_the_check_with_id2label(tmp_path, pipeline_dir, monkeypatch):
    onnx = pytest.importorskip("onnx")
    from spacy_bert_ner.hf import onnx as onnx_export

    out = tmp_path / "m.onnx"
    real = onnx_export.max_logit_difference

    def checked_before_written(*args, **kwargs):
        assert not out.exists() and listing(tmp_path) == []
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_export, "max_logit_difference", checked_before_written)
    onnx_export.export_onnx(pipeline_dir, out)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert "B-PER" in json.loads(props["id2label"]).values()


def test_onnx_refuses_a_foreign_file_and_a_path_inside_its_source(tmp_path, pipeline_dir):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    out.write_text(KEEP)
    result = run("export-onnx", pipeline_dir, out)
    assert result.exit_code == 1 and "not an ONNX model" in said(result)
    assert out.read_text() == KEEP
    result = run("export-onnx", pipeline_dir, pipeline_dir / "m.onnx")
    assert result.exit_code == 1 and "inside the input" in said(result)


@pytest.mark.slow
def test_sigkill_of_export_onnx_mid_write_keeps_the_previous_file(tmp_path, pipeline_dir, onnx_file):
    out = tmp_path / "m.onnx"
    shutil.copy(onnx_file, out)
    before = out.read_bytes()
    result = kill_inside_write("fsync", "export-onnx", pipeline_dir, out)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert out.read_bytes() == before
    assert listing(tmp_path) == ["m.onnx"]


# ---------------------------------------------------------------------------
# import-hf (item 4)
# ---------------------------------------------------------------------------
def test_import_hf_refuses_a_trained_pipeline_and_force_drops_stale_components(tmp_path, pipeline_dir, hf_dir):
    out = tmp_path / "pipeline"
    shutil.copytree(pipeline_dir, out)
    (out / "keep.txt").write_text(KEEP)
    meta = json.loads((out / "meta.json").read_text())
    meta["components"] = meta["components"] + ["old_head"]
    (out / "meta.json").write_text(json.dumps(meta))
    (out / "old_head").mkdir()
    (out / "old_head" / "model").write_text("old weights")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = run("import-hf", hf_dir, out)
    assert result.exit_code == 1 and "--force" in said(result)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    result = run("import-hf", hf_dir, out, "--force")
    assert result.exit_code == 0, said(result)
    assert not (out / "old_head").exists() and (out / "keep.txt").read_text() == KEEP
    assert (out / "finetune.cfg").is_file()
    # its own output is replaced without --force
    assert run("import-hf", hf_dir, out).exit_code == 0


def test_import_hf_into_its_checkpoint_is_refused(hf_dir):
    before = listing(hf_dir)
    result = run("import-hf", hf_dir, hf_dir, "--force")
    assert result.exit_code == 1 and "is the input" in said(result)
    assert listing(hf_dir) == before


# ---------------------------------------------------------------------------
# convert (item 5) and its one-line errors (item 12)
# ---------------------------------------------------------------------------
def test_convert_onto_its_input_is_refused(tmp_path):
    source = tmp_path / "d.txt"
    source.write_text(CONLL, encoding="utf8")
    result = run("convert", source, source)
    assert result.exit_code == 1 and "is the input" in said(result)
    result = run("convert", source, source, "--force")
    assert result.exit_code == 1 and "is the input" in said(result)
    assert source.read_text(encoding="utf8") == CONLL


def test_convert_refuses_a_foreign_file_and_keeps_its_neighbours(tmp_path, conll_file):
    out = tmp_path / "out.spacy"
    out.write_text(KEEP)
    (tmp_path / "keep.txt").write_text(KEEP)
    result = run("convert", conll_file, out)
    assert result.exit_code == 1 and "not a DocBin" in said(result) and out.read_text() == KEEP
    assert run("convert", conll_file, out, "--force").exit_code == 0
    assert run("convert", conll_file, out).exit_code == 0  # its own output: no --force needed
    assert listing(tmp_path) == ["keep.txt", "out.spacy"] and (tmp_path / "keep.txt").read_text() == KEEP


@pytest.mark.parametrize("option,value,message", [
    ("--encoding", "nosuch", "unknown encoding 'nosuch'"),
    ("--lang", "zz", "unknown spaCy language 'zz'"),
])
def test_convert_bad_encoding_or_language_is_one_line(tmp_path, conll_file, option, value, message):
    result = run("convert", conll_file, tmp_path / "out.spacy", option, value)
    assert result.exit_code == 1 and message in said(result)
    assert "Traceback" not in said(result) and isinstance(result.exception, SystemExit)
    assert listing(tmp_path) == []


@pytest.mark.slow  # a child process importing the CLI: ~10 s each
@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_sigkill_of_convert_mid_write_keeps_the_previous_file(tmp_path, conll_file, docbin_file, target):
    """fsync: killed with the data in an unnamed temp inode; replace: killed just before the
    rename, when the temp has its name: the next run removes what the dead process left."""
    out = tmp_path / "d.spacy"
    shutil.copy(docbin_file, out)
    before = out.read_bytes()
    result = kill_inside_write(target, "convert", conll_file, out, "--limit-docs", "1")
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert out.read_bytes() == before
    if target == "fsync":
        assert listing(tmp_path) == ["d.spacy"]
    assert run("convert", conll_file, out).exit_code == 0
    assert listing(tmp_path) == ["d.spacy"]
