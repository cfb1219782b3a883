"""POS features on GMB: the tagger pipeline (configs/token_classifier_pos.cfg) and the gold-POS setting.

Predicted POS: transformer -> tagger -> token_classifier (pos_width > 0), the
tagger annotating during training. Gold POS: the GoldTagsCorpus reader
(spacy_bert_ner.data.corpora) for training and ``evaluate --gold-tags``.
Both train 2 steps on a tiny GMB slice with the tiny random BERT.
"""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry

from spacy_bert_ner.bench.train_time import train_timed
from spacy_bert_ner.data import convert
from spacy_bert_ner.data.corpora import (
    GOLD_TAGS_CORPUS,
    copy_gold_tags,
    create_gold_tags_reader,
    pos_readers_without_tags,
)
from spacy_bert_ner.evaluation.pipeline_eval import evaluate_pipeline

from .conftest import TRAIN_SENTENCES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
POS_CONFIG = CONFIGS / "token_classifier_pos.cfg"
TAGS = {"EU": "NNP", "German": "JJ", "British": "JJ", "Peter": "NNP", "Blackburn": "NNP", "Brussels": "NNP",
        ".": ".", "on": "IN", "to": "TO", "the": "DT", "The": "DT", "said": "VBD", "'s": "POS"}
LABELS = {"ORG": "org", "MISC": "gpe", "LOC": "geo", "PER": "per"}


def _gmb_csv() -> str:
    """TRAIN_SENTENCES as a GMB file (types mapped to GMB's), twice over: 12 sentences."""
    rows = ["Sentence #,Word,POS,Tag"]
    number = 0
    for _ in range(2):
        for text, ents in TRAIN_SENTENCES:
            number += 1
            words = text.split()
            tags = ["O"] * len(words)
            for start, end, label in ents:
                tags[start:end] = [f"B-{LABELS[label]}"] + [f"I-{LABELS[label]}"] * (end - start - 1)
            for i, (word, tag) in enumerate(zip(words, tags)):
                marker = f"Sentence: {number}" if i == 0 else ""
                pos = TAGS.get(word, "NN")
                rows.append(f'{marker},"{word}",{pos},{tag}')
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def gmb_docbin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gmb")
    (folder / "ner.csv").write_text(_gmb_csv(), encoding="utf8")
    convert(folder / "ner.csv", folder / "train.spacy", fmt="gmb", n_sents=2)
    return folder / "train.spacy"


def _overrides(docbin: Path, tiny_bert_dir: Path, **extra) -> dict:
    return {
        "paths.train": str(docbin), "paths.dev": str(docbin),
        "components.transformer.model.name": str(tiny_bert_dir),
        "training.max_steps": 2, "training.eval_frequency": 2, "training.batcher.size": 40,
        **extra,
    }


def test_copy_gold_tags_through_the_alignment():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["EU-wide", "talks", "."], tags=["JJ", "NNS", "."])
    predicted = Doc(nlp.vocab, words=["EU", "-", "wide", "talks", "."])  # a tokenizer that splits hyphens
    example = copy_gold_tags(Example(predicted, reference))
    assert [t.tag_ for t in example.predicted] == ["JJ", "JJ", "JJ", "NNS", "."]
    untagged = Example(Doc(nlp.vocab, words=["a"]), Doc(nlp.vocab, words=["a"]))
    assert [t.tag_ for t in copy_gold_tags(untagged).predicted] == [""]


def test_gold_tags_reader_is_registered_and_tags_every_predicted_doc(gmb_docbin):
    assert registry.readers.get(GOLD_TAGS_CORPUS) is create_gold_tags_reader
    examples = list(create_gold_tags_reader(str(gmb_docbin), gold_preproc=False)(spacy.blank("en")))
    assert len(examples) == 6
    for example in examples:  # spaCy's tokenizer splits "EU-wide": each piece gets the word's tag
        assert [t.tag_ for t in example.predicted] == example.get_aligned("TAG", as_string=True)
        assert all(t.tag_ for t in example.predicted)
    assert sum(len(eg.predicted) for eg in examples) > sum(len(eg.reference) for eg in examples)
    with pytest.raises(ValueError, match="path is null"):
        create_gold_tags_reader(None, gold_preproc=False)


def _pos_pipeline(gmb_docbin: Path, tiny_bert_dir: Path):
    config = load_config(POS_CONFIG, overrides=_overrides(gmb_docbin, tiny_bert_dir), interpolate=True)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = list(registry.resolve({"c": config["corpora"]["train"]})["c"](nlp))
    nlp.initialize(lambda: examples)
    return nlp, examples, config["training"]["annotating_components"]


