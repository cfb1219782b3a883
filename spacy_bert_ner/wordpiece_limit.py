"""The transformer's forward with every window kept within the encoder's wordpiece limit.

spacy-transformers tokenizes each window (span) and then cuts every window
longer than the tokenizer's ``model_max_length`` at that length: the tokens
past the cut get no wordpieces, hence no encoder output, no entities and zero
features, without a word. Span getters count spaCy tokens and cannot know
wordpieces (a CJK run or a long URL is one spaCy token and hundreds of pieces).
This forward is ``spacy-transformers.TransformerModel.v3``'s, plus one step
where the wordpieces are known: a window over the limit is re-cut
(:func:`spacy_bert_ner.span_getters.split_by_wordpieces`: at sentence starts,
an over-long sentence into overlapping pieces) and tokenized again. Windows
within the limit, i.e. all windows of ordinary text, pass unchanged, so
pipelines predict exactly as before there and the only added work is one
comparison per batch. A single token longer than the limit still gets a window
of its own and its first pieces.
"""
from typing import Any, Callable, List, Sequence, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment, get_alignment_via_offset_mapping
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from spacy_transformers.util import maybe_flush_pytorch_cache
from thinc.api import Model
from thinc.types import Ragged

from .span_getters import sentence_starts, split_by_wordpieces

# Pieces kept free in a re-cut window: a token can split differently at a window's start.
MARGIN = 8
# Re-cuts per batch at most; past that, spacy-transformers' own cut applies.
MAX_REFITS = 3


def max_wordpieces(model: Model) -> int:
    """Wordpieces one window may hold, special tokens included: the tokenizer's and the encoder's limit."""
    limit = int(min(model.tokenizer.model_max_length, 2**31))
    positions = getattr(model.transformer.config, "max_position_embeddings", None)
    return min(limit, int(positions)) if positions else limit


def wordpiece_limited_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[FullTransformerBatch, Callable]:
    """v3's forward; windows over :func:`max_wordpieces` are re-cut before the encoder runs."""
    tokenizer = model.tokenizer
    nested_spans = model.attrs["get_spans"](docs)
    maybe_flush_pytorch_cache(chance=model.attrs.get("flush_cache_chance", 0))
    limit = max_wordpieces(model)
    wordpieces, align = _encode(tokenizer, _flat(nested_spans))
    for _ in range(MAX_REFITS):
        if max(wordpieces.lengths, default=0) <= limit:
            break
        budget = max(limit - tokenizer.num_special_tokens_to_add(pair=False) - MARGIN, 1)
        refitted = fit_spans(nested_spans, numpy.asarray(align.lengths), wordpieces.lengths, limit, budget)
        if refitted == nested_spans:
            break
        nested_spans = refitted
        wordpieces, align = _encode(tokenizer, _flat(nested_spans))
    wordpieces, align = truncate_oversize_splits(wordpieces, align, limit)
    model_output, backprop_tensors = model.layers[0](wordpieces, is_train)
    output = FullTransformerBatch(spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align)

    def backprop(d_output: FullTransformerBatch) -> List[Doc]:
        backprop_tensors(d_output.model_output)
        return docs

    return output, backprop


def fit_spans(
    nested_spans: List[List[Span]], token_counts: numpy.ndarray, lengths: Sequence[int], limit: int, budget: int
) -> List[List[Span]]:
    """Each document's windows, those over ``limit`` wordpieces re-cut to hold ``budget`` at most.

    ``token_counts`` are the wordpieces of every token of every window in
    order (the alignment's lengths); ``lengths`` each window's wordpieces.
    """
    fitted: List[List[Span]] = []
    offset = index = 0
    for doc_spans in nested_spans:
        fitted.append([])
        for span in doc_spans:
            counts = token_counts[offset : offset + len(span)]
            offset += len(span)
            over = lengths[index] > limit
            index += 1
            fitted[-1].extend(_split_span(span, counts, budget) if over else [span])
    return fitted


def _split_span(span: Span, counts: numpy.ndarray, budget: int) -> List[Span]:
    starts = sentence_starts(span.doc)
    inside = starts[(starts > span.start) & (starts < span.end)] - span.start
    local_starts = numpy.concatenate(([0], inside))
    pieces = split_by_wordpieces(local_starts, counts, budget, overlap=budget // 4)
    return [span.doc[span.start + piece.start : span.start + piece.stop] for piece in pieces]


def _flat(nested_spans: List[List[Span]]) -> List[Span]:
    return [span for doc_spans in nested_spans for span in doc_spans]


def _encode(tokenizer: Any, spans: List[Span]) -> Tuple[WordpieceBatch, Ragged]:
    """Tokenize the windows and align wordpieces to tokens, as v3's forward does."""
    batch_encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
    wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
    if "offset_mapping" in batch_encoding:
        align = get_alignment_via_offset_mapping(spans, batch_encoding["offset_mapping"])
    else:
        align = get_alignment(spans, wordpieces.strings, tokenizer.all_special_tokens)
    return wordpieces, align
