"""Build the bundled pop corpus, data/pop909/, from POP909 (Wang et al., ISMIR 2020; MIT).

Source: the folder ``POP909/`` of the public repository music-x-lab/POP909-Dataset,
read at one pinned commit from a local git copy (bare or not). Each of the 909
songs has a main MIDI file ``NNN/NNN.mid`` (tracks MELODY, BRIDGE and PIANO)
and annotations; the ``versions/`` takes are left out. POP909's MIDI files
follow the performance's beat, not a fixed grid, and their time signatures
are mostly wrong (many say 1/4), so each song is written anew:

- **Beats.** ``beat_midi.txt`` gives every beat's time in seconds and two
  downbeat flags: column 2 marks groups of ``num_beats_per_measure`` beats
  (2 or 3, from ``index.xlsx``), column 3 pairs of those groups. A tempo
  change on every beat puts each annotated beat on a beat of the written file:
  a quarter note, or a dotted quarter where ``num_quavers_per_beat`` is 3.
  Notes keep their place between beats, at 480 ticks per quarter (musicae's
  reader quantises them).
- **Bars and meter.** A bar is 4 beats (column 3) where the groups hold 2
  beats, and 3 beats (column 2) where they hold 3: 4/4 and 3/4, or 12/8 and
  9/8 with dotted-quarter beats. A bar of any other length between two
  annotated downbeats gets a time signature of its own. Beats before the first
  downbeat are a pickup, padded with silence to whole bars; beats are
  extrapolated (at the first and last beat's spacing) over notes before the
  first and after the last annotated beat.
- **Tracks.** MELODY, BRIDGE and PIANO, with their programs, channels,
  velocities, control changes (the sustain pedal) and pitch bends.
- **Chords.** ``chord_midi.txt``'s symbols (Harte shorthand) become musicae's
  48 triads and no-chord (``musicae.representations.chords``), written to
  ``NNN.chords.csv`` in quarter notes of the written file with the original
  symbol and how it was mapped (``clean``, ``approx``, ``no_third``, ``none``).
- **Raw files.** ``beat_midi.txt``, ``chord_midi.txt`` and ``key_audio.txt``
  are kept unchanged beside the MIDI file as ``NNN.<name>`` (their times are
  the original file's seconds; ``key_audio.txt``'s are the audio's).

Songs go to ``train/``, ``valid/`` and ``test/`` (80/10/10 by song, see
``split_songs``). ``manifest.csv`` has one row per song and ``SOURCE`` the
repository, commit, licence and attribution. The output is the same on every
run. See data/README.md.

Usage::

    python data/build_pop909.py [--mirror GIT_DIR] [--commit HASH] [--workers 2]
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing
import shutil
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import mido
import numpy as np
import pretty_midi
from build_groove import full_hash, mirror_parser, read_tree

from musicae.errors import MusicaeError
from musicae.representations.chords import (
    NO_CHORD,
    QUALITIES,
    chord_name,
    parse_chord,
    voicing,
)

REPOSITORY = "https://github.com/music-x-lab/POP909-Dataset"
COMMIT = "d83e6edba6872a704f5d3b8b32f5cb540088dae6"
MIRROR = Path("/work/.mirror/music-x-lab+POP909-Dataset/repo/.git")
FOLDER = "POP909"
ANNOTATIONS = ("beat_midi.txt", "chord_midi.txt", "key_audio.txt")  # kept beside the MIDI
TRACKS = ("MELODY", "BRIDGE", "PIANO")
TICKS_PER_QUARTER = 480
CHORD_VELOCITY = 50  # the CHORDS track is an annotation: quiet where it is played
SPLIT_SHARES = (("train", 0.8), ("valid", 0.1), ("test", 0.1))  # shares of the songs
SPLIT_SEED = "pop909"  # salts the hash that orders the songs for the split
OUT_DIR = Path(__file__).resolve().parent / "pop909"
LICENCE = "MIT License, Copyright (c) 2020 Music X Lab (see LICENSE)"
ATTRIBUTION = (
    "POP909: Ziyu Wang, Ke Chen, Junyan Jiang, Yiyi Zhang, Maoran Xu, Shuqi Dai, Guxian Bin "
    "and Gus Xia, \"POP909: A Pop-song Dataset for Music Arrangement Generation\", "
    "Proceedings of the 21st International Society for Music Information Retrieval "
    "Conference (ISMIR), 2020. https://arxiv.org/abs/2008.07142")

# chord_midi.txt's qualities (Harte shorthand, any /bass) → the musicae triad quality
# (index into QUALITIES: major, minor, diminished, augmented) and how well it maps.
TRIADS = {"maj": 0, "min": 1, "dim": 2, "aug": 3}  # the triad itself: "clean"
ADDED_TONES = {"maj7": 0, "7": 0, "maj6": 0, "min7": 1, "min6": 1, "minmaj7": 1,
               "hdim7": 2, "dim7": 2}  # a triad plus a sixth or seventh: "approx"
NO_THIRD = {"sus2", "sus4", "sus4(b7)"}  # no third: "no_third", third read from the notes
NO_CHORD_SYMBOL = "N"
MAPPINGS = ("clean", "approx", "no_third", "none")
TOLERANCE = 1e-3  # seconds: chord_midi.txt rounds times to 1e-6 s, beat_midi.txt does not


@dataclass(frozen=True)
class Meter:
    """How a song's annotated beats make bars."""

    beats_per_bar: int  # 4 (column 3 marks bars) or 3 (column 2 does)
    compound: bool  # a beat is a dotted quarter (three quavers), else a quarter

    @property
    def quarters_per_beat(self) -> float:
        return 1.5 if self.compound else 1.0

    def signature(self, beats: int) -> tuple[int, int]:
        """The time signature of a bar of ``beats`` beats: 4/4, 3/4, 2/4; 12/8, 9/8, 6/8."""
        return (3 * beats, 8) if self.compound else (beats, 4)


