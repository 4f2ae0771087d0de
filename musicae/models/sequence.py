"""Recurrent VAEs over token sequences, in the manner of MusicVAE.

A :class:`SequenceVAE` composes a :class:`~musicae.models.parts.SequenceEncoder`
with a :class:`~musicae.models.parts.SequenceDecoder` (flat, or hierarchical
with a "conductor" over bars); :func:`build_sequence_vae` makes the pair a
:class:`SequenceConfig` describes. It reads a :class:`~musicae.batch.Batch`:
tokens (B, T, P) with a mask of real steps (the tail of a bar slot shorter
than the slot is not music) and named per-step controls. Every step's input
carries its "real step" bit and its controls, so the encoder need not spend
its code on the meter and the decoder knows where bars end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from musicae.batch import Batch
from musicae.configs import SequenceConfig
from musicae.defaults import (
    DECODE_TEMPERATURE,
    INTERPOLATION_METHOD,
    INTERPOLATION_SPACING,
    INTERPOLATION_STEPS,
)
from musicae.errors import MusicaeError
from musicae.models.base import Autoencoder, Posterior, kl_penalty
from musicae.models.parts import Logits, SequenceDecoder, SequenceEncoder, build_parts
from musicae.models.prior import control_keys


def build_sequence_vae(cfg: SequenceConfig) -> SequenceVAE:
    """The encoder and decoder ``cfg`` names, composed."""
    context = 1 + sum(classes for _, classes in cfg.controls)  # real-step bit + controls
    return SequenceVAE(*build_parts(cfg, context), cfg)


class SequenceVAE(Autoencoder):
    """encode: a batch of token sequences → Posterior (B, latent); decode: codes → tokens."""

    def __init__(self, encoder: SequenceEncoder, decoder: SequenceDecoder,
                 cfg: SequenceConfig) -> None:
        super().__init__(cfg.latent_dim, variational=True)
        self.cfg = cfg
        self.encoder = encoder
        self.decoder = decoder

    # ----- what each step is told besides its token --------------------------------------

    def context(self, mask: Tensor, controls: Mapping[str, Tensor]) -> Tensor:
        """The real-step bit and one-hot controls of every step: (B, T, 1 + sum classes)."""
        missing = [name for name, _ in self.cfg.controls if name not in controls]
        if missing:
            raise MusicaeError(f"this model is conditioned on {', '.join(missing)}; "
                               f"give {'them' if len(missing) > 1 else 'it'}")
        parts = [mask[..., None].float()]
        parts += [F.one_hot(controls[name], classes).float() for name, classes in self.cfg.controls]
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def prior_keys(self, mask: Tensor | None, controls: Mapping[str, Tensor]) -> Tensor | None:
        if not self.cfg.controls or any(name not in controls for name, _ in self.cfg.controls):
            return None  # decoding says what is missing
        mask = mask if mask is not None else self.full_mask(len(next(iter(controls.values()))))
        return control_keys([controls[name] for name, _ in self.cfg.controls],
                            [classes for _, classes in self.cfg.controls], mask)

    def full_mask(self, n: int) -> Tensor:
        """What decoding assumes where it is told no mask: every step real, (n, steps)."""
        return torch.ones(n, self.cfg.steps, dtype=torch.bool, device=self.device)

    # ----- the interface ------------------------------------------------------------------

    def encode(self, batch: Batch) -> Posterior:
        """The posterior of each window from its tokens, mask and controls; from its mask
        and controls alone where ``cfg.encode_tokens`` is False."""
        return self.encoder(self.encoder_inputs(batch), batch.mask)

    def encoder_inputs(self, batch: Batch) -> Tensor:
        """What the encoder reads of each step: its token (one-hot; unless
        ``cfg.encode_tokens`` is False), whether it is real, its controls: (B, T, W + X)."""
        context = self.context(batch.mask, batch.controls)  # (B, T, X)
        if not self.cfg.encode_tokens:
            return context
        hot = self.decoder.head.one_hot(batch.tokens) * batch.mask[..., None]  # (B, T, W)
        return torch.cat([hot, context], dim=-1)

    def _decode(self, z: Tensor, temperature: float, mask: Tensor | None,
                controls: Mapping[str, Tensor]) -> Batch:
        """Generate tokens step by step from codes z: (B, latent) → Batch of (B, T, P).

        temperature 0 takes the argmax; mask (B, T) says which steps are real
        (default: every step, i.e. 4/4); tokens are 0 on the others.
        """
        mask = self.full_mask(len(z)).to(z.device) if mask is None else mask
        tokens, _ = self.decoder.generate(z, mask, self.context(mask, controls), temperature)
        return Batch(tokens, mask, controls)

    def teacher_forced_logits(self, batch: Batch, z: Tensor) -> Logits:
        """Logits for every step given the true previous tokens."""
        context = self.context(batch.mask, batch.controls)
        return self.decoder.teacher_forced(z, batch.tokens, batch.mask, context)

    def loss(self, batch: Batch, beta: float = 1.0, free_bits: float = 0.0,
             step: int = 0) -> dict[str, Tensor]:
        """Cross-entropy summed over real steps (nats per window), KL, and accuracy.

        With ``sampling_rate`` set, training feeds the decoder its own samples
        on a growing share of steps (scheduled sampling; slower: a step loop).
        """
        if self.training and step < self.cfg.code_steps:
            return self.code_loss(batch, beta, free_bits)
        posterior = self.encode(batch)
        z = posterior.sample() if self.training else posterior.mean
        teacher_prob = inverse_sigmoid(step, self.cfg.sampling_rate) if self.training else 1.0
        if teacher_prob < 1.0:
            context = self.context(batch.mask, batch.controls)
            _, logits = self.decoder.generate(z, batch.mask, context, 1.0, teacher=batch.tokens,
                                              teacher_prob=teacher_prob)
        else:
            logits = self.teacher_forced_logits(batch, z)
        recon, accuracy = self.reconstruction(logits, batch)
        kl, penalty = kl_penalty(posterior, beta, free_bits)
        return {"loss": recon + penalty, "recon": recon, "kl": kl, "elbo": -(recon + kl),
                "accuracy": accuracy}

    def code_loss(self, batch: Batch, beta: float, free_bits: float) -> dict[str, Tensor]:
        """A stacked model's loss without its decoder: the conductor's code of each segment
        scored against the short model's code of that segment (its posterior mean) under a
        unit Gaussian (half the squared distance, summed over segments), and the KL of z.
        This fits the levels above the short model at the cost of encoding alone. (Scored
        within the short posterior's spread instead, the few dims it is sure of swamp the
        rest: 0.722 of valid steps right after 250 steps, against 0.80 after 500 here.)"""
        short = self.encoder.segment_posteriors(self.encoder_inputs(batch), batch.mask)
        target = short.mean.detach()
        posterior = self.encoder.over(target)
        codes = self.decoder.codes(posterior.sample()).view_as(target)
        recon = (0.5 * (codes - target) ** 2).sum((1, 2)).mean()
        kl, penalty = kl_penalty(posterior, beta, free_bits)
        return {"loss": recon + penalty, "code_recon": recon, "kl": kl}

    def distances_from_start(self, path: Batch) -> Tensor:
        return hamming_from_start(path)

    def reconstruction(self, logits: Logits, batch: Batch) -> tuple[Tensor, Tensor]:
        """(nats per window, fraction of real steps predicted exactly by the argmax)."""
        mask = batch.mask  # (B, T)
        recon = (self.decoder.head.nll(logits, batch.tokens) * mask).sum(1).mean()
        correct = self.decoder.head.correct(logits, batch.tokens) & mask
        accuracy = correct.sum() / mask.sum().clamp(min=1)
        return recon, accuracy.detach()


STACKED_LOWER = "encoder.segment,decoder.segment"  # a stacked model's short-model level
# what a short model must share with a stacked one for its weights to be the lower level
_SHORT_MODEL_SIZES = ("heads", "controls", "slot", "encode_tokens", "head", "enc_size",
                      "enc_layers", "dec_size", "dec_layers", "embed")


def warm_start(model: SequenceVAE, short: object, name: str) -> None:
    """Make a trained short model's encoder and decoder (``short``, from ``name``) the
    lower level of a stacked ``model``: the code it gives each segment is the code the
    stacked model's conductor learns to make."""
    cfg = getattr(model, "cfg", None)
    if not isinstance(model, SequenceVAE) or (cfg.encoder, cfg.decoder) != ("stacked", "stacked"):
        raise MusicaeError(f"--warm-start {name}: only a stacked model (encoder=stacked, "
                           f"decoder=stacked, as in mel_16bar_stacked) has a lower level")
    if not isinstance(short, SequenceVAE) or (short.cfg.encoder, short.cfg.decoder) != (
            "bilstm", "flat"):
        raise MusicaeError(f"--warm-start {name}: not a short sequence model (a BiLSTM "
                           f"encoder and a flat decoder, as in mel_2bar_small)")
    want = {"bars": cfg.segment_bars, "latent_dim": cfg.segment_code}
    want |= {k: getattr(cfg, k) for k in _SHORT_MODEL_SIZES}
    for key, value in want.items():
        if getattr(short.cfg, key) != value:
            raise MusicaeError(f"--warm-start {name}: its {key} is {getattr(short.cfg, key)!r}; "
                               f"the stacked model's lower level needs {value!r}")
    model.encoder.segment.load_state_dict(short.encoder.state_dict())
    model.decoder.segment.load_state_dict(short.decoder.state_dict())


@torch.no_grad()
def free_running_accuracy(model: SequenceVAE, batch: Batch) -> float:
    """Fraction of real steps that argmax decoding of the posterior mean gets right."""
    model.eval()
    return steps_right(model.reconstruct(batch, temperature=0.0), batch)


def steps_right(decoded: Batch, batch: Batch) -> float:
    """Fraction of ``batch``'s real steps whose every token ``decoded`` has right."""
    correct = (decoded.tokens == batch.tokens).all(-1) & batch.mask
    return float(correct.sum() / batch.mask.sum().clamp(min=1))


@torch.no_grad()
def code_gain(model: SequenceVAE, batch: Batch) -> float:
    """Nats per window that each window's own code saves over another window's code,
    teacher-forced. Near 0: the decoder ignores z (posterior collapse)."""
    model.eval()
    z = model.encode(batch).mean
    own, _ = model.reconstruction(model.teacher_forced_logits(batch, z), batch)
    other, _ = model.reconstruction(model.teacher_forced_logits(batch, z.roll(1, 0)), batch)
    return float(other - own)


@torch.no_grad()
def control_gain(model: SequenceVAE, batch: Batch, name: str) -> float:
    """Nats per window that each window's own control ``name`` (its chords) saves over
    another window's, teacher-forced with the window's own code. Near 0: the decoder
    ignores the control."""
    model.eval()
    z = model.encode(batch).mean
    own, _ = model.reconstruction(model.teacher_forced_logits(batch, z), batch)
    swapped = Batch(batch.tokens, batch.mask,
                    dict(batch.controls) | {name: batch.controls[name].roll(1, 0)})
    other, _ = model.reconstruction(model.teacher_forced_logits(swapped, z), batch)
    return float(other - own)


def hamming_from_start(path: Batch) -> Tensor:
    """How many steps of each point of an interpolation path differ from its first point (A
    decoded), counted on A's real steps: tokens (points, T, P) → (points,)."""
    return ((path.tokens != path.tokens[:1]).any(-1) & path.mask[:1]).sum(1)


def rises_steadily(distances: Tensor) -> bool:
    """Whether distances from A (points,) never fall along a path: non-decreasing."""
    return bool((distances[1:] >= distances[:-1]).all())


@torch.no_grad()
def monotone_share(model: SequenceVAE, pairs: list[tuple[Batch, Batch]],
                   steps: int = INTERPOLATION_STEPS, method: str = INTERPOLATION_METHOD,
                   temperature: float = DECODE_TEMPERATURE,
                   spacing: str = INTERPOLATION_SPACING) -> float:
    """Share of pairs (A, B) (batches of 1) whose interpolation path, decoded in A's layout,
    moves steadily away from A: no point is nearer to A than the one before it."""
    model.eval()
    return float(np.mean([
        rises_steadily(hamming_from_start(model.interpolate(a, b, steps, method, temperature,
                                                            spacing=spacing)))
        for a, b in pairs]))


def inverse_sigmoid(step: int, rate: float) -> float:
    """Scheduled sampling: probability of feeding the true token, k / (k + exp(step / k))."""
    if rate <= 0:
        return 1.0
    return rate / (rate + math.exp(min(step / rate, 80.0)))
