"""The HF Trainer recipe baseline: label alignment, reading, encoding, one tiny end-to-end run, the CLI."""
import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.bench.env import hardware_info
from spacy_bert_ner.cli import app
from spacy_bert_ner.encoders.tiny import build_tiny_bert
from spacy_bert_ner.hf.recipe import RecipeConfig, resolve_encoder_dir, run_recipe
from spacy_bert_ner.hf.recipe_data import IGNORE_INDEX, align_labels, encode_sentences, read_conll_sentences

# Two documents, 4-column CoNLL-2003 layout, IOB1 tags as in the original files
# ("I-X" starts an entity; "B-X" only between two adjacent entities of one type).
DOC_1 = [
    [("EU", "NNP", "B-NP", "I-ORG"), ("rejects", "VBZ", "B-VP", "O"), ("German", "JJ", "B-NP", "I-MISC"),
     ("call", "NN", "I-NP", "O"), ("to", "TO", "B-VP", "O"), ("boycott", "VB", "I-VP", "O"),
     ("British", "JJ", "B-NP", "I-MISC"), ("lamb", "NN", "I-NP", "O"), (".", ".", "O", "O")],
    [("Peter", "NNP", "B-NP", "I-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [("Germany", "NNP", "B-NP", "I-LOC"), ("'s", "POS", "B-NP", "O"), ("representative", "NN", "I-NP", "O"),
     ("Werner", "NNP", "B-NP", "I-PER"), ("Zwingmann", "NNP", "I-NP", "I-PER"), ("said", "VBD", "B-VP", "O"),
     (".", ".", "O", "O")],
]
DOC_2 = [
    [("Fischler", "NNP", "B-NP", "I-PER"), ("proposed", "VBD", "B-VP", "O"), ("measures", "NNS", "B-NP", "O"),
     ("after", "IN", "B-PP", "O"), ("Britain", "NNP", "B-NP", "I-LOC"), ("France", "NNP", "B-NP", "B-LOC"),
     (".", ".", "O", "O")],
    [("The", "DT", "B-NP", "O"), ("European", "NNP", "I-NP", "I-ORG"), ("Commission", "NNP", "I-NP", "I-ORG"),
     ("said", "VBD", "B-VP", "O"), ("on", "IN", "B-PP", "O"), ("Thursday", "NNP", "B-NP", "O"), (".", ".", "O", "O")],
]
EXPECTED_TAGS_DOC_2 = [
    ["B-PER", "O", "O", "O", "B-LOC", "B-LOC", "O"],
    ["O", "B-ORG", "I-ORG", "O", "O", "O", "O"],
]


def write_conll(path: Path, documents) -> Path:
    lines = ["-DOCSTART- -X- -X- O", ""]
    for document in documents:
        for sentence in document:
            lines.extend(" ".join(row) for row in sentence)
            lines.append("")
        lines.extend(["-DOCSTART- -X- -X- O", ""])
    path.write_text("\n".join(lines[:-2]) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def conll_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("conll")
    for split in ("train", "dev", "test"):
        write_conll(directory / f"{split}.txt", [DOC_1, DOC_2])
    return directory


@pytest.fixture(scope="module")
def recipe_encoder(tmp_path_factory) -> Path:
    words = [row[0] for doc in (DOC_1, DOC_2) for sentence in doc for row in sentence]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), words * 3)


