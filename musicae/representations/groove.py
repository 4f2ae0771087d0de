"""Drums as they are played: GrooVAE's hits, velocities and micro-timing.

Gillick et al. (2019, "Learning to Groove with Inverse Sequence
Transformations") train a VAE to map the quantised, flat-velocity copy of a
drum performance to the performance itself ("humanize"). Here a step of the
16th grid holds, for each of the nine drum classes of ``drums.py``, two
tokens: the velocity bin of its hit and the offset bin of the hit from the
step (0 for both where the class is not hit). The hits themselves, the
9-bit pattern of each step as the 512-way index the drums kind uses, are the
per-step control ``hits``; the model's encoder reads only the controls
(``encode_tokens`` False in its geometry), so at training it sees what it will
be given at groove time: the bare beat.

Bins (categorical heads instead of GrooVAE's mean squared error):

- velocity: ``velocity_bins`` equal bins over 1..127 (16: about 8 velocity
  steps each, decoded at the bin centre, within ±4 of the played velocity,
  well under the spread of a drummer's velocities per drum);
- offset: the start minus the nearest step, rounded to ``1 / offset_bins`` of
  a step in [-0.5, 0.5) (16: 1/16 of a 16th, 7.8 ms at 120 qpm, under what a
  listener hears), written on a grid that many times finer than the step.

Offsets come from ``Piece.offsets``, which the MIDI reader keeps beside the
quantised starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicae.errors import MusicaeError
from musicae.midi.constants import DEFAULT_QPM, DEFAULT_VELOCITY
from musicae.midi.notes import NOTE_DTYPE, WRITE_TICKS_PER_STEP, Meter, Piece, UnusableMidi
from musicae.representations import drums
from musicae.representations.base import Representation
from musicae.representations.constants import DRUM_CLASSES, DRUMS_DEPTH
from musicae.representations.controls import Control
from musicae.representations.slots import from_slots
from musicae.representations.windows import bar_unit

HITS = "hits"  # the control: the classes hit at each step, as one 512-way index
NO_HIT = 0  # the token of a class not hit at a step (both heads)
MAX_TICKS_PER_QUARTER = 0x7FFF  # the finest beat division a MIDI header can state
MAX_VELOCITY = 127
TIMED_DTYPE = np.dtype(NOTE_DTYPE.descr + [("offset", np.float32)])  # notes + offset in steps


# --- tokens ⇄ velocities and offsets ---------------------------------------------


def velocity_tokens(velocity: np.ndarray, bins: int) -> np.ndarray:
    """Velocities 1..127 → tokens 1..bins (equal bins): (...) → (...) int64."""
    v = np.clip(np.asarray(velocity, np.int64), 1, MAX_VELOCITY)
    return (v - 1) * bins // MAX_VELOCITY + 1


def token_velocities(tokens: np.ndarray, bins: int) -> np.ndarray:
    """Tokens 1..bins → the centre velocity of each bin; NO_HIT → 0: (...) → (...) int64."""
    t = np.asarray(tokens, np.int64)
    centre = np.rint(1 + (t - 0.5) * MAX_VELOCITY / bins).astype(np.int64)
    return np.where(t > NO_HIT, centre, 0)


def offset_tokens(offset: np.ndarray, bins: int) -> np.ndarray:
    """Offsets in steps, [-0.5, 0.5) → tokens 1..bins: the nearest ``1 / bins`` of a step
    (the last bin also takes the last half bin before the next step)."""
    sub = np.floor(np.asarray(offset, np.float64) * bins + 0.5).astype(np.int64)
    return np.clip(sub, -(bins // 2), bins // 2 - 1) + bins // 2 + 1


def token_substeps(tokens: np.ndarray, bins: int) -> np.ndarray:
    """Tokens 1..bins → offsets in ``1 / bins`` of a step, -bins/2 .. bins/2 - 1; NO_HIT → 0."""
    t = np.asarray(tokens, np.int64)
    return np.where(t > NO_HIT, t - 1 - bins // 2, 0)


# --- notes ⇄ tokens --------------------------------------------------------------


def timed_hits(piece: Piece) -> np.ndarray:
    """A piece's drum hits on canonical pitches, one step long, each with its offset from
    its step (0 where the piece has none): (m,) ``TIMED_DTYPE``."""
    drum = piece.notes["is_drum"]
    hits = drums.to_drum_classes(piece.notes[drum])
    offsets = np.zeros(len(piece.notes), np.float32) if piece.offsets is None else piece.offsets
    mapped = drums.PITCH_CLASS[piece.notes["pitch"][drum]] != drums.NO_CLASS
    timed = np.zeros(len(hits), TIMED_DTYPE)
    for name in NOTE_DTYPE.names:
        timed[name] = hits[name]
    timed["offset"] = offsets[drum][mapped]
    return timed


def encode_groove(hits: np.ndarray, start: int, n_steps: int, velocity_bins: int,
                  offset_bins: int) -> np.ndarray:
    """Tokens of steps ``[start, start + n_steps)``: (n_steps, 2 * 9) uint8, the velocity
    token of each class, then its offset token. Of several hits of a class on one step the
    loudest counts (as GrooVAE).

    hits: (m,) ``TIMED_DTYPE`` on canonical pitches.
    """
    tokens = np.zeros((n_steps, 2 * DRUM_CLASSES), np.uint8)
    step = hits["start"] - start
    inside = (step >= 0) & (step < n_steps)
    hits, step = hits[inside], step[inside]
    order = np.argsort(hits["velocity"], kind="stable")  # the loudest is written last
    hits, step = hits[order], step[order]
    cls = drums.PITCH_CLASS[hits["pitch"]]
    tokens[step, cls] = velocity_tokens(hits["velocity"], velocity_bins)
    tokens[step, DRUM_CLASSES + cls] = offset_tokens(hits["offset"], offset_bins)
    return tokens


def hit_index(tokens: np.ndarray) -> np.ndarray:
    """The 512-way index of the classes hit at each step: (..., 2 * 9) → (...) int16."""
    return drums.multihot_to_index(tokens[..., :DRUM_CLASSES] != NO_HIT)


def decode_groove(tokens: np.ndarray, velocity_bins: int) -> np.ndarray:
    """One-step drum notes on canonical pitches at their bins' velocities, starts on the
    grid: (n_steps, 2 * 9) → (m,) ``NOTE_DTYPE``."""
    velocity = tokens[:, :DRUM_CLASSES]
    notes = drums.decode_drums(velocity != NO_HIT)
    cls = drums.PITCH_CLASS[notes["pitch"]]
    notes["velocity"] = token_velocities(velocity[notes["start"], cls], velocity_bins)
    return notes


def conform(tokens: np.ndarray, hits: np.ndarray, velocity_bins: int,
            offset_bins: int) -> np.ndarray:
    """Tokens that play exactly ``hits``: NO_HIT off them and, where a hit got NO_HIT, the
    default velocity's bin and no offset. tokens (..., 2 * 9), hits (...) index."""
    played = np.tile(drums.index_to_multihot(hits), 2)  # (..., 18)
    default = np.repeat([velocity_tokens(DEFAULT_VELOCITY, velocity_bins),
                         offset_tokens(0.0, offset_bins)], DRUM_CLASSES)  # (18,)
    filled = np.where(tokens == NO_HIT, default, tokens)
    return np.where(played, filled, NO_HIT).astype(np.uint8)


