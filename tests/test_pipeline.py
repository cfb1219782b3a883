"""The token_classifier component on a tiny local BERT: train, predict, serialize, edge cases."""
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy
import pytest
import spacy
from spacy.util import fix_random_seed
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from thinc.api import NumpyOps

from spacy_bert_ner import util
from spacy_bert_ner.decoding import constrained_viterbi
from spacy_bert_ner.losses import MISSING, gold_iob2_indices, masked_cross_entropy
from spacy_bert_ner.pipeline import TokenClassifier
from spacy_bert_ner.tags import is_valid_iob2

from .conftest import TRAIN_SENTENCES, build_pipeline, make_examples

# Saved by the code of commit c4ac7ad (before losses.py / decoding.py and the public
# sorted-chunks layer): spacy-bert-ner.TransformerModel.v1 with chunk_size 2 and inference
# spans, a softmax head with POS/shape features, a hidden layer and class weights, a CRF head.
SAVED_V1 = Path(__file__).parent / "data" / "v1_pipeline_c4ac7ad"


def train(nlp: Language, n_steps: int = 2, learn_rate: float = 0.001) -> List[float]:
    fix_random_seed(0)  # the same initial weights whatever ran before
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = learn_rate
    losses = []
    for _ in range(n_steps):
        step: Dict[str, float] = {}
        nlp.update(examples, sgd=optimizer, losses=step)
        losses.append(step["token_classifier"])
    return losses


def iob2(doc: Doc) -> List[str]:
    return [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ != "O" else "O" for t in doc]


@pytest.fixture(scope="module")
def trained(tiny_bert_dir) -> Language:
    nlp = build_pipeline(tiny_bert_dir)
    train(nlp, n_steps=30, learn_rate=0.003)
    return nlp


def test_initialize_sets_labels_and_output_width(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir)
    nlp.initialize(lambda: make_examples(nlp))
    pipe = nlp.get_pipe("token_classifier")
    assert pipe.labels == ("LOC", "MISC", "ORG", "PER")
    assert pipe.tag_names == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert pipe.model.get_ref("output_layer").get_dim("nO") == 9


def test_training_learns_the_training_set(trained):
    docs = list(trained.pipe(text for text, _ in TRAIN_SENTENCES))
    gold = [sorted((s, e, label) for s, e, label in ents) for _, ents in TRAIN_SENTENCES]
    pred = [sorted((ent.start, ent.end, ent.label_) for ent in doc.ents) for doc in docs]
    correct = sum(len(set(g) & set(p)) for g, p in zip(gold, pred))
    assert correct >= 0.8 * sum(len(g) for g in gold)


def test_loss_decreases(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir)
    losses = train(nlp, n_steps=8, learn_rate=0.003)
    assert losses[-1] < losses[0] * 0.7


def test_entities_have_confidence_span_group(trained):
    doc = trained("Peter Blackburn visited Brussels on Monday .")
    group = doc.spans["token_classifier"]
    assert [(s.start, s.end, s.label_) for s in group] == [(e.start, e.end, e.label_) for e in doc.ents]
    assert len(group.attrs["scores"]) == len(group)
    assert all(0.0 < score <= 1.0 for score in group.attrs["scores"])


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [""],
        ["", "Peter Blackburn visited Brussels .", ""],
        ["   ", "\n\n", "Peter\u200b Blackburn"],
        ["Ünïcödé ☃ 東京 Zürich 🚀 \u0301 .", "\x00\x07 control chars"],
    ],
    ids=["no-docs", "empty-doc", "mixed-empty", "whitespace", "odd-unicode"],
)
def test_pipe_handles_edge_cases(trained, texts):
    docs = list(trained.pipe(texts, batch_size=2))
    assert len(docs) == len(texts)
    for doc in docs:
        assert is_valid_iob2(iob2(doc))
        assert all(t.ent_iob_ in ("O", "B", "I") for t in doc)


