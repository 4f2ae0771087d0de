"""Preprocessing throughput on a MIDI folder (default: the bundled folk corpus).

Four measurements, each in a fresh process so that its peak memory is its own:

- ``parse``: ``pretty_midi.PrettyMIDI(path)`` on every file, one process, nothing else;
- ``symusic``: ``symusic.Score(path)`` likewise (the compiled parser musicae reads with);
- ``cold``: the full pipeline (``musicae.datasets.midi.prepare``) with an empty
  cache and its parallel workers;
- ``cached``: the same call again on the cache the cold run filled.

Prints files/s, windows/s and peak resident memory (parent, and the largest
worker) per measurement, medians over ``--repeats``, and the ratios the pipeline is
held to: cold time / bare pretty_midi parse time (goal <= 0.05) and cold time
/ cached time (goal >= 20), with cold time / bare symusic parse time beside.

Usage::

    python benchmarks/bench_prepare.py [DATA] [--representation melody:2] [--repeats 3]
                                       [--workers N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("parse", "symusic", "cold", "cached")
KIB = 1024  # ru_maxrss is in KiB on Linux


def usage() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child (MB), and
    the CPU seconds of both together, interpreter start-up included (a busy machine does
    not inflate CPU time as it does wall time)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return {
        "peak_rss_mb": round(own.ru_maxrss * KIB / 1e6, 1),
        "worker_peak_rss_mb": round(children.ru_maxrss * KIB / 1e6, 1),
        "cpu_s": round(cpu, 2),
    }


def bare_parse(data: Path, parser: str) -> dict:
    """pretty_midi (or symusic) alone over every file (failures counted, not raised)."""
    import pretty_midi
    import symusic

    from musicae.datasets.midi import list_midi

    parse = {"parse": lambda p: pretty_midi.PrettyMIDI(str(p)),
             "symusic": lambda p: symusic.Score(str(p), ttype="tick")}[parser]
    files = list_midi(data)
    started = time.perf_counter()
    failed = 0
    for path in files:
        try:
            parse(path)
        except Exception:  # a broken file costs its parse attempt, like in the pipeline
            failed += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": len(files), "windows": 0, "failed": failed}


def pipeline(data: Path, representation: str, cache: Path, workers: int | None) -> dict:
    """One ``prepare`` call; timed inside, so interpreter start-up is not counted."""
    from musicae.datasets.midi import prepare
    from musicae.representations import REPRESENTATIONS

    started = time.perf_counter()
    kind, _, bars = representation.partition(":")  # torch-free, unlike musicae.presets
    rep = REPRESENTATIONS[kind](bars=int(bars))
    report = prepare(data, rep, workers=workers, cache_dir=cache, progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "files": report.files_seen,
        "windows": report.windows,
        "files_used": report.files_used,
        "files_parsed": report.files_parsed,
    }


def run_phase(args: argparse.Namespace) -> None:
    """Child-process entry: measure one phase and print it as JSON."""
    data = Path(args.data)
    if args.phase in ("parse", "symusic"):
        result = bare_parse(data, args.phase)
    else:
        result = pipeline(data, args.representation, Path(args.cache), args.workers)
    print(json.dumps({**result, **usage()}))


def measure(phase: str, args: argparse.Namespace, cache: Path) -> dict:
    """Run one phase in a fresh interpreter and read its JSON line."""
    command = [sys.executable, __file__, str(args.data), "--phase", phase,
               "--representation", args.representation, "--cache", str(cache)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_row(runs: list[dict]) -> dict:
    """The run with the median time (its memory and counts go with it)."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[len(ordered) // 2] | {"all_seconds": [round(r["seconds"], 3) for r in runs]}


def describe(name: str, row: dict) -> str:
    seconds = row["seconds"]
    files_s = row["files"] / seconds
    windows_s = row["windows"] / seconds if row["windows"] else 0.0
    return (
        f"{name:<34} {seconds:8.3f} s  {files_s:9.0f} files/s  {windows_s:10.0f} windows/s  "
        f"peak RSS {row['peak_rss_mb']:6.1f} MB (largest worker {row['worker_peak_rss_mb']:.1f} MB)"
        f"  CPU {row['cpu_s']:.1f} s  runs {row['all_seconds']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=None, help="MIDI folder (default: folk)")
    parser.add_argument("--representation", default="melody:2",
                        help="KIND:BARS, e.g. melody:2, pianoroll:2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data is None:
        from musicae.datasets.midi import resolve_data

        args.data = resolve_data("folk")
    if args.phase:
        run_phase(args)
        return
    report(args)


def report(args: argparse.Namespace) -> None:
    """Measure every phase ``repeats`` times and print the table and ratios."""
    runs: dict[str, list[dict]] = {phase: [] for phase in PHASES}
    for _ in range(args.repeats):
        for parser in ("parse", "symusic"):
            runs[parser].append(measure(parser, args, Path(tempfile.gettempdir())))
        with tempfile.TemporaryDirectory(prefix="musicae-bench-") as cache:
            runs["cold"].append(measure("cold", args, Path(cache)))
            runs["cached"].append(measure("cached", args, Path(cache)))
    rows = {phase: median_row(found) for phase, found in runs.items()}
    cold = rows["cold"]
    print(f"data: {args.data}  representation: {args.representation}  files: {cold['files']}  "
          f"used: {cold['files_used']}  windows: {cold['windows']}  "
          f"workers: {args.workers or 'all cores'}  repeats: {args.repeats} (medians)")  # fmt: skip
    print(describe("pretty_midi parse (1 process)", rows["parse"]))
    print(describe("symusic parse (1 process)", rows["symusic"]))
    print(describe("pipeline, cold cache (workers)", cold))
    print(describe("pipeline, cached second run", rows["cached"]))
    parse_ratio = cold["seconds"] / rows["parse"]["seconds"]
    cache_ratio = cold["seconds"] / rows["cached"]["seconds"]
    print(f"cold pipeline / bare pretty_midi parse: {parse_ratio:.3f}x (goal <= 0.05)")
    print(f"cold pipeline / bare symusic parse: "
          f"{cold['seconds'] / rows['symusic']['seconds']:.1f}x")
    print(f"cold / cached: {cache_ratio:.1f}x faster (goal >= 20)")


if __name__ == "__main__":
    main()