def spreads(tokens: np.ndarray, mask: np.ndarray, rep: Groove) -> dict[str, np.ndarray]:
    """Per class, the standard deviation over hits of the offset (in steps) and of the
    velocity of windows (n, steps, 2 * 9) with mask (n, steps): name → (9,), NaN for a
    class never hit. The measure GrooVAE's humanize is judged by."""
    real = tokens[mask]  # (m, 18)
    hit = real[:, :DRUM_CLASSES] != NO_HIT
    velocity = token_velocities(real[:, :DRUM_CLASSES], rep.velocity_bins).astype(float)
    offset = token_substeps(real[:, DRUM_CLASSES:], rep.offset_bins) / rep.offset_bins
    out = {}
    for name, values in (("offset_std", offset), ("velocity_std", velocity)):
        out[name] = np.array([values[hit[:, c], c].std() if hit[:, c].any() else np.nan
                              for c in range(DRUM_CLASSES)])
    return out


def finer(piece: Piece, notes: np.ndarray, shifts: np.ndarray, factor: int) -> Piece:
    """``piece`` with ``notes`` (n,) on a grid ``factor`` times finer, each moved by
    ``shifts`` (n,) of its steps (never before 0) and as long as it was."""
    out = notes.copy()
    start = np.maximum(notes["start"] * factor + shifts, 0)
    out["end"] = np.maximum(notes["end"] * factor + shifts, start + 1)
    out["start"] = start
    meters = tuple(Meter(m.start * factor, m.numerator, m.denominator,
                         m.steps_per_bar * factor) for m in piece.meters)
    length = None if piece.length is None else piece.length * factor
    return Piece(np.sort(out, order=["start", "pitch"], kind="stable"), meters, piece.qpm,
                 piece.steps_per_quarter * factor, length, piece.names)


