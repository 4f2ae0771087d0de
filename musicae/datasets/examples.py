"""Where torch enters: named numpy arrays → :class:`~musicae.batch.Batch` objects.

:class:`Examples` keeps a split as compact named arrays (memory-mapped from
the dataset cache for music) and makes a batch only of the rows a step asks
for, so a large corpus trains in bounded memory. ``window_batch`` and
``window_arrays`` convert between a representation's windows and batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from musicae.batch import Batch
from musicae.datasets.images import DIGITS, LABEL
from musicae.errors import MusicaeError
from musicae.representations.base import Representation

Rows = dict[str, np.ndarray]


@dataclass
class Examples:
    """A split: named arrays with one row per example, made into batches on demand.

    ``to_batch(rows)`` builds a :class:`Batch` from some rows of every array;
    ``augment(rows, generator)`` may change training rows (transposition, say).
    """

    arrays: Mapping[str, np.ndarray]
    to_batch: Callable[[Rows], Batch]
    augment: Callable[[Rows, torch.Generator], Rows] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def batch(self, index: np.ndarray, generator: torch.Generator | None = None) -> Batch:
        """The examples at ``index``, augmented when a generator is given."""
        rows = {name: np.asarray(array[index]) for name, array in self.arrays.items()}
        if generator is not None and self.augment is not None:
            rows = self.augment(rows, generator)
        return self.to_batch(rows)

    def batches(self, batch_size: int, generator: torch.Generator, rank: int = 0,
                world: int = 1) -> Iterator[Batch]:
        """Endless shuffled, augmented batches (reshuffled every epoch).

        With ``world`` processes each global batch of ``world * batch_size``
        examples is cut into shards and this process (``rank``) gets one, so no
        two ranks see the same example in an epoch; every rank must pass a
        generator in the same state.
        """
        per_rank = min(batch_size * world, len(self)) // world
        if per_rank < 1:
            raise MusicaeError(f"{len(self)} examples cannot be shared by {world} processes")
        while True:
            order = torch.randperm(len(self), generator=generator).numpy()
            for i in range(0, len(order) - per_rank * world + 1, per_rank * world):
                first = i + rank * per_rank
                yield self.batch(order[first : first + per_rank], generator)

    def chunks(self, size: int, index: np.ndarray | None = None) -> Iterator[Batch]:
        """The examples at ``index`` (default: all, in order) in batches of at most ``size``."""
        index = np.arange(len(self)) if index is None else np.asarray(index)
        for i in range(0, len(index), size):
            yield self.batch(index[i : i + size])


def one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Integer labels (n,) as the float weights a conditional model reads: (n, classes)."""
    return torch.nn.functional.one_hot(labels, classes).float()


def image_examples(images: np.ndarray, labels: np.ndarray | None = None) -> Examples:
    """Images (n, 1, 28, 28) float32 in [0, 1] as examples; where every image has a digit
    label (n,) in 0..9, batches carry it as the control ``label`` (one-hot, (B, 10)),
    which conditional models read and the others ignore."""
    arrays = {"images": images}
    if labels is not None and len(labels) and ((labels >= 0) & (labels < DIGITS)).all():
        arrays["labels"] = labels

    def to_batch(rows: Rows) -> Batch:
        controls = {}
        if "labels" in rows:
            controls[LABEL] = one_hot(torch.from_numpy(rows["labels"].astype(np.int64)), DIGITS)
        return Batch(torch.from_numpy(rows["images"]), controls=controls)

    return Examples(arrays, to_batch)


def window_examples(arrays: Mapping[str, np.ndarray], rep: Representation,
                    transpose: int = 0) -> Examples:
    """A representation's windows as examples; ``transpose`` > 0 shifts each training
    window by a random whole number of semitones in [-transpose, transpose]."""
    augment = None
    if transpose:
        def augment(rows: Rows, generator: torch.Generator) -> Rows:
            shifts = torch.randint(-transpose, transpose + 1, (len(rows["tokens"]),),
                                   generator=generator).numpy()
            return rep.transpose_rows(rows, shifts)

    return Examples(arrays, lambda rows: window_batch(rows, rep), augment)


def window_batch(rows: Rows, rep: Representation) -> Batch:
    """Windows as a model batch.

    rows: ``tokens`` (n, steps, *token_shape), ``lengths`` (n, *length_shape), ``meter``
    (n, 2), and one (n, steps) array per control → Batch with tokens (n, steps,
    positions) int64 and the mask the representation makes of the lengths.
    """
    tokens = torch.from_numpy(rows["tokens"].astype(np.int64))
    tokens = tokens.reshape(len(tokens), rep.steps, rep.positions)
    mask = torch.from_numpy(rep.mask(rows["lengths"]))
    controls = {name: torch.from_numpy(rows[name].astype(np.int64)) for name in rep.controls}
    return Batch(tokens, mask, controls, *(torch.from_numpy(rows[name].astype(np.int64))
                                           for name in ("lengths", "meter")))


def window_arrays(batch: Batch, rep: Representation) -> tuple[np.ndarray, np.ndarray]:
    """A model batch back as windows: tokens (n, steps, *token_shape) zero off the mask,
    and the mask (n, steps) bool."""
    mask = batch.mask.cpu().numpy()
    tokens = batch.tokens.cpu().numpy().reshape(len(mask), rep.steps, *rep.token_shape)
    tokens = np.where(mask.reshape(*mask.shape, *[1] * len(rep.token_shape)), tokens, 0)
    return tokens.astype(rep.token_dtype), mask
