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
"""
from typing import List, Optional, Sequence

import numpy

NO_PIECE = -1


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
    n_tokens = lengths.shape[0]
    result = numpy.full((n_tokens,), NO_PIECE, dtype="int64")
    if n_tokens == 0 or int(lengths.sum()) == 0:
        return result
    indices = numpy.asarray(align_data, dtype="int64").reshape(-1)
    tokens = numpy.repeat(numpy.arange(n_tokens), lengths)
    windows = indices // padded_length
    # Within a token, indices are sorted, so the first entry of each
    # (token, window) run is the token's first piece in that window.
    run_start = numpy.ones(indices.shape[0], dtype=bool)
    run_start[1:] = (tokens[1:] != tokens[:-1]) | (windows[1:] != windows[:-1])
    cand_tokens = tokens[run_start]
    cand_indices = indices[run_start]
    positions = cand_indices % padded_length
    if window_lengths is None:
        sizes = numpy.full(positions.shape, padded_length)
    else:
        all_sizes = numpy.minimum(numpy.asarray(window_lengths), padded_length)
        sizes = all_sizes[windows[run_start]]
    centrality = numpy.minimum(positions, sizes - 1 - positions)
    # Sort by token, then most central first, then earliest index.
    order = numpy.lexsort((cand_indices, -centrality, cand_tokens))
    sorted_tokens = cand_tokens[order]
    first = numpy.ones(order.shape[0], dtype=bool)
    first[1:] = sorted_tokens[1:] != sorted_tokens[:-1]
    result[sorted_tokens[first]] = cand_indices[order][first]
    return result


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
    docs: Sequence, tokenizer, get_spans
) -> List[numpy.ndarray]:
    """Input id of the wordpiece each token is read from, per doc (-1: none).

    Runs spacy-transformers' own tokenization and alignment path (the steps
    of ``TransformerModel``'s forward, without the network: span getter,
    ``huggingface_tokenize``, offset-mapping alignment, the 512-piece
    truncation, the per-doc split) and then the first-subword choice the
    ``first_subword_pool`` layer makes. Used to check HF parity on whole
    corpora without running the encoder.
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
        pieces = first_piece_indices(
            numpy.asarray(trf_data.align.dataXd), numpy.asarray(trf_data.align.lengths),
            padded, trf_data.wordpieces.lengths,
        )
        ids = numpy.asarray(trf_data.wordpieces.input_ids).reshape(-1)
        result.append(numpy.where(pieces >= 0, ids[numpy.maximum(pieces, 0)], NO_PIECE))
    return result


def hf_first_piece_ids(words: Sequence[str], tokenizer) -> numpy.ndarray:
    """Input id of each word's first subword under HF's ``word_ids()`` recipe (-1: none)."""
    encoding = tokenizer(list(words), is_split_into_words=True, truncation=False)
    positions = hf_first_subword_positions(encoding.word_ids(), len(words))
    ids = numpy.asarray(encoding["input_ids"])
    return numpy.where(positions >= 0, ids[numpy.maximum(positions, 0)], NO_PIECE)
