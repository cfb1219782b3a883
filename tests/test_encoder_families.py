"""Encoder families: BERT, DistilBERT, RoBERTa, DeBERTa-v3 (deberta-v2) and XLM-R behind one switch.

Per family a tiny random model is built locally (seconds, offline). Checked:
first-subword parity with HF's ``word_ids()`` rule on all of CoNLL-2003 dev,
the bare word-start piece correction, and both heads (``token_classifier`` and
spaCy's ``ner``) built from ``configs/*.cfg`` with only
``components.transformer.model.name`` switched: train, predict, save, reload
in a fresh process and evaluate.
"""
import json
import subprocess
import sys
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import DocBin

from spacy_bert_ner.alignment import (
    NO_PIECE,
    adopt_bare_word_starts,
    first_piece_indices,
    hf_first_piece_ids,
    spacy_transformers_first_piece_ids,
)
from spacy_bert_ner.encoders.prepare import conll_words
from spacy_bert_ner.hf.loader import load_fast_tokenizer
from spacy_bert_ner.layers import _selected_pieces
from spacy_bert_ner.encoders.tiny import FAMILIES, build_tiny_encoder

from .conftest import SHARED_DATA, TRAIN_SENTENCES, make_examples, word_list

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
HEAD_CONFIGS = {"token_classifier": "token_classifier.cfg", "ner": "ner_trf.cfg"}
SENTENCEPIECE = ("deberta-v2", "xlm-roberta")
EXPECTED_CLASSES = {
    "bert": ("BertTokenizerFast", "BertModel"),
    "distilbert": ("DistilBertTokenizerFast", "DistilBertModel"),
    "roberta": ("RobertaTokenizerFast", "RobertaModel"),
    "deberta-v2": ("DebertaV2TokenizerFast", "DebertaV2Model"),
    "xlm-roberta": ("XLMRobertaTokenizerFast", "XLMRobertaModel"),
}
# "(" after a space: SentencePiece gives "▁" "(" here, byte-level BPE often "Ġ" ";".
PROBE = "Peter visited ( Brussels ) ; 17,000 people ."


# ---- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Callable[[str], Path]:
    """family -> tiny model folder, built once per module (vocab from a CoNLL train slice)."""
    train = SHARED_DATA / "conll2003" / "train.txt"
    words = list(islice(conll_words(train), 30000)) if train.exists() else word_list()
    built: Dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_encoder(family, tmp_path_factory.mktemp(family), words)
        return built[family]

    return get


def pipeline_tokenizer_config() -> Dict:
    """The tokenizer settings both configs hand to spacy-transformers."""
    config = spacy.util.load_config(CONFIGS / "token_classifier.cfg")
    other = spacy.util.load_config(CONFIGS / "ner_trf.cfg")
    settings = dict(config["components"]["transformer"]["model"]["tokenizer_config"])
    assert settings == dict(other["components"]["transformer"]["model"]["tokenizer_config"])
    return settings


def load_tokenizer(path: Path, **settings):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), **settings)


def hf_recipe_tokenizer(path: Path):
    """As HF's run_ner.py (and the recipe, through hf.loader) loads it: byte-level BPE needs
    add_prefix_space for pre-split words."""
    return load_fast_tokenizer(path)


@pytest.fixture(scope="module")
def dev_docs():
    dev = SHARED_DATA / "conll2003" / "dev.txt"
    if not dev.exists():
        pytest.skip("shared CoNLL-2003 data not available")
    from spacy_bert_ner.data import read_conll

    return read_conll(dev, spacy.blank("en").vocab)


def strided(window: int, stride: int):
    return spacy.registry.span_getters.get("spacy-transformers.strided_spans.v1")(
        window=window, stride=stride
    )


