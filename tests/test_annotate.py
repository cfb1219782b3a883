"""The ``annotate`` command, local backend: same entities as nlp.pipe, nothing lost, hostile inputs."""
import json
from pathlib import Path
from typing import Dict, List

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bert_ner.annotate.inputs import InvalidInput, count_documents
from spacy_bert_ner.annotate.local import threads_per_process
from spacy_bert_ner.annotate.output import partial_path, rejected_path
from spacy_bert_ner.annotate.records import doc_record
from spacy_bert_ner.util import scores_key
from spacy_bert_ner.annotate.run import AnnotateSettings, annotate_file
from spacy_bert_ner.cli import app
from spacy_bert_ner.cli.annotate import parse_runtime_env

from .conftest import TRAIN_SENTENCES, build_pipeline
from .test_evaluate_pipeline import train  # a tiny pipeline trained in seconds

HEADS = ("token_classifier", "ner")
TEXTS = [text for text, _ in TRAIN_SENTENCES] + [
    "Brussels and Peter Blackburn .", "", "Werner Zwingmann said on Monday that the European Union rejects it .",
    "  spaces  around  ", "Ünïcödé Brussels — EU",
]


def train_pipelines(root: Path, tiny_bert_dir: Path) -> Dict[str, Path]:
    """One small trained pipeline per head, saved under ``root``."""
    paths = {}
    for head in HEADS:
        paths[head] = root / head
        train(build_pipeline(tiny_bert_dir, head=head)).to_disk(paths[head])
    return paths


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory, tiny_bert_dir) -> Dict[str, Path]:
    return train_pipelines(tmp_path_factory.mktemp("annotate"), tiny_bert_dir)


def expected_records(pipeline: Path, texts: List[str]) -> List[dict]:
    nlp = spacy.load(pipeline)
    key = scores_key(nlp)
    return [doc_record(doc, i, spans_key=key) for i, doc in enumerate(nlp.pipe(texts), 1)]


def same_records(got: List[dict], expected: List[dict]) -> bool:
    """Equal entity for entity; scores equal up to float noise (batch composition changes padding)."""
    def strip(records):
        return [{**r, "ents": [{**e, "score": None} for e in r["ents"]]} for r in records]

    def scores(records):
        return [e["score"] for r in records for e in r["ents"]]

    return strip(got) == strip(expected) and all(
        a == b or (a is not None and b is not None and abs(a - b) < 1e-5) for a, b in zip(scores(got), scores(expected))
    )


def read_jsonl(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def write_jsonl(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


@pytest.fixture
def texts_jsonl(tmp_path) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": text}) for text in TEXTS])


@pytest.mark.parametrize("head", HEADS)
def test_local_equals_nlp_pipe(pipelines, tmp_path, texts_jsonl, head):
    counts = annotate_file(pipelines[head], texts_jsonl, tmp_path / "out.jsonl")
    records = read_jsonl(tmp_path / "out.jsonl")
    assert records == expected_records(pipelines[head], TEXTS)
    assert (counts.read, counts.written, counts.rejected) == (len(TEXTS), len(TEXTS), 0)
    ents = [ent for record in records for ent in record["ents"]]
    assert ents, "the tiny pipeline should find some entities"
    scores = {ent["score"] is None for ent in ents}
    assert scores == ({False} if head == "token_classifier" else {True})
    assert not partial_path(tmp_path / "out.jsonl").exists()


def test_n_process_2_equals_one_process(pipelines, tmp_path, texts_jsonl):
    settings = AnnotateSettings(n_process=2, batch_size=2)
    annotate_file(pipelines["token_classifier"], texts_jsonl, tmp_path / "out.jsonl", settings)
    assert same_records(read_jsonl(tmp_path / "out.jsonl"), expected_records(pipelines["token_classifier"], TEXTS))


def test_ids_and_carried_fields(pipelines, tmp_path):
    lines = [
        json.dumps({"id": "doc-a", "text": TEXTS[1], "source": "web", "meta": {"n": 1}}),
        json.dumps({"text": TEXTS[0], "ents": "overwritten"}),
    ]
    annotate_file(pipelines["ner"], write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl")
    first, second = read_jsonl(tmp_path / "out.jsonl")
    assert (first["id"], first["source"], first["meta"]) == ("doc-a", "web", {"n": 1})
    assert second["id"] == 2 and isinstance(second["ents"], list)
    assert "text" not in first


def test_txt_and_docbin_inputs(pipelines, tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(TEXTS[:4]) + "\n", encoding="utf8")
    annotate_file(pipelines["token_classifier"], txt, tmp_path / "txt.jsonl")
    assert read_jsonl(tmp_path / "txt.jsonl") == expected_records(pipelines["token_classifier"], TEXTS[:4])
    nlp = spacy.blank("en")
    DocBin(docs=[nlp(text) for text in TEXTS[:3]]).to_disk(tmp_path / "in.spacy")
    annotate_file(pipelines["token_classifier"], tmp_path / "in.spacy", tmp_path / "spacy.jsonl")
    records = read_jsonl(tmp_path / "spacy.jsonl")
    assert [r["id"] for r in records] == [0, 1, 2]
    assert [r["ents"] for r in records] == [r["ents"] for r in expected_records(pipelines["token_classifier"], TEXTS[:3])]


@pytest.mark.parametrize("text,expected", [(None, None), ('{"py_modules": ["a.whl"]}', {"py_modules": ["a.whl"]})])
def test_parse_runtime_env(text, expected):
    assert parse_runtime_env(text) == expected


@pytest.mark.parametrize("text,problem", [("{oops", "invalid JSON"), ('["a.whl"]', "expected a JSON object")])
def test_parse_runtime_env_rejects(text, problem):
    with pytest.raises(ValueError, match=f"--runtime-env: {problem}"):
        parse_runtime_env(text)


def test_threads_per_process():
    assert [threads_per_process(n, cores=8) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]


# ---------------------------------------------------------------------------
# Hostile inputs: one test each
# ---------------------------------------------------------------------------
def bad_input(tmp_path: Path, bad_line: str) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "EU ."}), bad_line, json.dumps({"text": "Brussels ."})])


