"""The Python steps of ``scripts/gpu_check.sh``: tiny dry-run assets, a preflight, the loss check, one JSON.

``python -m spacy_bert_ner.bench.gpu_check <step> ...``:

* ``preflight --gpu-id N --output JSON [--dry-assets DIR]``: CUDA, CuPy and the
  token_classifier's loss on the device (thinc's ops on CuPy: the cross-entropy's
  gradients must be device arrays, no per-batch copy to host numpy); with
  ``--gpu-id -1`` the same on numpy; ``--dry-assets`` first writes a tiny random
  BERT and train/dev/test DocBins there (the ``--dry-run`` inputs, offline);
* ``summarize --work DIR --output JSON``: each training's loss per step, first
  interval against last (it must fall), the benchmark's systems, the preflight,
  in one JSON; exit 1 when a check failed.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .train_time import read_train_log

SCHEMA = "spacy_bert_ner.gpu_check.v1"
HEADS = {"token_classifier": "tc", "ner": "ner"}  # head -> training folder under --work
DRY_SENTENCES = [
    ("EU rejects German call to boycott British lamb .", [(0, 1, "ORG"), (2, 3, "MISC"), (6, 7, "MISC")]),
    ("Peter Blackburn visited Brussels on Monday .", [(0, 2, "PER"), (3, 4, "LOC")]),
    ("The European Commission said on Thursday it disagreed .", [(1, 3, "ORG")]),
    ("Fischler proposed measures after reports from Britain and France .", [(0, 1, "PER"), (6, 7, "LOC"), (8, 9, "LOC")]),
]


def dry_assets(folder: Path) -> None:
    """A tiny random BERT (``encoder/``) and ``train/dev/test.spacy`` of the dry-run sentences."""
    import spacy
    from spacy.tokens import Doc, DocBin, Span

    from ..encoders.tiny import build_tiny_bert

    folder.mkdir(parents=True, exist_ok=True)
    words = [word for text, _ in DRY_SENTENCES for word in text.split()]
    build_tiny_bert(folder / "encoder", words * 3, hidden_size=32)
    nlp = spacy.blank("en")
    docs = []
    for text, ents in DRY_SENTENCES * 2:
        tokens = text.split()
        doc = Doc(nlp.vocab, words=tokens, spaces=[True] * (len(tokens) - 1) + [False],
                  sent_starts=[True] + [False] * (len(tokens) - 1))
        doc.set_ents([Span(doc, start, end, label=label) for start, end, label in ents], default="outside")
        docs.append(doc)
    for split in ("train", "dev", "test"):
        DocBin(docs=docs).to_disk(folder / f"{split}.spacy")


def loss_on_device(gpu_id: int) -> Dict[str, Any]:
    """The token_classifier's cross-entropy on the current ops: where its outputs live."""
    import numpy
    from thinc.api import get_current_ops

    from ..losses import masked_cross_entropy

    ops = get_current_ops()
    probs = [ops.softmax(ops.asarray2f(numpy.random.default_rng(0).normal(size=(5, 9)).astype("f")))]
    golds = [numpy.asarray([0, 1, 2, -1, 4], dtype="int64")]
    loss, grads = masked_cross_entropy(ops, probs, golds)
    modules = sorted({type(grad).__module__.split(".")[0] for grad in grads})
    on_device = modules == ["cupy"] if gpu_id >= 0 else modules == ["numpy"]
    return {"ops": type(ops).__name__, "gradient_arrays": modules, "loss": float(loss), "ok": on_device,
            "note": "golds go host->device once per batch (ops.asarray1i); the loss value (one float) comes "
                    "back for spaCy's losses dict; no array is copied to host numpy"}