def parity_mismatches(
    docs, tokenizer, hf_tokenizer, get_spans, **kwargs
) -> Tuple[int, int, List[Tuple]]:
    """(sentences, words, [(doc index, token index, word, ours, HF's)]) over ``docs``."""
    n_sentences = n_words = 0
    mismatches: List[Tuple] = []
    for start in range(0, len(docs), 64):
        batch = docs[start : start + 64]
        ours = spacy_transformers_first_piece_ids(batch, tokenizer, get_spans, **kwargs)
        for offset, (doc, doc_ids) in enumerate(zip(batch, ours)):
            for sent in doc.sents:
                words = [token.text for token in sent]
                theirs = hf_first_piece_ids(words, hf_tokenizer)
                mine = doc_ids[sent.start : sent.end]
                n_sentences += 1
                n_words += len(words)
                for i in numpy.flatnonzero(mine != theirs):
                    mismatches.append(
                        (start + offset, sent.start + int(i), words[i], int(mine[i]), int(theirs[i]))
                    )
    return n_sentences, n_words, mismatches


# ---- the tiny models ----------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_encoder_loads_with_auto_classes(encoder_dir, family):
    import torch
    from transformers import AutoModel

    path = encoder_dir(family)
    tokenizer = load_tokenizer(path, **pipeline_tokenizer_config())
    model = AutoModel.from_pretrained(str(path))
    assert (type(tokenizer).__name__, type(model).__name__) == EXPECTED_CLASSES[family]
    encoding = tokenizer(["Peter Blackburn", "EU rejects German call"], padding=True, return_tensors="pt")
    assert ("token_type_ids" in encoding) == (family in ("bert", "deberta-v2"))
    with torch.no_grad():
        hidden = model(**encoding).last_hidden_state
    assert hidden.shape == encoding["input_ids"].shape + (32,)


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown encoder family 'gpt2'"):
        build_tiny_encoder("gpt2", tmp_path, ["a"])


@pytest.mark.parametrize("family", SENTENCEPIECE)
def test_sentencepiece_tokenizer_matches_hf_conversion(encoder_dir, family):
    """tokenizer.json behaves as HF's own conversion of the written spm model, and as sentencepiece."""
    sentencepiece = pytest.importorskip("sentencepiece")
    from transformers import DebertaV2TokenizerFast, XLMRobertaTokenizerFast

    path = encoder_dir(family)
    fast_class, model_file = {
        "deberta-v2": (DebertaV2TokenizerFast, "spm.model"),
        "xlm-roberta": (XLMRobertaTokenizerFast, "sentencepiece.bpe.model"),
    }[family]
    ours = load_tokenizer(path)
    converted = fast_class.from_pretrained(str(path), from_slow=True)
    processor = sentencepiece.SentencePieceProcessor(model_file=str(path / model_file))
    texts = [text for text, _ in TRAIN_SENTENCES] + [PROBE, "Ünïcödé  ☃ Zürich 1996-08-22"]
    for text in texts:
        ids = ours(text)["input_ids"]
        assert ids == converted(text)["input_ids"], text
        spm_pieces = [processor.id_to_piece(i) for i in processor.encode(text)]
        assert ours.convert_ids_to_tokens(ids)[1:-1] == spm_pieces, text


# ---- bare word-start pieces -----------------------------------------------------


def _ragged(per_token: List[List[int]]):
    lengths = numpy.asarray([len(x) for x in per_token], dtype="i")
    data = numpy.asarray([i for x in per_token for i in x], dtype="i")
    return data, lengths


