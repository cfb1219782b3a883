"""Progress lines of evaluate, windows, benchmark and profile: per system and pass, on stderr; none with --quiet."""
import json
import re

import pytest
from typer.testing import CliRunner

from spacy_bert_ner.bench.timing import System, measure_interleaved
from spacy_bert_ner.cli import app

from .bench_helpers import docbin_path_fixture, pipelines_fixture  # noqa: F401  (fixtures)

PROGRESS_LINE = re.compile(r"^(evaluate|windows|benchmark|profile): ", re.MULTILINE)


def _commands(pipelines, docbin_path, out):
    tc = str(pipelines["token_classifier"])
    return {
        "evaluate": (["evaluate", tc, str(docbin_path), str(out / "evaluate"), "--n-resamples", "20",
                      "--name", "token_classifier"],
                     ["evaluate: token_classifier: pass 1/1 over 3 docs", "evaluate: token_classifier: pass 1/1 done"]),
        "windows": (["windows", tc, str(docbin_path), str(out / "windows.json"), "--window", "8/6", "--window", "8/8"],
                    ["windows: 8/6 (setting 1/2): F1", "windows: 8/8 (setting 2/2): F1"]),
        "benchmark": (["benchmark", "--tc", tc, "--data", str(docbin_path), "--output-dir", str(out / "speed"),
                       "--repeats", "2", "--max-words", "20", "--no-int8", "--rss", "none", "--chunk-size", "0"],
                      ["benchmark: token_classifier loading (system 1/1)", "benchmark: token_classifier warm-up",
                       "benchmark: token_classifier pass 1/2: ", "benchmark: token_classifier pass 2/2: "]),
        "profile": (["profile", tc, str(docbin_path), str(out / "profile"), "--max-words", "20", "--no-pyinstrument"],
                    ["profile: warm-up", "profile: timed pass 1/1 over"]),
    }


@pytest.mark.parametrize("command", ["evaluate", "windows", "benchmark", "profile"])
def test_progress_per_pass_on_stderr_and_none_when_quiet(pipelines, docbin_path, tmp_path, command):
    args, expected = _commands(pipelines, docbin_path, tmp_path / "loud")[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for line in expected:
        assert line in result.stderr, result.stderr
    assert not PROGRESS_LINE.search(result.stdout)  # stdout keeps the results only
    for path in (tmp_path / "loud").rglob("*.json"):  # and the files too
        assert not PROGRESS_LINE.search(json.dumps(json.loads(path.read_text())))
    args, _ = _commands(pipelines, docbin_path, tmp_path / "quiet")[command]
    quiet = CliRunner().invoke(app, args + ["--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert not PROGRESS_LINE.search(quiet.output), quiet.output


def test_progress_comes_between_timed_passes():
    """The callback runs after the clock stopped and before the next pass started."""
    events = []
    ticks = iter(range(100))

    def clock() -> float:
        events.append("clock")
        return float(next(ticks))

    systems = [System(name=name, run=lambda name=name: events.append(f"run {name}"), warm_up=lambda: None)
               for name in ("a", "b")]
    measure_interleaved(systems, 2, clock=clock, progress=lambda text: events.append(text))
    assert events[:8] == [
        "benchmark: a warm-up", "benchmark: b warm-up",
        "clock", "run a", "clock", "benchmark: a pass 1/2: 1.00 s",
        "clock", "run b",
    ]
    assert sum(text.startswith("benchmark: ") and "pass" in text for text in events) == 4
