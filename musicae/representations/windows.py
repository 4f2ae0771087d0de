"""Where windows can go, and why a piece gave none.

A *run* is a stretch of notes with no silence of ``gap_bars`` bars or more
inside it (as MusicVAE ends a melody at such a gap). A run is cut at every
time-signature change into *spans* of whole bars (``codec`` does both), so no
window ever straddles a meter change; a bar longer than a slot is cut into
equal groups of beats (:func:`bar_unit`). :class:`Diagnostics` names the reason
a piece yields no window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from musicae.midi.notes import Meter

QUARTERS_PER_DEFAULT_BAR = 4  # gap length used inside a meter that has no whole-step bar


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


def _meter_reason(meter: Meter) -> str:
    if meter.steps_per_bar == 0:
        return f"meter {meter.name} off the step grid"
    return f"meter {meter.name} does not fit the bar slot"


def spread(count: int, cap: int | None) -> np.ndarray:
    """At most ``cap`` indices of ``range(count)``, evenly spread: (min(count, cap),) int64."""
    if cap is None or count <= cap:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, cap).round().astype(np.int64))
