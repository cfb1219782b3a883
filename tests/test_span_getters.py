"""spacy-bert-ner.sentence_windows.v1: whole sentences packed into windows, every token once."""
import numpy
import pytest
import spacy
from spacy.util import registry

from spacy_bert_ner.span_getters import SENTENCE_GETTER, get_sentence_windows, pack_sentences, sentence_starts

from .conftest import TRAIN_SENTENCES

TEXT = " ".join(text for text, _ in TRAIN_SENTENCES)  # six sentences of 7 to 13 tokens


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def _windows(starts, n_tokens, window):
    return [(piece.start, piece.stop) for piece in pack_sentences(numpy.asarray(starts), n_tokens, window)]


@pytest.mark.parametrize(
    "starts,n_tokens,window,expected",
    [
        ([0, 3, 5, 9], 12, 6, [(0, 5), (5, 9), (9, 12)]),
        ([0, 3, 5, 9], 12, 12, [(0, 12)]),
        ([0, 2], 13, 4, [(0, 2), (2, 6), (6, 10), (10, 13)]),  # a sentence longer than a window
        ([0], 8, 4, [(0, 4), (4, 8)]),
        ([0, 4], 8, 4, [(0, 4), (4, 8)]),
        ([0], 1, 1, [(0, 1)]),
        ([], 0, 4, []),
    ],
)
def test_pack_sentences(starts, n_tokens, window, expected):
    assert _windows(starts, n_tokens, window) == expected


@pytest.mark.parametrize("window", [1, 2, 5, 8, 16, 64])
def test_every_token_once_in_order_and_no_window_too_long(window):
    rng = numpy.random.default_rng(window)
    n_tokens = 200
    starts = numpy.unique(numpy.concatenate([[0], rng.integers(1, n_tokens, 40)]))
    windows = pack_sentences(starts, n_tokens, window)
    assert [i for piece in windows for i in piece] == list(range(n_tokens))
    assert all(1 <= len(piece) <= window for piece in windows)
    # a window ends at a sentence start unless a sentence was longer than the window
    for piece in windows[:-1]:
        assert piece.stop in set(starts.tolist()) or len(piece) == window


def test_sentence_starts_from_punctuation_and_line_breaks(nlp):
    doc = nlp.make_doc("Rome wins . Who knew ? Nobody\n\nat all ! ok")
    assert sentence_starts(doc).tolist() == [0, 3, 6, 8, 11]
    assert sentence_starts(nlp.make_doc("")).tolist() == []


def test_sentence_starts_prefer_the_documents_own(nlp):
    doc = nlp.make_doc("Rome wins . Who knew")
    doc[1].is_sent_start = True  # everything else: not a start
    for token in doc[2:]:
        token.is_sent_start = False
    assert sentence_starts(doc).tolist() == [0, 1]


def test_windows_are_spans_of_whole_sentences(nlp):
    doc = nlp.make_doc(TEXT)
    spans = get_sentence_windows([doc], window=20)[0]
    assert "".join(span.text_with_ws for span in spans) == doc.text
    assert all(span[-1].text == "." for span in spans)
    assert all(len(span) <= 20 for span in spans)
    assert get_sentence_windows([nlp.make_doc(""), doc], window=20)[0] == []


def test_registered_and_checked():
    getter = registry.span_getters.get(SENTENCE_GETTER)(window=8)
    assert callable(getter)
    with pytest.raises(ValueError, match="window"):
        registry.span_getters.get(SENTENCE_GETTER)(window=0)


def test_odd_unicode_and_one_long_sentence(nlp):
    doc = nlp.make_doc("Zoë 's café … naïve 😀 " + "word " * 300 + "end")
    spans = get_sentence_windows([doc], window=64)[0]
    assert sum(len(span) for span in spans) == len(doc)
    assert max(len(span) for span in spans) == 64


def test_doc_with_sentences_from_a_component():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("First one here. Second one there! Third")
    spans = get_sentence_windows([doc], window=4)[0]
    assert [span.text for span in spans] == ["First one here.", "Second one there!", "Third"]