@pytest.mark.parametrize("bad_line,problem", [
    ('{"text": "EU', "invalid JSON"),
    ('{"id": 3}', 'no "text" field'),
    ('{"text": 42}', '"text" must be a string, got int'),
    ('["a list"]', "expected a JSON object"),
], ids=["invalid-json", "missing-text", "non-string-text", "not-an-object"])
def test_bad_line_stops_with_file_and_line(pipelines, tmp_path, bad_line, problem):
    source = bad_input(tmp_path, bad_line)
    with pytest.raises(InvalidInput, match=rf"^{source}:2: {problem}"):
        annotate_file(pipelines["ner"], source, tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"], "nothing half-written remains"


def test_non_utf8_line_is_a_bad_line(pipelines, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"EU .\nBad \xff byte\n")
    with pytest.raises(InvalidInput, match=rf"^{source}:2: not UTF-8 \(byte 5"):
        annotate_file(pipelines["ner"], source, tmp_path / "out.jsonl")
    counts = annotate_file(pipelines["ner"], source, tmp_path / "out.jsonl", skip_invalid=True)
    assert (counts.written, counts.rejected) == (1, 1)


def test_unicode_line_separators_stay_inside_a_document(pipelines, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "EU\u2028Brussels\rPeter ."}, ensure_ascii=False)])
    counts = annotate_file(pipelines["ner"], source, tmp_path / "out.jsonl")
    assert (counts.read, counts.written) == (1, 1) and count_documents(source) == 1


