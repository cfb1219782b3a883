"""First-subword selection: which wordpiece represents each spaCy token.

spacy-transformers aligns every token to *all* of its wordpieces, in every
strided window that contains it (``TransformerData.align``, sorted indices
into the doc's flattened ``[n_windows * padded_length]`` wordpiece array).
HuggingFace token classification instead reads one vector per word: the
first subword (``word_ids()``; the other pieces get label -100).

:func:`first_piece_indices` makes that choice on spacy-transformers' alignment,
with two guards that thinc's ``reduce_first`` lacks:

* a token with zero wordpieces (whitespace, characters the tokenizer drops, or
  pieces cut by the 512 limit) gets ``-1`` instead of an exception;
* a token that sits in two overlapping windows is read from the window where
  it is most central (most context on both sides), not from the earlier one,
  where it often sits at the right edge with no right context.

:func:`adopt_bare_word_starts` then fixes one case where offset alignment and
HF's rule disagree. SentencePiece tokenizers (DeBERTa-v3, XLM-R) can begin a
word with a bare ``▁`` piece that holds only the preceding space, e.g.
``▁ ( 17`` for `` (17``; byte-level BPE (RoBERTa) can do the same with a bare
``Ġ``. Its character offsets cover the space, which spacy-transformers gives
to the *previous* token (or to none), so the word's first aligned piece is the
one after it; HF's ``word_ids()`` gives the bare piece to the word. The fix
moves such a token back onto the bare piece.

:func:`select_token_pieces` lists all of a token's pieces in the window its
first piece comes from, for the ``mean`` and ``first+last`` poolings.
"""
from typing import Any, FrozenSet, List, Optional, Sequence, Tuple

import numpy

NO_PIECE = -1
# Pieces that mark a word start and hold no character of the word: SentencePiece's
# "▁" (DeBERTa-v2/v3, XLM-R, ALBERT, T5) and byte-level BPE's "Ġ" (RoBERTa, GPT-2).
BARE_WORD_START_PIECES: FrozenSet[str] = frozenset({"\u2581", "\u0120"})


def first_piece_indices(
    align_data: numpy.ndarray,
    align_lengths: numpy.ndarray,
    padded_length: int,
    window_lengths: Optional[Sequence[int]] = None,
) -> numpy.ndarray:
    """Index of each token's first wordpiece in the flattened wordpiece array.

    align_data, align_lengths: the Ragged alignment of one Doc (host arrays).
    padded_length: the padded length of the doc's windows (second dimension of
        the hidden-state tensor), used to tell windows apart.
    window_lengths: real (unpadded) length of each window; used to measure how
        central a token is. Defaults to ``padded_length`` for every window.
    Returns int array [n_tokens], ``NO_PIECE`` (-1) where a token has no piece.
    """
    lengths = numpy.asarray(align_lengths, dtype="int64")
    cand_tokens, cand_indices = _window_first_pieces(align_data, lengths, padded_length)
    return _most_central(cand_tokens, cand_indices, lengths.shape[0], padded_length, window_lengths)


