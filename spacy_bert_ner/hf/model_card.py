"""The HF model card (``README.md``) that ``export-hf`` writes beside the model.

The front matter is HF's metadata (``pipeline_tag``, ``language``, ``license``,
``datasets``, ``base_model``, ``tags`` and a ``model-index`` with the test
figures of the evaluation JSON), dumped from a dict by srsly so it is always
valid YAML; the body is a small jinja2 template over :class:`~.model_facts.ModelFacts`:
labels, how it was trained, how to call it, limits. A card carries
:data:`CARD_MARKER`, so a re-export knows the ``README.md`` it replaces is its own.
"""
from pathlib import Path
from typing import Any, Dict, List

import jinja2
import srsly

from .model_facts import DATASETS, EvalFigures, ModelFacts

CARD_NAME = "README.md"
CARD_MARKER = "<!-- model card written by spacy_bert_ner export-hf -->"

BODY = jinja2.Template(
    """\
{{ marker }}
# {{ f.lang }}_{{ f.name }} {{ f.version }}

{{ f.description }}

## Labels
Entity types: {{ f.labels | join(", ") }}; the model predicts their IOB2 tags ({{ f.tags | length }} classes:
{{ f.tags | join(", ") }}).

## Results
{% if f.metrics %}
{% set m = f.metrics %}
On `{{ m.data }}` ({{ m.split }} split{% if m.n_docs %}, {{ m.n_docs }} documents{% endif %}), from
`python -m spacy_bert_ner evaluate` of the spaCy pipeline:

| measure | precision | recall | F1 |
|---|---|---|---|
| exact-match entities (as `spacy evaluate` counts) | {{ "%.4f" | format(m.precision) }} | {{ "%.4f" | format(m.recall) }} | {{ "%.4f" | format(m.f1) }} |
{% for mode, s in m.seqeval.items() %}
| seqeval {{ "strict IOB2" if mode == "strict" else mode }} | {{ "%.4f" | format(s.precision) }} | {{ "%.4f" | format(s.recall) }} | {{ "%.4f" | format(s.f1) }} |
{% endfor %}
{% if m.spacy_f1 is not none %}

spaCy's `nlp.evaluate` F1: {{ "%.4f" | format(m.spacy_f1) }}.
{% endif %}
These are the spaCy pipeline's figures; HF's pipeline with `aggregation_strategy="first"`
decodes as the pipeline's decoding "repair" does (argmax, then B-/I- grouping).
{% else %}
No evaluation was given to the export (`--metrics reports/RUN/token_classifier/test_metrics.json`),
so this card reports no scores and has no `model-index`.
{% endif %}

## Training
{% for line in training %}
- {{ line }}
{% endfor %}

## How to use
```python
from transformers import pipeline

ner = pipeline("token-classification", model="PATH_OR_HUB_ID", aggregation_strategy="first")
ner("George Washington went to Washington.")
```
`aggregation_strategy="first"` labels each word by its first subword, as the model was trained.

## Limits
{% if f.uncased -%}
- The encoder's tokenizer lowercases: capitalisation, a strong cue for names, is not seen.
{% endif -%}
{% for key in f.datasets if key in datasets -%}
- Trained on {{ datasets[key].domain }}: expect lower scores on other domains, genres and periods.
{% endfor -%}
- Entities cannot nest or overlap; the label set is fixed to {{ f.labels | join(", ") }}.
""",
    trim_blocks=True,
    keep_trailing_newline=True,
)


def front_matter(facts: ModelFacts) -> Dict[str, Any]:
    """HF metadata of the card; ``model-index`` only when the facts carry evaluation figures."""
    meta: Dict[str, Any] = {
        "pipeline_tag": "token-classification",
        "language": [facts.lang],
        "license": facts.license or "unknown",
        "library_name": "transformers",
        "tags": ["token-classification", "ner", "spacy", "spacy_bert_ner"],
    }
    if facts.datasets:
        meta["datasets"] = list(facts.datasets)
    if facts.base_model:
        meta["base_model"] = facts.base_model
    if facts.metrics is not None:
        meta["model-index"] = [{"name": f"{facts.lang}_{facts.name}", "results": [_result(facts, facts.metrics)]}]
    return meta


