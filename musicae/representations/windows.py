"""Where windows can go: runs of notes, whole bars, one meter at a time.

A *run* is a stretch of notes with no silence of ``gap_bars`` bars or more
inside it (as MusicVAE ends a melody at such a gap). A run is cut at every
time-signature change into *spans* of whole bars, so no window ever straddles
a meter change. Everything here works on note lists and step numbers, never
on arrays as long as the piece, so a note far away costs nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from musicae.midi.notes import Meter, Piece

QUARTERS_PER_DEFAULT_BAR = 4  # gap length used inside a meter that has no whole-step bar


@dataclass(frozen=True)
class Span:
    """``bars`` window bars of one meter, the first starting at step ``start``.

    A window bar is the meter's bar, or an equal part of it when the bar is
    longer than a slot (see :func:`bar_unit`): ``unit`` is its time signature.
    """

    meter: Meter
    unit: tuple[int, int]
    steps_per_bar: int
    start: int
    bars: int


def bar_unit(meter: Meter, slot: int) -> tuple[int, int] | None:
    """The time signature of a window bar in ``meter``: the bar itself if it fits a slot,
    else the fewest equal groups of its beats that do (4/2 → 2/2, 12/8 → 6/8, 9/8 → 3/8).

    None when no such part exists (a bar off the step grid, or 1/1 in 16-step slots).
    """
    steps = meter.steps_per_bar
    if 0 < steps <= slot:
        return (meter.numerator, meter.denominator)
    for parts in range(2, meter.numerator + 1):
        if steps and meter.numerator % parts == 0 and steps % parts == 0 and steps <= slot * parts:
            return (meter.numerator // parts, meter.denominator)
    return None


@dataclass
class Diagnostics:
    """What kept a piece's notes out of windows; names the reason when none is left."""

    no_source: str = ""  # the piece has no notes of the representation's kind
    meter_skips: Counter = field(default_factory=Counter)  # reason → bars skipped
    dropped_runs: int = 0  # runs dropped for pitches out of range
    short_runs: int = 0  # spans with fewer bars than a window
    sparse_windows: int = 0  # windows with fewer than min_notes onsets

    def reason(self, bars: int) -> str:
        """The countable reason a piece yields no window of ``bars`` bars."""
        if self.no_source:
            return self.no_source
        if self.meter_skips:
            return self.meter_skips.most_common(1)[0][0]
        if self.sparse_windows:
            return "too few notes per window"
        if self.dropped_runs and not self.short_runs:
            return "notes out of pitch range"
        return f"shorter than {bars} bars"


def split_runs(notes: np.ndarray, piece: Piece, gap_bars: int) -> list[np.ndarray]:
    """Cut notes where nothing sounds for ``gap_bars`` bars (of the meter at the gap).

    notes: (n,) ``NOTE_DTYPE`` → list of (n_i,) sorted by start, sum n_i = n.
    """
    if len(notes) == 0:
        return []
    notes = notes[np.argsort(notes["start"], kind="stable")]
    reach = np.maximum.accumulate(notes["end"])  # (n,) last step sounding so far
    silence = notes["start"][1:] - reach[:-1]  # (n - 1,)
    cuts = np.flatnonzero(silence >= gap_bars * _bar_steps_at(piece, reach[:-1])) + 1
    return np.split(notes, cuts)


def _bar_steps_at(piece: Piece, steps: np.ndarray) -> np.ndarray:
    """Steps per bar of the meter in force at each step: (n,) → (n,)."""
    starts = np.array([m.start for m in piece.meters])
    default_bar = QUARTERS_PER_DEFAULT_BAR * piece.steps_per_quarter
    bar = np.array([m.steps_per_bar or default_bar for m in piece.meters])
    return bar[np.searchsorted(starts, steps, side="right") - 1]


def bar_spans(first: int, last: int, piece: Piece, slot: int, diag: Diagnostics) -> list[Span]:
    """Whole-bar spans covering steps ``[first, last)``, one per meter segment.

    The bar holding the last note counts as whole; a bar cut short by a meter
    change does not. Bars longer than a slot are cut into equal parts
    (:func:`bar_unit`); segments where that fails are counted in
    ``diag.meter_skips`` instead.
    """
    spans = []
    for meter, end in piece.meter_spans():
        lo, hi = max(first, meter.start), min(last, end)
        if lo >= hi:
            continue
        unit = bar_unit(meter, slot)
        if unit is None:
            bar = max(meter.steps_per_bar, 1)
            diag.meter_skips[_meter_reason(meter)] += -(-(hi - lo) // bar)
            continue
        spb = meter.steps_per_bar * unit[0] // meter.numerator
        first_bar = (lo - meter.start) // spb
        end_bar = -(-(hi - meter.start) // spb)
        if end != float("inf"):
            end_bar = min(end_bar, int(end - meter.start) // spb)
        if end_bar > first_bar:
            start = meter.start + first_bar * spb
            spans.append(Span(meter, unit, spb, start, end_bar - first_bar))
    return spans


def _meter_reason(meter: Meter) -> str:
    if meter.steps_per_bar == 0:
        return f"meter {meter.name} off the step grid"
    return f"meter {meter.name} does not fit the bar slot"


def unique_rows(keys: list[bytes]) -> np.ndarray:
    """Indices of the first occurrence of each distinct key, in order: (m,) int64."""
    first: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return np.fromiter(first.values(), dtype=np.int64, count=len(first))


def spread(count: int, cap: int | None) -> np.ndarray:
    """At most ``cap`` indices of ``range(count)``, evenly spread: (min(count, cap),) int64."""
    if cap is None or count <= cap:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, cap).round().astype(np.int64))
