"""HF token-classification checkpoints in and out, and ONNX export, on a tiny local BERT.

The HF checkpoint is a ``BertForTokenClassification`` with random weights (its
classifier scaled up so that it predicts many entities, multi-word ones and
invalid IOB2 argmax sequences) and a class order unlike ours, so the tests see
the row permutation, the first-subword choice and BIO repair at work.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bert_ner.alignment import hf_first_subword_positions
from spacy_bert_ner.cli import app
from spacy_bert_ner.hf.hf_to_spacy import ABSENT_CLASS_BIAS, FINETUNE_CONFIG, import_hf
from spacy_bert_ner.hf.interop import InteropError, check_hf_folder, hf_tag_rows, load_hf_token_classifier
from spacy_bert_ner.hf.spacy_to_hf import export_hf
from spacy_bert_ner.tags import is_valid_iob2

from .conftest import TRAIN_SENTENCES, build_pipeline, make_examples

HF_ID2LABEL = {
    0: "B-PER", 1: "I-PER", 2: "O", 3: "B-LOC", 4: "I-LOC",
    5: "B-ORG", 6: "I-ORG", 7: "B-MISC", 8: "I-MISC",
}
# Whitespace-separated words without inner punctuation: HF's pipeline groups
# pieces into words by the WordPiece "##" prefix, spaCy by its tokenizer, and on
# such texts both give the whitespace words (asserted below). Several words are
# not in the tiny vocabulary and split into many pieces.
PARITY_TEXTS = [
    "Peter Blackburn visited Brussels on Monday .",
    "The European Commission said on Thursday it disagreed with German advice .",
    "EU rejects German call to boycott British lamb .",
    "Fischler proposed measures after reports from Britain and France .",
    "Werner Zwingmann said the European Union committee met in Luxembourg .",
    "Rare Hendrix song draft sells for almost 17000 dollars .",
    "Germany .",
    "Spanish Farm Minister Loyola de Palacio said Britain had not provided evidence .",
    "Blackburn Brussels Zwingmann Fischler Hendrix",
]
LONG_TEXT = " ".join(PARITY_TEXTS * 8)


def build_hf_token_classifier(
    encoder_dir: Path, output_dir: Path, id2label: Dict[int, str], *,
    seed: int = 1, scale: float = 0.5, inside_bias: float = 0.0,
) -> Path:
    """A random BertForTokenClassification (safetensors) + the encoder's tokenizer.

    scale: std of the classifier weights (HF's 0.02 would predict nothing useful);
    inside_bias: added to the ``I-`` biases (negative: fewer orphan ``I-``, more valid argmax sequences).
    """
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    config = BertConfig.from_pretrained(
        str(encoder_dir), id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, scale)
        model.classifier.bias.normal_(0.0, scale)
        for class_id, label in id2label.items():
            if label.startswith("I-"):
                model.classifier.bias[class_id] += inside_bias
    model.save_pretrained(str(output_dir), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(encoder_dir)).save_pretrained(str(output_dir))
    return output_dir


@pytest.fixture(scope="module")
def hf_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    return build_hf_token_classifier(tiny_bert_dir, tmp_path_factory.mktemp("hf_tc"), HF_ID2LABEL)


@pytest.fixture(scope="module")
def hf(hf_dir):
    return load_hf_token_classifier(hf_dir)


@pytest.fixture(scope="module")
def imported_dir(hf_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("imported") / "pipeline"
    import_hf(hf_dir, output)
    return output


@pytest.fixture(scope="module")
def imported(imported_dir) -> Language:
    return spacy.load(imported_dir)


@pytest.fixture(scope="module")
def exported_dir(imported_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("exported") / "hf"
    export_hf(imported_dir, output)
    return output


def hf_entities(model, tokenizer, texts: Sequence[str]) -> List[List[Tuple[int, int, str]]]:
    """HF's own pipeline, aggregation "first": (start_char, end_char, type) per text."""
    from transformers import pipeline

    ner = pipeline(
        "token-classification", model=model, tokenizer=tokenizer,
        aggregation_strategy="first", device=-1,
    )
    return [[(e["start"], e["end"], e["entity_group"]) for e in ner(text)] for text in texts]


def spacy_entities(nlp: Language, texts: Sequence[str]) -> List[List[Tuple[int, int, str]]]:
    docs = list(nlp.pipe(texts))
    for text, doc in zip(texts, docs):
        assert [t.text for t in doc] == text.split(), "test texts must tokenize on whitespace"
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def hf_word_probs(model, tokenizer, text: str) -> numpy.ndarray:
    """HF softmax at each whitespace word's first subword: [n_words, num_labels], HF order."""
    words = text.split()
    encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    assert encoding["input_ids"].tolist() == tokenizer([text], return_tensors="pt")["input_ids"].tolist()
    positions = hf_first_subword_positions(encoding.word_ids(), len(words))
    assert (positions >= 0).all()
    with torch.no_grad():
        logits = model(**encoding).logits[0]
    return torch.softmax(logits, dim=-1).numpy()[positions]


def spacy_word_probs(nlp: Language, texts: Sequence[str], component: str = "token_classifier"):
    docs = list(nlp.pipe(texts))
    pipe = nlp.get_pipe(component)
    return [pipe.model.ops.to_numpy(scores) for scores in pipe.model.predict(docs)]


def column_order(model, tags: Sequence[str]) -> List[int]:
    """HF class id of each of our tags (to put HF columns in our order)."""
    return [model.config.label2id[tag] for tag in tags]


def hf_logits(model, tokenizer, texts: Sequence[str]) -> numpy.ndarray:
    encoding = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**encoding).logits.numpy()


