"""Shared fixtures: a tiny random BERT built locally (seconds, offline) and small corpora."""
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_bert_ner.encoders.tiny import build_tiny_bert

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TRAIN_SENTENCES = [
    ("EU rejects German call to boycott British lamb .", [(0, 1, "ORG"), (2, 3, "MISC"), (6, 7, "MISC")]),
    ("Peter Blackburn visited Brussels on Monday .", [(0, 2, "PER"), (3, 4, "LOC")]),
    ("The European Commission said on Thursday it disagreed .", [(1, 3, "ORG")]),
    ("Germany 's representative to the European Union 's committee Werner Zwingmann said .",
     [(0, 1, "LOC"), (5, 7, "ORG"), (9, 11, "PER")]),
    ("Fischler proposed EU-wide measures after reports from Britain and France .",
     [(0, 1, "PER"), (6, 7, "LOC"), (8, 9, "LOC")]),
    ("Rare Hendrix song draft sells for almost $ 17,000 .", [(1, 2, "PER")]),
]


def word_list() -> List[str]:
    words: List[str] = []
    for text, _ in TRAIN_SENTENCES:
        words.extend(text.split())
    return words * 3


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), word_list(), hidden_size=32)


def make_doc(nlp: Language, text: str, ents) -> Doc:
    words = text.split()
    doc = Doc(nlp.vocab, words=words)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return doc


def make_examples(nlp: Language, n_copies: int = 1) -> List[Example]:
    examples = []
    for _ in range(n_copies):
        for text, ents in TRAIN_SENTENCES:
            reference = make_doc(nlp, text, ents)
            examples.append(Example(nlp.make_doc(text), reference))
    return examples


def gold_doc(nlp: Language, sentences: List[Tuple[str, List[Tuple[int, int, str]]]]) -> Doc:
    """One gold Doc from whole sentences: single spaces, sentence starts, IOB2 ents (like corpus.py)."""
    words: List[str] = []
    starts: List[bool] = []
    ents: List[Tuple[int, int, str]] = []
    for text, spans in sentences:
        offset = len(words)
        sentence = text.split()
        words.extend(sentence)
        starts.extend([True] + [False] * (len(sentence) - 1))
        ents.extend((offset + s, offset + e, label) for s, e, label in spans)
    doc = Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False], sent_starts=starts)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return doc


SENTENCE_WINDOWS = {"@span_getters": "spacy-bert-ner.sentence_windows.v1", "window": 128}  # the configs' windows


def build_pipeline(
    model_dir: Path, head: str = "token_classifier", *, window: int = 8, stride: int = 6,
    get_spans: Optional[dict] = None, **head_config
) -> Language:
    """transformer + head on the tiny BERT, configured like configs/*.cfg.

    The default strided 8/6 windows make every test sentence span several
    windows; 128/96, or ``get_spans=SENTENCE_WINDOWS`` (the configs' windows),
    reads each sentence whole, as HF does.
    """
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(model_dir),
                "get_spans": get_spans or {
                    "@span_getters": "spacy-transformers.strided_spans.v1", "window": window, "stride": stride,
                },
                "tokenizer_config": {"use_fast": True},
            }
        },
    )
    nlp.add_pipe(head, config=head_config)
    return nlp


@pytest.fixture(scope="session")
def initialized_pipeline_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    """transformer + token_classifier on the tiny BERT, initialized (untrained), saved once.

    Read-only for the tests that share it: copy it before changing anything. Seeded, so that its
    random head does not depend on which test asks for it first.
    """
    fix_random_seed(0)
    nlp = build_pipeline(tiny_bert_dir)
    nlp.initialize(lambda: make_examples(nlp))
    path = tmp_path_factory.mktemp("initialized") / "pipeline"
    nlp.to_disk(path)
    return path
