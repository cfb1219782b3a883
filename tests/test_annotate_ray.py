"""``annotate --backend ray``: same records as the local backend, a killed actor loses nothing, no Ray = one line."""
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from spacy_bert_ner.annotate.ray_backend import RAY_EXTRA_HINT, Annotator, import_ray
from spacy_bert_ner.annotate.run import AnnotateSettings, annotate_file

from .test_annotate import HEADS, TEXTS, read_jsonl, same_records, train_pipelines

DOCS = TEXTS * 4  # several batches for each of the two actors
RAY_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory, tiny_bert_dir):
    return train_pipelines(tmp_path_factory.mktemp("annotate_ray"), tiny_bert_dir)


def test_without_ray_one_line_error_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"pip install 'spacy_bert_ner\[cluster\]'"):
        import_ray()
    source = tmp_path / "in.txt"
    source.write_text("EU .\n")
    with pytest.raises(RuntimeError) as err:
        annotate_file("any-pipeline", source, tmp_path / "out.jsonl", AnnotateSettings(backend="ray"))
    assert str(err.value) == RAY_EXTRA_HINT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"], "nothing written"


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def time_limit():
    """Fail instead of hanging if Ray never finishes."""
    def expired(*_):
        raise TimeoutError(f"Ray run took over {RAY_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(RAY_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def texts_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": text, "n": i}) + "\n" for i, text in enumerate(DOCS)), encoding="utf8")
    return path


@pytest.mark.slow
def test_ray_equals_local_for_both_heads(ray_runtime, time_limit, pipelines, tmp_path):
    source = texts_file(tmp_path)
    for head in HEADS:
        local, distributed = tmp_path / f"{head}.local.jsonl", tmp_path / f"{head}.ray.jsonl"
        annotate_file(pipelines[head], source, local, AnnotateSettings(batch_size=4))
        chunks = {"chunk_docs": len(DOCS) // 2 + 1} if head == "ner" else {}  # two chunks: the offsets carry on
        settings = AnnotateSettings(backend="ray", batch_size=4, concurrency=2, ray_options=chunks)
        counts = annotate_file(pipelines[head], source, distributed, settings)
        assert (counts.read, counts.written, counts.rejected) == (len(DOCS), len(DOCS), 0)
        assert same_records(read_jsonl(distributed), read_jsonl(local)), head
        assert [r["n"] for r in read_jsonl(distributed)] == list(range(len(DOCS)))


@pytest.mark.slow
def test_killed_actor_loses_and_doubles_nothing(ray_runtime, time_limit, pipelines, tmp_path):
    marker = tmp_path / "killed"

    class KilledOnce(Annotator):
        """Kills its own process on the first batch any actor gets; Ray restarts it and retries the batch."""

        def __call__(self, batch):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return super().__call__(batch)

    source = texts_file(tmp_path)
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    annotate_file(pipelines["token_classifier"], source, local, AnnotateSettings(batch_size=4))
    settings = AnnotateSettings(backend="ray", batch_size=4, concurrency=2, ray_options={"annotator": KilledOnce})
    counts = annotate_file(pipelines["token_classifier"], source, distributed, settings)
    assert marker.exists(), "an actor was killed"
    assert (counts.read, counts.written) == (len(DOCS), len(DOCS))
    assert same_records(read_jsonl(distributed), read_jsonl(local))
