"""Measurable attributes of melody windows, for attribute vectors in latent space.

Each function takes melody tokens (n, steps) and a mask of real steps
(n, steps) and returns one value per window (NaN where a window has no note);
``Melody.attributes`` binds them to its pitch range and grid.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from musicae.midi.constants import STEPS_PER_QUARTER
from musicae.representations.constants import FIRST_PITCH_TOKEN, MIN_PITCH


def _onsets(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True where a note starts: (n, steps)."""
    return (tokens >= FIRST_PITCH_TOKEN) & mask


def _pitches(tokens: np.ndarray, onsets: np.ndarray, min_pitch: int) -> np.ndarray:
    """MIDI pitch at onsets, NaN elsewhere: (n, steps)."""
    pitch = tokens.astype(np.int64) - FIRST_PITCH_TOKEN + min_pitch
    return np.where(onsets, pitch, np.nan).astype(float)


def note_density(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Note onsets per real step."""
    return _onsets(tokens, mask).sum(1) / np.maximum(mask.sum(1), 1)


def pitch_range(tokens: np.ndarray, mask: np.ndarray, min_pitch: int = MIN_PITCH) -> np.ndarray:
    """Highest minus lowest pitch, in semitones."""
    pitches = _pitches(tokens, _onsets(tokens, mask), min_pitch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: windows with no note
        return np.nanmax(pitches, 1) - np.nanmin(pitches, 1)


def mean_pitch(tokens: np.ndarray, mask: np.ndarray, min_pitch: int = MIN_PITCH) -> np.ndarray:
    """Mean MIDI pitch of the notes (tokens of a range starting at ``min_pitch``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: windows with no note
        return np.nanmean(_pitches(tokens, _onsets(tokens, mask), min_pitch), 1)


def syncopation(tokens: np.ndarray, mask: np.ndarray,
                steps_per_quarter: int = STEPS_PER_QUARTER) -> np.ndarray:
    """Share of notes that start off the eighth-note grid (on odd sixteenths at 4 steps
    per quarter)."""
    onsets = _onsets(tokens, mask)
    eighth = max(steps_per_quarter // 2, 1)
    odd = onsets[:, np.arange(onsets.shape[1]) % eighth != 0].sum(1)
    with np.errstate(all="ignore"):
        return np.where(onsets.sum(1) > 0, odd / onsets.sum(1), np.nan)


MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])


def pitch_classes(tokens: np.ndarray, mask: np.ndarray, min_pitch: int = MIN_PITCH
                  ) -> np.ndarray:
    """Onsets per pitch class (C = 0) in each window: (n, 12)."""
    onsets = _onsets(tokens, mask)
    classes = (tokens.astype(np.int64) - FIRST_PITCH_TOKEN + min_pitch) % 12
    return np.stack([(onsets & (classes == c)).sum(1) for c in range(12)], axis=1)


def in_scale(tokens: np.ndarray, mask: np.ndarray, min_pitch: int = MIN_PITCH) -> np.ndarray:
    """Share of notes inside the window's best-fitting major (or relative minor) scale."""
    counts = pitch_classes(tokens, mask, min_pitch)
    scales = np.zeros((12, 12), bool)  # (tonic, pitch class)
    for tonic in range(12):
        scales[tonic, (MAJOR_SCALE + tonic) % 12] = True
    best = (counts @ scales.T).max(1)  # (n,): notes in the best of the 12 scales
    with np.errstate(all="ignore"):
        return np.where(counts.sum(1) > 0, best / counts.sum(1), np.nan)


Attribute = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (tokens, mask) -> (n,)

ATTRIBUTES: dict[str, Attribute] = {
    "density": note_density,
    "pitch_range": pitch_range,
    "mean_pitch": mean_pitch,
    "syncopation": syncopation,
}
