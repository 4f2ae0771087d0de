"""The windows of many files at once: ``codec.piece_windows``, vectorised across files.

Cutting one small file into windows is a few dozen numpy calls on a few dozen
notes: about 450 µs of Python a file, fifteen times what the compiled parser
takes to read it. Here the notes of a chunk of files are one set of columns
with a file number, and every step (quantising, choosing lines, cutting runs
at gaps, bringing them into range, laying out bars, encoding, choosing
windows, removing duplicates) is one numpy call for the whole chunk.

It covers what the compiled reader reads, for representations that can choose
their lines for many files at once (``Representation.batchable``); other files
take the per-file path. ``tests/test_batched.py`` checks that both paths give
the same windows, records and reasons on every bundled file.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from musicae.midi.compiled import COLUMNS, Parsed
from musicae.midi.notes import NOTE_DTYPE, Meter, UnusableMidi, _to_steps, frame
from musicae.representations.base import Representation, named_parts
from musicae.representations.codec import FileWindows, Rows
from musicae.representations.slots import to_slots_batch
from musicae.representations.windows import (
    QUARTERS_PER_DEFAULT_BAR,
    Diagnostics,
    _meter_reason,
    bar_unit,
    spread,
)

SEGMENT = 1 << 40  # larger than any step or tick a piece may hold (see MAX_PIECE_QUARTERS)
# token cells (steps times cells a step: 88 for a roll, 1 for a melody) a batch lays out
# and cuts into windows at most (about 50 MB of temporaries for a roll); files past it go
# in further batches
BATCH_CELLS = 1 << 22
NO_NOTES = np.zeros(0, dtype=np.int64)  # a column of files without notes


@dataclass
class NoteBatch:
    """Notes of many files on the step grid, one column each: (n,) int64.

    ``group`` numbers the lines a representation chose (a file's melody of one
    instrument, say); notes are sorted by group, then start.
    """

    file: np.ndarray
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray

    def take(self, index: np.ndarray) -> NoteBatch:
        return NoteBatch(*(column[index] for column in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.file, self.group, self.start, self.end, self.pitch


Outcome = FileWindows | UnusableMidi


def batch_windows(files: Sequence[Parsed], rep: Representation,
                  paths: Sequence[str | os.PathLike]) -> list[Outcome | None]:
    """Each file's windows, or why it has none: what ``piece_windows(parse_midi(data,
    path), rep, path)`` gives (or raises), file by file; None for a file the per-file
    path must take (a tick before zero: symusic's 32-bit ticks wrapped around)."""
    if not rep.batchable:
        raise ValueError(f"{rep.kind} windows are made file by file")
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
    found = _Windows(lines, _MeterTable(meters, rep), rep)
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


class _Windows:
    """The windows of many files' lines: runs, spans of whole bars, tokens, windows."""

    def __init__(self, lines: NoteBatch, meters: _MeterTable, rep: Representation) -> None:
        self.rep, self.meters = rep, meters
        n_files = len(meters.count)
        self.dropped, self.short, self.sparse = (np.zeros(n_files, np.int64) for _ in range(3))
        self.skipped: dict[int, Counter] = {}
        notes, run, first, last, run_file = self._runs(lines)
        spans = self._spans(first, last, run_file)
        tokens = self._tokens(notes, run, spans)
        self._choose(tokens, spans)

    def _runs(self, notes: NoteBatch) -> tuple:
        """Cut lines where nothing sounds for gap_bars bars; bring runs into range."""
        group, start = notes.group, notes.start
        reach = np.maximum.accumulate(group * SEGMENT + notes.end) - group * SEGMENT
        new = np.ones(len(start), dtype=bool)
        gap = self.rep.gap_bars * self.meters.bar_at(notes.file[1:], reach[:-1])
        new[1:] = (group[1:] != group[:-1]) | (start[1:] - reach[:-1] >= gap)
        run, run_first = np.cumsum(new) - 1, np.flatnonzero(new)
        notes, keep = self.rep.fit_batch(notes, run, run_first)
        kept = np.logical_or.reduceat(keep, run_first) if len(run_first) else keep[:0]
        np.add.at(self.dropped, notes.file[run_first[~kept]], 1)
        notes, run = notes.take(keep), (np.cumsum(kept) - 1)[run[keep]]
        run_first = np.flatnonzero(np.diff(run, prepend=-1))
        last = np.maximum.reduceat(notes.end, run_first) if len(run_first) else run_first
        return notes, run, notes.start[run_first], last, notes.file[run_first]

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
        offset = np.concatenate([[0], np.cumsum(spans["steps"])])
        spans["offset"] = offset[:-1]
        outside = int(offset[-1])
        key = spans["run"] * SEGMENT + spans["start"]
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

        flat = np.zeros(len(notes.start), dtype=NOTE_DTYPE)
        flat["start"], flat["end"] = place(notes.start), place(notes.end)
        flat["pitch"] = notes.pitch
        return self.rep.encode_notes(flat, 0, outside + 1)

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

    def _choose(self, tokens: np.ndarray, spans: dict) -> None:
        """Windows every hop_bars bars with enough onsets, in slots, duplicates removed."""
        rep, n_files = self.rep, len(self.meters.count)
        short = spans["bars"] < rep.bars
        np.add.at(self.short, spans["file"][short], 1)
        per_span = np.where(short, 0, (spans["bars"] - rep.bars) // rep.hop_bars + 1)
        span, within = _ranks(per_span)
        bar = spans["bar"][span]
        first = spans["offset"][span] + within * rep.hop_bars * bar
        onsets = rep.onsets(tokens).reshape(len(tokens), -1)
        before = np.concatenate([np.zeros((1, onsets.shape[1]), np.int64),
                                 np.cumsum(onsets, axis=0)])
        counts = before[first + rep.bars * bar] - before[first]
        enough = (counts >= rep.min_notes).all(axis=1)
        file = spans["file"][span]
        np.add.at(self.sparse, file[~enough], 1)
        span, first, bar, file = span[enough], first[enough], bar[enough], file[enough]

        slotted = np.zeros((len(first), rep.steps, *tokens.shape[1:]), dtype=rep.token_dtype)
        for steps in distinct(bar).tolist():
            rows = np.flatnonzero(bar == steps)
            index = first[rows, None] + np.arange(rep.bars * steps)
            slotted[rows] = to_slots_batch(tokens[index], steps, rep.slot)
        width = int(np.prod(slotted.shape[1:]))  # (a batch may have no window at all)
        key = np.concatenate([file.astype("<i8").view(np.uint8).reshape(-1, 8),
                              bar.astype("<i8").view(np.uint8).reshape(-1, 8),
                              slotted.reshape(len(slotted), width).view(np.uint8)], axis=1)
        key = np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1]))).ravel()
        kept = np.sort(np.unique(key, return_index=True)[1])
        kept = kept[_capped(file[kept], n_files, rep.max_windows_per_file)]
        row = spans["row"][span[kept]]
        self.arrays = {"tokens": slotted[kept], "lengths": rep.window_lengths(bar[kept]),
                       "meter": self.meters.unit[row]}
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