def _window_first_pieces(
    align_data: numpy.ndarray, lengths: numpy.ndarray, padded_length: int
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(token, index) of each token's first piece in every window holding it."""
    indices = numpy.asarray(align_data, dtype="int64").reshape(-1)
    tokens = numpy.repeat(numpy.arange(lengths.shape[0]), lengths)
    windows = indices // max(padded_length, 1)
    # Within a token, indices are sorted, so the first entry of each
    # (token, window) run is the token's first piece in that window.
    run_start = numpy.ones(indices.shape[0], dtype=bool)
    run_start[1:] = (tokens[1:] != tokens[:-1]) | (windows[1:] != windows[:-1])
    return tokens[run_start], indices[run_start]


def _most_central(
    cand_tokens: numpy.ndarray,
    cand_indices: numpy.ndarray,
    n_tokens: int,
    padded_length: int,
    window_lengths: Optional[Sequence[int]],
) -> numpy.ndarray:
    result = numpy.full((n_tokens,), NO_PIECE, dtype="int64")
    if cand_indices.size == 0:
        return result
    positions = cand_indices % padded_length
    if window_lengths is None:
        sizes = numpy.full(positions.shape, padded_length)
    else:
        all_sizes = numpy.minimum(numpy.asarray(window_lengths), padded_length)
        sizes = all_sizes[cand_indices // padded_length]
    centrality = numpy.minimum(positions, sizes - 1 - positions)
    # Sort by token, then most central first, then earliest index.
    order = numpy.lexsort((cand_indices, -centrality, cand_tokens))
    sorted_tokens = cand_tokens[order]
    first = numpy.ones(order.shape[0], dtype=bool)
    first[1:] = sorted_tokens[1:] != sorted_tokens[:-1]
    result[sorted_tokens[first]] = cand_indices[order][first]
    return result


def adopt_bare_word_starts(
    pieces: numpy.ndarray,
    align_data: numpy.ndarray,
    align_lengths: numpy.ndarray,
    padded_length: int,
    strings: Sequence[Sequence[str]],
    bare_pieces: FrozenSet[str] = BARE_WORD_START_PIECES,
) -> numpy.ndarray:
    """Move each token onto a bare word-start piece (``▁``, ``Ġ``) just before it.

    pieces: :func:`first_piece_indices` of the same alignment.
    strings: the pieces' strings per window (``WordpieceBatch.strings``).
    A token moves from piece ``p`` to ``p - 1`` when ``p - 1`` is in the same
    window, is a bare word-start piece, and is no token's first piece in any
    window (it only trails the previous token, or belongs to no token). That
    is the piece HF's ``word_ids()`` gives the word. Returns a new array.
    """
    lengths = numpy.asarray(align_lengths, dtype="int64")
    _, cand_indices = _window_first_pieces(align_data, lengths, padded_length)
    return _adopt_bare(pieces, cand_indices, padded_length, strings, bare_pieces)


def _adopt_bare(
    pieces: numpy.ndarray,
    cand_indices: numpy.ndarray,
    padded_length: int,
    strings: Sequence[Sequence[str]],
    bare_pieces: FrozenSet[str],
) -> numpy.ndarray:
    result = numpy.array(pieces, dtype="int64", copy=True)
    if padded_length <= 0 or not strings:
        return result
    # Tokens whose first piece is not at a window's start (position 0 is never
    # a word's anyway: it holds [CLS] / <s>).
    movable = numpy.flatnonzero((result >= 0) & (result % padded_length > 0))
    previous = result[movable] - 1
    free = ~numpy.isin(previous, cand_indices)
    movable, previous = movable[free], previous[free]
    if movable.size == 0:
        return result
    # String look-ups only for these candidates (a fraction of the tokens).
    bare = numpy.fromiter(
        (
            _piece_string(strings, index, padded_length) in bare_pieces
            for index in previous.tolist()
        ),
        dtype=bool,
        count=previous.shape[0],
    )
    result[movable[bare]] = previous[bare]
    return result


def _piece_string(strings: Sequence[Sequence[str]], index: int, padded_length: int) -> str:
    window, position = divmod(index, padded_length)
    row = strings[window] if window < len(strings) else ()
    return row[position] if position < len(row) else ""


def _to_numpy(array: Any) -> numpy.ndarray:
    return numpy.asarray(array.get() if hasattr(array, "get") else array)


def select_first_pieces(
    trf_data: Any, padded_length: int, bare_pieces: FrozenSet[str] = BARE_WORD_START_PIECES
) -> numpy.ndarray:
    """The piece each token of one doc is read from: the pooling layer's whole rule.

    :func:`first_piece_indices` on the doc's alignment (most central window,
    -1 for none), then :func:`adopt_bare_word_starts`.
    trf_data: a spacy-transformers ``TransformerData`` for one doc.
    """
    align = trf_data.align
    lengths = _to_numpy(align.lengths).astype("int64")
    wordpieces = trf_data.wordpieces
    cand_tokens, cand_indices = _window_first_pieces(
        _to_numpy(align.dataXd), lengths, padded_length
    )
    pieces = _most_central(
        cand_tokens, cand_indices, lengths.shape[0], padded_length,
        getattr(wordpieces, "lengths", None),
    )
    strings = getattr(wordpieces, "strings", None)
    return _adopt_bare(pieces, cand_indices, padded_length, strings or [], bare_pieces)


def select_token_pieces(
    trf_data: Any, padded_length: int, first: Optional[numpy.ndarray] = None
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """``(tokens, indices)``: every piece of each token in the window its first piece comes from.

    first: :func:`select_first_pieces` of the same doc (computed when None).
    The pieces are the token's aligned pieces in that one window plus its
    first piece (a bare word start it adopted is not aligned to it), sorted by
    token, then index, without repeats. A token without a piece has no pair.
    """
    if first is None:
        first = select_first_pieces(trf_data, padded_length)
    lengths = _to_numpy(trf_data.align.lengths).astype("int64")
    indices = _to_numpy(trf_data.align.dataXd).astype("int64").reshape(-1)
    tokens = numpy.repeat(numpy.arange(lengths.shape[0]), lengths)
    window = numpy.where(first >= 0, first // max(padded_length, 1), -1)
    in_window = indices // max(padded_length, 1) == window[tokens]
    has_piece = numpy.flatnonzero(first >= 0)
    pair_tokens = numpy.concatenate((tokens[in_window], has_piece))
    pair_indices = numpy.concatenate((indices[in_window], first[has_piece]))
    stride = int(pair_indices.max()) + 1 if pair_indices.size else 1
    keys = numpy.unique(pair_tokens * stride + pair_indices)
    return keys // stride, keys % stride


def hf_first_subword_labels(
    word_ids: Sequence[Optional[int]], word_labels: Sequence[int], ignore: int = -100
) -> List[int]:
    """HuggingFace's labelling recipe (``run_ner.py``, course chapter 7).

    The first piece of each word carries the word's label; continuation pieces
    and special tokens get ``ignore`` (-100), so the loss never sees them.
    """
    labels: List[int] = []
    previous: Optional[int] = None
    for word_id in word_ids:
        if word_id is None or word_id == previous:
            labels.append(ignore)
        else:
            labels.append(word_labels[word_id])
        previous = word_id
    return labels


def hf_first_subword_positions(
    word_ids: Sequence[Optional[int]], n_words: int
) -> numpy.ndarray:
    """Position of each word's first piece under HF's ``word_ids()`` rule (-1: none)."""
    positions = numpy.full((n_words,), NO_PIECE, dtype="int64")
    previous: Optional[int] = None
    for position, word_id in enumerate(word_ids):
        if word_id is not None and word_id != previous and positions[word_id] < 0:
            positions[word_id] = position
        previous = word_id
    return positions


def spacy_transformers_first_piece_ids(
    docs: Sequence, tokenizer, get_spans, *, bare_pieces: FrozenSet[str] = BARE_WORD_START_PIECES
) -> List[numpy.ndarray]:
    """Input id of the wordpiece each token is read from, per doc (-1: none).

    Runs spacy-transformers' own tokenization and alignment path (the steps
    of ``TransformerModel``'s forward, without the network: span getter,
    ``huggingface_tokenize``, offset-mapping alignment, the 512-piece
    truncation, the per-doc split) and then the first-subword choice the
    ``first_subword_pool`` layer makes (:func:`select_first_pieces`). Used to
    check HF parity on whole corpora without running the encoder.
    bare_pieces: passed to :func:`select_first_pieces`; ``frozenset()`` gives
    the choice without the bare word-start correction.
    """
    import torch
    from spacy_transformers.align import get_alignment_via_offset_mapping
    from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
    from spacy_transformers.layers.transformer_model import huggingface_tokenize
    from spacy_transformers.truncate import truncate_oversize_splits
    from transformers.file_utils import ModelOutput

    nested_spans = get_spans(list(docs))
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    if not flat_spans:
        return [numpy.full((len(doc),), NO_PIECE, dtype="int64") for doc in docs]
    encoding = huggingface_tokenize(tokenizer, [span.text for span in flat_spans])
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    align = get_alignment_via_offset_mapping(flat_spans, encoding["offset_mapping"])
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    hidden = torch.zeros(wordpieces.input_ids.shape + (1,))
    batch = FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces,
        model_output=ModelOutput(last_hidden_state=hidden), align=align,
    )
    result = []
    for doc, trf_data in zip(docs, batch.split_by_doc()):
        if "last_hidden_state" not in trf_data.model_output:
            result.append(numpy.full((len(doc),), NO_PIECE, dtype="int64"))
            continue
        padded = trf_data.model_output["last_hidden_state"].shape[1]
        pieces = select_first_pieces(trf_data, padded, bare_pieces)
        ids = numpy.asarray(trf_data.wordpieces.input_ids).reshape(-1)
        result.append(numpy.where(pieces >= 0, ids[numpy.maximum(pieces, 0)], NO_PIECE))
    return result


def hf_first_piece_ids(words: Sequence[str], tokenizer) -> numpy.ndarray:
    """Input id of each word's first subword under HF's ``word_ids()`` recipe (-1: none).

    Byte-level BPE tokenizers (RoBERTa) need ``add_prefix_space=True`` for
    pre-split words, as in HF's recipe; load them that way.
    """
    encoding = tokenizer(list(words), is_split_into_words=True, truncation=False)
    positions = hf_first_subword_positions(encoding.word_ids(), len(words))
    ids = numpy.asarray(encoding["input_ids"])
    return numpy.where(positions >= 0, ids[numpy.maximum(positions, 0)], NO_PIECE)