@dataclass(frozen=True)
class Grid:
    """The beats of the written file: annotated ones plus extrapolated ones at each end.

    times: (n,) seconds in the original file of beat 0..n-1 of the written file.
    downbeats: beat numbers where a bar starts, the first at 0.
    """

    times: np.ndarray
    downbeats: np.ndarray
    pad: int  # beats added before the first annotated one
    meter: Meter

    def ticks(self, seconds: np.ndarray) -> np.ndarray:
        """Ticks of the written file at original times, between beats linearly."""
        beats = np.interp(seconds, self.times, np.arange(len(self.times)))
        return np.round(beats * self.meter.quarters_per_beat * TICKS_PER_QUARTER).astype(int)

    def quarters(self, seconds: np.ndarray) -> np.ndarray:
        return self.ticks(seconds) / TICKS_PER_QUARTER


@dataclass
class Song:
    """One converted song: the written MIDI file, its chords and its manifest fields."""

    number: str
    midi: bytes
    chords: list[dict]  # one row of NNN.chords.csv each, plus its length in seconds
    bars: list[str]  # each bar's time signature, as "4/4"
    row: dict


# --- reading the source -------------------------------------------------------------


def read_index(xlsx: bytes) -> dict[str, dict[str, str]]:
    """``index.xlsx`` (one sheet of inline strings) as song number → its row by column name.

    Columns: song_id, name, artist, modify_times, num_beats_per_measure,
    num_quavers_per_beat.
    """
    sheet = zipfile.ZipFile(io.BytesIO(xlsx)).read("xl/worksheets/sheet1.xml")
    ns = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rows = [["".join(t.itertext()) for t in row.iterfind("x:c", ns)]
            for row in ElementTree.fromstring(sheet).iterfind("x:sheetData/x:row", ns)]
    header = rows[0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}


def read_beats(text: str) -> np.ndarray:
    """``beat_midi.txt``: (n, 3) float, one row a beat: seconds, first- and second-level
    downbeat flags (1.0 or 0.0)."""
    beats = np.loadtxt(io.StringIO(text), ndmin=2)
    if beats.shape[0] < 2 or beats.shape[1] != 3 or np.any(np.diff(beats[:, 0]) <= 0):
        raise ValueError("beat_midi.txt is not rising beat times with two flag columns")
    return beats


def song_meter(meta: dict[str, str], beats: np.ndarray) -> tuple[Meter, np.ndarray]:
    """The meter of a song and the annotated beats where its bars start."""
    group = int(meta["num_beats_per_measure"])
    gaps = np.diff(np.flatnonzero(beats[:, 1] == 1))
    if group not in (2, 3) or not len(gaps) or np.bincount(gaps).argmax() != group:
        raise ValueError("index.xlsx and beat_midi.txt disagree on beats per bar")
    meter = Meter(beats_per_bar=4 if group == 2 else 3,
                  compound=meta["num_quavers_per_beat"] == "3")
    column = 2 if group == 2 else 1
    return meter, np.flatnonzero(beats[:, column] == 1)


