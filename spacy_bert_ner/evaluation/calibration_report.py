"""How well each confidence aggregation of the token_classifier is calibrated, on one corpus.

The ``calibration`` command: the pipeline runs once per aggregation
(``confidence = "min"`` and ``"mean"``, set at load time); the entities are the
same in every pass, only their scores differ. Writes ``calibration.json`` (a
:class:`CalibrationReport`) and ``calibration.png`` (reliability diagram), the
figures docs/components.md quotes.
"""
from pathlib import Path
from typing import Dict, List, Sequence, TypedDict, Union

from spacy.training import Example

from ..bench.timing import Progress, silent
from ..util import TOKEN_CLASSIFIER_FACTORY, load_pipeline
from .calibration import Calibration, calibration, scored_entities
from .pipeline_eval import read_gold, require_inputs

PathLike = Union[str, Path]
AGGREGATIONS = ("min", "mean")
FILES = ("calibration.json", "calibration.png")


class CalibrationReport(TypedDict):
    schema: str
    pipeline: str
    data: str
    split: str
    component: str
    default: str  # the aggregation the pipeline was saved with
    documents: int
    calibration: Dict[str, Calibration]  # by aggregation


def calibration_report(
    pipeline_dir: PathLike, data_path: PathLike, *, split: str = "dev",
    aggregations: Sequence[str] = AGGREGATIONS, progress: Progress = silent,
) -> CalibrationReport:
    """ECE and reliability table of each aggregation in ``aggregations`` on ``data_path``."""
    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    nlp = load_pipeline(pipeline_dir)
    component = next((n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == TOKEN_CLASSIFIER_FACTORY), None)
    if component is None:
        raise ValueError(f"{pipeline_dir}: no token_classifier; only its entities carry confidences")
    default = nlp.get_pipe(component).confidence
    results: Dict[str, Calibration] = {}
    documents = 0
    for aggregation in aggregations:
        progress(f"calibration: {aggregation} on {data_path}")
        nlp = load_pipeline(pipeline_dir, config={"components": {component: {"confidence": aggregation}}})
        examples = _predict(nlp, read_gold(nlp, data_path))
        documents = len(examples)
        key = nlp.get_pipe(component).cfg["spans_key"]
        results[aggregation] = calibration(*scored_entities(examples, key), aggregation=aggregation)
    return CalibrationReport(
        schema="spacy_bert_ner.calibration.v1", pipeline=str(pipeline_dir), data=str(data_path), split=split,
        component=component, default=default, documents=documents, calibration=results,
    )


def _predict(nlp, gold: Sequence[Example]) -> List[Example]:
    docs = nlp.pipe((eg.predicted for eg in gold), batch_size=nlp.batch_size)
    return [Example(doc, eg.reference) for doc, eg in zip(docs, gold)]
