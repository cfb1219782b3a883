"""The ``meta.json`` overrides ``spacy package --meta-path`` reads: the model card's facts for the wheel.

``spacy package`` starts from the pipeline's own meta and lays the file given
with ``--meta-path`` over it, so this file holds only what a trained pipeline's
meta lacks or gets wrong (name, version, description, license, author, sources,
and the test figures of the evaluation JSON instead of the last dev scores).
Built from the same :class:`~.model_facts.ModelFacts` as the HF card;
``package-meta`` on the command line.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, TypedDict

import srsly

from ..files import JSON_FILE, write_file
from ..util import load_pipeline
from .interop import InteropError, PathLike
from .model_facts import FactOptions, ModelFacts, gather_facts, read_metrics, sources



class PackageMeta(TypedDict, total=False):
    """The keys of spaCy's ``ModelMetaSchema`` this file sets (``notes`` goes to the package README)."""

    lang: str
    name: str
    version: str
    description: str
    license: str
    author: str
    email: str
    url: str
    sources: List[Dict[str, str]]
    performance: Dict[str, Any]
    notes: str


def package_meta(facts: ModelFacts) -> PackageMeta:
    """The overrides for ``spacy package --meta-path``; ``performance`` only with evaluation figures."""
    meta = PackageMeta(
        lang=facts.lang, name=facts.name, version=facts.version, description=facts.description,
        license=facts.license, author=facts.author, email=facts.email, url=facts.url, sources=sources(facts),
    )
    figures = facts.metrics
    if figures is None:
        meta["notes"] = "No evaluation was given when this package was built: it carries no scores."
        return meta
    performance: Dict[str, Any] = {
        "ents_p": figures.precision, "ents_r": figures.recall, "ents_f": figures.f1,
        "ents_per_type": figures.per_type,
    }
    for mode, scores in figures.seqeval.items():
        performance[f"seqeval_{mode}_f"] = scores["f1"]
    if figures.words_per_second is not None:
        performance["speed"] = figures.words_per_second
    meta["performance"] = performance
    meta["notes"] = (
        f"Scores: the {figures.split} split ({figures.data}), from python -m spacy_bert_ner evaluate "
        "(exact-match entities as spacy evaluate counts them; seqeval default and strict IOB2); "
        "speed in words per second."
    )
    return meta


def write_package_meta(
    pipeline_dir: PathLike, output: PathLike, options: FactOptions = FactOptions(), *,
    metrics: Optional[PathLike] = None, component: str = "token_classifier", force: bool = False,
) -> PackageMeta:
    """Gather the facts of the pipeline at ``pipeline_dir`` and write :func:`package_meta` to ``output``."""
    if not (Path(pipeline_dir) / "config.cfg").is_file():
        raise InteropError(f"{pipeline_dir}: expected a spaCy pipeline folder (with config.cfg)")
    figures = read_metrics(metrics) if metrics is not None else None
    facts = gather_facts(load_pipeline(pipeline_dir), options, component=component, metrics=figures)
    meta = package_meta(facts)
    text = (srsly.json_dumps(dict(meta), indent=2) + "\n").encode("utf8")
    try:
        write_file(output, text, JSON_FILE, inputs=[pipeline_dir, metrics], force=force)
    except ValueError as err:  # OutputError
        raise InteropError(str(err)) from err
    return meta
