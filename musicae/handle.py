"""A trained model for notebooks and scripts: ``musicae.load(name_or_dir)``.

Music models take MIDI paths or ``pretty_midi.PrettyMIDI`` objects and return
``PrettyMIDI`` objects; image models take image paths or arrays (28, 28) in
[0, 1] and return arrays. Defaults are the command line's (``musicae.defaults``).

    >>> import musicae
    >>> model = musicae.load("folk_mel_2bar")
    >>> tunes = model.sample(4, seed=0)              # four PrettyMIDI objects
    >>> path = model.interpolate(tunes[0], tunes[1], steps=5)
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from musicae.batch import Batch
from musicae.defaults import (
    DECODE_TEMPERATURE,
    GROOVE_TEMPERATURE,
    INTERPOLATION_METHOD,
    INTERPOLATION_SPACING,
    INTERPOLATION_STEPS,
    MAX_SAMPLES,
    SAMPLES,
)
from musicae.errors import MusicaeError, first_line

Input = str | os.PathLike | object  # a path, a PrettyMIDI (music) or an array (images)


class Model:
    """encode / decode / sample / reconstruct / interpolate on one trained model."""

    def __init__(self, name_or_dir: str | os.PathLike, device: str = "auto") -> None:
        from musicae import api

        self.bundle = api.load(str(name_or_dir), device)
        self.domain = api.domain(self.bundle)
        self.model = self.bundle.model.eval()

    def __repr__(self) -> str:
        return (f"musicae.Model({str(self.bundle.path)!r}, preset={self.bundle.preset.name!r}, "
                f"latent_dim={self.latent_dim})")

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def is_music(self) -> bool:
        return self.bundle.representation is not None

    # --- the five operations ------------------------------------------------------------

    @torch.no_grad()
    def encode(self, inputs: Input | list[Input], bar: int | None = None) -> np.ndarray:
        """Posterior means of the inputs (music: window ``bar``, default the first; an
        event kind's, such as multitrack: every window in order, unless ``bar`` picks
        one): (n, latent)."""
        inputs = _listed(inputs)
        if not inputs:
            raise MusicaeError("encode takes at least one input")
        whole = self.domain.reads_whole(self.bundle, bar)
        return torch.cat([self.model.encode(self._whole(x).batch if whole else self._read(x, bar)
                                            ).mean for x in inputs]).cpu().numpy()

    def _whole(self, x: Input):
        """Every window of a MIDI input (``MusicDomain.read_piece``)."""
        with tempfile.TemporaryDirectory() as tmp:
            return self.domain.read_piece(self.bundle, _midi_file(x, Path(tmp)))

    @torch.no_grad()
    def decode(self, z: np.ndarray, temperature: float = DECODE_TEMPERATURE,
               meter: str | None = None, chords: str | None = None,
               seed: int | None = None, label: int | None = None) -> list:
        """Codes (n, latent) as outputs (music: in ``meter``, over ``chords``; images of a
        label-conditioned model: under ``label``)."""
        from musicae.api import check_codes, check_temperature

        check_temperature(temperature)
        z = check_codes(z, self.latent_dim)  # as `musicae decode` checks its .npy
        _seed(seed)
        layout = self.domain.layout(self.bundle, len(z), meter, chords, label)
        batch = self.model.decode(torch.from_numpy(z).to(self.model.device), temperature,
                                  **layout)
        return self._outputs(batch)

    @torch.no_grad()
    def sample(self, n: int = SAMPLES, temperature: float | None = None,
               seed: int | None = None, meter: str | None = None,
               chords: str | None = None, label: int | None = None,
               shift: dict[str, float] | None = None, prior: str | None = None) -> list:
        """n new outputs decoded from the prior (music: in ``meter``, over ``chords``;
        label-conditioned models: all of ``label``, or all labels spread evenly in order),
        each code moved along stored attribute vectors by ``shift`` ({"density": 1.5});
        ``prior``: "fitted" or "standard" (N(0, I)), by default the fitted one where the
        model has one; ``temperature``: by default the fitted prior's own where it has one,
        else 0.5."""
        from musicae.api import sampling, shift_vector

        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
            raise MusicaeError(f"n must be a whole number 1..{MAX_SAMPLES:,} (got {n!r})")
        prior, temperature = sampling(self.bundle, prior, temperature)
        generator = torch.Generator().manual_seed(_seed(seed))
        layout = self.domain.layout(self.bundle, n, meter, chords, label)
        made = self.model.sample(n, temperature, generator, shift_vector(self.bundle, shift),
                                 prior=prior, **layout)
        return self._outputs(made)

    @torch.no_grad()
    def arrange(self, chords: str, bars: int | None = None,
                temperature: float | None = None, seed: int | None = None,
                meter: str | None = None, prior: str | None = None):
        """One style (one code from the prior) under each chord of ``chords`` in turn,
        repeated to ``bars`` bars, as one PrettyMIDI whose tracks are merged by instrument
        (as ``musicae arrange`` writes it; chord-conditioned music models)."""
        from musicae.api import sampling
        from musicae.domains.music import joined_piece

        prior, temperature = sampling(self.bundle, prior, temperature)
        generator = torch.Generator().manual_seed(_seed(seed))
        batch = self.domain.arrange(self.bundle, chords, bars, temperature, generator, meter,
                                    prior)
        return _pretty_midi(joined_piece(self.bundle.representation, batch))

    @torch.no_grad()
    def reconstruct(self, x: Input, bar: int | None = None, chords: str | None = None,
                    label: int | None = None, shift: dict[str, float] | None = None):
        """The input encoded and decoded (music: over ``chords`` instead of its own;
        label-conditioned models: under ``label`` instead of its own), its code moved by
        ``shift`` along stored attribute vectors. An event kind's input (multitrack) is
        read whole and comes back as one piece, unless ``bar`` picks a window."""
        from musicae.api import shift_vector
        from musicae.domains.music import joined_piece

        whole = self._whole(x) if self.domain.reads_whole(self.bundle, bar) else None
        batch = self._read(x, bar) if whole is None else whole.batch
        like = self.domain.condition(self.bundle, batch, chords, label)
        vector = shift_vector(self.bundle, shift)
        made = self.model.reconstruct(batch, shift=vector, like=like)
        if whole is None:
            return self._outputs(made)[0]
        return _pretty_midi(joined_piece(self.bundle.representation, made, whole.starts,
                                         whole.piece, qpm=whole.piece.qpm))

    @torch.no_grad()
    def interpolate(self, a: Input | None = None, b: Input | None = None,
                    steps: int = INTERPOLATION_STEPS, method: str = INTERPOLATION_METHOD,
                    temperature: float = DECODE_TEMPERATURE, bar: int | None = None,
                    chords: str | None = None, label: int | None = None,
                    seed: int | None = None, meter: str | None = None,
                    prior: str | None = None, spacing: str = INTERPOLATION_SPACING) -> list:
        """``steps`` outputs on the path from a to b, endpoints included (placed by
        ``spacing``: see ``Autoencoder.interpolate``), in a's layout
        (label-conditioned models: from a's label to b's, or ``label`` all along); with
        neither, between two random styles (codes from ``prior``, drawn by ``seed``; music
        in ``meter`` over ``chords``)."""
        from musicae.api import check_path_steps, check_prior, check_temperature, random_path
        from musicae.models.base import check_spacing

        check_path_steps(steps)
        check_spacing(spacing)
        check_temperature(temperature)
        if a is None and b is None:
            prior = check_prior(self.bundle, prior)
            generator = torch.Generator().manual_seed(_seed(seed))
            return self._outputs(random_path(self.bundle, self.domain, steps, method,
                                             temperature, generator, meter, chords, label,
                                             prior))
        if a is None or b is None:
            raise MusicaeError("interpolate takes two inputs, or none (two random styles)")
        xa, xb = self._read(a, bar), self._read(b, bar)
        like = self.domain.condition(self.bundle, xa, chords, label)
        like = None if like is xa else like
        return self._outputs(self.model.interpolate(xa, xb, steps, method, temperature,
                                                    like=like, spacing=spacing))

    @torch.no_grad()
    def groove(self, beat: Input, temperature: float = GROOVE_TEMPERATURE,
               seed: int | None = None):
        """A drum beat (a MIDI path or PrettyMIDI) played with the velocities and
        micro-timing this groove model learned, its hits unchanged: a PrettyMIDI (as
        ``musicae groove`` writes it)."""
        from musicae.api import check_temperature

        check_temperature(temperature)
        _seed(seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = _midi_file(beat, Path(tmp))
            return _pretty_midi(self.domain.groove(self.bundle, path, temperature)[1])

    # --- inputs and outputs -------------------------------------------------------------

    def _read(self, x: Input, bar: int | None) -> Batch:
        if isinstance(x, (str, os.PathLike)):
            return self.domain.read_input(self.bundle, Path(x), bar)[0].to(self.model.device)
        if self.is_music:
            with tempfile.TemporaryDirectory() as tmp:
                path = _midi_file(x, Path(tmp))
                return self.domain.read_input(self.bundle, path, bar)[0].to(self.model.device)
        try:
            image = np.asarray(x, dtype=np.float32).squeeze()
        except (TypeError, ValueError):
            image = np.full(1, np.nan, np.float32)
        if image.shape != (28, 28) or not (np.isfinite(image).all() and 0 <= image.min()
                                           and image.max() <= 1):
            raise MusicaeError(f"an image model reads 28x28 arrays of numbers in [0, 1], "
                               f"not {type(x).__name__} of shape {image.shape}")
        return self.domain.input_batch(self.bundle, image[None])[0]  # (1, 1, 28, 28)

    def _outputs(self, batch: Batch) -> list:
        if not self.is_music:
            return [image.squeeze(0) for image in batch.tokens.detach().cpu().numpy()]
        from musicae.domains.music import decoded_pieces

        return [_pretty_midi(piece)
                for piece in decoded_pieces(self.bundle.representation, batch)]


def _pretty_midi(piece) -> object:
    """A piece as the PrettyMIDI of the file musicae writes for it."""
    import pretty_midi

    from musicae.midi.notes import write_midi

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "piece.mid"
        write_midi(piece, path)
        return pretty_midi.PrettyMIDI(io.BytesIO(path.read_bytes()))


def load(name_or_dir: str | os.PathLike, device: str = "auto") -> Model:
    """A shipped model (by name) or a run directory, ready for notebooks (see :class:`Model`)."""
    return Model(name_or_dir, device)


def _midi_file(x: Input, folder: Path) -> Path:
    """A MIDI path as it is, or a PrettyMIDI written as ``folder``/input.mid."""
    if isinstance(x, (str, os.PathLike)):
        return Path(x)
    if not hasattr(x, "write"):
        raise MusicaeError(f"a music model reads MIDI paths or PrettyMIDI objects, "
                           f"not {type(x).__name__}")
    path = folder / "input.mid"
    try:
        x.write(str(path))
    except Exception as exc:  # noqa: BLE001 (pretty_midi and mido raise anything)
        raise MusicaeError(f"this PrettyMIDI object cannot be written as MIDI "
                           f"({type(exc).__name__}: {first_line(exc)}); check its "
                           f"notes' times and pitches") from None
    return path


def _listed(inputs) -> list:
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _seed(seed: int | None) -> int:
    from musicae.api import _chosen

    return _chosen(seed)
