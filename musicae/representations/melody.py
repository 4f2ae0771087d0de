"""Monophonic melodies ⇄ MusicVAE one-hot tokens.

A melody of ``n`` steps is ``n`` tokens: ``NO_EVENT`` (hold or rest),
``NOTE_OFF``, or a pitch token (a note starts). A note that sounds into the
first step from before is not seen, exactly as when MusicVAE slices a
melody's event list into windows.
"""

from __future__ import annotations

import numpy as np

from musicae.midi.notes import make_notes
from musicae.representations.constants import (
    FIRST_PITCH_TOKEN,
    MIN_PITCH,
    NO_EVENT,
    NOTE_OFF,
)

LEGATO_STEPS = 1  # a lower note may cut a higher one that would end this close after it
OCTAVE = 12


def skyline(notes: np.ndarray) -> np.ndarray:
    """The highest note wherever notes overlap: a monophonic line from polyphony.

    A lower note that starts while a higher one sounds is dropped, unless the
    higher one would end within ``LEGATO_STEPS`` (legato playing); a note that
    starts while a lower or equal one sounds cuts it short.

    notes: (n,) ``NOTE_DTYPE`` of one instrument → (m,) monophonic, m <= n.
    """
    order = np.lexsort((-notes["pitch"].astype(np.int64), notes["start"]))
    notes = notes[order]
    if (notes["start"][1:] >= notes["end"][:-1]).all():
        return notes  # already one note at a time (most single-line files)
    kept, ends = skyline_sorted(notes["start"], notes["end"], notes["pitch"])
    melody = notes[kept]
    melody["end"] = ends
    return melody


def skyline_sorted(start: np.ndarray, end: np.ndarray, pitch: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`skyline` of notes already sorted by start, highest pitch first: which notes
    are kept and where each kept one ends, (m,) int64 and (m,) int64."""
    ends = end.tolist()
    starts, pitches = start.tolist(), pitch.tolist()
    kept: list[int] = []
    for i, (begin, height) in enumerate(zip(starts, pitches, strict=True)):
        if kept:
            last = kept[-1]
            if begin == starts[last]:
                continue  # a lower note of the same onset
            if begin < ends[last]:
                if height < pitches[last] and ends[last] - begin > LEGATO_STEPS:
                    continue  # under a sounding higher note
                ends[last] = begin
        kept.append(i)
    return np.array(kept, dtype=np.int64), np.array([ends[i] for i in kept], dtype=np.int64)


def octave_shift(pitch: np.ndarray, min_pitch: int, max_pitch: int) -> np.ndarray:
    """Move each pitch by whole octaves into ``[min_pitch, max_pitch]`` where it can go.

    pitch: (n,) → (n,) int64; a pitch that no octave brings into a range
    narrower than an octave stays outside it.
    """
    pitch = pitch.astype(np.int64)
    up = np.maximum(-(-(min_pitch - pitch) // OCTAVE), 0)  # octaves needed to reach min_pitch
    down = np.maximum(-(-(pitch - max_pitch) // OCTAVE), 0)
    return pitch + OCTAVE * (up - down)


def fit_range(notes: np.ndarray, min_pitch: int, max_pitch: int, shift: bool) -> np.ndarray | None:
    """A melody with its pitches in ``[min_pitch, max_pitch]``, or None if it is dropped.

    With ``shift`` notes outside move by whole octaves; without it (or when no
    octave fits) a melody with any note outside the range is dropped.
    """
    pitch = notes["pitch"].astype(np.int64)
    if ((pitch >= min_pitch) & (pitch <= max_pitch)).all():
        return notes
    moved = octave_shift(pitch, min_pitch, max_pitch) if shift else pitch
    if ((moved < min_pitch) | (moved > max_pitch)).any():
        return None
    fitted = notes.copy()
    fitted["pitch"] = moved
    return fitted


def encode_melody(
    notes: np.ndarray, start: int, n_steps: int, min_pitch: int = MIN_PITCH
) -> np.ndarray:
    """Tokens of steps ``[start, start + n_steps)`` of a monophonic melody.

    notes: (n,) ``NOTE_DTYPE``, monophonic (see :func:`skyline`), pitches in range
    → (n_steps,) int16 tokens.
    """
    tokens = np.full(n_steps, NO_EVENT, dtype=np.int16)
    ends = notes["end"] - start
    tokens[ends[(ends >= 0) & (ends < n_steps)]] = NOTE_OFF
    onsets = notes["start"] - start
    inside = (onsets >= 0) & (onsets < n_steps)
    tokens[onsets[inside]] = notes["pitch"][inside] - min_pitch + FIRST_PITCH_TOKEN
    return tokens


def decode_melody(tokens: np.ndarray, min_pitch: int = MIN_PITCH) -> np.ndarray:
    """Notes of a token sequence: each onset lasts until the next event or the end.

    tokens: (n_steps,) → (m,) ``NOTE_DTYPE`` with starts relative to step 0.
    """
    events = np.flatnonzero(tokens != NO_EVENT)
    following = np.append(events[1:], len(tokens))
    onset = tokens[events] >= FIRST_PITCH_TOKEN
    pitch = tokens[events[onset]].astype(np.int64) - FIRST_PITCH_TOKEN + min_pitch
    return make_notes(events[onset], following[onset], pitch)


def onsets_per_step(tokens: np.ndarray) -> np.ndarray:
    """Notes starting at each step: (n_steps,) → (n_steps,) int64 (0 or 1)."""
    return (tokens >= FIRST_PITCH_TOKEN).astype(np.int64)
