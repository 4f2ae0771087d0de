"""Chords: the 48 triads (12 roots x major, minor, diminished, augmented) and no-chord.

A chord is one label per step, ``NO_CHORD`` (0) or ``1 + 12 * quality + root``
(root 0 = C). :func:`infer_chords` labels every half bar of a piece (every bar
of a meter with an odd number of beats, such as 3/4) from the
notes sounding in it, as a musician reading a chorale would: the triad whose
tones carry the most sounding time, the bass note breaking ties. Symbols
("C", "F#m", "Bb", "Bdim", "Caug", "N.C.") are parsed and written by
:func:`parse_chord` and :func:`chord_name`.
"""

from __future__ import annotations

import re

import numpy as np

from musicae.errors import MusicaeError
from musicae.midi.notes import NOTE_DTYPE, make_notes

NO_CHORD = 0
QUALITIES = (("", (0, 4, 7)), ("m", (0, 3, 7)), ("dim", (0, 3, 6)), ("aug", (0, 4, 8)))
CHORD_CLASSES = 1 + 12 * len(QUALITIES)  # 49
ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
QUALITY_SPELLINGS = {"": 0, "maj": 0, "M": 0, "m": 1, "min": 1, "-": 1, "dim": 2, "o": 2,
                     "°": 2, "aug": 3, "+": 3}
NO_CHORD_SPELLINGS = {"N.C.", "NC", "N", "N.C"}
SYMBOL = re.compile(r"^([A-G])([#b]?)(.*)$")
CHORD_OCTAVE = 48  # block chords are voiced from the C below middle C
BASS_BONUS = 0.1  # share of a segment's sounding time the bass note adds to chords on it
MIN_SHARE = 0.5  # a triad must cover this share of the sounding time, else no-chord

# (48, 12) 1 where a triad has the pitch class: row 12 * quality + root
TEMPLATES = np.zeros((CHORD_CLASSES - 1, 12))
for _q, (_, _intervals) in enumerate(QUALITIES):
    for _root in range(12):
        TEMPLATES[12 * _q + _root, [(_root + i) % 12 for i in _intervals]] = 1
ROOT_OF = np.arange(CHORD_CLASSES - 1) % 12  # (48,)


