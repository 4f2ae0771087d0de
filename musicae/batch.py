"""What every model reads and writes: a :class:`Batch` of examples.

A batch is the data (``tokens``), which of its steps are real (``mask``),
and named conditioning arrays (``controls``, such as chords). The mask is
explicit, never hidden inside the tokens as a pad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    """

    tokens: Tensor
    mask: Tensor | None = None
    controls: Mapping[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tokens)

    def _map(self, fn) -> Batch:
        """The same batch with ``fn`` applied to every tensor."""
        mask = fn(self.mask) if self.mask is not None else None
        return Batch(fn(self.tokens), mask, {k: fn(v) for k, v in self.controls.items()})

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
        mask = torch.cat([b.mask for b in batches]) if first.mask is not None else None
        controls = {k: torch.cat([b.controls[k] for b in batches]) for k in first.controls}
        return Batch(torch.cat([b.tokens for b in batches]), mask, controls)