def beat_grid(beats: np.ndarray, downbeats: np.ndarray, meter: Meter,
              first: float, last: float) -> Grid:
    """The written file's beats: a pickup padded to whole bars, and beats extrapolated to
    cover the span ``[first, last]`` of seconds that notes and chords take."""
    times = beats[:, 0]
    before, after = times[1] - times[0], times[-1] - times[-2]
    pad = -int(downbeats[0]) % meter.beats_per_bar
    while times[0] - pad * before > first + TOLERANCE:
        pad += meter.beats_per_bar
    extra = max(0, int(np.ceil((last - TOLERANCE - times[-1]) / after)))
    grid = np.concatenate([times[0] - before * np.arange(pad, 0, -1), times,
                           times[-1] + after * np.arange(1, extra + 1)])
    leading = np.arange(0, pad + int(downbeats[0]), meter.beats_per_bar)
    return Grid(grid, np.concatenate([leading, downbeats + pad]), pad, meter)


# --- writing MIDI ------------------------------------------------------------------------


def to_track(events: list[tuple[int, int, mido.Message]], name: str = "") -> mido.MidiTrack:
    """A track from (tick, order at that tick, message): note-offs (order 0) before other
    events at the same tick."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def conductor(grid: Grid) -> tuple[mido.MidiTrack, list[str]]:
    """Time signatures (one per change of bar length) and a tempo per beat (where it
    changes); also each bar's signature, as "4/4"."""
    ticks_per_beat = grid.meter.quarters_per_beat * TICKS_PER_QUARTER
    events, bars, last = [], [], None
    lengths = np.diff(np.append(grid.downbeats, -1))
    lengths[-1] = grid.meter.beats_per_bar  # the last bar runs on in the song's meter
    for start, length in zip(grid.downbeats.tolist(), lengths.tolist(), strict=True):
        numerator, denominator = grid.meter.signature(length)
        bars.append(f"{numerator}/{denominator}")
        if (numerator, denominator) != last:
            events.append((round(start * ticks_per_beat), 1, mido.MetaMessage(
                "time_signature", numerator=numerator, denominator=denominator)))
            last = (numerator, denominator)
    tempo = None
    for beat, seconds in enumerate(np.diff(grid.times).tolist()):
        micros = round(seconds / grid.meter.quarters_per_beat * 1e6)
        if micros != tempo:
            events.append((round(beat * ticks_per_beat), 2,
                           mido.MetaMessage("set_tempo", tempo=micros)))
            tempo = micros
    return to_track(events), bars


