"""`spacy debug data` on the project's corpus: the documented one-liner of docs/training.md.

spaCy's debug data has an NER section only for a component named by the
factory "ner", and it resolves the optimizer without interpolating the config,
so `total_steps = ${training.max_steps}` must be given as a number. Both heads
train on the same DocBins, so the ner config checks the corpus for either.
"""
import subprocess
import sys
from pathlib import Path

from .bench_helpers import write_docbin

ROOT = Path(__file__).resolve().parents[1]


def debug_data(config: str, corpus: Path, encoder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spacy", "debug", "data", str(ROOT / "configs" / config),
         "--paths.train", str(corpus), "--paths.dev", str(corpus),
         "--components.transformer.model.name", str(encoder), *extra],
        capture_output=True, text=True, timeout=300, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "TOKENIZERS_PARALLELISM": "false"},
    )


def test_the_documented_one_liner_checks_the_entities(tiny_bert_dir, tmp_path):
    corpus = write_docbin(tmp_path)
    result = debug_data("ner_trf.cfg", corpus, tiny_bert_dir, "--training.optimizer.learn_rate.total_steps", "3060")
    assert "Named Entity Recognition" in result.stdout, result.stdout + result.stderr
    assert "4 label(s)" in result.stdout  # PER, LOC, ORG, MISC in TRAIN_SENTENCES
    assert "Traceback" not in result.stderr

