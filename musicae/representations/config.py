"""Codec settings: what a window is and how notes become one.

A :class:`CodecConfig` is frozen and hashable; its fields (with
``CODEC_VERSION``) key the dataset cache, and a trained model stores it
(``to_dict``) so decoding uses the settings it was trained with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from musicae.errors import MusicaeError
from musicae.representations.constants import (
    DEFAULT_SLOT,
    DRUMS_DEPTH,
    MAX_PITCH,
    MIN_PITCH,
    PIANOROLL_STATES,
    STEPS_PER_QUARTER,
)

CODEC_VERSION = 2  # bump when encoding changes, so cached windows are rebuilt
KINDS = ("melody", "drums", "pianoroll")
OUT_OF_RANGE = ("shift", "drop")  # octave-shift notes into range, or drop them
MIDI_PITCH_RANGE = (0, 127)
GM_PROGRAMS = range(128)
KEY_CHARS = 16  # hex digits of a settings key


@dataclass(frozen=True)
class CodecConfig:
    """How a piece becomes windows of ``bars`` bars and back.

    Parameters
    ----------
    kind : str
        ``"melody"`` (one-hot tokens), ``"drums"`` (512-way index) or ``"pianoroll"``.
    bars : int
        Bars per window.
    slot : int
        Steps reserved per window bar; a longer bar is cut into equal groups of
        beats that fit (4/2 into 2/2 halves), or skipped where none do.
    hop_bars : int
        Bars between the starts of consecutive windows.
    steps_per_quarter : int
        Grid resolution.
    max_windows_per_file : int or None
        Keep at most this many windows of one file (evenly spread), None for all.
    min_pitch, max_pitch : int
        Pitch range of melody tokens and piano-roll rows.
    gap_bars : int
        This many bars of silence end a melody (or drum or piano part).
    out_of_range : str
        ``"shift"`` moves out-of-range notes by octaves; ``"drop"`` drops the
        melody (piano-roll: the note).
    programs : tuple of int or None
        General MIDI programs a melody or piano-roll is taken from; None for all.
    min_notes : int
        Fewest note onsets (drums: steps with hits) a kept window has.
    """

    kind: str
    bars: int
    slot: int = DEFAULT_SLOT
    hop_bars: int = 1
    steps_per_quarter: int = STEPS_PER_QUARTER
    max_windows_per_file: int | None = None
    min_pitch: int = MIN_PITCH
    max_pitch: int = MAX_PITCH
    gap_bars: int = 1
    out_of_range: str = "shift"
    programs: tuple[int, ...] | None = None
    min_notes: int = 2

    def __post_init__(self) -> None:
        if self.programs is not None:
            object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
        problem = _problem(self)
        if problem:
            raise MusicaeError(f"codec settings: {problem}")

    @property
    def steps(self) -> int:
        """Positions in a window: ``bars * slot``."""
        return self.bars * self.slot

    @property
    def pitches(self) -> int:
        """Pitches in the range (rows of a piano-roll)."""
        return self.max_pitch - self.min_pitch + 1

    @property
    def depth(self) -> int:
        """Classes per position: 90 (melody), 512 (drums), or 3 states per pitch (pianoroll)."""
        if self.kind == "melody":
            return self.pitches + 2  # no-event, note-off, pitches
        return DRUMS_DEPTH if self.kind == "drums" else PIANOROLL_STATES

    def key(self) -> str:
        """A short stable digest of the settings and ``CODEC_VERSION``, for cache paths."""
        text = json.dumps([CODEC_VERSION, self.to_dict()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_CHARS]

    def to_dict(self) -> dict:
        """The settings as plain JSON values."""
        values = asdict(self)
        values["programs"] = list(self.programs) if self.programs is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> CodecConfig:
        """Settings back from :meth:`to_dict`; unknown keys are a user error."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise MusicaeError(f"codec settings: unknown fields {sorted(unknown)}")
        return cls(**values)


def _problem(cfg: CodecConfig) -> str:
    """What is wrong with a config, or an empty string."""
    positive = ("bars", "slot", "hop_bars", "steps_per_quarter", "gap_bars")
    checks = [
        (cfg.kind in KINDS, f"kind must be one of {KINDS}, not {cfg.kind!r}"),
        *((getattr(cfg, n) >= 1, f"{n} must be at least 1") for n in positive),
        (cfg.out_of_range in OUT_OF_RANGE, f"out_of_range must be one of {OUT_OF_RANGE}"),
        (
            MIDI_PITCH_RANGE[0] <= cfg.min_pitch <= cfg.max_pitch <= MIDI_PITCH_RANGE[1],
            "need 0 <= min_pitch <= max_pitch <= 127",
        ),
        (cfg.max_windows_per_file is None or cfg.max_windows_per_file >= 1, "bad window cap"),
        (cfg.min_notes >= 0, "min_notes must be at least 0"),
        (cfg.programs is None or set(cfg.programs) <= set(GM_PROGRAMS), "programs are 0..127"),
    ]
    return next((message for ok, message in checks if not ok), "")
