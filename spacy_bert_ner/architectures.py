"""Registered model builders (``spacy-bert-ner.<Name>.v1``).

Registered names are frozen once released: a behaviour change gets a new
``.v2`` beside the ``.v1``.
"""
from typing import List, Literal, Optional

import numpy

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.layers import TransformerListener
from thinc.api import (
    Dropout,
    HashEmbed,
    Linear,
    Model,
    Relu,
    Softmax_v2,
    chain,
    concatenate,
    with_array,
)
from spacy.ml.featureextractor import FeatureExtractor
from thinc.types import Floats2d

from .layers import Pooling, concat_rows, crf_transitions, first_subword_pool, subword_pool, with_unaligned_mask

Activation = Literal["tanh", "relu", "none"]


@registry.architectures("spacy-bert-ner.FirstSubwordListener.v1")
def build_first_subword_listener_v1(
    *, upstream: str = "*", grad_factor: float = 1.0
) -> Model[List[Doc], List[Floats2d]]:
    """Listen to a ``transformer`` component and read each token's first wordpiece."""
    listener = TransformerListener(upstream_name=upstream)
    model: Model = chain(listener, first_subword_pool(grad_factor=grad_factor))
    model.set_ref("listener", listener)
    return model


@registry.architectures("spacy-bert-ner.SubwordPoolingListener.v1")
def build_subword_pooling_listener_v1(
    *, upstream: str = "*", grad_factor: float = 1.0, pooling: Pooling = "first"
) -> Model[List[Doc], List[Floats2d]]:
    """Listen to a ``transformer`` component and pool each token's wordpieces.

    pooling: "first" (HF's rule, the same model as ``FirstSubwordListener.v1``;
    the only one ``export-hf`` accepts), "mean", or "first+last" (the first
    and last piece concatenated: twice the encoder's width, which the head's
    first layer infers at initialization). See ``layers.subword_pool``.
    """
    listener = TransformerListener(upstream_name=upstream)
    model: Model = chain(listener, subword_pool(grad_factor=grad_factor, pooling=pooling))
    model.set_ref("listener", listener)
    return model


@registry.architectures("spacy-bert-ner.TokenClassifier.v1")
def build_token_classifier_v1(
    *,
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 0,
    hidden_activation: Activation = "tanh",
    dropout: float = 0.1,
    pos_width: int = 0,
    use_crf: bool = False,
    nO: Optional[int] = None,
    shape_width: int = 0,
) -> Model[List[Doc], List[Floats2d]]:
    """HuggingFace's token-classification head over first-subword vectors.

    tok2vec -> [concat POS-tag embedding] -> [hidden layer + activation]
    -> dropout -> linear -> softmax (or, with ``use_crf``, raw emission scores
    for a linear-chain CRF whose transitions live in the ``crf`` ref).

    hidden_width: 0 is HF's head exactly; > 0 adds a hidden layer.
    hidden_activation: "tanh", "relu" or "none" (a linear bottleneck).
    pos_width: > 0 concatenates an embedding of ``token.tag_``.
    shape_width: > 0 concatenates an embedding of ``token.shape_`` ("Xxxxx",
        "XXX", "dd"), which gives an uncased encoder the casing it cannot see.
    Tokens with no wordpiece get an all-zero output row (see layers.py).
    """
    if use_crf:
        output_layer = Linear(nO=nO, init_W=hf_classifier_init)
    else:
        output_layer = Softmax_v2(nO=nO, init_W=hf_classifier_init, normalize_outputs=True)
    scorer = with_array(
        chain(*_hidden_layers(hidden_width, hidden_activation, dropout), output_layer)
    )
    model = with_unaligned_mask(tok2vec, scorer, token_feature_embed(pos_width, shape_width))
    if use_crf:
        crf = crf_transitions(nO=nO)
        model = chain(model, crf)
        model.set_ref("crf", crf)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    model.attrs["use_crf"] = use_crf
    return model


@registry.architectures("spacy-bert-ner.WithTokenFeatures.v1")
def build_with_token_features_v1(
    *, tok2vec: Model[List[Doc], List[Floats2d]], pos_width: int = 0, shape_width: int = 0
) -> Model[List[Doc], List[Floats2d]]:
    """``tok2vec`` with the same POS / word-shape embeddings appended as the token classifier's.

    Wrap a ``TransformerListener`` in it to give spaCy's ``ner`` exactly the
    features the ``token_classifier`` gets, so the two heads stay comparable.
    """
    features = token_feature_embed(pos_width, shape_width)
    if features is None:
        return tok2vec
    return concat_rows(tok2vec, features)


def token_feature_embed(pos_width: int, shape_width: int) -> Optional[Model[List[Doc], List[Floats2d]]]:
    """Hash embeddings of ``token.tag_`` and ``token.shape_``, concatenated; None when both widths are 0."""
    specs = [(attr, width, rows) for attr, width, rows in (("TAG", pos_width, 256), ("SHAPE", shape_width, 1000)) if width > 0]
    if not specs:
        return None
    embeds = [
        HashEmbed(nO=width, nV=rows, column=column, seed=17 + column)
        for column, (_, width, rows) in enumerate(specs)
    ]
    table = embeds[0] if len(embeds) == 1 else concatenate(*embeds)
    return chain(FeatureExtractor([attr for attr, _, _ in specs]), with_array(table))


def hf_classifier_init(ops, shape) -> Floats2d:
    """HF's classifier initialisation, N(0, 0.02).

    thinc's Softmax starts from zero weights, which sends no gradient to the
    encoder on the first update; HF's head starts small and random.
    """
    return ops.asarray2f(numpy.random.normal(0.0, 0.02, shape).astype("float32"))


def _hidden_layers(width: int, activation: Activation, dropout: float) -> List[Model]:
    layers: List[Model] = [Dropout(dropout)]
    if width <= 0:
        return layers
    if activation == "relu":
        layers.append(Relu(nO=width))
    elif activation == "tanh":
        layers.append(chain(Linear(nO=width), _tanh()))
    else:
        layers.append(Linear(nO=width))
    layers.append(Dropout(dropout))
    return layers


def _tanh() -> Model[Floats2d, Floats2d]:
    def forward(model: Model, X: Floats2d, is_train: bool):
        Y = model.ops.xp.tanh(X)
        return Y, lambda dY: dY * (1 - Y * Y)

    return Model("tanh", forward)
