"""Controls: per-step labels a model is conditioned on (a lead sheet's chords, a beat's hits).

A :class:`Control` owns everything about one: its classes, how its labels are
read from a piece, which notes make them audible, how they move when the
music is transposed, and how a user gives them (a progression such as
"C G Am F"). A representation names its controls and asks them; nothing else
in a representation is about controls.
"""

from __future__ import annotations

import abc

import numpy as np

from musicae.errors import MusicaeError
from musicae.midi.notes import NOTE_DTYPE, Piece
from musicae.representations import chords
from musicae.representations.base import CHORD_TRACK, chord_notes, pitched_notes


class Control(abc.ABC):
    """One control: ``name`` and ``classes`` of its labels, and the hooks below."""

    name: str
    classes: int
    track_name: str | None = None  # the MIDI track :meth:`notes` are written to, if any

    @abc.abstractmethod
    def encode(self, piece: Piece, start: int, n_steps: int, meter: tuple[int, int],
               steps_per_quarter: int) -> np.ndarray:
        """Labels of steps ``[start, start + n_steps)`` (whole bars of ``meter``, from a
        downbeat): (n_steps,)."""

    def notes(self, labels: np.ndarray, instrument: int) -> np.ndarray:
        """Notes that make labels (real steps) audible, on ``instrument``: (m,) NOTE_DTYPE."""
        return np.zeros(0, dtype=NOTE_DTYPE)

    def shift(self, labels: np.ndarray, semitones: int) -> np.ndarray:
        """Labels for music moved by ``semitones``."""
        return labels

    def given(self, text: str | None, mask: np.ndarray) -> np.ndarray:
        """Labels of windows laid out by ``mask`` (n, steps) from what a user gave
        (``--chords``; None: nothing): (n, steps)."""
        raise MusicaeError(f"a {self.name} control cannot be given as text")

    def marks(self, tracks: list[tuple[str, list[tuple[float, int]]]]
              ) -> list[tuple[float, str]]:
        """Text to write above a picture of written music, from its tracks (name, [(start
        in seconds, pitch)]): (time, text)."""
        return []


class ChordControl(Control):
    """The triad of each chord segment (half a 4/4 bar; see
    :func:`~musicae.representations.chords.chord_steps`), 48 triads and no-chord.

    Read from a track named ``chords`` where a file has one (a lead sheet: block
    chords, as they are written here, or POP909's annotations), else inferred from
    every pitched note; written as block chords on such a track."""

    name, classes, track_name = "chord", chords.CHORD_CLASSES, CHORD_TRACK

    def encode(self, piece: Piece, start: int, n_steps: int, meter: tuple[int, int],
               steps_per_quarter: int) -> np.ndarray:
        notes = chord_notes(piece)
        if not len(notes):
            notes = pitched_notes(piece, None)
        segment = chords.chord_steps(meter, steps_per_quarter)
        return chords.infer_chords(notes, start, n_steps, segment)

    def notes(self, labels: np.ndarray, instrument: int) -> np.ndarray:
        return chords.block_chords(labels, instrument)

    def shift(self, labels: np.ndarray, semitones: int) -> np.ndarray:
        return chords.shift_chords(labels, semitones)

    def given(self, text: str | None, mask: np.ndarray) -> np.ndarray:
        """The chords spread evenly over each window's real steps (two chords: one per bar
        of a 2-bar window; four: one per half bar)."""
        labels = _progression(text)
        out = np.zeros(mask.shape, dtype=np.int16)
        for i, real in enumerate(mask):
            out[i, real] = chords.spread(labels, int(real.sum()))
        return out

    def marks(self, tracks: list[tuple[str, list[tuple[float, int]]]]
              ) -> list[tuple[float, str]]:
        """The symbol of each block chord of a chords track, where it starts."""
        by_tones = {frozenset(chords.chord_tones(label)): label
                    for label in range(1, chords.CHORD_CLASSES)}
        found = []
        for name, notes in tracks:
            if name.strip().lower() != self.track_name:
                continue
            starts: dict[float, set[int]] = {}
            for start, pitch in notes:
                starts.setdefault(round(start, 6), set()).add(pitch % 12)
            for start, tones in sorted(starts.items()):
                label = by_tones.get(frozenset(tones))
                if label is not None:
                    found.append((start, chords.chord_name(label)))
        return found


class BarChordControl(ChordControl):
    """One chord per window (a one-bar kind's: multitrack measures), the triad inferred
    from the bar's pitched notes (:meth:`of_bar`), laid on every position of the window.
    Given as text, the progression's chords go to windows in turn ("C G Am F" over eight
    windows: C, G, Am, F, C, ...). Not written as a track of its own: the instruments
    play it."""

    track_name = None

    @staticmethod
    def of_bar(notes: np.ndarray, start: int, steps: int) -> int:
        """The chord of the pitched notes of one bar of ``steps`` steps from ``start``."""
        pitched = notes[~notes["is_drum"]]
        return int(chords.infer_chords(pitched, start, steps, steps)[0]) if steps else 0

    def given(self, text: str | None, mask: np.ndarray) -> np.ndarray:
        labels = _progression(text)
        turn = np.array(labels, np.int16)[np.arange(len(mask)) % len(labels)]
        return np.repeat(turn[:, None], mask.shape[1], axis=1)

    def marks(self, tracks: list[tuple[str, list[tuple[float, int]]]]
              ) -> list[tuple[float, str]]:
        return []


def _progression(text: str | None) -> list[int]:
    """The labels of a progression a user gave; a model over chords needs one."""
    if text is None:
        raise MusicaeError('this model plays over chords; give a progression, e.g. '
                           '--chords "C G Am F"')
    return chords.parse_progression(text)