def test_document_longer_than_512_wordpieces(trained):
    text = " ".join(["Peter Blackburn visited Brussels on Monday ."] * 120)
    doc = trained(text)
    assert len(doc) == 840
    assert is_valid_iob2(iob2(doc))


def test_to_disk_from_disk_round_trip(trained, tmp_path):
    trained.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    texts = [text for text, _ in TRAIN_SENTENCES]
    before = [iob2(doc) for doc in trained.pipe(texts)]
    after = [iob2(doc) for doc in loaded.pipe(texts)]
    assert before == after


def test_to_bytes_round_trip(trained):
    pipe = trained.get_pipe("token_classifier")
    data = pipe.to_bytes()
    copy = TokenClassifier(trained.vocab, pipe.model.copy() if hasattr(pipe.model, "copy") else pipe.model)
    copy.from_bytes(data)
    assert copy.labels == pipe.labels
    assert copy.cfg["decoding"] == pipe.cfg["decoding"]


def test_nlp_to_bytes_round_trip(trained, tiny_bert_dir):
    data = trained.to_bytes()
    fresh = build_pipeline(tiny_bert_dir)
    fresh.from_bytes(data)
    text = "Werner Zwingmann said the European Commission disagreed ."
    assert iob2(fresh(text)) == iob2(trained(text))


@pytest.mark.parametrize(
    "head_config",
    [
        {"model": {"hidden_width": 16, "hidden_activation": "tanh"}},
        {"model": {"hidden_width": 16, "hidden_activation": "relu"}},
        {"model": {"hidden_width": 16, "hidden_activation": "none"}},
        {"model": {"pos_width": 8}},
        {"model": {"shape_width": 8}},
        {"model": {"pos_width": 8, "shape_width": 8}},
        {"model": {"use_crf": True}},
        {"class_weighting": "balanced"},
        {"class_weighting": "sqrt_balanced"},
        {"decoding": "repair"},
    ],
    ids=["tanh", "relu", "linear", "pos", "shape", "pos+shape", "crf", "balanced", "sqrt-balanced", "repair"],
)
def test_head_options_train_and_predict(tiny_bert_dir, head_config):
    nlp = build_pipeline(tiny_bert_dir, **head_config)
    examples = make_examples(nlp)
    for eg in examples:  # POS features read token.tag_
        for token in eg.predicted:
            token.tag_ = "NNP" if token.text[:1].isupper() else "NN"
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    losses = []
    for _ in range(6):
        step: Dict[str, float] = {}
        nlp.update(examples, sgd=optimizer, losses=step)
        losses.append(step["token_classifier"])
    assert losses[-1] < losses[0]
    for doc in nlp.pipe([text for text, _ in TRAIN_SENTENCES] + [""]):
        assert is_valid_iob2(iob2(doc))


def test_class_weights_upweight_rare_labels(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir, class_weighting="balanced")
    nlp.initialize(lambda: make_examples(nlp))
    pipe = nlp.get_pipe("token_classifier")
    weights = dict(zip(pipe.tag_names, pipe.cfg["class_weights"]))
    assert weights["O"] < weights["B-PER"] < weights["I-MISC"] or weights["O"] < weights["B-PER"]
    assert weights["O"] == min(weights.values())


def test_crf_transitions_are_learned(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir, model={"use_crf": True})
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    crf = nlp.get_pipe("token_classifier").model.get_ref("crf")
    before = crf.get_param("transitions").copy()
    nlp.update(make_examples(nlp), sgd=optimizer)
    assert not numpy.allclose(before, crf.get_param("transitions"))


def test_freeze_lower_layers(tiny_bert_dir):
    from spacy_bert_ner.callbacks import make_freeze_transformer_layers

    nlp = build_pipeline(tiny_bert_dir)
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    make_freeze_transformer_layers(n_layers=1, freeze_embeddings=True)(nlp)
    hf_model = util.hf_model(nlp)
    frozen = {n: p.detach().clone() for n, p in hf_model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in hf_model.named_parameters() if p.requires_grad}
    assert any(n.startswith("embeddings") for n in frozen)
    assert any("layer.0." in n for n in frozen) and not any("layer.1." in n for n in frozen)
    # spaCy applies the transformer's gradient in the finish_update of the next step
    for _ in range(2):
        nlp.update(make_examples(nlp), sgd=optimizer)
    params = dict(hf_model.named_parameters())
    assert all(numpy.allclose(params[n].detach().numpy(), v.numpy()) for n, v in frozen.items())
    assert any(not numpy.allclose(params[n].detach().numpy(), v.numpy()) for n, v in trainable.items())


