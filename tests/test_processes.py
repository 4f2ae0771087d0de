"""Processes end with the one that started them and say why in one line: prepare's
workers, torchrun's training processes. Real processes, real signals."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from musicae import artifacts
from musicae.datasets.midi_cache import LOCK_NAME, SPILL_PREFIX
from tests.test_distributed import TINY_AE, musicae

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads processes from /proc; workers die by prctl")

ENV = os.environ | {"OMP_NUM_THREADS": "1"}
START_S = 60.0  # for prepare to start its workers on a loaded machine
GONE_S = 5.0  # for killed workers to be gone
RANKS_STOP_S = 60.0  # for training processes to stop at a checkpoint on a loaded machine


def start_prepare(cache: Path) -> subprocess.Popen:
    """``musicae prepare folk`` with two workers into an empty cache (work to do), in a
    process group of its own, as a shell starts a command."""
    command = [sys.executable, "-m", "musicae", "prepare", "folk", "--preset",
               "pianoroll_2bar", "--workers", "2", "--cache", str(cache), "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=ENV, start_new_session=True)


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, parent, ...); None
    when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their start times (to tell them from a
    later process that gets the same pid)."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and int(fields[1]) == pid:
            found[int(entry.name)] = fields[19]
    return found


def running(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` still running (a zombie has ended)."""
    return [pid for pid, started in processes.items()
            if (fields := stat(pid)) and fields[19] == started and fields[0] not in "ZX"]


def wait_for_workers(parent: subprocess.Popen) -> dict[int, str]:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and parent.poll() is None:
        workers = children(parent.pid)
        if len(workers) >= 2:
            return workers
        time.sleep(0.02)
    pytest.fail(f"prepare started no workers in {START_S} s (exit {parent.poll()})")


def wait_until_gone(processes: dict[int, str], seconds: float = GONE_S) -> list[int]:
    """Those of ``processes`` still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while running(processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running(processes)


def end(parent: subprocess.Popen, workers: dict[int, str]) -> None:
    """Kill what a failed test left running."""
    for pid in running(workers):
        os.kill(pid, signal.SIGKILL)
    if parent.poll() is None:
        parent.kill()
    parent.wait()


def test_killing_prepare_kills_its_workers_and_frees_its_spill_folder(tmp_path):
    parent = start_prepare(tmp_path / "cache")
    workers: dict[int, str] = {}
    try:
        workers = wait_for_workers(parent)
        parent.kill()
        parent.wait()
        assert wait_until_gone(workers) == [], "workers outlived a killed prepare"
        locks = list((tmp_path / "cache").rglob(f"{SPILL_PREFIX}*/{LOCK_NAME}"))
        assert locks, "a spill folder was in use when prepare was killed"
        for lock in locks:  # free: the next run sweeps the folder
            with open(lock, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        end(parent, workers)


def test_ctrl_c_stops_prepare_and_its_workers_with_one_line(tmp_path):
    parent = start_prepare(tmp_path / "cache")
    workers: dict[int, str] = {}
    try:
        workers = wait_for_workers(parent)
        os.killpg(parent.pid, signal.SIGINT)  # what a terminal sends: to every process
        _, stderr = parent.communicate(timeout=60)
        assert parent.returncode == 130, stderr
        assert stderr.splitlines() == ["interrupted"], stderr
        assert wait_until_gone(workers) == []
    finally:
        end(parent, workers)


def test_a_worker_whose_parent_is_gone_by_its_start_ends_at_once():
    """The kernel sends the death signal only for a parent that dies after it was asked
    to; a worker whose parent is already gone (another process is its parent now) ends
    at once. Its parent here is this process, not PID 1."""
    script = ("import ctypes, os, signal, sys\n"
              "from musicae.datasets.midi_worker import start_worker\n"
              "start_worker(int(sys.argv[1]), ctypes.c_byte(0))\n"
              "os.kill(os.getpid(), signal.SIGINT)\n"  # a worker leaves Ctrl-C to its parent
              "print('running')\n")
    orphan = subprocess.run([sys.executable, "-c", script, "1"], capture_output=True,
                            text=True, env=ENV, timeout=120)
    assert (orphan.returncode, orphan.stdout, orphan.stderr) == (1, "", "")
    adopted = subprocess.run([sys.executable, "-c", script, str(os.getpid())],
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert adopted.returncode == 0 and adopted.stdout == "running\n", adopted.stderr


def test_killing_torchrun_ends_its_training_processes(tmp_path):
    """torchrun starts each rank in a session of its own: killed, it would leave them
    training. They get the SIGTERM torchrun sends when it stops them, and stop; the run
    directory keeps a whole checkpoint."""
    out = tmp_path / "run"
    command = musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps", 10**6,
                      "--batch-size", 8, "--quiet", "--device", "cpu", *TINY_AE,
                      "--set", "eval_every=20", "--set", "eval_batches=1", processes=2)
    agent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=ENV, start_new_session=True)
    ranks: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 240
        while not (out / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # the first checkpoint: both ranks train
        assert (out / "config.json").exists(), "a checkpoint before the kill"
        ranks = children(agent.pid)
        assert len(ranks) == 2, "torchrun's two training processes"
        agent.kill()
        agent.wait()
        assert wait_until_gone(ranks, RANKS_STOP_S) == [], "ranks outlived torchrun"
    finally:
        end(agent, ranks)
    artifacts.load(out)  # whole


GLOO = "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] "


@pytest.mark.parametrize(("raised", "reason"), [
    (GLOO + "Read error [127.0.0.1]:41899: Connection reset by peer. This is typically caused "
     "by a remote worker hanging or bugs in the application.", "Connection reset by peer"),
    (GLOO + "Connection closed by peer [127.0.0.1]:17039", "Connection closed by peer"),
])
def test_a_lost_peer_is_one_line_naming_the_rank_and_other_errors_keep_theirs(raised, reason):
    from musicae.distributed import LostPeer, Ranks, peers_watched

    with pytest.raises(LostPeer) as lost, peers_watched(Ranks(1, 2), lambda: "resume"):
        raise RuntimeError(raised)
    assert str(lost.value) == f"lost a training process (rank 1 of 2): {reason}; resume"
    bug = RuntimeError("mat1 and mat2 shapes cannot be multiplied (8x3 and 4x2)")
    with pytest.raises(RuntimeError) as passed, peers_watched(Ranks(1, 2), lambda: "resume"):
        raise bug
    assert passed.value is bug
