"""Data-parallel scaling: training windows/s of mel_2bar_small with 1 and N processes.

Each run is a real ``musicae train folk`` (under ``torchrun --standalone
--nproc_per_node=N`` for N > 1) with the same batch per process, so N
processes train on N times the windows per step. Speed is steps of
training time as the run reports it (data preparation and start-up aside),
times the global batch. Efficiency = windows/s of N processes ÷ (N × windows/s
of 1). Runs alternate and medians are quoted; one thread per process.

    python benchmarks/bench_distributed.py [--processes 2] [--steps 150] [--repeats 3]
                                           [--batch 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(processes: int, steps: int, batch: int, device: str) -> float:
    """Training windows per second of one run."""
    out = Path(tempfile.mkdtemp()) / "run"
    launcher = [sys.executable, "-m", "musicae"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}", "-m", "musicae"]
    command = launcher + ["--threads", "1", "train", "folk", "--preset", "mel_2bar_small",
                          "--out", str(out), "--steps", str(steps), "--batch-size", str(batch),
                          "--quiet", "--json", "--device", device, "--set", "eval_every=100000"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    summary = json.loads(done.stdout)
    return summary["global_batch"] * steps / summary["wall_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="windows per step and process")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    run(1, 2, args.batch, args.device)  # prepare the folk corpus once, outside the timing
    rates: dict[int, list[float]] = {1: [], args.processes: []}
    for _ in range(args.repeats):
        for n in rates:
            rates[n].append(run(n, args.steps, args.batch, args.device))
    one, many = (statistics.median(rates[n]) for n in rates)
    print(f"mel_2bar_small on folk, batch {args.batch} per process, {args.steps} steps, "
          f"{args.device}, 1 thread per process, median of {args.repeats}, {os.cpu_count()} cores")
    print(f"1 process     : {one:8.1f} windows/s   runs {[round(r) for r in rates[1]]}")
    print(f"{args.processes} processes   : {many:8.1f} windows/s   "
          f"runs {[round(r) for r in rates[args.processes]]}")
    print(f"efficiency    : {many / (args.processes * one):8.2f}  "
          f"(windows/s of {args.processes} ÷ {args.processes} × windows/s of 1)")


if __name__ == "__main__":
    main()
