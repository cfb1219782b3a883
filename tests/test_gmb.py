"""The GMB ner_dataset.csv reader (spacy_bert_ner.data.gmb) and its one-line errors."""
import pytest

from spacy_bert_ner.data import convert, read_gmb

from .corpus_samples import (
    GMB_CSV,
    SHARED_DATA,
    ents,
    needs_data,
    run_bad,
    sentences_per_doc,
    sents,
    write,
    vocab_fixture,  # noqa: F401  (the ``vocab`` fixture)
)


# ---------------------------------------------------------------------------
# GMB reading


def test_gmb_parsing(tmp_path, vocab):
    docs = read_gmb(write(tmp_path, "ner.csv", GMB_CSV), vocab, n_sents=2)
    assert sentences_per_doc(docs) == [2, 1]
    assert sents(docs[0]) == ["Thousands marched through London .", '10,000 " Iraqi troops']
    assert [t.tag_ for t in docs[0]][:5] == ["NNS", "VBD", "IN", "NNP", "."]
    assert ents(docs[0]) == [("London", "geo"), ("Iraqi", "gpe")]
    assert ents(docs[1]) == [("President Bush", "per")]


@pytest.mark.parametrize("n_sents,expected", [(1, [1, 1, 1]), (0, [1, 1, 1]), (10, [3])])
def test_gmb_grouping(tmp_path, vocab, n_sents, expected):
    docs = read_gmb(write(tmp_path, "ner.csv", GMB_CSV), vocab, n_sents=n_sents)
    assert sentences_per_doc(docs) == expected


def test_gmb_default_groups_ten_sentences(tmp_path, vocab):
    rows = "".join(f"Sentence: {i},w{i},NN,O\n,x,NN,O\n" for i in range(1, 24))
    docs = read_gmb(write(tmp_path, "ner.csv", "Sentence #,Word,POS,Tag\n" + rows), vocab)
    assert sentences_per_doc(docs) == [10, 10, 3]


def test_gmb_forward_filled_marker_is_one_sentence(tmp_path, vocab):
    text = "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\nSentence: 1,b,NN,O\nSentence: 2,c,NN,O\n"
    docs = read_gmb(write(tmp_path, "ner.csv", text), vocab, n_sents=5)
    assert sents(docs[0]) == ["a b", "c"]


@pytest.mark.parametrize("encoding", [None, "latin-1"])
def test_gmb_latin1_bytes(tmp_path, vocab, encoding):
    data = "Sentence #,Word,POS,Tag\r\nSentence: 1,Caf\xe9,NNP,B-org\r\n,M\xfcnchen,NNP,B-geo\r\n".encode("latin-1")
    docs = read_gmb(write(tmp_path, "ner.csv", data), vocab, encoding=encoding)
    assert ents(docs[0]) == [("Café", "org"), ("München", "geo")]


def test_gmb_utf8_preferred(tmp_path, vocab):
    text = "Sentence #,Word,POS,Tag\nSentence: 1,Café,NNP,B-org\n"
    docs = read_gmb(write(tmp_path, "ner.csv", text), vocab)
    assert [t.text for t in docs[0]] == ["Café"]


GMB_BAD = [
    ("header", "Sentence,Word,POS,Tag\nSentence: 1,a,DT,O\n", {}, 1, "expected header 'Sentence #,Word,POS,Tag'"),
    ("header-empty", "", {}, 1, "file is empty"),
    ("header-only", "Sentence #,Word,POS,Tag\n", {}, 1, "no tokens found"),
    ("fields", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,10,000,CD,O\n", {}, 3, "expected 4 fields"),
    ("fields-short", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,b,NN\n", {}, 3, "got 3"),
    ("no-marker", "Sentence #,Word,POS,Tag\n,a,DT,O\n", {}, 2, "first data row has no 'Sentence: N'"),
    ("empty-word", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,,NN,O\n", {}, 3, "empty word"),
    ("tag", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,b,NN,B_geo\n", {}, 3, "invalid NER tag 'B_geo'"),
    ("encoding", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,Caf\xe9,NN,O\n".encode("latin-1"),
     {"encoding": "utf-8"}, 3, "cannot decode as utf-8 (byte 0xe9 at column 5)"),
]


@pytest.mark.parametrize("case", GMB_BAD, ids=[c[0] for c in GMB_BAD])
def test_gmb_bad_input(tmp_path, vocab, case):
    name, content, kwargs, line, problem = case
    run_bad(tmp_path, vocab, f"{name}.csv", content, kwargs, "gmb", line, problem)


@pytest.mark.slow
@needs_data
def test_gmb_sample(tmp_path):
    stats = convert(SHARED_DATA / "gmb" / "ner_dataset_head.csv", tmp_path / "gmb.spacy", fmt="gmb", n_sents=10)
    assert (stats["sentences"], stats["tokens"], stats["documents"]) == (8300, 181291, 830)
    assert stats["scheme"] == "iob2"
    assert set(stats["per_type"]) == {"art", "eve", "geo", "gpe", "nat", "org", "per", "tim"}
