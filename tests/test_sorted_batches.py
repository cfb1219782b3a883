"""spacy-bert-ner.TransformerModel.v1: length-sorted chunks give v3's outputs and gradients."""
import numpy
import pytest
import spacy
import torch
from spacy.training import Example

from spacy_bert_ner import util
from spacy_bert_ner.sorted_batches import DEFAULT_CHUNK_SIZE, chunk_order

from .conftest import TRAIN_SENTENCES, make_doc

TEXTS = [text for text, _ in TRAIN_SENTENCES] + [
    "Brussels .",
    " ".join(text for text, _ in TRAIN_SENTENCES),  # many windows of 8
    "",
]
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def _pipeline(model_dir, architecture: str, **extra):
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": architecture,
        "name": str(model_dir),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 6},
        "tokenizer_config": {"use_fast": True},
        "transformer_config": NO_DROPOUT,
        **extra,
    }})
    nlp.add_pipe("token_classifier", config={"model": {"dropout": 0.0}})
    return nlp


@pytest.fixture(scope="module")
def pair(tiny_bert_dir):
    plain = _pipeline(tiny_bert_dir, "spacy-transformers.TransformerModel.v3")
    examples = [Example(plain.make_doc(t), make_doc(plain, t, e)) for t, e in TRAIN_SENTENCES]
    plain.initialize(lambda: examples)
    chunked = _pipeline(tiny_bert_dir, "spacy-bert-ner.TransformerModel.v1", chunk_size=2)
    chunked.initialize(lambda: examples)
    chunked.from_bytes(plain.to_bytes())
    return plain, chunked, examples


@pytest.mark.parametrize(
    "lengths,size,expected",
    [([3, 9, 5, 9, 1], 2, [[1, 3], [2, 0], [4]]), ([4], 8, [[0]]), ([], 3, [])],
)
def test_chunk_order_is_longest_first(lengths, size, expected):
    assert [list(chunk) for chunk in chunk_order(lengths, size)] == expected


def test_chunk_size_must_not_be_negative(tiny_bert_dir):
    with pytest.raises(ValueError, match="chunk_size"):
        _pipeline(tiny_bert_dir, "spacy-bert-ner.TransformerModel.v1", chunk_size=-1)


def test_same_hidden_states_and_entities(pair):
    plain, chunked = pair[0], pair[1]
    docs_a, docs_b = list(plain.pipe(TEXTS)), list(chunked.pipe(TEXTS))
    for a, b in zip(docs_a, docs_b):
        if not len(a):
            assert not len(b) and not b.ents
            continue
        states_a = a._.trf_data.model_output["last_hidden_state"]
        states_b = b._.trf_data.model_output["last_hidden_state"]
        real = a._.trf_data.align.dataXd  # every wordpiece a token maps to
        flat_a = states_a.reshape(-1, states_a.shape[-1])[real]
        flat_b = states_b.reshape(-1, states_b.shape[-1])[real]
        numpy.testing.assert_allclose(flat_a, flat_b, atol=1e-5)
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]


def test_same_gradients(pair):
    plain, chunked, examples = pair
    examples = examples + [Example(plain.make_doc(TEXTS[-2]), plain.make_doc(TEXTS[-2]))]
    grads = []
    for nlp in (plain, chunked):
        hf_model = util.hf_model(nlp)
        hf_model.zero_grad()
        nlp.update(examples, sgd=None, drop=0.0)
        grads.append({name: p.grad.clone() for name, p in hf_model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_loads_a_v3_trained_pipeline(pair, tmp_path):
    """A pipeline trained with v3 runs with sorted chunks through a config override."""
    plain = pair[0]
    plain.to_disk(tmp_path / "v3")
    override = {"components.transformer.model.@architectures": "spacy-bert-ner.TransformerModel.v1"}
    nlp = spacy.load(tmp_path / "v3", config=override)
    assert nlp.get_pipe("transformer").model.layers[0].attrs["chunk_size"] == DEFAULT_CHUNK_SIZE == 4
    text = TEXTS[-2]
    assert [(e.start, e.label_) for e in nlp(text).ents] == [(e.start, e.label_) for e in plain(text).ents]


def _window_count(trf_data) -> int:
    return len(trf_data.wordpieces.lengths)


def test_inference_spans_cut_predictions_but_not_training(tiny_bert_dir, pair):
    """Train on overlapping 8/6 windows, predict on 8/8 ones; weights are shared as saved."""
    no_overlap = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 8}
    nlp = _pipeline(tiny_bert_dir, "spacy-bert-ner.TransformerModel.v1", inference_get_spans=no_overlap)
    nlp.initialize(lambda: pair[2])
    nlp.from_bytes(pair[0].to_bytes())
    text = TEXTS[-2]
    n_tokens = len(nlp.make_doc(text))
    predicted = nlp(text)._.trf_data
    assert _window_count(predicted) == -(-n_tokens // 8)
    assert _window_count(pair[0](text)._.trf_data) > _window_count(predicted)
    trained, _ = nlp.get_pipe("transformer").model.begin_update([nlp.make_doc(text)])
    assert _window_count(trained) == _window_count(pair[0](text)._.trf_data)
    # the training getter is back in place after a prediction, and an empty text still works
    assert nlp.get_pipe("transformer").model.attrs["get_spans"](
        [nlp.make_doc(text)]
    )[0][1].start == 6
    assert not nlp("").ents


def test_inference_spans_from_a_config_override(pair, tmp_path):
    """A pipeline trained on overlapping windows predicts on others through a load-time override."""
    pair[1].to_disk(tmp_path / "trained")
    override = {"components.transformer.model.inference_get_spans": {
        "@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 8}}
    nlp = spacy.load(tmp_path / "trained", config=override)
    text = TEXTS[-2]
    assert _window_count(nlp(text)._.trf_data) < _window_count(pair[1](text)._.trf_data)


def test_sentence_windows_when_predicting(pair, tmp_path):
    """Predicting on whole sentences packed into windows: one window per packed group, no overlap."""
    pair[1].to_disk(tmp_path / "trained")
    override = {"components.transformer.model.inference_get_spans": {
        "@span_getters": "spacy-bert-ner.sentence_windows.v1", "window": 12}}
    nlp = spacy.load(tmp_path / "trained", config=override)
    text = TEXTS[-2]
    doc = nlp(text)
    n_sentences = len(TRAIN_SENTENCES)  # each 7-13 tokens: no two fit in 12 tokens
    assert _window_count(doc._.trf_data) == n_sentences + 1  # the 13-token sentence is cut once
    assert list(doc._.trf_data.align.lengths) and len(doc._.trf_data.align.lengths) == len(doc)
    assert not nlp("").ents


def _tree(model):
    return [(n.name, n.param_names, n.dim_names, len(n.shims), n.ref_names) for n in model.walk()]


@pytest.mark.parametrize("extra", [{}, {"chunk_size": 0}, {"inference_get_spans": {
    "@span_getters": "spacy-transformers.strided_spans.v1", "window": 8, "stride": 8}}])
def test_v1_keeps_the_v3_model_tree(tiny_bert_dir, extra):
    """Pipelines saved with v3, or with v1 before its layer was rebuilt publicly, keep loading."""
    plain = _pipeline(tiny_bert_dir, "spacy-transformers.TransformerModel.v3")
    chunked = _pipeline(tiny_bert_dir, "spacy-bert-ner.TransformerModel.v1", **extra)
    trees = [_tree(nlp.get_pipe("transformer").model) for nlp in (plain, chunked)]
    assert trees[0] == trees[1]
