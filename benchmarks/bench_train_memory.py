"""Peak memory and speed of training mel_2bar_small on folk: this checkout beside another
revision (a git worktree), run alternately so both see the same machine.

Each run is ``musicae --threads 1 train folk --preset mel_2bar_small --steps N --bf16``
in its own process, on a warm dataset cache (one cache per revision, warmed by
an unmeasured first run). Peak RSS comes from the kernel's accounting of that
process (``wait4``); speed is training steps per second of training time, as
the run's summary reports it. Medians over ``--repeats`` pairs.

    python benchmarks/bench_train_memory.py --baseline 4b1fce4 [--steps 200] [--repeats 3]
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

ROOT = Path(__file__).resolve().parent.parent


def run(checkout: Path, cache: Path, steps: int, bf16: bool) -> dict:
    """One training run: its peak RSS (MB) and steps per second."""
    out = Path(tempfile.mkdtemp()) / "run"
    command = [sys.executable, str(checkout / "cli.py"), "--threads", "1", "train", "folk",
               "--preset", "mel_2bar_small", "--out", str(out), "--steps", str(steps),
               "--quiet", "--json", "--seed", "0"] + (["--bf16"] if bf16 else [])
    env = os.environ | {"MUSICAE_CACHE": str(cache), "PYTHONPATH": str(checkout),
                        "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env, cwd=checkout)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{checkout}: training failed (status {status})")
    summary = json.loads(stdout)
    return {"peak_mb": usage.ru_maxrss / 1024, "steps_per_s": steps / summary["wall_seconds"]}


def worktree(revision: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), revision],
                   check=True, capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-bf16", action="store_true")
    args = parser.parse_args()
    checkouts = {"baseline": worktree(args.baseline), "this": ROOT}
    caches = {name: Path(tempfile.mkdtemp()) for name in checkouts}
    try:
        for name, checkout in checkouts.items():  # warm each revision's dataset cache
            run(checkout, caches[name], 2, not args.no_bf16)
        results: dict[str, list[dict]] = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                results[name].append(run(checkout, caches[name], args.steps, not args.no_bf16))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(checkouts["baseline"])], capture_output=True)
    print(f"mel_2bar_small on folk, {args.steps} steps, 1 thread, bf16={not args.no_bf16}, "
          f"median of {args.repeats} (baseline {args.baseline})")
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    for name, m in medians.items():
        print(f"{name:<9} peak RSS {m['peak_mb']:7.1f} MB   {m['steps_per_s']:6.2f} steps/s")
    ratio = medians["this"]["steps_per_s"] / medians["baseline"]["steps_per_s"]
    saved = medians["baseline"]["peak_mb"] - medians["this"]["peak_mb"]
    print(f"this / baseline: speed {ratio:.3f} (goal >= 0.95), peak RSS {saved:+.1f} MB saved")


if __name__ == "__main__":
    main()
