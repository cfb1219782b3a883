"""IOB1 -> IOB2 and scheme detection (spacy_bert_ner.data.iob), on tiny files and, slow, a CoNLL-2003 IOB1 copy."""
import pytest

from spacy_bert_ner.data import CorpusFormatError, convert, iob1_to_iob2, read_conll

from .corpus_samples import (
    CONLL_ENTS,
    CONLL_IOB2,
    SHARED_DATA,
    conll_to_iob1,
    ents,
    expected_counts,
    iob2_to_iob1,
    needs_data,
    write,
    vocab_fixture,  # noqa: F401  (the ``vocab`` fixture)
)


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
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "per_type")} == expected_counts("train")
    spans = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in read_conll(iob1, vocab)]
    assert spans == [[(e.start, e.end, e.label_) for e in doc.ents] for doc in read_conll(original, vocab)]
    with pytest.raises(CorpusFormatError, match=r"train_iob1\.txt:\d+: I-\w+ (follows|starts)"):
        read_conll(iob1, vocab, scheme="iob2")
