"""hf-parity: the export and the spaCy pipeline, sentence by sentence, with every disagreement counted."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.hf.hf_to_spacy import import_hf
from spacy_bert_ner.hf.parity import corpus_sentences, hf_parity
from spacy_bert_ner.hf.spacy_to_hf import export_hf

from .test_interop import HF_ID2LABEL, PARITY_TEXTS, build_hf_token_classifier


@pytest.fixture(scope="module")
def pair(tiny_bert_dir, tmp_path_factory):
    """(viterbi-decoding pipeline imported from a random HF checkpoint, its export, a 2-doc corpus)."""
    root = tmp_path_factory.mktemp("parity")
    hf_dir = build_hf_token_classifier(tiny_bert_dir, root / "hf", HF_ID2LABEL)
    import_hf(hf_dir, root / "pipeline", decoding="viterbi")
    export_hf(root / "pipeline", root / "export")
    vocab, words = Vocab(), [text.split() for text in PARITY_TEXTS]
    docs = []
    for group in (words[:4], words[4:]):
        doc = Doc(vocab, words=[w for sent in group for w in sent])
        starts = {sum(len(s) for s in group[:i]) for i in range(len(group))}
        for i, token in enumerate(doc):
            token.is_sent_start = i in starts
        docs.append(doc)
    DocBin(docs=docs).to_disk(root / "test.spacy")
    return root / "pipeline", root / "export", root / "test.spacy"


def test_corpus_sentences_in_reading_order(pair):
    assert corpus_sentences(pair[2]) == [text.split() for text in PARITY_TEXTS]


def test_export_agrees_with_repair_decoding_on_every_sentence(pair):
    """The pipeline decodes with viterbi; the check overrides it with repair (HF's rule) and agrees."""
    report = hf_parity(*pair)
    assert report["sentences"] == len(PARITY_TEXTS)
    assert report["spacy_entities"] >= 15  # not vacuous
    assert report["sentences_differing"] == 0, report["disagreements"]
    assert report["differing_at_split_words"] == 0 and report["differing_otherwise"] == []
    assert report["same_entities"] == report["spacy_entities"] == report["hf_entities"]


def test_a_changed_export_is_caught(pair, tmp_path):
    from transformers import AutoModelForTokenClassification

    pipeline_dir, export_dir, corpus = pair
    changed = tmp_path / "changed"
    shutil.copytree(export_dir, changed)
    model = AutoModelForTokenClassification.from_pretrained(str(changed))
    with torch.no_grad():
        model.classifier.bias[model.config.label2id["O"]] += 3.0  # fewer entities on the HF side
    model.save_pretrained(str(changed), safe_serialization=True)
    report = hf_parity(pipeline_dir, changed, corpus)
    assert report["sentences_differing"] > 0
    assert report["hf_entities"] < report["spacy_entities"]
    assert len(report["disagreements"]) == report["sentences_differing"]
    assert report["differing_otherwise"]  # no word here is split by the pre-tokenizer


def test_cli_writes_the_report_and_refuses_its_input(pair, tmp_path):
    runner = CliRunner()
    out = tmp_path / "parity.json"
    args = ["hf-parity", *map(str, pair)]
    result = runner.invoke(app, [*args, str(out), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["sentences"] == 3
    assert "3 sentences" in result.output
    result = runner.invoke(app, [*args, str(pair[2])])
    assert result.exit_code == 1 and "is the input" in result.output
    assert Path(pair[2]).read_bytes()[:1] != b"{"
