"""The HF Trainer recipe on GMB: it reads the DocBin splits the spaCy rows use (hf.recipe_data.read_sentences)."""
import json
from pathlib import Path

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.cli.hf import split_file
from spacy_bert_ner.data import convert
from spacy_bert_ner.encoders.tiny import build_tiny_bert
from spacy_bert_ner.hf.recipe_data import read_sentences

from .corpus_samples import GMB_CSV

SENTENCES = [
    ["Thousands", "marched", "through", "London", "."],
    ["10,000", '"', "Iraqi", "troops"],
    ["President", "Bush", "spoke"],
]
TAGS = [["O", "O", "O", "B-geo", "O"], ["O", "O", "B-gpe", "O"], ["B-per", "I-per", "O"]]


@pytest.fixture(scope="module")
def gmb_dir(tmp_path_factory) -> Path:
    """train/dev/test.spacy, each the GMB sample (2 sentences in the first Doc, 1 in the second)."""
    folder = tmp_path_factory.mktemp("gmb")
    (folder / "ner.csv").write_text(GMB_CSV, encoding="utf8")
    for split in ("train", "dev", "test"):
        convert(folder / "ner.csv", folder / f"{split}.spacy", fmt="gmb", n_sents=2)
    return folder


def test_read_sentences_of_a_docbin_are_its_gold_sentences(gmb_dir):
    assert read_sentences(gmb_dir / "test.spacy") == (SENTENCES, TAGS)


def test_a_doc_without_sentence_starts_is_one_sentence(tmp_path):
    doc = Doc(Vocab(), words=["Bush", "spoke"], ents=["B-per", "O"])
    DocBin(docs=[doc]).to_disk(tmp_path / "x.spacy")
    assert read_sentences(tmp_path / "x.spacy") == ([["Bush", "spoke"]], [["B-per", "O"]])


def test_a_spacy_file_that_is_not_a_docbin_is_refused(tmp_path):
    (tmp_path / "x.spacy").write_text("EU B-ORG\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"x\.spacy: not a DocBin \(\.spacy\) file"):
        read_sentences(tmp_path / "x.spacy")


def test_split_file_prefers_conll_then_docbin(tmp_path):
    assert split_file(tmp_path, "train") == tmp_path / "train.txt"  # neither: the CoNLL name, for the error
    (tmp_path / "train.spacy").write_bytes(b"")
    assert split_file(tmp_path, "train") == tmp_path / "train.spacy"
    (tmp_path / "train.txt").write_text("", encoding="utf8")
    assert split_file(tmp_path, "train") == tmp_path / "train.txt"


def test_cli_runs_the_recipe_on_docbin_splits(gmb_dir, tmp_path):
    encoder = build_tiny_bert(tmp_path / "tiny", [w for s in SENTENCES for w in s] * 3)
    output = tmp_path / "hf_recipe.json"
    args = ["hf-recipe", str(encoder), str(gmb_dir), str(output), "--epochs", "1", "--batch-size", "4",
            "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(output.read_text(encoding="utf8"))
    assert saved["data"]["train"]["path"] == str(gmb_dir / "train.spacy")
    assert saved["data"]["test"]["n_sentences_used"] == 3 and saved["data"]["test"]["n_words_used"] == 12
    assert saved["config"]["labels"] == ["O", "B-geo", "I-geo", "B-gpe", "I-gpe", "B-per", "I-per"]
