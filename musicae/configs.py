"""The settings that describe a model and its training: plain dataclasses, no torch.

Presets are made of these, ``--set`` and config.json fill them, and they are
checked here (types, ranges, sizes a machine can hold) before anything is
built, so commands that only need a preset's settings (``musicae prepare``)
never load torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from musicae.errors import MusicaeError

HEAD_NAMES = ("independent", "autoregressive")  # output factorisations (models.parts.HEADS)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; presets give defaults, CLI flags override them."""

    steps: int = 2000  # optimiser steps in total (a resumed run continues to this count)
    batch_size: int = 64
    lr: float = 1e-3  # initial Adam learning rate ...
    lr_decay: float = 0.9999  # ... decaying as (lr - min_lr) * lr_decay**step + min_lr
    min_lr: float = 1e-5
    grad_clip: float = 1.0  # max global gradient norm
    max_beta: float = 1.0  # KL weight reached by annealing
    beta_rate: float = 0.0  # annealing rate: beta = (1 - beta_rate**step) * max_beta
    free_bits: float = 0.0  # KL bits per example that cost nothing
    eval_every: int = 500  # evaluate on held-out data (and checkpoint) every N steps
    eval_batches: int = 8  # held-out batches per evaluation
    checkpoint_minutes: float = 5.0  # also checkpoint after this much time without one
    seed: int = 0
    minutes: float | None = None  # stop after this much training time (for equal-time runs)
    bf16: bool = False  # bfloat16 autocast (about 2.5x faster LSTMs on CPUs with AVX512-BF16)

    def lr_at(self, step: int) -> float:
        return (self.lr - self.min_lr) * self.lr_decay**step + self.min_lr


GEOMETRY = ("heads", "controls", "bars", "slot")  # fields the representation sets
# The largest sizes a config.json (or --set) may ask for: MusicVAE's biggest models use
# widths of 2048 and 3 layers; far beyond these a model file is a memory bomb, not a model.
MAX_WIDTH, MAX_LAYERS, MAX_BARS, MAX_SLOT = 8192, 8, 64, 96