@dataclass(frozen=True)
class BeatWindows:
    """A whole piece's drum hits as windows laid end to end, to be grooved.

    hits: (n, steps) int16, the 512-way index of the classes hit at each slotted step
    mask: (n, steps) bool, True on real steps (the silent bars that fill out the
        last window of a meter are real)
    steps: (n, steps) int64, the piece's step at each slotted position; -1 where none
    hit_notes: the piece's notes of the nine drum classes
    left: those in meters whose bars fit no window bar, kept as they are
    """

    hits: np.ndarray
    mask: np.ndarray
    steps: np.ndarray
    hit_notes: int
    left: int

    @property
    def controls(self) -> dict[str, np.ndarray]:
        """What the model is given, by control name: the hits."""
        return {HITS: self.hits}

    @property
    def facts(self) -> dict[str, int]:
        return {"hits_grooved": self.hit_notes - self.left, "hits_left_as_read": self.left}


class HitsControl(Control):
    """The classes hit at each step, as one 512-way index: what a groove model is given."""

    name, classes = HITS, DRUMS_DEPTH

    def __init__(self, velocity_bins: int, offset_bins: int) -> None:
        self.velocity_bins, self.offset_bins = velocity_bins, offset_bins

    def encode(self, piece: Piece, start: int, n_steps: int, meter: tuple[int, int],
               steps_per_quarter: int) -> np.ndarray:
        """The hits of the steps, read off their groove tokens (so the two always agree)."""
        tokens = encode_groove(timed_hits(piece), start, n_steps, self.velocity_bins,
                               self.offset_bins)
        return hit_index(tokens)

    def given(self, text: str | None, mask: np.ndarray) -> np.ndarray:
        raise MusicaeError("a groove model plays the hits of a given beat; use "
                           "`musicae groove MODEL beat.mid -o OUT`")


