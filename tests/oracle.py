"""A per-file reference for cutting a piece into windows: the oracle the codec is checked
against.

This is the plain, one-piece-at-a-time way of doing what ``codec`` does with
one set of numpy calls for many files: cut each line of the piece into runs at
gaps, bring each run into range, lay its bars out meter by meter, encode each
span, slide windows along it, drop duplicates, cap. It is written in the
obvious way on purpose, so a test can compare the two on real files. The line
choice of the kinds that the codec only knows in their vectorised form (melody,
drums, piano-roll, melody over chords) is written out here file by file; the other kinds' rules
(``sources``, ``fit``) are their own.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from musicae.midi.notes import Meter, Piece, UnusableMidi
from musicae.representations import Drums, Melody, MelodyChords, Pianoroll, drums, melody
from musicae.representations import windows as places
from musicae.representations.base import Representation, pitched_notes
from musicae.representations.codec import FileWindows
from musicae.representations.kinds import unpitched_reason
from musicae.representations.slots import to_slots_batch
from musicae.representations.windows import Diagnostics, bar_unit


@dataclass(frozen=True)
class Window:
    tokens: np.ndarray  # (bars * steps_per_bar, *token_shape)
    steps_per_bar: int
    meter: tuple[int, int]
    source: str
    controls: dict[str, np.ndarray]


def sources(rep: Representation, piece: Piece) -> list[np.ndarray]:
    """The lines of a piece, one file at a time."""
    if type(rep) is MelodyChords:  # the top line of all the pitched notes
        notes = pitched_notes(piece, rep.programs, rep.tracks)
        return [melody.skyline(notes)] if len(notes) else []
    if type(rep) is Melody:
        notes = pitched_notes(piece, rep.programs, rep.tracks)
        return [melody.skyline(notes[notes["instrument"] == i])
                for i in np.unique(notes["instrument"])]
    if type(rep) is Drums:
        hits = drums.to_drum_classes(piece.notes[piece.notes["is_drum"]])
        return [hits] if len(hits) else []
    if type(rep) is Pianoroll:
        notes = pitched_notes(piece, rep.programs, rep.tracks)
        return [notes] if len(notes) else []
    return rep.sources(piece)


def no_source_reason(rep: Representation, piece: Piece) -> str:
    if type(rep) in (Melody, MelodyChords, Pianoroll):
        return unpitched_reason(bool(piece.notes["is_drum"].all()), rep)
    if type(rep) is Drums:
        return "no drums"
    return rep.no_source_reason(piece)


def fit(rep: Representation, notes: np.ndarray) -> np.ndarray | None:
    """A run brought into range, or None when it is dropped."""
    if type(rep) in (Melody, MelodyChords):
        return melody.fit_range(notes, rep.min_pitch, rep.max_pitch, rep.out_of_range == "shift")
    if type(rep) is Drums:
        return notes
    if type(rep) is Pianoroll:
        notes = notes.copy()
        if rep.out_of_range == "shift":
            notes["pitch"] = melody.octave_shift(notes["pitch"], rep.min_pitch, rep.max_pitch)
        notes = notes[(notes["pitch"] >= rep.min_pitch) & (notes["pitch"] <= rep.max_pitch)]
        return notes if len(notes) else None
    return rep.fit(notes)


def split_runs(notes: np.ndarray, piece: Piece, gap_bars: int) -> list[np.ndarray]:
    """Cut notes where nothing sounds for ``gap_bars`` bars (of the meter at the gap)."""
    if len(notes) == 0:
        return []
    notes = notes[np.argsort(notes["start"], kind="stable")]
    reach = np.maximum.accumulate(notes["end"])
    silence = notes["start"][1:] - reach[:-1]
    starts = np.array([m.start for m in piece.meters])
    default_bar = places.QUARTERS_PER_DEFAULT_BAR * piece.steps_per_quarter
    bar = np.array([m.steps_per_bar or default_bar for m in piece.meters])
    at = bar[np.searchsorted(starts, reach[:-1], side="right") - 1]
    return np.split(notes, np.flatnonzero(silence >= gap_bars * at) + 1)


@dataclass(frozen=True)
class Span:
    meter: Meter
    unit: tuple[int, int]
    steps_per_bar: int
    start: int
    bars: int


def bar_spans(first: int, last: int, piece: Piece, slot: int, diag: Diagnostics) -> list[Span]:
    """Whole-bar spans covering steps ``[first, last)``, one per meter segment."""
    spans = []
    for meter, end in piece.meter_spans():
        lo, hi = max(first, meter.start), min(last, end)
        if lo >= hi:
            continue
        unit = bar_unit(meter, slot)
        if unit is None:
            bars = -(-(hi - lo) // max(meter.steps_per_bar, 1))
            diag.meter_skips[places._meter_reason(meter)] += bars
            continue
        spb = meter.steps_per_bar * unit[0] // meter.numerator
        first_bar = (lo - meter.start) // spb
        end_bar = -(-(hi - meter.start) // spb)
        if end != float("inf"):
            end_bar = min(end_bar, int(end - meter.start) // spb)
        if end_bar > first_bar:
            spans.append(Span(meter, unit, spb, meter.start + first_bar * spb,
                              end_bar - first_bar))
    return spans


def fitted_runs(piece: Piece, rep: Representation, diag: Diagnostics):
    found = sources(rep, piece)
    if not found:
        diag.no_source = no_source_reason(rep, piece)
    for notes in found:
        for run in split_runs(notes, piece, rep.gap_bars):
            fitted = fit(rep, run)
            if fitted is None:
                diag.dropped_runs += 1
            else:
                yield fitted


def encode_runs(piece: Piece, rep: Representation) -> list[tuple[int, np.ndarray]]:
    runs = []
    for run in fitted_runs(piece, rep, Diagnostics()):
        first, last = int(run["start"].min()), int(run["end"].max())
        runs.append((first, rep.encode_notes(run, first, last - first)))
    return runs


def encode_piece(piece: Piece, rep: Representation) -> tuple[list[Window], Diagnostics]:
    """Every window of a piece, in order, before duplicates are removed."""
    diag = Diagnostics()
    windows: list[Window] = []
    for run in fitted_runs(piece, rep, diag):
        first, last = int(run["start"].min()), int(run["end"].max())
        for span in bar_spans(first, last, piece, rep.slot, diag):
            spb = span.steps_per_bar
            steps = span.bars * spb
            if span.bars < rep.bars:
                diag.short_runs += 1
                continue
            if not rep.on_grid:  # an event kind: each window's notes, one window at a time
                windows += event_windows(run, span, rep, diag)
                continue
            tokens = rep.encode_notes(run, span.start, steps)
            controls = rep.encode_controls(piece, span.start, steps, span.unit)
            onsets = rep.onsets(tokens).reshape(steps, -1)
            before = np.concatenate([np.zeros((1, onsets.shape[1]), np.int64),
                                     np.cumsum(onsets, axis=0)])
            starts = np.arange(0, span.bars - rep.bars + 1, rep.hop_bars)
            counts = before[(starts + rep.bars) * spb] - before[starts * spb]
            enough = (counts >= rep.min_notes).all(axis=1)
            diag.sparse_windows += int(len(starts) - enough.sum())
            for bar in starts[enough].tolist():
                lo, hi = bar * spb, (bar + rep.bars) * spb
                windows.append(Window(tokens[lo:hi], spb, span.unit, span.meter.name,
                                      {name: c[lo:hi] for name, c in controls.items()}))
    return windows, diag


def event_windows(run: np.ndarray, span: Span, rep: Representation,
                  diag: Diagnostics) -> list[Window]:
    """The windows of an event kind in one span, each encoded from the notes starting in it
    (lengths and whatever else the kind stores as ``controls``, so that all are compared)."""
    found = []
    spb = span.steps_per_bar
    for bar in range(0, span.bars - rep.bars + 1, rep.hop_bars):
        begin = span.start + bar * spb
        inside = np.flatnonzero((run["start"] >= begin) & (run["start"] < begin + rep.bars * spb))
        lo, hi = (np.array([inside[0] if len(inside) else 0]),
                  np.array([inside[-1] + 1 if len(inside) else 0]))
        arrays, enough = rep.encode_windows(run, lo, hi, np.array([begin]), np.array([spb]))
        if not enough[0]:
            diag.sparse_windows += 1
            continue
        found.append(Window(arrays["tokens"][0], spb, span.unit, span.meter.name,
                            {name: a[0] for name, a in arrays.items() if name != "tokens"}))
    return found


def piece_windows(piece: Piece, rep: Representation,
                  path: str | os.PathLike | None = None) -> FileWindows:
    """A piece's distinct windows in bar slots, at most ``rep.max_windows_per_file``."""
    windows, diag = encode_piece(piece, rep)
    if not windows:
        raise UnusableMidi(path, diag.reason(rep.bars))
    first: dict[bytes, int] = {}
    for i, w in enumerate(windows):
        key = w.steps_per_bar.to_bytes(2, "little") + w.tokens.tobytes() + b"".join(
            c.tobytes() for c in w.controls.values())
        first.setdefault(key, i)
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    kept = [windows[i] for i in keep[places.spread(len(keep), rep.max_windows_per_file)]]
    spb = np.array([w.steps_per_bar for w in kept], dtype=np.int16)

    def slotted(arrays: list[np.ndarray], shape: tuple, dtype: type) -> np.ndarray:
        out = np.zeros((len(arrays), rep.steps, *shape), dtype=dtype)
        for bar_steps in np.unique(spb):
            rows = np.flatnonzero(spb == bar_steps)
            out[rows] = to_slots_batch(np.stack([arrays[i] for i in rows]), int(bar_steps),
                                       rep.slot)
        return out

    if not rep.on_grid:
        stored = {name: np.stack([w.controls[name] for w in kept]) for name in kept[0].controls}
        return FileWindows(
            arrays={"tokens": np.stack([w.tokens for w in kept]), "lengths": stored.pop("lengths"),
                    "meter": np.array([w.meter for w in kept], dtype=np.int16), **stored},
            windows_by_meter=dict(Counter(w.source for w in kept).most_common()),
            bars_skipped=dict(diag.meter_skips))
    arrays = {"tokens": slotted([w.tokens for w in kept], rep.token_shape, rep.token_dtype),
              "lengths": rep.window_lengths(spb),
              "meter": np.array([w.meter for w in kept], dtype=np.int16)}
    for name in rep.controls:
        arrays[name] = slotted([w.controls[name] for w in kept], (), np.int16)
    return FileWindows(arrays=arrays,
                       windows_by_meter=dict(Counter(w.source for w in kept).most_common()),
                       bars_skipped=dict(diag.meter_skips))
