"""MIDI read by symusic, a compiled (C++) parser: raw note columns in ticks.

About 25x faster than mido on the folk corpus. It pairs note-ons with
note-offs first in, first out, as the mido reader does, and splits notes
by track, channel and program as it does; notes that are never released
are dropped (the mido reader ends them with their track). Anything it
cannot read goes back to the mido reader, which names the reason; so does
everything where symusic is missing or its release lies outside ``LOWEST`` and
``BELOW`` (pyproject.toml's bounds). Only symusic's public calls are used: each
track's ``notes.numpy()`` columns, as they come, and the fields of the score's
tempo and time-signature events.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

try:
    import symusic
except ImportError:  # an optional speed-up: the mido reader does the same work
    symusic = None

FORMAT_OFFSET, DIVISION_OFFSET = 8, 12  # bytes of the MThd header
SMPTE_BIT = 0x8000
# symusic releases read here, from LOWEST up to BELOW (excluded): pyproject.toml's bounds,
# which a test checks against these (before 0.4.6 a note released where it starts took the
# next note-off of its pitch); the mido reader reads under any other release
LOWEST, BELOW = (0, 4, 6), (0, 7)
COLUMNS = ("time", "duration", "pitch", "velocity")  # of a note list's ``numpy()``


@cache
def supported(version: str) -> bool:
    """Whether a symusic release (``"0.6.0"``) lies within ``LOWEST`` and ``BELOW``."""
    release = re.match(r"\d+(\.\d+)*", version)
    return bool(release) and LOWEST <= tuple(map(int, release[0].split("."))) < BELOW


def available() -> bool:
    """Whether symusic is installed in a release read here."""
    return symusic is not None and supported(symusic.__version__)


@dataclass
class Parsed:
    """A file as symusic reads it, in ticks: each track's notes and the file's events.

    tracks: the tracks with notes, each its notes as symusic's ``numpy()`` gives them
    (``COLUMNS``: int32 time and duration, int8 pitch and velocity), notes of zero
    length included; programs, drums and names: one per track; tempos: (tick,
    microseconds per quarter); meters: (tick, numerator, denominator).
    """

    tracks: list[dict[str, np.ndarray]]
    programs: list[int]
    drums: list[bool]
    names: list[str]
    tempos: list[tuple[int, int]]
    meters: list[tuple[int, int, int]]
    ticks_per_quarter: int

    @property
    def notes(self) -> int:
        return sum(len(track["time"]) for track in self.tracks)

    def sounding(self) -> tuple[tuple[np.ndarray, ...], list[str]]:
        """Notes of positive length as seven (n,) int64 columns (start and end ticks,
        pitch, velocity, program, is_drum, instrument id: which track with such notes),
        and the name of each such track."""
        parts, names = [], []
        for track, program, drum, name in zip(self.tracks, self.programs, self.drums,
                                              self.names, strict=True):
            keep = track["duration"] > 0
            if not keep.any():
                continue
            start = track["time"][keep].astype(np.int64)
            n = len(start)
            parts.append((start, start + track["duration"][keep], track["pitch"][keep],
                          track["velocity"][keep], np.full(n, program), np.full(n, drum),
                          np.full(n, len(parts))))
            names.append(name)
        if not parts:
            return tuple(np.zeros(0, np.int64) for _ in range(7)), names
        return tuple(np.concatenate(column).astype(np.int64)
                     for column in zip(*parts, strict=True)), names


def read_events(data: bytes) -> Parsed | None:
    """A MIDI file's notes and events, or None where the mido reader should look at it
    (symusic missing or of another release, type 2, SMPTE timing, anything symusic
    refuses)."""
    header = data[: DIVISION_OFFSET + 2]
    if not available() or len(header) < DIVISION_OFFSET + 2:
        return None
    kind = int.from_bytes(header[FORMAT_OFFSET : FORMAT_OFFSET + 2], "big")
    division = int.from_bytes(header[DIVISION_OFFSET:], "big")
    if kind == 2 or division & SMPTE_BIT or division == 0:
        return None
    try:
        score = symusic.core.ScoreTick.from_midi(data)  # (symusic 0.5 takes nothing more)
    except Exception:  # symusic raises RuntimeError and others on damaged files
        return None
    tracks, programs, drums, names = [], [], [], []
    for track in _items(score.tracks):
        notes = track.notes
        if len(notes):
            tracks.append(notes.numpy())
            programs.append(track.program)
            drums.append(track.is_drum)
            names.append(track.name)
    tempos = [(t.time, t.mspq) for t in _items(score.tempos)]
    meters = [(m.time, m.numerator, m.denominator) for m in _items(score.time_signatures)]
    return Parsed(tracks, programs, drums, names, tempos, meters, score.ticks_per_quarter)


def _items(events: object) -> Iterator:
    """The items of a symusic list by index: a third of the cost of its iterator, which
    makes an object of its own (most files have one track, tempo and meter)."""
    return map(events.__getitem__, range(len(events)))
