"""What else ran while the benchmark timed its passes: CPU time of every other process.

A speed figure is only worth its context: a training beside the benchmark halves it. The
benchmark cannot stop other work, but it can say afterwards what took CPU time during the
timed passes, from the kernel's per-process counters (``/proc/PID/stat``, Linux); elsewhere
the record says it could not tell. No library reads these counters without adding a
dependency (psutil), and two fields of one file are all it takes. A process that
started and ended inside the window is not seen.
"""
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

PROC = Path("/proc")
# Processes below this share of one core over the window are not listed (shell, kernel threads).
MIN_SHARE = 0.01
Snapshot = Dict[int, Tuple[str, float]]  # pid -> (command, CPU seconds so far)


@dataclass
class OtherProcess:
    """A process other than the benchmark that used CPU time during the window."""

    pid: int
    command: str
    cpu_seconds: float
    share_of_one_core: float


@dataclass
class MachineLoad:
    """CPU time used by other processes during the timed passes (``speed.json``'s ``machine_load``)."""

    window: str = "the interleaved timed passes (warm-ups included)"
    measured: bool = False
    wall_seconds: float = 0.0
    others_share_of_one_core: Optional[float] = None
    busy: List[OtherProcess] = field(default_factory=list)
    load_average_before: Optional[List[float]] = None
    load_average_after: Optional[List[float]] = None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    def warning(self, threshold: float = 0.05) -> Optional[str]:
        """One line when other processes took more than ``threshold`` of a core (the figures are suspect)."""
        share = self.others_share_of_one_core
        if share is None or share <= threshold:
            return None
        names = ", ".join(f"{p.command[:60]} ({p.share_of_one_core:.0%})" for p in self.busy[:3])
        return f"other processes used {share:.0%} of one core during the timed passes: {names}"


def cpu_snapshot() -> Snapshot:
    """CPU seconds (user + system) of every process readable now; {} where there is no /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: Snapshot = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf8", "replace").strip()
        except OSError:  # gone since listed, or not ours to read
            continue
        name, fields = stat[stat.find("(") + 1:stat.rfind(")")], stat[stat.rfind(")") + 2:].split()
        found[int(entry.name)] = (command or f"[{name}]", (int(fields[11]) + int(fields[12])) / ticks)
    return found


class LoadWatch:
    """Snapshot at start, compare at stop: other processes' CPU time over the window."""

    def __init__(self) -> None:
        self.before = cpu_snapshot()
        self.started = time.perf_counter()
        self.load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None

    def stop(self, own_pids: Optional[List[int]] = None) -> MachineLoad:
        after = cpu_snapshot()
        wall = time.perf_counter() - self.started
        if not self.before or not after or wall <= 0:
            return MachineLoad(wall_seconds=wall)
        own = set(own_pids or [os.getpid()])
        busy = []
        for pid, (command, seconds) in after.items():
            used = seconds - self.before.get(pid, ("", 0.0))[1]
            if pid not in own and used / wall >= MIN_SHARE:
                busy.append(OtherProcess(pid, command[:200], round(used, 2), round(used / wall, 4)))
        busy.sort(key=lambda process: -process.cpu_seconds)
        total = sum(p.cpu_seconds for p in busy) / wall
        load_after = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        return MachineLoad(measured=True, wall_seconds=round(wall, 2), others_share_of_one_core=round(total, 4),
                           busy=busy, load_average_before=self.load_before, load_average_after=load_after)
