"""MIDI read by symusic, a compiled (C++) parser: raw note columns in ticks.

About 40x faster than mido on the folk corpus. It pairs note-ons with
note-offs first in, first out, as the mido reader does, and splits notes
by track, channel and program as it does; notes that are never released
are dropped (the mido reader ends them with their track). Anything it
cannot read goes back to the mido reader, which names the reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

try:
    import symusic
except ImportError:  # an optional speed-up: the mido reader does the same work
    symusic = None

FORMAT_OFFSET, DIVISION_OFFSET = 8, 12  # bytes of the MThd header
SMPTE_BIT = 0x8000


# symusic serialises (pickles) an event list as a uint32 count and packed records;
# one ``__getstate__`` call costs a tenth of ``numpy()``'s dict of four arrays, and a
# batch's records are decoded by one ``np.frombuffer``. The layout is checked once, on
# lists of known values (``_serialised``); where it differs, ``numpy()`` fills the
# same records.
NOTE_RECORD = np.dtype({"names": ["time", "duration", "pitch", "velocity"],
                        "formats": ["<i4", "<i4", "i1", "i1"], "offsets": [0, 4, 8, 9],
                        "itemsize": 12})
_COUNT = struct.Struct("<I")
_TEMPO = struct.Struct("<ii")  # tick, microseconds per quarter
_METER = struct.Struct("<iBBxx")  # tick, numerator, denominator


def available() -> bool:
    return symusic is not None


@dataclass
class Parsed:
    """A file as symusic reads it, in ticks: each track's notes and the file's events.

    tracks: the tracks with notes, each its notes as packed ``NOTE_RECORD`` bytes
    (see :func:`note_records`), notes of zero length included; programs, drums and
    names: one per track; tempos: (tick, microseconds per quarter); meters: (tick,
    numerator, denominator).
    """

    tracks: list[bytes]
    programs: list[int]
    drums: list[bool]
    names: list[str]
    tempos: list[tuple[int, int]]
    meters: list[tuple[int, int, int]]
    ticks_per_quarter: int

    @property
    def notes(self) -> int:
        return sum(map(len, self.tracks)) // NOTE_RECORD.itemsize

    def sounding(self) -> tuple[tuple[np.ndarray, ...], list[str]]:
        """Notes of positive length as seven (n,) int64 columns (start and end ticks,
        pitch, velocity, program, is_drum, instrument id: which track with such notes),
        and the name of each such track."""
        parts, names = [], []
        for raw, program, drum, name in zip(self.tracks, self.programs, self.drums,
                                            self.names, strict=True):
            track = note_records([raw])
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


def note_records(tracks: list[bytes]) -> np.ndarray:
    """The notes of packed tracks, one after the other: (n,) ``NOTE_RECORD``."""
    return np.frombuffer(b"".join(tracks), dtype=NOTE_RECORD)


def read_events(data: bytes) -> Parsed | None:
    """A MIDI file's notes and events, or None where the mido reader should look at it
    (type 2, SMPTE timing, anything symusic refuses)."""
    header = data[: DIVISION_OFFSET + 2]
    if len(header) < DIVISION_OFFSET + 2:
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
    for track in score.tracks:
        notes = track.notes
        if len(notes):
            tracks.append(_notes(notes))
            programs.append(track.program)
            drums.append(track.is_drum)
            names.append(track.name)
    return Parsed(tracks, programs, drums, names, _tempos(score.tempos),
                  _meters(score.time_signatures), score.ticks_per_quarter)


def _notes_serialised(notes: object) -> bytes:
    return notes.__getstate__()[_COUNT.size :]


def _tempos_serialised(tempos: object) -> list[tuple[int, int]]:
    return list(_TEMPO.iter_unpack(tempos.__getstate__()[_COUNT.size :]))


def _meters_serialised(meters: object) -> list[tuple[int, int, int]]:
    return list(_METER.iter_unpack(meters.__getstate__()[_COUNT.size :]))


def _notes_numpy(notes: object) -> bytes:  # numpy(): ten times slower
    columns = notes.numpy()
    records = np.zeros(len(columns["time"]), dtype=NOTE_RECORD)
    for name in NOTE_RECORD.names:
        records[name] = columns[name]
    return records.tobytes()


def _tempos_objects(tempos: object) -> list[tuple[int, int]]:
    return [(t.time, t.mspq) for t in tempos]


def _meters_objects(meters: object) -> list[tuple[int, int, int]]:
    return [(m.time, m.numerator, m.denominator) for m in meters]


def _serialised() -> bool:
    """Whether symusic's serialised lists have the layout read above: checked on lists
    of known values, edge values included."""
    core = symusic.core
    time = np.array([0, -5, 2**31 - 1], dtype=np.int32)
    small = np.array([0, 127, 64], dtype=np.int8)
    try:
        notes = core.NoteTickList.from_numpy(time, time[::-1].copy(), small, small[::-1].copy())
        tempos = core.TempoTickList.from_numpy(time, np.array([500000, 1, 7], np.int32))
        meters = core.TimeSignatureTickList.from_numpy(
            time, np.array([3, 6, 255], np.uint8), np.array([4, 8, 1], np.uint8))
        serialised, columns = note_records([_notes_serialised(notes)]), notes.numpy()
        return (all(np.array_equal(serialised[name], columns[name]) for name in NOTE_RECORD.names)
                and _tempos_serialised(tempos) == _tempos_objects(tempos)
                and _meters_serialised(meters) == _meters_objects(meters))
    except Exception:  # another version: another layout, or no __getstate__
        return False


SERIALISED = available() and _serialised()
_notes, _tempos, _meters = ((_notes_serialised, _tempos_serialised, _meters_serialised)
                            if SERIALISED else (_notes_numpy, _tempos_objects, _meters_objects))
