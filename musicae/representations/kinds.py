"""The kinds of representation: melody, drums and piano-roll.

Each kind says which notes of a piece it draws on (its *sources*: one
monophonic line per instrument for melody, the merged drum kit, the merged
pitched notes for piano-roll), how a run of them is brought into range, how a
span of steps is encoded, counted and decoded, and what a model predicts.
``REPRESENTATIONS`` names them; ``from_dict`` rebuilds one from config.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from musicae.errors import MusicaeError
from musicae.representations import attributes, drums, melody, pianoroll
from musicae.representations.attributes import Attribute
from musicae.representations.base import Representation
from musicae.representations.constants import (
    DRUMS_DEPTH,
    FIRST_PITCH_TOKEN,
    PIANOROLL_STATES,
)
from musicae.representations.notes import Piece


def pitched_notes(piece: Piece, programs: tuple[int, ...] | None) -> np.ndarray:
    """Notes off the drum channel whose program is among ``programs`` (None: all)."""
    notes = piece.notes[~piece.notes["is_drum"]]
    if programs is not None:
        notes = notes[np.isin(notes["program"], programs)]
    return notes


def pitched_reason(piece: Piece) -> str:
    """Why a piece has no pitched notes to use."""
    return "drums only" if piece.notes["is_drum"].all() else "no notes in the chosen programs"


@dataclass(frozen=True)
class Melody(Representation):
    """Monophonic lines as MusicVAE's 90 classes per step (no event, note-off, 88 pitches).

    Every pitched instrument gives its own line (its highest notes where it
    plays chords), so a piano piece yields its top line.
    """

    kind = "melody"

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((1, self.pitches + FIRST_PITCH_TOKEN),)

    def sources(self, piece: Piece) -> list[np.ndarray]:
        notes = pitched_notes(piece, self.programs)
        instruments = np.unique(notes["instrument"])
        return [melody.skyline(notes[notes["instrument"] == i]) for i in instruments]

    def no_source_reason(self, piece: Piece) -> str:
        return pitched_reason(piece)

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        shift = self.out_of_range == "shift"
        return melody.fit_range(notes, self.min_pitch, self.max_pitch, shift)

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        tokens = melody.encode_melody(notes, start, n_steps, self.min_pitch)
        return tokens.astype(self.token_dtype)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return melody.onsets_per_step(tokens)

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        return melody.decode_melody(tokens, self.min_pitch)

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        is_pitch = block >= FIRST_PITCH_TOKEN
        moved = np.where(is_pitch, block.astype(np.int64) + semitones, block)
        in_range = (moved >= FIRST_PITCH_TOKEN) & (moved < self.heads[0][1])
        return moved.astype(block.dtype), (in_range | ~is_pitch).all(axis=1)

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        pitches = tokens[tokens >= FIRST_PITCH_TOKEN]
        if not len(pitches):
            return None
        offset = self.min_pitch - FIRST_PITCH_TOKEN
        return (int(pitches.min()) + offset, int(pitches.max()) + offset)

    @property
    def attributes(self) -> dict[str, Attribute]:
        pitched = {"min_pitch": self.min_pitch}
        settings = {"pitch_range": pitched, "mean_pitch": pitched,
                    "syncopation": {"steps_per_quarter": self.steps_per_quarter}}
        return {name: partial(fn, **settings.get(name, {}))
                for name, fn in attributes.ATTRIBUTES.items()}


@dataclass(frozen=True)
class Drums(Representation):
    """The drum kit as MusicVAE's nine classes, one 512-way index per step."""

    kind = "drums"

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((1, DRUMS_DEPTH),)

    def sources(self, piece: Piece) -> list[np.ndarray]:
        hits = drums.to_drum_classes(piece.notes[piece.notes["is_drum"]])
        return [hits] if len(hits) else []

    def no_source_reason(self, piece: Piece) -> str:
        return "no drums"

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        return notes

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        return drums.multihot_to_index(drums.encode_drums(notes, start, n_steps))

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return drums.hits_per_step(tokens)

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        return drums.decode_drums(drums.index_to_multihot(tokens))

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        return block, np.zeros(len(block), dtype=bool)  # drums have no key to move

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        return None


@dataclass(frozen=True)
class Pianoroll(Representation):
    """All pitched notes as three states (off, onset, hold) per pitch and step."""

    kind = "pianoroll"

    @property
    def track_names(self) -> tuple[str, ...]:
        return ("piano",)

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((self.pitches, PIANOROLL_STATES),)

    def sources(self, piece: Piece) -> list[np.ndarray]:
        notes = pitched_notes(piece, self.programs)
        return [notes] if len(notes) else []

    def no_source_reason(self, piece: Piece) -> str:
        return pitched_reason(piece)

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        """Shift (or drop) each out-of-range note on its own; None if no note is left."""
        notes = notes.copy()
        if self.out_of_range == "shift":
            notes["pitch"] = melody.octave_shift(notes["pitch"], self.min_pitch, self.max_pitch)
        notes = notes[(notes["pitch"] >= self.min_pitch) & (notes["pitch"] <= self.max_pitch)]
        return notes if len(notes) else None

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        return pianoroll.encode_pianoroll(notes, start, n_steps, self.min_pitch, self.max_pitch)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return pianoroll.onsets_per_step(tokens)

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        return pianoroll.decode_pianoroll(tokens, self.min_pitch)

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        moved = np.roll(block, semitones, axis=2)  # (m, steps, pitches)
        wrapped = block[:, :, -semitones:] if semitones > 0 else block[:, :, :-semitones]
        return moved, ~wrapped.any(axis=(1, 2))

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        rows = np.flatnonzero(tokens.any(axis=(0, 1)))
        if not len(rows):
            return None
        return (int(rows[0]) + self.min_pitch, int(rows[-1]) + self.min_pitch)


REPRESENTATIONS: dict[str, type[Representation]] = {
    cls.kind: cls for cls in (Melody, Drums, Pianoroll)
}


def from_dict(values: dict) -> Representation:
    """A representation back from :meth:`Representation.to_dict`; bad values are user errors."""
    if not isinstance(values, dict):
        raise MusicaeError(f"representation settings must be a mapping, not {values!r}")
    values = dict(values)
    kind = values.pop("kind", None)
    if kind not in REPRESENTATIONS:
        raise MusicaeError(f"unknown representation kind {kind!r} "
                           f"(one of {', '.join(REPRESENTATIONS)})")
    cls = REPRESENTATIONS[kind]
    unknown = set(values) - cls.setting_names()
    if unknown:
        raise MusicaeError(f"{kind} settings: unknown fields {sorted(unknown)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise MusicaeError(f"{kind} settings: {exc}") from None
