"""The HTTP service on 127.0.0.1: same records as nlp.pipe for both heads, limits, errors, CLI, load."""
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from spacy.language import Language
from typer.testing import CliRunner

import spacy_bert_ner.annotate
from spacy_bert_ner.annotate.records import doc_record
from spacy_bert_ner.util import scores_key
from spacy_bert_ner.annotate.serve import ServeLimits, create_app
from spacy_bert_ner.annotate.serve_bench import get_json, make_payloads, post_json, read_texts, run_load
from spacy_bert_ner.annotate.serve_runner import running_server
from spacy_bert_ner.cli import app

from .conftest import SENTENCE_WINDOWS, TRAIN_SENTENCES, build_pipeline, make_examples

HEADS = ("token_classifier", "ner")
MARKER = "RAISE-IN-THE-MODEL"
TEXTS = [text for text, _ in TRAIN_SENTENCES] + ["", "Brussels", "EU and Britain ."]


@Language.component("serve_test_raise")
def raise_on_marker(doc):
    if MARKER in doc.text:
        raise RuntimeError("the test's marker text")
    return doc


@pytest.fixture(scope="module", params=HEADS)
def pipeline_dir(request, tiny_bert_dir, tmp_path_factory) -> Path:
    nlp = build_pipeline(tiny_bert_dir, request.param, get_spans=SENTENCE_WINDOWS)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp(f"serve_{request.param}") / "pipeline"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def nlp(pipeline_dir) -> Language:
    return spacy.load(pipeline_dir)


@pytest.fixture(scope="module")
def server(nlp):
    limits = ServeLimits(max_texts=20, max_chars=2_000, max_body_bytes=20_000)
    with running_server(create_app(nlp, limits, threads=1)) as base_url:
        yield base_url


def expected(nlp: Language, texts: List[str], ids: List[Any]) -> List[Dict[str, Any]]:
    key = scores_key(nlp)
    return [doc_record(doc, doc_id, spans_key=key) for doc, doc_id in zip(nlp.pipe(texts), ids)]


def test_ents_are_nlp_pipe_records_in_order(nlp, server):
    ids = [f"doc-{i}" for i in range(len(TEXTS))]
    status, body = post_json(f"{server}/ents", {"texts": TEXTS, "ids": ids})
    assert status == 200
    assert body == {"docs": expected(nlp, TEXTS, ids)}
    assert any(doc["ents"] for doc in body["docs"]), "the trained tiny pipeline finds some entities"
    if scores_key(nlp):
        assert all(isinstance(ent["score"], float) for doc in body["docs"] for ent in doc["ents"])
    else:
        assert all(ent["score"] is None for doc in body["docs"] for ent in doc["ents"])


def test_ids_default_to_positions_and_empty_requests_answer_empty(nlp, server):
    assert post_json(f"{server}/ents", {"texts": TEXTS[:3]}) == (200, {"docs": expected(nlp, TEXTS[:3], [0, 1, 2])})
    assert post_json(f"{server}/ents", {"texts": []}) == (200, {"docs": []})


def test_requests_leave_the_string_store_as_it_was(nlp, server):
    post_json(f"{server}/ents", {"texts": TEXTS})
    before = len(nlp.vocab.strings)
    status, _ = post_json(f"{server}/ents", {"texts": [f"Zorblax{i} met Quuxington{i} in Flimby{i} ." for i in range(5)]})
    assert status == 200
    assert len(nlp.vocab.strings) == before


def test_health_and_meta(nlp, server):
    assert get_json(f"{server}/health") == {"status": "ok"}
    meta = get_json(f"{server}/meta")
    assert meta["name"] == f"en_{nlp.meta['name']}"
    assert meta["version"] == nlp.meta["version"]
    assert meta["labels"] == ["LOC", "MISC", "ORG", "PER"]
    assert meta["components"] == nlp.pipe_names
    assert meta["packages"]["spacy"] == spacy.__version__
    assert meta["limits"] == {"max_texts": 20, "max_chars": 2_000, "max_body_bytes": 20_000}


@pytest.mark.parametrize("payload,problem", [
    ({"texts": ["a"] * 21}, "too many texts: 21 > max_texts 20"),
    ({"texts": ["a" * 1_500, "b" * 501]}, "too many characters: 2001 > max_chars 2000"),
    ({"texts": ["a"], "ids": ["x" * 25_000]}, "request body too large"),
])
def test_over_the_limits_answers_413(server, payload, problem):
    status, body = post_json(f"{server}/ents", payload)
    assert status == 413
    assert problem in body["detail"]