@dataclass(frozen=True)
class SequenceConfig:
    """Sizes of a sequence VAE (defaults: MusicVAE's cat-mel_2bar_small).

    The geometry fields (``GEOMETRY``) come from the model's representation;
    the rest are sizes a preset (or ``--set``) chooses.
    """

    heads: tuple[tuple[int, int], ...] = ((1, 90),)  # (positions, classes) per output head
    controls: tuple[tuple[str, int], ...] = ()  # (name, classes) of per-step controls
    bars: int = 2  # bars per window
    slot: int = 16  # steps per bar slot (one 4/4 bar at 4 steps per quarter)
    enc_size: int = 512  # bidirectional encoder LSTM width (each direction)
    enc_layers: int = 1
    latent_dim: int = 256
    dec_size: int = 256  # (bar-level) decoder LSTM width
    dec_layers: int = 2
    conductor_size: int = 0  # > 0 makes the decoder hierarchical: one conductor step per bar
    conductor_layers: int = 2
    sampling_rate: float = 0.0  # scheduled sampling: inverse-sigmoid rate k (0 = off)
    z_to_bars: bool = False  # hierarchical: z beside each bar's embedding in its decoder
    head: str = "independent"  # output factorisation: "independent" or "autoregressive"

    def __post_init__(self) -> None:
        sizes = ("bars", "slot", "enc_size", "enc_layers", "latent_dim", "dec_size",
                 "dec_layers", "conductor_layers")
        bad = [n for n in sizes if not _positive_int(getattr(self, n))]
        if not (_positive_int(self.conductor_size) or self.conductor_size == 0):
            bad.append("conductor_size")
        if bad:
            raise MusicaeError(f"bad sequence model settings: {', '.join(bad)} "
                               f"must be positive integers")
        limits = {"enc_size": MAX_WIDTH, "latent_dim": MAX_WIDTH, "dec_size": MAX_WIDTH,
                  "conductor_size": MAX_WIDTH, "enc_layers": MAX_LAYERS,
                  "dec_layers": MAX_LAYERS, "conductor_layers": MAX_LAYERS, "bars": MAX_BARS,
                  "slot": MAX_SLOT}
        over = [f"{n} <= {limit}" for n, limit in limits.items() if getattr(self, n) > limit]
        if over:
            raise MusicaeError(f"sequence model settings too large to build: need "
                               f"{', '.join(over)}")
        if self.head not in HEAD_NAMES:
            raise MusicaeError(f"bad sequence model setting head={self.head!r}: one of "
                               f"{', '.join(HEAD_NAMES)}")
        if self.head == "autoregressive" and len(self.heads) != 1:
            raise MusicaeError("head=autoregressive models one output head (a piano-roll), "
                               f"not {len(self.heads)}")
        if self.head == "autoregressive" and self.sampling_rate > 0:
            raise MusicaeError("head=autoregressive does not train with scheduled sampling "
                               "(sampling_rate): within a step it is always teacher-forced")

    @property
    def steps(self) -> int:
        return self.bars * self.slot

    @classmethod
    def size_names(cls) -> set[str]:
        """The settings a preset or ``--set`` chooses (not the geometry)."""
        return {f.name for f in fields(cls)} - set(GEOMETRY)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class ImageConfig:
    """Sizes of an image autoencoder; presets in ``musicae.presets`` fill these."""

    arch: str = "conv"  # "dense", "conv" (stride-2 convs into a dense code) or "pool" (the
    # lesson's conv/max-pool stack whose code is the feature map itself)
    latent_dim: int = 16  # code size for "dense" and "conv"; derived from channels for "pool"
    hidden: tuple[int, ...] = (512, 256)  # dense layer widths ("dense")
    channels: tuple[int, ...] = (32, 64)  # conv widths, one per halving of the image
    variational: bool = True  # a VAE (Gaussian posterior) or a plain autoencoder
    corruption: str = "none"  # "none", "noise" (denoising) or "downscale" (super-resolution)
    noise_mean: float = 0.5  # Gaussian noise added to inputs for "noise" ...
    noise_std: float = 0.5  # ... then clipped to [0, 1]
    scale: int = 2  # downscaling factor for "downscale" (2, 4 or 7: it must divide 28)

    def __post_init__(self) -> None:
        """Reject sizes no model can be built from; they arrive from ``--set`` and config.json."""
        problems = []
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {', '.join(ARCHS)} (got {self.arch!r})")
        if self.corruption not in CORRUPTIONS:
            problems.append(f"corruption must be one of {', '.join(CORRUPTIONS)} "
                            f"(got {self.corruption!r})")
        if not _positive_int(self.latent_dim) or self.latent_dim > MAX_WIDTH:
            problems.append(f"latent_dim must be an integer in 1..{MAX_WIDTH} "
                            f"(got {self.latent_dim!r})")
        for name in ("hidden", "channels"):
            sizes = getattr(self, name)
            if (not isinstance(sizes, tuple) or len(sizes) > MAX_LAYERS
                    or not all(_positive_int(s) and s <= MAX_WIDTH for s in sizes)):
                problems.append(f"{name} must be a list of at most {MAX_LAYERS} integers in "
                                f"1..{MAX_WIDTH} (got {sizes!r})")
        if self.arch in ("conv", "pool") and not self.channels:
            problems.append("channels must name at least one convolution width")
        if self.scale not in (2, 4, 7):
            problems.append(f"scale must be 2, 4 or 7 (got {self.scale!r})")
        if self.arch == "pool" and self.variational:
            problems.append("the 'pool' architecture is a plain autoencoder (variational=false)")
        if problems:
            raise MusicaeError("bad image model settings: " + "; ".join(problems))


ARCHS = ("dense", "conv", "pool")
CORRUPTIONS = ("none", "noise", "downscale")