# ---------------------------------------------------------------------------
# Labels and safe loading
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "id2label,types,rows",
    [
        ({0: "O", 1: "B-PER", 2: "I-PER"}, ["PER"], [0, 1, 2]),
        (HF_ID2LABEL, ["LOC", "MISC", "ORG", "PER"], [2, 3, 4, 7, 8, 5, 6, 0, 1]),
        ({"0": "O", "1": "I-PER", "2": "B-PER"}, ["PER"], [0, 2, 1]),
        ({0: "B-PER", 1: "O"}, ["PER"], [1, 0, None]),
        ({0: "O", 1: "I-LOC", 2: "B-PER", 3: "I-PER"}, ["LOC", "PER"], [0, None, 1, 2, 3]),
    ],
    ids=["simple", "permuted", "string-ids", "no-inside", "no-begin"],
)
def test_hf_tag_rows(id2label, types, rows):
    assert hf_tag_rows(id2label) == (types, rows)


@pytest.mark.parametrize(
    "id2label,match",
    [
        ({0: "O", 1: "PER"}, "expected IOB2 labels"),
        ({0: "O", 1: "U-PER", 2: "B-PER"}, "BILUO"),
        ({0: "O", 1: "S-PER"}, "expected IOB2 labels"),
        ({0: "B-PER", 1: "I-PER"}, "no 'O' class"),
        ({0: "O", 1: "B-PER", 2: "B-PER"}, "twice"),
        ({0: "O", 2: "B-PER"}, "ids 0..1"),
        ({0: "O", 1: "B-"}, "expected IOB2 labels"),
        ({0: "O", 1: "B-O"}, "entity type"),
        ({"x": "O"}, "integer ids"),
    ],
    ids=["plain", "biluo", "bioes", "no-O", "duplicate", "gap", "empty-type", "type-O", "bad-id"],
)
def test_hf_tag_rows_rejects(id2label, match):
    with pytest.raises(InteropError, match=match):
        hf_tag_rows(id2label)


