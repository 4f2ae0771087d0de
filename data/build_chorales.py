"""Build the bundled polyphonic corpus, data/chorales/, from Bach's four-part chorales
in music21's corpus (music21/corpus/bach/*.mxl, *.xml).

Every score with parts named Soprano, Alto, Tenor and Bass becomes one type-1
MIDI file with one named track per voice (other parts, such as the doubling
instruments of a cantata movement, are left out), its time signatures, and its
tempo where the score has a metronome mark (else QPM). A pickup bar is padded
with silence, so MIDI bar lines fall on the written ones. Scores whose four
voices are note-for-note identical to another's are kept once. Files go to
train/, valid/ and test/ by a hash of the file name (one chorale, one split),
and manifest.csv lists them. See data/README.md.

``--outside DIR`` instead converts other polyphonic music21 material that is
not in data/ into DIR, every part as a named track, for the out-of-corpus
checks in benchmarks/quality_polyphony.py: Monteverdi's madrigals (five voices;
``--set madrigals``, the default) or every keyboard piece of music21's corpus
(``--set piano``: Joplin, Chopin, Mozart, C. P. E. Bach, Clara Schumann,
Schoenberg; the POP909 piano model's outside check).

Usage (needs the build extra: ``pip install -e .[build]``)::

    python data/build_chorales.py [--workers 2]
    python data/build_chorales.py --outside /tmp/outside_polyphony
    python data/build_chorales.py --outside /tmp/outside_piano --set piano
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import multiprocessing
import shutil
from collections import Counter
from pathlib import Path

import pretty_midi
from music21 import corpus, meter, tempo

VOICES = ("Soprano", "Alto", "Tenor", "Bass")
QPM = 90.0  # when the score gives no metronome mark
PROGRAM = 52  # General MIDI "Choir Aahs" (0-based)
VELOCITY = 90
RESOLUTION = 480
SPLITS = (("train", 80), ("valid", 90), ("test", 100))  # cumulative percent
OUT_DIR = Path(__file__).resolve().parent / "chorales"


def pickup(part) -> float:
    """Quarter notes of silence that put the first (pickup) bar's notes where a full bar's
    would end."""
    measures = part.getElementsByClass("Measure")
    return float(measures[0].paddingLeft) if len(measures) else 0.0


def score_to_midi(score, names: list[str] | None = None, program: int = PROGRAM
                  ) -> pretty_midi.PrettyMIDI:
    """One MIDI file from a music21 score: one named track per part (all parts by default,
    else those named ``names``, in that order), tied notes joined, the pickup padded."""
    parts = list(score.parts)
    if names is not None:
        by_name = {str(p.partName).strip(): p for p in parts}
        parts = [by_name[n] for n in names]
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else QPM
    seconds = 60.0 / qpm
    pad = pickup(parts[0])
    midi = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=qpm)
    for ts in parts[0].flatten().getElementsByClass(meter.TimeSignature):
        at = (float(ts.offset) + pad if ts.offset > 0 else 0.0) * seconds
        midi.time_signature_changes.append(
            pretty_midi.TimeSignature(ts.numerator, ts.denominator, at))
    for index, part in enumerate(parts):
        name = names[index] if names else str(part.partName or f"part {index + 1}").strip()
        track = pretty_midi.Instrument(program=program, name=name)
        for element in part.stripTies().flatten().notes:
            start = (float(element.offset) + pad) * seconds
            end = start + float(element.quarterLength) * seconds
            if end <= start:
                continue  # grace notes
            for pitch in element.pitches:
                track.notes.append(pretty_midi.Note(VELOCITY, int(pitch.midi), start, end))
        midi.instruments.append(track)
    return midi


def convert(path: Path) -> tuple[str, pretty_midi.PrettyMIDI | None, str]:
    """(file name, MIDI or None, why not)."""
    name = path.stem.replace(".", "_") + ".mid"
    try:
        score = corpus.parse(str(path))
    except Exception as exc:  # music21 raises many kinds
        return name, None, f"music21 cannot parse it ({type(exc).__name__})"
    found = {str(p.partName).strip() for p in score.parts}
    if not set(VOICES) <= found:
        return name, None, "not four parts named Soprano, Alto, Tenor, Bass"
    midi = score_to_midi(score, list(VOICES))
    if any(not track.notes for track in midi.instruments):
        return name, None, "a voice has no notes"
    return name, midi, ""


# music21 corpus paths of each outside set: the madrigals (five voices), and the scores
# for a keyboard alone (the corpus's lieder and chamber music are left out)
PIANO_SCORES = ("joplin/maple_leaf_rag.mxl", "chopin/mazurka06-2.krn",
                "mozart/k545/movement1_exposition.mxl", "cpebach/h186.mxl",
                "schoenberg/opus19/movement2.mxl", "schoenberg/opus19/movement6.mxl",
                *(f"schumann_clara/polonaise_op1n{i}.mxl" for i in range(1, 5)))
OUTSIDE = {
    "madrigals": lambda: [p for p in corpus.getComposer("monteverdi")
                          if p.suffix in (".mxl", ".xml")],
    "piano": lambda: [Path(corpus.getWork(name)) for name in PIANO_SCORES],
}


def convert_outside(path: Path) -> tuple[str, pretty_midi.PrettyMIDI | None, str]:
    """Any score, every part a track (piano program: these are not choirs only)."""
    name = f"{path.parent.name}_{path.stem.replace('.', '_')}.mid"
    try:
        midi = score_to_midi(corpus.parse(str(path)), program=0)
    except Exception as exc:  # music21 raises many kinds
        return name, None, f"music21 cannot parse it ({type(exc).__name__})"
    return name, midi, ""


def write_outside(out: Path, which: str, workers: int) -> None:
    paths = sorted(OUTSIDE[which]())
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(convert_outside, paths, chunksize=4)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, midi, _ in results:
        if midi is not None:
            midi.write(str(out / name))
            written += 1
    print(f"{written} of {len(paths)} scores written to {out}")


def content_key(midi: pretty_midi.PrettyMIDI) -> str:
    notes = [(i, n.pitch, round(n.start, 4), round(n.end, 4))
             for i, track in enumerate(midi.instruments) for n in track.notes]
    return hashlib.sha256(repr(sorted(notes)).encode()).hexdigest()


def split_of(name: str) -> str:
    bucket = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return next(split for split, limit in SPLITS if bucket < limit)


def write_manifest(path: Path, rows: list[dict]) -> None:
    """One CSV row per file, columns as the first row names them."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outside", type=Path, help="convert an out-of-corpus set here")
    parser.add_argument("--set", choices=list(OUTSIDE), default="madrigals",
                        help="which out-of-corpus set --outside converts")
    args = parser.parse_args()
    if args.outside:
        write_outside(args.outside, args.set, args.workers)
        return
    paths = sorted(p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml"))
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(convert, paths, chunksize=8)
    skipped: Counter = Counter()
    seen: set[str] = set()
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    rows = []
    for name, midi, reason in sorted(results, key=lambda r: r[0]):
        if midi is None:
            skipped[reason] += 1
            continue
        key = content_key(midi)
        if key in seen:
            skipped["same four voices as another chorale"] += 1
            continue
        seen.add(key)
        split = split_of(name)
        (OUT_DIR / split).mkdir(parents=True, exist_ok=True)
        midi.write(str(OUT_DIR / split / name))
        meters = "; ".join(sorted({f"{t.numerator}/{t.denominator}"
                                   for t in midi.time_signature_changes}))
        rows.append({"split": split, "file": f"{split}/{name}", "meter": meters,
                     "qpm": round(midi.get_tempo_changes()[1][0], 2),
                     "notes": sum(len(t.notes) for t in midi.instruments)})
    write_manifest(OUT_DIR / "manifest.csv", rows)
    print(f"{len(rows)} chorales from {len(paths)} scores: "
          f"{dict(Counter(r['split'] for r in rows))}; skipped {dict(skipped)}")


if __name__ == "__main__":
    main()
