"""Hostile text for the encoder's windows: no token may lose its wordpieces (issue 18, item 6).

A 600-character CJK run or a long URL is one spaCy token and hundreds of
wordpieces: a 128-token window holding it is over the encoder's 512 pieces.
``spacy-bert-ner.TransformerModel.v1`` re-cuts such a window, so the sentence
after it is encoded exactly as without the prefix.
"""
import numpy
import pytest
import spacy
from spacy.util import fix_random_seed
from spacy.training import Example

from spacy_bert_ner.span_getters import split_by_wordpieces

from .conftest import SENTENCE_WINDOWS, make_examples

SENTENCE = "Peter Blackburn visited Brussels on Monday ."
CJK_RUN = "".join(chr(0x4E00 + i % 500) for i in range(600))
LONG_URL = "https://example.com/" + "a/" * 300


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-bert-ner.TransformerModel.v1", "name": str(tiny_bert_dir),
        "get_spans": SENTENCE_WINDOWS, "tokenizer_config": {"use_fast": True},
    }})
    nlp.add_pipe("token_classifier")
    fix_random_seed(0)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(20):  # a trained head: an untrained one decodes near-ties differently run to run
        nlp.update(examples, sgd=optimizer, losses={})
    return nlp


def _first_piece_vectors(doc, tokens):
    data = doc._.trf_data
    hidden = data.tensors[0].reshape(-1, data.tensors[0].shape[-1])
    return numpy.stack([hidden[data.align[i].dataXd[0]] for i in tokens])


@pytest.mark.parametrize("prefix", [CJK_RUN, LONG_URL], ids=["cjk-run", "long-url"])
def test_every_token_reaches_the_encoder_after_a_huge_token(nlp, prefix):
    doc = nlp(f"{prefix} {SENTENCE}")
    plain = nlp(SENTENCE)
    assert len(nlp.make_doc(prefix)) < len(plain)  # a few tokens, hundreds of wordpieces
    lengths = doc._.trf_data.align.lengths
    assert len(lengths) >= len(doc) and (numpy.asarray(lengths) > 0).all()
    offset = len(doc) - len(plain)
    after = range(offset, len(doc))
    numpy.testing.assert_allclose(
        _first_piece_vectors(doc, after), _first_piece_vectors(plain, range(len(plain))), rtol=1e-5, atol=1e-5
    )
    shifted = [(e.start - offset, e.end - offset, e.label_) for e in doc.ents if e.start >= offset]
    assert shifted == [(e.start, e.end, e.label_) for e in plain.ents]


def test_training_reads_every_token_after_a_huge_token(nlp):
    reference = nlp.make_doc(f"{CJK_RUN} {SENTENCE}")
    offset = len(reference) - len(SENTENCE.split())
    reference.set_ents([reference.char_span(reference[offset].idx, reference[offset + 1].idx + 9, label="PER")])
    example = Example(nlp.make_doc(reference.text), reference)
    trf = nlp.get_pipe("transformer")
    data, _ = trf.model.begin_update([example.predicted])
    assert (numpy.asarray(data.doc_data[0].align.lengths) > 0).all()
    losses = nlp.update([example], sgd=False)  # gradients, no step: the fixture stays as it was
    assert numpy.isfinite(losses["token_classifier"]) and losses["token_classifier"] > 0


def test_an_over_long_sentence_is_cut_with_overlap():
    counts = numpy.ones(30, dtype="int64")
    windows = split_by_wordpieces(numpy.asarray([0]), counts, budget=10, overlap=3)
    assert all(len(w) <= 10 for w in windows)
    assert sorted({i for w in windows for i in w}) == list(range(30))  # every token
    assert all(b.start < a.stop for a, b in zip(windows, windows[1:]))  # consecutive pieces overlap
    assert split_by_wordpieces(numpy.asarray([0, 4]), numpy.ones(8, dtype="int64"), 10, 3) == [range(0, 8)]
    assert split_by_wordpieces(numpy.asarray([0, 4]), numpy.full(8, 2), 10, 3) == [range(0, 4), range(4, 8)]
