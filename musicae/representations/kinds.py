"""The kinds of representation: melody, drums, piano-roll, several parts, chords.

Each kind says which notes of a piece it draws on (its *sources*: one
monophonic line per instrument for melody, the merged drum kit, the merged
pitched notes for piano-roll, one set of parts for voices and trio), how a run
of them is brought into range, how a span of steps is encoded, counted and
decoded, and what a model predicts (and, for chords, is conditioned on).
``REPRESENTATIONS`` names them; ``from_dict`` rebuilds one from config.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np

from musicae.errors import MusicaeError
from musicae.midi.notes import Piece
from musicae.representations import attributes, drums, melody, pianoroll
from musicae.representations.attributes import Attribute
from musicae.representations.base import Representation, pitched_notes
from musicae.representations.codec import NoteBatch, distinct
from musicae.representations.constants import (
    DRUMS_DEPTH,
    FIRST_PITCH_TOKEN,
    PIANOROLL_OFF,
    PIANOROLL_STATES,
)
from musicae.representations.controls import ChordControl, Control
from musicae.representations.groove import Groove
from musicae.representations.multitrack import Multitrack

CHORD = ChordControl()


def unpitched_reason(only_drums: bool, rep: Representation) -> str:
    """Why a piece has no pitched notes to use."""
    if only_drums:
        return "drums only"
    if rep.tracks is not None:
        return f"no pitched notes in a track named {' or '.join(rep.tracks)}"
    return "no notes in the chosen programs"


def pitched_batch(n_files: int, file: np.ndarray, part: np.ndarray, is_drum: np.ndarray,
                  rep: Representation) -> tuple[np.ndarray, dict[int, str]]:
    """:func:`pitched_notes` of many files' notes at once, (n,) bool, and
    :func:`unpitched_reason` of each file without any (``part``: the note's program and
    track are chosen)."""
    drum = is_drum.astype(bool)
    pitched = ~drum & part
    counts = np.bincount(file, minlength=n_files)
    unpitched = (counts > 0) & (np.bincount(file[pitched], minlength=n_files) == 0)
    drums = np.bincount(file[drum], minlength=n_files)
    reasons = {i: unpitched_reason(bool(drums[i] == counts[i]), rep)
               for i in np.flatnonzero(unpitched).tolist()}
    return pitched, reasons


def fit_pitches(rep: Representation, notes: NoteBatch) -> tuple[NoteBatch, np.ndarray]:
    """Notes octave-shifted into the range (``out_of_range="shift"``), and which of them
    are in it, (n,) bool."""
    pitch = notes.pitch
    if rep.out_of_range == "shift":
        pitch = melody.octave_shift(pitch, rep.min_pitch, rep.max_pitch)
    inside = (pitch >= rep.min_pitch) & (pitch <= rep.max_pitch)
    return NoteBatch(notes.file, notes.group, notes.start, notes.end, pitch), inside


@dataclass(frozen=True)
class Melody(Representation):
    """Monophonic lines as MusicVAE's 90 classes per step (no event, note-off, 88 pitches).

    Every pitched instrument gives its own line (its highest notes where it
    plays chords), so a piano piece yields its top line.
    """

    kind = "melody"
    lines_by_track: ClassVar[bool] = True  # one line per track; False: one per piece

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return ((1, self.pitches + FIRST_PITCH_TOKEN),)

    def lines_batch(self, n_files: int, file: np.ndarray, start: np.ndarray, end: np.ndarray,
                    pitch: np.ndarray, velocity: np.ndarray, part: np.ndarray,
                    is_drum: np.ndarray, instrument: np.ndarray) -> tuple:
        pitched, reasons = pitched_batch(n_files, file, part, is_drum, self)
        file, start, end = file[pitched], start[pitched], end[pitched]
        pitch, instrument = pitch[pitched], instrument[pitched]
        # a line: one (file, track), or one file; its notes by start, highest first
        line = file * (int(instrument.max(initial=0)) + 1) + instrument \
            if self.lines_by_track else file
        width = int(start.max(initial=0)).bit_length() + 7
        order = np.argsort((line << width) | (start << 7) | (127 - pitch), kind="stable")
        file, line, start, end, pitch = (c[order] for c in (file, line, start, end, pitch))
        new = np.ones(len(file), dtype=bool)
        new[1:] = line[1:] != line[:-1]
        group = np.cumsum(new) - 1
        lines = NoteBatch(file, group, start, end, pitch)
        overlapping = distinct(group[1:][(start[1:] < end[:-1]) & ~new[1:]])
        if not len(overlapping):
            return lines, reasons  # one note at a time already (most single-line parts)
        keep = np.ones(len(file), dtype=bool)
        firsts = np.append(np.flatnonzero(new), len(file))
        for g in overlapping.tolist():  # the skyline of each polyphonic part
            lo, hi = firsts[g], firsts[g + 1]
            kept, ends = melody.skyline_sorted(start[lo:hi], end[lo:hi], pitch[lo:hi])
            keep[lo:hi] = False
            keep[lo + kept] = True
            end[lo + kept] = ends
        return lines.take(keep), reasons

    def fit_batch(self, notes: NoteBatch, run: np.ndarray, run_first: np.ndarray) -> tuple:
        moved, inside = fit_pitches(self, notes)  # a run is kept whole or not at all
        kept = np.logical_and.reduceat(inside, run_first) if len(run_first) else inside[:0]
        keep = kept[run]
        return moved.take(keep), run[keep]

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

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        return drums.multihot_to_index(drums.encode_drums(notes, start, n_steps))

    def lines_batch(self, n_files: int, file: np.ndarray, start: np.ndarray, end: np.ndarray,
                    pitch: np.ndarray, velocity: np.ndarray, part: np.ndarray,
                    is_drum: np.ndarray, instrument: np.ndarray) -> tuple:
        classes = np.where(is_drum.astype(bool), drums.PITCH_CLASS[pitch], drums.NO_CLASS)
        hit = classes != drums.NO_CLASS  # to_drum_classes, one line a file
        silent = (np.bincount(file, minlength=n_files) > 0) & \
            (np.bincount(file[hit], minlength=n_files) == 0)
        file, start, classes = file[hit], start[hit], classes[hit]
        order = np.lexsort((start, file))
        file, start, classes = file[order], start[order], classes[order]
        reasons = {i: "no drums" for i in np.flatnonzero(silent).tolist()}
        return NoteBatch(file, file, start, start + 1, drums.CANONICAL_PITCHES[classes]), reasons

    def fit_batch(self, notes: NoteBatch, run: np.ndarray, run_first: np.ndarray) -> tuple:
        return notes, run

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

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        return pianoroll.encode_pianoroll(notes, start, n_steps, self.min_pitch, self.max_pitch)

    def lines_batch(self, n_files: int, file: np.ndarray, start: np.ndarray, end: np.ndarray,
                    pitch: np.ndarray, velocity: np.ndarray, part: np.ndarray,
                    is_drum: np.ndarray, instrument: np.ndarray) -> tuple:
        pitched, reasons = pitched_batch(n_files, file, part, is_drum, self)
        file, start, end, pitch = file[pitched], start[pitched], end[pitched], pitch[pitched]
        order = np.lexsort((start, file))  # one line a file: all its pitched notes
        file, start, end, pitch = (c[order] for c in (file, start, end, pitch))
        return NoteBatch(file, file, start, end, pitch), reasons

    def fit_batch(self, notes: NoteBatch, run: np.ndarray, run_first: np.ndarray) -> tuple:
        moved, inside = fit_pitches(self, notes)  # each note kept on its own
        return moved.take(inside), run[inside]

    def encode_cut(self, first: np.ndarray, last: np.ndarray, pitch: np.ndarray,
                   onset: np.ndarray, n_steps: int) -> np.ndarray:
        return pianoroll.roll(first, last, pitch - self.min_pitch, onset, n_steps, self.pitches)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return pianoroll.onsets_per_step(tokens)

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        return pianoroll.decode_pianoroll(tokens, self.min_pitch)

    def sounding(self, tokens: np.ndarray) -> np.ndarray | None:
        return tokens != PIANOROLL_OFF

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        moved = np.roll(block, semitones, axis=2)  # (m, steps, pitches)
        wrapped = block[:, :, -semitones:] if semitones > 0 else block[:, :, :-semitones]
        return moved, ~wrapped.any(axis=(1, 2))

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        rows = np.flatnonzero(tokens.any(axis=(0, 1)))
        if not len(rows):
            return None
        return (int(rows[0]) + self.min_pitch, int(rows[-1]) + self.min_pitch)


@dataclass(frozen=True)
class MelodyChords(Melody):
    """A piece's top line as a melody, conditioned on the chord of each half bar.

    A file with a track named ``chords`` (a lead sheet: block chords, as this kind
    writes them, or POP909's annotations) has its chords read from that track alone;
    otherwise they are inferred from every pitched note. Either way the triad of
    each segment is the one whose tones sound longest there; see
    :mod:`musicae.representations.chords`.
    """

    kind = "melody_chords"
    lines_by_track = False  # the top line of all the pitched notes

    @property
    def track_names(self) -> tuple[str, ...]:
        return ("melody",)

    @property
    def controls(self) -> dict[str, Control]:
        return {CHORD.name: CHORD}

DRUMS_PART = "drums"  # the part name that makes a part a drum track (trio)


@dataclass(frozen=True)
class Parts(Representation):
    """Several monophonic parts played together: one 90-class melody line per pitched part
    and one 512-way drum class for a drum part (MusicVAE's trio, generalised).

    A window holds every part; one head per part. Subclasses say how a piece's
    notes split into parts (:meth:`split_parts`), what the parts are called and
    which program each is written with.
    """

    part_programs: tuple[int, ...] = ()  # program each part is written with

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "part_programs", tuple(int(p) for p in self.part_programs))
        if len(self.part_programs) != len(self.track_names):
            raise MusicaeError(f"{self.kind} settings: part_programs needs one program "
                               f"per part ({len(self.track_names)})")

    @property
    def is_drums(self) -> tuple[bool, ...]:
        return tuple(name == DRUMS_PART for name in self.track_names)

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        return tuple((1, DRUMS_DEPTH if drum else self.pitches + FIRST_PITCH_TOKEN)
                     for drum in self.is_drums)

    def split_parts(self, piece: Piece) -> list[np.ndarray] | str:
        """Each part's notes (drum parts as drum classes), or why the piece has not got them."""
        raise NotImplementedError

    def sources(self, piece: Piece) -> list[np.ndarray]:
        parts = self.split_parts(piece)
        if isinstance(parts, str):
            return []
        for index, notes in enumerate(parts):
            notes["instrument"] = index
        return [np.sort(np.concatenate(parts), order=["start", "pitch"], kind="stable")]

    def no_source_reason(self, piece: Piece) -> str:
        parts = self.split_parts(piece)
        return parts if isinstance(parts, str) else "no notes"

    def _each(self, notes: np.ndarray) -> list[np.ndarray]:
        return [notes[notes["instrument"] == i] for i in range(len(self.heads))]

    def fit(self, notes: np.ndarray) -> np.ndarray | None:
        """Each pitched part moved by octaves into range; None when one cannot be."""
        fitted = []
        for part, drum in zip(self._each(notes), self.is_drums, strict=True):
            if not drum and len(part):
                part = melody.fit_range(part, self.min_pitch, self.max_pitch,
                                        self.out_of_range == "shift")
                if part is None:
                    return None
            fitted.append(part)
        return np.sort(np.concatenate(fitted), order=["start", "pitch"], kind="stable")

    def encode_notes(self, notes: np.ndarray, start: int, n_steps: int) -> np.ndarray:
        columns = []
        for part, drum in zip(self._each(notes), self.is_drums, strict=True):
            if drum:
                columns.append(drums.multihot_to_index(drums.encode_drums(part, start, n_steps)))
            else:
                columns.append(melody.encode_melody(part, start, n_steps, self.min_pitch))
        return np.stack(columns, axis=-1).astype(self.token_dtype)  # (n_steps, parts)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return np.stack([drums.hits_per_step(tokens[:, i]) if drum
                         else melody.onsets_per_step(tokens[:, i])
                         for i, drum in enumerate(self.is_drums)], axis=-1)

    def decode_notes(self, tokens: np.ndarray) -> np.ndarray:
        parts = []
        for i, (drum, program) in enumerate(zip(self.is_drums, self.part_programs, strict=True)):
            column = tokens[:, i]
            if drum:
                notes = drums.decode_drums(drums.index_to_multihot(column))
            else:
                notes = melody.decode_melody(column, self.min_pitch)
                notes["program"] = program
            notes["instrument"] = i
            parts.append(notes)
        return np.sort(np.concatenate(parts), order=["start", "pitch"], kind="stable")

    def shift(self, block: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
        pitched = np.array([not d for d in self.is_drums])  # (parts,)
        is_pitch = (block >= FIRST_PITCH_TOKEN) & pitched
        moved = np.where(is_pitch, block.astype(np.int64) + semitones, block)
        limit = self.pitches + FIRST_PITCH_TOKEN
        in_range = (moved >= FIRST_PITCH_TOKEN) & (moved < limit)
        return moved.astype(block.dtype), (in_range | ~is_pitch).all(axis=(1, 2))

    def pitch_span(self, tokens: np.ndarray) -> tuple[int, int] | None:
        pitched = tokens[..., [not d for d in self.is_drums]]
        pitches = pitched[pitched >= FIRST_PITCH_TOKEN]
        if not len(pitches):
            return None
        offset = self.min_pitch - FIRST_PITCH_TOKEN
        return (int(pitches.min()) + offset, int(pitches.max()) + offset)


@dataclass(frozen=True)
class Voices(Parts):
    """N voices, one per pitched track (a choir's Soprano, Alto, Tenor, Bass).

    The ``len(names)`` tracks with most notes are taken, highest (by mean
    pitch) first, each as its top line; a piece with fewer pitched tracks is
    skipped.
    """

    kind = "voices"
    names: tuple[str, ...] = ("Soprano", "Alto", "Tenor", "Bass")
    part_programs: tuple[int, ...] = (52, 52, 52, 52)  # General MIDI "Choir Aahs"

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        if len(self.part_programs) != len(self.names) and set(self.part_programs) == {52}:
            object.__setattr__(self, "part_programs", (52,) * len(self.names))  # the default
        if len(self.names) < 2 or DRUMS_PART in self.names:
            raise MusicaeError(f"voices settings: names must be two or more voice names "
                               f"(one voice is the melody kind), not {list(self.names)}")
        super().__post_init__()

    @property
    def track_names(self) -> tuple[str, ...]:
        return self.names

    def split_parts(self, piece: Piece) -> list[np.ndarray] | str:
        notes = pitched_notes(piece, self.programs, self.tracks)
        ids, counts = np.unique(notes["instrument"], return_counts=True)
        if len(ids) < len(self.names):
            found = f"{len(ids)} pitched track{'s' if len(ids) != 1 else ''}"
            return f"fewer pitched tracks than voices ({found}, need {len(self.names)})"
        chosen = ids[np.argsort(-counts, kind="stable")[: len(self.names)]]
        tracks = [notes[notes["instrument"] == i] for i in chosen]
        tracks.sort(key=lambda t: -t["pitch"].mean())
        return [melody.skyline(t) for t in tracks]


def _lowest_line(notes: np.ndarray) -> np.ndarray:
    """The lowest note wherever notes overlap (a bass line): the skyline of negated pitch."""
    flipped = notes.copy()
    flipped["pitch"] = -flipped["pitch"]
    line = melody.skyline(flipped)
    line["pitch"] = -line["pitch"]
    return line


@dataclass(frozen=True)
class Trio(Parts):
    """MusicVAE's trio: melody (top line of programs 0-31), bass (bottom line of programs
    32-39) and drums (the drum channel, as nine classes). A piece lacking a part is
    skipped with that reason."""

    kind = "trio"
    melody_programs: tuple[int, ...] = tuple(range(0, 32))
    bass_programs: tuple[int, ...] = tuple(range(32, 40))
    part_programs: tuple[int, ...] = (0, 33, 0)  # piano, finger bass; drums: channel 10

    @property
    def track_names(self) -> tuple[str, ...]:
        return ("melody", "bass", DRUMS_PART)

    def split_parts(self, piece: Piece) -> list[np.ndarray] | str:
        lead = pitched_notes(piece, self.melody_programs)
        bass = pitched_notes(piece, self.bass_programs)
        kit = drums.to_drum_classes(piece.notes[piece.notes["is_drum"]])
        for found, reason in ((lead, "no melody (programs 0-31)"),
                              (bass, "no bass (programs 32-39)"), (kit, "no drums")):
            if not len(found):
                return reason
        return [melody.skyline(lead), _lowest_line(bass), kit.copy()]


REPRESENTATIONS: dict[str, type[Representation]] = {
    cls.kind: cls for cls in (Melody, Drums, Pianoroll, MelodyChords, Voices, Trio, Groove,
                              Multitrack)
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
    for name in ("programs", "part_programs", "names", "melody_programs", "bass_programs",
                 "tracks"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    unknown = set(values) - cls.setting_names()
    if unknown:
        raise MusicaeError(f"{kind} settings: unknown fields {sorted(unknown)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise MusicaeError(f"{kind} settings: {exc}") from None
