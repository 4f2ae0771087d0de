"""Make music visible and audible: piano-roll PNG sheets and WAV files from MIDI."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import mido
import numpy as np
import pretty_midi

SAMPLE_RATE = 22050


def pianoroll_sheet(midis: list[Path], path: Path, titles: list[str] | None = None,
                    columns: int | None = None) -> Path:
    """One PNG with a piano roll per MIDI file (pitch against time, bar lines dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(midis)
    columns = columns or min(n, 4)
    rows = math.ceil(n / columns)
    size = (12, 3) if n == 1 else (3.2 * columns, 2.2 * rows)  # one long roll: a whole path
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        _draw_roll(ax, pretty_midi.PrettyMIDI(str(midis[i])))
        ax.set_title(titles[i] if titles else Path(midis[i]).stem, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _draw_roll(ax, pm: pretty_midi.PrettyMIDI) -> None:
    notes = [note for inst in pm.instruments for note in inst.notes]
    for note in notes:
        ax.add_patch(_rect(note))
    end = max([pm.get_end_time()] + [1.0])
    for bar in pm.get_downbeats():
        ax.axvline(bar, color="0.75", lw=0.6, ls=":")
    pitches = [n.pitch for n in notes] or [60]
    ax.set_xlim(0, end)
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.tick_params(labelsize=6)
    ax.set_xlabel("seconds", fontsize=6)
    ax.set_ylabel("pitch", fontsize=6)


def _rect(note):
    from matplotlib.patches import Rectangle

    return Rectangle((note.start, note.pitch - 0.4), note.end - note.start, 0.8,
                     color="tab:blue", ec="navy", lw=0.3)


def write_wav(midi: Path, path: Path) -> Path:
    """Render a MIDI file to 16-bit mono WAV: fluidsynth when installed, else sine tones.

    The WAV lasts exactly as long as the MIDI file (its end of track included), so
    it lines up with the bars in an editor, and a silent sample gives a silent WAV.
    """
    pm = pretty_midi.PrettyMIDI(str(midi))
    try:
        audio = pm.fluidsynth(fs=SAMPLE_RATE)
    except (ImportError, ValueError, OSError):
        audio = pm.synthesize(fs=SAMPLE_RATE)
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
