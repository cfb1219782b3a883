"""CoNLL-2003 / GMB readers, DocBin writing and conversion (tiny fixtures; real data marked slow)."""
import os
import pickle
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_bert_ner import files
from spacy_bert_ner.data.corpus import (
    CorpusFormatError,
    convert,
    corpus_stats,
    iob1_to_iob2,
    read_conll,
    read_gmb,
    write_docbin,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Two documents: 2 + 2 sentences, 12 tokens, 6 entities; IOB2.
CONLL_IOB2 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Germany NNP B-NP B-LOC
France NNP I-NP B-LOC

The DT B-NP O
European NNP I-NP B-ORG
Commission NNP I-NP I-ORG
"""
CONLL_ENTS = [
    [("EU", "ORG"), ("German", "MISC"), ("Peter Blackburn", "PER")],
    [("Germany", "LOC"), ("France", "LOC"), ("European Commission", "ORG")],
]

GMB_CSV = '''\
Sentence #,Word,POS,Tag
Sentence: 1,Thousands,NNS,O
,marched,VBD,O
,through,IN,O
,London,NNP,B-geo
,.,.,O
Sentence: 2,"10,000",CD,O
,"""",``,O
,Iraqi,JJ,B-gpe
,troops,NNS,O
Sentence: 3,President,NNP,B-per
,Bush,NNP,I-per
,spoke,VBD,O
'''

# Published CoNLL-2003 statistics (shared/data/README.md).
CONLL_COUNTS = {
    "train": (946, 14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}, 23499),
    "dev": (216, 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}, 5942),
    "test": (231, 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}, 5648),
}


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def vocab():
    return spacy.blank("en").vocab


def write(tmp_path: Path, name: str, content: Union[str, bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def ents(doc: Doc) -> List[Tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in doc.ents]


def sents(doc: Doc) -> List[str]:
    return [sent.text for sent in doc.sents]


def iob2_to_iob1(tags: Sequence[str]) -> List[str]:
    """B-X becomes I-X unless the previous tag is B-X or I-X of the same type."""
    out, previous = [], "O"
    for tag in tags:
        touches = previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]
        out.append("I-" + tag[2:] if tag.startswith("B-") and not touches else tag)
        previous = tag
    return out


def conll_to_iob1(text: str) -> str:
    """Rewrite the last column of a CoNLL text from IOB2 to IOB1, sentence by sentence."""
    out: List[str] = []
    sentence: List[List[str]] = []

    def flush() -> None:
        for fields, tag in zip(sentence, iob2_to_iob1([f[-1] for f in sentence])):
            out.append(" ".join(fields[:-1] + [tag]))
        sentence.clear()

    for line in text.split("\n"):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            flush()
            out.append(line)
        else:
            sentence.append(fields)
    flush()
    return "\n".join(out)


def sentences_per_doc(docs: Sequence[Doc]) -> List[int]:
    return [len(sents(doc)) for doc in docs]


# ---------------------------------------------------------------------------
# pure helpers


@pytest.mark.parametrize(
    "tags,expected",
    [
        ([], []),
        (["O", "O"], ["O", "O"]),
        (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        (["I-LOC", "B-LOC"], ["B-LOC", "B-LOC"]),
        (["O", "I-ORG", "I-ORG", "I-LOC"], ["O", "B-ORG", "I-ORG", "B-LOC"]),
        (["B-LOC", "I-PER"], ["B-LOC", "B-PER"]),
        (["B-MISC", "I-MISC", "B-MISC"], ["B-MISC", "I-MISC", "B-MISC"]),
        (["I-geo", "O", "I-geo"], ["B-geo", "O", "B-geo"]),
    ],
)
def test_iob1_to_iob2(tags, expected):
    assert iob1_to_iob2(tags) == expected
    assert iob1_to_iob2(expected) == expected  # IOB2 is a fixed point


@pytest.mark.parametrize("iob2", [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG", "I-ORG"], ["O"], []])
def test_iob1_round_trip(iob2):
    assert iob1_to_iob2(iob2_to_iob1(iob2)) == iob2


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


@pytest.mark.parametrize(
    "to_iob1,scheme,expected_scheme",
    [
        (False, "auto", "iob2"),
        (False, "iob2", "iob2"),
        (False, "iob1", "iob1"),
        (True, "auto", "iob1"),
        (True, "iob1", "iob1"),
    ],
)
def test_schemes_give_same_entities(tmp_path, vocab, to_iob1, scheme, expected_scheme):
    text = conll_to_iob1(CONLL_IOB2) if to_iob1 else CONLL_IOB2
    assert ("B-ORG" in text) != to_iob1  # the IOB1 copy really differs
    path = write(tmp_path, "a.txt", text)
    assert [ents(doc) for doc in read_conll(path, vocab, scheme=scheme)] == CONLL_ENTS
    stats = convert(path, tmp_path / "a.spacy", scheme=scheme)
    assert stats["scheme"] == expected_scheme
    assert stats["entities"] == 6


@pytest.mark.parametrize(
    "tags,expected_scheme",
    [
        (["B-PER", "I-PER", "O"], "iob2"),
        (["O", "O", "O"], "iob2"),
        (["B-PER", "B-PER", "O"], "iob2"),
        (["O", "I-PER", "O"], "iob1"),
        (["B-LOC", "I-PER", "O"], "iob1"),
        (["I-PER", "B-PER", "O"], "iob1"),
    ],
)
def test_auto_detection(tmp_path, tags, expected_scheme):
    # The evidence sits in the second sentence; a sentence start counts as O.
    lines = ["a DT B-NP O", "b NN I-NP B-ORG", ""] + [f"w{i} NN I-NP {tag}" for i, tag in enumerate(tags)]
    path = write(tmp_path, "a.txt", "\n".join(lines) + "\n")
    assert convert(path, tmp_path / "a.spacy")["scheme"] == expected_scheme


def test_entity_continuing_across_sentences_is_iob1(tmp_path, vocab):
    # I-PER at a sentence start begins a new entity even if the last sentence ended in PER.
    path = write(tmp_path, "a.txt", "Peter NNP B-NP B-PER\n\nSmith NNP B-NP I-PER\n")
    docs = read_conll(path, vocab, n_sents=2)
    assert ents(docs[0]) == [("Peter", "PER"), ("Smith", "PER")]


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


def _check_error(err: CorpusFormatError, path: Path, line: int, problem: str) -> None:
    message = str(err)
    assert message.startswith(f"{path}:{line}: "), message
    assert f"{path.name}:{line}:" in message
    assert problem in message
    assert (err.line_no, Path(err.path)) == (line, path)


def _run_bad(tmp_path: Path, vocab: Vocab, name: str, content: Union[str, bytes], kwargs: Dict[str, Any],
             fmt: str, line: int, problem: str) -> None:
    path = write(tmp_path, name, content)
    reader = read_conll if fmt == "conll" else read_gmb
    with pytest.raises(CorpusFormatError) as info:
        reader(path, vocab, **kwargs)
    _check_error(info.value, path, line, problem)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CorpusFormatError) as info:
        convert(path, out_dir / "x.spacy", fmt=fmt, **kwargs)  # type: ignore[arg-type]
    _check_error(info.value, path, line, problem)
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("case", CONLL_BAD, ids=[c[0] for c in CONLL_BAD])
def test_conll_bad_input(tmp_path, vocab, case):
    name, content, kwargs, line, problem = case
    _run_bad(tmp_path, vocab, f"{name}.txt", content, kwargs, "conll", line, problem)


@pytest.mark.parametrize("case", GMB_BAD, ids=[c[0] for c in GMB_BAD])
def test_gmb_bad_input(tmp_path, vocab, case):
    name, content, kwargs, line, problem = case
    _run_bad(tmp_path, vocab, f"{name}.csv", content, kwargs, "gmb", line, problem)


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

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} not available")


def _expected(split: str) -> Dict[str, Any]:
    documents, sentences, tokens, per_type, entities = CONLL_COUNTS[split]
    return {"documents": documents, "sentences": sentences, "tokens": tokens, "entities": entities,
            "per_type": per_type}


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_conll2003_published_counts(tmp_path, split):
    stats = convert(SHARED_DATA / "conll2003" / f"{split}.txt", tmp_path / f"{split}.spacy")
    assert stats["scheme"] == "iob2"
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "per_type")} == _expected(split)
    assert sum(stats["per_type"].values()) == stats["entities"]


@pytest.mark.slow
@needs_data
def test_conll2003_train_iob1_copy_gives_same_entities(tmp_path, vocab):
    original = SHARED_DATA / "conll2003" / "train.txt"
    text = original.read_text(encoding="utf-8")
    iob1_text = conll_to_iob1(text)
    assert iob1_text != text
    iob1 = write(tmp_path, "train_iob1.txt", iob1_text)
    stats = convert(iob1, tmp_path / "train.spacy")
    assert stats["scheme"] == "iob1"
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "per_type")} == _expected("train")
    spans = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in read_conll(iob1, vocab)]
    assert spans == [[(e.start, e.end, e.label_) for e in doc.ents] for doc in read_conll(original, vocab)]
    with pytest.raises(CorpusFormatError, match=r"train_iob1\.txt:\d+: I-\w+ (follows|starts)"):
        read_conll(iob1, vocab, scheme="iob2")


@pytest.mark.slow
@needs_data
def test_gmb_sample(tmp_path):
    stats = convert(SHARED_DATA / "gmb" / "ner_dataset_head.csv", tmp_path / "gmb.spacy", fmt="gmb", n_sents=10)
    assert (stats["sentences"], stats["tokens"], stats["documents"]) == (8300, 181291, 830)
    assert stats["scheme"] == "iob2"
    assert set(stats["per_type"]) == {"art", "eve", "geo", "gpe", "nat", "org", "per", "tim"}
