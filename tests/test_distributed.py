"""Data-parallel training under torchrun: real processes, gloo on CPU."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from musicae import artifacts

TINY_AE = ["--set", "hidden=[32]", "--set", "latent_dim=4"]
TIMEOUT = 240


def musicae(*args: object, processes: int = 1, **popen) -> list[str]:
    """The command line of ``musicae ARGS``, under torchrun with ``processes`` > 1."""
    launcher = [sys.executable, "-m", "musicae"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}", "-m", "musicae"]
    return launcher + [str(a) for a in args]


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def train(out: Path, batch: int, processes: int, *extra: object) -> subprocess.CompletedProcess:
    return run(musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps", 6,
                       "--batch-size", batch, "--seed", 0, "--quiet", "--json", "--device",
                       "cpu", *TINY_AE, *extra, processes=processes))


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path):
    one = train(tmp_path / "one", 16, 1)
    assert one.returncode == 0, one.stderr
    two = train(tmp_path / "two", 8, 2)
    assert two.returncode == 0, two.stderr
    summary = json.loads(two.stdout)  # rank 0 alone reports
    assert summary["processes"] == 2 and summary["global_batch"] == 16
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [6], "one writer, one checkpoint"
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:  # gradients averaged over two half batches = the gradient of the whole
        assert (a[key].double() - b[key].double()).abs().max() < 1e-4, key
    resumed = run(musicae("train", "mnist", "--preset", "mnist_ae", "--out", tmp_path / "two",
                          "--steps", 9, "--resume", "--quiet", "--json", "--device", "cpu"))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == 9 and json.loads(resumed.stdout)["processes"] == 1
    assert artifacts.load(tmp_path / "two").meta["training"]["step"] == 9


def test_killing_one_rank_stops_the_others_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    command = musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps", 10**6,
                      "--batch-size", 8, "--quiet", "--device", "cpu", *TINY_AE,
                      "--set", "eval_every=20", "--set", "eval_batches=1", processes=2)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (out / "config.json").exists(), "a checkpoint before the kill"
        ranks = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                               text=True).stdout.split()
        assert len(ranks) == 2
        survivor = 1 - rank_of(int(ranks[-1]))
        os.kill(int(ranks[-1]), signal.SIGKILL)
        started = time.monotonic()
        _, stderr = launcher.communicate(timeout=120)
        assert launcher.returncode != 0
        assert time.monotonic() - started < 120
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert artifacts.load(out).meta["training"]["step"] % 20 == 0
    # the survivor says so in one line, in gloo's words (not its source line); torchrun's
    # own report of the kill follows it
    said = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(said) == 1 and re.fullmatch(
        rf"error: lost a training process \(rank {survivor} of 2\): [A-Z][\w ]+; "
        rf"the last checkpoint in {re.escape(str(out))} is intact, continue with --resume",
        said[0]), stderr
    assert str(Path(artifacts.__file__).parent) not in stderr, "no traceback of a rank"


def rank_of(pid: int) -> int:
    """The rank torchrun gave process ``pid``."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(item for item in environ if item.startswith(b"RANK=")).split(b"=")[1])


def test_ranks_get_disjoint_shards_of_each_global_batch():
    import numpy as np
    import torch

    from musicae.batch import Batch
    from musicae.datasets.examples import Examples
    from musicae.errors import MusicaeError

    examples = Examples({"x": np.arange(20)}, lambda rows: Batch(torch.from_numpy(rows["x"])))
    shards = [examples.batches(3, torch.Generator().manual_seed(0), rank, 2) for rank in (0, 1)]
    single = examples.batches(6, torch.Generator().manual_seed(0))
    for _ in range(3):  # one epoch: 20 // 6 global batches
        parts = [next(s).tokens.tolist() for s in shards]
        assert set(parts[0]).isdisjoint(parts[1])
        assert parts[0] + parts[1] == next(single).tokens.tolist()
    with pytest.raises(MusicaeError, match="cannot be shared by 30 processes"):
        next(examples.batches(1, torch.Generator(), 0, 30))


def test_sigterm_checkpoints_the_current_step_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    command = musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps", 10**6,
                      "--batch-size", 8, "--quiet", "--device", "cpu", *TINY_AE,
                      "--set", "eval_every=7", "--set", "eval_batches=1")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    deadline = time.monotonic() + TIMEOUT
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # a few steps past the first checkpoint
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "checkpoint saved; continue with --resume" in stderr
    step = artifacts.load(out).meta["training"]["step"]
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert step > 7 and logged[-1] == step, "the step the signal came at is the checkpoint"
    resumed = run(musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps",
                          step + 3, "--resume", "--quiet", "--json", "--device", "cpu"))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == step + 3


def test_a_checkpoint_killed_half_way_is_finished_or_dropped_as_one(tmp_path):
    """The checkpoint set (weights, optimizer, config) appears as one unit: a kill while
    it is being written leaves the last one; a kill while it is being moved in is finished
    by the next load; metrics after the checkpoint's step go on resume."""
    import json as json_

    from musicae import api, artifacts

    run = tmp_path / "run"
    api.train("mnist", "mnist_ae", run, steps=4, progress=False,
              overrides={"latent_dim": 2}, eval_every=2)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    # a kill while writing the next one: a half-made staging folder and a stray temp file
    (run / artifacts.STAGING).mkdir()
    (run / artifacts.STAGING / artifacts.WEIGHTS).write_bytes(b"half")
    (run / ".model.safetensors.tmp-999").write_bytes(b"x" * 100)
    bundle = artifacts.load(run)  # readers see the last whole checkpoint meanwhile
    assert bundle.meta["training"]["step"] == 4
    assert {p.name: p.read_bytes() for p in run.iterdir()
            if p.is_file() and not p.name.startswith(".")} == before
    artifacts.recover(run)  # what a resumed run does first
    assert not (run / artifacts.STAGING).exists()
    assert not (run / ".model.safetensors.tmp-999").exists()
    # a kill after the new set was complete, with only the weights moved in
    newer = tmp_path / "newer"
    api.train("mnist", "mnist_ae", newer, steps=6, progress=False,
              overrides={"latent_dim": 2}, eval_every=2)
    (run / artifacts.COMMITTING).mkdir()
    for name in (artifacts.OPTIMIZER, artifacts.CONFIG):
        (run / artifacts.COMMITTING / name).write_bytes((newer / name).read_bytes())
    (run / artifacts.WEIGHTS).write_bytes((newer / artifacts.WEIGHTS).read_bytes())
    bundle = artifacts.load(run)
    assert bundle.meta["training"]["step"] == 6 and not (run / artifacts.COMMITTING).exists()
    for name in (artifacts.WEIGHTS, artifacts.OPTIMIZER, artifacts.CONFIG):
        assert (run / name).read_bytes() == (newer / name).read_bytes()
    # resume drops metrics records past the checkpoint (a kill between log and save)
    with open(run / artifacts.METRICS, "a") as f:
        f.write(json_.dumps({"step": 7}) + "\n" + '{"step": 8, "trunc')
    api.train("mnist", "mnist_ae", run, steps=8, resume=True, progress=False, eval_every=2)
    lines = (run / artifacts.METRICS).read_text().splitlines()
    steps = [json_.loads(line)["step"] for line in lines]
    assert steps == [2, 4, 8], steps  # 7 (past the checkpoint) and the cut line are gone