def _seen_by_classifier(nlp, examples, annotates):
    """Per doc the token_classifier updates on: (transformer output set?, its tags)."""
    seen = []
    classifier = nlp.get_pipe("token_classifier")
    update = classifier.update

    def spy(batch, **kwargs):
        seen.extend((eg.predicted._.trf_data is not None, [t.tag_ for t in eg.predicted]) for eg in batch)
        return update(batch, **kwargs)

    classifier.update = spy
    nlp.update(examples, annotates=annotates)
    return seen


def test_pos_config_classifier_trains_on_tags_the_tagger_predicted_from_the_encoder(gmb_docbin, tiny_bert_dir):
    nlp, examples, annotates = _pos_pipeline(gmb_docbin, tiny_bert_dir)
    assert nlp.pipe_names == ["transformer", "tagger", "token_classifier"]
    assert annotates == ["transformer", "tagger"]
    assert nlp.get_pipe("token_classifier").model.get_ref("tok2vec") is not None
    assert "NNP" in nlp.get_pipe("tagger").labels  # learnt from GMB's POS column
    seen = _seen_by_classifier(nlp, examples, annotates)
    assert seen and all(has_trf for has_trf, _ in seen)
    assert all(tag for _, tags in seen for tag in tags)  # every token tagged before the classifier's update
    # Without the transformer annotating, the tagger's listener would read no encoder output at all.
    assert not any(has_trf for has_trf, _ in _seen_by_classifier(nlp, examples, ["tagger"]))


def test_pos_config_trains_two_steps_and_runs_on_raw_text(gmb_docbin, tiny_bert_dir, tmp_path):
    train_timed(POS_CONFIG, tmp_path / "out", _overrides(gmb_docbin, tiny_bert_dir))
    nlp = spacy.load(tmp_path / "out" / "model-best")
    assert pos_readers_without_tags(nlp) == []  # the tagger comes first
    doc = nlp("Peter Blackburn visited Brussels on Monday .")
    assert all(token.tag_ for token in doc)  # the tagger tagged raw text for the classifier
    last = json.loads((tmp_path / "out" / "train_log.jsonl").read_text().splitlines()[-1])
    assert last["scores"]["tag_acc"] > 0
    assert last["score"] == pytest.approx(last["scores"]["ents_f"] / 100)  # model-best on entity F1 only


def test_gold_pos_trains_with_the_reader_and_evaluates_with_gold_tags(gmb_docbin, tiny_bert_dir, tmp_path):
    overrides = _overrides(
        gmb_docbin, tiny_bert_dir, **{
            "corpora.train.@readers": GOLD_TAGS_CORPUS, "corpora.dev.@readers": GOLD_TAGS_CORPUS,
            "components.token_classifier.model.pos_width": 8,
        },
    )
    train_timed(CONFIGS / "token_classifier.cfg", tmp_path / "out", overrides)
    pipeline = tmp_path / "out" / "model-best"
    warnings = []
    gold = evaluate_pipeline(pipeline, gmb_docbin, name="tc_goldpos", n_resamples=10, gold_tags=True,
                             warn=warnings.append)
    assert warnings == []
    plain = evaluate_pipeline(pipeline, gmb_docbin, name="tc_goldpos", n_resamples=10, warn=warnings.append)
    assert warnings == ["token_classifier embeds token.tag_ (pos_width > 0) but nothing before it tags the text: "
                        "it sees no POS; a head trained on gold POS needs --gold-tags"]
    assert (gold["data"]["gold_tags"], plain["data"]["gold_tags"]) == (True, False)
    assert gold["data"]["n_words"] == plain["data"]["n_words"] == 2 * sum(len(t.split()) for t, _ in TRAIN_SENTENCES)


def test_pos_config_is_the_token_classifier_config_plus_the_tagger():
    """The predicted-POS row differs from the no-POS row only in what POS needs (a fair comparison)."""
    from thinc.api import Config

    def flat(config, prefix=""):
        for key, value in config.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    plain = dict(flat(Config().from_disk(CONFIGS / "token_classifier.cfg", interpolate=False)))
    pos = dict(flat(Config().from_disk(POS_CONFIG, interpolate=False)))
    changed = {key for key in plain.keys() & pos.keys() if plain[key] != pos[key]}
    assert changed == {"nlp.pipeline", "components.token_classifier.model.pos_width",
                       "training.annotating_components"}
    assert {key.split(".")[1] for key in pos.keys() - plain.keys()} <= {"tagger", "score_weights"}
    assert plain.keys() - pos.keys() == set()
    # the tagger's summed loss must not swamp the classifier's averaged one in the shared encoder
    assert pos["components.tagger.model.tok2vec.grad_factor"] <= 0.01
