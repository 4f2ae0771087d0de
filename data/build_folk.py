"""Build the bundled folk corpus, data/folk/, from ABC files in music21's corpus.

Sources: the Essen folksong collection (music21/corpus/essenFolksong/*.abc) and
O'Neill's Music of Ireland, 1850 melodies (music21/corpus/oneills1850/*.abc).
Each .abc file is parsed once by music21 into an Opus of tunes; each tune becomes
one standard MIDI file written with pretty_midi: one monophonic instrument at
120 qpm and the tune's time signatures. MIDI bar lines fall on the written bar
lines: a pickup bar is padded with silence before it, and a bar of irregular
length gets a time signature of its own. Files go to train/, valid/ and test/ by
a hash of the file name, and manifest.csv lists them. See data/README.md.

Usage (needs the build extra: ``pip install -e .[build]``)::

    python data/build_folk.py [--workers 2] [--limit-files N]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import multiprocessing
import re
import shutil
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import music21
import pretty_midi
from music21 import chord, converter, harmony, meter, stream
from music21.abcFormat import translate

QPM = 120.0
SECONDS_PER_QUARTER = 60.0 / QPM
RESOLUTION = 480  # ticks per quarter: exact for 16ths, 32nds and triplets
PROGRAM = 73  # General MIDI "Flute" (0-based program number)
VELOCITY = 100
MIN_NOTES = 4
SPLITS = (("train", 90), ("valid", 95), ("test", 100))  # cumulative percent
# music21's own parser test fixtures: small files whose tunes repeat each other
# and tunes of the real Essen collections (han1, zuccal0, ...).
ESSEN_EXCLUDED = {"test0", "test1", "testd", "teste"}
ONEILLS_NUMBER = re.compile(r"(?mi)^[BNS]:[^\n]*?O'?Neill'?s[^\d\n]{0,5}(\d+)")
OUT_DIR = Path(__file__).resolve().parent / "folk"
SOURCES = {  # name -> folder of music21's corpus
    "essen": "essenFolksong",  # Essen folksong collection (bundled)
    "oneills": "oneills1850",  # O'Neill's Music of Ireland, 1903 (bundled)
    "ryans": "ryansMammoth",  # Ryan's Mammoth Collection of fiddle tunes, 1883 (not bundled)
    "airds": "airdsAirs",  # Aird's Selection of Scotch, English, Irish and Foreign Airs
}
EPS = 1e-6


@dataclass
class Tune:
    """One converted tune. Times are in quarter notes, already shifted for the pickup."""

    source: str  # "essen" or "oneills"
    collection: str  # .abc file stem, e.g. "erk10" or "0001-0050"
    index: int  # Essen: position in its file (1-based); O'Neill: number in the book
    title: str
    notes: list[tuple[int, float, float]]  # (pitch, start, end)
    meters: str  # declared meter(s) in order, e.g. "6/8" or "3/4+3/8"
    time_signatures: list[tuple[int, int, float]]  # (numerator, denominator, start)
    pickup: float  # length of the anacrusis in quarters, 0 if none
    irregular_bars: int  # bars given a time signature of their own length
    chords: int  # chords reduced to their top note
    file_name: str = field(default="")


@dataclass
class FileResult:
    """What one .abc file yielded: tunes, and reasons for the tunes it skipped."""

    path: Path
    tunes: list[Tune]
    skipped: Counter
    seconds: float


def list_abc_files(corpus: Path, sources: list[str]) -> list[tuple[str, Path]]:
    """(source, path) for every .abc file used, in a fixed order."""
    return [(source, p) for source in sources
            for p in sorted((corpus / SOURCES[source]).glob("*.abc"))
            if p.stem not in ESSEN_EXCLUDED or source != "essen"]


def _keep_bars(part, *, inPlace: bool = False):  # music21's keyword name
    """Stand-in for music21's ``reBar`` that leaves the bars as the ABC wrote them."""
    return None if inPlace else part


def parse_scores(path: Path) -> tuple[list, int]:
    """Parse an .abc file into scores; if the whole file fails, parse tune by tune.

    Returns the scores (None for a tune that failed) and the number of failures.
    """
    # music21 "re-bars" over-long ABC bars: it splits them and invents a time
    # signature (e.g. 1/16) for the overflow. Those are transcription slips, not
    # meter changes, so keep bars as written; bar_grid deals with them.
    translate.reBar = _keep_bars
    try:
        parsed = converter.parse(path, format="abc", forceSource=True)
        scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
        return scores, 0
    except Exception:  # music21 raises many types on bad ABC
        pass
    text = path.read_text(encoding="latin-1")
    chunks = re.split(r"(?m)^(?=X:)", text)[1:]
    scores, failures = [], 0
    for chunk in chunks:
        try:
            scores.append(converter.parseData(chunk, format="abc"))
        except Exception:
            scores.append(None)
            failures += 1
    return scores, failures


