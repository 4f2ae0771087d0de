"""Drum notes ⇄ nine drum classes per step, multi-hot or one 512-way index.

Drums carry onsets only: a hit lasts one step when decoded, on the first
(canonical) pitch of its class. Pitches outside MusicVAE's map are ignored.
The 512-way index of a step is the bitmask of the classes hit there (bit i =
class i), as in MusicVAE's ``MultiDrumOneHotEncoding``.
"""

from __future__ import annotations

import numpy as np

from musicae.midi.notes import make_notes
from musicae.representations.constants import (
    DRUM_CLASS_PITCHES,
    DRUM_CLASSES,
    DRUM_PITCH_TO_CLASS,
)

MIDI_PITCHES = 128
NO_CLASS = -1
# class of every MIDI pitch, NO_CLASS where MusicVAE's map has none: (128,)
PITCH_CLASS = np.full(MIDI_PITCHES, NO_CLASS, dtype=np.int64)
PITCH_CLASS[list(DRUM_PITCH_TO_CLASS)] = list(DRUM_PITCH_TO_CLASS.values())
CLASS_BITS = 2 ** np.arange(DRUM_CLASSES)  # (9,) weight of each class in the index
CANONICAL_PITCHES = np.array([pitches[0] for pitches in DRUM_CLASS_PITCHES])  # (9,)


def to_drum_classes(notes: np.ndarray) -> np.ndarray:
    """Drum notes reduced to canonical pitches and one-step hits; unmapped pitches dropped.

    notes: (n,) ``NOTE_DTYPE`` → (m,) m <= n.
    """
    classes = PITCH_CLASS[notes["pitch"]]
    hits = notes[classes != NO_CLASS].copy()
    hits["pitch"] = CANONICAL_PITCHES[classes[classes != NO_CLASS]]
    hits["end"] = hits["start"] + 1
    return hits


def encode_drums(notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
    """Multi-hot classes hit at each step of ``[start, start + n_steps)``.

    notes: (n,) ``NOTE_DTYPE`` drum notes → (n_steps, 9) bool.
    """
    hits = np.zeros((n_steps, DRUM_CLASSES), dtype=bool)
    onsets = notes["start"] - start
    classes = PITCH_CLASS[notes["pitch"]]
    inside = (onsets >= 0) & (onsets < n_steps) & (classes != NO_CLASS)
    hits[onsets[inside], classes[inside]] = True
    return hits


def multihot_to_index(hits: np.ndarray) -> np.ndarray:
    """(..., 9) bool → (...) int16 index in 0..511."""
    return (hits.astype(np.int64) @ CLASS_BITS).astype(np.int16)


def index_to_multihot(index: np.ndarray) -> np.ndarray:
    """(...) index in 0..511 → (..., 9) bool."""
    return (np.asarray(index)[..., None].astype(np.int64) & CLASS_BITS) > 0


def decode_drums(hits: np.ndarray) -> np.ndarray:
    """One-step drum notes on canonical pitches from multi-hot steps.

    hits: (n_steps, 9) bool → (m,) ``NOTE_DTYPE`` with starts relative to step 0.
    """
    steps, classes = np.nonzero(hits)
    return make_notes(steps, steps + 1, CANONICAL_PITCHES[classes], is_drum=True)


def hits_per_step(index: np.ndarray) -> np.ndarray:
    """Whether anything is hit at each step: (n_steps,) index → (n_steps,) int64 (0 or 1)."""
    return (index != 0).astype(np.int64)