def preflight(gpu_id: int) -> Dict[str, Any]:
    """Torch, CUDA, CuPy; on ``gpu_id >= 0`` spaCy is put on the GPU first. Raises when the GPU is unusable."""
    import torch

    record: Dict[str, Any] = {"gpu_id": gpu_id, "torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if gpu_id >= 0:
        if not torch.cuda.is_available():
            raise RuntimeError(f"gpu_check: torch {torch.__version__} sees no CUDA device; install a CUDA build of torch")
        try:
            import cupy  # noqa: F401
        except ImportError as err:
            raise RuntimeError(f"gpu_check: spaCy's GPU ops need CuPy ({err}); pip install cupy-cuda12x") from err
        import spacy

        spacy.require_gpu(gpu_id)
        record["gpu"] = torch.cuda.get_device_name(gpu_id)
        record["bf16"] = torch.cuda.is_bf16_supported()
    record["loss_on_device"] = loss_on_device(gpu_id)
    return record


def loss_curve(log_path: Path, head: str) -> Dict[str, Any]:
    """Loss per step of ``head`` in each logged interval; ``falls`` when the last is below the first."""
    rows = read_train_log(log_path)
    per_step: List[float] = []
    previous = -1
    for row in rows:
        steps = max(1, row["step"] - previous)
        per_step.append(row["losses"].get(head, 0.0) / steps)
        previous = row["step"]
    falls = len(per_step) >= 2 and per_step[-1] < per_step[0]
    return {"log": str(log_path), "steps": [row["step"] for row in rows], "loss_per_step": per_step,
            "falls": falls, "last_scores": rows[-1].get("scores") if rows else None}


def bench_summary(speed_json: Path) -> Dict[str, Any]:
    """Words/s, F1, device, precision and FLOP/s over peak of every benchmarked system."""
    report = json.loads(speed_json.read_text(encoding="utf8"))
    systems = {}
    for name, entry in report["systems"].items():
        quality = entry.get("quality")
        systems[name] = {"words_per_second": entry["words_per_second"], "f1": quality["f1"] if quality else None,
                         "device": entry.get("device"), "precision": entry.get("precision"),
                         "fraction_of_peak": entry.get("fraction_of_peak")}
    return {"path": str(speed_json), "systems": systems, "ratios": report.get("ratios"),
            "hardware": report.get("hardware"), "peak": report.get("peak")}


def summarize(work: Path, gpu_id: int, dry_run: bool, seconds: Optional[float]) -> Dict[str, Any]:
    """The whole check as one record; ``ok`` when every part passed."""
    preflight_path = work / "preflight.json"
    record: Dict[str, Any] = {
        "schema": SCHEMA, "dry_run": dry_run, "gpu_id": gpu_id, "wall_seconds": seconds,
        "preflight": json.loads(preflight_path.read_text()) if preflight_path.exists() else None,
        "training": {}, "benchmark": None, "problems": [],
    }
    for head, folder in HEADS.items():
        log = work / folder / "train_log.jsonl"
        if not log.exists():
            record["problems"].append(f"{log}: no training log ({head} did not train)")
            continue
        record["training"][head] = curve = loss_curve(log, head)
        if not curve["falls"]:
            record["problems"].append(f"{log}: the {head} loss per step did not fall: {curve['loss_per_step']}")
    speed = work / "bench" / "speed.json"
    if speed.exists():
        record["benchmark"] = bench_summary(speed)
        expected = {"token_classifier", "ner", "hf_pipeline", "bare_forward"}
        missing = expected - set(record["benchmark"]["systems"])
        if missing:
            record["problems"].append(f"{speed}: systems missing: {sorted(missing)}")
    else:
        record["problems"].append(f"{speed}: the benchmark wrote nothing")
    if record["preflight"] and not record["preflight"]["loss_on_device"]["ok"]:
        record["problems"].append("the token_classifier's loss gradients are not on the training device")
    record["ok"] = not record["problems"]
    return record


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spacy_bert_ner.bench.gpu_check")
    steps = parser.add_subparsers(dest="step", required=True)
    check = steps.add_parser("preflight")
    check.add_argument("--gpu-id", type=int, required=True)
    check.add_argument("--output", type=Path, required=True)
    check.add_argument("--dry-assets", type=Path, default=None, help="first write the dry run's inputs here")
    summary = steps.add_parser("summarize")
    summary.add_argument("--work", type=Path, required=True)
    summary.add_argument("--output", type=Path, required=True)
    summary.add_argument("--gpu-id", type=int, required=True)
    summary.add_argument("--dry-run", action="store_true")
    summary.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args(argv)
    from ..files import write_json_atomic

    try:
        if args.step == "preflight":
            if args.dry_assets is not None:
                dry_assets(args.dry_assets)
            write_json_atomic(args.output, preflight(args.gpu_id))
        else:
            record = summarize(args.work, args.gpu_id, args.dry_run, args.seconds)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(args.output, record)
            for problem in record["problems"]:
                print(f"gpu_check: {problem}", file=sys.stderr)
            return 0 if record["ok"] else 1
    except (OSError, ValueError, RuntimeError) as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