def melody_notes(part) -> tuple[list[tuple[int, float, float]], int]:
    """Monophonic (pitch, start, end) in quarters; grace notes dropped, chords to top note.

    ``part`` has ties already stripped. Returns the notes and the number of chords.
    """
    notes, chords = [], 0
    for measure in part.getElementsByClass(stream.Measure):
        for element in measure.recurse().notes:
            if isinstance(element, harmony.Harmony) or element.duration.isGrace:
                continue
            if isinstance(element, chord.Chord):
                chords += 1
                pitch = max(p.midi for p in element.pitches)
            else:
                pitch = element.pitch.midi
            start = float(measure.offset) + float(element.getOffsetInHierarchy(measure))
            notes.append((pitch, start, start + float(element.duration.quarterLength)))
    return make_monophonic(notes), chords


def make_monophonic(notes: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    """Keep the top note of simultaneous onsets and cut each note at the next onset."""
    ordered = sorted(notes, key=lambda n: (n[1], -n[0]))
    kept: list[tuple[int, float, float]] = []
    for pitch, start, end in ordered:
        if kept and abs(kept[-1][1] - start) < EPS:
            continue
        if kept and kept[-1][2] > start:
            kept[-1] = (kept[-1][0], kept[-1][1], start)
        kept.append((pitch, start, end))
    return [n for n in kept if n[2] - n[1] > EPS]


@dataclass
class Bar:
    """A bar as the ABC wrote it: start and length in quarters, and the declared meter."""

    start: Fraction
    length: Fraction
    meter: tuple[int, int]  # the M: field in force, e.g. (6, 8)

    @property
    def full(self) -> Fraction:
        """Length of a complete bar of the declared meter, in quarters."""
        return Fraction(4 * self.meter[0], self.meter[1])


def written_bars(part) -> list[Bar]:
    """The part's non-empty measures as Bars; empty if no meter is declared before them."""
    bars: list[Bar] = []
    current = None
    for measure in part.getElementsByClass(stream.Measure):
        for ts in measure.getElementsByClass(meter.TimeSignature):
            current = (int(ts.numerator), int(ts.denominator))
        length = Fraction(measure.duration.quarterLength)
        if length > 0:
            if current is None:
                return []
            bars.append(Bar(Fraction(measure.offset), length, current))
    return bars


def join_split_bars(bars: list[Bar]) -> list[Bar]:
    """Join two adjacent short bars that make one full bar (a bar split by a repeat sign)."""
    joined: list[Bar] = []
    for bar in bars:
        last = joined[-1] if joined else None
        is_pickup = len(joined) == 1  # a short first bar stays a pickup
        if (last is not None and not is_pickup and last.meter == bar.meter
                and last.length + bar.length == bar.full):
            joined[-1] = Bar(last.start, bar.full, bar.meter)
        else:
            joined.append(bar)
    return joined


def signature_for(length: Fraction, denominator: int) -> tuple[int, int] | None:
    """A time signature whose bar lasts ``length`` quarters, keeping the denominator if it can."""
    while denominator <= 64:
        numerator = length * denominator / 4
        if numerator.denominator == 1 and 1 <= numerator <= 255:
            return int(numerator), denominator
        denominator *= 2
    return None


def bar_grid(bars: list[Bar]) -> tuple[Fraction, list[tuple[int, int, Fraction]], int] | str:
    """Pickup shift, time signatures (num, den, shifted start) and number of irregular bars.

    Every written bar line becomes a MIDI bar line: a first bar shorter than the
    meter is a pickup (the tune is shifted so that it ends on the first bar
    line); any later bar whose length is not a whole number of declared bars
    (and is not a short last bar) gets a time signature of its own length.
    Returns a reason string if a bar length fits no time signature.
    """
    first = bars[0]
    shift = first.full - first.length if first.length < first.full else Fraction(0)
    signatures: list[tuple[int, int, Fraction]] = []
    irregular = 0
    for k, bar in enumerate(bars):
        short_end = bar.length < bar.full and k in (0, len(bars) - 1)
        if short_end or bar.length % bar.full == 0:
            meter = bar.meter
        else:
            meter = signature_for(bar.length, bar.meter[1])
            irregular += 1
            if meter is None:
                return "bar length fits no time signature"
        if not signatures or signatures[-1][:2] != meter:
            signatures.append((*meter, Fraction(0) if k == 0 else bar.start + shift))
    return shift, signatures, irregular


def convert_score(score, source: str, collection: str, index: int) -> Tune | str:
    """Turn one parsed tune into a Tune, or return the reason it is skipped."""
    if not score.parts:
        return "no notes"
    bars = join_split_bars(written_bars(score.parts[0]))  # before ties stretch the bars
    if not bars:
        return "no meter (M: none or free)"
    notes, chords = melody_notes(score.parts[0].stripTies())
    if len(notes) < MIN_NOTES:
        return f"fewer than {MIN_NOTES} notes"
    grid = bar_grid(bars)
    if isinstance(grid, str):
        return grid
    shift, signatures, irregular = grid
    # A signature at or after the last note (a closing bar of rests) says nothing,
    # and pretty_midi's get_downbeats mishandles a change at the very end.
    end = max(e for _, _, e in notes) + shift
    signatures = [ts for ts in signatures if ts[2] == 0 or ts[2] < end - EPS]
    declared = list(dict.fromkeys(f"{b.meter[0]}/{b.meter[1]}" for b in bars))
    return Tune(
        source=source,
        collection=collection,
        index=index,
        title=printable((score.metadata.title if score.metadata else None) or ""),
        meters="+".join(declared),
        notes=[(p, s + shift, e + shift) for p, s, e in notes],
        time_signatures=[(n, d, float(start)) for n, d, start in signatures],
        pickup=float(bars[0].length) if shift else 0.0,
        irregular_bars=irregular,
        chords=chords,
    )


def tune_indices(source: str, path: Path, scores: list) -> list[int]:
    """The position of each tune in its file; for O'Neill, the tune's number in the book.

    O'Neill's number is read from the "O'Neill's N" header line (B:, N: or S:),
    because a few X: fields are wrong (X:800 for tune 700, X:0 for tune 1646).
    """
    if source != "oneills":
        return list(range(1, len(scores) + 1))
    chunks = re.split(r"(?m)^(?=X:)", path.read_text(encoding="latin-1"))[1:]
    numbers = []
    for chunk in chunks:
        header = chunk.split("\nK:")[0]
        found = ONEILLS_NUMBER.search(header) or re.match(r"X:\s*(\d+)", chunk)
        numbers.append(int(found.group(1)) if found else 0)
    if len(numbers) != len(scores):
        raise ValueError(f"{path.name}: {len(chunks)} X: fields but {len(scores)} tunes parsed")
    return numbers


def convert_file(job: tuple[str, Path]) -> FileResult:
    """Worker: parse one .abc file and convert each of its tunes."""
    source, path = job
    started = time.perf_counter()
    scores, failures = parse_scores(path)
    tunes, skipped = [], Counter()
    if failures:
        skipped["parse error"] += failures
    for index, score in zip(tune_indices(source, path, scores), scores, strict=True):
        if score is None:
            continue
        try:
            result = convert_score(score, source, path.stem, index)
        except Exception as error:  # one odd tune must not stop the build
            result = f"conversion error ({type(error).__name__})"
        if isinstance(result, Tune):
            tunes.append(result)
        else:
            skipped[result] += 1
    return FileResult(path, tunes, skipped, time.perf_counter() - started)


def printable(text: str) -> str:
    """Drop control characters (a few Essen titles carry stray bytes)."""
    return "".join(ch for ch in text if ch.isprintable()).strip()


def slug(text: str, max_len: int = 40) -> str:
    """Lower-case ASCII slug of a title: letters, digits and single dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return cleaned[:max_len].rstrip("-") or "untitled"


def file_name(tune: Tune) -> str:
    """Safe, unique-per-tune MIDI file name."""
    if tune.source == "oneills":
        return f"oneills_{tune.index:04d}_{slug(tune.title)}.mid"
    if tune.source == "ryans":  # one tune per file, named after it
        return f"ryans_{slug(tune.collection)}.mid"
    return f"{tune.source}_{slug(tune.collection)}_{tune.index:04d}_{slug(tune.title)}.mid"


def split_of(name: str) -> str:
    """Deterministic train/valid/test assignment from a hash of the file name."""
    bucket = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return next(split for split, limit in SPLITS if bucket < limit)


def to_midi(tune: Tune) -> pretty_midi.PrettyMIDI:
    """One-instrument PrettyMIDI at 120 qpm with the tune's time signatures."""
    midi = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=QPM)
    instrument = pretty_midi.Instrument(program=PROGRAM, name="melody")
    for pitch, start, end in tune.notes:
        instrument.notes.append(pretty_midi.Note(
            velocity=VELOCITY, pitch=pitch,
            start=start * SECONDS_PER_QUARTER, end=end * SECONDS_PER_QUARTER))
    midi.instruments.append(instrument)
    midi.time_signature_changes = [
        pretty_midi.TimeSignature(num, den, start * SECONDS_PER_QUARTER)
        for num, den, start in tune.time_signatures]
    return midi


