"""token_classifier training options: wordpiece pooling, label smoothing, the head's learning-rate scale."""
import re
from typing import Dict, List

import numpy
import pytest
from spacy.tokens import Doc
from spacy.util import fix_random_seed
from spacy_transformers.data_classes import TransformerData, WordpieceBatch
from thinc.api import Adam, Linear, NumpyOps, Ragged
from transformers.file_utils import ModelOutput

from spacy_bert_ner import util
from spacy_bert_ner.head_training import (
    ScaledOptimizer,
    finish_head_update,
    head_param_keys,
)
from spacy_bert_ner.hf.interop import InteropError
from spacy_bert_ner.hf.spacy_to_hf import check_exportable
from spacy_bert_ner.layers import subword_pool
from spacy_bert_ner.losses import MISSING, masked_cross_entropy

from .conftest import SENTENCE_WINDOWS, TRAIN_SENTENCES, build_pipeline, make_examples

POOLING_LISTENER = "spacy-bert-ner.SubwordPoolingListener.v1"


def pooling_model(pooling: str) -> Dict:
    return {"tok2vec": {"@architectures": POOLING_LISTENER, "pooling": pooling}}


# ---- pooling: a hand-made doc ----------------------------------------------
# Two windows of padded length 6 (indices 0-5 and 6-11), width 3. Token 2 has no
# piece; token 3 sits in both windows and is read from window 1, where it is more central.
ALIGN = [[1], [2, 3], [], [4, 8, 9], [10]]


def hand_trf_data() -> TransformerData:
    hidden = (numpy.arange(2 * 6 * 3, dtype="float32").reshape(2, 6, 3) + 1.0) ** 1.5
    strings = [["[CLS]", "a", "b", "##c", "d", "[SEP]"], ["[CLS]", "d", "e", "##f", "g", "[SEP]"]]
    wordpieces = WordpieceBatch(
        strings=strings, input_ids=numpy.ones((2, 6), dtype="i"), attention_mask=numpy.ones((2, 6), dtype="f"),
        lengths=[6, 6], token_type_ids=None,
    )
    align = Ragged(numpy.asarray([i for row in ALIGN for i in row], dtype="i"),
                   numpy.asarray([len(row) for row in ALIGN], dtype="i"))
    return TransformerData(wordpieces=wordpieces, model_output=ModelOutput(last_hidden_state=hidden), align=align)


# Per token: the pieces each pooling reads (first piece, then the window's pieces).
HAND_FIRST = [1, 2, None, 8, 10]
HAND_PIECES = [[1], [2, 3], [], [8, 9], [10]]


def hand_pool(hidden: numpy.ndarray, pooling: str) -> numpy.ndarray:
    flat = hidden.reshape(-1, hidden.shape[-1])
    zero = numpy.zeros(flat.shape[1], dtype="float32")
    rows = []
    for first, pieces in zip(HAND_FIRST, HAND_PIECES):
        if first is None:
            rows.append(zero if pooling != "first+last" else numpy.concatenate([zero, zero]))
        elif pooling == "first":
            rows.append(flat[first])
        elif pooling == "mean":
            rows.append(flat[pieces].mean(axis=0))
        else:
            rows.append(numpy.concatenate([flat[pieces[0]], flat[pieces[-1]]]))
    return numpy.stack(rows)


def hand_gradient(d_out: numpy.ndarray, pooling: str, n_pieces: int, grad_factor: float) -> numpy.ndarray:
    width = 3
    d_flat = numpy.zeros((n_pieces, width), dtype="float32")
    for token, (first, pieces) in enumerate(zip(HAND_FIRST, HAND_PIECES)):
        if first is None:
            continue
        if pooling == "first":
            d_flat[first] += d_out[token]
        elif pooling == "mean":
            for piece in pieces:
                d_flat[piece] += d_out[token] / len(pieces)
        else:
            d_flat[pieces[0]] += d_out[token, :width]
            d_flat[pieces[-1]] += d_out[token, width:]
    return d_flat * grad_factor


@pytest.mark.parametrize("pooling", ["first", "mean", "first+last"])
def test_pooling_matches_a_hand_computation(pooling):
    trf_data = hand_trf_data()
    hidden = trf_data.model_output["last_hidden_state"]
    layer = subword_pool(grad_factor=0.5, pooling=pooling)
    (output,), backprop = layer([trf_data], is_train=True)
    numpy.testing.assert_allclose(output, hand_pool(hidden, pooling), rtol=1e-6)
    assert not output[2].any()  # the token without a wordpiece: an all-zero row
    d_out = numpy.random.default_rng(0).normal(size=output.shape).astype("float32")
    (d_trf,) = backprop([d_out])
    d_hidden = d_trf.model_output["last_hidden_state"]
    assert d_hidden.shape == hidden.shape
    numpy.testing.assert_allclose(
        d_hidden.reshape(-1, 3), hand_gradient(d_out, pooling, 12, 0.5), rtol=1e-6, atol=1e-7
    )


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling: expected one of first, mean, first\\+last"):
        subword_pool(pooling="last")