@pytest.mark.parametrize("payload", [
    {}, {"texts": "one string"}, {"texts": ["ok", 3]}, {"texts": [None]}, {"texts": [["nested"]]},
    {"texts": ["a"], "ids": "x"}, {"texts": ["a"], "ids": [1.5]}, {"texts": ["a", "b"], "ids": [1]}, [1, 2],
])
def test_wrong_types_answer_422(server, payload):
    status, body = post_json(f"{server}/ents", payload)
    assert status == 422, body


def test_invalid_json_answers_422(server):
    request = urllib.request.Request(f"{server}/ents", data=b'{"texts": ["a",', method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 422


def test_a_model_error_answers_500_and_the_server_keeps_serving(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    nlp.add_pipe("serve_test_raise")
    with running_server(create_app(nlp, threads=1)) as base_url:
        status, body = post_json(f"{base_url}/ents", {"texts": ["fine", f"x {MARKER} y"]})
        assert status == 500
        assert body["detail"] == "model error: RuntimeError: the test's marker text"
        status, body = post_json(f"{base_url}/ents", {"texts": TEXTS})
        assert status == 200
        assert body == {"docs": expected(nlp, TEXTS, list(range(len(TEXTS))))}
        assert get_json(f"{base_url}/health") == {"status": "ok"}


def test_bad_limits_are_refused(nlp):
    with pytest.raises(ValueError, match="max_texts: expected >= 1, got 0"):
        create_app(nlp, ServeLimits(max_texts=0))


def test_load_payloads_cycle_through_the_texts():
    assert make_payloads(["a", "b", "c"], 2, 2) == [{"texts": ["a", "b"]}, {"texts": ["c", "a"]}]
    with pytest.raises(ValueError, match="at least one text"):
        make_payloads([], 1, 1)


def test_read_texts_reads_annotate_inputs(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "one text"}\n{"text": "two", "id": 7}\n', encoding="utf8")
    assert read_texts(tmp_path / "in.jsonl") == ["one text", "two"]
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf8")
    with pytest.raises(ValueError, match="empty.txt: no texts"):
        read_texts(tmp_path / "empty.txt")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf8")
    with pytest.raises(ValueError, match="bad.jsonl:2:"):
        read_texts(tmp_path / "bad.jsonl")


def test_serve_without_the_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "spacy_bert_ner.annotate.serve", raising=False)
    monkeypatch.delattr(spacy_bert_ner.annotate, "serve", raising=False)
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "spacy_bert_ner[serve]" in result.output and "fastapi" in result.output


def test_serve_a_missing_pipeline_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nothing"), "--port", "1"])
    assert result.exit_code == 1
    assert "nothing" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_bounded_load_every_response_equals_nlp_pipe(nlp, server):
    payloads = make_payloads(TEXTS, 300, 3)
    result = run_load(server, payloads, concurrency=8)
    assert result.errors == 0, set(result.statuses)
    for payload, body in zip(payloads, result.bodies):
        assert body == {"docs": expected(nlp, payload["texts"], [0, 1, 2])}
    assert result.seconds < 300


@pytest.mark.slow
def test_serve_bench_writes_the_figures(pipeline_dir, tmp_path):
    out, texts = tmp_path / "serve_bench.json", tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:6]) + "\n", encoding="utf8")
    result = CliRunner().invoke(app, ["serve-bench", str(pipeline_dir), str(out), "--texts", str(texts), "--requests", "20",
                                      "--concurrency", "4", "--threads", "1", "--note", "pytest"])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["schema"] == "spacy_bert_ner.serve_bench.v1"
    assert record["requests_ok"] == 20 and record["errors"] == 0
    assert 0 < record["latency"]["p50_ms"] <= record["latency"]["p95_ms"] <= record["latency"]["max_ms"]
    assert record["texts_per_second"] == pytest.approx(4 * record["requests_per_second"])
    assert record["server"]["torch_threads"] == 1
    assert record["what_else_ran"]["note"] == "pytest"
    assert record["settings"]["distinct_texts"] == 6
    assert record["hardware"]["cores"] >= 1
