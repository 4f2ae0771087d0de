"""Images for the image models: the bundled digits, a folder of pictures, or MNIST IDX files.

Every source becomes float32 arrays in [0, 1] of shape (n, 1, 28, 28), plus
integer labels where the source has them (-1 where it does not).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from musicae.errors import MusicaeError
from musicae.files import read_regular
from musicae.paths import DATA_DIR

SIDE = 28
BUNDLED = {"mnist": DATA_DIR / "mnist" / "mnist5k.npz"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
SPLITS = ("train", "test", "all")  # "test" is the held-out split
DIGITS = 10  # classes of a digit label
LABEL = "label"  # the control that carries it in a batch (see examples.image_examples)


@dataclass
class ImageSet:
    """images: (n, 1, 28, 28) float32 in [0, 1]; labels: (n,) int64, -1 when unknown."""

    images: np.ndarray
    labels: np.ndarray
    source: str


def read_image(path: str | Path) -> np.ndarray:
    """One picture as a (1, 28, 28) float32 array in [0, 1] (greyscale, resized).

    Dark digits on a light background (scans, drawings) are inverted so that
    the digit is bright, as in MNIST.
    """
    path = Path(path)
    if not path.exists():
        raise MusicaeError(f"{path}: no such file")
    data = read_regular(path, "image")[0]
    try:
        with Image.open(io.BytesIO(data)) as img:
            grey = img.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = "not an image" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise MusicaeError(f"{path}: cannot read as an image ({reason})") from None
    x = np.asarray(grey, dtype=np.float32) / 255.0
    if _border_mean(x) > 0.5:
        x = 1.0 - x
    return x[None]


def _border_mean(x: np.ndarray) -> float:
    return float(np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]).mean())


def write_png(array: np.ndarray, path: Path) -> None:
    """Save a (H, W) or (1, H, W) array in [0, 1] as an 8-bit greyscale PNG."""
    pixels = np.clip(np.asarray(array).squeeze(), 0.0, 1.0)
    Image.fromarray((pixels * 255).round().astype(np.uint8), mode="L").save(path)


def grid(images: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
    """Tile (n, 1, H, W) images into one (rows*(H+pad)-pad, ...) array, row by row."""
    n, _, h, w = images.shape
    rows = -(-n // columns)
    out = np.ones((rows * (h + pad) - pad, columns * (w + pad) - pad), dtype=np.float32) * 0.25
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img[0]
    return out


def load_images(data: str | Path, split: str = "train") -> ImageSet:
    """Images of one split from a bundled name (``mnist``), a folder, or IDX files."""
    if split not in SPLITS:
        raise MusicaeError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if str(data) in BUNDLED:
        return _bundled(str(data), split)
    path = Path(data)
    if not path.exists():
        raise MusicaeError(f"{path}: no such file or folder (or bundled corpus name)")
    idx = _idx_pair(path)
    if idx is not None:
        return _split(*idx, split, source=str(path))
    if path.is_dir():
        return _folder(path, split)
    raise MusicaeError(f"{path}: not a folder of images, MNIST IDX files or a bundled corpus")


def _bundled(name: str, split: str) -> ImageSet:
    path = BUNDLED[name]
    if not path.is_file():
        raise MusicaeError(f"{path}: bundled corpus {name!r} is missing from this checkout")
    with np.load(path) as f:
        images, labels, held_out = f["images"], f["labels"], f["split"].astype(bool)
    keep = {"train": ~held_out, "test": held_out, "all": np.ones_like(held_out)}[split]
    x = images[keep].astype(np.float32)[:, None] / 255.0
    return ImageSet(x, labels[keep].astype(np.int64), name)


def _held_out(name: str) -> bool:
    """A fixed 80/20 split of a user folder by a hash of the file name."""
    return hashlib.sha1(name.encode()).digest()[0] < 256 * 0.2


def _folder(path: Path, split: str) -> ImageSet:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if split != "all":
        files = [p for p in files if _held_out(p.name) == (split == "test")]
    if not files:
        raise MusicaeError(f"{path}: no images (png/jpg/...) for the {split} split")
    images = np.stack([read_image(p) for p in files])
    labels = np.array([label_of(p) for p in files], dtype=np.int64)
    return ImageSet(images, labels, str(path))


def label_of(path: Path) -> int:
    """A digit label from a parent folder named 0..9 (the usual layout), else -1."""
    name = path.parent.name
    return int(name) if name.isdigit() and len(name) == 1 else -1


def _idx_pair(path: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Read MNIST IDX files: a single images file, or a folder holding the standard names."""
    if path.is_file():
        return _read_idx(path), None
    images = sorted(path.glob("*-images-idx3-ubyte*"))
    if not images:
        return None
    labels = [p for p in sorted(path.glob("*-labels-idx1-ubyte*"))]
    x = np.concatenate([_read_idx(p) for p in images])
    y = np.concatenate([_read_idx(p) for p in labels]) if len(labels) == len(images) else None
    return x, y


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise MusicaeError(f"{path}: cannot read ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise MusicaeError(f"{path}: not an MNIST IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise MusicaeError(f"{path}: truncated IDX file ({body.size} of {np.prod(shape)} bytes)")
    return body.reshape(shape)


def _split(images: np.ndarray, labels: np.ndarray | None, split: str, source: str) -> ImageSet:
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise MusicaeError(f"{source}: IDX images must be 28x28, got {images.shape[1:]}")
    labels = labels.astype(np.int64) if labels is not None else -np.ones(len(images), np.int64)
    held_out = np.arange(len(images)) % 5 == 4
    keep = {"train": ~held_out, "test": held_out, "all": np.ones_like(held_out)}[split]
    return ImageSet(images[keep].astype(np.float32)[:, None] / 255.0, labels[keep], source)