# ---- pooling: the tiny BERT -------------------------------------------------
@pytest.mark.parametrize("pooling", ["mean", "first+last"])
def test_pooling_on_the_tiny_model(tiny_bert_dir, pooling):
    """The listener's vectors are the mean / first and last of each token's pieces in doc._.trf_data."""
    nlp = build_pipeline(tiny_bert_dir, get_spans=SENTENCE_WINDOWS, model=pooling_model(pooling))
    nlp.initialize(lambda: make_examples(nlp))
    words = ["Peter", "Hendrixes", "\n", "paid", "17,000", "."]  # 3 pieces, none, 4 and 6 pieces
    doc = nlp.get_pipe("transformer")(Doc(nlp.vocab, words=words, spaces=[True, True, False, True, False, False]))
    trf_data = doc._.trf_data
    flat = trf_data.model_output["last_hidden_state"].reshape(-1, 32)
    pool = nlp.get_pipe("token_classifier").model.get_ref("tok2vec").layers[1]
    (output,) = pool.predict([trf_data])
    assert output.shape == (len(words), 32 if pooling == "mean" else 64)
    for i in range(len(words)):
        pieces = trf_data.align[i].dataXd.ravel()
        if i == 2:
            assert len(pieces) == 0 and not output[i].any()
            continue
        expected = flat[pieces].mean(axis=0) if pooling == "mean" else numpy.concatenate([flat[pieces[0]], flat[pieces[-1]]])
        numpy.testing.assert_allclose(output[i], expected, rtol=1e-5, atol=1e-6)
    assert [len(trf_data.align[i].dataXd.ravel()) for i in (1, 3, 4)] == [3, 4, 6]


def test_first_pooling_is_the_first_subword_listener(tiny_bert_dir):
    scores = []
    for model in ({}, pooling_model("first")):
        fix_random_seed(0)
        nlp = build_pipeline(tiny_bert_dir, model=model)
        nlp.initialize(lambda: make_examples(nlp))
        docs = [nlp.get_pipe("transformer")(nlp.make_doc(text)) for text, _ in TRAIN_SENTENCES]
        scores.append(nlp.get_pipe("token_classifier").model.predict(docs))
    for ours, theirs in zip(*scores):
        numpy.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "head_config",
    [{"model": pooling_model("mean")}, {"model": pooling_model("first+last")}, {"label_smoothing": 0.1}],
    ids=["mean", "first+last", "label-smoothing"],
)
def test_options_train_and_round_trip(tiny_bert_dir, head_config):
    nlp = build_pipeline(tiny_bert_dir, **head_config)
    examples = make_examples(nlp)
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    losses: List[float] = []
    for _ in range(5):
        losses.append(nlp.update(examples, sgd=optimizer)["token_classifier"])
    assert losses[-1] < losses[0]
    output_layer = nlp.get_pipe("token_classifier").model.get_ref("output_layer")
    pooling = head_config.get("model", {}).get("tok2vec", {}).get("pooling", "first")
    assert output_layer.get_dim("nI") == (64 if pooling == "first+last" else 32)
    fresh = build_pipeline(tiny_bert_dir, **head_config)
    fresh.from_bytes(nlp.to_bytes())
    texts = [text for text, _ in TRAIN_SENTENCES] + [""]
    assert [d.ents for d in fresh.pipe(texts)] == [d.ents for d in nlp.pipe(texts)]


def test_export_refuses_pooling_other_than_first(tiny_bert_dir):
    for pooling, refused in (("first", False), ("mean", True), ("first+last", True)):
        nlp = build_pipeline(tiny_bert_dir, model=pooling_model(pooling))
        nlp.initialize(lambda: make_examples(nlp))
        if refused:
            with pytest.raises(InteropError, match=rf"model\.tok2vec\.pooling = '{re.escape(pooling)}'.*first subword only"):
                check_exportable(nlp)
        else:
            assert check_exportable(nlp) == "transformer"