@pytest.mark.parametrize(
    "strings,per_token,expected",
    [
        # "Peter (": the bare ▁ holds the space after Peter, offsets give it to Peter
        ([["[CLS]", "▁Pet", "er", "▁", "(", "[SEP]"]], [[1, 2, 3], [4]], [1, 3]),
        # a bare ▁ aligned to no token (e.g. trimmed offsets) is adopted too
        ([["[CLS]", "▁", "(", "[SEP]"]], [[2]], [1]),
        # byte-level BPE: a bare Ġ before ";"
        ([["<s>", "ĠP", "Ġ", ";", "</s>"]], [[1], [3]], [1, 2]),
        # the piece before is an ordinary continuation: nothing moves
        ([["[CLS]", "▁Pet", "er", "▁B", "[SEP]"]], [[1, 2], [3]], [1, 3]),
        # the bare piece is another token's own first piece (a whitespace token): keep it there
        ([["[CLS]", "▁", "(", "[SEP]"]], [[1], [2]], [1, 2]),
        # a token with no piece stays without one
        ([["[CLS]", "▁", "(", "[SEP]"]], [[], [2]], [NO_PIECE, 1]),
        # never reach back into the previous window
        ([["[CLS]", "x", "y", "▁"], ["(", "z", "[SEP]", "[PAD]"]], [[1], [2], [4]], [1, 2, 4]),
    ],
    ids=["trails-previous", "unaligned", "byte-level-G", "continuation", "owned", "no-piece", "window-edge"],
)
def test_adopt_bare_word_starts(strings, per_token, expected):
    padded = len(strings[0])
    data, lengths = _ragged(per_token)
    pieces = first_piece_indices(data, lengths, padded)
    adopted = adopt_bare_word_starts(pieces, data, lengths, padded, strings)
    assert adopted.tolist() == expected
    assert pieces.tolist() == first_piece_indices(data, lengths, padded).tolist()  # not modified


# ---- parity with HF's word_ids() on CoNLL-2003 dev ------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_hf_parity_on_conll2003_dev(encoder_dir, dev_docs, family):
    """Every word of the 3,250 dev sentences is read from the piece HF labels, for every family."""
    path = encoder_dir(family)
    tokenizer = load_tokenizer(path, **pipeline_tokenizer_config())
    n_sentences, n_words, mismatches = parity_mismatches(
        dev_docs, tokenizer, hf_recipe_tokenizer(path), strided(128, 96)
    )
    assert (n_sentences, n_words) == (3250, 51362)
    assert mismatches[:10] == []


@pytest.mark.parametrize("family", FAMILIES)
def test_bare_word_start_correction_is_needed(encoder_dir, dev_docs, family):
    """Without the correction, SentencePiece (and byte-level BPE) families disagree with HF,
    always on a bare word-start piece."""
    path = encoder_dir(family)
    hf_tokenizer = hf_recipe_tokenizer(path)
    tokenizer = load_tokenizer(path, **pipeline_tokenizer_config())
    _, _, mismatches = parity_mismatches(
        dev_docs[:40], tokenizer, hf_tokenizer, strided(128, 96), bare_pieces=frozenset()
    )
    bare = {"\u2581", "\u0120"}
    if family in ("bert", "distilbert"):
        assert mismatches == []
    else:
        assert mismatches, "expected bare word-start pieces in the dev slice"
        assert {hf_tokenizer.convert_ids_to_tokens(theirs) for *_, theirs in mismatches} <= bare


def test_roberta_hub_default_differs_only_at_window_starts(encoder_dir, dev_docs):
    """roberta-base's own default (add_prefix_space=False) tokenizes a window's first word
    without the leading-space marker ("P" not "ĠP"), so its id differs from HF's pre-split
    recipe there, and only there; the configs set add_prefix_space = true to match HF."""
    path = encoder_dir("roberta")
    tokenizer = load_tokenizer(path, use_fast=True)
    assert tokenizer.add_prefix_space is False
    get_spans = strided(128, 96)
    _, _, mismatches = parity_mismatches(dev_docs, tokenizer, hf_recipe_tokenizer(path), get_spans)
    window_starts = {
        (d, span.start) for d, spans in enumerate(get_spans(dev_docs)) for span in spans
    }
    assert mismatches
    assert {(d, i) for d, i, *_ in mismatches} <= window_starts


