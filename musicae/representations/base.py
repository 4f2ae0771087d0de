"""A representation: how a piece of music becomes training windows and back.

A :class:`Representation` is both the settings of a kind (frozen and
hashable: its fields key the dataset cache and a trained model stores them)
and the one owner of everything that differs between kinds: which notes of a
piece it reads, how a span of steps is encoded and decoded, and its output
geometry (the categorical *heads* a model predicts at each step). Models,
datasets and commands ask it; none of them branches on its kind.

What a new kind writes
----------------------
Must (abstract): ``heads`` (what a model predicts at a step); ``shift`` and
``pitch_span`` (transposition). Its tokens, one of two ways: on a step grid,
``encode_notes`` / ``decode_notes`` (a span of steps ⇄ tokens) and ``onsets``
(what ``min_notes`` counts); or as events, ``encode_windows`` (each window's
notes → its arrays and lengths), ``decode`` and ``slots`` (how a model sees a
window: multitrack's tracks of events). And the notes it reads, one of two ways:
one piece at a time, ``sources`` (its lines), ``no_source_reason`` (why a piece
has none) and ``fit`` (a run brought into range); or many files at once,
``lines_batch`` and ``fit_batch`` (melody, drums, piano-roll: what lets
``prepare`` read a folder at the compiled parser's speed). A kind's rules live in
one of each pair, never both; what a kind is (``batchable``, ``rolls``,
``on_grid``, ``samples``) follows from what it writes.

May: ``track_names`` (the parts it writes); ``controls`` (per-step labels a
model is conditioned on, each a ``controls.Control``: chords, a beat's hits);
``attributes`` (for attribute vectors); ``sounding`` (for frame accuracy);
``facts`` (what ``prepare`` counts in its windows);
``geometry`` and ``decode`` (a kind whose model reads or writes more than its
tokens: groove); ``given`` and ``play`` (a kind whose model plays given
material rather than sampling: groove); and ``encode_cut`` (a kind that chooses
lines many at once and whose tokens fill every step a note sounds: piano-roll).

Everything else (window layout, meters, slots, cache keys, transposition of
windows and controls, MIDI writing) is written once, here and in ``codec.py``.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from musicae.configs import MAX_BARS, MAX_SLOT
from musicae.errors import MusicaeError
from musicae.midi.constants import DEFAULT_QPM, STEPS_PER_QUARTER
from musicae.midi.notes import (
    Piece,
    meter_piece,
    steps_per_bar,
)
from musicae.representations.attributes import Attribute
from musicae.representations.constants import DEFAULT_SLOT, MAX_PITCH, MIN_PITCH
from musicae.representations.slots import from_slots

if TYPE_CHECKING:
    from musicae.representations.controls import Control

CODEC_VERSION = 5  # bump when encoding changes, so cached windows are rebuilt (3: chords by
# beats; 4: lengths (n, *length_shape) stored in place of steps_per_bar (n,); 5: multitrack
# stores each bar's instrument count)
OUT_OF_RANGE = ("shift", "drop")  # octave-shift notes into range, or drop them
MIDI_PITCH_RANGE = (0, 127)
GM_PROGRAMS = range(128)
KEY_CHARS = 16  # hex digits of a settings key


@dataclass(frozen=True)
class Representation(abc.ABC):
    """How a piece becomes windows of ``bars`` bars, what a model predicts, and back.

    Parameters
    ----------
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
        General MIDI programs pitched parts are taken from; None for all.
    tracks : tuple of str or None
        Names of the tracks pitched parts are taken from (any case, e.g.
        ``("melody",)`` for POP909's lead); None for all. A track named
        ``chords`` is never a part: it holds a lead sheet's chords (controls).
    min_notes : int
        Fewest note onsets (drums: steps with hits) a kept window has.
    """

    kind: ClassVar[str]  # the name config.json and presets use
    bars: int = 2
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
    tracks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.programs is not None:
            object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
        if isinstance(self.tracks, str):
            object.__setattr__(self, "tracks", (self.tracks,))
        if self.tracks is not None:
            object.__setattr__(self, "tracks", tuple(str(t).strip().lower() for t in self.tracks))
        problem = _problem(self)
        if problem:
            raise MusicaeError(f"{self.kind} settings: {problem}")

    # --- geometry: what a model reads and predicts ---------------------------

    @property
    @abc.abstractmethod
    def heads(self) -> tuple[tuple[int, int], ...]:
        """(positions, classes) of each categorical output head, per step.

        A melody is one position of 90 classes, ``((1, 90),)``; a piano-roll 88
        positions of 3 states, ``((88, 3),)``; several tracks, one head each.
        """

    @property
    def positions(self) -> int:
        """Token positions per step, over all heads (the last axis a model sees)."""
        return sum(positions for positions, _ in self.heads)

    @property
    def token_shape(self) -> tuple[int, ...]:
        """Axes of one step's tokens in the arrays a dataset stores: () or (positions,)."""
        return () if self.positions == 1 else (self.positions,)

    @property
    def token_dtype(self) -> type:
        """The compact integer type windows are stored in."""
        largest = max(classes for _, classes in self.heads) - 1
        return np.uint8 if largest <= np.iinfo(np.uint8).max else np.int16

    @property
    def track_names(self) -> tuple[str, ...]:
        """The name of each part a decoded window is written with (its MIDI track names)."""
        return (self.kind,)

    @property
    def controls(self) -> dict[str, Control]:
        """The per-step labels a model is conditioned on, by name (see ``controls.py``)."""
        return {}

    def geometry(self) -> dict:
        """What a model of this representation is shaped by: heads, controls, and the
        slots of a window (its ``bars`` and ``slot``, see :attr:`slots`)."""
        slots, size = self.slots
        return {"heads": self.heads, "bars": slots, "slot": size,
                "controls": tuple((name, c.classes) for name, c in self.controls.items())}

    @property
    def slots(self) -> tuple[int, int]:
        """How a model sees a window: (slots, positions a slot). For a kind on a time grid,
        ``bars`` bar slots of ``slot`` steps; an event kind declares its own (tracks of
        events, say)."""
        return self.bars, self.slot

    @property
    def steps(self) -> int:
        """Positions in a window: ``bars * slot`` (all its slots' positions)."""
        slots, size = self.slots
        return slots * size

    # --- lengths: stored with each window; the mask is made from them, here only ------

    @property
    def length_shape(self) -> tuple[int, ...]:
        """Axes of the lengths stored with each window (magenta's ``length_shape``): the
        real positions of each slot, ``(slots,)``; for a kind on a time grid, the steps of
        each bar."""
        return self.slots[:1]

    def window_lengths(self, steps_per_bar: np.ndarray) -> np.ndarray:
        """The lengths of windows of whole bars of ``steps_per_bar`` (n,) steps each, as a
        kind on a time grid stores them and as a layout to decode is made: (n,
        *length_shape) int16. An event kind's layout opens every position of every slot
        (what is decoded ends where the kind says: its END)."""
        slots, size = self.slots
        fill = steps_per_bar if self.on_grid else np.full(len(steps_per_bar), size)
        return np.repeat(np.asarray(fill, dtype=np.int16)[:, None], slots, axis=1)

    def mask(self, lengths: np.ndarray) -> np.ndarray:
        """Which positions of windows are real, from their stored lengths: (n,
        *length_shape) → (n, steps) bool (slot s's real positions lead it)."""
        lengths = np.asarray(lengths)
        return (np.arange(self.slots[1]) < lengths[..., None]).reshape(len(lengths), self.steps)

    @property
    def pitches(self) -> int:
        """Pitches in the range."""
        return self.max_pitch - self.min_pitch + 1

    # --- hooks each kind implements ------------------------------------------

    def sources(self, piece: Piece) -> list[np.ndarray]:
        """The note arrays of a piece that runs are cut from: list of (n,) ``NOTE_DTYPE``
        (or wider: what :meth:`encode_notes` reads). A kind that is not ``batchable``
        writes this, :meth:`no_source_reason` and :meth:`fit`."""
        raise NotImplementedError(f"{self.kind} chooses its lines many files at once")

    def no_source_reason(self, piece: Piece) -> str:
        """Why a piece has no :meth:`sources`: the countable skip reason."""
        raise NotImplementedError(f"{self.kind} chooses its lines many files at once")

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        """A run brought into range (sorted by start), or None when it is dropped."""
        raise NotImplementedError(f"{self.kind} brings runs into range many at once")

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        """Tokens of steps ``[start, start + n_steps)``: (n_steps, *token_shape)."""
        raise NotImplementedError(f"{self.kind} encodes whole windows (encode_windows)")

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        """Notes starting at each step: (steps, *token_shape) → (steps,) int64, or
        (steps, parts) for several parts (a window needs ``min_notes`` in each)."""
        raise NotImplementedError(f"{self.kind} counts the notes of whole windows")

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        """Notes of real steps (steps, *token_shape) → (m,) ``NOTE_DTYPE`` from step 0."""
        raise NotImplementedError(f"{self.kind} decodes whole windows (decode)")

    @abc.abstractmethod
    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows moved by ``semitones``, and which stayed in range: (m, ...), (m,) bool."""

    @abc.abstractmethod
    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        """Lowest and highest pitch in windows (n, steps, *token_shape); None if pitchless."""

    # --- many files at once (``codec.py``): a kind that writes these has no sources/fit ---

    # The codec lays every span end to end: a kind whose encode_notes writes each note
    # at its start and end steps only gets them placed there (what falls outside all
    # spans goes to one spare step); a kind whose tokens fill every step a note sounds
    # (``rolls``) gets each note cut at the edges of the spans it sounds in, through
    # encode_cut.

    # What a kind is follows from what it writes (set for each kind as it is defined):
    # batchable: it chooses lines many files at once (lines_batch); rolls: its tokens fill
    # every step a note sounds (encode_cut); on_grid: its tokens are one per step, cut
    # from a step grid by the codec, unless it encodes whole windows (encode_windows);
    # samples: its prior decodes to music, unless its model plays given material (given).
    batchable: ClassVar[bool] = False
    rolls: ClassVar[bool] = False
    on_grid: ClassVar[bool] = True
    samples: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        writes = {name: getattr(cls, name) is not getattr(Representation, name)
                  for name in ("lines_batch", "encode_cut", "encode_windows", "given")}
        cls.batchable, cls.rolls = writes["lines_batch"], writes["encode_cut"]
        cls.on_grid, cls.samples = not writes["encode_windows"], not writes["given"]

    @property
    def whole_inputs(self) -> bool:
        """Whether ``reconstruct`` and ``encode`` take every window of an input, in order,
        unless ``--bar`` picks one: an event kind's, whose one-bar windows tile a piece
        (a grid kind's windows overlap, and take the first)."""
        return not self.on_grid and self.hop_bars == self.bars

    @property
    def columnar(self) -> bool:
        """Whether windows can be made from the compiled reader's note columns alone, with
        no piece: lines chosen many files at once, and no control read from a piece."""
        return self.batchable and not self.controls

    def lines_batch(self, n_files: int, file: np.ndarray, start: np.ndarray, end: np.ndarray,
                    pitch: np.ndarray, velocity: np.ndarray, part: np.ndarray,
                    is_drum: np.ndarray, instrument: np.ndarray) -> tuple:
        """:meth:`sources` of many files' notes at once: each column (n,) int64, steps on
        the grid, notes file by file and instrument by instrument (not sorted within);
        ``part`` (n,) bool: the note's track is among the chosen programs and tracks.
        Returns a ``codec.NoteBatch`` of the lines, numbered in file order and sorted
        by line then start, and ``{file: no_source_reason}`` for files without any."""
        raise NotImplementedError

    def fit_batch(self, notes, run: np.ndarray, run_first: np.ndarray) -> tuple:
        """Many runs brought into range at once: the notes kept (a ``codec.NoteBatch``,
        sorted by run then start) and the run of each, (m,) int64 (a run without any is
        dropped). ``run`` numbers each note's run; ``run_first`` is the first note of
        each."""
        raise NotImplementedError

    def encode_windows(self, notes: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       start: np.ndarray, bar: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                     np.ndarray]:
        """An event kind's windows (``on_grid`` False): window k holds ``notes[lo[k]:hi[k]]``
        (a run's notes starting in it, as :meth:`sources` gave them, by start), ``bars``
        window bars of ``bar[k]`` steps from the piece's step ``start[k]``. Returns the
        named arrays of every window (``tokens`` (w, steps, ...), ``lengths`` (w,
        *length_shape), and any other) and which have enough notes to keep, (w,) bool."""
        raise NotImplementedError(f"{self.kind} windows are cut from a step grid")

    def encode_cut(self, first: np.ndarray, last: np.ndarray, pitch: np.ndarray,
                   onset: np.ndarray, n_steps: int) -> np.ndarray:
        """Tokens of notes already cut to their spans, laid end to end (``rolls`` kinds):
        each sounds over steps ``[first, last)`` of ``n_steps``, ``onset`` False where it
        sounds on from before its span. → (n_steps, *token_shape)."""
        raise NotImplementedError

    def facts(self, arrays: dict[str, np.ndarray]) -> dict[str, int]:
        """What ``prepare`` reports of windows (named arrays as stored, n rows) beyond their
        meters and pitches: counts that add up over blocks (multitrack: tracks per bar,
        instruments, tracks cut to fit). None by default."""
        return {}

    def sounding(self, tokens: np.ndarray) -> np.ndarray | None:
        """Which (step, pitch) cells of windows (n, steps, *token_shape) sound, (n, steps,
        cells) bool: what the polyphonic literature's frame accuracy counts (``evaluate``
        prints it where this is not None)."""
        return None

    # --- a kind whose model plays given material (``samples`` False: groove) ---------

    def given(self, piece: Piece, path: str | None = None) -> Given:
        """A whole piece laid out as the windows such a model is given (see :class:`Given`);
        raises UnusableMidi naming ``path`` when it has nothing to give."""
        raise NotImplementedError(f"a {self.kind} model plays what it samples")

    def play(self, piece: Piece, given: Given, tokens: np.ndarray) -> Piece:
        """``piece`` with the windows of ``given`` played as ``tokens`` (n, steps,
        *token_shape) say; every other note kept as it was read."""
        raise NotImplementedError(f"a {self.kind} model plays what it samples")

    @property
    def attributes(self) -> dict[str, Attribute]:
        """Measurable attributes of windows (for attribute vectors); none by default."""
        return {}

    # --- written once for every kind ------------------------------------------

    def encode_controls(self, piece: Piece, start: int, n_steps: int,
                        meter: tuple[int, int]) -> dict[str, np.ndarray]:
        """Each control's labels for steps ``[start, start + n_steps)``: name → (n_steps,)."""
        return {name: c.encode(piece, start, n_steps, meter, self.steps_per_quarter)
                for name, c in self.controls.items()}

    def progression_controls(self, progression: str | None, mask: np.ndarray
                             ) -> dict[str, np.ndarray]:
        """The controls of windows laid out by ``mask`` (n, steps) that play over a chord
        progression given as text ("C G Am F", from ``--chords``): name → (n, steps).
        None: windows with no input to take controls from (sampling); a control that
        needs one says so."""
        if progression is not None and not self.controls:
            raise MusicaeError(f"a {self.kind} model is not conditioned on chords (--chords "
                               f"needs one such as preset mel_chords_2bar)")
        return {name: c.given(progression, mask) for name, c in self.controls.items()}

    def marks(self, tracks: list[tuple[str, list[tuple[float, int]]]]
              ) -> list[tuple[float, str]]:
        """Text to write above a picture of music this kind wrote, from its tracks (name,
        [(start in seconds, pitch)]): (time, text) marks, such as chord symbols."""
        return [mark for c in self.controls.values() for mark in c.marks(tracks)]

    def empty(self) -> dict[str, np.ndarray]:
        """The named arrays of no windows, as a dataset stores them."""
        controls = {name: np.zeros((0, self.steps), np.int16) for name in self.controls}
        return {"tokens": np.zeros((0, self.steps, *self.token_shape), dtype=self.token_dtype),
                "lengths": np.zeros((0, *self.length_shape), np.int16),
                "meter": np.zeros((0, 2), np.int16),
                **controls}

    def transpose(self, tokens: np.ndarray, semitones: int | np.ndarray) -> np.ndarray:
        """Windows moved by ``semitones`` (augmentation); a window that would leave the range
        stays as it was.

        tokens: (n, steps, *token_shape); semitones: one shift, or (n,) one per window.
        """
        return self.transpose_rows({"tokens": tokens}, semitones)["tokens"]

    def transpose_rows(self, rows: dict[str, np.ndarray], semitones: int | np.ndarray
                       ) -> dict[str, np.ndarray]:
        """:meth:`transpose` for named window arrays: tokens and controls move together."""
        tokens = rows["tokens"]
        shifts = np.broadcast_to(np.asarray(semitones, dtype=np.int64), tokens.shape[:1])
        names = [name for name in self.controls if name in rows]
        out = dict(rows) | {name: rows[name].copy() for name in ["tokens", *names]}
        for amount in np.unique(shifts[shifts != 0]):
            rows_at = np.flatnonzero(shifts == amount)
            moved, ok = self.shift(tokens[rows_at], int(amount))
            out["tokens"][rows_at[ok]] = moved[ok]
            for name in names:
                out[name][rows_at[ok]] = self.controls[name].shift(rows[name][rows_at[ok]],
                                                                   int(amount))
        return out

    def decode(
        self,
        tokens: np.ndarray,
        mask: np.ndarray,
        meter: tuple[int, int],
        qpm: float = DEFAULT_QPM,
        program: int | None = None,
        controls: dict[str, np.ndarray] | None = None,
    ) -> Piece:
        """A piece from one slotted window.

        Parameters
        ----------
        tokens : np.ndarray
            (bars * slot, *token_shape), as the dataset gives them.
        mask : np.ndarray
            (bars * slot,) bool, True on real steps (:meth:`mask` of its lengths).
        meter : tuple of int
            The window's time signature (as stored with it, or as it was laid out).
        program : int, optional
            General MIDI program of every pitched part (drums stay on the drum
            channel); by default each part keeps the program its kind decodes it
            with.
        """
        meter = (int(meter[0]), int(meter[1]))
        bar_steps = int(mask[: self.slot].sum())
        if steps_per_bar(*meter, self.steps_per_quarter) != bar_steps:
            raise MusicaeError(f"meter {meter[0]}/{meter[1]} does not have bars of "
                               f"{bar_steps} steps")
        notes = self.decode_notes(from_slots(tokens, mask))
        if program is not None:
            notes["program"][~notes["is_drum"]] = program
        names = self.track_names
        controls = controls or {}
        written = [c for name, c in self.controls.items() if c.track_name and name in controls]
        for control in written:  # controls that make tracks of their own (chords)
            labels = from_slots(np.asarray(controls[control.name]), mask)
            notes = np.concatenate([notes, control.notes(labels, len(names))])
            names = names + (control.track_name,)
        if written:
            notes = np.sort(notes, order=["start", "pitch"], kind="stable")
        return meter_piece(notes, meter, qpm, self.steps_per_quarter, length=int(mask.sum()),
                           names=names)

    def key(self) -> str:
        """A short stable digest of the settings and ``CODEC_VERSION``, for cache paths."""
        text = json.dumps([CODEC_VERSION, self.to_dict()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_CHARS]

    def to_dict(self) -> dict:
        """The kind and settings as plain JSON values (what config.json stores)."""
        values = {"kind": self.kind} | asdict(self)
        values["programs"] = list(self.programs) if self.programs is not None else None
        values["tracks"] = list(self.tracks) if self.tracks is not None else None
        return values

    @classmethod
    def setting_names(cls) -> set[str]:
        """The settings ``--set`` may change."""
        return {f.name for f in fields(cls)}


class Given(Protocol):
    """A whole piece laid out as windows for a model that plays given material:
    ``mask`` (n, steps) bool, ``controls`` {name: (n, steps)} (what it is given), and
    ``facts`` to report."""

    mask: np.ndarray

    @property
    def controls(self) -> dict[str, np.ndarray]: ...

    @property
    def facts(self) -> dict[str, int]: ...


CHORD_TRACK = "chords"  # a track of this name (any case) holds chords, never a part


def named_parts(names: Iterable[str], tracks: tuple[str, ...] | None) -> np.ndarray:
    """Which of these tracks may hold parts, by name, (len(names),) bool: not a chords
    track, and among ``tracks`` (lower case) when given."""
    lowered = [name.strip().lower() for name in names]
    return np.array([name != CHORD_TRACK and (tracks is None or name in tracks)
                     for name in lowered], dtype=bool)


def part_notes(piece: Piece, tracks: tuple[str, ...] | None) -> np.ndarray:
    """Which of the piece's notes are on tracks that may hold parts (see
    :func:`~musicae.representations.base.named_parts`), (n,) bool."""
    instrument = piece.notes["instrument"]
    ids = int(instrument.max(initial=-1)) + 1
    return named_parts([piece.name_of(i) for i in range(ids)], tracks)[instrument]


def pitched_notes(piece: Piece, programs: tuple[int, ...] | None,
                  tracks: tuple[str, ...] | None = None) -> np.ndarray:
    """Notes off the drum channel whose program is among ``programs`` and whose track is
    named among ``tracks`` (None: all), a chords track left out."""
    keep = ~piece.notes["is_drum"] & part_notes(piece, tracks)
    if programs is not None:
        keep &= np.isin(piece.notes["program"], programs)
    return piece.notes[keep]


def chord_notes(piece: Piece) -> np.ndarray:
    """The notes of a piece's chords tracks (a lead sheet's chords)."""
    return piece.notes[~piece.notes["is_drum"] & ~part_notes(piece, None)]


def default_meter(bar_steps: int, steps_per_quarter: int) -> tuple[int, int]:
    """The plainest time signature with bars of ``bar_steps`` (16 → 4/4, 12 → 3/4, 6 → 3/8)."""
    for denominator in (4, 8, 16, 32):
        numerator, rest = divmod(bar_steps * denominator, 4 * steps_per_quarter)
        if rest == 0:
            return numerator, denominator
    raise MusicaeError(f"no time signature has bars of {bar_steps} steps")


def _problem(rep: Representation) -> str:
    """What is wrong with the settings, or an empty string."""
    # the most of each a model can be built for (bars, slot) or that means anything
    positive = {"bars": MAX_BARS, "slot": MAX_SLOT, "hop_bars": MAX_BARS,
                "steps_per_quarter": MAX_SLOT, "gap_bars": 1024}
    checks = [
        *((_is_int(getattr(rep, n)) and 1 <= getattr(rep, n) <= high,
           f"{n} must be a positive integer (at most {high})") for n, high in positive.items()),
        (rep.out_of_range in OUT_OF_RANGE, f"out_of_range must be one of {OUT_OF_RANGE}"),
        (
            MIDI_PITCH_RANGE[0] <= rep.min_pitch <= rep.max_pitch <= MIDI_PITCH_RANGE[1],
            "need 0 <= min_pitch <= max_pitch <= 127",
        ),
        (rep.max_windows_per_file is None or rep.max_windows_per_file >= 1, "bad window cap"),
        (rep.min_notes >= 0, "min_notes must be at least 0"),
        (rep.programs is None or set(rep.programs) <= set(GM_PROGRAMS), "programs are 0..127"),
        (rep.tracks is None or (len(rep.tracks) > 0 and all(rep.tracks)),
         "tracks are one or more track names"),
    ]
    return next((message for ok, message in checks if not ok), "")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
