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
from musicae.representations.constants import FIRST_PITCH_TOKEN, MIN_PITCH, NO_EVENT


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
    with np.errstate(all="ignore"):
        return np.where(counts.sum(1) > 0, in_best_scale(counts) / counts.sum(1), np.nan)


def in_best_scale(counts: np.ndarray) -> np.ndarray:
    """Of counts per pitch class (n, 12), how many fall in each window's best-fitting
    diatonic scale (major, or the natural minor of the same notes; the one of the 12
    that holds the most): (n,)."""
    scales = np.zeros((12, 12), bool)  # (tonic, pitch class)
    for tonic in range(12):
        scales[tonic, (MAJOR_SCALE + tonic) % 12] = True
    return (counts @ scales.T).max(1)


def note_lengths(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """How many real steps each note sounds (to the next event, or the window's last
    real step): every note of every window, window by window, (m,) int64."""
    real = np.cumsum(mask, 1) - 1  # (n, steps): the index of each real step among them
    total = mask.sum(1, keepdims=True)
    events = np.where((tokens != NO_EVENT) & mask, real, total)
    following = np.minimum.accumulate(events[:, ::-1], 1)[:, ::-1]  # the next event from here
    after = np.concatenate([following[:, 1:], total], 1)  # ... after here
    return (after - real)[_onsets(tokens, mask)].astype(np.int64)


def sounding_pitch_classes(tokens: np.ndarray, mask: np.ndarray, min_pitch: int = MIN_PITCH
                           ) -> np.ndarray:
    """Real steps on which each pitch class sounds (a note held counts on every step it
    lasts), per window: (n, 12)."""
    steps = np.arange(tokens.shape[1])
    last = np.maximum.accumulate(np.where((tokens != NO_EVENT) & mask, steps, -1), 1)
    token = np.take_along_axis(tokens.astype(np.int64), np.maximum(last, 0), 1)
    sounding = (last >= 0) & (token >= FIRST_PITCH_TOKEN) & mask
    classes = (token - FIRST_PITCH_TOKEN + min_pitch) % 12
    return np.stack([(sounding & (classes == c)).sum(1) for c in range(12)], axis=1)


Attribute = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (tokens, mask) -> (n,)

ATTRIBUTES: dict[str, Attribute] = {
    "density": note_density,
    "pitch_range": pitch_range,
    "mean_pitch": mean_pitch,
    "syncopation": syncopation,
}
