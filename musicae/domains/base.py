"""What differs between images and music: reading data and inputs, writing outputs.

A :class:`Domain` turns user files into :class:`~musicae.batch.Batch` objects
and batches into files a person opens (PNG for digits; MIDI and piano-roll
PNGs for music). Everything else (training, sampling, interpolation) is
domain-free and lives in ``musicae.api``, which reaches data only through a
domain.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.datasets.examples import Examples
from musicae.defaults import SAMPLE_TEMPERATURE
from musicae.errors import MusicaeError
from musicae.representations.base import Representation


class Domain(abc.ABC):
    """Input/output for one kind of data; ``bundle`` is the model being used."""

    @abc.abstractmethod
    def examples(self, data: str, split: str, rep: Representation | None = None,
                 transpose: int = 0, progress: bool = True) -> Examples:
        """Examples of ``split`` ("train", "valid", "test" or "all") of DATA.

        rep: how music becomes windows; transpose: music training augmentation.
        """

    @abc.abstractmethod
    def read_input(self, bundle: ModelBundle, path: Path, bar: int | None = None
                   ) -> tuple[Batch, dict]:
        """One input file as a batch of one, plus facts to report (which window, its meter)."""

    @abc.abstractmethod
    def layout(self, bundle: ModelBundle, n: int, meter: str | None = None,
               chords: str | None = None, label: int | None = None) -> dict[str, object]:
        """``mask`` and ``controls`` to decode n codes with no input (sampling, decode);
        ``chords``: a progression for chord-conditioned models ("C G Am F");
        ``label``: the class for label-conditioned models (a digit)."""

    def condition(self, bundle: ModelBundle, batch: Batch, chords: str | None = None,
                  label: int | None = None) -> Batch:
        """``batch`` with the controls the user gave (``--chords``, ``--label``) in place of
        its own; here, where the model takes neither, giving one is an error."""
        self.refuse(bundle, chords, label)
        return batch

    @staticmethod
    def refuse(bundle: ModelBundle, chords: str | None = None, label: int | None = None) -> None:
        """A one-line error for a control the model does not take."""
        if chords is not None:
            raise MusicaeError(f"{bundle.path}: --chords is for chord-conditioned music models")
        if label is not None:
            raise MusicaeError(f"{bundle.path}: --label is for label-conditioned image models "
                               f"such as mnist_cvae")

    @abc.abstractmethod
    def write_batch(self, bundle: ModelBundle, batch: Batch, out: Path, stem: str,
                    **options) -> list[Path]:
        """Write each example of a batch as files, plus one overview; returns paths written."""

    @abc.abstractmethod
    def write_path(self, bundle: ModelBundle, batch: Batch, out: Path, **options) -> list[Path]:
        """Write an interpolation path (steps, ...) as frames plus one whole-path overview."""

    @abc.abstractmethod
    def write_pair(self, bundle: ModelBundle, inputs: Batch, outputs: Batch, out: Path,
                   stem: str, corrupted: Batch | None = None, **options) -> list[Path]:
        """Write an input beside its reconstruction (and what the model saw of it)."""

    @abc.abstractmethod
    def evaluate(self, bundle: ModelBundle, data: str, split: str) -> dict:
        """Held-out metrics of the model on ``split`` of DATA."""

    @abc.abstractmethod
    def data_path(self, data: str) -> str | None:
        """DATA as an absolute path, where it is one (to recognise it later)."""

    def attributes(self, bundle: ModelBundle) -> list[str]:
        """Names of the attributes :meth:`attribute` measures for this model."""
        return []

    def attribute(self, bundle: ModelBundle, name: str, batch: Batch) -> np.ndarray:
        """One value of attribute ``name`` per example of ``batch`` (NaN where undefined)."""
        raise MusicaeError(f"{bundle.path}: attribute vectors are measured on music models")

    def plot_latent(self, bundle: ModelBundle, data: str, out: Path) -> Path:
        """A picture of the model's latent space over DATA."""
        raise MusicaeError(f"{bundle.path}: plot-latent draws image models' codes by digit")

    def reads_whole(self, bundle: ModelBundle, bar: int | None) -> bool:
        """Whether an input is read whole (every window, in order) rather than one."""
        return False

    def arrange(self, bundle: ModelBundle, chords: str, bars: int | None = None,
                temperature: float = SAMPLE_TEMPERATURE, generator=None,
                meter: str | None = None,
                prior: str | None = None) -> Batch:
        """One style under each chord of a progression in turn (chord-conditioned music
        models)."""
        raise MusicaeError(f"{bundle.path}: arrange takes a music model conditioned on chords")

    def groove(self, bundle: ModelBundle, path: Path, temperature: float) -> tuple:
        """A drum beat (a MIDI file) played with the velocities and micro-timing the model
        learned, its hits kept: (the beat as read, as played, facts to report)."""
        raise no_groove(bundle)

    def write_groove(self, bundle: ModelBundle, path: Path, out: Path, temperature: float,
                     wav: bool = False) -> tuple[list[Path], dict]:
        """:meth:`groove` written as files under ``out``: (paths, facts to report)."""
        raise no_groove(bundle)


def no_groove(bundle: ModelBundle) -> MusicaeError:
    """The refusal of a model that does not groove beats."""
    kind = bundle.representation.kind if bundle.representation is not None else "image"
    return MusicaeError(f"{bundle.path}: a {kind} model does not groove beats; that takes a "
                        f"model of preset groove_humanize_2bar")