# ---- label smoothing ---------------------------------------------------------
def test_label_smoothing_matches_a_hand_computation():
    rng = numpy.random.default_rng(0)
    logits = [rng.normal(size=(n, 4)) for n in (4, 0, 2)]
    probs = [(numpy.exp(x) / numpy.exp(x).sum(axis=1, keepdims=True)).astype("float32") for x in logits]
    probs[0][1] = 0.0  # no wordpiece: masked
    golds = [numpy.asarray(g, dtype="int64") for g in ([0, 2, MISSING, 3], [], [1, 2])]
    weights = [0.5, 1.0, 2.0, 1.5]
    loss, d_scores = masked_cross_entropy(NumpyOps(), probs, golds, weights, label_smoothing=0.3)
    n_valid, total = 4, 0.0  # rows (0,0), (0,3), (2,0), (2,1)
    for P, g, d in zip(probs, golds, d_scores):
        for row in range(P.shape[0]):
            if g[row] == MISSING or not P[row].any():
                assert not d[row].any()
                continue
            target = numpy.full(4, 0.1, dtype="float32")  # 0.3 / (4 - 1)
            target[g[row]] = 0.7
            w = weights[g[row]]
            numpy.testing.assert_allclose(d[row], (P[row] - target) * w / n_valid, rtol=1e-6)
            total += float(-(w * target * numpy.log(P[row])).sum()) / n_valid
    assert loss == pytest.approx(total, rel=1e-5)
    plain = masked_cross_entropy(NumpyOps(), probs, golds, weights)
    assert plain[0] != pytest.approx(loss)


def test_label_smoothing_settings_are_checked(tiny_bert_dir):
    with pytest.raises(ValueError, match="label_smoothing = 0.1 with model.use_crf = true"):
        build_pipeline(tiny_bert_dir, label_smoothing=0.1, model={"use_crf": True})
    with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0, 1\)"):
        build_pipeline(tiny_bert_dir, label_smoothing=1.0)
    with pytest.raises(ValueError, match="head_lr_scale: expected a value >= 0"):
        build_pipeline(tiny_bert_dir, head_lr_scale=-1.0)
    build_pipeline(tiny_bert_dir, label_smoothing=0.0, model={"use_crf": True})


# ---- the head's learning-rate scale -------------------------------------------
def _head_params(nlp) -> Dict:
    model = nlp.get_pipe("token_classifier").model
    nodes = {node.id: node for node in model.walk()}
    return {key: nodes[key[0]].get_param(key[1]).copy() for key in head_param_keys(model)}


def _trained_head(tiny_bert_dir, head_lr_scale: float, n_steps: int):
    fix_random_seed(0)
    nlp = build_pipeline(tiny_bert_dir, head_lr_scale=head_lr_scale, model={"shape_width": 8})
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    before = _head_params(nlp)
    encoder = {n: p.detach().clone() for n, p in util.hf_model(nlp).named_parameters()}
    for _ in range(n_steps):
        nlp.update(make_examples(nlp), sgd=optimizer)
    return nlp, before, encoder


def test_head_lr_scale_zero_freezes_the_head_not_the_transformer(tiny_bert_dir):
    # spaCy applies the transformer's gradient in the finish_update of the next step
    nlp, before, encoder = _trained_head(tiny_bert_dir, 0.0, n_steps=2)
    after = _head_params(nlp)
    assert len(after) >= 3  # output W, b and the shape embedding table
    assert all(numpy.array_equal(before[key], after[key]) for key in before)
    params = dict(util.hf_model(nlp).named_parameters())
    assert any(not numpy.allclose(params[n].detach().numpy(), v.numpy()) for n, v in encoder.items())


def test_head_lr_scale_scales_the_head_step(tiny_bert_dir):
    steps = {}
    for scale in (1.0, 0.5):
        nlp, before, _ = _trained_head(tiny_bert_dir, scale, n_steps=1)
        after = _head_params(nlp)
        steps[scale] = {i: after[key] - before[key] for i, key in enumerate(sorted(before, key=lambda k: k[1]))}
    assert any(step.any() for step in steps[1.0].values())
    for i, step in steps[1.0].items():
        numpy.testing.assert_allclose(steps[0.5][i], 0.5 * step, rtol=1e-3, atol=1e-8)  # atol: float32 rounding of the tiny weight-decay steps


def test_scale_one_is_the_plain_update():
    """The wrapper at 1.0 changes nothing (finish_head_update skips it then anyway)."""
    models = []
    for scaled in (False, True):
        model = Linear(3, 4).initialize()
        model.set_param("W", numpy.arange(12, dtype="f").reshape(3, 4) / 7)
        model.inc_grad("W", numpy.linspace(-1, 1, 12, dtype="f").reshape(3, 4))
        model.inc_grad("b", numpy.asarray([0.5, -0.25, 1.0], dtype="f"))
        optimizer = Adam(0.01, L2=0.01, grad_clip=1.0)
        if scaled:
            model.finish_update(ScaledOptimizer(optimizer, 1.0, head_param_keys(model)))
        else:
            finish_head_update(model, optimizer, 1.0)
        models.append(model)
    for name in ("W", "b"):
        numpy.testing.assert_array_equal(models[0].get_param(name), models[1].get_param(name))
    assert not numpy.array_equal(models[0].get_param("W"), numpy.arange(12, dtype="f").reshape(3, 4) / 7)
