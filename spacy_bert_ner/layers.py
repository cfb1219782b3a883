"""Small Thinc layers used by the token-classification architectures."""
from typing import Callable, List, Literal, Optional, Tuple, cast

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import TransformerData
from thinc.api import Model
from thinc.types import Floats2d, Ints1d
from transformers.file_utils import ModelOutput

from .alignment import select_first_pieces, select_token_pieces

Pooling = Literal["first", "mean", "first+last"]
POOLINGS: Tuple[str, ...] = ("first", "mean", "first+last")


@registry.layers("spacy-bert-ner.first_subword_pool.v1")
def first_subword_pool(
    grad_factor: float = 1.0,
) -> Model[List[TransformerData], List[Floats2d]]:
    """One vector per token: the hidden state of its first wordpiece.

    Tokens without any wordpiece get an all-zero row; downstream layers use
    that to mask them (see ``with_unaligned_mask``). Gradients flow back to the
    chosen pieces only, scaled by ``grad_factor`` (0 freezes the transformer
    with respect to this component).
    """
    return Model(
        "first_subword_pool",
        _pool_forward,
        attrs={"grad_factor": grad_factor},
        dims={"nO": None},
    )


def _hidden_state(trf_data: TransformerData):
    if "last_hidden_state" not in trf_data.model_output:
        return None
    hidden = trf_data.model_output["last_hidden_state"]
    return None if hidden.size == 0 else hidden


def _selected_pieces(trf_data: TransformerData, padded_length: int) -> numpy.ndarray:
    """Each token's first piece by HF's ``word_ids()`` rule (see ``alignment``)."""
    return select_first_pieces(trf_data, padded_length)


def _pool_forward(
    model: Model, trf_datas: List[TransformerData], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    ops = model.ops
    grad_factor = model.attrs["grad_factor"]
    outputs: List[Floats2d] = []
    saved: List[Tuple] = []
    for trf_data in trf_datas:
        n_tokens = int(trf_data.align.lengths.shape[0])
        hidden = _hidden_state(trf_data)
        if hidden is None:
            width = model.get_dim("nO") if model.has_dim("nO") else 0
            outputs.append(ops.alloc2f(n_tokens, width))
            saved.append((None, None, None))
            continue
        if not model.has_dim("nO"):
            model.set_dim("nO", hidden.shape[-1])
        flat = ops.reshape2f(hidden, -1, hidden.shape[-1])
        pieces = _selected_pieces(trf_data, hidden.shape[1])
        has_piece = numpy.flatnonzero(pieces >= 0)
        rows = ops.asarray1i(has_piece)
        src = ops.asarray1i(pieces[has_piece])
        output = ops.alloc2f(n_tokens, flat.shape[1])
        output[rows] = flat[src]
        outputs.append(output)
        saved.append((hidden, rows, src))

    def backprop(d_outputs: List[Floats2d]) -> List[TransformerData]:
        d_trf_datas: List[TransformerData] = []
        for trf_data, d_output, (hidden, rows, src) in zip(trf_datas, d_outputs, saved):
            if hidden is None:
                continue
            d_flat = ops.alloc2f(hidden.shape[0] * hidden.shape[1], hidden.shape[2])
            ops.scatter_add(d_flat, cast(Ints1d, src), d_output[rows])
            d_flat *= grad_factor
            d_trf_datas.append(_hidden_gradient(trf_data, hidden, d_flat))
        return d_trf_datas

    return outputs, backprop


def _hidden_gradient(trf_data: TransformerData, hidden, d_flat: Floats2d) -> TransformerData:
    """``d_flat`` (one row per piece of the doc's windows) as the gradient of ``trf_data``."""
    return TransformerData(
        model_output=ModelOutput(last_hidden_state=d_flat.reshape(hidden.shape).astype(hidden.dtype)),
        wordpieces=trf_data.wordpieces,
        align=trf_data.align,
    )


@registry.layers("spacy-bert-ner.subword_pool.v1")
def subword_pool(
    grad_factor: float = 1.0, pooling: Pooling = "first"
) -> Model[List[TransformerData], List[Floats2d]]:
    """One vector per token from its wordpieces, as ``pooling`` says.

    "first": :func:`first_subword_pool` itself (HF's rule). "mean": the average
    of the token's pieces in the window its first piece is read from
    (``alignment.select_token_pieces``). "first+last": the first and the last
    of those pieces side by side, twice the encoder's width. Tokens without a
    wordpiece get an all-zero row and gradients are scaled by ``grad_factor``,
    as in :func:`first_subword_pool`.
    """
    if pooling == "first":
        return first_subword_pool(grad_factor=grad_factor)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}")
    return Model(
        "subword_pool",
        _pieces_forward,
        attrs={"grad_factor": grad_factor, "pooling": pooling},
        dims={"nO": None},
    )


