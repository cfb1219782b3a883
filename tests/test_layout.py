"""The package's shape: the core loads alone, entry points match registrations, the CLI lists every command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parents[1] / "spacy_bert_ner"
PYPROJECT = PACKAGE.parent / "pyproject.toml"
# Imported lazily by the lab only: a trained pipeline must load without them. (spaCy itself
# imports typer, and transformers imports accelerate when it is installed: not ours to avoid.)
LAB_MODULES = ("matplotlib", "seqeval", "onnx", "onnxruntime", "pyinstrument")
COMMANDS = (
    "convert", "encoder", "data", "train", "evaluate", "windows", "compare", "summary",
    "benchmark", "profile", "import-hf", "export-hf", "export-onnx", "hf-recipe",
)


@pytest.fixture(scope="module")
def saved_pipeline(initialized_pipeline_dir) -> Path:
    return initialized_pipeline_dir


def test_spacy_load_imports_only_the_core(saved_pipeline):
    """A fresh process: spacy.load + nlp() pull in no lab tooling, ours or third-party."""
    code = (
        "import json, sys, spacy\n"
        "before = set(sys.modules)\n"
        f"nlp = spacy.load({str(saved_pipeline)!r})\n"
        "nlp('Peter Blackburn visited Brussels .')\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    ours = sorted(name for name in loaded if name.startswith("spacy_bert_ner."))
    assert ours, "the component was not loaded through its entry point"
    lab = [name for name in ours if name.split(".")[1] in {"cli", "data", "encoders", "evaluation", "bench", "hf"}]
    assert lab == [], lab
    third_party = [name for name in loaded if name.split(".")[0] in LAB_MODULES]
    assert third_party == [], third_party


def _entry_points() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    groups = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    return {group: dict(entries) for group, entries in groups.items()}


def test_every_entry_point_resolves_to_its_registered_function():
    import importlib

    from spacy.util import registry

    groups = {
        "spacy_factories": None, "spacy_architectures": registry.architectures,
        "spacy_span_getters": None, "spacy_callbacks": registry.callbacks,
        "spacy_scorers": registry.scorers, "thinc_layers": registry.layers,
        "spacy_readers": registry.readers,
    }
    entry_points = _entry_points()
    assert set(entry_points) == set(groups)
    for group, entries in entry_points.items():
        for name, target in entries.items():
            module, _, attribute = target.partition(":")
            function = getattr(importlib.import_module(module), attribute)
            table = groups[group]
            if table is not None:
                assert table.get(name) is function, (group, name)


def test_help_lists_every_command():
    from typer.testing import CliRunner

    from spacy_bert_ner.cli import app

    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    listed = {line.strip("│ ").split(" ")[0] for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text(encoding="utf8").splitlines()) <= 420, f"{path.name}: split it along a seam"