def deduplicate(tunes: list[Tune], skipped: Counter) -> list[Tune]:
    """Drop repeated O'Neill numbers (second transcriptions) and note-for-note copies.

    The first occurrence in file order is kept, so the result is deterministic.
    """
    kept, numbers, contents = [], set(), set()
    for tune in tunes:
        if tune.source == "oneills" and tune.index in numbers:
            skipped["duplicate O'Neill number (second transcription)"] += 1
            continue
        content = (tuple(tune.time_signatures), tuple(tune.notes))
        if content in contents:
            skipped["duplicate (same notes as an earlier tune)"] += 1
            continue
        if tune.source == "oneills":
            numbers.add(tune.index)
        contents.add(content)
        kept.append(tune)
    return kept


def run_conversion(jobs: list[tuple[str, Path]], workers: int) -> list[FileResult]:
    """Convert all files in parallel (largest first), returned in ``jobs`` order."""
    by_size = sorted(jobs, key=lambda job: -job[1].stat().st_size)
    results: dict[Path, FileResult] = {}
    with multiprocessing.Pool(workers) as pool:
        for done, result in enumerate(pool.imap_unordered(convert_file, by_size), start=1):
            results[result.path] = result
            print(f"[{done}/{len(jobs)}] {result.path.parent.name}/{result.path.name}: "
                  f"{len(result.tunes)} tunes, {sum(result.skipped.values())} skipped, "
                  f"{result.seconds:.1f} s", flush=True)
    return [results[path] for _, path in jobs]


