"""machine_load: the benchmark says what else used the CPU while it timed its passes."""
import subprocess
import sys
import time

import pytest

from spacy_bert_ner.bench.machine_load import PROC, LoadWatch, MachineLoad, OtherProcess, cpu_snapshot

pytestmark = pytest.mark.skipif(not PROC.is_dir(), reason="reads /proc (Linux)")


def test_snapshot_sees_this_process():
    import os

    snapshot = cpu_snapshot()
    command, seconds = snapshot[os.getpid()]
    assert "python" in command and seconds > 0


def test_a_busy_neighbour_is_named_and_an_idle_one_is_not():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)
        watch = LoadWatch()
        time.sleep(1.0)
        found = watch.stop()
    finally:
        busy.kill()
        idle.kill()
    assert found.measured and found.wall_seconds >= 1.0
    assert idle.pid not in {p.pid for p in found.busy}
    neighbour = next(p for p in found.busy if p.pid == busy.pid)
    assert neighbour.share_of_one_core > 0.3 and "while True" in neighbour.command
    assert found.others_share_of_one_core >= neighbour.share_of_one_core
    assert "of one core during the timed passes" in found.warning()


def test_no_warning_when_quiet_and_not_measured():
    assert MachineLoad().warning() is None
    quiet = MachineLoad(measured=True, wall_seconds=10, others_share_of_one_core=0.02,
                        busy=[OtherProcess(1, "sshd", 0.2, 0.02)])
    assert quiet.warning() is None
