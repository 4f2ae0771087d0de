"""Multitrack measures: one bar of up to ``track_slots`` instruments, each an event sequence
(Simon et al. 2018, "Learning a Latent Space of Multitrack Measures").

A window is one bar. Each of its ``track_slots`` tracks is one instrument of the piece (a MIDI
track, channel and program: any General MIDI program, or the drum kit), written as
MIDI-like performance events on a grid of 24 steps a quarter, fine enough for
sixteenths, eighth- and sixteenth-note triplets and swung eighths (a 4/4 bar is
96 steps): its program first, then note-ons and note-offs per pitch, time shifts
of 1..``slot`` steps, velocity changes (``velocity_bins`` equal bins of 1..127,
written before a note-on whose bin differs from the last), and ``END``.

Tokens, one class per event (one head)::

    END | PROGRAM 0..127, DRUMS | NOTE_ON 0..127 | NOTE_OFF 0..127 |
    SHIFT 1..slot | VELOCITY 1..velocity_bins

Rules a bar is written by:

- the notes of a bar are those starting in it; a note still sounding at the bar's
  end is ended there (a note sounding into a bar from before is not seen, as a
  melody window does not see one);
- with ``snap_onsets``, every onset is first moved to its nearest sixteenth or
  sixteenth-triplet line, so a note is in the bar its moved onset is in;
- drum hits have no note-off (they are one step long when read back);
- tracks are ordered drums last, then by program, then by the order the piece
  holds them; a bar with more than ``track_slots`` instruments keeps the first
  ``track_slots`` by that order and the rest are left out; a track slot with no
  instrument is a lone ``END``;
- a track with more events than its ``events`` slot holds (program and ``END``
  included) keeps the events that fit, and its held notes end with the bar.

Each window stores, beside its tokens ((tracks * events,) one track slot after
another), its lengths: the events of each track slot, ``END`` included
(``length_shape`` is ``(track_slots,)``). A model sees the tracks as the slots of a
hierarchical model (the bars of a 16-bar melody): an encoder over each track's
events then over the tracks, a decoder that makes one embedding per track and
decodes its events from it (presets ``multitrack_1bar``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pretty_midi

from musicae.errors import MusicaeError
from musicae.midi.constants import DEFAULT_QPM
from musicae.midi.notes import NOTE_DTYPE, Piece, meter_piece, steps_per_bar
from musicae.representations.base import Representation, part_notes
from musicae.representations.controls import BarChordControl, Control

MIDI_PITCHES = 128
DRUMS = 128  # the program number that stands for the drum kit
END, FIRST_PROGRAM = 0, 1
FIRST_ON = FIRST_PROGRAM + MIDI_PITCHES + 1
FIRST_OFF = FIRST_ON + MIDI_PITCHES
FIRST_SHIFT = FIRST_OFF + MIDI_PITCHES
MULTITRACK_SPQ = 24  # steps a quarter: sixteenths, triplets and swing on one grid
MULTITRACK_SLOT = 96  # steps of the longest window bar (4/4 at 24 a quarter)
BAR_CHORD = BarChordControl()


@dataclass(frozen=True)
class Multitrack(Representation):
    """One bar of up to ``track_slots`` instruments, each an event sequence (see the module).

    Parameters
    ----------
    track_slots : int
        Tracks a bar holds.
    events : int
        Events a track slot holds, its program and ``END`` included.
    velocity_bins : int
        Equal bins of velocity over 1..127.
    chords : bool
        Condition on the bar's chord (48 triads and no chord), inferred from its pitched
        notes, or given (``--chords``): the control ``chord``, one label a window.
    snap_releases : bool
        Move each pitched note's release to the nearest sixteenth or eighth-triplet line
        (the first one after its onset, at least), onsets staying (see ``snap_onsets``). A
        performed release falls anywhere, so it splits the time shifts between onsets
        into odd pieces (in POP909's piano, a shift of one step is the commonest event);
        on these lines the shifts are the music's own.
    snap_onsets : bool
        Move each note's onset (drum hits too) to the nearest sixteenth or sixteenth-triplet
        line (6 or 4 steps at 24 a quarter; eighth triplets are on both), keeping its length,
        before the piece is cut into bars: a hit played just before a barline opens the next
        bar. Lines are counted from the piece's start. Performed drums (groove) place hits a
        step or two off the lines, so a bar's time shifts are odd pieces (shifts of 1 and 5
        steps are 19% and 13% of groove's) and a drum track runs over 64 events; on the
        lines, 57 distinct shifts become 31. Thirty-second notes move to a line too.
    """

    kind = "multitrack"
    bars: int = 1
    slot: int = MULTITRACK_SLOT
    steps_per_quarter: int = MULTITRACK_SPQ
    min_notes: int = 1
    track_slots: int = 8
    events: int = 64
    velocity_bins: int = 8
    chords: bool = False
    snap_releases: bool = False
    snap_onsets: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        problem = _problem(self)
        if problem:
            raise MusicaeError(f"{self.kind} settings: {problem}")

    # --- vocabulary ----------------------------------------------------------------

    @property
    def first_velocity(self) -> int:
        return FIRST_SHIFT + self.slot

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((1, self.first_velocity + self.velocity_bins),)

    @property
    def controls(self) -> dict[str, Control]:
        return {"chord": BAR_CHORD} if self.chords else {}

    @property
    def track_names(self) -> tuple[str, ...]:
        return tuple(f"track {i + 1}" for i in range(self.track_slots))

    @property
    def slots(self) -> tuple[int, int]:
        """A model sees ``track_slots`` slots of ``events`` positions (its bars and slot)."""
        return self.track_slots, self.events

    # --- notes in ---------------------------------------------------------------------

    def sources(self, piece: Piece) -> list[np.ndarray]:
        """All the piece's notes, pitched and drums (a chords track left out)."""
        notes = piece.notes[part_notes(piece, self.tracks)]
        if self.programs is not None:
            notes = notes[notes["is_drum"] | np.isin(notes["program"], self.programs)]
        if self.snap_onsets and len(notes):
            notes = notes.copy()
            start = _nearest_line(notes["start"], (self.steps_per_quarter // 4,
                                                   self.steps_per_quarter // 6))
            notes["end"] = np.maximum(notes["end"] + start - notes["start"], start + 1)
            notes["start"] = start
        return [notes] if len(notes) else []

    def no_source_reason(self, piece: Piece) -> str:
        return "no notes in the chosen programs"

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        return notes  # every pitch and program has a token

    def encode_windows(self, notes: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       start: np.ndarray, bar: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                     np.ndarray]:
        tokens = np.zeros((len(lo), self.steps), self.token_dtype)
        lengths = np.ones((len(lo), self.track_slots), np.int16)  # a lone END
        instruments = np.zeros(len(lo), np.int16)  # the bar's, slots or not (for facts)
        chord = np.zeros(len(lo), np.int16)
        for k, (first, last, begin, steps) in enumerate(zip(
                lo.tolist(), hi.tolist(), start.tolist(), bar.tolist(), strict=True)):
            found = self._bar_events(notes[first:last], begin, steps)
            instruments[k] = len(found)
            if self.chords:
                chord[k] = BAR_CHORD.of_bar(notes[first:last], begin, steps)
            for slot, events in enumerate(found[: self.track_slots]):
                tokens[k, slot * self.events : slot * self.events + len(events)] = events
                lengths[k, slot] = len(events)
        arrays = {"tokens": tokens, "lengths": lengths, "instruments": instruments}
        if self.chords:
            arrays["chord"] = np.repeat(chord[:, None], self.steps, axis=1)
        return arrays, (hi - lo) >= self.min_notes

    def _bar_events(self, notes: np.ndarray, begin: int, steps: int) -> list[list[int]]:
        """The event tokens of each instrument of one bar's notes (those starting in it), in
        track order; those past ``track_slots`` (left out) as no events."""
        instruments = np.unique(notes["instrument"])
        drum = [bool(notes["is_drum"][notes["instrument"] == i][0]) for i in instruments]
        program = [DRUMS if d else int(notes["program"][notes["instrument"] == i][0])
                   for i, d in zip(instruments, drum, strict=True)]
        order = sorted(range(len(instruments)), key=lambda j: (drum[j], program[j]))
        return [self._track_events(notes[notes["instrument"] == instruments[j]], program[j],
                                   begin, steps) if rank < self.track_slots else []
                for rank, j in enumerate(order)]

    def _track_events(self, notes: np.ndarray, program: int, begin: int,
                      steps: int) -> list[int]:
        """One track's events: its program, its notes' events in time order (at a step:
        note-offs, then each note-on after its velocity), ``END``; cut to fit the slot."""
        drums = program == DRUMS
        on = notes["start"] - begin
        off = np.minimum(notes["end"] - begin, steps)
        if self.snap_releases:
            off = self._snapped(on, off, steps)
        velocity = 1 + (np.clip(notes["velocity"], 1, 127) - 1) * self.velocity_bins // 127
        # (time, 0 for off / 1 for on, pitch, velocity bin)
        moments = [(t, 1, int(p), int(v)) for t, p, v in zip(
            on.tolist(), notes["pitch"].tolist(), velocity.tolist(), strict=True)]
        if not drums:
            moments += [(t, 0, int(p), 0) for t, p in zip(off.tolist(),
                                                          notes["pitch"].tolist(), strict=True)]
        events, now, loud = [FIRST_PROGRAM + program], 0, 0
        for time, is_on, pitch, bin_ in sorted(moments):
            if time > now:
                events.append(FIRST_SHIFT + time - now - 1)
                now = time
            if is_on and bin_ != loud:
                events.append(self.first_velocity + bin_ - 1)
                loud = bin_
            events.append((FIRST_ON if is_on else FIRST_OFF) + pitch)
        return events[: self.events - 1] + [END]

    def _snapped(self, on: np.ndarray, off: np.ndarray, steps: int) -> np.ndarray:
        """Releases on the nearest sixteenth or eighth-triplet line after their onsets, within
        the bar."""
        lines = (self.steps_per_quarter // 4, self.steps_per_quarter // 3)
        best = _nearest_line(off, lines)
        after = np.minimum(*[(on // g + 1) * g for g in lines])
        return np.minimum(np.where(best > on, best, after), steps)

    def facts(self, arrays: dict[str, np.ndarray]) -> dict[str, int]:
        """Bars by how many tracks they hold, tracks by instrument, tracks cut to fit their
        slot, and instruments left out of bars with more than ``track_slots``."""
        lengths = np.asarray(arrays["lengths"])
        real = lengths > 1
        first = np.asarray(arrays["tokens"]).reshape(len(lengths), *self.slots)[:, :, 0]
        found = {f"bars with {k} track{'s' if k != 1 else ''}": int(count) for k, count in
                 enumerate(np.bincount(real.sum(axis=1), minlength=self.track_slots + 1))
                 if count}
        numbers, counts = np.unique(first[real] - FIRST_PROGRAM, return_counts=True)
        for number, count in sorted(zip(numbers.tolist(), counts.tolist(), strict=True),
                                    key=lambda pair: -pair[1]):
            found[f"tracks of {_instrument_name(number)}"] = count
        found[f"tracks cut to {self.events} events"] = int((lengths >= self.events).sum())
        if "chord" in arrays:
            found["bars with no chord"] = int((np.asarray(arrays["chord"])[:, 0] == 0).sum())
        if "instruments" in arrays:
            over = np.maximum(np.asarray(arrays["instruments"]).astype(np.int64)
                              - self.track_slots, 0)
            found[f"bars with more than {self.track_slots} instruments"] = int((over > 0).sum())
            found["instruments left out of them"] = int(over.sum())
        return found

    # --- notes out --------------------------------------------------------------------

    def decode(self, tokens: np.ndarray, mask: np.ndarray, meter: tuple[int, int],
               qpm: float = DEFAULT_QPM, program: int | None = None,
               controls: dict[str, np.ndarray] | None = None) -> Piece:
        """A bar from one window: each track slot's events up to its first ``END``, one
        named MIDI track per slot that has notes, drums on the drum channel."""
        meter = (int(meter[0]), int(meter[1]))
        steps = steps_per_bar(*meter, self.steps_per_quarter)
        parts, names = [], []
        for slot in range(self.track_slots):
            at = slice(slot * self.events, (slot + 1) * self.events)
            events = np.asarray(tokens[at])[np.asarray(mask[at], bool)].tolist()
            notes, number = self._track_notes(events, steps)
            if not len(notes):
                continue
            if program is not None and number != DRUMS:
                notes["program"] = program
            notes["instrument"] = len(names)
            parts.append(notes)
            names.append(_instrument_name(DRUMS if number == DRUMS else int(notes["program"][0])))
        notes = np.concatenate(parts) if parts else np.zeros(0, NOTE_DTYPE)
        notes = np.sort(notes, order=["start", "pitch"], kind="stable")
        return meter_piece(notes, meter, qpm, self.steps_per_quarter, length=steps,
                           names=tuple(names))

    def _track_notes(self, events: list[int], steps: int) -> tuple[np.ndarray, int]:
        """The notes of one track's events (a bar of ``steps`` steps) and its program."""
        number = 0
        if events and FIRST_PROGRAM <= events[0] < FIRST_ON:
            number, events = events[0] - FIRST_PROGRAM, events[1:]
        drums = number == DRUMS
        now, loud = 0, (self.velocity_bins + 1) // 2
        sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start, velocity)
        found: list[tuple[int, int, int, int]] = []  # start, end, pitch, velocity
        for event in events:
            if event == END:
                break
            if FIRST_SHIFT <= event < self.first_velocity:
                now += event - FIRST_SHIFT + 1
            elif event >= self.first_velocity:
                loud = event - self.first_velocity + 1
            elif FIRST_ON <= event < FIRST_OFF and now < steps:
                pitch, strength = event - FIRST_ON, round(loud * 127 / self.velocity_bins)
                if drums:
                    found.append((now, now + 1, pitch, strength))
                    continue
                if pitch in sounding:  # struck again: the earlier one ends here
                    first, velocity = sounding.pop(pitch)
                    found.append((first, max(now, first + 1), pitch, velocity))
                sounding[pitch] = (now, strength)
            elif FIRST_OFF <= event < FIRST_SHIFT and event - FIRST_OFF in sounding:
                first, velocity = sounding.pop(event - FIRST_OFF)
                found.append((first, max(min(now, steps), first + 1), event - FIRST_OFF,
                              velocity))
        found += [(first, max(steps, first + 1), pitch, velocity)
                  for pitch, (first, velocity) in sounding.items()]
        notes = np.zeros(len(found), NOTE_DTYPE)
        if found:
            start, end, pitch, velocity = (np.array(c) for c in zip(*found, strict=True))
            notes["start"], notes["end"], notes["pitch"] = start, end, pitch
            notes["velocity"] = np.clip(velocity, 1, 127)
        notes["program"] = 0 if drums else number
        notes["is_drum"] = drums
        return notes, number

    # --- transposition ------------------------------------------------------------------

    def _pitched(self, block: np.ndarray) -> np.ndarray:
        """Which positions of windows (m, steps) are in a pitched track, (m, steps) bool."""
        slots = block.reshape(len(block), self.track_slots, self.events)
        pitched = slots[:, :, :1] != FIRST_PROGRAM + DRUMS
        return np.broadcast_to(pitched, slots.shape).reshape(block.shape)

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        values = block.astype(np.int64)
        notes = self._pitched(block) & (values >= FIRST_ON) & (values < FIRST_SHIFT)
        base = np.where(values < FIRST_OFF, FIRST_ON, FIRST_OFF)
        pitch = values - base + semitones
        inside = (pitch >= 0) & (pitch < MIDI_PITCHES)
        moved = np.where(notes, base + pitch, values)
        return moved.astype(block.dtype), (inside | ~notes).all(axis=1)

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        flat = tokens.reshape(len(tokens), -1)
        ons = flat[self._pitched(flat) & (flat >= FIRST_ON) & (flat < FIRST_OFF)]
        if not len(ons):
            return None
        return int(ons.min()) - FIRST_ON, int(ons.max()) - FIRST_ON


def _nearest_line(times: np.ndarray, lines: tuple[int, int]) -> np.ndarray:
    """Each time on the nearer of two grids' nearest lines (a tie: the first grid's)."""
    times = times.astype(np.int64)
    nearest = [np.round(times / g).astype(np.int64) * g for g in lines]
    return np.where(np.abs(nearest[0] - times) <= np.abs(nearest[1] - times), *nearest)


def _instrument_name(number: int) -> str:
    """General MIDI's name of a program, or "Drums"."""
    return "Drums" if number == DRUMS else pretty_midi.program_to_instrument_name(number)


def _problem(rep: Multitrack) -> str:
    checks = [
        (rep.bars == 1, "bars must be 1 (a window is one measure)"),
        (isinstance(rep.track_slots, int) and 1 <= rep.track_slots <= 16,
         "track_slots must be in 1..16"),
        (isinstance(rep.events, int) and 2 <= rep.events <= 96, "events must be in 2..96"),
        (isinstance(rep.velocity_bins, int) and 1 <= rep.velocity_bins <= 127,
         "velocity_bins must be in 1..127"),
        (not rep.snap_releases or rep.steps_per_quarter % 12 == 0,
         "snap_releases needs steps_per_quarter a multiple of 12 (sixteenths and triplets)"),
        (not rep.snap_onsets or rep.steps_per_quarter % 12 == 0,
         "snap_onsets needs steps_per_quarter a multiple of 12 (sixteenths and triplets)"),
    ]
    return next((message for ok, message in checks if not ok), "")
