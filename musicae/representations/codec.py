"""Pieces ⇄ fixed-length windows, written once for every representation.

``encode_piece`` cuts a piece into windows of whole bars (see ``windows``),
``piece_windows`` lays them out in bar slots with duplicates removed and a
per-file cap applied (what a dataset stores); ``Representation.decode`` turns
a slotted window back into a piece. What differs between kinds comes from the
:class:`~musicae.representations.base.Representation` passed in.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from musicae.midi.notes import Meter, Piece, UnusableMidi
from musicae.representations.base import Representation
from musicae.representations.slots import to_slots_batch
from musicae.representations.windows import (
    Diagnostics,
    bar_spans,
    split_runs,
    spread,
    unique_rows,
)


@dataclass(frozen=True)
class Window:
    """One window's real steps: tokens (bars * steps_per_bar, *token_shape) in one meter.

    ``meter`` is the time signature of a window bar; ``source`` names the
    piece's own, which differs where a long bar was cut into parts (4/2 → 2/2).
    """

    tokens: np.ndarray
    steps_per_bar: int
    meter: tuple[int, int]
    source: str
    controls: dict[str, np.ndarray]  # name -> (bars * steps_per_bar,) labels


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


def encode_piece(piece: Piece, rep: Representation) -> list[Window]:
    """Every window of a piece, in order, before duplicates are removed."""
    return _encode(piece, rep)[0]


def piece_windows(
    piece: Piece, rep: Representation, path: str | os.PathLike | None = None
) -> FileWindows:
    """A piece's distinct windows in bar slots, at most ``rep.max_windows_per_file``.

    Raises
    ------
    UnusableMidi
        Naming ``path`` and why, when no window is left.
    """
    windows, diag = _encode(piece, rep)
    if not windows:
        raise UnusableMidi(path, diag.reason(rep.bars))
    keys = [w.steps_per_bar.to_bytes(2, "little") + w.tokens.tobytes()
            + b"".join(c.tobytes() for c in w.controls.values()) for w in windows]
    keep = unique_rows(keys)
    kept = [windows[i] for i in keep[spread(len(keep), rep.max_windows_per_file)]]
    spb = np.array([w.steps_per_bar for w in kept], dtype=np.int16)
    arrays = {
        "tokens": _slotted([w.tokens for w in kept], spb, rep, rep.token_shape, rep.token_dtype),
        "lengths": rep.window_lengths(spb),
        "meter": np.array([w.meter for w in kept], dtype=np.int16),
    }
    for name in rep.controls:
        arrays[name] = _slotted([w.controls[name] for w in kept], spb, rep, (), np.int16)
    return FileWindows(
        arrays=arrays,
        windows_by_meter=dict(Counter(w.source for w in kept).most_common()),
        bars_skipped=dict(diag.meter_skips),
    )


def _slotted(windows: list[np.ndarray], spb: np.ndarray, rep: Representation,
             shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Per-step arrays of windows in bar slots, one meter at a time: (n, bars * slot, *shape)."""
    out = np.zeros((len(windows), rep.steps, *shape), dtype=dtype)
    for bar_steps in np.unique(spb):
        rows = np.flatnonzero(spb == bar_steps)
        same = np.stack([windows[i] for i in rows])
        out[rows] = to_slots_batch(same, int(bar_steps), rep.slot)
    return out


@dataclass(frozen=True)
class SpanTokens:
    """A whole run of notes in one meter, encoded: what windows are cut from.

    tokens: (bars * steps_per_bar, *token_shape) starting at step ``start``,
    where a bar is one of ``unit`` (the meter's bar, or an equal part of a long one);
    controls: name -> (bars * steps_per_bar,) labels of the same steps.
    """

    start: int
    meter: Meter
    unit: tuple[int, int]
    steps_per_bar: int
    tokens: np.ndarray
    controls: dict[str, np.ndarray]


def encode_runs(piece: Piece, rep: Representation) -> list[tuple[int, np.ndarray]]:
    """Every run (a melody or part ended by a gap) as one token sequence, meters aside.

    Returns (first step, tokens) pairs; tokens cover the first note's start to
    the last note's end: (steps, *token_shape). Windows are cut from these.
    """
    runs = []
    for run in _fitted_runs(piece, rep, Diagnostics()):
        first, last = int(run["start"].min()), int(run["end"].max())
        runs.append((first, rep.encode_notes(run, first, last - first)))
    return runs


def _fitted_runs(piece: Piece, rep: Representation, diag: Diagnostics) -> Iterator[np.ndarray]:
    """The runs of every source of the piece, in range (dropped runs are counted)."""
    sources = rep.sources(piece)
    if not sources:
        diag.no_source = rep.no_source_reason(piece)
    for notes in sources:
        for run in split_runs(notes, piece, rep.gap_bars):
            fitted = rep.fit(run)
            if fitted is None:
                diag.dropped_runs += 1
            else:
                yield fitted


def _spans(piece: Piece, rep: Representation, diag: Diagnostics) -> list[SpanTokens]:
    spans = []
    for run in _fitted_runs(piece, rep, diag):
        first, last = int(run["start"].min()), int(run["end"].max())
        for span in bar_spans(first, last, piece, rep.slot, diag):
            steps = span.bars * span.steps_per_bar
            tokens = rep.encode_notes(run, span.start, steps)  # (steps, *token_shape)
            controls = rep.encode_controls(piece, span.start, steps, span.unit)
            spans.append(SpanTokens(span.start, span.meter, span.unit, span.steps_per_bar,
                                    tokens, controls))
    return spans


def _encode(piece: Piece, rep: Representation) -> tuple[list[Window], Diagnostics]:
    diag = Diagnostics()
    windows: list[Window] = []
    for span in _spans(piece, rep, diag):
        windows += _span_windows(span, rep, diag)
    return windows, diag


def _span_windows(span: SpanTokens, rep: Representation, diag: Diagnostics) -> list[Window]:
    """Windows every ``hop_bars`` across one span; those where a part has fewer than
    ``min_notes`` onsets are left out."""
    spb = span.steps_per_bar
    bars = len(span.tokens) // spb
    if bars < rep.bars:
        diag.short_runs += 1
        return []
    onsets = rep.onsets(span.tokens).reshape(len(span.tokens), -1)  # (steps, parts)
    onsets_before = np.concatenate([np.zeros((1, onsets.shape[1]), np.int64),
                                    np.cumsum(onsets, axis=0)])  # (steps + 1, parts)
    starts = np.arange(0, bars - rep.bars + 1, rep.hop_bars)  # first bar of each window
    counts = onsets_before[(starts + rep.bars) * spb] - onsets_before[starts * spb]
    enough = (counts >= rep.min_notes).all(axis=1)  # (windows,): every part has its onsets
    diag.sparse_windows += int(len(starts) - enough.sum())
    windows = []
    for bar in starts[enough].tolist():
        first, last = bar * spb, (bar + rep.bars) * spb
        controls = {name: c[first:last] for name, c in span.controls.items()}
        windows.append(Window(span.tokens[first:last], spb, span.unit, span.meter.name,
                              controls))
    return windows
