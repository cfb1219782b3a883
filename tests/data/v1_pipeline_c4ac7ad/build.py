"""How pipeline/ and expected.* were made (run with the package of commit c4ac7ad on sys.path):

    git archive c4ac7ad spacy_bert_ner | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/v1_pipeline_c4ac7ad/build.py tests/data/v1_pipeline_c4ac7ad /tmp/sbn_ref/tiny16

tests/test_pipeline.py::test_pipeline_saved_before_the_refactor_predicts_the_same loads it with
the current code. Not a test module: pytest does not collect it.
"""
import json
import sys
from pathlib import Path

import numpy
import spacy
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_bert_ner.encoders.tiny import build_tiny_bert

sys.path.append(str(Path(__file__).resolve().parents[3]))  # for tests.conftest; the package stays first
from tests.conftest import TRAIN_SENTENCES  # noqa: E402

TEXTS = [t for t, _ in TRAIN_SENTENCES] + [
    "", "Brussels .", " ".join(t for t, _ in TRAIN_SENTENCES), "Ünïcödé ☃ 東京 Zürich 🚀 \u0301 .",
]
STRIDED = "spacy-transformers.strided_spans.v1"


def examples(nlp):
    out = []
    for text, ents in TRAIN_SENTENCES:
        reference = Doc(nlp.vocab, words=text.split())
        reference.set_ents([Span(reference, s, e, label=label) for s, e, label in ents], default="outside")
        out.append(Example(nlp.make_doc(text), reference))
    for eg in out:
        for token in eg.predicted:
            token.tag_ = "NNP" if token.text[:1].isupper() else "NN"
    text = "Peter Blackburn visited Brussels on Monday ."
    missing = Doc(nlp.vocab, words=text.split(), ents=["B-PER", "I-PER", None, "B-LOC", None, "O", "O"])
    out.append(Example(nlp.make_doc(text), missing))  # gold with unknown tokens, no tags
    return out


def main(out: Path, tiny_dir: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    numpy.random.seed(0)
    words = [w for text, _ in TRAIN_SENTENCES for w in text.split()] * 3
    tiny = build_tiny_bert(tiny_dir, words, hidden_size=16, num_layers=1, num_heads=1, max_words=100)
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-bert-ner.TransformerModel.v1", "name": str(tiny),
        "get_spans": {"@span_getters": STRIDED, "window": 8, "stride": 6},
        "tokenizer_config": {"use_fast": True}, "chunk_size": 2,
        "inference_get_spans": {"@span_getters": STRIDED, "window": 8, "stride": 8}}})
    nlp.add_pipe("token_classifier", name="softmax", config={
        "model": {"pos_width": 4, "shape_width": 4, "hidden_width": 8},
        "class_weighting": "balanced", "spans_key": "softmax"})
    nlp.add_pipe("token_classifier", name="crf", config={"model": {"use_crf": True}, "spans_key": "crf"})
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.02
    for _ in range(40):
        nlp.update(egs, sgd=optimizer)
    nlp.to_disk(out / "pipeline")
    nlp = spacy.load(out / "pipeline")
    expected = {"texts": TEXTS, "docs": []}
    for doc in nlp.pipe(TEXTS, batch_size=3):
        expected["docs"].append({
            key: [[s.start, s.end, s.label_, score] for s, score in zip(doc.spans[key], doc.spans[key].attrs["scores"])]
            for key in ("softmax", "crf")
        })
    docs = [nlp.get_pipe("transformer")(nlp.make_doc(text)) for text in TEXTS]
    raw = {f"{name}_{i}": numpy.asarray(scores)
           for name in ("softmax", "crf") for i, scores in enumerate(nlp.get_pipe(name).model.predict(docs))}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False), encoding="utf8")
    numpy.savez_compressed(out / "expected_scores.npz", **raw)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))  # OUTPUT_DIR TINY_BERT_DIR (any scratch folder)
