"""Parsing of repeated command-line options (one home for every command)."""
from typing import Any, Dict, Sequence, Tuple


def parse_pair(value: str, option: str = "option") -> Tuple[str, str]:
    """``"ner=reports/x"`` -> ``("ner", "reports/x")``; a one-line error naming the option otherwise."""
    name, sep, rest = value.partition("=")
    name, rest = name.strip(), rest.strip()
    if not sep or not name or not rest:
        raise ValueError(f"{option} expects NAME=VALUE, got {value!r}")
    return name, rest


def split_values(values: Sequence[str]) -> Tuple[str, ...]:
    """Repeated and comma-separated option values as one tuple (``--precision bf16,int8 --precision onnx``)."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def parse_set_overrides(text: str) -> Dict[str, Any]:
    """``"a.b=1 c.@architectures=x.v1"`` -> spaCy config overrides, values parsed as spaCy's CLI does.

    For project.yml variables: ``spacy project run --vars.x=...`` strips every ``--`` from
    its value, so a variable cannot hold ``--a.b 1``; it holds ``a.b=1`` for ``--set``.
    """
    from spacy.cli._util import parse_config_overrides

    items = text.split()
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key or not value:
            raise ValueError(f"--set expects SECTION.KEY=VALUE items, got {item!r}")
    return parse_config_overrides([f"--{item}" for item in items])
