"""The CoNLL-2003 reader (spacy_bert_ner.data.conll) and its one-line errors (errors, text)."""
import pickle
from pathlib import Path

import pytest

from spacy_bert_ner.data import CorpusFormatError, read_conll

from .corpus_samples import (
    CONLL_ENTS,
    CONLL_IOB2,
    ents,
    run_bad,
    sentences_per_doc,
    sents,
    write,
    vocab_fixture,  # noqa: F401  (the ``vocab`` fixture)
)


@pytest.mark.parametrize(
    "line,expected",
    [
        ("a b", "/x.txt:3: bad: 'a b'"),
        (None, "/x.txt:3: bad"),
    ],
)
def test_error_message_and_pickle(line, expected):
    err = CorpusFormatError(Path("/x.txt"), 3, "bad", line)
    assert str(err) == expected
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.line_no, copy.problem, copy.line) == (expected, 3, "bad", line)


# ---------------------------------------------------------------------------
# CoNLL reading


def test_conll_documents_sentences_pos_entities(tmp_path, vocab):
    docs = read_conll(write(tmp_path, "a.txt", CONLL_IOB2), vocab)
    assert len(docs) == 2
    assert [t.text for t in docs[0]] == "EU rejects German call . Peter Blackburn".split()
    assert "-DOCSTART-" not in docs[0].text + docs[1].text
    assert sents(docs[0]) == ["EU rejects German call .", "Peter Blackburn"]
    assert sents(docs[1]) == ["Germany France", "The European Commission"]
    assert [t.is_sent_start for t in docs[1]] == [True, False, True, False, False]
    assert [t.tag_ for t in docs[0]] == ["NNP", "VBZ", "JJ", "NN", ".", "NNP", "NNP"]
    assert [ents(doc) for doc in docs] == CONLL_ENTS
    assert docs[0].text == "EU rejects German call . Peter Blackburn"  # single spaces, no trailing one
    assert all(t.ent_iob_ in ("B", "I", "O") for doc in docs for t in doc)  # O is annotated, not missing


FIVE_SENTENCES = "\n\n".join(f"s{i} NN B-NP O" for i in range(5)) + "\n"
TWO_DOCUMENTS = (
    "-DOCSTART- -X- -X- O\n\n"
    + "\n\n".join(f"a{i} NN B-NP O" for i in range(3))
    + "\n\n-DOCSTART- -X- -X- O\n\n"
    + "\n\n".join(f"b{i} NN B-NP O" for i in range(2))
    + "\n"
)


@pytest.mark.parametrize(
    "text,n_sents,expected",
    [
        (FIVE_SENTENCES, 0, [1, 1, 1, 1, 1]),
        (FIVE_SENTENCES, 1, [1, 1, 1, 1, 1]),
        (FIVE_SENTENCES, 2, [2, 2, 1]),
        (FIVE_SENTENCES, 10, [5]),
        (TWO_DOCUMENTS, 0, [3, 2]),
        (TWO_DOCUMENTS, 2, [2, 1, 2]),
        (TWO_DOCUMENTS, 10, [3, 2]),
    ],
)
def test_n_sents_grouping(tmp_path, vocab, text, n_sents, expected):
    docs = read_conll(write(tmp_path, "a.txt", text), vocab, n_sents=n_sents)
    assert sentences_per_doc(docs) == expected
    first_letters = [{t.text[0] for t in doc} for doc in docs]
    assert all(len(letters) == 1 for letters in first_letters)  # never across a -DOCSTART-


@pytest.mark.parametrize(
    "text,expected",
    [
        ("-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n\nx NN B-NP O\n", [1]),  # empty document skipped
        ("\n\n\nx NN B-NP O\n\n\n\ny NN B-NP O\n\n\n", [1, 1]),  # runs of blank lines
        # no blank line after -DOCSTART-, no final newline
        ("-DOCSTART- -X- -X- O\nx NN B-NP O\n\n-DOCSTART- -X- -X- O\ny NN B-NP O", [1, 1]),
        ("x NN B-NP O\r\n\r\ny NN B-NP B-LOC\r\n", [1, 1]),  # CRLF
    ],
    ids=["empty-document", "blank-runs", "docstart-no-blank", "crlf"],
)
def test_conll_layout_variants(tmp_path, vocab, text, expected):
    docs = read_conll(write(tmp_path, "a.txt", text), vocab)
    assert sentences_per_doc(docs) == expected
    assert all("\r" not in t.text and "\r" not in t.tag_ for doc in docs for t in doc)


