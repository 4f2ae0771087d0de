"""WAV rendering time beside sampling: the SoundFont player against the sine fallback.

Samples ``-n`` two-bar melodies with the shipped ``folk_mel_2bar`` model (and, with
``--model``, any other), writes them as MIDI, then times, in alternation, rendering
every file with the General MIDI SoundFont (``render.write_wav``) and with pretty_midi's
sine synthesis, and the sampling itself. Medians over ``--repeats``.

    python benchmarks/bench_audio.py [--model folk_mel_2bar] [-n 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from musicae import api
from musicae.output import render, soundfont


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="folk_mel_2bar")
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    soundfont.load()
    print(f"SoundFont load (first WAV of a process only): "
          f"{time.perf_counter() - started:.3f} s ({soundfont.DEFAULT_SOUNDFONT.name})")
    times: dict[str, list[float]] = {"sampling": [], "soundfont": [], "sine": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            out = Path(tmp) / f"r{r}"
            started = time.perf_counter()
            done = api.sample(args.model, args.n, out, seed=r, device="cpu")
            times["sampling"].append(time.perf_counter() - started)
            midis = [Path(p) for p in done["written"] if p.endswith(".mid")]
            started = time.perf_counter()
            for m in midis:
                render.write_wav(m, m.with_suffix(".wav"))
            times["soundfont"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for m in midis:
                pretty_midi.PrettyMIDI(str(m)).synthesize(fs=render.SAMPLE_RATE)
            times["sine"].append(time.perf_counter() - started)
        with wave.open(str(midis[0].with_suffix(".wav"))) as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            print(f"first WAV: {w.getnframes() / w.getframerate():.2f} s, "
                  f"peak {np.abs(audio).max()}")
    for name, values in times.items():
        print(f"{name:<10} {args.n} files: median {statistics.median(values):.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f}, {args.repeats} runs)")
    print(f"SoundFont WAVs cost {statistics.median(times['soundfont']):.3f} s beyond sampling "
          f"for {args.n} files")


if __name__ == "__main__":
    main()
