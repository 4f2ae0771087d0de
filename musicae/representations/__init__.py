"""Music as numpy arrays: MIDI ⇄ quantised notes ⇄ melody, drum and piano-roll windows.

No torch here. ``notes`` reads and writes MIDI; ``melody``, ``drums`` and
``pianoroll`` encode and decode spans of steps; ``codec`` cuts pieces into
fixed-length windows laid out in bar ``slots`` and back.
"""

from musicae.representations.codec import (
    CODECS,
    FileWindows,
    SpanTokens,
    Window,
    decode_window,
    default_meter,
    encode_piece,
    encode_runs,
    encode_spans,
    piece_windows,
    transpose,
    write_window_midi,
)
from musicae.representations.config import CodecConfig
from musicae.representations.notes import (
    NOTE_DTYPE,
    Meter,
    Piece,
    UnusableMidi,
    make_notes,
    read_midi,
    write_midi,
)
from musicae.representations.slots import from_slots, to_slots, to_slots_batch

__all__ = [
    "CODECS",
    "NOTE_DTYPE",
    "CodecConfig",
    "FileWindows",
    "SpanTokens",
    "Meter",
    "Piece",
    "UnusableMidi",
    "Window",
    "decode_window",
    "default_meter",
    "encode_piece",
    "encode_runs",
    "encode_spans",
    "from_slots",
    "make_notes",
    "piece_windows",
    "read_midi",
    "to_slots",
    "to_slots_batch",
    "transpose",
    "write_midi",
    "write_window_midi",
]
