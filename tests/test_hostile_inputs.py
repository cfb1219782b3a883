"""Hostile corpus files: no text dropped or garbled without a word (issue 18, items 7 and 8).

One test per case: a Windows-1252 GMB file, a gzip-compressed one, a cut gzip
file, a tag cut mid-way (``B-g``), an unknown CoNLL type, ``--labels``, an
IOB2 file read as IOB1 by ``auto`` (said, with the line), an IOB2 file with a
violation given as ``iob2`` (an error naming the line); slow: the real GMB
file's published counts.
"""
import gzip
import re

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.data import CorpusFormatError, convert, corpus_stats, read_conll, read_gmb

from .corpus_samples import SHARED_DATA, needs_data, write, vocab_fixture  # noqa: F401  (the ``vocab`` fixture)

GMB_HEADER = "Sentence #,Word,POS,Tag\r\n"
GMB_CP1252 = GMB_HEADER + "Sentence: 1,North,NNP,B-geo\r\n,Korea\x92s,NNP,I-geo\r\n,plan,NN,O\r\n,\x85,:,O\r\n"
C1_CONTROLS = re.compile("[\x80-\x9f]")


def _output(result):
    """The CLI's output as one line: wasabi wraps long messages at spaces."""
    return " ".join(result.output.split())


def _words(docs):
    return [token.text for doc in docs for token in doc]


def test_gmb_windows_1252_is_read_as_such(tmp_path, vocab):
    path = write(tmp_path, "ner.csv", GMB_CP1252.encode("latin-1"))  # the bytes 0x92, 0x85 as in the original
    docs = read_gmb(path, vocab)
    assert _words(docs) == ["North", "Korea’s", "plan", "…"]
    assert [ent.text for ent in docs[0].ents] == ["North Korea’s"]
    assert not any(C1_CONTROLS.search(word) for word in _words(docs))


def test_gmb_gzip_file_is_read(tmp_path, vocab):
    path = write(tmp_path, "ner_dataset.csv.gz", gzip.compress(GMB_CP1252.encode("latin-1")))
    assert _words(read_gmb(path, vocab)) == ["North", "Korea’s", "plan", "…"]


def test_cut_gzip_file_is_one_line_error(tmp_path, vocab):
    data = gzip.compress((GMB_HEADER + "Sentence: 1,a,NN,O\r\n" * 200).encode())
    path = write(tmp_path, "ner_dataset.csv.gz", data[: len(data) // 2])
    with pytest.raises(CorpusFormatError, match=r"ner_dataset\.csv\.gz:1: gzip-compressed but cannot be decompressed"):
        read_gmb(path, vocab)


def test_gmb_tag_cut_mid_way_is_not_a_new_label(tmp_path, vocab):
    path = write(tmp_path, "ner.csv", GMB_HEADER + "Sentence: 1,Paris,NNP,B-geo\r\n,Oslo,NNP,B-g\r\n")
    with pytest.raises(CorpusFormatError, match=r"ner\.csv:3: unknown entity type 'g' in tag 'B-g'.*--labels"):
        read_gmb(path, vocab)
    docs = read_gmb(path, vocab, labels=["geo", "g"])  # allowed when asked for
    assert [ent.label_ for ent in docs[0].ents] == ["geo", "g"]


def test_conll_unknown_type_needs_labels(tmp_path, vocab):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP B-ORX\n")
    with pytest.raises(CorpusFormatError, match=r"a\.txt:2: unknown entity type 'ORX'"):
        read_conll(path, vocab)
    assert [ent.label_ for ent in read_conll(path, vocab, labels=["ORG", "ORX"])[0].ents] == ["ORG", "ORX"]


def test_convert_cli_labels_option(tmp_path):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP B-ORX\n")
    runner = CliRunner()
    refused = runner.invoke(app, ["convert", str(path), str(tmp_path / "a.spacy")])
    assert refused.exit_code == 1 and "unknown entity type 'ORX'" in _output(refused)
    assert not (tmp_path / "a.spacy").exists()
    allowed = runner.invoke(app, ["convert", str(path), str(tmp_path / "a.spacy"), "--labels", "ORG,ORX"])
    assert allowed.exit_code == 0, allowed.output
    assert "ORX 1" in _output(allowed)


def test_auto_scheme_says_why_it_read_iob1(tmp_path):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\n\nthe DT B-NP O\nPeter NNP I-NP I-PER\n")
    stats = convert(path, tmp_path / "a.spacy")
    assert stats["scheme"] == "iob1"
    assert f"{path}:4: I-PER follows O" in stats["scheme_reason"] and "1 I- tags" in stats["scheme_reason"]
    result = CliRunner().invoke(app, ["convert", str(path), str(tmp_path / "b.spacy")])
    assert result.exit_code == 0 and f"Read as IOB1: auto: 1 I- tags start an entity (first: {path}:4: I-PER follows O)" in _output(result)


def test_iob2_file_with_a_violation_names_the_line(tmp_path):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\n\nthe DT B-NP O\nPeter NNP I-NP I-PER\n")
    result = CliRunner().invoke(app, ["convert", str(path), str(tmp_path / "a.spacy"), "--scheme", "iob2"])
    assert result.exit_code == 1
    assert f"{path}:4: I-PER follows O; this is IOB1" in _output(result)
    assert not (tmp_path / "a.spacy").exists()


@pytest.mark.slow
@needs_data
def test_real_gmb_file_gives_the_published_counts(tmp_path, vocab):
    docs = read_gmb(SHARED_DATA / "gmb" / "ner_dataset.csv.gz", vocab, n_sents=0)
    stats = corpus_stats(docs)
    assert (stats["sentences"], stats["tokens"], stats["entities"]) == (47_959, 1_048_575, 111_891)
    assert stats["per_type"] == {
        "art": 402, "eve": 308, "geo": 37_644, "gpe": 15_870, "nat": 201, "org": 20_143, "per": 16_990, "tim": 20_333,
    }
    assert not [token.text for doc in docs for token in doc if C1_CONTROLS.search(token.text)]
    assert any(token.text == "Korea’s" for doc in docs for token in doc)
