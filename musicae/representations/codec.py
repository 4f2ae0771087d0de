"""Pieces ⇄ fixed-length windows, for every kind of codec.

``encode_piece`` cuts a piece into windows of whole bars (see ``windows``),
``piece_windows`` lays them out in bar slots with duplicates removed and a
per-file cap applied (what a dataset stores), and ``decode_window`` turns a
slotted window back into a piece that ``write_window_midi`` saves. ``CODECS``
names the settings the presets use.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from musicae.errors import MusicaeError
from musicae.representations.config import CodecConfig
from musicae.representations.constants import (
    DEFAULT_PROGRAM,
    DEFAULT_QPM,
    FIRST_PITCH_TOKEN,
    MELODY_DEPTH,
)
from musicae.representations.kinds import KIND_OPS, Kind, no_source_reason
from musicae.representations.notes import (
    Meter,
    Piece,
    UnusableMidi,
    meter_piece,
    steps_per_bar,
    write_midi,
)
from musicae.representations.slots import from_slots, steps_per_bar_of, to_slots_batch
from musicae.representations.windows import (
    Diagnostics,
    bar_spans,
    split_runs,
    spread,
    unique_rows,
    window_starts,
)

CODECS = MappingProxyType(
    {
        "melody_2bar": CodecConfig("melody", bars=2),
        "melody_16bar": CodecConfig("melody", bars=16),
        "drums_2bar": CodecConfig("drums", bars=2),
        "pianoroll_2bar": CodecConfig("pianoroll", bars=2),
    }
)


@dataclass(frozen=True)
class Window:
    """One window's real steps: tokens (bars * steps_per_bar[, pitches]) in one meter.

    ``meter`` is the time signature of a window bar; ``source`` names the
    piece's own, which differs where a long bar was cut into parts (4/2 → 2/2).
    """

    tokens: np.ndarray
    steps_per_bar: int
    meter: tuple[int, int]
    source: str

    def __iter__(self):
        """Unpacks as ``tokens, steps_per_bar``."""
        return iter((self.tokens, self.steps_per_bar))


@dataclass(frozen=True)
class FileWindows:
    """The windows of one piece as a dataset stores them.

    tokens: (n, bars * slot) int16, or (n, bars * slot, pitches) uint8 for pianoroll
    steps_per_bar: (n,) int16; meter: (n, 2) int16 (numerator, denominator) of a window bar
    windows_by_meter: the piece's time signature → windows
    bars_skipped: reason → bars left out for their meter
    """

    tokens: np.ndarray
    steps_per_bar: np.ndarray
    meter: np.ndarray
    windows_by_meter: dict[str, int]
    bars_skipped: dict[str, int]


def encode_piece(piece: Piece, cfg: CodecConfig) -> list[Window]:
    """Every window of a piece, in order, before duplicates are removed.

    Each :class:`Window` unpacks as ``(tokens, steps_per_bar)`` with tokens
    (bars * steps_per_bar) or (bars * steps_per_bar, pitches).
    """
    return _encode(piece, cfg)[0]


def piece_windows(
    piece: Piece, cfg: CodecConfig, path: str | os.PathLike | None = None
) -> FileWindows:
    """A piece's distinct windows in bar slots, at most ``cfg.max_windows_per_file``.

    Raises
    ------
    UnusableMidi
        Naming ``path`` and why, when no window is left.
    """
    windows, diag = _encode(piece, cfg)
    if not windows:
        raise UnusableMidi(path, diag.reason(cfg.bars))
    keys = [w.steps_per_bar.to_bytes(2, "little") + w.tokens.tobytes() for w in windows]
    keep = unique_rows(keys)
    kept = [windows[i] for i in keep[spread(len(keep), cfg.max_windows_per_file)]]
    spb = np.array([w.steps_per_bar for w in kept], dtype=np.int16)
    return FileWindows(
        tokens=_slotted(kept, spb, cfg),
        steps_per_bar=spb,
        meter=np.array([w.meter for w in kept], dtype=np.int16),
        windows_by_meter=dict(Counter(w.source for w in kept).most_common()),
        bars_skipped=dict(diag.meter_skips),
    )


def _slotted(windows: list[Window], spb: np.ndarray, cfg: CodecConfig) -> np.ndarray:
    """Windows in bar slots, one meter at a time: (n, bars * slot[, pitches])."""
    first = windows[0].tokens
    out = np.zeros((len(windows), cfg.steps, *first.shape[1:]), dtype=first.dtype)
    for bar_steps in np.unique(spb):
        rows = np.flatnonzero(spb == bar_steps)
        same = np.stack([windows[i].tokens for i in rows])
        out[rows] = to_slots_batch(same, int(bar_steps), cfg.slot)
    return out


@dataclass(frozen=True)
class SpanTokens:
    """A whole run of notes in one meter, encoded: what windows are cut from.

    tokens: (bars * steps_per_bar[, pitches]) starting at step ``start``, where
    a bar is one of ``unit`` (the meter's bar, or an equal part of a long one).
    """

    start: int
    meter: Meter
    unit: tuple[int, int]
    steps_per_bar: int
    tokens: np.ndarray


def encode_spans(piece: Piece, cfg: CodecConfig) -> list[SpanTokens]:
    """Every run of the piece (ended by gaps and meter changes) as one token sequence."""
    return _spans(piece, cfg, Diagnostics())


def encode_runs(piece: Piece, cfg: CodecConfig) -> list[tuple[int, np.ndarray]]:
    """Every run (a melody or part ended by a gap) as one token sequence, meters aside.

    Returns (first step, tokens) pairs; tokens cover the first note's start to
    the last note's end: (steps[, pitches]). Windows are cut from these.
    """
    kind = KIND_OPS[cfg.kind]
    runs = []
    for run in _fitted_runs(piece, cfg, Diagnostics()):
        first, last = int(run["start"].min()), int(run["end"].max())
        runs.append((first, kind.encode(run, first, last - first, cfg)))
    return runs


def _fitted_runs(piece: Piece, cfg: CodecConfig, diag: Diagnostics) -> Iterator[np.ndarray]:
    """The runs of every source of the piece, in range (dropped runs are counted)."""
    kind = KIND_OPS[cfg.kind]
    sources = kind.sources(piece, cfg)
    if not sources:
        diag.no_source = no_source_reason(piece, cfg)
    for notes in sources:
        for run in split_runs(notes, piece, cfg.gap_bars):
            fitted = kind.fit(run, cfg)
            if fitted is None:
                diag.dropped_runs += 1
            else:
                yield fitted


def _spans(piece: Piece, cfg: CodecConfig, diag: Diagnostics) -> list[SpanTokens]:
    kind = KIND_OPS[cfg.kind]
    spans = []
    for run in _fitted_runs(piece, cfg, diag):
        first, last = int(run["start"].min()), int(run["end"].max())
        for span in bar_spans(first, last, piece, cfg.slot, diag):
            steps = span.bars * span.steps_per_bar
            tokens = kind.encode(run, span.start, steps, cfg)  # (steps[, pitches])
            spans.append(SpanTokens(span.start, span.meter, span.unit, span.steps_per_bar, tokens))
    return spans


def _encode(piece: Piece, cfg: CodecConfig) -> tuple[list[Window], Diagnostics]:
    diag = Diagnostics()
    kind = KIND_OPS[cfg.kind]
    windows: list[Window] = []
    for span in _spans(piece, cfg, diag):
        windows += _span_windows(span, kind, cfg, diag)
    return windows, diag


def _span_windows(
    span: SpanTokens, kind: Kind, cfg: CodecConfig, diag: Diagnostics
) -> list[Window]:
    """Windows every ``hop_bars`` across one span, those with too few notes left out."""
    spb = span.steps_per_bar
    bars = len(span.tokens) // spb
    if bars < cfg.bars:
        diag.short_runs += 1
        return []
    onsets_before = np.concatenate([[0], np.cumsum(kind.onsets(span.tokens))])  # (steps + 1,)
    windows = []
    for bar in window_starts(bars, cfg.bars, cfg.hop_bars):
        first, last = bar * spb, (bar + cfg.bars) * spb
        window = span.tokens[first:last]
        if onsets_before[last] - onsets_before[first] >= cfg.min_notes:
            windows.append(Window(window, spb, span.unit, span.meter.name))
        else:
            diag.sparse_windows += 1
    return windows


def default_meter(bar_steps: int, steps_per_quarter: int) -> tuple[int, int]:
    """The plainest time signature with bars of ``bar_steps`` (16 → 4/4, 12 → 3/4, 6 → 3/8)."""
    for denominator in (4, 8, 16, 32):
        numerator, rest = divmod(bar_steps * denominator, 4 * steps_per_quarter)
        if rest == 0:
            return numerator, denominator
    raise MusicaeError(f"no time signature has bars of {bar_steps} steps")


def decode_window(
    tokens: np.ndarray,
    mask: np.ndarray,
    cfg: CodecConfig,
    qpm: float = DEFAULT_QPM,
    meter: tuple[int, int] | None = None,
    program: int = DEFAULT_PROGRAM,
) -> Piece:
    """A piece from one slotted window.

    Parameters
    ----------
    tokens : np.ndarray
        (bars * slot) or (bars * slot, pitches), as the dataset gives them.
    mask : np.ndarray
        (bars * slot,) bool, True on real steps.
    meter : tuple of int, optional
        Time signature to write; by default the plainest one with the mask's
        bar length (3/4 rather than 6/8 for 12 steps).
    program : int
        General MIDI program of melody and piano-roll notes.
    """
    bar_steps = steps_per_bar_of(mask, cfg.slot)
    meter = meter or default_meter(bar_steps, cfg.steps_per_quarter)
    if steps_per_bar(*meter, cfg.steps_per_quarter) != bar_steps:
        raise MusicaeError(f"meter {meter[0]}/{meter[1]} does not have bars of {bar_steps} steps")
    notes = KIND_OPS[cfg.kind].decode(from_slots(tokens, mask), cfg)
    if cfg.kind != "drums":
        notes["program"] = program
    return meter_piece(notes, meter, qpm, cfg.steps_per_quarter)


def write_window_midi(
    tokens: np.ndarray,
    mask: np.ndarray,
    cfg: CodecConfig,
    path: str | os.PathLike,
    qpm: float = DEFAULT_QPM,
    meter: tuple[int, int] | None = None,
    program: int = DEFAULT_PROGRAM,
) -> None:
    """Decode one slotted window (see :func:`decode_window`) and write it as MIDI."""
    write_midi(decode_window(tokens, mask, cfg, qpm, meter, program), path)


def transpose(
    tokens: np.ndarray, semitones: int | np.ndarray, kind: str, depth: int = MELODY_DEPTH
) -> np.ndarray:
    """Windows moved by ``semitones`` (augmentation); a window that would leave the range stays.

    Parameters
    ----------
    tokens : np.ndarray
        (n, steps) melody or drums, or (n, steps, pitches) pianoroll.
    semitones : int or np.ndarray
        One shift for all windows, or (n,) one per window.
    kind : str
        ``"melody"``, ``"drums"`` (returned unchanged) or ``"pianoroll"``.
    depth : int
        Melody classes (pitch tokens are ``FIRST_PITCH_TOKEN .. depth - 1``).
    """
    if kind not in KIND_OPS:
        raise MusicaeError(f"unknown codec kind {kind!r}")
    shifts = np.broadcast_to(np.asarray(semitones, dtype=np.int64), tokens.shape[:1])
    out = tokens.copy()
    if kind == "drums":
        return out
    for shift in np.unique(shifts[shifts != 0]):
        rows = np.flatnonzero(shifts == shift)
        moved, ok = _shift(tokens[rows], int(shift), kind, depth)
        out[rows[ok]] = moved[ok]
    return out


def _shift(block: np.ndarray, shift: int, kind: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows shifted by one amount, and which of them stayed in range: (m, ...), (m,)."""
    if kind == "melody":
        is_pitch = block >= FIRST_PITCH_TOKEN
        moved = np.where(is_pitch, block.astype(np.int64) + shift, block)
        in_range = (moved >= FIRST_PITCH_TOKEN) & (moved < depth)
        return moved.astype(block.dtype), (in_range | ~is_pitch).all(axis=1)
    moved = np.roll(block, shift, axis=2)  # (m, steps, pitches)
    wrapped = block[:, :, -shift:] if shift > 0 else block[:, :, :-shift]
    return moved, ~wrapped.any(axis=(1, 2))