def part(instrument: pretty_midi.Instrument, channel: int, grid: Grid) -> mido.MidiTrack:
    """One named track: its program, notes (at least a tick long), pedal and pitch bends."""
    events = [(0, 1, mido.Message("program_change", channel=channel,
                                  program=instrument.program))]
    notes = instrument.notes
    starts = grid.ticks(np.array([n.start for n in notes]))
    ends = np.maximum(grid.ticks(np.array([n.end for n in notes])), starts + 1)
    for note, start, end in zip(notes, starts.tolist(), ends.tolist(), strict=True):
        events.append((start, 2, mido.Message("note_on", channel=channel, note=note.pitch,
                                              velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", channel=channel, note=note.pitch)))
    controls = instrument.control_changes
    for cc, tick in zip(controls, grid.ticks(np.array([c.time for c in controls])).tolist(),
                        strict=True):
        events.append((tick, 1, mido.Message("control_change", channel=channel,
                                             control=cc.number, value=cc.value)))
    bends = instrument.pitch_bends
    for bend, tick in zip(bends, grid.ticks(np.array([b.time for b in bends])).tolist(),
                          strict=True):
        events.append((tick, 1, mido.Message("pitchwheel", channel=channel, pitch=bend.pitch)))
    return to_track(events, instrument.name)


def tracks_by_name(midi: pretty_midi.PrettyMIDI) -> list[pretty_midi.Instrument]:
    """MELODY, BRIDGE and PIANO, in that order (an empty one if a track has no events)."""
    found = {inst.name.strip().upper(): inst for inst in midi.instruments}
    return [found.get(name, pretty_midi.Instrument(0, name=name)) for name in TRACKS]


def chord_track(rows: list[dict], channel: int) -> mido.MidiTrack:
    """The annotated chords as a track named CHORDS: one block chord per run of equal
    labels, voiced as musicae writes chords (root position from the C below middle C).
    musicae's melody-over-chords kind reads a song's chords from such a track."""
    runs: list[list] = []  # [start, end, label] in quarters
    for row in rows:
        label = parse_chord(row["label"])
        if runs and runs[-1][2] == label and abs(runs[-1][1] - row["start"]) < 1e-6:
            runs[-1][1] = row["end"]
        else:
            runs.append([row["start"], row["end"], label])
    events = [(0, 1, mido.Message("program_change", channel=channel, program=0))]
    for start, end, label in runs:
        first, last = round(start * TICKS_PER_QUARTER), round(end * TICKS_PER_QUARTER)
        if last <= first:
            continue
        for pitch in voicing(label):
            events.append((first, 2, mido.Message("note_on", channel=channel, note=pitch,
                                                  velocity=CHORD_VELOCITY)))
            events.append((last, 0, mido.Message("note_off", channel=channel, note=pitch)))
    return to_track(events, "CHORDS")


# --- chords ------------------------------------------------------------------------------


def read_chords(text: str) -> list[tuple[float, float, str]]:
    """``chord_midi.txt``: (start seconds, end seconds, Harte symbol) per segment."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return [(float(start), float(end), symbol) for start, end, symbol in rows]


def map_chord(symbol: str, thirds: tuple[float, float]) -> tuple[int, str]:
    """A musicae chord label for a Harte symbol and how it maps (see ``MAPPINGS``).

    ``thirds``: seconds the major and the minor third above the root sound in the
    segment, which decide a chord without a third (major where neither sounds).
    """
    if symbol == NO_CHORD_SYMBOL:
        return NO_CHORD, "clean"
    root, _, rest = symbol.partition(":")
    quality = rest.split("/")[0]
    if quality in TRIADS:
        index, mapping = TRIADS[quality], "clean"
    elif quality in ADDED_TONES:
        index, mapping = ADDED_TONES[quality], "approx"
    elif quality in NO_THIRD:
        index, mapping = (1 if thirds[1] > thirds[0] else 0), "no_third"
    else:
        return NO_CHORD, "none"
    try:
        return parse_chord(root + QUALITIES[index][0]), mapping
    except MusicaeError:  # a root musicae cannot spell
        return NO_CHORD, "none"


def thirds_sounding(notes: np.ndarray, symbol: str, start: float, end: float
                    ) -> tuple[float, float]:
    """Seconds the major and minor third above ``symbol``'s root sound in [start, end).

    notes: (n, 3) start, end, pitch of every note of the song.
    """
    root = parse_chord(symbol.split(":")[0]) - 1  # the major triad on the root: 1 + root
    overlap = np.clip(np.minimum(notes[:, 1], end) - np.maximum(notes[:, 0], start), 0, None)
    pitch_class = notes[:, 2].astype(int) % 12
    return (float(overlap[pitch_class == (root + 4) % 12].sum()),
            float(overlap[pitch_class == (root + 3) % 12].sum()))


def chord_rows(segments: list[tuple[float, float, str]], notes: np.ndarray, grid: Grid
               ) -> list[dict]:
    """One row per annotated segment: where it lies in quarter notes of the written file,
    its musicae label, the original symbol, the mapping and its length in seconds."""
    rows = []
    starts = grid.quarters(np.array([s for s, _, _ in segments]))
    ends = grid.quarters(np.array([e for _, e, _ in segments]))
    for (start, end, symbol), q0, q1 in zip(segments, starts.tolist(), ends.tolist(),
                                            strict=True):
        quality = symbol.partition(":")[2].split("/")[0]
        thirds = thirds_sounding(notes, symbol, start, end) if quality in NO_THIRD else (0, 0)
        label, mapping = map_chord(symbol, thirds)
        rows.append({"start": round(q0, 4), "end": round(q1, 4), "label": chord_name(label),
                     "symbol": symbol, "mapping": mapping, "seconds": round(end - start, 6)})
    return rows


# --- one song ----------------------------------------------------------------------------


def convert_song(job: tuple[str, dict[str, bytes], dict[str, str]]) -> Song | tuple[str, str]:
    """Worker: one song's files → a Song, or (number, reason) when it cannot be used."""
    number, files, meta = job
    missing = [name for name in (f"{number}.mid", *ANNOTATIONS) if name not in files]
    if missing:
        return number, f"missing {missing[0]}"
    if not meta:
        return number, "not in index.xlsx"
    try:
        beats = read_beats(files["beat_midi.txt"].decode())
        meter, downbeats = song_meter(meta, beats)
        source = pretty_midi.PrettyMIDI(io.BytesIO(files[f"{number}.mid"]))
    except (ValueError, OSError, EOFError, KeyError) as error:
        return number, str(error).split("\n")[0] or type(error).__name__
    instruments = tracks_by_name(source)
    notes = np.array([(n.start, n.end, n.pitch) for inst in instruments for n in inst.notes])
    if not len(notes) or not downbeats.size:
        return number, "no notes" if not len(notes) else "no downbeats"
    segments = read_chords(files["chord_midi.txt"].decode())
    times = [notes[:, 0].min(), notes[:, 1].max()] + [t for s in segments for t in s[:2]]
    grid = beat_grid(beats, downbeats, meter, min(times), max(times))
    tempo_track, bars = conductor(grid)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    chords = chord_rows(segments, notes, grid)
    midi.tracks = [tempo_track] + [part(inst, channel, grid)
                                   for channel, inst in enumerate(instruments)]
    midi.tracks.append(chord_track(chords, len(instruments)))
    out = io.BytesIO()
    midi.save(file=out)
    row = song_row(meta, grid, bars, instruments, chords)
    row.update(pickup_beats=int(downbeats[0]), beats=len(beats),
               keys="+".join(line.split()[2] for line in
                             files["key_audio.txt"].decode().splitlines() if line.strip()))
    return Song(number, out.getvalue(), chords, bars, {"song": number, **row})


def song_row(meta: dict[str, str], grid: Grid, bars: list[str],
             instruments: list[pretty_midi.Instrument], chords: list[dict]) -> dict:
    """Manifest fields of one song: title, meter, bars, tempo, notes, chord coverage."""
    main = "/".join(map(str, grid.meter.signature(grid.meter.beats_per_bar)))
    clean = sum(c["seconds"] for c in chords if c["mapping"] == "clean")
    beat_seconds = float(np.median(np.diff(grid.times)))
    return {
        "name": meta["name"], "artist": meta["artist"], "meter": main,
        "meters": "+".join(sorted(set(bars), key=bars.index)),
        "bars": len(bars), "irregular_bars": sum(bar != main for bar in bars),
        "offset_seconds": round(float(grid.times[0]), 6),
        "qpm": round(60 / beat_seconds * grid.meter.quarters_per_beat, 2),
        **{f"{inst.name.lower()}_notes": len(inst.notes) for inst in instruments},
        "chords": len(chords),
        "chords_clean_share": round(clean / max(sum(c["seconds"] for c in chords), 1e-9), 4),
    }


# --- the corpus ---------------------------------------------------------------------------


def split_songs(numbers: list[str]) -> dict[str, str]:
    """Song number → split: songs ordered by SHA-256 of ``f"{SPLIT_SEED}:{number}"``, the
    first 80 % train, the next 10 % valid, the rest test (727 / 91 / 91 of 909)."""
    order = sorted(numbers, key=lambda n: hashlib.sha256(f"{SPLIT_SEED}:{n}".encode()).digest())
    splits, at = {}, 0
    for index, (split, share) in enumerate(SPLIT_SHARES):
        count = len(order) - at if index == len(SPLIT_SHARES) - 1 else round(share * len(order))
        splits.update({number: split for number in order[at: at + count]})
        at += count
    return splits


def song_jobs(files: dict[str, bytes]) -> list[tuple[str, dict[str, bytes], dict[str, str]]]:
    """(number, its files by name, its index.xlsx row) for every song folder."""
    index = read_index(files[f"{FOLDER}/index.xlsx"])
    by_song: dict[str, dict[str, bytes]] = {}
    for path, data in files.items():
        parts = path.split("/")
        if len(parts) == 3 and parts[1].isdigit():  # not versions/NNN-vK.mid
            by_song.setdefault(parts[1], {})[parts[2]] = data
    return [(number, by_song[number], index.get(number, {})) for number in sorted(by_song)]


def write_song(song: Song, split: str, files: dict[str, bytes], out_dir: Path) -> None:
    stem = out_dir / split / song.number
    stem.with_suffix(".mid").write_bytes(song.midi)
    for name in ANNOTATIONS:
        Path(f"{stem}.{name}").write_bytes(files[f"{FOLDER}/{song.number}/{name}"])
    with open(f"{stem}.chords.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["start", "end", "label", "symbol",
                                                    "mapping"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(song.chords)


def write_corpus(songs: list[Song], files: dict[str, bytes], commit: str, out_dir: Path
                 ) -> list[dict]:
    """Write split folders (emptied first), manifest.csv, SOURCE and LICENSE; return the
    manifest rows."""
    splits = split_songs([song.number for song in songs])
    for split, _ in SPLIT_SHARES:
        shutil.rmtree(out_dir / split, ignore_errors=True)
        (out_dir / split).mkdir(parents=True)
    rows = []
    for song in songs:
        split = splits[song.number]
        write_song(song, split, files, out_dir)
        rows.append({"file": f"{split}/{song.number}.mid", "split": split, **song.row})
    with open(out_dir / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "LICENSE").write_bytes(files["LICENSE"])
    (out_dir / "SOURCE").write_text(
        f"repository: {REPOSITORY}\nfolder: {FOLDER}/ (and LICENSE)\ncommit: {commit}\n"
        f"licence: {LICENCE}\nattribution: {ATTRIBUTION}\n"
        "changes: each song's NNN.mid re-timed onto its beat_midi.txt beats (a tempo change "
        "per beat, time signatures from the annotated downbeats); chord_midi.txt mapped to "
        "triads in NNN.chords.csv; beat_midi.txt, chord_midi.txt and key_audio.txt unchanged; "
        "versions/ and the audio annotations left out\n", encoding="utf-8")
    return rows


def print_summary(rows: list[dict], songs: list[Song], skipped: Counter, out_dir: Path,
                  seconds: float) -> None:
    def show(title: str, counts: Counter) -> None:
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    print(f"\n{len(rows)} songs written to {out_dir}")
    show("by split", Counter(r["split"] for r in rows))
    show("by meter", Counter(r["meter"] for r in rows))
    show("songs with irregular bars, by meter",
         Counter(r["meter"] for r in rows if r["irregular_bars"]))
    show("bars by time signature", Counter(bar for song in songs for bar in song.bars))
    print(f"bars: {sum(r['bars'] for r in rows)}, irregular: "
          f"{sum(r['irregular_bars'] for r in rows)}; songs with a pickup: "
          f"{sum(r['pickup_beats'] > 0 for r in rows)}")
    show("skipped", skipped)
    segments, times = Counter(), Counter()
    for song in songs:
        for chord in song.chords:
            segments[chord["mapping"]] += 1
            times[chord["mapping"]] += chord["seconds"]
    total_segments, total_seconds = sum(segments.values()), sum(times.values())
    for mapping in MAPPINGS:
        print(f"chords {mapping}: {segments[mapping]} segments "
              f"({segments[mapping] / total_segments:.1%}), {times[mapping] / 3600:.2f} h "
              f"({times[mapping] / total_seconds:.1%})")
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"size of {out_dir.name}/: {size / 1e6:.2f} MB; took {seconds / 60:.1f} min")


def main() -> None:
    parser = mirror_parser(__doc__.splitlines()[0], REPOSITORY, MIRROR, COMMIT, OUT_DIR)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    commit = full_hash(args.mirror, args.commit)
    files = read_tree(args.mirror, commit, FOLDER, keep=lambda path: "/versions/" not in path)
    files["LICENSE"] = read_tree(args.mirror, commit, "LICENSE")["LICENSE"]
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(convert_song, song_jobs(files), chunksize=8)
    songs = [r for r in results if isinstance(r, Song)]
    skipped = Counter(r[1] for r in results if not isinstance(r, Song))
    rows = write_corpus(songs, files, commit, args.out)
    print_summary(rows, songs, skipped, args.out, time.perf_counter() - started)


if __name__ == "__main__":
    main()
