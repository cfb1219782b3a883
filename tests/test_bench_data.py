"""The benchmark's words: documents cut at sentence boundaries, sentences, wordpieces."""
from pathlib import Path

import pytest

from spacy_bert_ner.bench.data import BenchData, count_wordpieces, doc_sentences, load_docs
from spacy_bert_ner.hf.loader import load_fast_tokenizer

from .bench_helpers import write_docbin
from .conftest import TRAIN_SENTENCES


@pytest.fixture(scope="module")
def docbin_path(tmp_path_factory) -> Path:
    return write_docbin(tmp_path_factory.mktemp("bench_data"))


def test_load_docs_cuts_at_sentence_boundaries(docbin_path):
    all_docs = load_docs(docbin_path)
    lengths = [[len(text.split()) for text, _ in TRAIN_SENTENCES[i : i + 2]] for i in (0, 2, 4)]
    assert [len(doc) for doc in all_docs] == [sum(pair) for pair in lengths]
    # whole first doc + the first sentence of the second
    limit = sum(lengths[0]) + lengths[1][0]
    cut = load_docs(docbin_path, max_words=limit + 1)
    assert [len(doc) for doc in cut] == [sum(lengths[0]), lengths[1][0]]
    assert doc_sentences(cut)[-1] == TRAIN_SENTENCES[2][0].split()
    assert [(e.start, e.end, e.label_) for e in cut[1].ents] == TRAIN_SENTENCES[2][1]
    # a limit inside the first sentence still keeps one sentence
    assert [len(doc) for doc in load_docs(docbin_path, max_words=2)] == [lengths[0][0]]
    with pytest.raises(FileNotFoundError):
        load_docs(docbin_path.parent / "missing.spacy")
    with pytest.raises(ValueError, match="max_words"):
        load_docs(docbin_path, max_words=-1)


def test_bench_data_sums_up_the_words(docbin_path):
    data = BenchData.load(docbin_path, max_words=0)
    summary = data.summary()
    assert summary["n_docs"] == 3 and summary["n_sentences"] == len(TRAIN_SENTENCES)
    assert summary["n_words"] == sum(len(text.split()) for text, _ in TRAIN_SENTENCES) == data.n_words
    assert data.sentences == [text.split() for text, _ in TRAIN_SENTENCES]
    assert summary["fingerprint"] == BenchData.load(docbin_path).summary()["fingerprint"]
    assert summary["fingerprint"] != BenchData.load(docbin_path, max_words=5).summary()["fingerprint"]


def test_wordpieces_are_counted_without_special_tokens(tiny_bert_dir):
    tokenizer = load_fast_tokenizer(tiny_bert_dir)
    sentences = [["Peter", "Blackburn"], ["Zwingmann"]]
    expected = sum(len(tokenizer.tokenize(word)) for sentence in sentences for word in sentence)
    assert count_wordpieces(tokenizer, sentences) == expected
    assert count_wordpieces(tokenizer, []) == 0
