"""The one encoder switch: prepare_encoder / `python -m spacy_bert_ner encoder NAME OUT`.

Every tiny family is built from a words file and checked to load through
``configs/*.cfg`` unchanged (only ``components.transformer.model.name``
switched). Hub names are never fetched: the HF loaders are replaced by fakes
(a test fails if anything reaches them unexpectedly).
"""
import re
from pathlib import Path
from typing import Dict, List

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.encoders.prepare import TINY_ENCODERS, conll_words, known_encoders, prepare_encoder

from .conftest import TRAIN_SENTENCES, make_examples

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = PROJECT_ROOT / "configs"
HEAD_CONFIGS = {"token_classifier": "token_classifier.cfg", "ner": "ner_trf.cfg"}
# switch name -> (config.json model_type, tokenizer class, model class)
EXPECTED = {
    "tiny-bert": ("bert", "BertTokenizerFast", "BertModel"),
    "tiny-distilbert": ("distilbert", "DistilBertTokenizerFast", "DistilBertModel"),
    "tiny-roberta": ("roberta", "RobertaTokenizerFast", "RobertaModel"),
    "tiny-deberta-v3": ("deberta-v2", "DebertaV2TokenizerFast", "DebertaV2Model"),
    "tiny-xlm-roberta": ("xlm-roberta", "XLMRobertaTokenizerFast", "XLMRobertaModel"),
}
TAGS = {"PER", "LOC", "ORG", "MISC"}


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    """Fail loudly if a test reaches the HF hub loaders (tests patch them where they mean to)."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError(f"the HuggingFace hub was asked for {args[:1]}; tests never download")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", refuse)


@pytest.fixture(scope="module")
def words_file(tmp_path_factory) -> Path:
    """A small CoNLL file (the training sentences, 4 columns, a -DOCSTART- line)."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for text, ents in TRAIN_SENTENCES:
        tags = ["O"] * len(text.split())
        for start, end, label in ents:
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
        lines += [f"{word} NN O {tag}" for word, tag in zip(text.split(), tags)] + [""]
    path = tmp_path_factory.mktemp("words") / "train.txt"
    path.write_text("\n".join(lines), encoding="utf8")
    return path


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory, words_file) -> Dict[str, Path]:
    """Every tiny switch name -> the folder prepare_encoder wrote (built once per module)."""
    root = tmp_path_factory.mktemp("encoders")
    return {name: prepare_encoder(name, root / name, words_file=words_file) for name in TINY_ENCODERS}


def config_tokenizer_settings() -> Dict:
    config = spacy.util.load_config(CONFIGS / "token_classifier.cfg")
    return dict(config["components"]["transformer"]["model"]["tokenizer_config"])


# ---- tiny families ----------------------------------------------------------------


def test_every_family_has_a_switch_name():
    from spacy_bert_ner.encoders.tiny import FAMILIES

    assert sorted(TINY_ENCODERS.values()) == sorted(FAMILIES)
    assert set(TINY_ENCODERS) == set(EXPECTED)
    for name in TINY_ENCODERS:
        assert name in known_encoders()


@pytest.mark.parametrize("name", list(TINY_ENCODERS))
def test_tiny_encoder_folder_is_complete(tiny_dirs, name):
    path = tiny_dirs[name]
    assert path.name == name and not path.with_name(f"{name}.tmp").exists()
    assert (path / "config.json").exists() and (path / "tokenizer_config.json").exists()
    assert list(path.glob("*.safetensors")) and not list(path.glob("*.bin"))
    assert srsly.read_json(path / "config.json")["model_type"] == EXPECTED[name][0]


@pytest.mark.parametrize("name", list(TINY_ENCODERS))
def test_tiny_encoder_loads_as_the_configs_load_it(monkeypatch, tiny_dirs, name):
    """AutoTokenizer / AutoModel on the folder, with the configs' tokenizer_config, give the family's classes."""
    monkeypatch.undo()  # local folders only: the real loaders are fine here
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dirs[name]), **config_tokenizer_settings())
    model = AutoModel.from_pretrained(str(tiny_dirs[name]))
    assert (type(tokenizer).__name__, type(model).__name__) == EXPECTED[name][1:]
    assert tokenizer("Peter Blackburn")["input_ids"]


