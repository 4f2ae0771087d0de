"""Make music visible and audible: piano-roll PNG sheets and WAV files from MIDI."""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pretty_midi

SAMPLE_RATE = 22050
# (track name, [(start in seconds, pitch)]) of each track -> (time, text) marks
Marks = Callable[[list[tuple[str, list[tuple[float, int]]]]], list[tuple[float, str]]]


def pianoroll_sheet(midis: list[Path], path: Path, titles: list[str] | None = None,
                    columns: int | None = None, segments: int = 1,
                    marks: Marks | None = None) -> Path:
    """One PNG with a piano roll per MIDI file: note names up the side, bars and beats
    along the bottom (in the piece's meter), one colour per track with a legend.

    segments: a roll made of this many equal windows one after another (an
    interpolation path) gets each window's number written above it.
    marks: text to write above each roll, read off its tracks (``Representation.marks``:
    a chord model's chord symbols).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(midis)
    columns = columns or min(n, 4)
    rows = math.ceil(n / columns)
    size = (12, 3.2) if n == 1 else (3.4 * columns, 2.4 * rows)  # one long roll: a whole path
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        _draw_roll(ax, midis[i], segments, marks)
        ax.set_title(titles[i] if titles else Path(midis[i]).stem, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


TRACK_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _draw_roll(ax, midi: Path, segments: int = 1, marks: Marks | None = None) -> None:
    pm = pretty_midi.PrettyMIDI(str(midi))
    end = max(mido.MidiFile(str(midi)).length, pm.get_end_time(), 1e-3)  # all its bars
    pitches = [n.pitch for inst in pm.instruments for n in inst.notes] or [60]
    for inst, colour in zip(pm.instruments, TRACK_COLOURS * len(pm.instruments), strict=False):
        for note in inst.notes:
            ax.add_patch(_rect(note, colour))
        ax.plot([], [], color=colour, lw=4, label=inst.name or f"program {inst.program}")
    low, high = min(pitches) - 2, max(pitches) + 2
    _time_axis(ax, pm, end)
    _pitch_axis(ax, low, high)
    if len(pm.instruments) > 1 or any(i.name for i in pm.instruments):
        ax.legend(loc="lower right", fontsize=6, frameon=False)
    _marks(ax, pm, high, marks)
    for k in range(segments if segments > 1 else 0):
        ax.text((k + 0.5) * end / segments, high - 0.5, str(k), ha="center", va="top",
                fontsize=7, color="0.3")
        ax.axvline(k * end / segments, color="0.4", lw=0.8)


def _marks(ax, pm: pretty_midi.PrettyMIDI, high: int, marks: Marks | None) -> None:
    """Text the representation reads off its own tracks (chord symbols), where it starts."""
    tracks = [(inst.name, [(n.start, n.pitch) for n in inst.notes]) for inst in pm.instruments]
    for start, text in marks(tracks) if marks else []:
        ax.text(start, high - 0.3, f" {text}", ha="left", va="top", fontsize=7,
                color="tab:orange")


def _time_axis(ax, pm: pretty_midi.PrettyMIDI, end: float) -> None:
    """Bars numbered from 1 at the downbeats, beats as minor ticks."""
    bars = [t for t in pm.get_downbeats() if t < end - 1e-6]
    for bar in bars:
        ax.axvline(bar, color="0.7", lw=0.6)
    step = max(1, len(bars) // 16)  # at most ~16 labels
    ax.set_xticks(bars[::step], [str(1 + i * step) for i in range(len(bars[::step]))])
    ax.set_xticks([b for b in pm.get_beats() if b < end - 1e-6], minor=True)
    ax.set_xlim(0, end)
    ax.set_xlabel("bar", fontsize=6)


def _pitch_axis(ax, low: int, high: int) -> None:
    """Note names (C4 = MIDI 60): every note of a narrow range, C E G of a wider one, every
    C of a wide one."""
    classes = range(12) if high - low <= 14 else (0, 4, 7) if high - low <= 36 else (0,)
    ticks = [p for p in range(low, high + 1) if p % 12 in classes]
    ax.set_yticks(ticks, [pretty_midi.note_number_to_name(p) for p in ticks])
    ax.set_ylim(low, high)
    ax.tick_params(labelsize=6)


def _rect(note, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((note.start, note.pitch - 0.4), note.end - note.start, 0.8,
                     color=colour, ec="black", lw=0.3)


SOUNDFONT_ENV = "MUSICAE_SOUNDFONT"  # another General MIDI .sf2 to render WAVs with


def synthesiser() -> str:
    """What ``write_wav`` renders with: "soundfont" (the General MIDI SoundFont shipped in
    pretty_midi, or ``$MUSICAE_SOUNDFONT``) or, where that file is missing, "sine"."""
    return "soundfont" if _soundfont() is not None else "sine"


def _soundfont():
    from musicae.output import soundfont

    chosen = os.environ.get(SOUNDFONT_ENV)
    if chosen:
        return soundfont.load(chosen)  # the user's own font: its errors are theirs to see
    if not soundfont.DEFAULT_SOUNDFONT.is_file():
        return None
    return soundfont.load()


def write_wav(midi: Path, path: Path) -> Path:
    """Render a MIDI file to 16-bit mono WAV with a SoundFont (each track's General MIDI
    program, drums on channel 10; see ``synthesiser``), else with sine tones.

    The WAV lasts exactly as long as the MIDI file (its end of track included), so
    it lines up with the bars in an editor, and a silent sample gives a silent WAV.
    """
    pm = pretty_midi.PrettyMIDI(str(midi))
    font = _soundfont()
    audio = font.render(pm, SAMPLE_RATE) if font is not None else pm.synthesize(fs=SAMPLE_RATE)
    frames = max(int(round(mido.MidiFile(str(midi)).length * SAMPLE_RATE)), 1)
    audio = np.pad(audio[:frames], (0, max(frames - len(audio), 0)))  # exactly the bars
    peak = float(np.abs(audio).max()) or 1.0
    pcm = (audio / peak * 0.8 * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(pcm.tobytes())
    return path