def _result(facts: ModelFacts, figures: EvalFigures) -> Dict[str, Any]:
    metrics: List[Dict[str, Any]] = [
        {"type": "precision", "value": round(figures.precision, 4), "name": "Precision (exact-match entities)"},
        {"type": "recall", "value": round(figures.recall, 4), "name": "Recall (exact-match entities)"},
        {"type": "f1", "value": round(figures.f1, 4), "name": "F1 (exact-match entities)"},
    ]
    if figures.spacy_f1 is not None:
        metrics.append({"type": "f1", "value": round(figures.spacy_f1, 4), "name": "F1 (spaCy evaluate)"})
    for mode, scores in figures.seqeval.items():
        label = "strict IOB2" if mode == "strict" else mode
        metrics.append({"type": "f1", "value": round(scores["f1"], 4), "name": f"F1 (seqeval {label})"})
    dataset = facts.datasets[0] if facts.datasets else Path(figures.data).stem or "unknown"
    return {
        "task": {"type": "token-classification", "name": "Named Entity Recognition"},
        "dataset": {"type": dataset, "name": DATASETS.get(dataset, {}).get("name", dataset), "split": figures.split},
        "metrics": metrics,
    }


def render_card(facts: ModelFacts) -> str:
    """The whole ``README.md``: YAML front matter between ``---`` lines, then the body."""
    header = srsly.yaml_dumps(front_matter(facts), sort_keys=False)
    body = BODY.render(f=facts, datasets=DATASETS, marker=CARD_MARKER, training=training_lines(facts))
    return f"---\n{header}---\n{body}"


def training_lines(facts: ModelFacts) -> List[str]:
    """The card's "Training" bullets: encoder, head, windows, schedule, data (from the pipeline's config)."""
    training = facts.training
    encoder = facts.base_model or f"{facts.encoder} (a local folder; no hub id known: export with --base-model)"
    lines = [f"Encoder: {encoder}", f"Head: {_call(training['head'], 'architecture')}"]
    if training.get("windows"):
        lines.append(f"Windows: {_call(training['windows'], 'getter')}")
    schedule = training["schedule"]
    lines.append(
        f"Schedule: {schedule['optimizer']}, learn rate {_describe(schedule['learn_rate'])}, "
        f"max_steps {schedule['max_steps']}, batch size {_describe(schedule['batch_size'])} (padded tokens), "
        f"seed {schedule['seed']}"
    )
    for key in facts.datasets:
        known = DATASETS.get(key)
        lines.append(f"Data: {known['name']} ({known['url']})" if known else f"Data: {key}")
    return lines


def _call(settings: Dict[str, Any], name_key: str) -> str:
    """``{"architecture": "X.v1", "a": 1}`` as ``X.v1(a=1)``."""
    rest = ", ".join(f"{key}={_describe(value)}" for key, value in settings.items() if key != name_key)
    return f"{settings.get(name_key)}({rest})"


def _describe(value: Any) -> str:
    """A config value for a reader: registered functions as calls (``warmup_linear.v1(...)``)."""
    if isinstance(value, dict):
        name = next((key for key in value if key.startswith("@") or key == "schedules"), None)
        if name is not None:
            return _call(value, name)
        return ", ".join(f"{key}={_describe(item)}" for key, item in value.items())
    return repr(value) if isinstance(value, str) else str(value)


def is_own_card(path: Path) -> bool:
    """Whether the file at ``path`` is a card this module wrote (it carries :data:`CARD_MARKER`)."""
    try:
        return CARD_MARKER in path.read_text(encoding="utf8", errors="replace")
    except OSError:
        return False
