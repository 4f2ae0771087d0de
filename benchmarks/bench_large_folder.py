"""Preparing and training on a Lakh-size folder: time and peak memory.

Builds ``--files`` MIDI files (default 100,000) in a temporary folder from the
bundled folk corpus, each a real tune transposed by -5..+6 semitones and set
to another tempo, so that every file's content differs. Then, each in a fresh
process: ``musicae prepare`` with a cold cache (wall time, peak RSS of the
parent and of the largest worker), the same again from the cache, and the
start of ``musicae train`` on it (a few steps; peak RSS), beside the bytes the
training windows would take held in memory as int64 (how training held them
before the cache was memory-mapped).

    python benchmarks/bench_large_folder.py [--files 100000] [--keep DIR] [--preset NAME]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SHIFTS = range(-5, 7)  # semitones: 12 variants of every tune
TEMPOS = (72.0, 84.0, 96.0, 108.0, 132.0, 144.0)


def variant(job: tuple[str, str, int]) -> bool:
    """Write one transposed, re-timed copy of a folk tune; False if it has no notes."""
    from musicae.midi.notes import Piece, read_midi, write_midi

    source, target, index = job
    piece = read_midi(source)
    notes = piece.notes.copy()
    notes["pitch"] = np.clip(notes["pitch"] + SHIFTS[index % len(SHIFTS)], 0, 127)
    tempo = TEMPOS[index % len(TEMPOS)]
    write_midi(Piece(notes, piece.meters, tempo, piece.steps_per_quarter), target)
    return True


def build(folder: Path, count: int) -> float:
    """``count`` files under ``folder`` (in subfolders of 1,000); seconds taken."""
    from musicae.datasets.midi import bundled_folk, list_midi

    sources = list_midi(bundled_folk())
    jobs = []
    for i in range(count):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        jobs.append((str(sources[i % len(sources)]), str(sub / f"{i:06d}.mid"),
                     i // len(sources)))
    started = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(variant, jobs, chunksize=256))
    return time.perf_counter() - started


def measured(command: list[str], env: dict) -> dict:
    """Run a command; its wall time and the peak RSS of it and of its largest child."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return {"seconds": time.perf_counter() - started, "peak_mb": usage.ru_maxrss / 1024,
            "stdout": stdout.decode()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the folder here")
    parser.add_argument("--preset", default="mel_2bar_small",
                        help="music preset whose windows to make (e.g. pianoroll_2bar)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="musicae-large-"))
    cache = Path(tempfile.mkdtemp(prefix="musicae-cache-"))
    env = os.environ | {"MUSICAE_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    try:
        made = sum(1 for _ in root.rglob("*.mid")) if root.is_dir() else 0
        seconds = build(root, args.files) if made < args.files else 0.0
        print(f"{args.files:,} files in {root} (built in {seconds:.0f} s)")
        musicae = [sys.executable, "-m", "musicae"]
        prepare = musicae + ["prepare", str(root), "--preset", args.preset, "--quiet", "--json"]
        cold = measured(prepare, env)
        report = json.loads(cold["stdout"])
        cached = measured(prepare, env)
        train = measured(musicae + ["--threads", "1", "train", str(root), "--preset",
                                    args.preset, "--out", str(cache / "run"), "--steps",
                                    "5", "--quiet", "--json"], env)
        examples = json.loads(train["stdout"])["train_examples"]
        from musicae.presets import representation

        rep = representation(args.preset)
        int64_mb = examples * rep.steps * math.prod(rep.token_shape) * 8 / 2**20
        print(f"prepare, cold  : {cold['seconds']:7.1f} s  peak RSS {cold['peak_mb']:7.1f} MB  "
              f"({report['files_used']:,} files used, {report['windows']:,} windows)")
        print(f"prepare, cached: {cached['seconds']:7.1f} s  peak RSS {cached['peak_mb']:7.1f} MB")
        print(f"train, 5 steps : {train['seconds']:7.1f} s  peak RSS {train['peak_mb']:7.1f} MB  "
              f"({examples:,} training windows; as int64 in memory they would take "
              f"{int64_mb:.0f} MB)")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
