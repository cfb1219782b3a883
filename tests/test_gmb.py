"""The GMB ner_dataset.csv reader (spacy_bert_ner.data.gmb), its one-line errors and its 80/10/10 split."""
import pytest

from spacy_bert_ner.data import convert, read_gmb
from spacy_bert_ner.data.splits import split_range

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
    ("missing-tag", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n,b,NN,\n", {}, 3, "missing NER tag"),
    ("unknown-type", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,B-loc\n", {}, 2, "unknown entity type 'loc'"),
    ("cut-type", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,B-g\n", {}, 2, "unknown entity type 'g'"),
    ("backwards", "Sentence #,Word,POS,Tag\nSentence: 2,a,DT,O\nSentence: 1,b,NN,O\n", {}, 3,
     "sentence id 1 goes backwards (previous sentence: 2)"),
    ("repeated-id", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\nSentence: 2,b,NN,O\n,c,NN,O\n"
     "Sentence: 1,d,NN,O\n", {}, 5, "sentence id 1 goes backwards"),
    ("marker", "Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\nSent 2,b,NN,O\n", {}, 3,
     "expected 'Sentence: N' in the 'Sentence #' column, got 'Sent 2'"),
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


# ---------------------------------------------------------------------------
# the 80/10/10 split


def _numbered_csv(n: int) -> str:
    rows = "".join(f"Sentence: {i},w{i},NN,B-geo\n,x{i},NN,O\n" for i in range(1, n + 1))
    return "Sentence #,Word,POS,Tag\n" + rows


@pytest.mark.parametrize("n", [1, 2, 9, 10, 19, 47959])
def test_split_blocks_cover_every_sentence_once_in_order(n):
    ranges = [split_range(n, split) for split in ("train", "dev", "test")]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert split_range(n, "all") == (0, n)


def test_split_of_the_full_file_is_the_stated_one():
    # README/docs state train 1..38,367, dev 38,368..43,163, test 43,164..47,959
    assert [split_range(47959, s) for s in ("train", "dev", "test")] == [(0, 38367), (38367, 43163), (43163, 47959)]


@pytest.mark.parametrize("split,first,last", [("train", 1, 16), ("dev", 17, 18), ("test", 19, 20), ("all", 1, 20)])
def test_gmb_split_keeps_a_contiguous_block(tmp_path, vocab, split, first, last):
    docs = read_gmb(write(tmp_path, "ner.csv", _numbered_csv(20)), vocab, n_sents=3, split=split)
    words = [sent[0].text for doc in docs for sent in doc.sents]
    assert words == [f"w{i}" for i in range(first, last + 1)]
    assert all(len(list(doc.sents)) <= 3 for doc in docs)  # grouped after the cut


def test_convert_split_counts_and_refusals(tmp_path):
    path = write(tmp_path, "ner.csv", _numbered_csv(20))
    stats = convert(path, tmp_path / "dev.spacy", fmt="gmb", n_sents=1, split="dev")
    assert (stats["split"], stats["sentences"], stats["tokens"], stats["entities"]) == ("dev", 2, 4, 2)
    with pytest.raises(ValueError, match="split must be one of all, train, dev, test; got 'val'"):
        convert(path, tmp_path / "x.spacy", fmt="gmb", split="val")
    with pytest.raises(ValueError, match="applies to fmt='gmb' only"):
        convert(path, tmp_path / "x.spacy", fmt="conll", split="train")
    assert not (tmp_path / "x.spacy").exists()


# Computed once from ner_dataset.csv.gz with the split above (n_sents=10); their sums are the
# published totals of shared/data/README.md, checked below.
GMB_SPLIT_COUNTS = {
    "train": {"documents": 3837, "sentences": 38367, "tokens": 839237, "entities": 89413},
    "dev": {"documents": 480, "sentences": 4796, "tokens": 105396, "entities": 11183},
    "test": {"documents": 480, "sentences": 4796, "tokens": 103942, "entities": 11295},
}
GMB_TOTALS = {"sentences": 47959, "tokens": 1048575, "entities": 111891}
GMB_PER_TYPE = {"geo": 37644, "gpe": 15870, "per": 16990, "org": 20143, "tim": 20333, "art": 402, "eve": 308, "nat": 201}


@pytest.mark.slow
@needs_data
def test_gmb_full_file_split_counts(tmp_path):
    per_type = dict.fromkeys(GMB_PER_TYPE, 0)
    totals = dict.fromkeys(GMB_TOTALS, 0)
    for split, expected in GMB_SPLIT_COUNTS.items():
        stats = convert(SHARED_DATA / "gmb" / "ner_dataset.csv.gz", tmp_path / f"{split}.spacy", fmt="gmb",
                        n_sents=10, split=split)
        assert {key: stats[key] for key in expected} == expected, split
        assert stats["scheme"] == "iob2"
        for key in totals:
            totals[key] += stats[key]
        for label, count in stats["per_type"].items():
            per_type[label] += count
    assert totals == GMB_TOTALS
    assert per_type == GMB_PER_TYPE
