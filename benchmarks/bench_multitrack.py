"""Training-step cost of the multitrack preset, with and without ``embed`` and ``pack``, in
one process.

A step of a multitrack model reads and writes 4 track slots x 96 events, each a one-hot
of ~490 classes. With ``embed=0`` (MusicVAE's way) every LSTM reads the whole one-hot step
(and the decoder the 384 values of its conductor embedding and z beside it); with
``embed=128`` a linear map makes 128 values of the step, and the decoder adds its track's
conditioning, mapped once. With ``pack`` the LSTMs run over each track's real events
only (17 of 96 in an average training track slot), in groups of tracks of like length.
The arms train on the same real batch of the valid split (forward, backward, Adam
step), alternating, and the medians are printed.

    python benchmarks/bench_multitrack.py [--preset multitrack_1bar] [--batch 64]
                                          [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from musicae.domains.music import MusicDomain
from musicae.presets import build_model, get_preset

DATA = "pop909+chorales+groove+ensembles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="multitrack_1bar")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rep = get_preset(args.preset).representation
    examples = MusicDomain().examples(DATA, "valid", rep)
    count = len(examples.arrays["lengths"])
    batch = examples.batch(np.linspace(0, count - 1, args.batch).astype(np.int64))
    arms = {"embed=0 (one-hot steps)": {"embed": 0, "pack": False},
            "embed=128": {"embed": 128, "pack": False},
            "embed=128, pack": {"embed": 128, "pack": True}}
    steps, sizes = {}, {}
    for name, overrides in arms.items():
        torch.manual_seed(0)
        model = build_model(args.preset, overrides, rep)
        optimizer = torch.optim.Adam(model.parameters())
        sizes[name] = sum(p.numel() for p in model.parameters())

        def step(model=model, optimizer=optimizer) -> None:
            loss = model.loss(batch, 0.2, 64.0)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()  # warm-up
        steps[name] = step
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    print(f"# python benchmarks/bench_multitrack.py --preset {args.preset} --batch {args.batch} "
          f"--repeats {args.repeats} --threads {args.threads}")
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} bars of "
          f"{rep.track_slots} x {rep.events} events, median of {args.repeats}")
    base = statistics.median(next(iter(times.values())))
    for name, measured in times.items():
        seconds = statistics.median(measured)
        print(f"{name:26s}: {seconds:6.2f} s a step, {args.batch / seconds:6.1f} bars/s, "
              f"{sizes[name] / 1e6:.2f} M parameters, x{base / seconds:.2f}")


if __name__ == "__main__":
    main()
