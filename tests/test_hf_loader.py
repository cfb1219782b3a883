"""The one HuggingFace loader (hf/loader.py): folder checks, tokenizer options, heads, encoders."""
from pathlib import Path

import pytest
import torch

from spacy_bert_ner.hf.loader import (
    check_model_folder,
    load_config,
    load_encoder,
    load_fast_tokenizer,
    load_token_classifier,
    tokenizer_options,
)

LABELS = ["O", "B-PER", "I-PER"]


@pytest.mark.parametrize(
    "model_type,options",
    [("roberta", {"add_prefix_space": True}), ("gpt2", {"add_prefix_space": True}), ("bert", {}), ("deberta-v2", {})],
)
def test_tokenizer_options(model_type, options):
    assert tokenizer_options(model_type) == options


def test_check_model_folder_refuses_pickles_and_names_them(tmp_path):
    with pytest.raises(ValueError, match="not a HuggingFace model folder"):
        check_model_folder(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="found no weights"):
        check_model_folder(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match=r"found only pytorch_model\.bin\. Pickled checkpoints are never loaded"):
        check_model_folder(tmp_path, "AutoModelForTokenClassification")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert check_model_folder(tmp_path) == tmp_path


def test_load_config_needs_config_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="HuggingFace model folder"):
        load_config(tmp_path)


def test_load_token_classifier_puts_a_seeded_head_of_the_labels(tiny_bert_dir):
    model, tokenizer = load_token_classifier(tiny_bert_dir, LABELS, seed=3)
    again, _ = load_token_classifier(tiny_bert_dir, LABELS, seed=3)
    assert not model.training and tokenizer.is_fast
    assert model.config.id2label == dict(enumerate(LABELS)) and model.config.label2id == {"O": 0, "B-PER": 1, "I-PER": 2}
    assert model.classifier.out_features == len(LABELS)
    assert torch.equal(model.classifier.weight, again.classifier.weight)


def test_load_token_classifier_refuses_a_pickled_folder(tiny_bert_dir, tmp_path):
    for path in tiny_bert_dir.iterdir():
        if path.suffix != ".safetensors":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match=r"expected \*\.safetensors weights, found only pytorch_model\.bin"):
        load_token_classifier(tmp_path, LABELS)


def test_load_fast_tokenizer_refuses_a_slow_one(tiny_bert_dir, monkeypatch):
    import transformers

    class SlowTokenizer:
        is_fast = False

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: SlowTokenizer())
    with pytest.raises(ValueError, match="expected a fast tokenizer.*word_ids"):
        load_fast_tokenizer(tiny_bert_dir)


def test_load_encoder_keeps_the_tokenizer_settings(tiny_bert_dir: Path):
    model, tokenizer = load_encoder(tiny_bert_dir)
    assert type(model).__name__ == "BertModel"
    assert tokenizer.init_kwargs.get("add_prefix_space") is None