def test_two_column_input(tmp_path, vocab):
    text = "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n"
    docs = read_conll(write(tmp_path, "a.txt", text), vocab)
    assert len(docs) == 1
    assert sents(docs[0]) == ["EU rejects", "Peter Blackburn"]
    assert ents(docs[0]) == [("EU", "ORG"), ("Peter Blackburn", "PER")]
    assert not docs[0].has_annotation("TAG")


@pytest.mark.parametrize(
    "word",
    [
        "Zürich", "naïve", "zero\u200bwidth", "joiner\u200d", "no\u00a0break", "line\u2028sep",
        "\ufeffbom", "東京", "🙂", "a\x1cb",
    ],
)
def test_odd_unicode_words(tmp_path, vocab, word):
    text = f"{word} NNP B-NP B-LOC\nx NN I-NP O\n"
    docs = read_conll(write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\n\n" + text), vocab)
    assert [t.text for t in docs[1]] == [word, "x"]
    assert ents(docs[1]) == [(word, "LOC")]


def test_leading_bom_is_not_a_word(tmp_path, vocab):
    docs = read_conll(write(tmp_path, "a.txt", "\ufeffEU NNP B-NP B-ORG\n"), vocab)
    assert [t.text for t in docs[0]] == ["EU"]


# ---------------------------------------------------------------------------
# bad input: message names file and line; convert() leaves nothing behind

CONLL_BAD = [
    # (id, content, kwargs, line, problem substring)
    ("columns", "EU NNP B-NP B-ORG\nrejects VBZ O\n", {}, 2, "expected 4 columns (token POS chunk NER), got 3"),
    ("columns-2col", "EU B-ORG\nrejects VBZ B-VP O\n", {}, 2, "expected 2 columns (token NER), got 4"),
    ("columns-first", "EU NNP B-ORG\n", {}, 1, "or 4 columns (token POS chunk NER), got 3"),
    ("columns-docstart", "-DOCSTART- O\n\nEU NNP B-NP B-ORG\n", {}, 3, "expected 2 columns"),
    ("tag-no-type", "EU NNP B-NP B-ORG\n\nx NN B-NP B-\n", {}, 3, "invalid NER tag 'B-'"),
    ("tag-bilou", "EU NNP B-NP U-ORG\n", {}, 1, "invalid NER tag 'U-ORG'; expected O, B-TYPE or I-TYPE"),
    ("tag-bare", "EU NNP B-NP ORG\n", {}, 1, "invalid NER tag 'ORG'"),
    ("empty", "", {}, 1, "file is empty"),
    ("blank", "\n  \n\t\n", {}, 1, "file is empty"),
    ("docstart-only", "-DOCSTART- -X- -X- O\n\n", {}, 1, "no tokens found"),
    ("undecodable", b"EU NNP B-NP B-ORG\nre\xffjects VBZ B-VP O\n", {}, 2,
     "cannot decode as utf-8 (byte 0xff at column 3)"),
    ("latin1", "a NN B-NP O\n\nM\xfcnchen NNP B-NP B-LOC\n".encode("latin-1"), {}, 3, "byte 0xfc at column 2"),
    ("docstart-inside", "EU NNP B-NP B-ORG\n-DOCSTART- -X- -X- O\n", {}, 2, "-DOCSTART- inside a sentence"),
    ("iob2-forced", "a NN B-NP O\n\nb NN B-NP O\nc NNP B-NP I-PER\n", {"scheme": "iob2"}, 4,
     "I-PER follows O; this is IOB1, pass scheme='iob1' or 'auto'"),
    ("iob2-forced-start", "a NN B-NP O\n\nc NNP B-NP I-PER\n", {"scheme": "iob2"}, 3, "I-PER starts a sentence"),
    ("iob2-forced-type", "c NNP B-NP B-LOC\nd NNP B-NP I-PER\n", {"scheme": "iob2"}, 2, "I-PER follows B-LOC"),
]


@pytest.mark.parametrize("case", CONLL_BAD, ids=[c[0] for c in CONLL_BAD])
def test_conll_bad_input(tmp_path, vocab, case):
    name, content, kwargs, line, problem = case
    run_bad(tmp_path, vocab, f"{name}.txt", content, kwargs, "conll", line, problem)


def test_error_quotes_the_line(tmp_path, vocab):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\r\nrejects VBZ O\r\n")
    with pytest.raises(CorpusFormatError) as info:
        read_conll(path, vocab)
    assert info.value.line == "rejects VBZ O"
    assert str(info.value).endswith(": 'rejects VBZ O'")


def test_undecodable_line_is_quoted_readably(tmp_path, vocab):
    path = write(tmp_path, "a.txt", b"ok NN B-NP O\nbad\xff NN B-NP O\nnext NN B-NP O\n")
    with pytest.raises(CorpusFormatError) as info:
        read_conll(path, vocab)
    assert info.value.line == "bad\\xff NN B-NP O"
