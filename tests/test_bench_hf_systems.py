"""HF's side of the benchmark: the bare forward pass against HF's own per-sentence reading."""
import pytest

from spacy_bert_ner.bench.hf_systems import bare_forward_predict
from spacy_bert_ner.hf.loader import load_token_classifier

from .conftest import TRAIN_SENTENCES


def test_bare_forward_restores_the_input_order(tiny_bert_dir):
    import torch

    model, tokenizer = load_token_classifier(tiny_bert_dir, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], seed=0)
    sentences = [text.split() for text, _ in TRAIN_SENTENCES] + [["Brussels"]]
    batched = bare_forward_predict(model, tokenizer, sentences, batch_size=3)
    by_words = bare_forward_predict(model, tokenizer, sentences, batch_size=3, sort_by="words")
    assert [len(labels) for labels in batched] == [len(s) for s in sentences]
    with torch.inference_mode():  # HF's own way, one sentence at a time
        for words, labels, other in zip(sentences, batched, by_words):
            encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
            argmax = model(**encoding).logits.argmax(dim=-1)[0].numpy()
            first = [encoding.word_ids().index(w) for w in range(len(words))]
            assert labels.tolist() == argmax[first].tolist() == other.tolist()
    assert bare_forward_predict(model, tokenizer, []) == []
    with pytest.raises(ValueError, match="sort_by"):
        bare_forward_predict(model, tokenizer, sentences, sort_by="chars")
