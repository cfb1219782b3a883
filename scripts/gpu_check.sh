#!/usr/bin/env bash
# GPU readiness in one run (< 8 minutes on one CUDA GPU), one JSON at the end:
#   1. preflight: CUDA, CuPy, the token_classifier's loss computed on the device;
#   2. trains the MiniLM token_classifier and ner for STEPS steps with mixed precision
#      (--gpu-id 0, mixed_precision true) and checks each loss per step falls;
#   3. runs `benchmark` on the GPU: both heads (fp32 and bf16), the HF pipeline, the bare forward;
#   4. writes OUTPUT (default reports/gpu_check/gpu_check.json) and exits 1 if a check failed.
#
# Usage: scripts/gpu_check.sh [--dry-run] [--output PATH] [--steps N] [--work DIR]
#   --dry-run  the same steps on CPU with a tiny random encoder and a handful of steps (~30 s;
#              tests/test_gpu_check.py runs it); mixed precision is a CUDA feature, so it is off there.
# Environment: PYTHON (default .venv/bin/python, else python), CORPUS (default corpus/conll2003:
#   train/dev/test.spacy, from `spacy project run convert`), ENCODER (default training/conll2003/encoder,
#   from `spacy project run encoder`), GPU_ID (default 0).
set -euo pipefail

DRY_RUN=0
OUTPUT="reports/gpu_check/gpu_check.json"
STEPS=300
WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --output) OUTPUT="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    *) echo "gpu_check.sh: unknown argument $1 (expected --dry-run, --output, --steps, --work)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
WORK="${WORK:-$(mktemp -d -t gpu_check.XXXXXX)}"
mkdir -p "$WORK"
STARTED=$(date +%s)

if [[ $DRY_RUN -eq 1 ]]; then
  GPU_ID=-1; MIXED=false; STEPS=8; EVAL=2; WARMUP=1; RATE=0.005; DEV_LIMIT=0; REPEATS=1; MAX_WORDS=0
  PRECISION=(--no-int8 --no-peak)
  CORPUS="$WORK/assets"; ENCODER="$WORK/assets/encoder"
  PREPARE=(--dry-assets "$WORK/assets")
else
  GPU_ID="${GPU_ID:-0}"; MIXED=true; EVAL=$(( STEPS / 6 > 0 ? STEPS / 6 : 1 )); WARMUP=$(( STEPS / 10 + 1 ))
  RATE=0.0001; DEV_LIMIT=50; REPEATS=3; MAX_WORDS=0
  PRECISION=(--no-int8 --precision bf16 --ner-precision bf16)
  CORPUS="${CORPUS:-corpus/conll2003}"; ENCODER="${ENCODER:-training/conll2003/encoder}"
  PREPARE=()
fi

"$PYTHON" -m spacy_bert_ner.bench.gpu_check preflight --gpu-id "$GPU_ID" --output "$WORK/preflight.json" "${PREPARE[@]}"
for needed in "$CORPUS/train.spacy" "$CORPUS/dev.spacy" "$CORPUS/test.spacy" "$ENCODER/config.json"; do
  [[ -e "$needed" ]] || { echo "gpu_check.sh: $needed is missing (spacy project run convert / encoder)" >&2; exit 1; }
done

train() {  # config, folder: in the background, output in WORK/folder.log
  "$PYTHON" -m spacy_bert_ner train "$1" --output "$WORK/$2" \
    --paths.train "$CORPUS/train.spacy" --paths.dev "$CORPUS/dev.spacy" \
    --components.transformer.model.name "$ENCODER" \
    --components.transformer.model.mixed_precision "$MIXED" \
    --training.max_steps "$STEPS" --training.eval_frequency "$EVAL" \
    --training.optimizer.learn_rate.initial_rate "$RATE" \
    --training.optimizer.learn_rate.warmup_steps "$WARMUP" \
    --corpora.dev.limit "$DEV_LIMIT" --gpu-id "$GPU_ID" > "$WORK/$2.log" 2>&1 &
}
finish() {  # pid, folder
  wait "$1" || { tail -n 30 "$WORK/$2.log" >&2; echo "gpu_check.sh: training $2 failed (log $WORK/$2.log)" >&2; exit 1; }
}
train configs/token_classifier.cfg tc; TC_PID=$!
train configs/ner_trf.cfg ner; NER_PID=$!  # both heads side by side: one GPU (or two cores) holds both
finish "$TC_PID" tc
finish "$NER_PID" ner

"$PYTHON" -m spacy_bert_ner benchmark --tc "$WORK/tc/model-last" --ner "$WORK/ner/model-last" \
  --encoder "$ENCODER" --data "$CORPUS/test.spacy" --output-dir "$WORK/bench" --repeats "$REPEATS" \
  --max-words "$MAX_WORDS" --rss none --gpu-id "$GPU_ID" --quiet "${PRECISION[@]}"

SUMMARY=(--work "$WORK" --output "$OUTPUT" --gpu-id "$GPU_ID" --seconds "$(( $(date +%s) - STARTED ))")
[[ $DRY_RUN -eq 1 ]] && SUMMARY+=(--dry-run)
"$PYTHON" -m spacy_bert_ner.bench.gpu_check summarize "${SUMMARY[@]}"
echo "gpu_check.sh: wrote $OUTPUT (work folder $WORK)"
