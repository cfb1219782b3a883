"""Hostile checkpoints and damaged pipelines: refused with the reason, at load (issue 18, items 9-11).

One test per case: an encoder-only checkpoint with IOB2 labels, a sequence
classifier, ONNX export from an HF folder whose labels are not IOB2, a cut
weights file, labels edited in a component's ``cfg``; and every model loaded
through the one loader with ``use_safetensors=True``.
"""
import json
import shutil
from pathlib import Path

import pytest
import spacy
import torch

from spacy_bert_ner.hf import loader
from spacy_bert_ner.hf.hf_to_spacy import import_hf
from spacy_bert_ner.hf.interop import InteropError
from spacy_bert_ner.hf.onnx import load_for_export


IOB2 = {0: "O", 1: "B-PER", 2: "I-PER"}


def _with_labels(folder: Path, id2label) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config.update(id2label={str(k): v for k, v in id2label.items()}, label2id={v: k for k, v in id2label.items()})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _hf_model(encoder_dir: Path, output_dir: Path, model_class: str, id2label) -> Path:
    import transformers

    config = transformers.BertConfig.from_pretrained(
        str(encoder_dir), id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )
    torch.manual_seed(0)
    getattr(transformers, model_class)(config).save_pretrained(str(output_dir), safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(str(encoder_dir)).save_pretrained(str(output_dir))
    return output_dir


@pytest.fixture(scope="module")
def pipeline_dir(initialized_pipeline_dir) -> Path:
    return initialized_pipeline_dir


def test_import_refuses_an_encoder_without_a_head(tiny_bert_dir, tmp_path):
    encoder = _with_labels(Path(shutil.copytree(tiny_bert_dir, tmp_path / "encoder")), IOB2)
    with pytest.raises(InteropError, match=r"no token-classification head.*classifier\.bias, classifier\.weight"):
        import_hf(encoder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_refuses_a_sequence_classifier(tiny_bert_dir, tmp_path):
    folder = _hf_model(tiny_bert_dir, tmp_path / "seq", "BertForSequenceClassification", IOB2)
    with pytest.raises(InteropError, match=r"BertForSequenceClassification, not a \*ForTokenClassification model"):
        import_hf(folder, tmp_path / "out")


def test_onnx_export_from_an_hf_folder_checks_labels(tiny_bert_dir, tmp_path):
    folder = _hf_model(tiny_bert_dir, tmp_path / "plain", "BertForTokenClassification", {0: "PER", 1: "O"})
    with pytest.raises(InteropError, match=r"config\.json: id2label\[0\] = 'PER': expected IOB2 labels"):
        load_for_export(folder)
    good = _hf_model(tiny_bert_dir, tmp_path / "good", "BertForTokenClassification", IOB2)
    model, _ = load_for_export(good)
    assert model.config.id2label == IOB2


def test_cut_weights_name_the_file(pipeline_dir, tmp_path):
    damaged = Path(shutil.copytree(pipeline_dir, tmp_path / "nlp"))
    weights = damaged / "token_classifier" / "model"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ValueError, match=rf"{weights}: cannot load the token_classifier weights .*cut short"):
        spacy.load(damaged)


def test_labels_edited_in_cfg_fail_at_load(pipeline_dir, tmp_path):
    edited = Path(shutil.copytree(pipeline_dir, tmp_path / "nlp"))
    cfg = edited / "token_classifier" / "cfg"
    settings = json.loads(cfg.read_text())
    settings["labels"] = settings["labels"] + ["EXTRA"]
    cfg.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=rf"{cfg}: labels .*'EXTRA'\] give 11 IOB2 classes, but the weights in .*model output 9"):
        spacy.load(edited)


def test_every_model_load_asks_for_safetensors(tiny_bert_dir, monkeypatch):
    import transformers

    seen = []
    for auto_class in ("AutoModel", "AutoModelForTokenClassification"):
        cls = getattr(transformers, auto_class)
        original = cls.from_pretrained.__func__

        def recording(klass, *args, _original=original, **kwargs):
            seen.append(kwargs.get("use_safetensors"))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(recording))
    loader.load_encoder(tiny_bert_dir)
    loader.load_token_classifier(tiny_bert_dir, ["O", "B-PER", "I-PER"])
    assert seen == [True, True]
    package = Path(loader.__file__).parents[1]
    callers = [p for p in package.rglob("*.py") if ".from_pretrained(str(" in p.read_text() and p != Path(loader.__file__)]
    assert callers == [], "load models through spacy_bert_ner.hf.loader (use_safetensors=True)"


def test_cut_transformer_weights_name_the_file(pipeline_dir, tmp_path):
    """spacy-transformers says only "Unpack failed"; load_pipeline names the damaged file."""
    from spacy_bert_ner.util import load_pipeline

    damaged = Path(shutil.copytree(pipeline_dir, tmp_path / "nlp"))
    weights = damaged / "transformer" / "model"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"transformer/model: cannot be read"):
        load_pipeline(damaged)
    assert load_pipeline(pipeline_dir).pipe_names == ["transformer", "token_classifier"]