@pytest.fixture(scope="module")
def recipe_run(recipe_encoder, conll_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("out") / "metrics" / "hf_recipe.json"
    config = RecipeConfig(epochs=1.0, batch_size=2, logging_steps=1)
    result = run_recipe(
        recipe_encoder, conll_dir / "train.txt", conll_dir / "dev.txt", conll_dir / "test.txt",
        output, config=config, device="cpu", command="pytest",
    )
    return result, output


@pytest.mark.parametrize(
    "word_ids,word_labels,expected",
    [
        # [CLS] w0 w1a w1b [SEP]
        ([None, 0, 1, 1, None], [3, 5], [-100, 3, 5, -100, -100]),
        # three pieces for one word, then a single-piece word
        ([None, 0, 0, 0, 1, None], [1, 0], [-100, 1, -100, -100, 0, -100]),
        # label 0 ("O") on a first piece is a real label, not ignored
        ([None, 0, 1, None], [0, 0], [-100, 0, 0, -100]),
        # truncated: word 2 lost its pieces, nothing is labelled for it
        ([None, 0, 1, None], [2, 4, 6], [-100, 2, 4, -100]),
        # padding after [SEP]
        ([None, 0, None, None, None], [7], [-100, 7, -100, -100, -100]),
        ([None, None], [], [-100, -100]),
    ],
)
def test_align_labels_first_subword_only(word_ids, word_labels, expected):
    assert align_labels(word_ids, word_labels) == expected
    assert IGNORE_INDEX == -100


def test_read_conll_sentences_splits_documents_into_iob2_sentences(conll_dir):
    words, tags = read_conll_sentences(conll_dir / "train.txt")
    assert len(words) == len(tags) == 5  # -DOCSTART- lines are neither sentences nor words
    assert [len(w) for w in words] == [len(t) for t in tags] == [9, 2, 7, 7, 7]
    assert words[1] == ["Peter", "Blackburn"]
    assert tags[0] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert tags[1] == ["B-PER", "I-PER"]
    assert tags[3:] == EXPECTED_TAGS_DOC_2


def test_encode_sentences_labels_first_pieces(recipe_encoder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(recipe_encoder))
    words = [["Zwingmanns", "proposed", "boycotting"], ["EU", "Fischlers"]]  # unseen forms split
    tags = [["B-PER", "O", "O"], ["B-ORG", "B-PER"]]
    label2id = {"O": 0, "B-ORG": 1, "I-ORG": 2, "B-PER": 3, "I-PER": 4}
    split = encode_sentences(tokenizer, words, tags, label2id, max_length=512)
    assert split.n_words == 5 and split.n_words_without_piece == 0
    for feature, positions, sentence_tags in zip(split.features, split.first_positions, tags):
        labels = feature["labels"]
        assert len(labels) == len(feature["input_ids"])
        labelled = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert labelled == list(positions)
        assert [labels[p] for p in positions] == [label2id[tag] for tag in sentence_tags]
    # the tiny vocabulary splits rare words, so some pieces must be masked
    assert any(len(f["input_ids"]) > len(w) + 2 for f, w in zip(split.features, words))


def test_encode_sentences_counts_words_cut_by_max_length(recipe_encoder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(recipe_encoder))
    words = [["EU", "rejects", "German", "call", "to", "boycott"]]
    split = encode_sentences(tokenizer, words, [["O"] * 6], {"O": 0}, max_length=4)
    assert len(split.features[0]["input_ids"]) == 4
    assert split.n_words_without_piece == 4  # [CLS] EU rejects [SEP]: 4 words have no piece
    assert list(split.first_positions[0][2:]) == [-1] * 4


def test_encode_sentences_rejects_unknown_tag(recipe_encoder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(recipe_encoder))
    with pytest.raises(ValueError, match="B-PER"):
        encode_sentences(tokenizer, [["Peter"]], [["B-PER"]], {"O": 0}, max_length=16)


def test_run_recipe_writes_complete_json(recipe_run):
    result, output = recipe_run
    assert json.loads(output.read_text(encoding="utf8")) == result
    assert not list(output.parent.glob(".*.tmp"))
    assert result["system"] == "hf_trainer_recipe"
    assert set(result) >= {
        "encoder", "hardware", "versions", "config", "train_seconds", "test", "dev", "test_f1", "data", "command",
    }
    assert result["command"] == "pytest"
    assert result["train_seconds"] > 0
    assert result["hardware"]["device"] == "cpu" and result["hardware"]["torch_threads"] >= 1
    assert result["hardware"]["cpu"] and result["hardware"]["gpu"] is None
    assert set(result["hardware"]) >= set(hardware_info())  # the keys every report records
    assert result["versions"]["torch"] and result["versions"]["transformers"]
    config = result["config"]
    assert config["learning_rate"] == 5e-5 and config["warmup_ratio"] == 0.1
    assert config["weight_decay"] == 0.01 and config["seed"] == 42 and config["batch_size"] == 2
    assert config["labels"] == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert config["total_steps"] == 3  # 5 sentences, batch 2, 1 epoch
    for split in ("train", "dev", "test"):
        assert len(result["data"][split]["sha256"]) == 64
        assert result["data"][split]["n_sentences_used"] == 5


@pytest.mark.parametrize("split", ["dev", "test"])
def test_run_recipe_scores_are_labelled_fractions(recipe_run, split):
    result, _ = recipe_run
    scores = result[split]
    assert scores["default"]["mode"] == "default" and scores["strict"]["mode"] == "strict"
    assert scores["strict"]["scheme"] == "IOB2"
    for mode in ("default", "strict"):
        for key in ("precision", "recall", "f1"):
            assert 0.0 <= scores[mode][key] <= 1.0
        for per_type in scores[mode]["per_type"].values():
            assert 0.0 <= per_type["f1"] <= 1.0
    assert set(scores["default"]["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    assert 0.0 <= scores["token_accuracy"] <= 1.0
    assert scores["n_words"] == 32 and scores["n_sentences"] == 5
    assert scores["words_per_second"] > 0 and scores["eval_seconds"] > 0
    assert result["test_f1"] == result["test"]["default"]["f1"]


def test_run_recipe_slices_and_skips_dev(recipe_encoder, conll_dir, tmp_path):
    config = RecipeConfig(epochs=1.0, batch_size=4, max_train_sentences=2, max_eval_sentences=3)
    result = run_recipe(
        recipe_encoder, conll_dir / "train.txt", None, conll_dir / "test.txt",
        tmp_path / "m.json", config=config, device="cpu",
    )
    assert result["dev"] is None and "dev" not in result["data"]
    assert result["data"]["train"]["n_sentences_used"] == 2
    assert result["data"]["train"]["n_sentences_total"] == 5
    assert result["test"]["n_sentences"] == 3
    # only ORG, MISC and PER occur in the first two training sentences
    assert result["config"]["labels"] == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert "LOC" in result["test"]["default"]["per_type"]  # gold type scored even if never predicted


@pytest.mark.parametrize(
    "field,value",
    [("learning_rate", 0.0), ("warmup_ratio", 1.0), ("batch_size", 0), ("epochs", 0), ("max_train_sentences", -1)],
)
def test_recipe_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"RecipeConfig.{field}: expected"):
        RecipeConfig(**{field: value})


def test_resolve_encoder_dir_never_downloads(tmp_path):
    with pytest.raises(ValueError, match="never downloads"):
        resolve_encoder_dir("bert-base-cased")
    with pytest.raises(ValueError, match="no config.json"):
        resolve_encoder_dir(tmp_path)


def test_run_recipe_rejects_unknown_device(recipe_encoder, conll_dir, tmp_path):
    with pytest.raises(ValueError, match="device: expected"):
        run_recipe(
            recipe_encoder, conll_dir / "train.txt", None, conll_dir / "test.txt",
            tmp_path / "m.json", device="tpu",
        )
    assert not (tmp_path / "m.json").exists()


def test_cli_runs_the_recipe(recipe_encoder, conll_dir, tmp_path, monkeypatch):
    output = tmp_path / "hf_recipe.json"
    args = [
        "hf-recipe", str(recipe_encoder), str(conll_dir), str(output), "--epochs", "1", "--batch-size", "4",
        "--max-train-sentences", "2", "--max-eval-sentences", "3", "--device", "cpu", "--no-dev", "--seed", "7",
    ]
    monkeypatch.setattr(sys, "argv", ["/somewhere/spacy_bert_ner/__main__.py", *args])  # as `python -m` sets it
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(output.read_text(encoding="utf8"))
    assert saved["config"]["seed"] == 7 and saved["config"]["batch_size"] == 4
    assert saved["dev"] is None and saved["test"]["n_sentences"] == 3
    assert saved["command"] == shlex.join([sys.executable, "-m", "spacy_bert_ner", *args])
    assert "F1 (strict IOB2)" in result.output and "test" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["bert-base-cased"], "never downloads"),
        (["ENCODER", "--learning-rate", "0"], "RecipeConfig.learning_rate: expected > 0"),
        (["ENCODER", "--device", "tpu"], "device: expected one of"),
    ],
    ids=["hub-name", "bad-config", "bad-device"],
)
def test_cli_reports_bad_input_in_one_line(recipe_encoder, conll_dir, tmp_path, args, message):
    args = [str(recipe_encoder) if arg == "ENCODER" else arg for arg in args]
    result = CliRunner().invoke(app, ["hf-recipe", args[0], str(conll_dir), str(tmp_path / "m.json"), *args[1:]])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "m.json").exists()


def test_cli_names_missing_conll_files(recipe_encoder, tmp_path):
    (tmp_path / "train.txt").write_text("EU B-ORG\n", encoding="utf8")
    result = CliRunner().invoke(app, ["hf-recipe", str(recipe_encoder), str(tmp_path), str(tmp_path / "m.json")])
    assert result.exit_code == 1
    assert "missing CoNLL file(s)" in result.output and "dev.txt" in result.output and "test.txt" in result.output
    result = CliRunner().invoke(
        app, ["hf-recipe", str(recipe_encoder), str(tmp_path), str(tmp_path / "m.json"), "--no-dev"]
    )
    assert "dev.txt" not in result.output and "test.txt" in result.output


def test_cli_refuses_an_encoder_without_safetensors(recipe_encoder, conll_dir, tmp_path):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for path in recipe_encoder.iterdir():
        if path.suffix != ".safetensors":
            (pickled / path.name).write_bytes(path.read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"never unpickled")
    result = CliRunner().invoke(app, ["hf-recipe", str(pickled), str(conll_dir), str(tmp_path / "m.json")])
    assert result.exit_code == 1
    assert "expected *.safetensors weights, found only pytorch_model.bin" in " ".join(result.output.split())
