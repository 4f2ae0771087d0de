"""The files behind a piece, and the JSON the page draws it from.

Music: a MIDI file lasting the model's whole bars, a WAV rendered from it by the same
SoundFont as ``--wav`` (``render.write_wav``), and its notes, bars and beats, so the page
draws the piano-roll itself. Images: a PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from musicae.output.render import write_wav
from musicae.studio.store import Piece, Store

Marks = Callable[[list], list] | None  # ``Representation.marks``: chord names over the roll


def save_music(store: Store, result: str, folder: Path, midis: list, stem: str, bars: int,
               marks: Marks = None) -> list[Piece]:
    """PrettyMIDI objects (from the Python handle) as MIDI + WAV files of one result, each
    ``bars`` bars long (the model's window), silent last beats included."""
    pieces = []
    for i, midi in enumerate(midis):
        path = folder / f"{stem}_{i}.mid"
        midi.write(str(path))
        length = _end_at_bar(path, midi, bars)
        write_wav(path, path.with_suffix(".wav"))
        pieces.append(store.add_piece(result, path, "music", f"{stem} {i}",
                                      facts(midi, length, marks)))
    return pieces


def keep_music(store: Store, result: str, path: Path, title: str, marks: Marks = None) -> Piece:
    """A MIDI file that the library wrote (with its WAV beside it) as a piece."""
    if not path.with_suffix(".wav").is_file():
        write_wav(path, path.with_suffix(".wav"))
    midi = pretty_midi.PrettyMIDI(str(path))
    return store.add_piece(result, path, "music", title,
                           facts(midi, mido.MidiFile(str(path)).length, marks))


def save_images(store: Store, result: str, folder: Path, images: list, stem: str
                ) -> list[Piece]:
    """Arrays (28, 28) in [0, 1] (from the Python handle) as PNG files of one result."""
    from musicae.datasets.images import write_png

    pieces = []
    for i, image in enumerate(images):
        path = folder / f"{stem}_{i}.png"
        write_png(np.asarray(image), path)
        pieces.append(store.add_piece(result, path, "image", f"{stem} {i}"))
    return pieces


def _end_at_bar(path: Path, midi: pretty_midi.PrettyMIDI, bars: int) -> float:
    """pretty_midi ends a file at its last event; end it at the window's last bar line, as
    the library's own writer does, so that its WAV (and a loop of it) lasts whole bars.
    Returns the file's length in seconds."""
    meter = midi.time_signature_changes[:1] or [pretty_midi.TimeSignature(4, 4, 0)]
    end = round(bars * meter[0].numerator * 4 / meter[0].denominator * midi.resolution)
    file = mido.MidiFile(str(path))
    conductor = file.tracks[0]
    last = sum(message.time for message in conductor[:-1])
    if conductor[-1].type == "end_of_track" and end > last + conductor[-1].time:
        conductor[-1] = conductor[-1].copy(time=end - last)
        file.save(str(path))
    return file.length


def facts(midi: pretty_midi.PrettyMIDI, length: float, marks: Marks = None) -> dict:
    """What the page draws: notes (seconds), tracks, bars, beats, length, chord names."""
    length = max(length, 1e-3)
    tracks = [inst.name or f"program {inst.program}" for inst in midi.instruments]
    notes = [{"pitch": n.pitch, "start": round(n.start, 4), "end": round(n.end, 4),
              "velocity": n.velocity, "track": t}
             for inst, t in zip(midi.instruments, tracks, strict=True) for n in inst.notes]
    shown = [(inst.name, [(n.start, n.pitch) for n in inst.notes]) for inst in midi.instruments]
    meter = midi.time_signature_changes[:1] or [pretty_midi.TimeSignature(4, 4, 0)]
    beat = 60 / midi.get_tempo_changes()[1][0] * 4 / meter[0].denominator  # a window: one
    every = np.arange(0, length - beat / 2, beat)  # meter and one tempo (pretty_midi's own
    return {  # beats stop at the last note)
        "duration": round(length, 4), "tracks": tracks, "notes": notes,
        "downbeats": [round(float(t), 4) for t in every[::meter[0].numerator]],
        "beats": [round(float(t), 4) for t in every],
        "marks": [{"time": round(t, 4), "text": text} for t, text in marks(shown)]
        if marks else [],
    }


def describe(piece: Piece) -> dict:
    """A piece as the page and API clients see it: id, title, file URLs and its facts."""
    url = f"/files/{piece.result}/{piece.path.name}"
    out = {"id": piece.id, "kind": piece.kind, "title": piece.title}
    if piece.kind == "image":
        return out | {"png": url}
    return out | piece.facts | {"midi": url, "wav": url.removesuffix(".mid") + ".wav"}