def test_corrupt_docbin(pipelines, tmp_path):
    (tmp_path / "in.spacy").write_bytes(b"not a docbin")
    with pytest.raises(InvalidInput, match=r"in\.spacy: not a spaCy DocBin"):
        annotate_file(pipelines["ner"], tmp_path / "in.spacy", tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.spacy"]


def test_skip_invalid_writes_side_file_and_counts_add_up(pipelines, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [
        json.dumps({"text": "EU ."}), "not json", json.dumps({"id": 7}), json.dumps({"text": None}), json.dumps({"text": "Brussels ."}),
    ])
    output = tmp_path / "out.jsonl"
    counts = annotate_file(pipelines["ner"], source, output, skip_invalid=True)
    assert (counts.read, counts.written, counts.rejected) == (5, 2, 3)
    assert [r["id"] for r in read_jsonl(output)] == [1, 5]
    rejected = read_jsonl(rejected_path(output))
    assert [r["line"] for r in rejected] == [2, 3, 4]
    assert rejected[0]["raw"] == "not json" and "invalid JSON" in rejected[0]["problem"]
    annotate_file(pipelines["ner"], write_jsonl(tmp_path / "clean.jsonl", ['{"text": "EU ."}']), output)
    assert not rejected_path(output).exists(), "an earlier run's rejections no longer describe OUTPUT"


def test_empty_file_gives_empty_output(pipelines, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [])
    counts = annotate_file(pipelines["ner"], source, tmp_path / "out.jsonl")
    assert (counts.read, counts.written, counts.rejected) == (0, 0, 0)
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_output_equal_to_input_is_refused(pipelines, texts_jsonl):
    before = texts_jsonl.read_bytes()
    with pytest.raises(ValueError, match=r"^\S+in\.jsonl: .*input.*; expected an output"):  # files.check_not_input
        annotate_file(pipelines["ner"], texts_jsonl, texts_jsonl, force=True)
    assert texts_jsonl.read_bytes() == before


def test_existing_output_needs_force(pipelines, tmp_path, texts_jsonl):
    output = tmp_path / "out.jsonl"
    output.write_text("not ours\n")
    with pytest.raises(ValueError, match="--force"):
        annotate_file(pipelines["ner"], texts_jsonl, output)
    assert output.read_text() == "not ours\n"
    annotate_file(pipelines["ner"], texts_jsonl, output, force=True)
    assert len(read_jsonl(output)) == len(TEXTS)
    annotate_file(pipelines["ner"], texts_jsonl, output)  # its own earlier output: no --force needed
    assert len(read_jsonl(output)) == len(TEXTS)


def test_unknown_input_format(pipelines, tmp_path):
    (tmp_path / "in.csv").write_text("text\nEU\n")
    with pytest.raises(ValueError, match=r"in\.csv: expected a \.jsonl, \.txt, \.spacy file"):
        annotate_file(pipelines["ner"], tmp_path / "in.csv", tmp_path / "out.jsonl")


def test_resume_after_truncated_partial_gives_one_line_per_document(pipelines, tmp_path, texts_jsonl):
    full = tmp_path / "full.jsonl"
    annotate_file(pipelines["token_classifier"], texts_jsonl, full)
    output = tmp_path / "out.jsonl"
    data = full.read_bytes()
    cut = data.index(b"\n", data.index(b"\n", data.index(b"\n") + 1) + 1) + 1 + 10  # 3 lines + part of a 4th
    partial_path(output).write_bytes(data[:cut])
    with pytest.raises(ValueError, match="--resume"):
        annotate_file(pipelines["token_classifier"], texts_jsonl, output)
    counts = annotate_file(pipelines["token_classifier"], texts_jsonl, output, resume=True)
    assert output.read_bytes() == data
    assert (counts.read, counts.written, counts.resumed, counts.rejected) == (len(TEXTS), len(TEXTS), 3, 0)
    assert not partial_path(output).exists()


def test_ctrl_c_leaves_a_partial_that_resume_finishes(pipelines, tmp_path, texts_jsonl, monkeypatch):
    from spacy_bert_ner.annotate import local

    full = tmp_path / "full.jsonl"
    annotate_file(pipelines["ner"], texts_jsonl, full)
    real = local.annotate_local

    def interrupted(*args, **kwargs):
        for n, record in enumerate(real(*args, **kwargs)):
            if n == 4:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(local, "annotate_local", interrupted)
    output = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        annotate_file(pipelines["ner"], texts_jsonl, output)
    assert not output.exists() and len(read_jsonl(partial_path(output))) == 4
    monkeypatch.setattr(local, "annotate_local", real)
    counts = annotate_file(pipelines["ner"], texts_jsonl, output, resume=True)
    assert counts.resumed == 4 and output.read_bytes() == full.read_bytes()


def test_resume_with_skip_invalid_counts_the_rejections_again(pipelines, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", ['{"text": "EU ."}', "bad", '{"text": "Brussels ."}'])
    output = tmp_path / "out.jsonl"
    annotate_file(pipelines["ner"], source, output, skip_invalid=True)
    partial_path(output).write_text(output.read_text().splitlines(keepends=True)[0])
    counts = annotate_file(pipelines["ner"], source, output, skip_invalid=True, resume=True)
    assert (counts.read, counts.written, counts.resumed, counts.rejected) == (3, 2, 1, 1)
    assert [r["id"] for r in read_jsonl(output)] == [1, 3]
    assert [r["line"] for r in read_jsonl(rejected_path(output))] == [2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl", "out.jsonl.rejected.jsonl"]


def test_resume_refuses_a_partial_of_another_input(pipelines, tmp_path, texts_jsonl):
    output = tmp_path / "out.jsonl"
    partial_path(output).write_text(json.dumps({"id": "other", "ents": []}) + "\n")
    with pytest.raises(ValueError, match="not the same input"):
        annotate_file(pipelines["ner"], texts_jsonl, output, resume=True)
    partial_path(output).write_text("garbage\n")
    with pytest.raises(ValueError, match=r"out\.jsonl\.partial:1: not a JSON line"):
        annotate_file(pipelines["ner"], texts_jsonl, output, resume=True)


def test_count_documents_without_final_newline(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo")
    assert count_documents(tmp_path / "a.txt") == 2


def test_cli_prints_counts_and_errors(pipelines, tmp_path, texts_jsonl):
    runner = CliRunner()
    result = runner.invoke(app, ["annotate", str(pipelines["ner"]), str(texts_jsonl), str(tmp_path / "out.jsonl"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"read {len(TEXTS)}, written {len(TEXTS)}, rejected 0" in result.output
    bad = bad_input(tmp_path, "{oops")
    result = runner.invoke(app, ["annotate", str(pipelines["ner"]), str(bad), str(tmp_path / "bad.jsonl"), "--quiet"])
    assert result.exit_code == 1 and f"{bad}:2: invalid JSON" in " ".join(result.output.split())  # wasabi wraps


@pytest.mark.slow
def test_bench_writes_one_json(pipelines, tmp_path, texts_jsonl):
    from spacy_bert_ner.annotate.bench import bench_annotate

    settings = [("local 1 x 1", AnnotateSettings(threads=1))]
    result = bench_annotate(pipelines["ner"], texts_jsonl, tmp_path / "bench.json", settings)
    assert json.loads((tmp_path / "bench.json").read_text()) == json.loads(json.dumps(result))
    (run,) = result["runs"]
    assert run["counts"]["written"] == len(TEXTS) and run["words_per_second"] > 0
    assert result["hardware"]["cores"] >= 1
