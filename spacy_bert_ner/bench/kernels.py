"""Which kernels a benchmark ran with, and a clean BLAS environment for it.

Some machines set ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``, which pin
numpy's OpenBLAS (spaCy's and thinc's matmuls) to another core type; they are
read when the library loads, so :func:`clean_blas_environment` restarts the
process without them before anything is measured. :func:`kernels_record`
states torch's build (``torch.__config__.show()``), the BLAS libraries loaded
(threadpoolctl: numpy's OpenBLAS and the core type it chose), torch's CPU capability,
oneDNN and quantization engine, ONNX Runtime's providers, and the oneDNN
primitives a probe process saw for fp32, bf16 and int8 linear layers
(``ONEDNN_VERBOSE=1``).
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from .records import KernelsRecord

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
UNSET_MARKER = "SPACY_BERT_NER_UNSET_BLAS"  # what the restarted process was started without
CONFIG_KEYS = ("Math Kernel Library", "MKL", "oneDNN", "OpenMP", "OpenBLAS", "LAPACK", "CPU capability")
PROBE_CODE = """
import torch, warnings
warnings.simplefilter("ignore")
from torch.ao.quantization import quantize_dynamic
x = torch.randn(64, 384)
layer = torch.nn.Linear(384, 384).eval()
with torch.inference_mode():
    print("probe:fp32", flush=True); layer(x)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        print("probe:bf16", flush=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(x)
    print("probe:int8", flush=True)
    quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear}, dtype=torch.qint8)(x)
"""


def clean_blas_environment(argv: Sequence[str]) -> None:
    """Restart this process (``python -m spacy_bert_ner ARGS``) without :data:`BLAS_VARIABLES`, where set.

    ``argv`` is ``sys.argv``; only a process started as this package's CLI
    (``python -m spacy_bert_ner benchmark ...`` or ``spacy-bert-ner benchmark ...``)
    restarts. Another one (a test calling the command in-process) only drops the
    variables for the processes it starts. The values removed travel in
    ``SPACY_BERT_NER_UNSET_BLAS`` for the report.
    """
    found = {name: os.environ[name] for name in BLAS_VARIABLES if name in os.environ}
    if not found:
        return
    removed = ",".join(f"{key}={value}" for key, value in found.items())
    if not started_as_cli(argv):
        for name in found:
            del os.environ[name]
        os.environ[UNSET_MARKER] = removed + ",restarted=no (this process kept them)"
        return
    env = {key: value for key, value in os.environ.items() if key not in BLAS_VARIABLES}
    env[UNSET_MARKER] = removed + ",restarted=yes"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "spacy_bert_ner", *argv[1:]], env)


def started_as_cli(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is this package's CLI running ``benchmark`` (``-m spacy_bert_ner`` or the console script)."""
    if len(argv) < 2 or argv[1] != "benchmark":
        return False
    program = Path(argv[0])
    return program.name == "spacy-bert-ner" or (program.name == "__main__.py" and program.parent.name == "spacy_bert_ner")


def environment_record() -> Dict[str, object]:
    """What the BLAS environment was: the variables unset by the restart, and their state now."""
    unset = os.environ.get(UNSET_MARKER, "")
    return {
        "unset": dict(item.split("=", 1) for item in unset.split(",") if "=" in item),
        "now": {name: os.environ.get(name) for name in BLAS_VARIABLES},
        "threads": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def config_summary(text: str) -> List[str]:
    """The lines of ``torch.__config__.show()`` naming the math libraries and CPU capability."""
    lines = [line.strip(" -") for line in text.splitlines()]
    picked = [line for line in lines if any(key in line for key in CONFIG_KEYS) and not line.startswith("Build settings")]
    for part in text.replace("\n", " ").replace("Build settings:", ",").split(","):
        if part.strip().startswith(("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_MKL=", "USE_OPENMP")):
            picked.append(part.strip())
    return picked


def onednn_primitives(timeout: float = 120.0) -> Dict[str, List[str]]:
    """``{"fp32"|"bf16"|"int8": [oneDNN primitive lines]}`` from a probe process with ``ONEDNN_VERBOSE=1``."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}
    try:
        completed = subprocess.run([sys.executable, "-c", PROBE_CODE], capture_output=True, text=True,
                                   timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"error": [f"{type(err).__name__}: {err}"]}
    return parse_onednn_verbose(completed.stdout)


def parse_onednn_verbose(stdout: str) -> Dict[str, List[str]]:
    """The probe's output -> ``{kind: [engine,primitive,implementation]}``, plus the ISA oneDNN reported."""
    seen: Dict[str, List[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("probe:"):
            current = line.split(":", 1)[1]
            seen[current] = []
        elif line.startswith("onednn_verbose") and ",isa:" in line:
            seen["isa"] = [line.split(",isa:", 1)[1]]
        elif current and line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            summary = ",".join(fields[4:7]) if len(fields) > 7 else line
            if summary not in seen[current]:
                seen[current].append(summary)
    seen["note"] = ["a kind with no primitive ran outside oneDNN (fp32: the BLAS of torch_config; "
                    "int8: the quantized engine)"]
    return seen


def thread_pools() -> List[Dict[str, object]]:
    """The BLAS / OpenMP libraries loaded in this process, with OpenBLAS's core type (threadpoolctl, where installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer")
    return [{key: pool.get(key) for key in keys if key in pool} for pool in threadpool_info()]


def kernels_record(ort_providers: Optional[Mapping[str, List[str]]] = None, probe: bool = True) -> KernelsRecord:
    """torch's math libraries and engines, ONNX Runtime's providers, oneDNN's primitives (see module doc)."""
    import torch

    from ..precision_backends import bf16_cpu_support

    bf16, bf16_reason = bf16_cpu_support()
    try:
        import onnxruntime

        ort: Optional[Dict[str, object]] = {"version": onnxruntime.__version__,
                                            "available_providers": onnxruntime.get_available_providers()}
    except ImportError:
        ort = None
    return {
        "torch_config": config_summary(torch.__config__.show()),
        "thread_pools": thread_pools(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": {"available": torch.backends.mkldnn.is_available(), "enabled": torch.backends.mkldnn.enabled},
        "bf16": {"supported": bf16, "why": bf16_reason},
        "quantized_engine": torch.backends.quantized.engine,
        "onnxruntime": ort,
        "session_providers": dict(ort_providers or {}),
        "onednn_primitives": onednn_primitives() if probe else {},
    }
