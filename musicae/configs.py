"""The settings that describe a model and its training: plain dataclasses, no torch.

Presets are made of these, ``--set`` and config.json fill them, and they are
checked here (types, ranges, sizes a machine can hold) before anything is
built, so commands that only need a preset's settings (``musicae prepare``)
never load torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from musicae.defaults import MAX_BATCH, MAX_STEPS
from musicae.errors import MusicaeError

HEAD_NAMES = ("independent", "autoregressive")  # output factorisations (models.parts.HEADS)
ENCODER_NAMES = ("bilstm", "hierarchical", "stacked")  # models.parts.build_parts
DECODER_NAMES = ("flat", "hierarchical", "stacked")


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
    # modules whose weights stay fixed, comma-separated (e.g. a warm-started lower level:
    # "encoder.segment,decoder.segment"); "" trains every weight
    freeze: str = ""

    def __post_init__(self) -> None:
        """Every training setting is checked here, wherever it came from (a flag, ``--set``,
        a TOML file, a resumed run's config.json): one line naming the first that is bad."""
        for name, (low, high, kind) in TRAIN_LIMITS.items():
            value = getattr(self, name)
            if value is None and name == "minutes":
                continue
            ok = _number(value, kind) and low[0] <= value <= high[0]
            ok = ok and (value != low[0] or low[1]) and (value != high[0] or high[1])
            if not ok:
                expected = _describe(low, high, kind)
                raise MusicaeError(f"setting {name}={value!r}: expected {expected}")
        if not isinstance(self.bf16, bool):
            raise MusicaeError(f"setting bf16={self.bf16!r}: expected true or false")
        if not isinstance(self.freeze, str):
            raise MusicaeError(f"setting freeze={self.freeze!r}: expected module names "
                               f"separated by commas, e.g. encoder.segment,decoder.segment")
        if self.min_lr > self.lr:
            raise MusicaeError(f"setting min_lr={self.min_lr}: must not exceed lr={self.lr}")

    def lr_at(self, step: int) -> float:
        return (self.lr - self.min_lr) * self.lr_decay**step + self.min_lr


# name -> ((low, low included), (high, high included), int or float): what training can use.
# A learning rate above 10 or a KL weight above 10,000 trains to nonsense, a decay or beta
# rate of 1 or more never decays or anneals, a clip of 0 never moves: none is a setting.
TRAIN_LIMITS = {
    "steps": ((1, True), (MAX_STEPS, True), int),
    "batch_size": ((1, True), (MAX_BATCH, True), int),
    "lr": ((0.0, False), (10.0, True), float),
    "lr_decay": ((0.0, False), (1.0, True), float),
    "min_lr": ((0.0, True), (10.0, True), float),
    "grad_clip": ((0.0, False), (1e6, True), float),
    "max_beta": ((0.0, True), (1e4, True), float),
    "beta_rate": ((0.0, True), (1.0, False), float),
    "free_bits": ((0.0, True), (1e6, True), float),
    "eval_every": ((1, True), (MAX_STEPS, True), int),
    "eval_batches": ((1, True), (MAX_STEPS, True), int),
    "checkpoint_minutes": ((0.0, False), (1e6, True), float),
    "seed": ((0, True), (2**63 - 1, True), int),
    "minutes": ((0.0, False), (1e7, True), float),
}


def _number(value: object, kind: type) -> bool:
    """An int (not a bool), or for floats any finite int or float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if kind is int else math.isfinite(value)


def _describe(low: tuple, high: tuple, kind: type) -> str:
    what = "a whole number" if kind is int else "a finite number"
    return (f"{what} in {'[' if low[1] else '('}{low[0]:,}, {high[0]:,}{']' if high[1] else ')'}")


GEOMETRY = ("heads", "controls", "bars", "slot", "encode_tokens")  # the representation sets
SCHEDULES = ("code_steps",)  # model settings a resumed run may change: when a phase ends
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
    encoder: str = "bilstm"  # "bilstm" over all steps, or "hierarchical": over each bar's
    # steps, then over the bars (MusicVAE's HierarchicalLstmEncoder), or "stacked": a short
    # model's encoder over each segment of segment_bars bars, then a BiLSTM over its codes
    enc_size: int = 512  # bidirectional encoder LSTM width (each direction, each level)
    enc_layers: int = 1
    latent_dim: int = 256
    dec_size: int = 256  # (bar-level) decoder LSTM width
    dec_layers: int = 2
    decoder: str = ""  # "flat", or "hierarchical" (a conductor over bars); "" (files saved
    # before decoders were named): hierarchical exactly when conductor_size > 0
    conductor_size: int = 0  # the hierarchical decoder's conductor width: one step per bar
    conductor_layers: int = 2
    sampling_rate: float = 0.0  # scheduled sampling: inverse-sigmoid rate k (0 = off)
    # training only: each step's previous token is hidden from the decoder (its input left
    # zero) with this probability (Bowman et al. 2016's word dropout), so more of what a
    # step needs must come from z and less from the steps before it (0 = off)
    word_dropout: float = 0.0
    z_to_bars: bool = False  # hierarchical: z beside each bar's embedding in its decoder
    # stacked: a conductor makes one code of segment_code values per segment_bars bars, and a
    # short model's flat decoder (of these enc/dec sizes) decodes each segment from its code,
    # so a trained short model (train --warm-start) can be the lower level
    segment_bars: int = 2
    segment_code: int = 256
    # stacked, warm-started: the first code_steps training steps skip the decoder and fit
    # the conductor's codes to the short model's posterior of each segment (its mean, within
    # its spread): the levels above learn at a fifth of a step's cost; then tokens
    code_steps: int = 0
    head: str = "independent"  # output factorisation: "independent" or "autoregressive"
    # False: the encoder reads only the mask and controls, what decoding will be given (a
    # groove model is given the bare hits and learns how they are played)
    encode_tokens: bool = True
    # > 0: each LSTM reads its step through a linear map to this width (the decoder adds its
    # segment's code mapped once), not the wide one-hot step itself; the lower-rank input
    # costs a fraction of the arithmetic where a step is hundreds of classes wide (0: as
    # MusicVAE, and every model saved before this setting)
    embed: int = 0
    # True: each LSTM that reads a bar slot (a multitrack model's track) runs over its real
    # steps only, which must come first in the slot (an event track: its events, END, then
    # padding); the decoder's logits are unchanged, and the hierarchical encoder takes each
    # slot's final states at its last real step instead of after the padding. Where most of
    # a slot is padding (16 of 64 events in an average track) this skips most of the work
    pack: bool = False

    def __post_init__(self) -> None:
        if self.decoder == "":
            object.__setattr__(self, "decoder", "hierarchical" if self.conductor_size else "flat")
        for name, names in (("encoder", ENCODER_NAMES), ("decoder", DECODER_NAMES),
                            ("head", HEAD_NAMES)):
            if getattr(self, name) not in names:
                raise MusicaeError(f"bad sequence model setting {name}={getattr(self, name)!r}: "
                                   f"one of {', '.join(names)}")
        sizes = ("bars", "slot", "enc_size", "enc_layers", "latent_dim", "dec_size",
                 "dec_layers", "conductor_layers", "segment_bars", "segment_code")
        bad = [n for n in sizes if not _positive_int(getattr(self, n))]
        bad += [n for n in ("conductor_size", "code_steps", "embed")
                if not (_positive_int(getattr(self, n)) or getattr(self, n) == 0)]
        if bad:
            raise MusicaeError(f"bad sequence model settings: {', '.join(bad)} "
                               f"must be positive integers (conductor_size, code_steps "
                               f"and embed may be 0)")
        limits = {"enc_size": MAX_WIDTH, "latent_dim": MAX_WIDTH, "dec_size": MAX_WIDTH,
                  "conductor_size": MAX_WIDTH, "segment_code": MAX_WIDTH, "embed": MAX_WIDTH,
                  "enc_layers": MAX_LAYERS,
                  "dec_layers": MAX_LAYERS, "conductor_layers": MAX_LAYERS, "bars": MAX_BARS,
                  "slot": MAX_SLOT}
        over = [f"{n} <= {limit}" for n, limit in limits.items() if getattr(self, n) > limit]
        if over:
            raise MusicaeError(f"sequence model settings too large to build: need "
                               f"{', '.join(over)}")
        if self.decoder in ("hierarchical", "stacked") and not self.conductor_size:
            raise MusicaeError(f"decoder={self.decoder} needs a conductor: set conductor_size "
                               f"(256 in mel_16bar_hier)")
        stacked = "stacked" in (self.encoder, self.decoder)
        if self.code_steps and (self.encoder, self.decoder) != ("stacked", "stacked"):
            raise MusicaeError("code_steps fits a stacked decoder's codes to a stacked "
                               "encoder's: set encoder=stacked and decoder=stacked")
        if stacked and self.bars % self.segment_bars:
            raise MusicaeError(f"a stacked model cuts its {self.bars} bars into segments of "
                               f"segment_bars={self.segment_bars}: it must divide them")
        if not 0.0 <= self.word_dropout < 1.0:
            raise MusicaeError(f"bad sequence model setting word_dropout={self.word_dropout}: "
                               f"a probability, at least 0 and below 1")
        if self.pack and (self.encoder, self.decoder) != ("hierarchical", "hierarchical"):
            raise MusicaeError("pack reads each bar slot up to its last real step: it needs "
                               "encoder=hierarchical and decoder=hierarchical (each slot "
                               "read and written on its own)")
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
    labels: int = 0  # > 0: a conditional model; encoder and decoder see a one-hot label of
    # this many classes (the control LABEL; 10 for digits)
    adversarial: float = 0.0  # > 0: an adversarial autoencoder; the weight of the term that
    # makes codes look like N(0, I) to a discriminator on the latent
    disc_hidden: tuple[int, ...] = (256, 256)  # the latent discriminator's layer widths

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
        for name in ("hidden", "channels", "disc_hidden"):
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
        problems += self._conditional_and_adversarial_problems()
        if problems:
            raise MusicaeError("bad image model settings: " + "; ".join(problems))

    def _conditional_and_adversarial_problems(self) -> list[str]:
        problems = []
        if not (self.labels == 0 or _positive_int(self.labels) and 2 <= self.labels <= 1000):
            problems.append(f"labels must be 0 or an integer in 2..1000 (got {self.labels!r})")
        if self.labels and self.arch == "pool":
            problems.append("labels need a dense or conv model (the 'pool' code is a map)")
        if not (type(self.adversarial) in (int, float) and 0 <= self.adversarial <= 1e4):
            problems.append(f"adversarial must be a weight in 0..10000 (got "
                            f"{self.adversarial!r})")
        elif self.adversarial and (self.variational or self.arch == "pool"):
            problems.append("adversarial needs a plain dense or conv autoencoder "
                            "(variational=false)")
        return problems


ARCHS = ("dense", "conv", "pool")
CORRUPTIONS = ("none", "noise", "downscale")
