"""convert(), corpus_stats() and atomic DocBin writing (spacy_bert_ner.data.docbin); slow: published CoNLL-2003 counts."""
import os

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_bert_ner import files

from spacy_bert_ner.data import convert, corpus_stats, read_conll, write_docbin

from .corpus_samples import (
    CONLL_ENTS,
    CONLL_IOB2,
    GMB_CSV,
    SHARED_DATA,
    ents,
    expected_counts,
    needs_data,
    sents,
    write,
    vocab_fixture,  # noqa: F401  (the ``vocab`` fixture)
)


@pytest.mark.parametrize(
    "kwargs",
    [{"fmt": "json"}, {"scheme": "bilou"}, {"n_sents": -1}, {"limit_docs": -1}],
)
def test_convert_rejects_bad_arguments(tmp_path, kwargs):
    path = write(tmp_path, "a.txt", CONLL_IOB2)
    with pytest.raises(ValueError):
        convert(path, tmp_path / "out" / "a.spacy", **kwargs)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# stats, writing, convert


def test_corpus_stats(tmp_path, vocab):
    docs = read_conll(write(tmp_path, "a.txt", CONLL_IOB2), vocab)
    assert corpus_stats(docs) == {
        "documents": 2,
        "sentences": 4,
        "tokens": 12,
        "entities": 6,
        "per_type": {"LOC": 2, "MISC": 1, "ORG": 2, "PER": 1},
    }
    assert list(corpus_stats(docs)["per_type"]) == ["LOC", "MISC", "ORG", "PER"]


def test_corpus_stats_without_sentence_boundaries(vocab):
    docs = [Doc(vocab, words=["a", "b"]), Doc(vocab, words=[])]
    assert corpus_stats(docs) == {"documents": 2, "sentences": 1, "tokens": 2, "entities": 0, "per_type": {}}


def test_write_docbin_round_trip(tmp_path, vocab):
    docs = read_conll(write(tmp_path, "a.txt", CONLL_IOB2), vocab)
    out = tmp_path / "deep" / "er" / "a.spacy"
    write_docbin(docs, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.spacy"]
    loaded = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert [ents(doc) for doc in loaded] == CONLL_ENTS
    assert [sents(doc) for doc in loaded] == [sents(doc) for doc in docs]
    assert [[t.tag_ for t in doc] for doc in loaded] == [[t.tag_ for t in doc] for doc in docs]
    assert [doc.text for doc in loaded] == [doc.text for doc in docs]


def test_write_docbin_failing_docs_leave_nothing(tmp_path, vocab):
    def failing_docs():
        yield Doc(vocab, words=["a"])
        raise RuntimeError("boom")

    out = tmp_path / "out" / "a.spacy"
    with pytest.raises(RuntimeError):
        write_docbin(failing_docs(), out)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_write_docbin_failing_write_removes_temp_and_keeps_old_file(tmp_path, vocab, monkeypatch):
    out = tmp_path / "a.spacy"
    out.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_docbin([Doc(vocab, words=["a"])], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.spacy"]
    assert out.read_bytes() == b"old"


def test_write_docbin_respects_umask(tmp_path, vocab):
    out = tmp_path / "a.spacy"
    old = os.umask(0o022)
    try:
        write_docbin([Doc(vocab, words=["a"])], out)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("limit_docs,expected_docs", [(0, 2), (1, 1), (5, 2)])
def test_convert_conll(tmp_path, limit_docs, expected_docs):
    path = write(tmp_path, "a.txt", CONLL_IOB2)
    out = tmp_path / "corpus" / "a.spacy"
    stats = convert(path, out, limit_docs=limit_docs)
    assert stats["documents"] == expected_docs
    assert (stats["input"], stats["output"], stats["scheme"]) == (str(path), str(out), "iob2")
    loaded = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert len(loaded) == expected_docs


def test_convert_gmb(tmp_path):
    path = write(tmp_path, "ner.csv", GMB_CSV)
    stats = convert(path, tmp_path / "g.spacy", fmt="gmb", n_sents=2)
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "scheme")} == {
        "documents": 2, "sentences": 3, "tokens": 12, "entities": 3, "scheme": "iob2"
    }
    assert stats["per_type"] == {"geo": 1, "gpe": 1, "per": 1}


# ---------------------------------------------------------------------------
# real data (shared/data), slow


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_conll2003_published_counts(tmp_path, split):
    stats = convert(SHARED_DATA / "conll2003" / f"{split}.txt", tmp_path / f"{split}.spacy")
    assert stats["scheme"] == "iob2"
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "per_type")} == expected_counts(split)
    assert sum(stats["per_type"].values()) == stats["entities"]
