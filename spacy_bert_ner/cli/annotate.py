"""CLI command: annotate a corpus of texts with a trained pipeline, locally or on a Ray cluster."""
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from .app import app


@app.command("annotate")
def annotate_cmd(
    pipeline: str = typer.Argument(..., help="Trained pipeline folder or installed package name"),
    input_path: Path = typer.Argument(..., help='.jsonl ({"text", optional "id", other fields carried}), .txt (a document a line) or .spacy'),
    output_path: Path = typer.Argument(..., help="Output JSONL: one line per input document, in input order"),
    backend: str = typer.Option("local", help="local (nlp.pipe) or ray (Ray Data actors; the 'cluster' extra)"),
    n_process: int = typer.Option(1, help="local: processes (spaCy multiprocessing)"),
    batch_size: int = typer.Option(64, help="Documents per nlp.pipe / Ray batch"),
    threads: Optional[int] = typer.Option(None, help="Torch threads per process or actor (default: cores // processes; ray: --num-cpus)"),
    address: Optional[str] = typer.Option(None, help="ray: join a cluster (auto or HOST:PORT); default: start a local Ray runtime"),
    concurrency: int = typer.Option(2, help="ray: actors, each loading the pipeline once"),
    num_cpus: float = typer.Option(1, help="ray: CPUs reserved per actor"),
    runtime_env: Optional[str] = typer.Option(None, help='ray: runtime_env as JSON, e.g. \'{"py_modules": ["dist/PIPELINE.whl"]}\' (docs/cluster.md)'),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Send bad lines to OUTPUT.rejected.jsonl instead of stopping"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUTPUT.partial"),
    force: bool = typer.Option(False, "--force", help="Replace an existing OUTPUT (or a stale OUTPUT.partial)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (for scripts); the counts are still printed"),
) -> None:
    """Run a pipeline on every document of INPUT; write one JSONL record per document."""
    from ..annotate.output import rejected_path
    from ..annotate.run import AnnotateSettings, annotate_file

    try:
        settings = AnnotateSettings(
            backend=backend, n_process=n_process, batch_size=batch_size, threads=threads, address=address,
            concurrency=concurrency, num_cpus=num_cpus, runtime_env=parse_runtime_env(runtime_env),
        )
        counts = annotate_file(
            pipeline, input_path, output_path, settings, skip_invalid=skip_invalid, resume=resume, force=force,
            progress=not quiet and sys.stderr.isatty(),
        )
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    resumed = f" ({counts.resumed:,} from the interrupted run)" if counts.resumed else ""
    rejected = f" -> {rejected_path(output_path)}" if counts.rejected else ""
    msg.good(f"read {counts.read:,}, written {counts.written:,}{resumed}, rejected {counts.rejected:,}{rejected}")
    msg.text(f"Wrote {output_path}")


def parse_runtime_env(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """``--runtime-env`` JSON -> dict; anything but a JSON object is refused in one line."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--runtime-env: invalid JSON ({err.msg} at column {err.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--runtime-env: expected a JSON object, got {text!r}")
    return value


@app.command("annotate-bench")
def annotate_bench_cmd(
    pipeline: str = typer.Argument(..., help="Trained pipeline folder"),
    input_path: Path = typer.Argument(..., help="Texts to annotate (.jsonl, .txt or .spacy, e.g. corpus/RUN/test.spacy)"),
    output_json: Path = typer.Argument(..., help="JSON file for the results"),
    repeat: int = typer.Option(1, help="Annotate the input N times over, so start-up does not dominate the rates"),
) -> None:
    """Time annotate: local 1 process x 2 threads, local 2 processes x 1 thread, Ray 2 actors x 1 thread."""
    from ..annotate.bench import bench_annotate

    try:
        result = bench_annotate(pipeline, input_path, output_json, repeat=repeat)
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    for run in result["runs"]:
        msg.text(f"{run['name']}: {run['docs_per_second']:,.1f} docs/s, {run['words_per_second']:,.0f} words/s")
    msg.good(f"Wrote {output_json}")
