"""What differs between melody, drums and piano-roll, behind one small table.

Each kind says which notes of a piece it draws on (its *sources*: one
monophonic line per instrument for melody, the merged drum kit, the merged
pitched notes for piano-roll), how a run of them is brought into range, and
how a span of steps is encoded, counted and decoded. Window layout, meters and
caching are the same for every kind and live elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from musicae.representations import drums, melody, pianoroll
from musicae.representations.config import CodecConfig
from musicae.representations.notes import Piece


@dataclass(frozen=True)
class Kind:
    """The operations of one representation.

    sources(piece, cfg) -> list of (n,) ``NOTE_DTYPE`` arrays to cut runs from
    fit(notes, cfg) -> notes in range, or None when the run is dropped
    encode(notes, start, n_steps, cfg) -> (n_steps,) or (n_steps, pitches) tokens
    onsets(tokens) -> (steps,) notes starting at each step (drums: 1 where anything is hit)
    decode(tokens, cfg) -> (m,) ``NOTE_DTYPE`` with starts relative to step 0
    """

    sources: Callable[[Piece, CodecConfig], list[np.ndarray]]
    fit: Callable[[np.ndarray, CodecConfig], np.ndarray | None]
    encode: Callable[[np.ndarray, int, int, CodecConfig], np.ndarray]
    onsets: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray, CodecConfig], np.ndarray]


def pitched_notes(piece: Piece, cfg: CodecConfig) -> np.ndarray:
    """Notes off the drum channel whose program the settings accept."""
    notes = piece.notes[~piece.notes["is_drum"]]
    if cfg.programs is not None:
        notes = notes[np.isin(notes["program"], cfg.programs)]
    return notes


def no_source_reason(piece: Piece, cfg: CodecConfig) -> str:
    """Why a piece has no notes for this kind: the countable skip reason."""
    if cfg.kind == "drums":
        return "no drums"
    if piece.notes["is_drum"].all():
        return "drums only"
    return "no notes in the chosen programs"


def _melody_sources(piece: Piece, cfg: CodecConfig) -> list[np.ndarray]:
    notes = pitched_notes(piece, cfg)
    instruments = np.unique(notes["instrument"])
    return [melody.skyline(notes[notes["instrument"] == i]) for i in instruments]


def _drum_sources(piece: Piece, cfg: CodecConfig) -> list[np.ndarray]:
    hits = drums.to_drum_classes(piece.notes[piece.notes["is_drum"]])
    return [hits] if len(hits) else []


def _pianoroll_sources(piece: Piece, cfg: CodecConfig) -> list[np.ndarray]:
    notes = pitched_notes(piece, cfg)
    return [notes] if len(notes) else []


def _fit_melody(notes: np.ndarray, cfg: CodecConfig) -> np.ndarray | None:
    return melody.fit_range(notes, cfg.min_pitch, cfg.max_pitch, cfg.out_of_range == "shift")


def _fit_pianoroll(notes: np.ndarray, cfg: CodecConfig) -> np.ndarray | None:
    """Shift (or drop) each out-of-range note on its own; None if no note is left."""
    notes = notes.copy()
    if cfg.out_of_range == "shift":
        notes["pitch"] = melody.octave_shift(notes["pitch"], cfg.min_pitch, cfg.max_pitch)
    notes = notes[(notes["pitch"] >= cfg.min_pitch) & (notes["pitch"] <= cfg.max_pitch)]
    return notes if len(notes) else None


KIND_OPS: dict[str, Kind] = {
    "melody": Kind(
        sources=_melody_sources,
        fit=_fit_melody,
        encode=lambda notes, start, n, cfg: melody.encode_melody(notes, start, n, cfg.min_pitch),
        onsets=melody.onsets_per_step,
        decode=lambda tokens, cfg: melody.decode_melody(tokens, cfg.min_pitch),
    ),
    "drums": Kind(
        sources=_drum_sources,
        fit=lambda notes, cfg: notes,
        encode=lambda notes, start, n, cfg: drums.multihot_to_index(
            drums.encode_drums(notes, start, n)
        ),
        onsets=drums.hits_per_step,
        decode=lambda tokens, cfg: drums.decode_drums(drums.index_to_multihot(tokens)),
    ),
    "pianoroll": Kind(
        sources=_pianoroll_sources,
        fit=_fit_pianoroll,
        encode=lambda notes, start, n, cfg: pianoroll.encode_pianoroll(
            notes, start, n, cfg.min_pitch, cfg.max_pitch
        ),
        onsets=pianoroll.onsets_per_step,
        decode=lambda tokens, cfg: pianoroll.decode_pianoroll(tokens, cfg.min_pitch),
    ),
}
