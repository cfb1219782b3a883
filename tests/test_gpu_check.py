"""scripts/gpu_check.sh: the CPU dry run end to end, and the checks its summary makes."""
import json
import os
import subprocess
import sys
from pathlib import Path

from spacy_bert_ner.bench.gpu_check import loss_curve, loss_on_device, summarize

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_dry_run_trains_both_heads_benchmarks_and_writes_one_json(tmp_path):
    output = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--output", str(output), "--work", str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["ok"] and record["problems"] == [] and record["dry_run"] and record["gpu_id"] == -1
    for head in ("token_classifier", "ner"):
        curve = record["training"][head]
        assert curve["falls"] and curve["loss_per_step"][-1] < curve["loss_per_step"][0]
    systems = record["benchmark"]["systems"]
    assert {"token_classifier", "ner", "hf_pipeline", "bare_forward"} <= set(systems)
    assert all(entry["device"] == "cpu" for entry in systems.values())
    assert record["preflight"]["loss_on_device"]["ok"]


def test_loss_curve_and_summary_report_what_failed(tmp_path):
    log = tmp_path / "tc" / "train_log.jsonl"
    log.parent.mkdir()
    rows = [{"step": 0, "losses": {"token_classifier": 2.0}}, {"step": 4, "losses": {"token_classifier": 12.0}}]
    log.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    curve = loss_curve(log, "token_classifier")
    assert curve["loss_per_step"] == [2.0, 3.0] and not curve["falls"]
    record = summarize(tmp_path, gpu_id=0, dry_run=False, seconds=1.0)
    assert not record["ok"]
    problems = " | ".join(record["problems"])
    assert "did not fall" in problems and "ner did not train" in problems and "benchmark wrote nothing" in problems


def test_the_loss_gradients_stay_on_the_ops_device():
    found = loss_on_device(-1)  # numpy here; CuPy arrays on a GPU (the script's preflight)
    assert found["ok"] and found["gradient_arrays"] == ["numpy"] and found["loss"] > 0
