"""Parsing of repeated command-line options (one home for every command)."""
from typing import Sequence, Tuple


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
