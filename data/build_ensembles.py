"""Build the bundled ensemble corpus, data/ensembles/, from the chamber music in
music21's corpus: string quartets (Beethoven, Haydn, Mozart), a trio sonata (Corelli),
an aria and a song with accompaniment (Handel, Schubert) and a clarinet
concertino with piano (Weber).

Every movement becomes one type-1 MIDI file with one named track per instrument and its
General MIDI program (violin 40, viola 41, cello 42, ...: by the part's name, else
music21's instrument), staves of one instrument (a piano's two hands) merged into one
track, its time signatures and tempo (see ``build_chorales.score_to_midi``). Files go to
train/, valid/ and test/ by work (all movements of a work in one split; two works each
for test and one for valid, named in ``SPLIT_OF``), and manifest.csv lists them. See
data/README.md.

Mozart's quartet K. 458 is kept out of data/: ``--outside DIR`` converts it (and nothing
else) into DIR, for the multitrack model's check on music it never saw.

Usage (needs the build extra: ``pip install -e .[build]``)::

    python data/build_ensembles.py [--workers 2]
    python data/build_ensembles.py --outside /tmp/outside_ensemble
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
from collections import Counter
from pathlib import Path

import pretty_midi
from build_chorales import score_to_midi, write_manifest
from music21 import corpus

# music21 corpus paths (MusicXML only: some works are there as Humdrum too)
WORKS = ("beethoven/opus18no1", "beethoven/opus18no3", "beethoven/opus18no4", "beethoven/opus18no5",
         "beethoven/opus59no1", "beethoven/opus59no2", "beethoven/opus59no3",
         "beethoven/opus74", "beethoven/opus132", "beethoven/opus133",
         "haydn/opus1no1", "haydn/opus74no1", "mozart/k155", "mozart/k156",
         "corelli/opus3no1", "handel/rinaldo", "schubert/Lindenbaum",
         "weber/concertino_clarinet")
OUTSIDE_WORK = "mozart/k458"
# too few works for a hash to split them fairly: valid and test by name, the rest train
SPLIT_OF = {"mozart/k156": "valid", "haydn/opus74no1": "test", "schubert/Lindenbaum": "test"}
# the program of a part, by a word of its name (any language the corpus uses)
PROGRAMS = (("violin", 40), ("violino", 40), ("viola", 41), ("cello", 42),
            ("violoncello", 42), ("violone", 42), ("contrabass", 43), ("piano", 0),
            ("organo", 19), ("organ", 19), ("harpsichord", 6), ("cembalo", 6),
            ("clarinet", 71), ("flute", 73), ("oboe", 68), ("bassoon", 70), ("horn", 60),
            ("trumpet", 56), ("voice", 52), ("soprano", 52), ("alto", 52), ("tenor", 52),
            ("basso", 52), ("canto", 52))
GENERIC = ("Instrument", "StringInstrument", "KeyboardInstrument")  # music21's vague ones
OUT_DIR = Path(__file__).resolve().parent / "ensembles"


def program_of(part) -> int:
    """The General MIDI program of a music21 part: by its name, else its instrument's."""
    name = str(part.partName or "").lower()
    for word, program in PROGRAMS:
        if word in name:
            return program
    instrument = part.getInstrument(returnDefault=True)
    if type(instrument).__name__ not in GENERIC and instrument.midiProgram is not None:
        return int(instrument.midiProgram)
    return 0


def work_paths(work: str) -> list[Path]:
    """The MusicXML files of a work (one a movement), in order."""
    composer = work.split("/")[0]
    found = []
    for path in map(Path, corpus.getComposer(composer)):
        posix = path.as_posix()
        tail = posix[posix.rindex(f"/{composer}/") + 1 :]
        if path.suffix in (".mxl", ".xml") and (tail.startswith(work + "/")
                                                or tail.rsplit(".", 1)[0] == work):
            found.append(path)
    return sorted(found)


def convert(item: tuple[str, Path]) -> tuple[str, str, pretty_midi.PrettyMIDI | None, str]:
    """(work, file name, MIDI or None, why not): every part a track with its program,
    parts of one name and program merged."""
    work, path = item
    name = f"{work.replace('/', '_')}_{path.stem.replace('.', '_')}.mid"
    try:
        score = corpus.parse(str(path))
        midi = score_to_midi(score, program=0)
    except Exception as exc:  # music21 raises many kinds
        return work, name, None, f"music21 cannot parse it ({type(exc).__name__})"
    merged: dict[tuple[str, int], pretty_midi.Instrument] = {}
    for track, part in zip(midi.instruments, score.parts, strict=True):
        program = program_of(part)
        key = (track.name, program)
        if key not in merged:
            merged[key] = pretty_midi.Instrument(program=program, name=track.name)
        merged[key].notes += track.notes
    midi.instruments = [track for track in merged.values() if track.notes]
    if len(midi.instruments) < 2:
        return work, name, None, "fewer than two instruments with notes"
    return work, name, midi, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outside", type=Path, help=f"convert {OUTSIDE_WORK} into here")
    args = parser.parse_args()
    works = [OUTSIDE_WORK] if args.outside else list(WORKS)
    items = [(work, path) for work in works for path in work_paths(work)]
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(convert, items, chunksize=1)
    out = args.outside or OUT_DIR
    if not args.outside:
        shutil.rmtree(OUT_DIR, ignore_errors=True)
    skipped: Counter = Counter()
    rows = []
    for work, name, midi, reason in results:
        if midi is None:
            skipped[reason] += 1
            continue
        split = "" if args.outside else SPLIT_OF.get(work, "train")
        (out / split).mkdir(parents=True, exist_ok=True)
        midi.write(str(out / split / name))
        rows.append({"split": split, "file": f"{split}/{name}" if split else name,
                     "work": work,
                     "tracks": "; ".join(f"{t.name} ({t.program})" for t in midi.instruments),
                     "meter": "; ".join(sorted({f"{t.numerator}/{t.denominator}"
                                                for t in midi.time_signature_changes})),
                     "notes": sum(len(t.notes) for t in midi.instruments)})
    if not args.outside:
        write_manifest(OUT_DIR / "manifest.csv", rows)
    print(f"{len(rows)} movements of {len(works)} works written to {out}: "
          f"{dict(Counter(r['split'] for r in rows))}; skipped {dict(skipped)}")


if __name__ == "__main__":
    main()
