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
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy
import torch
from spacy.util import registry
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.layers import TransformerModel
from thinc.api import Model
# The forward of spacy-transformers' HF layer (HFWrapper builds its node with it).
from thinc.layers.pytorchwrapper import forward as pytorch_forward

from .wordpiece_limit import wordpiece_limited_forward


# Windows per forward call: 4 pads less than 8 and measured faster on 2 CPU cores
# (one benchmark run per setting; the git log keeps benchmarks/chunk-size-check/).
DEFAULT_CHUNK_SIZE = 4
ARCHITECTURE = "spacy-bert-ner.TransformerModel.v1"
HF_LAYER_NAME = "hf-pytorch"


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
    args = (name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config)
    if inference_get_spans is None:
        model = TransformerModel(*args)  # what v3's builder returns
    else:
        model = InferenceSpansTransformerModel(*args, inference_get_spans=inference_get_spans)
    # v3's forward, but no window past the encoder's wordpiece limit (wordpiece_limit.py)
    model.replace_callbacks(wordpiece_limited_forward, init=model.init)
    if chunk_size:
        model.layers[0] = with_sorted_chunks(model.layers[0], chunk_size)
    return model


def with_sorted_chunks(hf_layer: Model, chunk_size: int) -> Model:
    """The HF layer's node again, with a forward that runs length-sorted chunks.

    The new node shares the layer's shims (the torch model), attrs, dims and
    params and keeps its name, so the model tree keeps its node count and a
    pipeline saved with plain v3 (or before this wrapper existed) loads
    unchanged; a wrapping parent node would break that ("mismatched structure").
    """
    return replace_forward(hf_layer, sorted_chunks_forward(pytorch_forward, chunk_size), chunk_size=chunk_size)


def replace_forward(hf_layer: Model, forward: Callable, **attrs: Any) -> Model:
    """The HF layer's node again (same name, shims, attrs, dims, params), with ``forward`` and ``attrs`` added.

    Attrs that msgpack cannot serialize are skipped by thinc when saving, so an
    object kept here never reaches the model file.
    """
    if hf_layer.name != HF_LAYER_NAME:
        raise ValueError(f"expected spacy-transformers' {HF_LAYER_NAME!r} layer, got {hf_layer.name!r}")
    return Model(
        hf_layer.name,
        forward,
        init=hf_layer.init,
        dims={dim: hf_layer.maybe_get_dim(dim) for dim in hf_layer.dim_names},
        params={key: hf_layer.get_param(key) if hf_layer.has_param(key) else None for key in hf_layer.param_names},
        layers=hf_layer.layers,
        shims=hf_layer.shims,
        attrs={**hf_layer.attrs, **attrs},
        refs={ref: hf_layer.maybe_get_ref(ref) for ref in hf_layer.ref_names},
        ops=hf_layer.ops,
    )


class InferenceSpansTransformerModel(TransformerModel):
    """v3's ``TransformerModel`` that reads ``inference_get_spans`` when predicting.

    v3's forward looks ``get_spans`` up in ``model.attrs`` on every call, so the
    getter is swapped for the duration of a predict call and restored after.
    Same nodes, attrs and weights as ``TransformerModel``: saved pipelines load
    into either.
    """

    def __init__(self, *args: Any, inference_get_spans: Callable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attrs["inference_get_spans"] = inference_get_spans

    def __call__(self, X: Any, is_train: bool) -> Tuple[Any, Callable]:
        if is_train:
            return super().__call__(X, is_train)
        with self._inference_spans():
            return super().__call__(X, is_train)

    def predict(self, X: Any) -> Any:
        with self._inference_spans():
            return super().predict(X)

    @contextmanager
    def _inference_spans(self) -> Iterator[None]:
        training_get_spans = self.attrs["get_spans"]
        self.attrs["get_spans"] = self.attrs["inference_get_spans"]
        try:
            yield
        finally:
            self.attrs["get_spans"] = training_get_spans


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
