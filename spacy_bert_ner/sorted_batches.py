"""Run the transformer on length-sorted chunks of windows instead of one padded block.

spacy-transformers pads every window of a batch to the longest one, so a
document's short last window, or a one-line document, costs as much as a full
128-token window. ``spacy-bert-ner.TransformerModel.v1`` is
``spacy-transformers.TransformerModel.v3`` whose HF layer sorts the windows
by length and runs them in chunks of ``chunk_size``, each padded only to its
own longest window. Outputs on real wordpieces are the same (attention masks
padding out), weights and serialization are unchanged, and gradients flow as
before; only the padding work goes.

``inference_get_spans`` optionally cuts documents differently when predicting
than when training: train on overlapping windows (tokens near an edge seen in
two contexts) and predict on windows that overlap less, so the encoder
computes fewer positions (about ``window / stride`` per token).
"""
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
import torch
from spacy.util import registry
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model


# Windows per forward call: 4 pads less than 8 and measured faster on 2 CPU cores
# (benchmarks/chunk-size-check/).
DEFAULT_CHUNK_SIZE = 4
ARCHITECTURE = "spacy-bert-ner.TransformerModel.v1"


@registry.architectures(ARCHITECTURE)
def build_sorted_transformer_model_v1(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    inference_get_spans: Optional[Callable] = None,
) -> Model:
    """``spacy-transformers.TransformerModel.v3`` with length-sorted chunked batches.

    chunk_size: windows per forward call; 0 turns sorting off (plain v3).
    inference_get_spans: span getter used when not training (dev scores during
        training included); None uses ``get_spans`` throughout.
    """
    if chunk_size < 0:
        raise ValueError(f"chunk_size must be >= 0, got {chunk_size}")
    build_v3 = registry.architectures.get("spacy-transformers.TransformerModel.v3")
    model = build_v3(
        name=name, get_spans=get_spans, tokenizer_config=tokenizer_config,
        transformer_config=transformer_config, mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
    )
    if chunk_size:
        hf_layer = model.layers[0]
        hf_layer._func = sorted_chunks_forward(hf_layer._func, chunk_size)
        hf_layer.attrs["chunk_size"] = chunk_size
    if inference_get_spans is not None:
        model._func = with_inference_spans(model._func, inference_get_spans)
    return model


def with_inference_spans(forward: Callable, inference_get_spans: Callable) -> Callable:
    """Wrap the transformer's forward so prediction reads ``inference_get_spans``.

    v3's forward looks ``get_spans`` up in ``model.attrs`` on every call, so the
    getter is swapped for the duration of a predict call and restored after.
    """

    def predict_or_train(model: Model, docs: List[Any], is_train: bool) -> Tuple[Any, Callable]:
        if is_train:
            return forward(model, docs, is_train)
        training_get_spans = model.attrs["get_spans"]
        model.attrs["get_spans"] = inference_get_spans
        try:
            return forward(model, docs, is_train)
        finally:
            model.attrs["get_spans"] = training_get_spans

    return predict_or_train


def chunk_order(lengths: List[int], chunk_size: int) -> List[numpy.ndarray]:
    """Row indices, longest first, cut into chunks of at most ``chunk_size``."""
    order = numpy.argsort(-numpy.asarray(lengths, dtype="int64"), kind="stable")
    return [order[start:start + chunk_size] for start in range(0, len(order), chunk_size)]


def _sub_batch(wordpieces: WordpieceBatch, rows: numpy.ndarray) -> WordpieceBatch:
    width = int(max(wordpieces.lengths[i] for i in rows))
    token_type_ids = wordpieces.token_type_ids
    return WordpieceBatch(
        strings=[wordpieces.strings[i] for i in rows],
        input_ids=wordpieces.input_ids[rows, :width],
        attention_mask=wordpieces.attention_mask[rows, :width],
        lengths=[wordpieces.lengths[i] for i in rows],
        token_type_ids=None if token_type_ids is None else token_type_ids[rows, :width],
    )


def _merge(outputs: List[Any], chunks: List[numpy.ndarray], n_rows: int, n_columns: int) -> Any:
    """One output of the full batch's shape from the chunks' outputs (zeros on padding)."""
    merged: Dict[str, torch.Tensor] = {}
    for key, first in outputs[0].items():
        if not isinstance(first, torch.Tensor):
            continue
        shape = (n_rows, n_columns) + tuple(first.shape[2:]) if first.dim() >= 3 else (n_rows,) + tuple(first.shape[1:])
        full = first.new_zeros(shape)
        for output, rows in zip(outputs, chunks):
            index = torch.as_tensor(rows, device=full.device)
            value = output[key]
            if value.dim() >= 3:
                full[index, : value.shape[1]] = value
            else:
                full[index] = value
        merged[key] = full
    return type(outputs[0])(**merged)


def _split_gradient(d_output: Any, rows: numpy.ndarray, width: int) -> Any:
    parts = {}
    for key, value in d_output.items():
        index = torch.as_tensor(rows, device=value.device)
        part = value[index]
        parts[key] = part[:, :width] if part.dim() >= 3 else part
    return type(d_output)(**parts)


def sorted_chunks_forward(inner: Callable, chunk_size: int) -> Callable:
    """Wrap the HF layer's forward so it runs length-sorted chunks of rows."""

    def forward(model: Model, wordpieces: WordpieceBatch, is_train: bool) -> Tuple[Any, Callable]:
        if not is_train:
            with torch.inference_mode():  # lighter than the shim's no_grad: no version counters
                return chunked(model, wordpieces, is_train)
        return chunked(model, wordpieces, is_train)

    def chunked(model: Model, wordpieces: WordpieceBatch, is_train: bool) -> Tuple[Any, Callable]:
        n_rows = len(wordpieces.lengths)
        if n_rows <= chunk_size:
            return inner(model, wordpieces, is_train)
        chunks = chunk_order(wordpieces.lengths, chunk_size)
        subs = [_sub_batch(wordpieces, rows) for rows in chunks]
        results = [inner(model, sub, is_train) for sub in subs]
        output = _merge([out for out, _ in results], chunks, n_rows, wordpieces.input_ids.shape[1])

        def backprop(d_output: Any) -> List:
            for (_, backprop_chunk), rows, sub in zip(results, chunks, subs):
                backprop_chunk(_split_gradient(d_output, rows, sub.input_ids.shape[1]))
            return []

        return output, backprop

    return forward
