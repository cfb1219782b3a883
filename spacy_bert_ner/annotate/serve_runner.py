"""Starting and stopping the HTTP service: in a thread of this process, or as a child process.

Tests run the app in a uvicorn thread on a socket this module binds first (port
0: the OS picks a free port, no race); the benchmark starts
``python -m spacy_bert_ner serve`` as a separate process so the load generator
does not share the server's interpreter. Both wait for ``GET /health`` and stop
the server on the way out, whatever happened in between.
"""
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator, List, Sequence, Union

LOCALHOST = "127.0.0.1"
START_TIMEOUT_S = 120.0  # loading a MiniLM pipeline takes seconds; a cold disk more


def bound_socket(host: str = LOCALHOST, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one) for uvicorn to listen on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def free_port(host: str = LOCALHOST) -> int:
    """A port free on ``host`` now (for a child process, which must bind it itself)."""
    with closing(bound_socket(host)) as sock:
        return sock.getsockname()[1]


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    """Whether ``GET /health`` answers ``{"status": "ok"}``."""
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return json.loads(response.read()).get("status") == "ok"
    except (OSError, ValueError):
        return False


@contextmanager
def running_server(app, host: str = LOCALHOST, port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields the base URL, stops on exit."""
    import uvicorn

    sock = bound_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {host}:{sock.getsockname()[1]}")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def serve_command(pipeline_dir: Union[str, Path], host: str, port: int, options: Sequence[str] = ()) -> List[str]:
    """The command line of ``python -m spacy_bert_ner serve`` with this interpreter."""
    return [sys.executable, "-m", "spacy_bert_ner", "serve", str(pipeline_dir),
            "--host", host, "--port", str(port), *options]


@contextmanager
def server_process(pipeline_dir: Union[str, Path], host: str = LOCALHOST,
                   options: Sequence[str] = ()) -> Iterator[str]:
    """``serve PIPELINE`` as a child process on a free port; yields the base URL, stops it on exit."""
    port = free_port(host)
    base_url = f"http://{host}:{port}"
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would block the server
    process = subprocess.Popen(serve_command(pipeline_dir, host, port, options),
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not is_healthy(base_url):
            if process.poll() is not None:
                log.seek(0)
                tail = log.read().strip().splitlines()[-5:]
                raise RuntimeError(f"serve exited with {process.returncode} before answering: {' | '.join(tail)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer {base_url}/health within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