def test_invalid_label_rejected(tiny_bert_dir):
    nlp = build_pipeline(tiny_bert_dir)
    with pytest.raises(ValueError, match="entity types"):
        nlp.get_pipe("token_classifier").add_label("B-PER")


def test_fresh_process_load_and_spacy_evaluate(trained, tmp_path):
    """spacy.load in a new interpreter finds the factory through entry points alone."""
    trained.to_disk(tmp_path / "pipeline")
    docbin = DocBin(docs=[eg.reference for eg in make_examples(trained)])
    docbin.to_disk(tmp_path / "dev.spacy")
    code = (
        "import spacy, sys; nlp = spacy.load(sys.argv[1]); "
        "doc = nlp('Peter Blackburn visited Brussels .'); "
        "print(nlp.pipe_names, [(e.text, e.label_) for e in doc.ents])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipeline")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "token_classifier" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(tmp_path / "pipeline"), str(tmp_path / "dev.spacy"),
         "--output", str(tmp_path / "metrics.json")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"ents_p", "ents_r", "ents_f", "ents_per_type"} <= set(metrics)
    assert set(metrics["ents_per_type"]) <= {"LOC", "MISC", "ORG", "PER"}


def test_ner_with_token_features_trains_and_round_trips(tiny_bert_dir):
    """spaCy's ner gets the same shape features through WithTokenFeatures.v1."""
    tok2vec = {
        "@architectures": "spacy-bert-ner.WithTokenFeatures.v1",
        "shape_width": 8,
        "tok2vec": {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 1.0,
            "pooling": {"@layers": "reduce_mean.v1"},
        },
    }
    nlp = build_pipeline(tiny_bert_dir, head="ner", model={
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 16, "maxout_pieces": 2,
        "use_upper": False, "tok2vec": tok2vec,
    })
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    first = last = None
    for step in range(6):
        losses = nlp.update(examples, sgd=optimizer)
        first = losses["ner"] if first is None else first
        last = losses["ner"]
    assert last < first
    text = "Peter Blackburn visited Brussels ."
    fresh = build_pipeline(tiny_bert_dir, head="ner", model=nlp.config["components"]["ner"]["model"])
    fresh.from_bytes(nlp.to_bytes())
    assert [(e.text, e.label_) for e in fresh(text).ents] == [(e.text, e.label_) for e in nlp(text).ents]
    docs = list(nlp.pipe(["", text, " ", "Brussels"]))  # empty docs beside non-empty ones
    assert [len(doc) for doc in docs] == [0, 5, 1, 1]


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_fast_path_gives_the_viterbi_path(tiny_bert_dir, seed):
    """_decode skips the search when the argmax path is valid; the result must not change."""
    nlp = build_pipeline(tiny_bert_dir)
    nlp.initialize(lambda: make_examples(nlp))
    component = nlp.get_pipe("token_classifier")
    rng = numpy.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(12, len(component.tag_names)))
    if seed % 2:  # a valid argmax path: all O
        logits[:, component.tag_names.index("O")] += 20
    probs = numpy.exp(logits) / numpy.exp(logits).sum(axis=1, keepdims=True)
    path, confidences = component._decode(probs.astype("float32"))
    expected, _ = constrained_viterbi(numpy.log(probs.astype("float32")), component.tag_names)
    assert list(path) == list(expected)
    assert confidences == pytest.approx(probs[numpy.arange(12), expected], rel=1e-5)


