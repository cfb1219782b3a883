"""Report commands add their files and delete nothing; evaluate's and data's errors (issue 18, items 2 and 12).

``evaluate``, ``windows``, ``compare``, ``summary``, ``benchmark`` and
``profile`` write named files into a folder: a user's file there survives, and
an output that is (or lies in) an input is refused. ``evaluate`` on no
documents, a non-DocBin path or gold types disjoint from the pipeline's fails
in one line (partial overlap warns); ``data`` with a wrong checksum fails.
Fixtures and helpers come from :mod:`tests.test_safety_outputs`.
"""
import json
from pathlib import Path

import pytest

from . import test_safety_outputs as outputs
from .test_report import two_heads, write_reports
from .test_safety_outputs import CONLL, KEEP, foreign_folder, listing, run, said
from .test_summary import _metrics

# the same module-scoped fixtures, one instance for this module
pipeline_dir, conll_file, docbin_file = outputs.pipeline_dir, outputs.conll_file, outputs.docbin_file


# ---------------------------------------------------------------------------
# evaluate, windows, compare, summary, benchmark, profile: add files, delete nothing
# ---------------------------------------------------------------------------
def test_evaluate_keeps_unrelated_files(tmp_path, pipeline_dir, docbin_file):
    out = foreign_folder(tmp_path / "out")
    result = run("evaluate", pipeline_dir, docbin_file, out, "--n-resamples", "10")
    assert result.exit_code == 0, said(result)
    assert (out / "keep.txt").read_text() == KEEP and (out / "test_metrics.json").is_file()


@pytest.mark.parametrize("where", ["pipeline", "inside"])
def test_evaluate_into_its_pipeline_is_refused(pipeline_dir, docbin_file, where):
    out = pipeline_dir if where == "pipeline" else pipeline_dir / "reports"
    before = listing(pipeline_dir)
    result = run("evaluate", pipeline_dir, docbin_file, out)
    assert result.exit_code == 1 and "input" in said(result)
    assert listing(pipeline_dir) == before


def test_evaluate_zero_docs_is_an_error(tmp_path, pipeline_dir):
    from spacy.tokens import DocBin

    empty = tmp_path / "empty.spacy"
    DocBin().to_disk(empty)
    result = run("evaluate", pipeline_dir, empty, tmp_path / "out")
    assert result.exit_code == 1 and "no documents" in said(result)
    assert not (tmp_path / "out").exists()


def test_evaluate_a_non_docbin_path_is_an_error(tmp_path, pipeline_dir, conll_file):
    result = run("evaluate", pipeline_dir, conll_file, tmp_path / "out")
    assert result.exit_code == 1 and "not a DocBin" in said(result)
    bad = tmp_path / "bad.spacy"
    bad.write_text(CONLL)
    assert "not a DocBin" in said(run("evaluate", pipeline_dir, bad, tmp_path / "out"))


def _relabelled_docbin(source: Path, path: Path, mapping) -> Path:
    import spacy
    from spacy.tokens import DocBin, Span

    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(source).get_docs(nlp.vocab))
    for doc in docs:
        doc.ents = [Span(doc, e.start, e.end, label=mapping.get(e.label_, e.label_)) for e in doc.ents]
    DocBin(docs=docs).to_disk(path)
    return path


def test_evaluate_disjoint_labels_is_an_error(tmp_path, pipeline_dir, docbin_file):
    data = _relabelled_docbin(docbin_file, tmp_path / "x.spacy",
                              {"PER": "PERSON", "LOC": "GPE", "ORG": "NORP", "MISC": "EVENT"})
    result = run("evaluate", pipeline_dir, data, tmp_path / "out")
    assert result.exit_code == 1 and "share none with the pipeline's labels" in said(result)