def test_refuses_pickled_only_checkpoint(hf_dir, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((hf_dir / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(InteropError, match=r"found only pytorch_model\.bin.*never loaded"):
        check_hf_folder(folder)
    with pytest.raises(InteropError, match="safetensors"):
        import_hf(folder, tmp_path / "out")
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(InteropError, match="found no weights"):
        check_hf_folder(folder)
    with pytest.raises(InteropError, match="config.json"):
        check_hf_folder(tmp_path / "missing")


def test_import_rejects_non_iob2_checkpoint(tiny_bert_dir, tmp_path):
    folder = build_hf_token_classifier(tiny_bert_dir, tmp_path / "biluo", {0: "O", 1: "U-PER", 2: "B-PER"})
    with pytest.raises(InteropError, match="U-PER"):
        import_hf(folder, tmp_path / "out")


def test_import_fills_classes_the_checkpoint_lacks(tiny_bert_dir, tmp_path):
    folder = build_hf_token_classifier(tiny_bert_dir, tmp_path / "no_inside", {0: "O", 1: "B-PER", 2: "B-LOC"})
    summary = import_hf(folder, tmp_path / "out")
    assert summary["absent_tags"] == ["I-LOC", "I-PER"]
    nlp = spacy.load(tmp_path / "out")
    bias = nlp.get_pipe("token_classifier").model.get_ref("output_layer").get_param("b")
    assert [float(b) == ABSENT_CLASS_BIAS for b in bias] == [False, False, True, False, True]
    for doc in nlp.pipe(PARITY_TEXTS):
        assert all(len(ent) == 1 for ent in doc.ents)


# ---------------------------------------------------------------------------
# HF -> spaCy
# ---------------------------------------------------------------------------
def test_import_predicts_hf_pipeline_entities(imported, hf):
    """spaCy (decoding "repair") and HF's pipeline ("first") agree entity for entity."""
    model, tokenizer = hf
    expected = hf_entities(model, tokenizer, PARITY_TEXTS)
    assert spacy_entities(imported, PARITY_TEXTS) == expected
    # the comparison is not vacuous: many entities, multi-word ones, multi-piece
    # words, and texts whose argmax tags are invalid IOB2 (repair at work)
    spans = [span for text_spans in expected for span in text_spans]
    assert len(spans) >= 15
    assert any(" " in PARITY_TEXTS[i][s:e] for i, text_spans in enumerate(expected) for s, e, _ in text_spans)
    assert any(len(tokenizer.tokenize(word)) > 1 for text in PARITY_TEXTS for word in text.split())
    argmax_tags = [
        [model.config.id2label[int(i)] for i in hf_word_probs(model, tokenizer, text).argmax(axis=1)]
        for text in PARITY_TEXTS
    ]
    assert any(not is_valid_iob2(tags) for tags in argmax_tags)


def test_import_probabilities_equal_hf_softmax(imported, hf):
    model, tokenizer = hf
    order = column_order(model, imported.get_pipe("token_classifier").tag_names)
    for text, probs in zip(PARITY_TEXTS, spacy_word_probs(imported, PARITY_TEXTS)):
        numpy.testing.assert_allclose(probs, hf_word_probs(model, tokenizer, text)[:, order], atol=1e-5)


def test_viterbi_decoding_agrees_where_argmax_is_valid(tiny_bert_dir, tmp_path):
    """Where the argmax tags are valid IOB2 they are also the best valid path, so
    decoding "viterbi" gives HF's entities; elsewhere they may differ (by design)."""
    folder = build_hf_token_classifier(tiny_bert_dir, tmp_path / "hf", HF_ID2LABEL, inside_bias=-3.0)
    model, tokenizer = load_hf_token_classifier(folder)
    import_hf(folder, tmp_path / "viterbi", decoding="viterbi")
    nlp = spacy.load(tmp_path / "viterbi")
    assert nlp.get_pipe("token_classifier").cfg["decoding"] == "viterbi"
    expected = hf_entities(model, tokenizer, PARITY_TEXTS)
    got = spacy_entities(nlp, PARITY_TEXTS)
    n_valid = 0
    for text, hf_spans, spacy_spans in zip(PARITY_TEXTS, expected, got):
        tags = [model.config.id2label[int(i)] for i in hf_word_probs(model, tokenizer, text).argmax(axis=1)]
        if is_valid_iob2(tags):
            n_valid += 1
            assert spacy_spans == hf_spans
    assert 2 <= n_valid < len(PARITY_TEXTS)
    assert sum(map(len, got)) >= 5


def test_imported_pipeline_layout(imported_dir, imported, hf_dir):
    assert imported.pipe_names == ["transformer", "token_classifier"]
    config = imported.config
    assert config["components"]["transformer"]["model"]["name"] == str(hf_dir.resolve())
    assert config["components"]["token_classifier"]["decoding"] == "repair"
    assert imported.get_pipe("token_classifier").labels == ("LOC", "MISC", "ORG", "PER")
    assert (imported_dir / FINETUNE_CONFIG).is_file()


def test_imported_pipeline_fine_tunes_with_nlp_update(imported_dir):
    nlp = spacy.load(imported_dir)
    examples = make_examples(nlp)
    optimizer = nlp.resume_training()
    optimizer.learn_rate = 0.001
    layer = nlp.get_pipe("token_classifier").model.get_ref("output_layer")
    before = layer.get_param("W").copy()
    losses = []
    for _ in range(4):
        step: Dict[str, float] = {}
        nlp.update(examples, sgd=optimizer, losses=step)
        losses.append(step["token_classifier"])
    assert all(numpy.isfinite(losses))
    assert losses[-1] < losses[0]
    assert not numpy.allclose(before, layer.get_param("W"))


@pytest.mark.slow
def test_finetune_config_resumes_with_spacy_train(imported_dir, imported, tmp_path):
    """`spacy train finetune.cfg --paths.train ...` continues from the imported weights."""
    DocBin(docs=[eg.reference for eg in make_examples(imported)]).to_disk(tmp_path / "train.spacy")
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(imported_dir / FINETUNE_CONFIG),
         "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "train.spacy"),
         "--training.max_steps", "2", "--training.eval_frequency", "1", "--output", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trained = spacy.load(tmp_path / "out" / "model-last")
    W_before = imported.get_pipe("token_classifier").model.get_ref("output_layer").get_param("W")
    W_after = trained.get_pipe("token_classifier").model.get_ref("output_layer").get_param("W")
    # warm-up keeps two steps tiny; a re-initialized head (N(0, 0.02)) would be far off
    numpy.testing.assert_allclose(W_after, W_before, atol=1e-3)
    assert not numpy.array_equal(W_after, W_before)


# ---------------------------------------------------------------------------
# spaCy -> HF, round trip
# ---------------------------------------------------------------------------
def test_round_trip_gives_identical_logits(hf, exported_dir):
    model, tokenizer = hf
    assert sorted(p.name for p in exported_dir.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(exported_dir.glob("*.bin"))
    back, back_tokenizer = load_hf_token_classifier(exported_dir)
    tags = list(back.config.id2label.values())
    assert tags == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert back.config.label2id == {tag: i for i, tag in enumerate(tags)}
    assert back_tokenizer(PARITY_TEXTS)["input_ids"] == tokenizer(PARITY_TEXTS)["input_ids"]
    original = hf_logits(model, tokenizer, PARITY_TEXTS)[..., column_order(model, tags)]
    numpy.testing.assert_allclose(hf_logits(back, back_tokenizer, PARITY_TEXTS), original, atol=1e-5)


def test_round_trip_gives_identical_hf_pipeline_entities(hf, exported_dir):
    model, tokenizer = hf
    back, back_tokenizer = load_hf_token_classifier(exported_dir)
    assert hf_entities(back, back_tokenizer, PARITY_TEXTS) == hf_entities(model, tokenizer, PARITY_TEXTS)


def test_round_trip_on_a_document_over_512_wordpieces(hf, imported, exported_dir, tmp_path):
    """What is compared on a long document, and why.

    HF's pipeline truncates at 512 pieces (or merges its own strided chunks),
    spaCy reads 128-token windows, so their entities legitimately differ there.
    Compared instead: (1) the HF model before and after the round trip on the
    same 512-piece chunks (logits), (2) the spaCy pipeline imported from the
    original and from the round-tripped checkpoint (probabilities and entities),
    which must also cover the tokens past piece 512.
    """
    model, tokenizer = hf
    n_pieces = len(tokenizer(LONG_TEXT)["input_ids"])
    assert n_pieces > 512
    back, back_tokenizer = load_hf_token_classifier(exported_dir)
    chunks = tokenizer(LONG_TEXT, max_length=512, stride=64, truncation=True,
                       return_overflowing_tokens=True, padding=True, return_tensors="pt")
    inputs = {k: chunks[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    assert inputs["input_ids"].shape[0] >= 2
    with torch.no_grad():
        before = model(**inputs).logits.numpy()
        after = back(**inputs).logits.numpy()
    tags = list(back.config.id2label.values())
    numpy.testing.assert_allclose(after, before[..., column_order(model, tags)], atol=1e-5)

    import_hf(exported_dir, tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    (probs_before,) = spacy_word_probs(imported, [LONG_TEXT])
    (probs_after,) = spacy_word_probs(again, [LONG_TEXT])
    numpy.testing.assert_allclose(probs_after, probs_before, atol=1e-5)
    assert (probs_before.sum(axis=1) > 0.99).all(), "every token, also past piece 512, is read"
    assert spacy_entities(again, [LONG_TEXT]) == spacy_entities(imported, [LONG_TEXT])
    assert len(imported(LONG_TEXT).ents) > 50


def test_round_trip_of_another_architecture(tiny_bert_dir, tmp_path):
    """DistilBERT: another base-model prefix, no token_type_ids, no pooler."""
    from transformers import DistilBertConfig, DistilBertForTokenClassification, DistilBertTokenizerFast

    tokenizer = DistilBertTokenizerFast(
        vocab_file=str(tiny_bert_dir / "vocab.txt"), do_lower_case=False, model_max_length=512
    )
    id2label = {0: "I-PER", 1: "O", 2: "B-PER"}
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = DistilBertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 0.5)
    model.save_pretrained(str(tmp_path / "hf"), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp_path / "hf"))
    import_hf(tmp_path / "hf", tmp_path / "spacy")
    nlp = spacy.load(tmp_path / "spacy")
    assert spacy_entities(nlp, PARITY_TEXTS) == hf_entities(model, tokenizer, PARITY_TEXTS)
    export_hf(tmp_path / "spacy", tmp_path / "back")
    back, back_tokenizer = load_hf_token_classifier(tmp_path / "back")
    assert type(back).__name__ == "DistilBertForTokenClassification"
    tags = list(back.config.id2label.values())
    numpy.testing.assert_allclose(
        hf_logits(back, back_tokenizer, PARITY_TEXTS),
        hf_logits(model, tokenizer, PARITY_TEXTS)[..., column_order(model, tags)],
        atol=1e-5,
    )
    if importlib.util.find_spec("onnxruntime") is not None:
        from spacy_bert_ner.hf.onnx import export_onnx

        summary = export_onnx(tmp_path / "spacy", tmp_path / "model.onnx")
        assert summary["inputs"] == ["input_ids", "attention_mask"]
        assert summary["max_abs_diff"] <= 1e-4


def build_head(tiny_bert_dir, **head_config) -> Language:
    """transformer (one window per sentence, as HF reads it) + token_classifier."""
    return build_pipeline(tiny_bert_dir, window=128, stride=96, **head_config)


def test_export_of_a_trained_pipeline_matches_spacy(tiny_bert_dir, tmp_path):
    nlp = build_head(tiny_bert_dir, decoding="repair")
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    summary = export_hf(nlp, tmp_path / "hf")
    assert not any("decodes with" in note for note in summary["notes"])
    model, tokenizer = load_hf_token_classifier(tmp_path / "hf")
    trained_on = [text for text, _ in TRAIN_SENTENCES if not set("'-,") & set(text)]
    texts = trained_on + PARITY_TEXTS
    for text, probs in zip(texts, spacy_word_probs(nlp, texts)):
        numpy.testing.assert_allclose(probs, hf_word_probs(model, tokenizer, text), atol=1e-5)
    expected = spacy_entities(nlp, texts)
    assert sum(map(len, expected)) >= 3
    assert hf_entities(model, tokenizer, texts) == expected


def test_export_notes_viterbi_decoding(tiny_bert_dir, tmp_path):
    nlp = build_head(tiny_bert_dir)
    nlp.initialize(lambda: make_examples(nlp))
    assert any("'viterbi'" in note for note in export_hf(nlp, tmp_path / "hf")["notes"])


@pytest.mark.parametrize(
    "head_config,key",
    [
        ({"model": {"hidden_width": 16}}, "hidden_width"),
        ({"model": {"pos_width": 8}}, "pos_width"),
        ({"model": {"use_crf": True}}, "use_crf"),
    ],
    ids=["hidden", "pos", "crf"],
)
def test_export_rejects_heads_hf_cannot_express(tiny_bert_dir, tmp_path, head_config, key):
    nlp = build_head(tiny_bert_dir, **head_config)
    nlp.initialize(lambda: make_examples(nlp))
    with pytest.raises(InteropError, match=rf"model\.{key}.*HF's token-classification head"):
        export_hf(nlp, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_export_does_not_replace_other_folders(imported_dir, tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(InteropError, match="not an HF model folder"):
        export_hf(imported_dir, tmp_path / "precious")
    with pytest.raises(InteropError, match="not an HF model folder"):
        export_hf(imported_dir, imported_dir)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
    assert (imported_dir / "config.cfg").is_file()


def test_export_needs_a_token_classifier(tiny_bert_dir, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    with pytest.raises(InteropError, match="expected a 'token_classifier' component"):
        export_hf(nlp, tmp_path / "hf")


# ---------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------
def test_onnx_export_matches_pytorch(imported_dir, exported_dir, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import json

    from spacy_bert_ner.hf.onnx import export_onnx

    summary = export_onnx(imported_dir, tmp_path / "model.onnx")
    assert summary["max_abs_diff"] <= 1e-4
    onnx_model = onnx.load(str(tmp_path / "model.onnx"))
    assert max(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")) >= 14
    props = {p.key: p.value for p in onnx_model.metadata_props}
    model, tokenizer = load_hf_token_classifier(exported_dir)
    assert json.loads(props["id2label"]) == {str(k): v for k, v in model.config.id2label.items()}
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    # batch sizes and lengths unlike the traced ones, padding included, plus a 512-piece batch
    for texts in (PARITY_TEXTS, PARITY_TEXTS[:1], [LONG_TEXT]):
        encoding = tokenizer(list(texts), padding=True, truncation=True, max_length=512, return_tensors="np")
        inputs = {name: encoding[name].astype("int64") for name in names}
        (logits,) = session.run(["logits"], inputs)
        expected = _torch_logits(model, inputs)
        real = inputs["attention_mask"].astype(bool)
        assert logits.shape == expected.shape
        assert numpy.abs(logits - expected)[real].max() <= 1e-4


def _torch_logits(model, inputs: Dict[str, numpy.ndarray]) -> numpy.ndarray:
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()


def test_onnx_export_rejects_low_opset(imported_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from spacy_bert_ner.hf.onnx import export_onnx

    with pytest.raises(ValueError, match="opset >= 14"):
        export_onnx(imported_dir, tmp_path / "model.onnx", opset=13)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def test_cli_import_export_and_onnx(hf_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["import-hf", str(hf_dir), str(tmp_path / "pipeline")])
    assert result.exit_code == 0, result.output
    assert "LOC, MISC, ORG, PER" in result.output
    assert (tmp_path / "pipeline" / "config.cfg").is_file()
    result = runner.invoke(app, ["export-hf", str(tmp_path / "pipeline"), str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    if importlib.util.find_spec("onnxruntime") is not None:
        result = runner.invoke(app, ["export-onnx", str(tmp_path / "pipeline"), str(tmp_path / "m.onnx")])
        assert result.exit_code == 0, result.output
        assert "ONNX Runtime vs PyTorch" in result.output
        assert (tmp_path / "m.onnx").is_file()


def test_cli_reports_bad_input(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"")
    result = CliRunner().invoke(app, ["import-hf", str(folder), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "safetensors" in result.output
    result = CliRunner().invoke(app, ["export-hf", str(tmp_path / "nothing"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "config.cfg" in result.output