def test_pipeline_saved_before_the_refactor_predicts_the_same():
    """Same model tree (from_bytes checks it), same entities, confidences and head scores.

    Bit-identical on the machine that saved it; the tolerance only absorbs other CPUs' kernels
    (float32 scores near 7 differ in the last bit or two there, ~1e-6; a changed model moves them
    by orders more).
    """
    nlp = spacy.load(SAVED_V1 / "pipeline")
    assert type(nlp.get_pipe("transformer").model).__name__ == "InferenceSpansTransformerModel"
    expected = json.loads((SAVED_V1 / "expected.json").read_text(encoding="utf8"))
    for doc, want in zip(nlp.pipe(expected["texts"], batch_size=3), expected["docs"]):
        for key, spans in want.items():
            group = doc.spans[key]
            assert [[s.start, s.end, s.label_] for s in group] == [span[:3] for span in spans]
            assert group.attrs["scores"] == pytest.approx([span[3] for span in spans], rel=1e-6)
    raw = numpy.load(SAVED_V1 / "expected_scores.npz")
    docs = [nlp.get_pipe("transformer")(nlp.make_doc(text)) for text in expected["texts"]]
    for name in ("softmax", "crf"):
        for i, scores in enumerate(nlp.get_pipe(name).model.predict(docs)):
            numpy.testing.assert_allclose(scores, raw[f"{name}_{i}"], rtol=1e-5, atol=1e-6)


def _old_cross_entropy(probs, golds, weights: Optional[List[float]]):
    """get_loss of commit c4ac7ad, per doc on the host: the formula the device version keeps."""
    valid = [numpy.any(P != 0, axis=1) & (g != MISSING) for P, g in zip(probs, golds)]
    n_valid = max(1, sum(int(v.sum()) for v in valid))
    total, d_scores = 0.0, []
    for P, g, v in zip(probs, golds, valid):
        rows = numpy.flatnonzero(v)
        w = numpy.ones(len(rows), dtype="float32") if weights is None else numpy.asarray(weights, "float32")[g[rows]]
        d = numpy.zeros_like(P)
        d[rows] = P[rows]
        d[rows, g[rows]] -= 1.0
        d[rows] *= w[:, None] / n_valid
        total += float(-(w * numpy.log(numpy.clip(P[rows, g[rows]], 1e-12, None))).sum()) / n_valid
        d_scores.append(d)
    return total, d_scores


@pytest.mark.parametrize("weights", [None, [0.2, 1.5, 3.0, 0.7]], ids=["unweighted", "class-weights"])
def test_masked_cross_entropy_keeps_the_old_loss_and_gradient(weights):
    rng = numpy.random.default_rng(0)
    logits = [rng.normal(size=(n, 4)) for n in (5, 0, 3)]
    probs = [(numpy.exp(x) / numpy.exp(x).sum(axis=1, keepdims=True)).astype("float32") for x in logits]
    probs[0][1] = 0.0  # a token without a wordpiece, gold known
    probs[2][2] = 0.0  # ... and one whose gold is missing too
    golds = [numpy.asarray(g, dtype="int64") for g in ([0, 2, MISSING, 3, 1], [], [1, MISSING, MISSING])]
    loss, d_scores = masked_cross_entropy(NumpyOps(), probs, golds, weights)
    old_loss, old_d_scores = _old_cross_entropy(probs, golds, weights)
    assert loss == pytest.approx(old_loss, rel=1e-6)
    assert [d.shape for d in d_scores] == [P.shape for P in probs]
    for d, old_d in zip(d_scores, old_d_scores):
        numpy.testing.assert_array_equal(d, old_d)
    assert masked_cross_entropy(NumpyOps(), [probs[1]], [golds[1]], weights)[0] == 0.0


def test_gold_iob2_indices():
    tag_names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    biluo = ["B-PER", "L-PER", None, "U-LOC", "-", "O", "U-ORG", "", "I-PER"]
    assert gold_iob2_indices(biluo, tag_names) == [3, 4, MISSING, 1, MISSING, 0, MISSING, MISSING, 4]
    assert gold_iob2_indices([None, "-"], tag_names) == [MISSING, MISSING]