@pytest.mark.parametrize("family", FAMILIES)
def test_parity_with_overlapping_windows_and_long_docs(encoder_dir, family):
    """Tiny windows put every token in two windows; a >512-piece window is truncated."""
    path = encoder_dir(family)
    tokenizer = load_tokenizer(path, **pipeline_tokenizer_config())
    hf_tokenizer = hf_recipe_tokenizer(path)
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(" ".join([PROBE] * 60)), nlp.make_doc(PROBE), nlp.make_doc("")]
    for window, stride in [(8, 6), (128, 96), (600, 600)]:
        ours = spacy_transformers_first_piece_ids(docs, tokenizer, strided(window, stride))
        for doc, mine in zip(docs, ours):
            theirs = hf_first_piece_ids([t.text for t in doc], hf_tokenizer) if len(doc) else mine
            kept = mine != NO_PIECE
            if window < 600:
                assert kept.all()
            assert numpy.array_equal(mine[kept], theirs[kept]), (family, window, doc.text[:40])


# ---- both heads, one switch -----------------------------------------------------------


def build_from_config(head: str, encoder: Path) -> Language:
    """configs/<head>.cfg with only the encoder switched (plus small sentence windows, about
    one sentence each, and a learning rate a random tiny model can move with in four steps)."""
    config = spacy.util.load_config(
        CONFIGS / HEAD_CONFIGS[head],
        overrides={
            "components.transformer.model.name": str(encoder),
            "components.transformer.model.get_spans.window": 16,
            "training.optimizer.learn_rate.warmup_steps": 1,
            "training.optimizer.learn_rate.initial_rate": 0.003,
        },
        interpolate=True,
    )
    return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)


def entities(docs) -> List[List[List]]:
    return [[[ent.start, ent.end, ent.label_] for ent in doc.ents] for doc in docs]


@pytest.fixture(scope="module")
def trained(encoder_dir, tmp_path_factory) -> Callable[[str, str], Dict]:
    """(family, head) -> {"nlp", "path", "losses", "entities"}: trained 4 steps and saved."""
    cache: Dict[Tuple[str, str], Dict] = {}
    texts = [text for text, _ in TRAIN_SENTENCES]

    def get(family: str, head: str) -> Dict:
        key = (family, head)
        if key not in cache:
            nlp = build_from_config(head, encoder_dir(family))
            examples = make_examples(nlp)
            optimizer = nlp.initialize(lambda: examples)
            losses = []
            for _ in range(4):
                step: Dict[str, float] = {}
                nlp.update(examples, sgd=optimizer, losses=step)
                optimizer.step_schedules()  # as spacy train does: warm-up, then linear decay
                losses.append(float(step[head]))
            path = tmp_path_factory.mktemp(f"{family}-{head}") / "pipeline"
            nlp.to_disk(path)
            cache[key] = {
                "nlp": nlp, "path": path, "losses": losses,
                "entities": entities(nlp.pipe(texts)),
            }
        return cache[key]

    return get


COMBINATIONS = [(family, head) for family in FAMILIES for head in HEAD_CONFIGS]
COMBINATION_IDS = [f"{family}-{head}" for family, head in COMBINATIONS]

