"""Sample and interpolation quality of a melody model.

Samples: ``--samples`` prior draws decoded at temperature 0.5 (4/4, seed 0),
set beside the 4/4 windows of the training split and beside uniformly random
tokens: share of silent windows, pitch span, note density, share of notes in
the window's best-fitting major/minor scale, and the distance between the
pitch-class histogram of all notes and that of the training data (total
variation: 0 same, 1 disjoint).

Interpolation: for each pair (A, B) of test-split tunes (first window of
each), how well the endpoints of the path reconstruct A and B (accuracy over
real steps), and the Hamming distance from A's reconstruction at each step of
the path, which should rise monotonically.

    python benchmarks/quality_music.py [MODEL] [--samples 512] [--pairs 20] [--steps 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from musicae import api
from musicae.datasets.examples import window_arrays
from musicae.datasets.midi import resolve_data, split_files
from musicae.representations.attributes import in_scale, note_density, pitch_classes
from musicae.representations.constants import FIRST_PITCH_TOKEN, MIN_PITCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="folk_mel_2bar")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    bundle = api.load(args.model, "cpu")
    domain, rep = api.domain(bundle), bundle.representation
    sample_quality(bundle, args.samples)
    tunes = split_files(resolve_data("folk"))["test"][: 2 * args.pairs]
    endpoint, monotone, curves = [], 0, []
    with torch.no_grad():
        for a_path, b_path in zip(tunes[::2], tunes[1::2], strict=False):
            a, _ = domain.read_input(bundle, a_path)
            b, _ = domain.read_input(bundle, b_path)
            path, _ = window_arrays(bundle.model.interpolate(a, b, args.steps), rep)  # (steps, T)
            for x, y in ((a, path[0]), (b, path[-1])):
                tokens, mask = window_arrays(x, rep)
                endpoint.append(float((tokens[0][mask[0]] == y[mask[0]]).mean()))
            distance = [int((p != path[0]).sum()) for p in path]
            curves.append(distance)
            monotone += all(d1 <= d2 for d1, d2 in zip(distance, distance[1:], strict=False))
    print(f"\ninterpolation: model {args.model}, {len(curves)} pairs of test tunes, "
          f"{args.steps} steps")
    print(f"endpoint reconstruction accuracy: mean {np.mean(endpoint):.3f}")
    print(f"Hamming distance from A along the path (mean): "
          f"{np.round(np.mean(curves, axis=0), 1).tolist()}")
    print(f"pairs whose distance from A never falls: {monotone}/{len(curves)}")


def describe(tokens: np.ndarray, mask: np.ndarray, reference: np.ndarray | None) -> dict:
    """Summary statistics of melody windows; reference: a pitch-class distribution."""
    onsets = tokens >= FIRST_PITCH_TOKEN
    pitches = tokens[onsets & mask] - FIRST_PITCH_TOKEN + MIN_PITCH
    histogram = pitch_classes(tokens, mask).sum(0)
    histogram = histogram / max(histogram.sum(), 1)
    stats = {
        "silent": float(((onsets & mask).sum(1) == 0).mean()),
        "pitch 1-99%": ("{:.0f}-{:.0f}".format(*np.percentile(pitches, [1, 99]))
                        if len(pitches) else "-"),
        "density": float(note_density(tokens, mask).mean()),
        "in scale": float(np.nanmean(in_scale(tokens, mask))),
        "pc distance": (0.5 * float(np.abs(histogram - reference).sum())
                        if reference is not None else 0.0),
    }
    return stats | {"histogram": histogram}


def sample_quality(bundle, n: int) -> None:
    rep = bundle.representation
    windows = api.domain(bundle).examples("folk", "train", rep, progress=False)
    tokens = windows.arrays["tokens"].astype(np.int64)
    mask = rep.mask(windows.arrays["lengths"])
    four_four = mask.all(1)
    train = describe(tokens[four_four], mask[four_four], None)
    reference = train["histogram"]
    train["pc distance"] = 0.0
    torch.manual_seed(0)  # the decoder's draws use the global generator
    with torch.no_grad():
        x = bundle.model.sample(n, temperature=0.5, generator=torch.Generator().manual_seed(0))
    random = np.random.default_rng(0).integers(0, rep.heads[0][1], size=(n, rep.steps))
    rows = {"train windows (4/4)": train,
            "samples, temperature 0.5": describe(*window_arrays(x, rep), reference),
            "random tokens": describe(random, np.ones_like(random, bool), reference)}
    print(f"samples: {n} from the prior of {bundle.path.name} at temperature 0.5, "
          f"against {int(four_four.sum())} 4/4 training windows")
    columns = ["silent", "pitch 1-99%", "density", "in scale", "pc distance"]
    print(f"{'':26}" + "".join(f"{c:>13}" for c in columns))
    for name, row in rows.items():
        cells = [row[c] if isinstance(row[c], str) else f"{row[c]:.3f}" for c in columns]
        print(f"{name:26}" + "".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    main()