def _pooling_slots(trf_data: TransformerData, padded_length: int, pooling: str) -> List[Tuple]:
    """Per output block, ``(tokens, pieces, weights)``: block row ``t`` sums ``w * hidden[p]``."""
    first = select_first_pieces(trf_data, padded_length)
    tokens, pieces = select_token_pieces(trf_data, padded_length, first)
    if pooling == "mean":
        counts = numpy.bincount(tokens, minlength=first.shape[0])
        return [(tokens, pieces, 1.0 / counts[tokens])]
    has_piece = numpy.flatnonzero(first >= 0)
    is_last = numpy.ones(tokens.shape[0], dtype=bool)
    is_last[:-1] = tokens[1:] != tokens[:-1]
    return [
        (has_piece, first[has_piece], numpy.ones(has_piece.shape[0])),
        (tokens[is_last], pieces[is_last], numpy.ones(int(is_last.sum()))),
    ]


def _pieces_forward(
    model: Model, trf_datas: List[TransformerData], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    ops = model.ops
    n_blocks = 2 if model.attrs["pooling"] == "first+last" else 1
    outputs: List[Floats2d] = []
    saved: List[Tuple] = []
    for trf_data in trf_datas:
        n_tokens = int(trf_data.align.lengths.shape[0])
        hidden = _hidden_state(trf_data)
        if hidden is None:
            outputs.append(ops.alloc2f(n_tokens, model.get_dim("nO") if model.has_dim("nO") else 0))
            saved.append((None, []))
            continue
        if not model.has_dim("nO"):
            model.set_dim("nO", n_blocks * hidden.shape[-1])
        flat = ops.reshape2f(hidden, -1, hidden.shape[-1])
        slots = [
            (ops.asarray1i(rows), ops.asarray1i(src), ops.asarray1f(weights.astype("float32"))[:, None])
            for rows, src, weights in _pooling_slots(trf_data, hidden.shape[1], model.attrs["pooling"])
        ]
        blocks = []
        for rows, src, weights in slots:
            block = ops.alloc2f(n_tokens, flat.shape[1])
            ops.scatter_add(block, cast(Ints1d, rows), flat[src] * weights)
            blocks.append(block)
        outputs.append(blocks[0] if n_blocks == 1 else ops.xp.hstack(blocks))
        saved.append((hidden, slots))

    def backprop(d_outputs: List[Floats2d]) -> List[TransformerData]:
        d_trf_datas: List[TransformerData] = []
        for trf_data, d_output, (hidden, slots) in zip(trf_datas, d_outputs, saved):
            if hidden is None:
                continue
            width = hidden.shape[2]
            d_flat = ops.alloc2f(hidden.shape[0] * hidden.shape[1], width)
            for block, (rows, src, weights) in enumerate(slots):
                d_block = d_output[:, block * width:(block + 1) * width]
                ops.scatter_add(d_flat, cast(Ints1d, src), d_block[rows] * weights)
            d_flat *= model.attrs["grad_factor"]
            d_trf_datas.append(_hidden_gradient(trf_data, hidden, d_flat))
        return d_trf_datas

    return outputs, backprop


def with_unaligned_mask(
    tok2vec: Model[List[Doc], List[Floats2d]],
    scorer: Model[List[Floats2d], List[Floats2d]],
    extra_features: Optional[Model[List[Doc], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """tok2vec -> [append extra features] -> scorer, zeroing unaligned rows.

    The first-subword pool marks tokens without a wordpiece with a zero row.
    Their output rows are zeroed too, which tells the component to mask them in
    the loss (HF's -100) and lets the decoder fill them in from their
    neighbours instead of trusting a prediction made from no input.
    """
    layers = [tok2vec, scorer] + ([extra_features] if extra_features is not None else [])
    return Model("with_unaligned_mask", _mask_forward, init=_mask_init, layers=layers)


def _features(model: Model, docs: List[Doc], is_train: bool):
    tok2vec = model.layers[0]
    Xs, backprop_tok2vec = tok2vec(docs, is_train)
    keep = [model.ops.xp.any(X != 0, axis=1).astype("f")[:, None] for X in Xs]
    if len(model.layers) < 3:
        return Xs, keep, backprop_tok2vec
    Es, backprop_extra = model.layers[2](docs, is_train)
    merged, backprop = _hstack_rows(model.ops, tok2vec, Xs, Es, backprop_tok2vec, backprop_extra)
    return merged, keep, backprop


def _mask_forward(
    model: Model, docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    Xs, keep, backprop_features = _features(model, docs, is_train)
    Ys, backprop_scorer = model.layers[1](Xs, is_train)
    Ys = [Y * k for Y, k in zip(Ys, keep)]

    def backprop(dYs: List[Floats2d]):
        return backprop_features(backprop_scorer([dY * k for dY, k in zip(dYs, keep)]))

    return Ys, backprop


def _mask_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    for layer in model.layers[0:1] + model.layers[2:]:
        layer.initialize(X=X)
    Xs = None
    if X is not None:
        Xs, _, _ = _features(model, X, is_train=False)
    model.layers[1].initialize(X=Xs, Y=Y)


def concat_rows(
    tok2vec: Model[List[Doc], List[Floats2d]], features: Model[List[Doc], List[Floats2d]]
) -> Model[List[Doc], List[Floats2d]]:
    """Per doc, ``tok2vec``'s rows with ``features``' rows appended.

    Like thinc's ``concatenate``, but an empty doc (for which a transformer
    listener returns a 0 x 0 array) gets a 0 x (both widths) array instead of
    a shape error, so ``nlp.pipe(["", "text"])`` works.
    """
    return Model(
        "concat_rows", _concat_rows_forward, init=_concat_rows_init, layers=[tok2vec, features], dims={"nO": None}
    )


def _concat_rows_forward(model: Model, docs: List[Doc], is_train: bool):
    Xs, backprop_tok2vec = model.layers[0](docs, is_train)
    Es, backprop_features = model.layers[1](docs, is_train)
    return _hstack_rows(model.ops, model.layers[0], Xs, Es, backprop_tok2vec, backprop_features)


def _hstack_rows(ops, left: Model, Xs: List[Floats2d], Es: List[Floats2d], backprop_left: Callable,
                 backprop_right: Callable) -> Tuple[List[Floats2d], Callable]:
    """Per doc, ``Xs``' rows with ``Es``' rows appended, and the backprop that splits the gradient.

    An empty doc's 0 x 0 transformer output is widened to ``left``'s width.
    """
    widths = [X.shape[1] for X in Xs if X.shape[0]]
    width = widths[0] if widths else (left.get_dim("nO") if left.has_dim("nO") else 0)
    Ys = [ops.xp.hstack((X if X.shape[0] else ops.alloc2f(0, width), E)) for X, E in zip(Xs, Es)]

    def backprop(dYs: List[Floats2d]):
        backprop_right([ops.xp.ascontiguousarray(dY[:, width:]) for dY in dYs])
        return backprop_left([
            ops.xp.ascontiguousarray(dY[:, :width]) if X.shape[0] else ops.alloc2f(*X.shape)
            for X, dY in zip(Xs, dYs)
        ])

    return Ys, backprop


def _concat_rows_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    for layer in model.layers:
        layer.initialize(X=X)
    if all(layer.has_dim("nO") for layer in model.layers):
        model.set_dim("nO", sum(layer.get_dim("nO") for layer in model.layers))


@registry.layers("spacy-bert-ner.crf_transitions.v1")
def crf_transitions(nO=None) -> Model[List[Floats2d], List[Floats2d]]:
    """Holds a linear-chain CRF's transition, start and end scores.

    Forward is the identity on the emission scores; the component computes
    the CRF loss and its gradients (``losses.crf_loss``) and adds
    the parameter gradients here with ``inc_grad``, so the optimizer updates
    the transitions jointly with the encoder.
    """
    return Model(
        "crf_transitions",
        _identity_forward,
        init=_crf_init,
        dims={"nO": nO},
        params={"transitions": None, "start": None, "end": None},
    )


def _crf_init(model: Model, X=None, Y=None) -> None:
    n_labels = model.get_dim("nO")
    model.set_param("transitions", model.ops.alloc2f(n_labels, n_labels))
    model.set_param("start", model.ops.alloc1f(n_labels))
    model.set_param("end", model.ops.alloc1f(n_labels))


def _identity_forward(model: Model, Xs, is_train: bool):
    return Xs, lambda dYs: dYs
