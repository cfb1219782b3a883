"""Small measuring helpers shared by evaluation and benchmarks: hardware, memory, sizes, timing.

Everything here describes the machine or the process it runs in; nothing
changes state. Numbers are plain floats/ints so they go straight into JSON.
"""
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, TypedDict, Union

# The identity of a machine as a record states it: (CPU name, cores, GPU name).
HardwareKey = Tuple[Optional[str], Optional[int], Optional[str]]


class HardwareInfo(TypedDict):
    """What :func:`hardware_info` records (the ``hardware`` key of every JSON report)."""

    cpu: str
    cores: int
    logical_cpus: Optional[int]
    torch_threads: Optional[int]
    torch: Optional[str]
    gpu: Optional[str]
    platform: str
    python: str


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


def hardware_info(gpu_id: int = -1) -> HardwareInfo:
    """``{"cpu", "cores", "logical_cpus", "torch_threads", "torch", "gpu", "platform", "python"}``.

    ``gpu`` is the device name when ``gpu_id >= 0`` and CUDA is available, else None.
    """
    info: HardwareInfo = {
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


def hardware_key(hardware: Any) -> Optional[HardwareKey]:
    """``(cpu, cores, gpu)`` of a recorded :func:`hardware_info`, to tell two records' machines apart.

    Records written with the older ``cpu_model`` / ``cpu_cores`` keys (the HF
    recipe's) read the same; anything but a mapping gives None (not recorded).
    """
    if not isinstance(hardware, Mapping):
        return None
    cpu = hardware.get("cpu") or hardware.get("cpu_model")
    cores = hardware.get("cores") or hardware.get("cpu_cores")
    return (cpu, cores, hardware.get("gpu"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes).

    ``ru_maxrss`` is in kilobytes on Linux and in bytes on macOS.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale / 1e6


def address_space_peak_rss_mb() -> float:
    """This address space's peak RSS (``VmHWM``) in MB; :func:`peak_rss_mb` where /proc is missing.

    ``ru_maxrss`` survives execve on Linux, so a process started from a big parent
    (subprocess uses vfork) can report the parent's peak; ``VmHWM`` cannot.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return peak_rss_mb()


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
