"""CLI commands: the HTTP service (``serve``) and its load benchmark (``serve-bench``)."""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..util import load_pipeline
from .app import app

SERVE_EXTRA = "pip install 'spacy_bert_ner[serve]'"
SERVE_PACKAGES = ("fastapi", "uvicorn", "starlette", "pydantic")


def import_serve():
    """The serve module, or a one-line error naming the extra when FastAPI/uvicorn are missing."""
    try:
        import uvicorn  # noqa: F401
        from ..annotate import serve
    except ImportError as err:
        if (err.name or "").split(".")[0] in SERVE_PACKAGES:
            msg.fail(f"serve needs FastAPI and uvicorn ({err.name} is missing): {SERVE_EXTRA}", exits=1)
        raise
    return serve


@app.command("serve")
def serve_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder (or an installed package name)"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8080, help="Port to listen on"),
    max_texts: int = typer.Option(256, help="Texts per request; more answer 413"),
    max_chars: int = typer.Option(200_000, help="Characters per request, all texts together; more answer 413"),
    max_body_bytes: int = typer.Option(4_000_000, help="Request body size; larger answer 413"),
    threads: Optional[int] = typer.Option(None, help="torch threads of the model thread (default: the usable cores)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size (default: the pipeline's)"),
    gpu_id: int = typer.Option(-1, help="-1 = CPU; N = GPU N"),
    log_level: str = typer.Option("info", help="uvicorn log level (warning: no access log)"),
) -> None:
    """Serve the pipeline over HTTP: POST /ents {"texts": [...]}, GET /health, GET /meta."""
    import spacy

    serve = import_serve()
    import uvicorn

    try:
        limits = serve.ServeLimits(max_texts=max_texts, max_chars=max_chars, max_body_bytes=max_body_bytes)
        limits.check()
        if gpu_id >= 0:
            spacy.require_gpu(gpu_id)
        nlp = load_pipeline(pipeline_dir)
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    application = serve.create_app(nlp, limits, threads=threads, batch_size=batch_size, gpu_id=gpu_id)
    uvicorn.run(application, host=host, port=port, log_level=log_level)


@app.command("serve-bench")
def serve_bench_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder"),
    output_path: Path = typer.Argument(..., help="JSON file for the figures"),
    texts: Optional[Path] = typer.Option(None, help="Texts in an annotate input (.jsonl, .txt or .spacy); default: a few built-in sentences"),
    requests: int = typer.Option(300, help="Requests to send"),
    concurrency: int = typer.Option(8, help="Requests in flight at once"),
    texts_per_request: int = typer.Option(4, help="Texts in each request"),
    threads: Optional[int] = typer.Option(None, help="The server's torch threads (default: the usable cores)"),
    batch_size: Optional[int] = typer.Option(None, help="The server's nlp.pipe batch size"),
    note: str = typer.Option("", help="What else ran on the machine, recorded as given"),
) -> None:
    """Start `serve` on 127.0.0.1, send a bounded load, stop it; p50/p95 latency and throughput to JSON."""
    import_serve()
    from ..annotate.serve_bench import SAMPLE_TEXTS, bench_server, read_texts
    from ..files import write_json_atomic

    server_options: List[str] = ["--log-level", "warning"]
    server_options += ["--threads", str(threads)] if threads else []
    server_options += ["--batch-size", str(batch_size)] if batch_size else []
    try:
        text_list = read_texts(texts) if texts else list(SAMPLE_TEXTS)
        record = bench_server(pipeline_dir, text_list, n_requests=requests, concurrency=concurrency,
                              texts_per_request=texts_per_request, server_options=server_options,
                              texts_source=str(texts) if texts else "built-in samples", note=note)
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    write_json_atomic(output_path, record)
    latency = record["latency"]
    report = (f"{record['requests_ok']}/{requests} requests ok, {record['requests_per_second']:.1f} requests/s, "
              f"{record['texts_per_second']:.1f} texts/s, p50 {latency['p50_ms']:.0f} ms, p95 {latency['p95_ms']:.0f} ms")
    if record["errors"]:
        msg.fail(f"{report}; {record['errors']} errors {record['error_statuses']}; wrote {output_path}", exits=1)
    msg.good(f"{report}; wrote {output_path}")
