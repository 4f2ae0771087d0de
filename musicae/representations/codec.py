"""Pieces ⇄ windows: the one place a piece is cut into training windows.

Notes of many files (read by the compiled parser, or pieces: one file is a
batch of one) are one set of columns with a file number, and every step
(choosing lines, cutting runs at gaps, bringing them into range, laying out
bars meter by meter, encoding, choosing windows, removing duplicates, capping)
is one numpy call for the whole batch. What differs between kinds comes from
the :class:`~musicae.representations.base.Representation` passed in: a kind
chooses its lines and brings runs into range either for many files at once
(``lines_batch``, ``fit_batch``: melody, drums, piano-roll) or one piece at a
time (``sources``, ``fit``); encoding, controls and window choice are written
once, here. ``Representation.decode`` turns a slotted window back into a piece.

``tests/oracle.py`` is a plain per-file reference; ``tests/test_batched.py``
checks that this gives what it gives on every bundled file.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from musicae.midi.compiled import COLUMNS, Parsed
from musicae.midi.notes import NOTE_DTYPE, Meter, Piece, UnusableMidi, _to_steps, frame
from musicae.representations.base import Representation, named_parts, part_notes
from musicae.representations.slots import from_slots, to_slots_batch
from musicae.representations.windows import (
    QUARTERS_PER_DEFAULT_BAR,
    Diagnostics,
    _meter_reason,
    bar_unit,
    spread,
)


@dataclass(frozen=True)
class Window:
    """One window's real steps: tokens (bars * steps_per_bar, *token_shape) in one meter
    (an event kind's: its arrays as stored, (steps, *token_shape)), and its lengths.

    ``meter`` is the time signature of a window bar; ``source`` names the
    piece's own, which differs where a long bar was cut into parts (4/2 → 2/2).
    """

    tokens: np.ndarray
    steps_per_bar: int
    meter: tuple[int, int]
    source: str
    controls: dict[str, np.ndarray]  # name -> (bars * steps_per_bar,) labels
    lengths: np.ndarray  # (*length_shape,) as stored
    start: int = 0  # the piece's step it starts on


class WindowArrays:
    """Named arrays with one row per window: ``tokens`` (n, bars * slot, *token_shape),
    ``lengths`` (n, *length_shape) int16 (see ``Representation.length_shape``), ``meter``
    (n, 2) int16 (numerator, denominator of a window bar), and whatever else a
    representation stores."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["tokens"])

    @property
    def tokens(self) -> np.ndarray:
        return self.arrays["tokens"]

    @property
    def lengths(self) -> np.ndarray:
        return self.arrays["lengths"]

    @property
    def meter(self) -> np.ndarray:
        return self.arrays["meter"]

    def meter_of(self, index: int) -> tuple[int, int]:
        """Time signature of window ``index``'s bars."""
        numerator, denominator = self.meter[index]
        return int(numerator), int(denominator)


class Rows(Mapping):
    """One file's rows of many files' arrays, sliced only when an array is asked for (a
    cached split of 100,000 files is checked without making 100,000 slices, and a
    batch of files pickles its arrays once)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], start: int, stop: int) -> None:
        self.source, self.start, self.rows = arrays, start, stop - start

    def __getitem__(self, name: str) -> np.ndarray:
        return self.source[name][self.start : self.start + self.rows]

    def __reduce__(self) -> tuple:
        return Rows, (self.source, self.start, self.start + self.rows)

    def __iter__(self):
        return iter(self.source)

    def __len__(self) -> int:
        return len(self.source)


@dataclass(frozen=True)
class FileWindows(WindowArrays):
    """The windows of one piece as a dataset stores them (``arrays``, see WindowArrays).

    windows_by_meter: the piece's time signature → windows
    bars_skipped: reason → bars left out for their meter
    """

    arrays: Mapping[str, np.ndarray]
    windows_by_meter: dict[str, int]
    bars_skipped: dict[str, int]


SEGMENT = 1 << 40  # larger than any step or tick a piece may hold (see MAX_PIECE_QUARTERS)
# token cells (steps times cells a step: 88 for a roll, 1 for a melody) a batch lays out
# and cuts into windows at most (about 50 MB of temporaries for a roll); files past it go
# in further batches
BATCH_CELLS = 1 << 22
NO_NOTES = np.zeros(0, dtype=np.int64)  # a column of files without notes


@dataclass
class NoteBatch:
    """Notes of many files' lines on the step grid, one column each: (n,) int64.

    ``group`` numbers the lines a representation chose (a file's melody of one
    instrument, say), in file order; notes are sorted by group, then start.
    ``notes`` holds the whole notes where a kind's tokens read more than start, end
    and pitch (groove: velocity and offset), the same rows; else None.
    """

    file: np.ndarray
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    notes: np.ndarray | None = None

    def take(self, index: np.ndarray) -> NoteBatch:
        rest = None if self.notes is None else self.notes[index]
        return NoteBatch(*(column[index] for column in self.columns()), rest)

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.file, self.group, self.start, self.end, self.pitch

    def structured(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The notes as ``encode_notes`` reads them, starting and ending at these steps."""
        flat = np.zeros(len(start), dtype=NOTE_DTYPE) if self.notes is None \
            else self.notes.copy()
        flat["start"], flat["end"], flat["pitch"] = start, end, self.pitch
        return flat


Outcome = FileWindows | UnusableMidi


def piece_windows(piece: Piece, rep: Representation,
                  path: str | os.PathLike | None = None) -> FileWindows:
    """A piece's distinct windows in bar slots, at most ``rep.max_windows_per_file``.

    Raises
    ------
    UnusableMidi
        Naming ``path`` and why, when no window is left.
    """
    (found,) = pieces_windows([piece], rep, [path])
    if isinstance(found, UnusableMidi):
        raise found
    return found


def pieces_windows(pieces: Sequence[Piece], rep: Representation,
                   paths: Sequence[str | os.PathLike | None]) -> list[Outcome]:
    """Each piece's windows, or why it has none (see :func:`piece_windows`)."""
    lines, no_source = _lines(pieces, rep)
    found = _Windows(_MeterTable([p.meters for p in pieces], rep), rep, pieces)
    found.cut(lines)
    return [found.outcome(i, no_source.get(i, ""), path) for i, path in enumerate(paths)]


def encode_piece(piece: Piece, rep: Representation) -> list[Window]:
    """Every window of a piece, in order, duplicates and all (before the cap)."""
    lines, _ = _lines([piece], rep)
    found = _Windows(_MeterTable([piece.meters], rep), rep, [piece], distinct=False)
    found.cut(lines)
    arrays, meters = found.arrays, found.meters.meters
    windows = []
    for k, row in enumerate(found.rows.tolist()):
        real = rep.mask(arrays["lengths"][k : k + 1])[0]
        tokens = from_slots(arrays["tokens"][k], real) if rep.on_grid else arrays["tokens"][k]
        windows.append(Window(tokens, int(found.meters.unit_steps[row]),
                              found.meters.unit_of(row), meters[row].name,
                              {name: from_slots(arrays[name][k], real) if rep.on_grid
                               else arrays[name][k] for name in rep.controls},
                              arrays["lengths"][k], int(found.starts[k])))
    return windows


def encode_runs(piece: Piece, rep: Representation) -> list[tuple[int, np.ndarray]]:
    """Every run (a melody or part ended by a gap) as one token sequence, meters aside.

    Returns (first step, tokens) pairs; tokens cover the first note's start to
    the last note's end: (steps, *token_shape). Windows are cut from these.
    """
    lines, _ = _lines([piece], rep)
    notes, run, first, last, _ = _Windows(_MeterTable([piece.meters], rep), rep).runs(lines)
    found = []
    for r, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        one = notes.take(np.flatnonzero(run == r))
        found.append((lo, rep.encode_notes(one.structured(one.start, one.end), lo, hi - lo)))
    return found


def _lines(pieces: Sequence[Piece], rep: Representation) -> tuple[NoteBatch, dict[int, str]]:
    """The lines of pieces, chosen by the kind: many at once where it can
    (``lines_batch``), else piece by piece (``sources``)."""
    if rep.batchable:
        notes = np.concatenate([p.notes for p in pieces]) if pieces else np.zeros(0, NOTE_DTYPE)
        file = np.repeat(np.arange(len(pieces)), [len(p.notes) for p in pieces])
        part = np.concatenate([part_notes(p, rep.tracks) for p in pieces] or [np.zeros(0, bool)])
        if rep.programs is not None:
            part &= np.isin(notes["program"], rep.programs)
        columns = [notes[name].astype(np.int64) for name in ("start", "end", "pitch", "velocity")]
        return rep.lines_batch(len(pieces), file, *columns, part, notes["is_drum"],
                               notes["instrument"].astype(np.int64))
    found, no_source = [], {}
    for i, piece in enumerate(pieces):
        sources = rep.sources(piece)
        if not sources:
            no_source[i] = rep.no_source_reason(piece)
        found += [(i, notes[np.argsort(notes["start"], kind="stable")]) for notes in sources]
    dtype = found[0][1].dtype if found else NOTE_DTYPE
    notes = np.concatenate([notes for _, notes in found]) if found else np.zeros(0, dtype)
    sizes = [len(notes) for _, notes in found]
    file = np.repeat(np.array([i for i, _ in found], dtype=np.int64), sizes)
    group = np.repeat(np.arange(len(found), dtype=np.int64), sizes)
    return NoteBatch(file, group, *(notes[name].astype(np.int64)
                                    for name in ("start", "end", "pitch")), notes), no_source


def batch_windows(files: Sequence[Parsed], rep: Representation,
                  paths: Sequence[str | os.PathLike]) -> list[Outcome | None]:
    """Each file's windows, or why it has none: what ``piece_windows(parse_midi(data,
    path), rep, path)`` gives (or raises), file by file; None for a file that must be
    read into a piece first (a tick before zero: symusic's 32-bit ticks wrapped
    around). Only for kinds that choose their lines many files at once."""
    if not rep.columnar:
        raise ValueError(f"{rep.kind} windows are made from pieces")
    outcomes: list = [None] * len(files)
    notes = _notes(files, rep)
    file = notes["file"]
    counts = np.bincount(file, minlength=len(files))
    wrapped = np.bincount(file[notes["time"] < 0], minlength=len(files)) > 0
    last_ticks = np.zeros(len(files), dtype=np.int64)
    np.maximum.at(last_ticks, file, notes["time"] + notes["duration"])
    tpq = np.array([f.ticks_per_quarter for f in files], dtype=np.int64)
    # cells laid out, and those of the windows cut from them (each step in about
    # bars / hop_bars windows): a roll of 88 cells a step goes in parts
    cells = (last_ticks * rep.steps_per_quarter // tpq + 1) * math.prod(rep.token_shape) \
        * -(-rep.bars // rep.hop_bars)
    if len(files) > 1 and cells.sum() > BATCH_CELLS:
        return [outcome for lo, hi in _parts(cells.tolist(), BATCH_CELLS)
                for outcome in batch_windows(files[lo:hi], rep, paths[lo:hi])]
    meters: list[tuple[Meter, ...]] = [()] * len(files)
    spq = rep.steps_per_quarter
    for i, (parsed, count, last, skip) in enumerate(zip(
            files, counts.tolist(), last_ticks.tolist(), wrapped.tolist(), strict=True)):
        tempos, found = parsed.tempos, parsed.meters  # quantise's checks, file by file
        if skip or (tempos and min(tempos)[0] < 0) or (found and min(found)[0] < 0):
            continue  # keys below assume ticks from 0 up
        try:
            meters[i] = frame(paths[i], count, last, parsed.ticks_per_quarter, spq, tempos,
                              found)[1]
        except UnusableMidi as exc:
            outcomes[i] = exc
    chosen = np.array([bool(m) for m in meters])
    keep = chosen[file]
    notes = {name: values[keep] for name, values in notes.items()}
    file = notes["file"]
    ticks = tpq[file]
    start = _to_steps(notes["time"], ticks, spq)
    end = np.maximum(_to_steps(notes["time"] + notes["duration"], ticks, spq), start + 1)
    lines, no_source = rep.lines_batch(len(files), file, start, end, notes["pitch"],
                                       notes["velocity"], notes["part"].astype(bool),
                                       notes["is_drum"], notes["instrument"])
    found = _Windows(_MeterTable(meters, rep), rep)
    found.cut(lines)
    for i in np.flatnonzero(chosen).tolist():
        outcomes[i] = found.outcome(i, no_source.get(i, ""), paths[i])
    return outcomes


def _parts(sizes: list[int], most: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) parts of items whose sizes add up to at most ``most`` (an item
    larger than that alone)."""
    parts, lo, total = [], 0, 0
    for i, size in enumerate(sizes):
        if total and total + size > most:
            parts.append((lo, i))
            lo, total = i, 0
        total += size
    return [*parts, (lo, len(sizes))]


def _notes(files: Sequence[Parsed], rep: Representation) -> dict[str, np.ndarray]:
    """Every sounding note of the files as (n,) int64 columns in ticks, file by file and
    track by track: ``file``, ``instrument`` (the track), ``program``, ``is_drum``, ``part``
    (1 where the track's program and name are among ``rep``'s), ``time``, ``duration``,
    ``pitch``, ``velocity``."""
    tracks = [track for parsed in files for track in parsed.tracks]
    per_track = [len(track["time"]) for track in tracks]
    per_note = {
        "file": [i for i, parsed in enumerate(files) for _ in parsed.tracks],
        "instrument": [j for parsed in files for j in range(len(parsed.tracks))],
        "program": [p for parsed in files for p in parsed.programs],
        "is_drum": [d for parsed in files for d in parsed.drums],
        "part": [ok for parsed in files for ok in named_parts(parsed.names, rep.tracks)],
    }
    notes = {name: np.repeat(np.asarray(values, dtype=np.int64), per_track)
             for name, values in per_note.items()}
    for name in COLUMNS:
        notes[name] = np.concatenate([track[name] for track in tracks] or [NO_NOTES],
                                     dtype=np.int64)
    if rep.programs is not None:
        notes["part"] &= np.isin(notes["program"], rep.programs)
    sounding = notes["duration"] > 0
    return {name: values[sounding] for name, values in notes.items()}


class _MeterTable:
    """Every time-signature segment of the files, one row each, file by file."""

    def __init__(self, meters: list[tuple[Meter, ...]], rep: Representation) -> None:
        rows = [(i, m) for i, found in enumerate(meters) for m in found]
        self.meters = [m for _, m in rows]
        self.file = np.array([i for i, _ in rows], dtype=np.int64)
        self.start = np.array([m.start for m in self.meters], dtype=np.int64)
        ends = [SEGMENT if i + 1 == len(rows) or rows[i + 1][0] != f else rows[i + 1][1].start
                for i, (f, _) in enumerate(rows)]
        self.end = np.array(ends, dtype=np.int64)
        self.steps_per_bar = np.array([m.steps_per_bar for m in self.meters], dtype=np.int64)
        units = [bar_unit(m, rep.slot) for m in self.meters]
        self.unit = np.array([u or (0, 0) for u in units], dtype=np.int16).reshape(-1, 2)
        self.unit_steps = np.array([m.steps_per_bar * u[0] // m.numerator if u else 0
                                    for m, u in zip(self.meters, units, strict=True)],
                                   dtype=np.int64)  # steps of a window bar; 0: none fits
        self.count = np.bincount(self.file, minlength=len(meters))
        self.key = self.file * SEGMENT + self.start
        self.default_bar = QUARTERS_PER_DEFAULT_BAR * rep.steps_per_quarter

    def bar_at(self, file: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Steps per bar of the meter in force at each (file, step)."""
        row = np.searchsorted(self.key, file * SEGMENT + step, side="right") - 1
        bar = self.steps_per_bar[row]
        return np.where(bar > 0, bar, self.default_bar)

    def unit_of(self, row: int) -> tuple[int, int]:
        """The time signature of a window bar in segment ``row``."""
        numerator, denominator = self.unit[row].tolist()
        return numerator, denominator


class _Windows:
    """The windows of many files' lines: runs, spans of whole bars, tokens, windows.

    ``pieces``: the files as pieces, where a kind's controls are read from them;
    ``distinct=False`` keeps every window (duplicates and all, no cap).
    """

    def __init__(self, meters: _MeterTable, rep: Representation,
                 pieces: Sequence[Piece] | None = None, distinct: bool = True) -> None:
        self.rep, self.meters, self.pieces, self.distinct = rep, meters, pieces, distinct
        n_files = len(meters.count)
        self.dropped, self.short, self.sparse = (np.zeros(n_files, np.int64) for _ in range(3))
        self.skipped: dict[int, Counter] = {}

    def cut(self, lines: NoteBatch) -> None:
        """Every window of the lines: where windows go (every hop_bars bars of a span),
        their arrays (sliced from a step grid, or a kind's own: ``on_grid``), those with
        enough notes, duplicates removed, capped."""
        rep = self.rep
        notes, run, first, last, run_file = self.runs(lines)
        spans = self._spans(first, last, run_file)
        spans["offset"] = np.cumsum(spans["steps"]) - spans["steps"]  # where laid end to end
        short = spans["bars"] < rep.bars
        np.add.at(self.short, spans["file"][short], 1)
        span, within = _ranks(np.where(short, 0, (spans["bars"] - rep.bars) // rep.hop_bars + 1))
        bar = spans["bar"][span]
        start = spans["start"][span] + within * rep.hop_bars * bar  # the piece's steps
        if rep.on_grid:
            tokens = self._tokens(notes, run, spans)
            arrays, enough = self._sliced(tokens, self._controls(spans), spans["offset"][span]
                                          + within * rep.hop_bars * bar, bar)
        else:
            key = run * SEGMENT + notes.start
            at = spans["run"][span] * SEGMENT + start
            lo, hi = (np.searchsorted(key, edge, side="left") for edge in (at, at + rep.bars * bar))
            arrays, enough = rep.encode_windows(notes.notes, lo, hi, start, bar)
        file = spans["file"][span]
        np.add.at(self.sparse, file[~enough], 1)
        self._keep({name: values[enough] for name, values in arrays.items()}, file[enough],
                   bar[enough], spans["row"][span[enough]], start[enough])

    def runs(self, notes: NoteBatch) -> tuple:
        """Cut lines where nothing sounds for gap_bars bars; bring runs into range.
        Returns the notes kept, the run of each (numbered from 0), and each run's first
        step, last step and file."""
        group, start = notes.group, notes.start
        reach = np.maximum.accumulate(group * SEGMENT + notes.end) - group * SEGMENT
        new = np.ones(len(start), dtype=bool)
        gap = self.rep.gap_bars * self.meters.bar_at(notes.file[1:], reach[:-1])
        new[1:] = (group[1:] != group[:-1]) | (start[1:] - reach[:-1] >= gap)
        run, run_first = np.cumsum(new) - 1, np.flatnonzero(new)
        fit = self.rep.fit_batch if self.rep.batchable else self._fit_each
        fitted, fitted_run = fit(notes, run, run_first)
        kept = np.bincount(fitted_run, minlength=len(run_first)) > 0
        np.add.at(self.dropped, notes.file[run_first[~kept]], 1)
        notes, run = fitted, (np.cumsum(kept) - 1)[fitted_run]
        run_first = np.flatnonzero(np.diff(run, prepend=-1))
        last = np.maximum.reduceat(notes.end, run_first) if len(run_first) else run_first
        return notes, run, notes.start[run_first], last, notes.file[run_first]

    def _fit_each(self, notes: NoteBatch, run: np.ndarray, run_first: np.ndarray) -> tuple:
        """``fit_batch`` of a kind that brings one run into range at a time (``fit``)."""
        bounds = [*run_first.tolist(), len(run)]
        fitted = [(r, self.rep.fit(notes.notes[lo:hi]), int(notes.file[lo]))
                  for r, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
        fitted = [(r, found, file) for r, found, file in fitted if found is not None]
        sizes = [len(found) for _, found, _ in fitted]
        kept = np.concatenate([found for _, found, _ in fitted]) if fitted else notes.notes[:0]
        runs = np.repeat(np.array([r for r, _, _ in fitted], dtype=np.int64), sizes)
        file = np.repeat(np.array([f for _, _, f in fitted], dtype=np.int64), sizes)
        return NoteBatch(file, runs, *(kept[name].astype(np.int64)
                                       for name in ("start", "end", "pitch")), kept), runs

    def _spans(self, first: np.ndarray, last: np.ndarray, run_file: np.ndarray) -> dict:
        """Whole-bar spans of each run, one per meter segment it crosses (``bar_spans``)."""
        table = self.meters
        # the segments each run overlaps: from the one in force at its first step to the
        # last one starting before its end (a run is paired with those only)
        low = np.searchsorted(table.key, run_file * SEGMENT + first, side="right") - 1
        per_run = np.searchsorted(table.key, run_file * SEGMENT + last, side="left") - low
        pair_run, within = _ranks(per_run)
        row = low[pair_run] + within
        m_start, m_end, unit = table.start[row], table.end[row], table.unit_steps[row]
        lo = np.maximum(first[pair_run], m_start)
        hi = np.minimum(last[pair_run], m_end)
        for i in np.flatnonzero((lo < hi) & (unit == 0)).tolist():  # no window bar fits
            meter = table.meters[row[i]]
            bars = -(-int(hi[i] - lo[i]) // max(meter.steps_per_bar, 1))
            self.skipped.setdefault(int(table.file[row[i]]), Counter())[
                _meter_reason(meter)] += bars
        bar = np.where(unit > 0, unit, 1)
        first_bar = (lo - m_start) // bar
        end_bar = np.minimum(-(-(hi - m_start) // bar), (m_end - m_start) // bar)
        real = (lo < hi) & (unit > 0) & (end_bar > first_bar)
        bars = (end_bar - first_bar)[real]
        return {"run": pair_run[real], "row": row[real], "bar": bar[real], "bars": bars,
                "start": (m_start + first_bar * bar)[real], "steps": bars * bar[real],
                "file": run_file[pair_run[real]]}

    def _tokens(self, notes: NoteBatch, run: np.ndarray, spans: dict) -> np.ndarray:
        """Every span's tokens, one after another, and a last step that takes what falls
        outside all spans: each note's onset and end are written where they fall (or,
        for a roll, each note is cut at the edges of the spans it sounds in)."""
        offset = np.append(spans["offset"], spans["offset"][-1] + spans["steps"][-1]) \
            if len(spans["offset"]) else np.zeros(1, np.int64)
        outside = int(offset[-1])
        key = spans["run"] * SEGMENT + spans["start"]
        if not len(notes.start):  # (nothing to encode: a batch of files without notes)
            return np.zeros((outside + 1, *self.rep.token_shape), self.rep.token_dtype)
        if self.rep.rolls:
            return self._cut(notes, run, spans, key, outside + 1)

        def place(step: np.ndarray) -> np.ndarray:
            if not len(key):
                return np.full(len(step), outside)
            span = np.maximum(np.searchsorted(key, run * SEGMENT + step, side="right") - 1, 0)
            begin = spans["start"][span]
            inside = (spans["run"][span] == run) & (step >= begin) & (
                step < begin + spans["steps"][span])
            return np.where(inside, offset[span] + step - begin, outside)

        flat = notes.structured(place(notes.start), place(notes.end))
        return self.rep.encode_notes(flat, 0, outside + 1)

    def _controls(self, spans: dict) -> dict[str, np.ndarray]:
        """Each control's labels of every span, laid out as their tokens are (and the
        spare step): name → (steps + 1,) int16. Read from each span's piece."""
        if not self.rep.controls:
            return {}
        steps = int(spans["offset"][-1] + spans["steps"][-1]) if len(spans["steps"]) else 0
        out = {name: np.zeros(steps + 1, np.int16) for name in self.rep.controls}
        for file, row, start, length, offset in zip(*(spans[name].tolist() for name in (
                "file", "row", "start", "steps", "offset")), strict=True):
            unit = self.meters.unit_of(row)
            for name, labels in self.rep.encode_controls(self.pieces[file], start, length,
                                                         unit).items():
                out[name][offset : offset + length] = labels
        return out

    def _cut(self, notes: NoteBatch, run: np.ndarray, spans: dict, key: np.ndarray,
             n_steps: int) -> np.ndarray:
        """A roll of every span: each note once for each span of its run it sounds in,
        cut at the span's edges (as ``encode_notes`` of that span cuts it)."""
        # the spans a note may sound in: from the last one starting at or before its
        # start to the last one starting before its end
        low = np.maximum(np.searchsorted(key, run * SEGMENT + notes.start, side="right") - 1, 0)
        high = np.searchsorted(key, run * SEGMENT + notes.end, side="left")
        note, within = _ranks(np.maximum(high - low, 0))
        span = low[note] + within
        begin = spans["start"][span]
        end = begin + spans["steps"][span]
        start, stop = notes.start[note], notes.end[note]
        sounds = (spans["run"][span] == run[note]) & (stop > begin) & (start < end)
        note, span, begin, start, stop = (c[sounds] for c in (note, span, begin, start, stop))
        offset = spans["offset"][span] - begin
        first = np.maximum(start, begin) + offset
        last = np.minimum(stop, end[sounds]) + offset
        return self.rep.encode_cut(first, last, notes.pitch[note], start >= begin, n_steps)

    def _sliced(self, tokens: np.ndarray, controls: dict[str, np.ndarray], first: np.ndarray,
                bar: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The windows that start at laid step ``first`` (w,), ``rep.bars`` bars of ``bar``
        (w,) steps each, in slots, and which have enough onsets in every part (w,) bool."""
        rep = self.rep
        onsets = rep.onsets(tokens).reshape(len(tokens), -1)
        before = np.concatenate([np.zeros((1, onsets.shape[1]), np.int64),
                                 np.cumsum(onsets, axis=0)])
        counts = before[first + rep.bars * bar] - before[first]
        enough = (counts >= rep.min_notes).all(axis=1)
        laid = {"tokens": (tokens, rep.token_dtype)} | {
            name: (labels, np.int16) for name, labels in controls.items()}
        slotted = {name: np.zeros((len(first), rep.steps, *values.shape[1:]), dtype=dtype)
                   for name, (values, dtype) in laid.items()}
        for steps in distinct(bar[enough]).tolist():
            rows = np.flatnonzero((bar == steps) & enough)
            index = first[rows, None] + np.arange(rep.bars * steps)
            for name, (values, _) in laid.items():
                slotted[name][rows] = to_slots_batch(values[index], steps, rep.slot)
        arrays = {"tokens": slotted.pop("tokens"), "lengths": rep.window_lengths(bar)}
        return arrays | slotted, enough

    def _keep(self, arrays: dict[str, np.ndarray], file: np.ndarray, bar: np.ndarray,
              row: np.ndarray, start: np.ndarray) -> None:
        """The windows kept: duplicates of a file's window removed, at most
        ``max_windows_per_file`` a file (evenly spread); where each starts in its piece."""
        n_files = len(self.meters.count)
        kept = np.arange(len(file))
        if self.distinct:
            kept = kept[_first_of_each(file, bar, arrays.values())]
            kept = kept[_capped(file[kept], n_files, self.rep.max_windows_per_file)]
        row, self.starts = row[kept], start[kept]
        self.arrays = {"tokens": arrays["tokens"][kept], "lengths": arrays["lengths"][kept],
                       "meter": self.meters.unit[row]} | {
            name: values[kept] for name, values in arrays.items()
            if name not in ("tokens", "lengths")}
        self.rows = row
        file = file[kept]
        self.bounds = np.searchsorted(file, np.arange(n_files + 1)).tolist()
        self.first_row = row[np.minimum(self.bounds[:-1], max(len(row) - 1, 0))].tolist() \
            if len(row) else []
        self.by_meter = self._by_meter(file, row)

    def _by_meter(self, file: np.ndarray, row: np.ndarray) -> dict[int, dict[str, int]]:
        """Windows by meter name, most first (ties: first met first, as ``Counter``
        counts them), of each file whose windows have several meter segments."""
        mixed = distinct(file[1:][(row[1:] != row[:-1]) & (file[1:] == file[:-1])])
        take = np.isin(file, mixed)
        pairs, first, counts = np.unique(file[take] * SEGMENT + row[take], return_index=True,
                                         return_counts=True)
        found: dict[int, Counter] = {}
        meters = self.meters.meters
        for k in np.argsort(first, kind="stable").tolist():
            i, r = divmod(int(pairs[k]), SEGMENT)
            found.setdefault(i, Counter())[meters[r].name] += int(counts[k])
        return {i: dict(names.most_common()) for i, names in found.items()}

    def outcome(self, i: int, no_source: str, path: str | os.PathLike) -> Outcome:
        """File ``i``'s windows, or why it has none."""
        lo, hi = self.bounds[i], self.bounds[i + 1]
        skipped = self.skipped.get(i)
        if hi == lo:
            found = Diagnostics(no_source, skipped or Counter(), int(self.dropped[i]),
                                int(self.short[i]), int(self.sparse[i]))
            return UnusableMidi(path, found.reason(self.rep.bars))
        by_meter = self.by_meter.get(i) or {self.meters.meters[self.first_row[i]].name: hi - lo}
        return FileWindows(Rows(self.arrays, lo, hi), by_meter, dict(skipped) if skipped else {})


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-D array: ``np.unique(values)`` without the
    numpy.ma import that its first call makes (25 ms, in every worker)."""
    values = np.sort(values)
    return values[np.flatnonzero(np.diff(values, prepend=values[:1] - 1) != 0)] \
        if len(values) else values


def _first_of_each(file: np.ndarray, bar: np.ndarray, arrays) -> np.ndarray:
    """The first window of each distinct (file, bar length, arrays), in order: (m,) int64."""
    flat = [np.ascontiguousarray(a).reshape(len(a), int(np.prod(a.shape[1:]))).view(np.uint8)
            for a in arrays]  # (a batch may have no window at all)
    key = np.concatenate([file.astype("<i8").view(np.uint8).reshape(-1, 8),
                          bar.astype("<i8").view(np.uint8).reshape(-1, 8), *flat], axis=1)
    key = np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1]))).ravel()
    return np.sort(np.unique(key, return_index=True)[1])


def _ranks(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counts[k]`` entries for each k: whose each entry is and its rank among them,
    (sum,) and (sum,) int64 (counts (2, 3) → owners 0 0 1 1 1, ranks 0 1 0 1 2)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def _capped(file: np.ndarray, n_files: int, cap: int | None) -> np.ndarray:
    """Which of a file-sorted list of windows to keep so that no file has more than
    ``cap`` (evenly spread, as ``windows.spread``): (n,) bool."""
    keep = np.ones(len(file), dtype=bool)
    if cap is None:
        return keep
    counts = np.bincount(file, minlength=n_files)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in np.flatnonzero(counts > cap).tolist():
        keep[starts[i] : starts[i + 1]] = False
        keep[starts[i] + spread(int(counts[i]), cap)] = True
    return keep
