"""Cut documents into transformer windows at sentence boundaries, without overlap.

spacy-transformers' strided windows cut a document every ``stride`` tokens,
wherever that falls, and need an overlap (``window - stride``) so that tokens
near a cut still see context on both sides: the encoder computes those tokens
twice. ``spacy-bert-ner.sentence_windows.v1`` packs whole sentences into
windows of at most ``window`` tokens instead. A cut then falls between two
sentences, where little of the context that NER needs is lost, so every token
is encoded once (as many positions as the document has tokens, the count a
sentence-by-sentence HF pipeline computes) while still seeing the neighbouring
sentences that fit in its window.

Sentence starts come from the document when it has them (a parser, senter or
sentencizer ran, or the corpus set them); otherwise a token starts a sentence
after sentence-final punctuation or a line break, which is all a raw text
offers before any component has run. A sentence longer than ``window`` is cut
into consecutive pieces of ``window`` tokens.

Tokens are not wordpieces: a window of ``window`` tokens can hold more
wordpieces than the encoder reads (a CJK run or a URL is one spaCy token and
hundreds of pieces). :func:`split_by_wordpieces` re-cuts such a window once the
wordpieces are known (``spacy-bert-ner.TransformerModel.v1`` calls it through
:mod:`.wordpiece_limit`): at sentence starts first, an over-long sentence into
overlapping pieces.
"""
from bisect import bisect_left, bisect_right
from functools import partial
from typing import Callable, Iterable, List, Sequence

import numpy
from spacy.strings import get_string_id
from spacy.tokens import Doc, Span
from spacy_transformers.util import registry  # creates registry.span_getters

SENTENCE_GETTER = "spacy-bert-ner.sentence_windows.v1"

# Tokens after which a new sentence starts when the document has no sentence starts.
SENTENCE_FINAL = frozenset({".", "!", "?", "...", "…", "。", "！", "？"})


def sentence_starts(doc: Doc) -> numpy.ndarray:
    """Token offsets where a sentence starts: the document's own, else punctuation and line breaks.

    Array operations over the doc's attributes, no per-token Python: this runs
    on every document the transformer reads.
    """
    if len(doc) == 0:
        return numpy.zeros(0, dtype="int64")
    if doc.has_annotation("SENT_START"):
        is_start = doc.to_array("SENT_START") == 1
    else:
        ends = numpy.isin(doc.to_array("ORTH"), [get_string_id(text) for text in SENTENCE_FINAL])
        for i in numpy.flatnonzero(doc.to_array("IS_SPACE")):  # whitespace tokens are few
            ends[i] |= "\n" in doc[int(i)].text
        is_start = numpy.concatenate(([True], ends[:-1]))
    is_start[0] = True
    return numpy.flatnonzero(is_start).astype("int64")


def pack_sentences(starts: numpy.ndarray, n_tokens: int, window: int) -> List[range]:
    """Greedy windows of whole sentences, each at most ``window`` tokens, covering every token once."""
    return _pack(starts, range(n_tokens + 1), window, overlap=0)  # one unit per token


def get_sentence_windows(docs: Iterable[Doc], window: int) -> List[List[Span]]:
    """One list of spans per document: whole sentences packed into windows of <= ``window`` tokens."""
    return [
        [doc[piece.start:piece.stop] for piece in pack_sentences(sentence_starts(doc), len(doc), window)]
        for doc in docs
    ]


@registry.span_getters(SENTENCE_GETTER)
def configure_sentence_windows(window: int) -> Callable[[Iterable[Doc]], List[List[Span]]]:
    """Span getter: sentences packed into non-overlapping windows of at most ``window`` tokens."""
    if window < 1:
        raise ValueError(f"{SENTENCE_GETTER}: window must be >= 1, got {window}")
    return partial(get_sentence_windows, window=window)


def split_by_wordpieces(starts: numpy.ndarray, counts: numpy.ndarray, budget: int, overlap: int) -> List[range]:
    """Windows of whole sentences holding at most ``budget`` wordpieces, covering every token.

    ``counts`` is each token's wordpiece count and ``starts`` the sentence
    starts (0 first). A sentence over the budget is cut into pieces that
    overlap by up to ``overlap`` wordpieces, so tokens near a cut keep some
    context; each piece starts at least one token after the previous one.
    With a count of 1 per token and no overlap this is :func:`pack_sentences`. A
    single token over the budget gets a window of its own (the encoder then
    reads its first pieces).
    """
    return _pack(starts, [0] + numpy.cumsum(counts, dtype="int64").tolist(), budget, overlap)


def _pack(starts: numpy.ndarray, cumulative: Sequence[int], budget: int, overlap: int) -> List[range]:
    """:func:`split_by_wordpieces` on cumulative counts (``cumulative[i]``: units before token ``i``).

    Python ints and bisect: a document has a few sentences, where numpy
    scalars cost more than they save.
    """
    n_tokens = len(cumulative) - 1
    bounds = numpy.asarray(starts).tolist() + [n_tokens]
    windows: List[range] = []
    window_start = 0
    for sentence_start, sentence_end in zip(bounds[:-1], bounds[1:]):
        if cumulative[sentence_end] - cumulative[window_start] <= budget:
            continue
        if sentence_start > window_start:  # close the window before this sentence
            windows.append(range(window_start, sentence_start))
            window_start = sentence_start
        while cumulative[sentence_end] - cumulative[window_start] > budget:  # an over-long sentence
            end = max(bisect_right(cumulative, cumulative[window_start] + budget) - 1, window_start + 1)
            windows.append(range(window_start, end))
            next_start = bisect_left(cumulative, cumulative[end] - overlap)
            window_start = min(max(next_start, window_start + 1), end)
    if window_start < n_tokens:
        windows.append(range(window_start, n_tokens))
    return windows
