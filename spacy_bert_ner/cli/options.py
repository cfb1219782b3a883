"""Parsing of repeated NAME=VALUE command-line options (one home for every command)."""
from typing import Tuple


def parse_pair(value: str, option: str = "option") -> Tuple[str, str]:
    """``"ner=reports/x"`` -> ``("ner", "reports/x")``; a one-line error naming the option otherwise."""
    name, sep, rest = value.partition("=")
    name, rest = name.strip(), rest.strip()
    if not sep or not name or not rest:
        raise ValueError(f"{option} expects NAME=VALUE, got {value!r}")
    return name, rest