def parse_chord(symbol: str) -> int:
    """A chord label from a symbol: "C", "Am", "F#m", "Bb", "Bdim", "C+", "N.C."."""
    text = symbol.strip()
    if text in NO_CHORD_SPELLINGS:
        return NO_CHORD
    match = SYMBOL.match(text)
    if match and match.group(3) in QUALITY_SPELLINGS:
        letter, accidental, quality = match.groups()
        root = (LETTERS[letter] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
        return 1 + 12 * QUALITY_SPELLINGS[quality] + root
    raise MusicaeError(f"unknown chord symbol {symbol!r} (expected a triad like C, F#m, "
                       f"Bb, Bdim, Caug or N.C.)")


def parse_progression(text: str) -> list[int]:
    """Labels of a space- or comma-separated progression, "C G Am F"."""
    symbols = [s for s in re.split(r"[\s,]+", text.strip()) if s]
    if not symbols:
        raise MusicaeError("--chords: no chord symbols given")
    return [parse_chord(s) for s in symbols]


def chord_name(label: int) -> str:
    if label == NO_CHORD:
        return "N.C."
    quality, root = divmod(int(label) - 1, 12)
    return ROOTS[root] + QUALITIES[quality][0]


def chord_tones(label: int) -> tuple[int, ...]:
    """Pitch classes of a chord (none for no-chord)."""
    if label == NO_CHORD:
        return ()
    quality, root = divmod(int(label) - 1, 12)
    return tuple((root + i) % 12 for i in QUALITIES[quality][1])


def voicing(label: int) -> tuple[int, ...]:
    """The pitches a chord is written with: root position from the C below middle C
    (none for no-chord)."""
    if label == NO_CHORD:
        return ()
    quality, root = divmod(int(label) - 1, 12)
    return tuple(CHORD_OCTAVE + root + interval for interval in QUALITIES[quality][1])


def shift_chords(labels: np.ndarray, semitones: int) -> np.ndarray:
    """Chord labels of music moved by ``semitones``: roots move, no-chord stays."""
    labels = np.asarray(labels)
    quality, root = np.divmod(labels.astype(np.int64) - 1, 12)
    moved = 1 + 12 * quality + (root + semitones) % 12
    return np.where(labels == NO_CHORD, NO_CHORD, moved).astype(labels.dtype)


def spread(labels: list[int], n_steps: int) -> np.ndarray:
    """``labels`` spread evenly over ``n_steps`` steps: (n_steps,) int64."""
    index = np.arange(n_steps) * len(labels) // n_steps
    return np.asarray(labels, dtype=np.int64)[index]


def chord_steps(meter: tuple[int, int], steps_per_quarter: int) -> int:
    """Steps a chord lasts in bars of ``meter``: half a bar where the bar has an even number
    of beats (4/4, 2/4, 2/2; dotted beats in 6/8, 12/8), else the whole bar (3/4, 3/8, 5/4)."""
    numerator, denominator = meter
    compound = denominator >= 8 and numerator % 3 == 0 and numerator > 3
    beats = numerator // 3 if compound else numerator
    bar = numerator * 4 * steps_per_quarter // denominator
    return bar // 2 if beats % 2 == 0 and bar % 2 == 0 else bar


def infer_chords(notes: np.ndarray, start: int, n_steps: int, segment: int) -> np.ndarray:
    """One chord per ``segment`` steps (see :func:`chord_steps`) of steps
    ``[start, start + n_steps)`` (``start`` a downbeat), repeated on each of its steps:
    (n_steps,) int16.

    notes: (n,) ``NOTE_DTYPE``, pitched notes of all parts. A segment gets the
    triad whose tones sound longest, less half the time of the other tones, plus
    a small bonus for the triad rooted on the lowest note; no-chord where nothing
    sounds or no triad covers ``MIN_SHARE`` of the sounding time.
    """
    n_segments = -(-n_steps // segment)
    lo = np.clip(notes["start"] - start, 0, n_steps)
    hi = np.clip(notes["end"] - start, 0, n_steps)
    sounding = hi > lo
    lo, hi, pitch = lo[sounding], hi[sounding], notes["pitch"][sounding].astype(np.int64)
    # time each pitch class sounds in each segment, and each segment's lowest pitch
    weight = np.zeros((n_segments, 12))
    lowest = np.full(n_segments, 128)
    edges = np.arange(n_segments + 1) * segment
    for seg in range(n_segments):
        overlap = np.minimum(hi, edges[seg + 1]) - np.maximum(lo, edges[seg])
        here = overlap > 0
        np.add.at(weight[seg], pitch[here] % 12, overlap[here])
        if here.any():
            lowest[seg] = pitch[here].min()
    total = weight.sum(1, keepdims=True)  # (segments, 1)
    inside = weight @ TEMPLATES.T  # (segments, 48)
    score = inside - 0.5 * (total - inside)
    score += BASS_BONUS * total * (ROOT_OF[None, :] == (lowest[:, None] % 12))
    best = score.argmax(1)
    enough = inside[np.arange(n_segments), best] >= MIN_SHARE * total[:, 0]
    labels = np.where((total[:, 0] > 0) & enough, 1 + best, NO_CHORD)
    return np.repeat(labels, segment)[:n_steps].astype(np.int16)


def block_chords(labels: np.ndarray, instrument: int, program: int = 0) -> np.ndarray:
    """Labels per step as block chords, one chord per run of equal labels: (m,) notes."""
    labels = np.asarray(labels)
    if not len(labels):
        return np.zeros(0, dtype=NOTE_DTYPE)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    start, end, pitch = [], [], []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        for tone in voicing(int(labels[s])):
            start.append(s)
            end.append(e)
            pitch.append(tone)
    return make_notes(np.array(start, np.int64), np.array(end, np.int64),
                      np.array(pitch, np.int64), velocity=70, program=program,
                      instrument=instrument)


def chord_tone_share(midi, labels: list[int], bar_seconds: float) -> float:
    """Of a joined arrangement's pitched onsets, the share that are tones of the chord of
    their bar (``labels`` in turn)."""
    tones = hits = 0
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            bar = int(note.start // bar_seconds + 1e-9)
            tones += note.pitch % 12 in chord_tones(labels[bar % len(labels)])
            hits += 1
    return tones / max(hits, 1)
