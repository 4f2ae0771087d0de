"""What every model reads and writes: a :class:`Batch` of examples.

A batch is the data (``tokens``), which of its steps are real (``mask``),
and named conditioning arrays (``controls``, such as chords); music windows
also carry what their representation stored beside the tokens (``lengths``,
from which it made the mask, and ``meter``), so that what is decoded from
them is written as they were. The mask is explicit, never hidden inside the
tokens as a pad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """A batch of examples.

    tokens: (B, T, P) int64 class indices for sequence models (T steps, P token
        positions per step: 1 for a melody, 88 for a piano-roll); (B, 1, 28, 28)
        pixels in [0, 1] for image models
    mask: (B, T) bool, True on real steps (sequences); None where every position is real
    controls: name → (B, T) int64 per-step labels the model is conditioned on
    lengths: (B, *length_shape) int64, the window lengths its representation stores (steps
        of each bar for kinds on a grid); None for images
    meter: (B, 2) int64 time signature (numerator, denominator) of each window; None
        for images
    """

    tokens: Tensor
    mask: Tensor | None = None
    controls: Mapping[str, Tensor] = field(default_factory=dict)
    lengths: Tensor | None = None
    meter: Tensor | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def _map(self, fn) -> Batch:
        """The same batch with ``fn`` applied to every tensor."""
        def maybe(t: Tensor | None) -> Tensor | None:
            return fn(t) if t is not None else None

        controls = {k: fn(v) for k, v in self.controls.items()}
        return Batch(fn(self.tokens), maybe(self.mask), controls, maybe(self.lengths),
                     maybe(self.meter))

    def laid_out_as(self, like: Batch) -> Batch:
        """These tokens with ``like``'s lengths and meter (what was decoded in its layout)."""
        return replace(self, lengths=like.lengths, meter=like.meter)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """The batch in page-locked memory, for fast asynchronous copies to a GPU."""
        return self._map(lambda t: t.pin_memory())

    def __getitem__(self, index: slice | Tensor) -> Batch:
        """Examples ``index`` (a slice or indices along the batch axis)."""
        return self._map(lambda t: t[index])

    def split(self, size: int) -> list[Batch]:
        """Consecutive batches of at most ``size`` examples."""
        return [self[i : i + size] for i in range(0, len(self), size)]

    def repeat(self, n: int) -> Batch:
        """A batch of one example repeated ``n`` times (no copy)."""
        return self._map(lambda t: t.expand(n, *t.shape[1:]))

    @staticmethod
    def cat(batches: list[Batch]) -> Batch:
        """Batches one after another."""
        first = batches[0]

        def joined(name: str) -> Tensor | None:
            if getattr(first, name) is None:
                return None
            return torch.cat([getattr(b, name) for b in batches])

        controls = {k: torch.cat([b.controls[k] for b in batches]) for k in first.controls}
        return Batch(joined("tokens"), joined("mask"), controls, joined("lengths"),
                     joined("meter"))