def test_evaluate_partial_label_overlap_warns(tmp_path, pipeline_dir, docbin_file):
    data = _relabelled_docbin(docbin_file, tmp_path / "x.spacy", {"PER": "PERSON"})
    result = run("evaluate", pipeline_dir, data, tmp_path / "out", "--n-resamples", "10")
    assert result.exit_code == 0, said(result)
    assert "PERSON are not labels of the pipeline" in said(result)


def test_windows_output_onto_its_data_is_refused(pipeline_dir, docbin_file):
    before = docbin_file.read_bytes()
    result = run("windows", pipeline_dir, docbin_file, docbin_file, "--window", "8/6")
    assert result.exit_code == 1 and "is the input" in said(result)
    assert docbin_file.read_bytes() == before


def test_compare_keeps_unrelated_files_and_refuses_a_system_folder(tmp_path):
    dirs = write_reports(tmp_path, two_heads())
    out = foreign_folder(tmp_path / "report")
    systems = ["--system", f"ner={dirs['ner']}", "--system", f"token_classifier={dirs['token_classifier']}"]
    result = run("compare", out, *systems, "--n-resamples", "20")
    assert result.exit_code == 0, said(result)
    assert (out / "keep.txt").read_text() == KEEP and (out / "comparison.json").is_file()
    result = run("compare", dirs["ner"], *systems, "--n-resamples", "20")
    assert result.exit_code == 1 and "is the input" in said(result)
    assert not (Path(dirs["ner"]) / "comparison.json").exists()


def test_summary_keeps_unrelated_files_and_refuses_its_recipe_file(tmp_path):
    head = tmp_path / "ner"
    head.mkdir()
    for split in ("test", "dev"):
        (head / f"{split}_metrics.json").write_text(json.dumps(_metrics(0.9, 0.9, split)))
    out = foreign_folder(tmp_path / "out")
    result = run("summary", out, "--head", f"ner={head}")
    assert result.exit_code == 0, said(result)
    assert (out / "keep.txt").read_text() == KEEP and (out / "summary.json").is_file()
    (out / "summary.json").write_text("{}")
    result = run("summary", out, "--head", f"ner={head}", "--hf-recipe", out / "summary.json")
    assert result.exit_code == 1 and "is the input" in said(result)
    assert (out / "summary.json").read_text() == "{}"


def test_benchmark_and_profile_refuse_a_folder_inside_their_pipeline(pipeline_dir, docbin_file):
    before = listing(pipeline_dir)
    result = run("benchmark", "--tc", pipeline_dir, "--data", docbin_file, "-o", pipeline_dir / "speed")
    assert result.exit_code == 1 and "inside the input" in said(result)
    result = run("profile", pipeline_dir, docbin_file, pipeline_dir)
    assert result.exit_code == 1 and "is the input" in said(result)
    assert listing(pipeline_dir) == before


def test_benchmark_and_profile_keep_unrelated_files(tmp_path, pipeline_dir, docbin_file):
    out = foreign_folder(tmp_path / "out")
    result = run("profile", pipeline_dir, docbin_file, out, "--no-pyinstrument", "--max-words", "20")
    assert result.exit_code == 0, said(result)
    result = run("benchmark", "--tc", pipeline_dir, "--data", docbin_file, "-o", out, "--repeats", "1",
                 "--no-int8", "--rss", "none", "--max-words", "20")
    assert result.exit_code == 0, said(result)
    assert (out / "keep.txt").read_text() == KEEP
    assert {"profile.json", "speed.json"} <= set(listing(out))


# ---------------------------------------------------------------------------
# data (item 12): a wrong checksum fails
# ---------------------------------------------------------------------------
def test_data_with_a_wrong_checksum_fails(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "train.txt").write_text("not the real file")
    (tmp_path / "project.yml").write_text(
        "title: test\nassets:\n  - dest: assets/train.txt\n    checksum: 0123456789abcdef0123456789abcdef\n"
    )
    result = run("data", tmp_path)
    assert result.exit_code == 1 and "checksum" in said(result) and "✔" not in said(result)