CHILD = """
import json, sys, traceback
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

jobs = json.loads(sys.argv[1])
results = {}
for key, path in jobs["pipelines"].items():
    try:
        nlp = spacy.load(path)
        gold = list(DocBin().from_disk(jobs["gold"]).get_docs(nlp.vocab))
        scores = nlp.evaluate([Example(nlp.make_doc(ref.text), ref) for ref in gold])
        docs = list(nlp.pipe([ref.text for ref in gold]))
        tokenizer = nlp.get_pipe("transformer").model.tokenizer
        results[key] = {
            "pipe_names": nlp.pipe_names,
            "pieces": tokenizer.convert_ids_to_tokens(tokenizer(jobs["probe"])["input_ids"]),
            "scores": {k: scores.get(k) for k in ("ents_p", "ents_r", "ents_f")},
            "entities": [[[e.start, e.end, e.label_] for e in doc.ents] for doc in docs],
        }
    except Exception:
        results[key] = {"error": traceback.format_exc()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def reloaded_results(trained, tmp_path_factory) -> Dict[str, Dict]:
    """Every saved pipeline, loaded and evaluated by ``spacy.load`` in ONE fresh process
    (which never imports spacy_bert_ner itself: spaCy finds it through entry points)."""
    pipelines: Dict[str, str] = {}
    for (family, head), key in zip(COMBINATIONS, COMBINATION_IDS):
        try:
            pipelines[key] = str(trained(family, head)["path"])
        except Exception:  # reported by test_both_heads_train_and_predict
            continue
    gold_path = tmp_path_factory.mktemp("gold") / "gold.spacy"
    nlp = spacy.blank("en")
    DocBin(docs=[eg.reference for eg in make_examples(nlp)]).to_disk(gold_path)
    jobs = json.dumps({"pipelines": pipelines, "gold": str(gold_path), "probe": PROBE})
    result = subprocess.run(
        [sys.executable, "-c", CHILD, jobs], capture_output=True, text=True, timeout=300,
        cwd=str(gold_path.parent),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family,head", COMBINATIONS, ids=COMBINATION_IDS)
def test_both_heads_train_and_predict(trained, family, head):
    run = trained(family, head)
    nlp = run["nlp"]
    assert nlp.pipe_names == ["transformer", head]
    assert all(numpy.isfinite(run["losses"]))
    if head == "token_classifier":
        assert run["losses"][-1] < run["losses"][0]
    doc = nlp(PROBE)
    assert all(ent.label_ in {"PER", "LOC", "ORG", "MISC"} for ent in doc.ents)
    wordpieces = doc._.trf_data.wordpieces
    # DistilBERT and the RoBERTa family take no token type ids; spacy-transformers passes none.
    assert (wordpieces.token_type_ids is None) == (family in ("distilbert", "roberta", "xlm-roberta"))


@pytest.mark.parametrize("family", FAMILIES)
def test_layer_reads_hf_first_subword(trained, encoder_dir, family):
    """The pooling layer itself picks HF's first piece, the bare ▁ included (SentencePiece)."""
    nlp = trained(family, "token_classifier")["nlp"]
    doc = nlp(PROBE)
    trf_data = doc._.trf_data
    padded = trf_data.model_output["last_hidden_state"].shape[1]
    pieces = _selected_pieces(trf_data, padded)
    ids = numpy.asarray(trf_data.wordpieces.input_ids).reshape(-1)[pieces]
    strings = [trf_data.wordpieces.strings[p // padded][p % padded] for p in pieces]
    theirs = hf_first_piece_ids([t.text for t in doc], hf_recipe_tokenizer(encoder_dir(family)))
    assert ids.tolist() == theirs.tolist()
    if family in SENTENCEPIECE:
        paren = [t.text for t in doc].index("(")
        assert strings[paren] == "\u2581", strings  # the bare piece, not "("


@pytest.mark.parametrize("family,head", COMBINATIONS, ids=COMBINATION_IDS)
def test_reload_in_fresh_process_and_evaluate(trained, reloaded_results, family, head):
    key = f"{family}-{head}"
    if key not in reloaded_results:
        pytest.fail(f"{key} did not train; see test_both_heads_train_and_predict[{key}]")
    result = reloaded_results[key]
    assert "error" not in result, result.get("error")
    assert result["pipe_names"] == ["transformer", head]
    assert all(0.0 <= result["scores"][k] <= 1.0 for k in ("ents_p", "ents_r", "ents_f"))
    assert result["entities"] == trained(family, head)["entities"]
    # the tokenizer settings (add_prefix_space for RoBERTa) survive serialization
    tokenizer = trained(family, head)["nlp"].get_pipe("transformer").model.tokenizer
    assert result["pieces"] == tokenizer.convert_ids_to_tokens(tokenizer(PROBE)["input_ids"])
    if family == "roberta":
        assert result["pieces"][1].startswith("\u0120")  # "ĠP...": leading-space marker kept