def test_tiny_bert_vocabulary_is_unchanged(tiny_dirs, words_file, tmp_path):
    """tiny-bert is the smoke workflow's default: same vocabulary as build_tiny_bert's."""
    from spacy_bert_ner.encoders.tiny import build_tiny_bert

    reference = build_tiny_bert(tmp_path / "ref", conll_words(words_file))
    assert (tiny_dirs["tiny-bert"] / "vocab.txt").read_text() == (reference / "vocab.txt").read_text()


@pytest.mark.parametrize("head", list(HEAD_CONFIGS))
@pytest.mark.parametrize("name", list(TINY_ENCODERS))
def test_configs_work_unchanged_for_every_family(monkeypatch, tiny_dirs, name, head):
    """configs/*.cfg with only the encoder name switched (sentence windows of 128, use_fast,
    add_prefix_space as shipped): builds, initializes, updates and predicts."""
    monkeypatch.undo()
    config = spacy.util.load_config(
        CONFIGS / HEAD_CONFIGS[head],
        overrides={"components.transformer.model.name": str(tiny_dirs[name])},
        interpolate=True,
    )
    model_config = config["components"]["transformer"]["model"]
    assert model_config["get_spans"] == {"@span_getters": "spacy-bert-ner.sentence_windows.v1", "window": 128}
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    losses: Dict[str, float] = {}
    nlp.update(examples, sgd=optimizer, losses=losses)
    assert losses[head] == losses[head]  # not NaN
    docs = list(nlp.pipe([text for text, _ in TRAIN_SENTENCES]))
    assert all(ent.label_ in TAGS for doc in docs for ent in doc.ents)
    assert len(nlp("")) == 0


# ---- the CLI ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny-roberta", "tiny-deberta-v3"])
def test_cli_builds_a_tiny_family(tmp_path, words_file, name):
    out = tmp_path / "training" / "run" / "encoder"
    result = CliRunner().invoke(app, ["encoder", name, str(out), "--words-file", str(words_file)])
    assert result.exit_code == 0, result.output
    assert f"Encoder {name} ready" in result.output
    assert srsly.read_json(out / "config.json")["model_type"] == EXPECTED[name][0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["tiny-gpt2"], "unknown tiny encoder 'tiny-gpt2'"),
        (["tiny-roberta"], "tiny-roberta needs words_file"),
        (["tiny-roberta", "--words-file", "no/such/train.txt"], "words file 'no/such/train.txt' not found"),
        (["./no-such-encoder"], "no such folder"),
    ],
    ids=["unknown-tiny", "no-words-file", "missing-words-file", "missing-folder"],
)
def test_cli_bad_name_fails_cleanly(tmp_path, args, message):
    result = CliRunner().invoke(app, ["encoder", args[0], str(tmp_path / "enc"), *args[1:]])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())  # wasabi wraps long lines
    assert not (tmp_path / "enc").exists() and not (tmp_path / "enc.tmp").exists()


# ---- function-level errors, local folders, hub names (faked) ---------------------------


