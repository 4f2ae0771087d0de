"""A multitrack model's reconstructions, bar by bar, against a trivial baseline.

For every bar of every file of DATA's test split (``--split valid``: its valid split, to
choose a recipe on; or of a folder), in order, the model encodes the bar and decodes its
posterior mean (temperature 0); the baseline plays the file's previous bar again (nothing
for its first). Printed, over all bars:

- note F1 (over all bars, then corpus by corpus): a decoded note matches a played one
  when their pitches are equal, their instruments are of one General MIDI family (eight
  programs; drums are their own) and their onsets are at most one grid step (1/24 of a
  quarter) apart; each note matches at most once (``musicae.domains.music.note_counts``,
  as ``evaluate`` counts it);
- instrument accuracy: of the bar's played instruments (programs, or drums), the share
  the decoded bar has too;
- with ``--outside``: the same on Mozart's quartet K. 458 (not in data/; made by
  ``data/build_ensembles.py --outside``), music the model never saw;
- for a chord model, ``arrange`` over "C Caug Am E" (16 bars, one style each of
  ``--styles`` seeds): the share of pitched onsets in each bar that are tones of its
  chord, beside the same styles decoded with no chord ("N.C.");
- with ``--samples N``: what N bars sampled from each of the model's priors hold (at the
  sampling temperature 0.5; a chord model over "C G Am F", a chord a bar), beside the
  test split's bars: instruments a bar, pitched notes and drum hits a bar, the share of
  bars with drums;
- speed, with the model loaded: medians of sampling 4 measures and of arranging 16 bars
  (each as PrettyMIDI, as ``musicae.load(MODEL)`` gives them).

    python benchmarks/quality_multitrack.py MODEL [--data pop909+chorales+groove+ensembles]
                                           [--outside runs/outside_ensemble] [--styles 20]
                                           [--samples 1000] [--split valid] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import musicae
from musicae import api
from musicae.datasets.midi import data_parts, list_midi, resolve_data, split_files
from musicae.domains.music import decoded_pieces, note_counts, note_scores
from musicae.errors import MusicaeError
from musicae.midi.notes import read_midi
from musicae.representations.chords import chord_tone_share, parse_progression
from musicae.representations.codec import encode_piece

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 64


def score(bundle, paths: list[Path], facts: list | None = None) -> dict[str, np.ndarray]:
    """Summed note counts of the model and of repeating the previous bar, and the bars
    (each bar's :func:`bar_facts` appended to ``facts`` when given)."""
    rep, model, dom = bundle.representation, bundle.model, api.domain(bundle)
    counts = {"model": np.zeros(5), "previous bar": np.zeros(5)}
    bars = 0
    for path in paths:
        try:
            whole = dom.read_piece(bundle, path)
        except MusicaeError:
            continue
        with torch.no_grad():
            outputs = [model.reconstruct(part, temperature=0.0).to("cpu")
                       for part in whole.batch.split(CHUNK)]
        played = decoded_pieces(rep, whole.batch.to("cpu"))
        said = [p for out in outputs for p in decoded_pieces(rep, out)]
        if facts is not None:
            facts += [bar_facts(piece) for piece in played]
        for k in range(len(played)):
            counts["model"] += note_counts(played[k], said[k])
            if k:  # the file's previous window (the bar before, within a run)
                counts["previous bar"] += note_counts(played[k], played[k - 1])
        bars += len(played)
    return counts | {"bars": np.array(bars)}


def scores_line(name: str, files: int, counts: dict[str, np.ndarray]) -> str:
    """One printed line: note F1 and instrument accuracy of the model and the baseline."""
    found = []
    for who in ("model", "previous bar"):
        scores = note_scores(counts[who])
        found += [f"{who} note F1 {scores['note_f1']:.3f}",
                  f"{who} instrument accuracy {scores['instrument_accuracy']:.3f}"]
    return f"{name}: {files} files, {int(counts['bars'])} bars; " + ", ".join(found)


def snap_cost(rep, paths: list[Path]) -> float:
    """Note F1 of the bars as the representation holds them (onsets on the sixteenth and
    triplet lines) against the same bars with every onset where it was played."""
    played_rep = dataclasses.replace(rep, snap_onsets=False)
    counts = np.zeros(5)
    for path in paths:
        try:
            piece = read_midi(path, rep.steps_per_quarter)
        except MusicaeError:
            continue
        bars = [{w.start: one.decode(w.tokens, one.mask(w.lengths[None])[0], w.meter)
                 for w in encode_piece(piece, one)} for one in (played_rep, rep)]
        for start in bars[0].keys() | bars[1].keys():
            some = bars[0][start] if start in bars[0] else bars[1][start]
            played, held = (found.get(start, dataclasses.replace(some, notes=some.notes[:0]))
                            for found in bars)
            counts += note_counts(played, held)
    return note_scores(counts)["note_f1"]


def bar_facts(piece) -> tuple[int, int, int]:
    """A bar's instruments with notes, pitched notes and drum hits."""
    notes = piece.notes
    drums = notes["is_drum"]
    return len(np.unique(notes["instrument"])), int((~drums).sum()), int(drums.sum())


def summary(facts: list[tuple[int, int, int]]) -> dict[str, float]:
    table = np.array(facts, dtype=float).reshape(-1, 3)
    return {"instruments a bar": table[:, 0].mean(), "pitched notes a bar": table[:, 1].mean(),
            "drum hits a bar": table[:, 2].mean(), "bars with drums": (table[:, 2] > 0).mean()}


def sampled(bundle, count: int, seed: int) -> dict[str, dict[str, float]]:
    """:func:`summary` of ``count`` bars sampled from each prior the model has."""
    dom, found = api.domain(bundle), {}
    priors = ["standard"] + (["fitted"] if bundle.meta.get("fitted_prior") else [])
    chords = "C G Am F" if bundle.representation.controls else None
    for prior in priors:
        layout = dom.layout(bundle, count, None, chords)
        with torch.no_grad():
            batch = bundle.model.sample(count, 0.5, torch.Generator().manual_seed(seed),
                                        prior=prior, **layout)
        found[f"samples, {prior} prior"] = summary(
            [bar_facts(piece) for piece in decoded_pieces(bundle.representation,
                                                          batch.to("cpu"))])
    return found


PROGRESSION = "C Caug Am E"
ARRANGED_BARS = 16


def arranged(handle, styles: int) -> dict[str, float]:
    """Chord-tone shares of arrangements over PROGRESSION, and of the same styles (seeds)
    with no chord, each averaged over the styles."""
    labels = parse_progression(PROGRESSION)
    shares = {"over the chords": [], "no chord": []}
    for seed in range(styles):
        for name, chords in (("over the chords", PROGRESSION), ("no chord", "N.C.")):
            midi = handle.arrange(chords, bars=ARRANGED_BARS, seed=seed)
            shares[name].append(chord_tone_share(midi, labels, 2.0))  # 4/4 at 120 qpm
    return {name: float(np.mean(values)) for name, values in shares.items()}


def speeds(handle, repeats: int = 5) -> dict[str, float]:
    """Median seconds of sampling 4 measures, and (a chord model) arranging 16 bars."""
    runs = {"sample 4": lambda: handle.sample(4, seed=0)}
    if handle.bundle.representation.controls:
        runs = {"sample 4": lambda: handle.sample(4, seed=0, chords=PROGRESSION),
                f"arrange {ARRANGED_BARS}": lambda: handle.arrange(
                    PROGRESSION, bars=ARRANGED_BARS, seed=0)}
    found = {}
    for name, run in runs.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        found[name] = statistics.median(times)
    return found


def split_paths(data: str, split: str) -> dict[str, list[Path]]:
    """A split's files, by corpus."""
    return {part: split_files(resolve_data(part))[split] for part in data_parts(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a multitrack model (run directory)")
    parser.add_argument("--data", default=None, help="default: the model's own")
    parser.add_argument("--outside", type=Path, default=None,
                        help="a folder of K. 458 (made here when missing)")
    parser.add_argument("--split", default="test", choices=("test", "valid"),
                        help="the split scored (valid: to choose a recipe)")
    parser.add_argument("--quick", action="store_true",
                        help="the split's scores only (no samples, arrangements or speeds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--styles", type=int, default=20,
                        help="styles (seeds) arranged, for a chord model")
    parser.add_argument("--samples", type=int, default=0,
                        help="bars sampled from each prior, beside the test bars")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    bundle = api.load(args.model)
    data = args.data or bundle.meta["data"]
    sets = {f"{args.split} split": split_paths(data, args.split)}
    if args.outside:
        if not any(args.outside.glob("*.mid")):
            subprocess.run([sys.executable, str(ROOT / "data" / "build_ensembles.py"),
                            "--outside", str(args.outside)], check=True)
        sets["Mozart K. 458 (outside)"] = {"K. 458": list_midi(args.outside)}
    facts: dict[str, list] = {name: [] for name in sets}
    for name, parts in sets.items():
        found = {part: score(bundle, paths, facts[name]) for part, paths in parts.items()}
        total = {k: sum(counts[k] for counts in found.values()) for k in next(iter(
            found.values()))}
        print(scores_line(name, sum(map(len, parts.values())), total), flush=True)
        for part, counts in found.items() if len(found) > 1 else ():
            print("  " + scores_line(part, len(parts[part]), counts), flush=True)
        if getattr(bundle.representation, "snap_onsets", False):
            cost = snap_cost(bundle.representation, [p for ps in parts.values() for p in ps])
            print(f"  the bars as held against the bars as played (onsets unmoved): note F1 "
                  f"{cost:.3f}", flush=True)
    if args.quick:
        return
    if args.samples:
        rows = {f"{args.split} split bars": summary(facts[f"{args.split} split"])}
        rows |= sampled(bundle, args.samples, args.seed)
        for name, row in rows.items():
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    handle = musicae.load(args.model)
    if bundle.representation.controls:
        shares = arranged(handle, args.styles)
        print(f"arrange over {PROGRESSION!r}, {ARRANGED_BARS} bars, {args.styles} styles: "
              "chord-tone share of pitched onsets " + ", ".join(
                  f"{k} {v:.3f}" for k, v in shares.items()), flush=True)
    print(f"speed ({torch.get_num_threads()} threads), medians: " + ", ".join(
        f"{k} {v:.3f} s" for k, v in speeds(handle).items()), flush=True)


if __name__ == "__main__":
    main()
