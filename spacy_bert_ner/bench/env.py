"""Small measuring helpers shared by evaluation and benchmarks: hardware, memory, sizes, timing.

Everything here describes the machine or the process it runs in; nothing
changes state. Numbers are plain floats/ints so they go straight into JSON.
"""
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def hardware_info(gpu_id: int = -1) -> Dict[str, Any]:
    """``{"cpu", "cores", "logical_cpus", "torch_threads", "torch", "gpu", "platform", "python"}``.

    ``gpu`` is the device name when ``gpu_id >= 0`` and CUDA is available, else None.
    """
    info: Dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": None,
        "torch": None,
        "gpu": None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if gpu_id >= 0 and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(gpu_id)
    return info


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes).

    ``ru_maxrss`` is in kilobytes on Linux and in bytes on macOS.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale / 1e6


def dir_size_mb(path: Union[str, Path]) -> float:
    """Total size of the files under ``path`` in MB (10^6 bytes); symlinks not followed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a pipeline folder, found nothing")
    if path.is_file():
        return path.stat().st_size / 1e6
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file_path = Path(root) / name
            if not file_path.is_symlink():
                total += file_path.stat().st_size
    return total / 1e6


def package_versions(packages: Sequence[str]) -> Dict[str, Optional[str]]:
    """``{"python": ..., <package>: installed version or None}``."""
    from importlib import metadata

    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions
