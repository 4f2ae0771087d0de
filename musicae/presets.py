"""Named presets: each name builds the same model (and says how to train it).

The registry maps a name to a :class:`Preset`, a frozen description; nothing
mutates it. A music preset names its representation, and the model's
geometry (output heads, controls, bars, slot) is derived from it, never
restated. ``build_model(name, overrides, representation)`` makes a fresh
model, with any size overridden by name (``{"latent_dim": 2}``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from musicae.configs import GEOMETRY, ImageConfig, SequenceConfig, TrainConfig
from musicae.errors import MusicaeError

if TYPE_CHECKING:
    from musicae.models.base import Autoencoder
from musicae.representations import (
    Drums,
    Groove,
    Melody,
    MelodyChords,
    Multitrack,
    Pianoroll,
    Representation,
    Trio,
    Voices,
)


@dataclass(frozen=True)
class Preset:
    """A named model recipe.

    domain: "image" or "music" (which inputs and outputs the model speaks).
    model_config: the model's config dataclass; ``factory`` builds from it.
    representation: music presets: how MIDI becomes windows (and the model's geometry).
    """

    name: str
    domain: str
    description: str
    model_config: object
    factory: Callable[[object], Autoencoder]
    train: TrainConfig = field(default_factory=TrainConfig)
    representation: Representation | None = None


def _image_model(cfg: ImageConfig) -> Autoencoder:
    from musicae.models.image import ImageAutoencoder  # torch: only when a model is built

    return ImageAutoencoder(cfg)


def _sequence_model(cfg: SequenceConfig) -> Autoencoder:
    from musicae.models.sequence import build_sequence_vae

    return build_sequence_vae(cfg)


def _image(name: str, description: str, steps: int = 3000, max_beta: float = 1.0,
           **cfg) -> Preset:
    train = TrainConfig(steps=steps, batch_size=64, lr=1e-3, lr_decay=0.9995, eval_every=500,
                        max_beta=max_beta)
    return Preset(name, "image", description, ImageConfig(**cfg), _image_model, train)


# chosen on validation digits carved from the train split (benchmarks/quality_generative.py
# --sweep): the most prior samples a classifier recognises, of weights 1, 3, 10 and 30
ADVERSARIAL_WEIGHT = 10.0

_PRESETS: list[Preset] = [
    _image("mnist_ae", "dense autoencoder, 32-d code", arch="dense", latent_dim=32,
           variational=False),
    _image("mnist_conv_ae", "the lesson's conv autoencoder: conv/max-pool, 4x4x8 code",
           arch="pool", channels=(16, 8, 8), variational=False),
    _image("mnist_denoise", "conv denoising autoencoder (input + N(0.5, 0.5) noise, clipped)",
           arch="pool", channels=(32, 32), variational=False, corruption="noise"),
    _image("mnist_superres", "conv super-resolution autoencoder (input downscaled 2x)",
           arch="pool", channels=(64, 32), variational=False, corruption="downscale", scale=2),
    _image("mnist_vae_2d", "dense VAE with a 2-D latent (for the latent-space pictures)",
           arch="dense", latent_dim=2, hidden=(512, 256), variational=True),
    _image("mnist_conv_vae", "conv VAE, 16-d latent (the lesson's assignment)",
           arch="conv", latent_dim=16, channels=(32, 64), variational=True),
    _image("mnist_aae", "adversarial conv autoencoder, 16-d codes pushed towards N(0, I) by "
           "a discriminator on the latent", arch="conv", latent_dim=16, channels=(32, 64),
           variational=False, adversarial=ADVERSARIAL_WEIGHT, steps=6000),
    # beta 2 pushes what the label already says out of the code, so that a code drawn from
    # the prior decodes to the digit asked for: 0.94 of samples drawn as asked after 6,000
    # steps, against 0.73 at beta 1 after 3,000 (benchmarks/quality_generative.py's
    # classifier, trained on the train split; README: "Image results")
    _image("mnist_cvae", "conditional conv VAE, 16-d latent: encoder and decoder see the "
           "digit's label", arch="conv", latent_dim=16, channels=(32, 64), variational=True,
           labels=10, steps=6000, max_beta=2.0),
]


def _music(name: str, description: str, representation: Representation, steps: int,
           batch_size: int = 128, free_bits: float = 0.0, lr: float = 1e-3,
           lr_decay: float = 0.9995, **sizes) -> Preset:
    """MusicVAE's recipe, with KL annealing sped up for short runs."""
    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, lr_decay=lr_decay,
                        min_lr=1e-5, max_beta=0.2, beta_rate=0.999, free_bits=free_bits,
                        eval_every=250, eval_batches=8)
    return Preset(name, "music", description, SequenceConfig(**sizes), _sequence_model,
                  train, representation)


# What the 16-bar pair shares, so that they differ only in the decoder. MusicVAE's
# widths (encoder 2x2048, decoders 1024 / 2048) are for GPUs; at an eighth of the
# encoder and a quarter of the decoders a hier step still takes ~0.6 s on one CPU
# core (README: "16-bar models"). --set restores any of them.
_MEL_16BAR = dict(representation=Melody(bars=16), steps=3000, batch_size=32, lr=2e-3,
                  lr_decay=0.9999, free_bits=256, enc_size=256, enc_layers=2, latent_dim=512,
                  dec_layers=2)

# Multitrack MusicVAE's shape (Simon et al. 2018) at CPU widths: the events of each track,
# then the tracks, are encoded hierarchically; a conductor makes one embedding per track
# slot, from which (and z) the track's program and events are decoded. Four track slots,
# not the representation's eight: every bundled bar has at most four instruments, and
# eight slots of 64 events cost 4.7 s a step of 32 on one thread against 1.7 s for four at
# these widths. Steps enter the LSTMs through a 128-wide map (embed), and the LSTMs run
# over each track's real events only (pack): a step of 32 costs 0.73 s on one thread,
# against 1.51 s with embed alone and 2.51 s with neither (benchmarks/bench_multitrack.py).
# Onsets and releases sit on the sixteenth/triplet lines (snap_onsets, snap_releases), so
# time shifts are the music's: performed drums and releases otherwise split a bar into odd
# shifts, and 28% of groove's drum tracks ran past 64 events; 96 events hold all but 0.6%
# of POP909's tracks and all of groove's. 256 free bits, as MusicVAE's multitrack models:
# with 64 the code's KL sat at that budget (44 nats) all through a run. Each change was
# kept on the valid split's note F1 (README: "Multitrack measures", rounds 1 to 5).
MULTITRACK_BAR = dict(track_slots=4, events=96, snap_releases=True, snap_onsets=True)
MULTITRACK_MODEL = dict(steps=12000, batch_size=32, lr=2e-3, lr_decay=0.9999, free_bits=256,
                        encoder="hierarchical", enc_size=128, latent_dim=256, dec_size=192,
                        dec_layers=2, conductor_size=128, conductor_layers=1, z_to_bars=True,
                        embed=128, pack=True)

_PRESETS += [
    # Tuned for 30 minutes on 2 CPU cores (pilot runs in README): small batches give
    # ~10 steps/s, and 64 free bits let z carry a 2-bar tune before beta bites.
    _music("mel_2bar_small", "2-bar melody VAE: BiLSTM 512 encoder, 256-d z, 2x256 decoder",
           Melody(bars=2), steps=20000, batch_size=64, lr=2e-3, lr_decay=0.9999,
           free_bits=64),
    _music("mel_2bar_big", "2-bar melody VAE: encoder 2048, 512-d z, 3x2048 decoder (GPU)",
           Melody(bars=2), steps=50000, batch_size=512, enc_size=2048, latent_dim=512,
           dec_size=2048, dec_layers=3),
    _music("mel_16bar_hier", "16-bar melody VAE: 2-layer BiLSTM encoder, conductor over bars",
           dec_size=256, conductor_size=256, conductor_layers=2, z_to_bars=True, **_MEL_16BAR),
    # 16 bars as eight 2-bar segments under mel_2bar_small's own encoder and decoder (the
    # same sizes, so a trained 2-bar model can be its lower level: --warm-start); the
    # conductor learns to make the code the 2-bar model gives each segment. 512 free bits:
    # eight 2-bar codes carry ~350 nats (44 each in folk_mel_2bar); with 256 the KL cost
    # held z to ~170 nats and valid accuracy stalled at 0.73 (README: "16-bar models").
    _music("mel_16bar_stacked", "16-bar melody VAE over eight 2-bar segments: a 2-bar "
           "model's encoder and decoder under a BiLSTM and a conductor over the segments",
           encoder="stacked", decoder="stacked", dec_size=256, conductor_size=512,
           conductor_layers=2, segment_bars=2, segment_code=256,
           **(_MEL_16BAR | {"enc_size": 512, "enc_layers": 1, "batch_size": 64,
                            "free_bits": 512})),
    _music("mel_16bar_flat", "16-bar melody VAE with a flat decoder (baseline for hier)",
           dec_size=512, **_MEL_16BAR),
    # Chosen on groove's valid split: MusicVAE's cat-drums_2bar_small widths (encoder 512,
    # 256-d z, batch 128, no free bits) reach 0.435 after 500 steps at 1.3 s a step on 2
    # cores; the chorale recipe below, 0.431 after 500 at 0.35 s (README: "Drums").
    _music("drums_2bar", "2-bar drum VAE: 9 drum classes as one 512-way categorical per step",
           Drums(bars=2), steps=20000, batch_size=64, lr=2e-3, lr_decay=0.9999,
           free_bits=64, enc_size=256, latent_dim=128, dec_size=256),
    # GrooVAE's humanize (Gillick et al. 2019; its beta and free bits): the encoder reads
    # the bare hits only, the decoder learns how they are played. A quarter of GrooVAE's
    # encoder and z and 3/4 of its decoder: the one-hot inputs (512 hit patterns, 306 token
    # classes) make every LSTM width dear; a step of 64 windows takes ~0.4 s on one CPU
    # thread beside a busy core, so 6,000 steps are about 45 minutes (README: "Groove").
    _music("groove_humanize_2bar", "2-bar groove VAE: learned velocity and micro-timing for "
           "the hits of a drum beat (GrooVAE's humanize)", Groove(bars=2), steps=6000,
           batch_size=64, free_bits=48, enc_size=128, latent_dim=64, dec_size=192),
    # The chorale models take the melody recipe (tuned on folk, above) at half its widths:
    # the chorales are 4,200 training windows, not 590,000. The piano-roll's output head
    # was chosen on the chorales' valid split (README: "Polyphony").
    _music("pianoroll_2bar", "2-bar polyphonic VAE: off/onset/hold per pitch 21-108",
           Pianoroll(bars=2), steps=20000, batch_size=64, lr=2e-3, lr_decay=0.9999,
           free_bits=64, enc_size=256, latent_dim=128, dec_size=256),
    _music("voices_2bar", "2-bar four-voice VAE (Soprano, Alto, Tenor, Bass): one melody "
           "head per voice", Voices(bars=2), steps=20000, batch_size=64, lr=2e-3,
           lr_decay=0.9999, free_bits=64, enc_size=256, latent_dim=128, dec_size=256),
    _music("mel_chords_2bar", "2-bar melody VAE conditioned on the chord of each half bar",
           MelodyChords(bars=2), steps=20000, batch_size=64, lr=2e-3, lr_decay=0.9999,
           free_bits=64, enc_size=256, latent_dim=128, dec_size=256),
    _music("trio_2bar", "2-bar trio VAE (MusicVAE's): melody, bass and drums, one head each",
           Trio(bars=2), steps=6000, batch_size=64, enc_size=512, latent_dim=256,
           dec_size=256),
    _music("multitrack_1bar", "1-bar multitrack VAE: up to 4 tracks (--set track_slots=8 "
           "for more) of any General MIDI instrument or drums, each as performance events "
           "(program, note-on/off, time shift, velocity)",
           Multitrack(**MULTITRACK_BAR), **MULTITRACK_MODEL),
    _music("multitrack_1bar_chords", "1-bar multitrack VAE conditioned on the bar's chord "
           "(48 triads and no chord, inferred from its pitched notes, or --chords)",
           Multitrack(chords=True, **MULTITRACK_BAR), **MULTITRACK_MODEL),
    _music("trio_16bar", "16-bar trio VAE: conductor over bars, a head per part",
           Trio(bars=16), steps=3000, batch_size=32, lr=2e-3, lr_decay=0.9999, free_bits=256,
           enc_size=256, enc_layers=2, latent_dim=512, dec_size=256, dec_layers=2,
           conductor_size=256, conductor_layers=2, z_to_bars=True),
]

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise MusicaeError(f"unknown preset {name!r}; known presets: {known}")
    return PRESETS[name]


def split_settings(name: str, settings: dict) -> tuple[dict, dict, dict]:
    """``--set`` values by owner: (representation settings, model sizes, training settings),
    each typed as its field is declared; an unknown name is a one-line error."""
    preset = get_preset(name)
    rep_type = type(preset.representation) if preset.representation is not None else None
    rep_names = rep_type.setting_names() if rep_type else set()
    model_names = {f.name for f in dataclasses.fields(preset.model_config)} - set(GEOMETRY)
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    owned: tuple[dict, dict, dict] = ({}, {}, {})
    for key, value in settings.items():
        for out, names, owner in ((owned[0], rep_names, rep_type),
                                  (owned[1], model_names, type(preset.model_config)),
                                  (owned[2], train_names, TrainConfig)):
            if key in names:
                out[key] = coerce_setting(owner, key, value)
                break
        else:
            raise MusicaeError(f"preset {name!r} has no setting {key!r}")
    return owned


def representation(name: str, settings: dict | None = None) -> Representation | None:
    """The preset's representation with ``settings`` (field name -> value) applied."""
    rep = get_preset(name).representation
    return dataclasses.replace(rep, **settings) if rep is not None and settings else rep


def prepare_representation(name: str, overrides: dict | None = None,
                           config: dict | None = None) -> Representation:
    """What ``musicae prepare --preset NAME`` makes windows of: the preset's representation
    with ``overrides`` (``--set``: representation settings only) and, under them, a
    training config file's representation settings (its other settings are ignored)."""
    spec = get_preset(name)
    if spec.representation is None:
        raise MusicaeError("prepare is for music presets; image data needs no preparing")
    from_file = split_settings(name, dict(config or {}))[0]
    rep_settings, sizes, settings = split_settings(name, dict(overrides or {}))
    if sizes or settings:
        raise MusicaeError(f"prepare takes representation settings; "
                           f"{', '.join(sorted(sizes | settings))} are not")
    return representation(name, from_file | rep_settings)


def model_config(name: str, overrides: dict | None = None,
                 rep: Representation | None = None):
    """The preset's model config with size ``overrides`` applied and, for music, its
    geometry taken from ``rep`` (default: the preset's representation)."""
    preset = get_preset(name)
    sizes = split_settings(name, dict(overrides or {}))
    if sizes[0] or sizes[2]:
        wrong = sorted(sizes[0] | sizes[2])
        raise MusicaeError(f"preset {name!r}: {', '.join(wrong)} are not model sizes")
    cfg = dataclasses.replace(preset.model_config, **sizes[1])
    rep = rep or preset.representation
    if rep is not None:
        cfg = dataclasses.replace(cfg, **rep.geometry())
    return cfg


def coerce_setting(owner: type, key: str, value):
    """``value`` as the declared type of field ``key`` of dataclass ``owner``, or a
    one-line error. Ints pass for floats, JSON lists for tuples, null for optionals."""
    hint = typing.get_type_hints(owner)[key]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, (list, tuple)) and all(_fits(item, v) for v in value):
            return tuple(item(v) for v in value)
        expected = f"a list of {item.__name__}, like [16, 32]"
    elif _fits(hint, value):
        if hint is float and not math.isfinite(value):
            raise MusicaeError(f"setting {key}={value}: expected a finite number")
        return hint(value)
    else:
        expected = hint.__name__
    raise MusicaeError(f"setting {key}={json.dumps(value)}: expected {expected}")


def _fits(kind: type, value) -> bool:
    if kind is float:
        return type(value) in (int, float)
    return type(value) is kind


def build_model(name: str, overrides: dict | None = None,
                rep: Representation | None = None) -> Autoencoder:
    """A fresh model of preset ``name`` (sizes overridden; geometry from ``rep``)."""
    return get_preset(name).factory(model_config(name, overrides, rep))
