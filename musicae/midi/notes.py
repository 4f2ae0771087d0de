"""Standard MIDI files ⇄ quantised note events.

Reading goes through mido and quantises in *ticks*, not seconds: the step grid
is tied to the beat, so tempo changes move no note off the grid, and nothing is
allocated in proportion to a file's length (pretty_midi builds a tick-to-time
table as long as the file, which a note a million bars away turns into
gigabytes). Writing goes through mido too, in whole ticks per step, so a
written piece reads back to the same steps.

A :class:`Piece` holds notes as one structured numpy array (``NOTE_DTYPE``)
plus the time-signature segments in steps. Files that cannot be used raise
:class:`UnusableMidi`, whose ``reason`` is a short key a dataset report counts.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache

import mido
import numpy as np

from musicae.errors import MusicaeError
from musicae.files import FileProblem, read_regular
from musicae.midi import compiled
from musicae.midi.constants import (
    DEFAULT_METER,
    DEFAULT_PROGRAM,
    DEFAULT_QPM,
    DEFAULT_VELOCITY,
    DRUM_CHANNEL,
    STEPS_PER_QUARTER,
)

MIN_QPM, MAX_QPM = 10.0, 1000.0  # tempos outside this range mark a broken file
MAX_PIECE_QUARTERS = 50_000  # about seven hours at 120 qpm; beyond: broken delta times
MIDI_HEADER = b"MThd"
READER_ENV = "MUSICAE_MIDI_READER"  # "symusic" or "mido": which parser reads MIDI
SMPTE_DIVISION = 0x8000  # a header division with this bit set counts frames, not beats
WRITE_TICKS_PER_STEP = 120  # resolution of written files, in ticks per grid step
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]  # channels for pitched parts

NOTE_DTYPE = np.dtype(
    [
        ("start", np.int64),  # first step the note sounds
        ("end", np.int64),  # first step it no longer sounds (> start)
        ("pitch", np.int16),  # MIDI pitch 0..127
        ("velocity", np.int16),  # 1..127
        ("program", np.int16),  # General MIDI program 0..127
        ("is_drum", np.bool_),  # played on the drum channel
        ("instrument", np.int32),  # which (track, channel, program) it came from
    ]
)


class UnusableMidi(MusicaeError):
    """A file (or piece) that yields nothing usable; ``reason`` is a short countable key."""

    def __init__(self, path: str | os.PathLike | None, reason: str, detail: str = "") -> None:
        self.reason = reason
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{reason}{f' ({detail})' if detail else ''}")


@dataclass(frozen=True)
class Meter:
    """A time-signature segment that starts at step ``start`` and runs to the next one."""

    start: int
    numerator: int
    denominator: int
    steps_per_bar: int  # 0 when a bar is not a whole number of steps

    @property
    def name(self) -> str:
        """The signature as written, e.g. ``"6/8"``."""
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True, eq=False)
class Piece:
    """A quantised piece: notes on a step grid and its time-signature segments.

    notes: (n,) of ``NOTE_DTYPE``, sorted by start then pitch.
    meters: sorted by start; the first starts at step 0.
    length: steps the piece lasts (a decoded window: all its bars, silent ones
        too); None where it ends with its last note.
    names: the track name of each instrument id, written back as track names.
    offsets: (n,) float32, read from a file: how far each note starts from its step, in
        steps, in [-0.5, 0.5) (the micro-timing quantising takes away); None for a
        piece made otherwise.
    """

    notes: np.ndarray
    meters: tuple[Meter, ...]
    qpm: float = DEFAULT_QPM
    steps_per_quarter: int = STEPS_PER_QUARTER
    length: int | None = None
    names: tuple[str, ...] = ()  # track name of each instrument id ("" for none)
    offsets: np.ndarray | None = None  # (n,) float32: start minus step, in steps

    def name_of(self, instrument: int) -> str:
        return self.names[instrument] if 0 <= instrument < len(self.names) else ""

    @property
    def seconds(self) -> float:
        """How long the piece lasts at its tempo."""
        steps = self.length if self.length is not None else int(self.notes["end"].max(initial=0))
        return steps / self.steps_per_quarter * 60.0 / self.qpm

    def meter_spans(self) -> list[tuple[Meter, float]]:
        """Each meter with the step where it ends (``inf`` for the last one)."""
        ends = [m.start for m in self.meters[1:]] + [float("inf")]
        return list(zip(self.meters, ends, strict=True))


def steps_per_bar(numerator: int, denominator: int, steps_per_quarter: int) -> int:
    """Steps in one bar of ``numerator/denominator`` (4/4 → 16, 6/8 → 12 at 4 per quarter).

    Returns 0 when the bar is not a whole, positive number of steps (e.g. 3/32).
    """
    if numerator <= 0 or denominator <= 0:
        return 0
    steps, rest = divmod(numerator * 4 * steps_per_quarter, denominator)
    return steps if rest == 0 else 0


def make_notes(
    start: np.ndarray | list[int],
    end: np.ndarray | list[int],
    pitch: np.ndarray | list[int],
    velocity: int | np.ndarray = DEFAULT_VELOCITY,
    program: int | np.ndarray = DEFAULT_PROGRAM,
    is_drum: bool | np.ndarray = False,
    instrument: int | np.ndarray = 0,
) -> np.ndarray:
    """A ``NOTE_DTYPE`` array from per-note arrays (scalars broadcast), sorted by start, pitch."""
    notes = _note_array(start, end, pitch, velocity, program, is_drum, instrument)
    return np.sort(notes, order=["start", "pitch"], kind="stable")


def _note_array(start, end, pitch, velocity, program, is_drum, instrument) -> np.ndarray:
    """:func:`make_notes` in the given order."""
    start = np.asarray(start, dtype=np.int64)
    notes = np.zeros(start.shape[0], dtype=NOTE_DTYPE)
    for column, value in (
        ("start", start),
        ("end", end),
        ("pitch", pitch),
        ("velocity", velocity),
        ("program", program),
        ("is_drum", is_drum),
        ("instrument", instrument),
    ):
        notes[column] = value
    return notes


def meter_piece(notes: np.ndarray, meter: tuple[int, int], qpm: float, spq: int,
                length: int | None = None, names: tuple[str, ...] = ()) -> Piece:
    """A piece with a single time signature from step 0, ``length`` steps long."""
    spb = steps_per_bar(meter[0], meter[1], spq)
    return Piece(notes, (Meter(0, meter[0], meter[1], spb),), qpm, spq, length, names)


# --- reading -----------------------------------------------------------------


def read_midi(path: str | os.PathLike, steps_per_quarter: int = STEPS_PER_QUARTER) -> Piece:
    """Read a standard MIDI file (type 0 or 1) and quantise it to the step grid.

    Note starts and ends are rounded to the nearest step; a note shorter than
    half a step lasts one step. Drums are the notes on channel 10.

    Raises
    ------
    UnusableMidi
        For an empty, oversized, non-MIDI, corrupt or truncated file, SMPTE
        timing, an absurd tempo or length, or a file without notes.
    """
    return parse_midi(read_midi_bytes(path), path, steps_per_quarter)


def parse_midi(
    data: bytes,
    path: str | os.PathLike | None = None,
    steps_per_quarter: int = STEPS_PER_QUARTER,
    reader: str | None = None,
) -> Piece:
    """:func:`read_midi` on bytes already read; ``path`` only names the file in errors.

    ``reader`` is ``"symusic"`` (the compiled parser, the default where it is
    installed) or ``"mido"`` (pure Python); ``$MUSICAE_MIDI_READER`` sets the
    default. Both give the same notes, except that the compiled one drops notes
    that are never released (mido's reader ends them with their track).
    """
    if not data:
        raise UnusableMidi(path, "empty file")
    if not data.startswith(MIDI_HEADER):
        raise UnusableMidi(path, "not a MIDI file")
    if (reader or default_reader()) == "symusic":
        found = compiled.read_events(data)
        if found is not None:
            events = Events([], found.tempos, found.meters, *found.sounding())
            return quantise(path, events, found.ticks_per_quarter, steps_per_quarter)
    midi = _parse(path, data)  # also where a file the compiled reader refused gets its reason
    return quantise(path, _scan_tracks(midi), midi.ticks_per_beat, steps_per_quarter)


def default_reader() -> str:
    """``$MUSICAE_MIDI_READER``, else ``"symusic"`` where it is installed, else ``"mido"``."""
    return os.environ.get(READER_ENV) or ("symusic" if compiled.available() else "mido")


def read_midi_bytes(path: str | os.PathLike) -> bytes:
    """A regular file's bytes, at most ``LIMITS["midi"]`` of them (see :func:`read_midi_file`)."""
    return read_midi_file(path)[0]


def read_midi_file(path: str | os.PathLike) -> tuple[bytes, tuple[int, int]]:
    """A regular file's bytes, at most ``LIMITS["midi"]`` of them, and the (size,
    mtime_ns) of what was read (see :func:`musicae.files.read_regular`)."""
    try:
        data, info = read_regular(path, "midi")
    except FileProblem as exc:
        raise UnusableMidi(path, exc.reason, exc.detail) from None
    return data, (info.st_size, info.st_mtime_ns)


def _parse(path: str | os.PathLike | None, data: bytes) -> mido.MidiFile:
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises EOFError, OSError, ValueError, KeyError, ...
        raise UnusableMidi(path, "corrupt or truncated MIDI", str(exc)[:80]) from exc
    if midi.type == 2:
        raise UnusableMidi(path, "MIDI type 2 unsupported")
    if not 0 < midi.ticks_per_beat < SMPTE_DIVISION:
        raise UnusableMidi(path, "SMPTE timing unsupported")
    return midi


@dataclass
class Events:
    """Raw events in ticks, gathered from every track, as a reader found them.

    notes: (start, end, pitch, velocity, program, is_drum, instrument key) per
    note, where the key names the (track, channel, program) it came from; a
    reader that has the columns already may give them as ``columns`` instead.
    """

    notes: list[tuple[int, int, int, int, int, bool, object]]
    tempos: list[tuple[int, int]]  # (tick, microseconds per quarter)
    meters: list[tuple[int, int, int]]  # (tick, numerator, denominator)
    columns: tuple[np.ndarray, ...] | None = None  # the notes as 7 arrays
    names: list[str] = field(default_factory=list)  # track name of each instrument id
    track_names: dict[int, str] = field(default_factory=dict)  # MIDI track index → name

    def note_columns(self) -> tuple[np.ndarray, ...]:
        """start and end ticks, pitch, velocity, program, is_drum, instrument id: (n,) each."""
        if self.columns is not None:
            return self.columns
        if not self.notes:
            return tuple(np.zeros(0, np.int64) for _ in range(7))
        columns = list(zip(*self.notes, strict=True))
        keys = list(dict.fromkeys(columns[6]))  # (track, channel, program), first come first
        self.names = [self.track_names.get(key[0], "") for key in keys]
        ids = {key: i for i, key in enumerate(keys)}
        return (*(np.asarray(c, dtype=np.int64) for c in columns[:6]),
                np.array([ids[key] for key in columns[6]], dtype=np.int64))


def _scan_tracks(midi: mido.MidiFile) -> Events:
    events = Events([], [], [])
    for index, track in enumerate(midi.tracks):
        _scan_track(index, track, events)
    return events


def _scan_track(index: int, track: mido.MidiTrack, events: Events) -> None:
    """Pair note-ons with note-offs (first in, first out per channel and pitch)."""
    tick = 0
    programs = [DEFAULT_PROGRAM] * 16
    sounding: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for msg in track:
        tick += msg.time
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            key = (msg.channel, msg.note)
            sounding.setdefault(key, []).append((tick, msg.velocity, programs[msg.channel]))
        elif kind == "note_off" or kind == "note_on":
            starts = sounding.get((msg.channel, msg.note))
            if starts:
                _add_note(events, index, msg.channel, msg.note, starts.pop(0), tick)
        elif kind == "program_change":
            programs[msg.channel] = msg.program
        elif kind == "set_tempo":
            events.tempos.append((tick, msg.tempo))
        elif kind == "time_signature":
            events.meters.append((tick, msg.numerator, msg.denominator))
        elif kind == "track_name":
            events.track_names.setdefault(index, msg.name)
    for (channel, pitch), starts in sounding.items():  # never released: end with the track
        for start in starts:
            _add_note(events, index, channel, pitch, start, tick)


def _add_note(
    events: Events, track: int, channel: int, pitch: int, start: tuple[int, int, int], end: int
) -> None:
    tick, velocity, program = start
    if end > tick:
        key = (track, channel, program)
        events.notes.append((tick, end, pitch, velocity, program, channel == DRUM_CHANNEL, key))


def quantise(path: str | os.PathLike | None, events: Events, tpb: int, spq: int) -> Piece:
    """A piece on the step grid from raw events in ticks (``tpb`` ticks per quarter)."""
    columns = events.note_columns()
    start_ticks, end_ticks = columns[0], columns[1]
    last_tick = int(end_ticks.max()) if len(end_ticks) else 0
    qpm, meters = frame(path, len(start_ticks), last_tick, tpb, spq, events.tempos,
                        events.meters)
    start = _to_steps(start_ticks, tpb, spq)
    end = np.maximum(_to_steps(end_ticks, tpb, spq), start + 1)
    notes = _note_array(start, end, *columns[2:])
    order = np.argsort(notes, order=["start", "pitch"], kind="stable")  # as make_notes sorts
    offsets = (start_ticks * spq / tpb - start).astype(np.float32)
    return Piece(notes[order], meters, qpm, spq, names=tuple(events.names),
                 offsets=offsets[order])


def frame(path: str | os.PathLike | None, n_notes: int, last_tick: int, tpb: int, spq: int,
          tempos: list[tuple[int, int]], meters: list[tuple[int, int, int]]
          ) -> tuple[float, tuple[Meter, ...]]:
    """A piece's tempo and time-signature segments from its raw events, after the checks
    that refuse a whole file (no notes, an absurd length or tempo), in that order.

    ``last_tick``: where its last note ends.
    """
    if not n_notes:
        raise UnusableMidi(path, "no notes")
    if last_tick > MAX_PIECE_QUARTERS * tpb:
        raise UnusableMidi(path, "absurd length", f"a note at quarter {last_tick // tpb}")
    return _tempo(path, tempos, last_tick), _meters(meters, tpb, spq, last_tick)


def _to_steps(ticks: np.ndarray, tpb: int, spq: int) -> np.ndarray:
    """Nearest step to each tick (halves round up), in exact integer arithmetic."""
    return (ticks * (2 * spq) + tpb) // (2 * tpb)


def _tempo(path: str | os.PathLike | None, tempos: list[tuple[int, int]], last_tick: int) -> float:
    """The first tempo in quarters per minute; any tempo out of range marks the file broken."""
    if len(tempos) > 1:
        tempos = sorted(t for t in tempos if t[0] <= last_tick)
    elif tempos and tempos[0][0] > last_tick:
        tempos = []
    for _, micros in tempos:
        qpm = 60e6 / micros if micros > 0 else float("inf")
        if not MIN_QPM <= qpm <= MAX_QPM:
            raise UnusableMidi(path, "absurd tempo", f"{qpm:.4g} qpm")
    return 60e6 / tempos[0][1] if tempos else DEFAULT_QPM


def _meters(raw: list[tuple[int, int, int]], tpb: int, spq: int, last_tick: int) -> tuple:
    """Time-signature segments in steps: one per change, the first at step 0."""
    if not raw or min(raw)[0] == max(raw)[0] == 0:  # most files: none, or all at the start
        return (_meter(0, *(raw[-1][1:] if raw else DEFAULT_METER), spq),)  # the last wins
    by_step: dict[int, tuple[int, int]] = {0: DEFAULT_METER}
    for tick, numerator, denominator in sorted(raw, key=lambda m: m[0]):
        if tick <= last_tick:
            by_step[_to_steps(tick, tpb, spq)] = (numerator, denominator)
    meters: list[Meter] = []
    for step, (numerator, denominator) in sorted(by_step.items()):
        if meters and (meters[-1].numerator, meters[-1].denominator) == (numerator, denominator):
            continue
        meters.append(_meter(step, numerator, denominator, spq))
    return tuple(meters)


@lru_cache(maxsize=4096)
def _meter(start: int, numerator: int, denominator: int, spq: int) -> Meter:
    """A segment (immutable, so shared: most files have the same few)."""
    return Meter(start, numerator, denominator, steps_per_bar(numerator, denominator, spq))


# --- writing -----------------------------------------------------------------


def write_midi(piece: Piece, path: str | os.PathLike) -> None:
    """Write a piece as a type-1 MIDI file with its tempo, time signatures and programs.

    Steps become whole ticks (``WRITE_TICKS_PER_STEP`` each), so reading the
    file back gives the same steps exactly. A conductor track holds tempo and
    meters; each instrument id gets a track and a channel (drums: channel 10).
    """
    _check_writable(piece)
    midi = mido.MidiFile(type=1, ticks_per_beat=piece.steps_per_quarter * WRITE_TICKS_PER_STEP)
    midi.tracks.append(_conductor(piece))
    parts = len(piece.notes) + len(piece.names)
    channels = iter(MELODIC_CHANNELS * (1 + parts // len(MELODIC_CHANNELS)))
    ids = sorted(set(piece.notes["instrument"].tolist()) | set(range(len(piece.names))))
    for instrument_id in ids:  # a named part without notes still gets its (empty) track
        notes = piece.notes[piece.notes["instrument"] == instrument_id]
        drums = bool(notes["is_drum"][0]) if len(notes) else False
        channel = DRUM_CHANNEL if drums else next(channels)
        midi.tracks.append(_track(notes, channel, piece.name_of(instrument_id)))
    try:
        midi.save(str(path))
    except OSError as exc:
        raise MusicaeError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _check_writable(piece: Piece) -> None:
    """Notes a MIDI file can hold (checked once here, not per message)."""
    notes = piece.notes
    problems = [
        ((notes["pitch"] < 0) | (notes["pitch"] > 127)).any() and "a pitch outside 0..127",
        ((notes["program"] < 0) | (notes["program"] > 127)).any() and "a program outside 0..127",
        (notes["start"] < 0).any() and "a note before step 0",
        (notes["end"] <= notes["start"]).any() and "a note that ends before it starts",
    ]
    problem = next((p for p in problems if p), None)
    if problem:
        raise MusicaeError(f"cannot write MIDI: {problem}")


def _conductor(piece: Piece) -> mido.MidiTrack:
    """Tempo, then the time signatures, each at its step."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(piece.qpm))])
    tick = 0
    for meter in piece.meters:
        at = meter.start * WRITE_TICKS_PER_STEP
        track.append(
            mido.MetaMessage(
                "time_signature",
                numerator=meter.numerator,
                denominator=meter.denominator,
                time=at - tick,
            )
        )
        tick = at
    if piece.length is not None:  # the file lasts all its bars, even silent last ones
        end = max(piece.length * WRITE_TICKS_PER_STEP, tick)
        track.append(mido.MetaMessage("end_of_track", time=end - tick))
    return track


def _track(notes: np.ndarray, channel: int, name: str = "") -> mido.MidiTrack:
    """One instrument's notes; at equal ticks note-offs come first, so repeats re-strike.

    notes: (n,) ``NOTE_DTYPE`` already checked by ``_check_writable``.
    """
    n = len(notes)
    ticks = np.concatenate([notes["start"], notes["end"]]) * WRITE_TICKS_PER_STEP  # (2n,)
    is_on = np.arange(2 * n) < n
    pitch = np.tile(notes["pitch"], 2)
    velocity = np.concatenate([np.clip(notes["velocity"], 1, 127), np.zeros(n, np.int16)])
    order = np.lexsort((is_on, ticks))  # by tick, note-offs first
    deltas = np.diff(ticks[order], prepend=0)
    program = int(notes["program"][0]) if n else DEFAULT_PROGRAM
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)] if name else [])
    track.append(mido.Message("program_change", program=program, channel=channel))
    for delta, on, note, strength in zip(
        deltas.tolist(), is_on[order].tolist(), pitch[order].tolist(),
        velocity[order].tolist(), strict=True,
    ):  # fmt: skip
        kind = "note_on" if on else "note_off"
        track.append(
            mido.Message(
                kind, skip_checks=True, channel=channel, note=note, velocity=strength, time=delta
            )
        )
    return track
