"""Polyphonic notes ⇄ a piano-roll of three states per step and pitch.

Each (step, pitch) cell is ``PIANOROLL_OFF``, ``PIANOROLL_ONSET`` or
``PIANOROLL_HOLD``; marking onsets apart from held steps keeps two repeated
notes of one pitch distinct. A note that sounds into the first step from
before shows as HOLD there and decodes as a note starting at step 0.
"""

from __future__ import annotations

import numpy as np

from musicae.midi.notes import make_notes
from musicae.representations.constants import (
    MAX_PITCH,
    MIN_PITCH,
    PIANOROLL_HOLD,
    PIANOROLL_OFF,
    PIANOROLL_ONSET,
)

SPARSE_BYTES = 24  # temporary bytes a sounding cell costs when only those are written


def pitch_count(min_pitch: int = MIN_PITCH, max_pitch: int = MAX_PITCH) -> int:
    """Pitches in a roll: the size of its last axis (88 for 21..108)."""
    return max_pitch - min_pitch + 1


def encode_pianoroll(
    notes: np.ndarray,
    start: int,
    n_steps: int,
    min_pitch: int = MIN_PITCH,
    max_pitch: int = MAX_PITCH,
) -> np.ndarray:
    """The roll of steps ``[start, start + n_steps)``; notes out of the pitch range are left out.

    notes: (n,) ``NOTE_DTYPE`` → (n_steps, max_pitch - min_pitch + 1) uint8.
    """
    in_range = (notes["pitch"] >= min_pitch) & (notes["pitch"] <= max_pitch)
    notes = notes[in_range & (notes["end"] > start) & (notes["start"] < start + n_steps)]
    first = notes["start"] - start
    return roll(np.maximum(first, 0), np.minimum(notes["end"] - start, n_steps),
                notes["pitch"].astype(np.int64) - min_pitch, first >= 0, n_steps,
                pitch_count(min_pitch, max_pitch))


def roll(first: np.ndarray, last: np.ndarray, column: np.ndarray, onset: np.ndarray,
         n_steps: int, pitches: int) -> np.ndarray:
    """The roll of notes sounding over steps ``[first, last)`` within ``[0, n_steps]`` at
    ``column``; ``onset`` False where a note sounds on from before step ``first`` (HOLD
    there, not ONSET). All (n,) → (n_steps, pitches) uint8.
    """
    # the notes of each pitch merged where they overlap or touch: runs of sounding
    # steps, apart from one another
    order = np.lexsort((first, column))
    begin, end, at = first[order], last[order], column[order]
    reach = np.maximum.accumulate(at * (n_steps + 1) + end) - at * (n_steps + 1)
    new = np.ones(len(order), dtype=bool)
    new[1:] = (at[1:] != at[:-1]) | (begin[1:] > reach[:-1])
    merged = np.flatnonzero(new)
    begin, end, at = begin[merged], np.maximum.reduceat(end, merged), at[merged]
    sounds = end > begin  # (a note of no length sounds nowhere)
    begin, end, at = begin[sounds], end[sounds], at[sounds]
    length = end - begin
    if int(length.sum()) * SPARSE_BYTES <= n_steps * pitches:  # few cells sound: write those
        cells = np.zeros((n_steps, pitches), dtype=np.uint8)
        step = np.arange(int(length.sum())) + np.repeat(begin - np.cumsum(length) + length,
                                                        length)
        cells[step, np.repeat(at, length)] = PIANOROLL_HOLD
    else:  # +1 where a run starts, -1 where it stops, added up along the steps (a byte a cell)
        edges = np.zeros((n_steps + 1, pitches), dtype=np.int8)
        edges[begin, at] = 1
        edges[end, at] = -1
        np.cumsum(edges, axis=0, dtype=np.int8, out=edges)
        cells = edges[:-1].view(np.uint8) * np.uint8(PIANOROLL_HOLD)
    cells[first[onset], column[onset]] = PIANOROLL_ONSET
    return cells


def decode_pianoroll(roll: np.ndarray, min_pitch: int = MIN_PITCH) -> np.ndarray:
    """Notes of a roll: each starts at an ONSET (or a HOLD after silence) and ends at the next.

    roll: (n_steps, pitches) → (m,) ``NOTE_DTYPE`` with starts relative to step 0.
    """
    sounding = roll != PIANOROLL_OFF  # (n_steps, pitches)
    before = np.vstack([np.zeros((1, roll.shape[1]), dtype=bool), sounding[:-1]])
    starts = (roll == PIANOROLL_ONSET) | (sounding & ~before)
    boundary = starts | ~sounding  # where any note sounding before stops
    onset_step, onset_pitch = np.nonzero(starts.T)[::-1]  # ordered by pitch, then step
    ends = np.empty_like(onset_step)
    for pitch in np.unique(onset_pitch):
        at = onset_pitch == pitch
        cuts = np.append(np.flatnonzero(boundary[:, pitch]), roll.shape[0])
        ends[at] = cuts[np.searchsorted(cuts, onset_step[at], side="right")]
    return make_notes(onset_step, ends, onset_pitch + min_pitch)


def onsets_per_step(roll: np.ndarray) -> np.ndarray:
    """Notes starting at each step: (n_steps, pitches) → (n_steps,) int64."""
    return (roll == PIANOROLL_ONSET).sum(axis=1, dtype=np.int64)
