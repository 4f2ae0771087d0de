"""Bar slots: windows of any meter laid out at one fixed length.

A window of B bars with ``steps_per_bar`` steps each is stored as B slots of
``slot`` steps: bar b occupies positions ``[b*slot, b*slot + steps_per_bar)``
and the rest of its slot is padding (zeros). A boolean mask is True on the
real steps, so a 3/4 window (12 steps a bar) and a 4/4 one (16) both have
``B * slot`` positions.
"""

from __future__ import annotations

import numpy as np


def slot_mask(bars: int, steps_per_bar: int, slot: int) -> np.ndarray:
    """The mask of a ``bars``-bar window: (bars * slot,) bool, True on real steps."""
    if not 0 < steps_per_bar <= slot:
        raise ValueError(f"a bar of {steps_per_bar} steps does not fit a slot of {slot}")
    return np.tile(np.arange(slot) < steps_per_bar, bars)


def to_slots(tokens: np.ndarray, steps_per_bar: int, slot: int) -> tuple[np.ndarray, np.ndarray]:
    """Spread whole bars of tokens over bar slots.

    Parameters
    ----------
    tokens : np.ndarray
        (bars * steps_per_bar, ...) a window's steps; trailing axes (e.g. pitch) are kept.
    steps_per_bar : int
        Steps in one bar of the window's meter; at most ``slot``.
    slot : int
        Steps reserved per bar.

    Returns
    -------
    tokens_slotted : np.ndarray
        (bars * slot, ...) with zeros on the padding steps.
    mask : np.ndarray
        (bars * slot,) bool, True on real steps.
    """
    bars, rest = divmod(tokens.shape[0], steps_per_bar)
    if rest:
        raise ValueError(f"{tokens.shape[0]} steps are not whole bars of {steps_per_bar}")
    mask = slot_mask(bars, steps_per_bar, slot)
    slotted = np.zeros((bars * slot, *tokens.shape[1:]), dtype=tokens.dtype)
    slotted[mask] = tokens
    return slotted, mask


def to_slots_batch(tokens: np.ndarray, steps_per_bar: int, slot: int) -> np.ndarray:
    """:func:`to_slots` for windows of one meter at once.

    tokens: (n, bars * steps_per_bar, ...) → (n, bars * slot, ...), zeros on padding.
    """
    n, steps = tokens.shape[:2]
    bars = steps // steps_per_bar
    if bars * steps_per_bar != steps or not 0 < steps_per_bar <= slot:
        raise ValueError(f"{steps} steps are not whole bars of {steps_per_bar} within {slot}")
    out = np.zeros((n, bars, slot, *tokens.shape[2:]), dtype=tokens.dtype)
    out[:, :, :steps_per_bar] = tokens.reshape(n, bars, steps_per_bar, *tokens.shape[2:])
    return out.reshape(n, bars * slot, *tokens.shape[2:])  # (np.pad: 10x slower here)


def from_slots(tokens_slotted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The real steps of a slotted window: (bars * slot, ...) → (bars * steps_per_bar, ...)."""
    return tokens_slotted[mask]