@pytest.mark.parametrize(
    "name,kwargs,match",
    [
        ("tiny-gpt2", {}, "unknown tiny encoder 'tiny-gpt2'; expected one of tiny-bert, tiny-distilbert"),
        ("tiny-bert", {}, "tiny-bert needs words_file"),
        ("/no/such/folder", {}, "no such folder"),
        ("../no-such-folder", {}, "no such folder"),
    ],
)
def test_bad_names_raise_without_the_hub(tmp_path, name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prepare_encoder(name, tmp_path / "enc", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_empty_words_file_is_rejected(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("-DOCSTART- -X- -X- O\n\n", encoding="utf8")
    with pytest.raises(ValueError, match="no words in"):
        prepare_encoder("tiny-xlm-roberta", tmp_path / "enc", words_file=empty)


def test_failure_keeps_the_previous_encoder(tmp_path):
    out = tmp_path / "enc"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(ValueError):
        prepare_encoder("tiny-gpt2", out)
    assert (out / "config.json").read_text() == "{}"


def test_local_folder_is_copied_without_pickles(tiny_dirs, tmp_path):
    source = tiny_dirs["tiny-distilbert"]
    (tmp_path / "src").mkdir()
    for path in source.iterdir():
        (tmp_path / "src" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "src" / "pytorch_model.bin").write_bytes(b"pickle")
    out = prepare_encoder(str(tmp_path / "src"), tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in source.iterdir())


def test_local_folder_without_safetensors_is_rejected(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text("{}")
    (tmp_path / "src" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match=r"expected \*\.safetensors weights, found only pytorch_model\.bin"):
        prepare_encoder(str(tmp_path / "src"), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


class FakeHub:
    """Stands in for AutoTokenizer / AutoModel.from_pretrained; records the calls."""

    def __init__(self, error: Exception = None):
        self.error = error
        self.calls: List = []

    def load(self, kind: str):
        hub = self

        class Loaded:
            def save_pretrained(self, path, **kwargs):
                Path(path).mkdir(parents=True, exist_ok=True)
                name = {"model": "model.safetensors", "tokenizer": "tokenizer.json"}[kind]
                (Path(path) / name).write_text(kind)
                hub.calls.append(("save", kind, kwargs))

        def from_pretrained(name, **kwargs):
            hub.calls.append(("load", kind, name, kwargs))
            if hub.error is not None:
                raise hub.error
            return Loaded()

        return from_pretrained


def fake_hub(monkeypatch, error: Exception = None) -> FakeHub:
    import transformers

    hub = FakeHub(error)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", hub.load("tokenizer"))
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", hub.load("model"))
    return hub


@pytest.mark.parametrize(
    "name", ["bert-base-cased", "roberta-base", "distilbert-base-cased", "microsoft/deberta-v3-base", "xlm-roberta-base"]
)
def test_hub_names_go_to_the_hub_with_safetensors_only(monkeypatch, tmp_path, name):
    hub = fake_hub(monkeypatch)
    out = prepare_encoder(name, tmp_path / "enc")
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "tokenizer.json"]
    assert ("load", "tokenizer", name, {}) in hub.calls
    assert ("load", "model", name, {"use_safetensors": True}) in hub.calls
    assert ("save", "model", {"safe_serialization": True}) in hub.calls


def test_unreachable_hub_gives_the_offline_choices(monkeypatch, tmp_path):
    fake_hub(monkeypatch, OSError("We couldn't connect to 'https://huggingface.co' to load the files"))
    with pytest.raises(ValueError) as err:
        prepare_encoder("roberta-base", tmp_path / "enc")
    text = str(err.value)
    assert "Cannot load encoder 'roberta-base'" in text and "hub did not answer" in text
    assert all(name in text for name in TINY_ENCODERS) and "all-MiniLM-L6-v2" in text
    assert list(tmp_path.iterdir()) == []


def test_hub_model_without_safetensors_explains_the_conversion(monkeypatch, tmp_path):
    fake_hub(monkeypatch, OSError(
        "microsoft/deberta-v3-base does not appear to have a file named model.safetensors or "
        "model.safetensors.index.json and thus cannot be loaded with `safetensors`."
    ))
    with pytest.raises(ValueError, match="no \\*.safetensors weights") as err:
        prepare_encoder("microsoft/deberta-v3-base", tmp_path / "enc")
    assert "'encoders/deberta-v3-base'" in str(err.value)
    assert "use_safetensors=False" in str(err.value)


def test_invalid_hub_name_is_named_as_such(monkeypatch, tmp_path):
    from huggingface_hub.errors import HFValidationError

    fake_hub(monkeypatch, HFValidationError("Repo id must be in the form 'repo_name' or 'namespace/repo_name'"))
    with pytest.raises(ValueError, match="not a valid HuggingFace hub name"):
        prepare_encoder("a/b/c", tmp_path / "enc")


def test_cli_reports_an_unreachable_hub(monkeypatch, tmp_path):
    fake_hub(monkeypatch, OSError("no network"))
    result = CliRunner().invoke(app, ["encoder", "bert-base-cased", str(tmp_path / "enc")])
    assert result.exit_code == 1
    assert "Cannot load encoder 'bert-base-cased'" in " ".join(result.output.split())


def test_project_encoder_command_passes_the_words_file():
    """The tiny names need --words-file; the project's encoder step always passes it."""
    project = srsly.read_yaml(PROJECT_ROOT / "project.yml")
    (command,) = [c for c in project["commands"] if c["name"] == "encoder"]
    (script,) = command["script"]
    assert script.startswith("python -m spacy_bert_ner encoder ${vars.encoder} ")
    assert re.search(r"--words-file \S+/train\.txt", script), script  # the CoNLL dir is project.yml's choice
