"""Interpolation quality of a melody model on pairs of held-out tunes.

For each pair (A, B) of test-split tunes (first window of each): how well the
endpoints of the path reconstruct A and B (accuracy over real steps), and the
Hamming distance from A's reconstruction at each step of the path, which
should rise monotonically.

    python benchmarks/quality_music.py [MODEL] [--pairs 20] [--steps 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from musicae import api
from musicae.datasets.midi import resolve_data, split_files
from musicae.domains.music import MusicDomain
from musicae.models.sequence import valid_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="folk_mel_2bar")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    bundle = api.load(args.model, "cpu")
    domain = MusicDomain()
    tunes = split_files(resolve_data("folk"))["test"][: 2 * args.pairs]
    endpoint, monotone, curves = [], 0, []
    with torch.no_grad():
        for a_path, b_path in zip(tunes[::2], tunes[1::2], strict=False):
            a, _ = domain.read_input(bundle, a_path)
            b, _ = domain.read_input(bundle, b_path)
            path = bundle.model.interpolate(a, b, args.steps)  # (steps, T)
            for x, y in ((a[0], path[0]), (b[0], path[-1])):
                real = valid_mask(x[None])[0]
                endpoint.append(float((x[real] == y[real]).float().mean()))
            distance = [int((p != path[0]).sum()) for p in path]
            curves.append(distance)
            monotone += all(d1 <= d2 for d1, d2 in zip(distance, distance[1:], strict=False))
    print(f"model {args.model}, {len(curves)} pairs of test tunes, {args.steps} steps")
    print(f"endpoint reconstruction accuracy: mean {np.mean(endpoint):.3f}")
    print(f"Hamming distance from A along the path (mean): "
          f"{np.round(np.mean(curves, axis=0), 1).tolist()}")
    print(f"pairs whose distance from A never falls: {monotone}/{len(curves)}")


if __name__ == "__main__":
    main()
