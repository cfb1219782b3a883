"""Builders shared by the bench tests: a small gold DocBin and tiny trained pipelines."""
from pathlib import Path
from typing import Dict

import pytest
import spacy
from spacy.tokens import DocBin

from .conftest import TRAIN_SENTENCES, build_pipeline, gold_doc, make_examples

HEADS = ("token_classifier", "ner")


def write_docbin(folder: Path) -> Path:
    """Three gold documents of two sentences each (TRAIN_SENTENCES), as ``folder/test.spacy``."""
    blank = spacy.blank("en")
    docs = [gold_doc(blank, TRAIN_SENTENCES[i : i + 2]) for i in range(0, len(TRAIN_SENTENCES), 2)]
    path = folder / "test.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def train_and_save(tiny_bert_dir: Path, head: str, path: Path, n_steps: int = 3) -> Path:
    """transformer + ``head`` on the tiny BERT, a few updates, saved to ``path``."""
    nlp = build_pipeline(tiny_bert_dir, head=head)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(n_steps):
        nlp.update(examples, sgd=optimizer, losses={})
    nlp.to_disk(path)
    return path


def train_heads(tiny_bert_dir: Path, root: Path) -> Dict[str, Path]:
    """One trained pipeline per head, under ``root``."""
    return {head: train_and_save(tiny_bert_dir, head, root / head) for head in HEADS}


# Fixtures shared by the bench test modules (imported there under these names; pytest finds
# them by their `name`, so the test arguments do not shadow the imports).
@pytest.fixture(scope="module", name="docbin_path")
def docbin_path_fixture(tmp_path_factory) -> Path:
    return write_docbin(tmp_path_factory.mktemp("bench_data"))


@pytest.fixture(scope="module", name="pipelines")
def pipelines_fixture(tmp_path_factory, tiny_bert_dir) -> Dict[str, Path]:
    return train_heads(tiny_bert_dir, tmp_path_factory.mktemp("bench_pipelines"))