def write_corpus(tunes: list[Tune], out_dir: Path, flat: bool = False) -> list[dict]:
    """Write the MIDI files into split folders (emptied first), or all into ``out_dir``
    itself when ``flat``; return manifest rows."""
    folders = [""] if flat else [split for split, _ in SPLITS]
    for folder in folders:
        shutil.rmtree(out_dir / folder, ignore_errors=True)
        (out_dir / folder).mkdir(parents=True)
    rows = []
    for tune in tunes:
        tune.file_name = file_name(tune)
        split = "all" if flat else split_of(tune.file_name)
        path = tune.file_name if flat else f"{split}/{tune.file_name}"
        to_midi(tune).write(str(out_dir / path))
        rows.append({
            "file": path, "split": split, "source": tune.source,
            "collection": tune.collection, "title": tune.title, "meters": tune.meters,
            "notes": len(tune.notes), "pickup_quarters": round(tune.pickup, 4),
            "irregular_bars": tune.irregular_bars,
        })
    with open(out_dir / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def print_summary(rows: list[dict], tunes: list[Tune], skipped: Counter,
                  out_dir: Path, seconds: float) -> None:
    """Counts by source, split and meter, skips by reason, size and time."""
    def show(title: str, counts: Counter) -> None:
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))

    print(f"\n{len(rows)} tunes written to {out_dir}")
    show("by source", Counter(r["source"] for r in rows))
    show("by split", Counter(r["split"] for r in rows))
    show("by meter", Counter(r["meters"] for r in rows))
    show("skipped", skipped)
    print(f"with pickup bar: {sum(t.pickup > 0 for t in tunes)}; "
          f"with declared meter changes: {sum('+' in t.meters for t in tunes)}; "
          f"with irregular bars: {sum(t.irregular_bars > 0 for t in tunes)}; "
          f"with chords reduced: {sum(t.chords > 0 for t in tunes)}")
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"size of {out_dir.name}/: {size / 1e6:.2f} MB; took {seconds / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit-files", type=int, default=None,
                        help="convert only the first N .abc files (for a quick try)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--sources", default="essen,oneills",
                        help=f"comma-separated, of {', '.join(SOURCES)} (default: the bundled "
                        "corpus; ryans and airds make folk MIDI from outside it)")
    parser.add_argument("--flat", action="store_true",
                        help="write every file into --out itself, with no split folders")
    args = parser.parse_args()
    sources = args.sources.split(",")
    unknown = set(sources) - set(SOURCES)
    if unknown:
        parser.error(f"unknown source(s) {sorted(unknown)}; known: {', '.join(SOURCES)}")

    started = time.perf_counter()
    jobs = list_abc_files(Path(music21.__file__).resolve().parent / "corpus", sources)
    results = run_conversion(jobs[: args.limit_files], args.workers)
    skipped = sum((r.skipped for r in results), Counter())
    tunes = deduplicate([t for r in results for t in r.tunes], skipped)
    rows = write_corpus(tunes, args.out, args.flat)
    print_summary(rows, tunes, skipped, args.out, time.perf_counter() - started)


if __name__ == "__main__":
    main()
