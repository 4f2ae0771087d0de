"""What differs between images and music: reading data and inputs, writing outputs.

A :class:`Domain` turns user files into model tensors and model tensors into
files a person opens (PNG for digits; MIDI and piano-roll PNGs for music).
Everything else (training, sampling, interpolation) is domain-free and lives
in ``musicae.api``.
"""

from __future__ import annotations

import abc
from pathlib import Path

from torch import Tensor

from musicae.artifacts import ModelBundle
from musicae.train import TensorData


class Domain(abc.ABC):
    """Input/output for one kind of data; ``bundle`` is the model being used."""

    kind: str  # "image" or "music"

    @abc.abstractmethod
    def training_data(self, data: str, preset, split: str, **options) -> TensorData:
        """Examples of ``split`` ("train", "valid" or "test") from DATA as one tensor."""

    @abc.abstractmethod
    def read_input(self, bundle: ModelBundle, path: Path, **options) -> tuple[Tensor, dict]:
        """One input file as a batch of one, plus facts to report (e.g. which window)."""

    @abc.abstractmethod
    def write_batch(self, bundle: ModelBundle, x: Tensor, out: Path, stem: str,
                    **options) -> list[Path]:
        """Write each example of ``x`` as files, plus one overview; returns paths written."""

    @abc.abstractmethod
    def write_path(self, bundle: ModelBundle, x: Tensor, out: Path, **options) -> list[Path]:
        """Write an interpolation path (steps, ...) as frames plus one whole-path overview."""

    @abc.abstractmethod
    def write_pair(self, bundle: ModelBundle, inputs: Tensor, outputs: Tensor, out: Path,
                   stem: str, **options) -> list[Path]:
        """Write an input beside its reconstruction."""

    @abc.abstractmethod
    def evaluate(self, bundle: ModelBundle, data: TensorData, **options) -> dict:
        """Held-out metrics of the model on ``data``."""

    def decode_context(self, bundle: ModelBundle, n: int, **options) -> dict:
        """Context ``decode`` needs for codes with no input (sampling, decode)."""
        return {}
