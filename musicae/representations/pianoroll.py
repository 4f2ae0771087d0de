"""Polyphonic notes ⇄ a piano-roll of three states per step and pitch.

Each (step, pitch) cell is ``PIANOROLL_OFF``, ``PIANOROLL_ONSET`` or
``PIANOROLL_HOLD``; marking onsets apart from held steps keeps two repeated
notes of one pitch distinct. A note that sounds into the first step from
before shows as HOLD there and decodes as a note starting at step 0.
"""

from __future__ import annotations

import numpy as np

from musicae.representations.constants import (
    MAX_PITCH,
    MIN_PITCH,
    PIANOROLL_HOLD,
    PIANOROLL_OFF,
    PIANOROLL_ONSET,
)
from musicae.representations.notes import make_notes


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
    pitches = pitch_count(min_pitch, max_pitch)
    in_range = (notes["pitch"] >= min_pitch) & (notes["pitch"] <= max_pitch)
    notes = notes[in_range & (notes["end"] > start) & (notes["start"] < start + n_steps)]
    column = notes["pitch"].astype(np.int64) - min_pitch
    first = np.clip(notes["start"] - start, 0, n_steps)
    last = np.clip(notes["end"] - start, 0, n_steps)
    # notes sounding in each cell: +1 where a note starts sounding, -1 where it stops,
    # added up along the steps (four bytes a cell, beside the roll's one)
    sounding = np.zeros((n_steps + 1, pitches), dtype=np.int32)
    np.add.at(sounding, (first, column), 1)
    np.subtract.at(sounding, (last, column), 1)
    np.cumsum(sounding, axis=0, out=sounding)
    roll = (sounding[:-1] > 0).view(np.uint8) * np.uint8(PIANOROLL_HOLD)
    onsets = notes["start"] - start
    inside = onsets >= 0
    roll[onsets[inside], column[inside]] = PIANOROLL_ONSET
    return roll


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