@dataclass(frozen=True)
class Groove(Representation):
    """Drums as played: for each of the nine drum classes a velocity and an offset token
    per step, conditioned on the step's hits (GrooVAE's humanize; see the module).

    velocity_bins : int
        Equal bins of velocity over 1..127.
    offset_bins : int
        Bins of the offset from the step: a hit starts a whole number of
        ``1 / offset_bins`` of a step from it, in [-0.5, 0.5). Even.
    """

    kind = "groove"
    velocity_bins: int = 16
    offset_bins: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        problem = _bins_problem(self)
        if problem:
            raise MusicaeError(f"{self.kind} settings: {problem}")

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((DRUM_CLASSES, self.velocity_bins + 1), (DRUM_CLASSES, self.offset_bins + 1))

    @property
    def track_names(self) -> tuple[str, ...]:
        return ("drums",)

    @property
    def controls(self) -> dict[str, Control]:
        return {HITS: HitsControl(self.velocity_bins, self.offset_bins)}

    def geometry(self) -> dict:
        """The encoder reads the hits and the mask only, never the played tokens."""
        return super().geometry() | {"encode_tokens": False}

    def sources(self, piece: Piece) -> list[np.ndarray]:
        hits = timed_hits(piece)
        return [hits] if len(hits) else []

    def no_source_reason(self, piece: Piece) -> str:
        return "no drums"

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        return notes

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        return encode_groove(notes, start, n_steps, self.velocity_bins, self.offset_bins)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return drums.hits_per_step(hit_index(tokens))

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        return decode_groove(tokens, self.velocity_bins)

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        return block, np.zeros(len(block), dtype=bool)  # drums have no key to move

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        return None

    def decode(self, tokens: np.ndarray, mask: np.ndarray, meter: tuple[int, int],
               qpm: float = DEFAULT_QPM, program: int | None = None,
               controls: dict[str, np.ndarray] | None = None) -> Piece:
        """:meth:`Representation.decode` with each hit moved by its offset, on a grid
        ``offset_bins`` times finer than the step; given the ``hits`` control, exactly
        those hits are played (see :func:`conform`)."""
        if controls and HITS in controls:
            tokens = conform(tokens, np.asarray(controls[HITS]), self.velocity_bins,
                             self.offset_bins)
        grid = super().decode(tokens, mask, meter, qpm, program)
        real = from_slots(tokens, mask)  # (steps, 18)
        notes = grid.notes
        column = DRUM_CLASSES + drums.PITCH_CLASS[notes["pitch"]]
        shifts = token_substeps(real[notes["start"], column], self.offset_bins)
        return finer(grid, notes, shifts, self.offset_bins)

    # --- a whole piece played, for `musicae groove` ------------------------------------

    def given(self, piece: Piece, path: str | None = None) -> BeatWindows:
        """Every drum hit of a piece in windows of whole bars from the start of each
        meter; the last window of a meter is filled out with silent bars.

        Raises UnusableMidi naming ``path`` for a piece without drum hits, or whose
        hits are all in meters that do not fit a window bar.
        """
        hits = timed_hits(piece)
        if not len(hits):
            raise UnusableMidi(path, self.no_source_reason(piece))
        end = int(hits["start"].max()) + 1
        laid = [self._layout(meter, int(min(stop, end))) for meter, stop in piece.meter_spans()
                if meter.start < end]
        laid = [found for found in laid if found is not None]
        if not laid:
            raise UnusableMidi(path, f"no meter of its drums fits a {self.slot}-step bar")
        steps = np.concatenate([s for s, _ in laid])  # (n, bars * slot)
        mask = np.concatenate([m for _, m in laid])
        grid = hit_index(self.encode_notes(hits, 0, end))  # (end,)
        index = np.where(steps >= 0, grid[np.maximum(steps, 0)], 0).astype(np.int16)
        left = int(np.isin(hits["start"], steps[steps >= 0], invert=True).sum())
        return BeatWindows(index, mask, steps, len(hits), left)

    def _layout(self, meter: Meter, stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Piece steps (w, bars * slot) of the windows of ``meter``'s steps up to ``stop``
        (-1 off the bar slots and from ``stop`` on) and their mask; None where a bar
        fits no window bar."""
        unit = bar_unit(meter, self.slot)
        if unit is None:
            return None
        spb = meter.steps_per_bar * unit[0] // meter.numerator
        window = self.bars * spb
        first = meter.start + window * np.arange(-(-(stop - meter.start) // window))  # (w,)
        real = self.mask(self.window_lengths(np.full(len(first), spb)))  # (w, bars * slot)
        offset = (np.arange(self.bars)[:, None] * spb + np.arange(self.slot)).reshape(-1)
        steps = first[:, None] + offset  # (w, bars * slot)
        return np.where(real & (steps < stop), steps, -1), real

    def play(self, piece: Piece, beat: BeatWindows, tokens: np.ndarray) -> Piece:
        """``piece`` with each drum hit of ``beat`` played as ``tokens`` (n, steps, 18) say:
        its velocity the bin's, its start moved by its offset, on a grid ``offset_bins``
        times finer than the step. Every other note is kept as it was read."""
        tokens = conform(tokens, beat.hits, self.velocity_bins, self.offset_bins)
        on = beat.steps >= 0
        table = np.zeros((int(beat.steps.max()) + 1, 2 * DRUM_CLASSES), np.uint8)
        table[beat.steps[on]] = tokens[on]  # the windows tile the piece: one row per step
        notes = piece.notes.copy()
        cls = drums.PITCH_CLASS[notes["pitch"]]
        at = np.flatnonzero(notes["is_drum"] & (cls != drums.NO_CLASS)
                            & (notes["start"] < len(table)))
        step, cls = notes["start"][at], cls[at]
        windowed = table[step, cls] != NO_HIT  # not: a hit in a meter no window holds
        at, step, cls = at[windowed], step[windowed], cls[windowed]
        notes["velocity"][at] = token_velocities(table[step, cls], self.velocity_bins)
        shifts = np.zeros(len(notes), np.int64)
        shifts[at] = token_substeps(table[step, DRUM_CLASSES + cls], self.offset_bins)
        return finer(piece, notes, shifts, self.offset_bins)


def _bins_problem(rep: Groove) -> str:
    """What is wrong with the bin settings, or an empty string."""
    finest = MAX_TICKS_PER_QUARTER // WRITE_TICKS_PER_STEP  # steps per quarter MIDI can hold
    checks = [
        (_whole(rep.velocity_bins) and 2 <= rep.velocity_bins <= MAX_VELOCITY,
         f"velocity_bins must be a whole number in 2..{MAX_VELOCITY}"),
        (_whole(rep.offset_bins) and rep.offset_bins >= 2 and rep.offset_bins % 2 == 0,
         "offset_bins must be an even whole number, at least 2"),
        (_whole(rep.offset_bins) and rep.offset_bins * rep.steps_per_quarter <= finest,
         f"offset_bins x steps_per_quarter must be at most {finest} (the finest grid a "
         f"MIDI file is written on)"),
    ]
    return next((message for ok, message in checks if not ok), "")


def _whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
