"""Recurrent VAEs over token sequences, in the manner of MusicVAE.

A :class:`SequenceVAE` composes a bidirectional LSTM encoder with either a
flat autoregressive LSTM decoder or a hierarchical one (a "conductor" LSTM
that turns z into one embedding per bar, each of which starts and conditions
a bar-level decoder).

Inputs are integer tokens with ``PAD`` (-1) on steps that are not music (the
tail of a bar slot shorter than the slot; see musicae.representations):

- melody: (batch, steps) in 0..89, drums: (batch, steps) in 0..511 -- one
  categorical per step;
- pianoroll: (batch, steps, pitches) in {0 off, 1 onset, 2 hold} -- one
  3-way categorical per pitch and step; a pad step has PAD on every pitch.

Every step's input carries a "real step" bit, so the encoder need not spend
its code on the meter and the decoder knows where bars end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicae.models.base import Autoencoder, Posterior, kl_penalty
from musicae.representations.constants import PIANOROLL_STATES

PAD = -1  # token on steps that are not music (the unused tail of a bar slot)


@dataclass(frozen=True)
class SequenceConfig:
    """Sizes of a sequence VAE (defaults: MusicVAE's cat-mel_2bar_small)."""

    kind: str = "melody"  # "melody", "drums" (one categorical per step) or "pianoroll"
    depth: int = 90  # classes per step (melody 90, drums 512) or pitches (pianoroll)
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

    @property
    def steps(self) -> int:
        return self.bars * self.slot

    @property
    def step_width(self) -> int:
        """Width of one step's one-hot input."""
        return self.depth * PIANOROLL_STATES if self.kind == "pianoroll" else self.depth


def valid_mask(x: Tensor) -> Tensor:
    """True on real steps: (batch, steps)."""
    return (x[..., 0] if x.dim() == 3 else x) != PAD


def meter_mask(n: int, bars: int, slot: int, steps_per_bar: int, device=None) -> Tensor:
    """A mask for n windows in one meter: the first steps_per_bar of every slot are real."""
    bar = torch.arange(slot, device=device) < steps_per_bar  # (slot,)
    return bar.repeat(bars).expand(n, bars * slot)


class LatentInit(nn.Module):
    """Initial (h, c) states of a stacked LSTM from a code: Linear + tanh, as in MusicVAE."""

    def __init__(self, in_dim: int, size: int, layers: int) -> None:
        super().__init__()
        self.size, self.layers = size, layers
        self.proj = nn.Linear(in_dim, 2 * layers * size)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        s = torch.tanh(self.proj(z))  # (B, 2 * layers * size)
        h, c = s.view(-1, 2, self.layers, self.size).permute(1, 2, 0, 3)  # (layers, B, size) x2
        return h.contiguous(), c.contiguous()


class SequenceVAE(Autoencoder):
    """encode: tokens -> Posterior (batch, latent); decode: codes -> tokens."""

    def __init__(self, cfg: SequenceConfig) -> None:
        super().__init__(cfg.latent_dim, variational=True)
        self.cfg = cfg
        width = cfg.step_width + 1  # one-hot token + real-step bit
        self.encoder = nn.LSTM(width, cfg.enc_size, cfg.enc_layers, batch_first=True,
                               bidirectional=True)
        self.to_posterior = nn.Linear(2 * cfg.enc_size, 2 * cfg.latent_dim)
        cond = cfg.conductor_size or cfg.latent_dim  # what conditions the step decoder
        if cfg.conductor_size and cfg.z_to_bars:
            cond += cfg.latent_dim
        if cfg.conductor_size:
            self.conductor_init = LatentInit(cfg.latent_dim, cfg.conductor_size,
                                             cfg.conductor_layers)
            self.conductor = nn.LSTM(1, cfg.conductor_size, cfg.conductor_layers,
                                     batch_first=True)
        self.decoder_init = LatentInit(cond, cfg.dec_size, cfg.dec_layers)
        self.decoder = nn.LSTM(width + cond, cfg.dec_size, cfg.dec_layers, batch_first=True)
        self.out = nn.Linear(cfg.dec_size, cfg.step_width)

    # ----- inputs and outputs -------------------------------------------------------------

    def one_hot(self, x: Tensor) -> Tensor:
        """Tokens -> step inputs (batch, steps, step_width + 1); pad steps are all zero."""
        valid = valid_mask(x)
        classes = PIANOROLL_STATES if self.cfg.kind == "pianoroll" else self.cfg.depth
        hot = F.one_hot(x.clamp(min=0), classes).float()  # (B, T, [P,] classes)
        hot = hot.flatten(2) if self.cfg.kind == "pianoroll" else hot
        hot = hot * valid[..., None]
        return torch.cat([hot, valid[..., None].float()], dim=-1)

    def logits_view(self, h: Tensor) -> Tensor:
        """Decoder outputs -> logits: (B, T, depth) or (B, T, pitches, 3) for pianoroll."""
        logits = self.out(h)
        if self.cfg.kind == "pianoroll":
            return logits.view(*logits.shape[:-1], self.cfg.depth, PIANOROLL_STATES)
        return logits

    # ----- encoder ------------------------------------------------------------------------

    def encode(self, x: Tensor) -> Posterior:
        _, (h, _) = self.encoder(self.one_hot(x))  # h: (layers * 2, B, enc_size)
        final = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, both directions: (B, 2 * enc)
        mean, logvar = self.to_posterior(final).chunk(2, dim=-1)
        return Posterior(mean, logvar)

    # ----- decoder, teacher-forced --------------------------------------------------------

    def conditions(self, z: Tensor) -> Tensor:
        """What conditions each bar's decoding: z itself (flat) or conductor outputs.

        returns (B, segments, cond) where segments = bars (hierarchical) or 1 (flat).
        """
        if not self.cfg.conductor_size:
            return z[:, None]
        state = self.conductor_init(z)
        zeros = z.new_zeros(len(z), self.cfg.bars, 1)
        bars, _ = self.conductor(zeros, state)  # (B, bars, conductor_size)
        if self.cfg.z_to_bars:
            bars = torch.cat([bars, z[:, None].expand(-1, self.cfg.bars, -1)], dim=-1)
        return bars

    def teacher_forced_logits(self, x: Tensor, z: Tensor) -> Tensor:
        """Logits for every step given the true previous tokens: (B, T, ...)."""
        step_in = self.one_hot(x)  # (B, T, W+1)
        prev = torch.cat([torch.zeros_like(step_in[:, :1]), step_in[:, :-1]], dim=1)
        prev[..., -1] = step_in[..., -1]  # the real-step bit is that of the step being predicted
        cond = self.conditions(z)  # (B, S, C)
        segments = cond.shape[1]
        seg_len = x.shape[1] // segments
        prev = prev.reshape(len(x) * segments, seg_len, -1)  # (B*S, T/S, W+1)
        cond = cond.reshape(len(x) * segments, 1, -1)  # (B*S, 1, C)
        inputs = torch.cat([prev, cond.expand(-1, seg_len, -1)], dim=-1)
        h, _ = self.decoder(inputs, self.decoder_init(cond[:, 0]))  # (B*S, T/S, dec)
        return self.logits_view(h.reshape(len(x), x.shape[1], -1))

    # ----- decoder, free-running ----------------------------------------------------------

    def decode(self, z: Tensor, temperature: float = 1.0, mask: Tensor | None = None,
               **context) -> Tensor:
        """Generate tokens step by step from codes z: (B, latent) -> (B, T[, P]).

        temperature 0 takes the argmax; mask (B, T) says which steps are real
        (default: every step, i.e. 4/4); PAD is written on the others.
        """
        return self.generate(z, temperature, mask)[0]

    def generate(self, z: Tensor, temperature: float, mask: Tensor | None = None,
                 teacher: Tensor | None = None, teacher_prob: float = 0.0
                 ) -> tuple[Tensor, Tensor]:
        """Tokens and the logits they were drawn from, step by step.

        With ``teacher`` given, each step's input is the true previous token
        with probability ``teacher_prob`` (scheduled sampling).
        """
        n, cfg = len(z), self.cfg
        if mask is None:
            mask = torch.ones(n, cfg.steps, dtype=torch.bool, device=z.device)
        cond = self.conditions(z)  # (B, S, C)
        seg_len = cfg.steps // cond.shape[1]
        tokens, logits_all = [], []
        prev = torch.zeros(n, cfg.step_width, device=z.device)
        for s in range(cond.shape[1]):
            state = self.decoder_init(cond[:, s])
            for t in range(s * seg_len, (s + 1) * seg_len):
                step_in = torch.cat([prev, mask[:, t, None].float(), cond[:, s]], dim=-1)
                h, state = self.decoder(step_in[:, None], state)
                logits = self.logits_view(h[:, 0])
                token = _pick(logits, temperature)
                if teacher is not None and teacher_prob > 0:
                    use_true = torch.rand(n, device=z.device) < teacher_prob
                    use_true = use_true.view(-1, *([1] * (token.dim() - 1)))
                    token = torch.where(use_true, teacher[:, t], token)
                token = torch.where(_expand(mask[:, t], token), token, PAD)
                tokens.append(token)
                logits_all.append(logits)
                prev = self.one_hot(token[:, None])[:, 0, :-1]
        return torch.stack(tokens, dim=1), torch.stack(logits_all, dim=1)

    def decode_context(self, x: Tensor) -> dict:
        return {"mask": valid_mask(x)}

    # ----- objective ----------------------------------------------------------------------

    def loss(self, x: Tensor, beta: float = 1.0, free_bits: float = 0.0,
             step: int = 0) -> dict[str, Tensor]:
        """Cross-entropy summed over real steps (nats per window), KL, and accuracy.

        With ``sampling_rate`` set, training feeds the decoder its own samples
        on a growing share of steps (scheduled sampling; slower: a step loop).
        """
        posterior = self.encode(x)
        z = posterior.sample() if self.training else posterior.mean
        teacher_prob = inverse_sigmoid(step, self.cfg.sampling_rate) if self.training else 1.0
        if teacher_prob < 1.0:
            _, logits = self.generate(z, 1.0, valid_mask(x), teacher=x, teacher_prob=teacher_prob)
        else:
            logits = self.teacher_forced_logits(x, z)
        recon, accuracy = self.reconstruction(logits, x)
        kl, penalty = kl_penalty(posterior, beta, free_bits)
        return {"loss": recon + penalty, "recon": recon, "kl": kl, "elbo": -(recon + kl),
                "accuracy": accuracy}

    def reconstruction(self, logits: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """(nats per window, fraction of real steps predicted exactly by the argmax)."""
        valid = valid_mask(x)  # (B, T)
        ce = F.cross_entropy(logits.flatten(0, -2), x.clamp(min=0).flatten(), reduction="none")
        ce = ce.view(x.shape)
        if self.cfg.kind == "pianoroll":
            ce = ce.sum(-1)  # (B, T): all pitches of a step
        recon = (ce * valid).sum(1).mean()
        correct = logits.argmax(-1) == x
        if self.cfg.kind == "pianoroll":
            correct = correct.all(-1)
        accuracy = (correct & valid).sum() / valid.sum().clamp(min=1)
        return recon, accuracy.detach()


def _pick(logits: Tensor, temperature: float) -> Tensor:
    """Argmax (temperature 0) or a draw from softmax(logits / temperature)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1)
    return flat.view(probs.shape[:-1])


def _expand(mask: Tensor, like: Tensor) -> Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


@torch.no_grad()
def free_running_accuracy(model: SequenceVAE, x: Tensor) -> float:
    """Fraction of real steps that argmax decoding of the posterior mean gets right."""
    model.eval()
    y = model.reconstruct(x, temperature=0.0)
    valid = valid_mask(x)
    correct = (y == x).all(-1) if x.dim() == 3 else y == x
    return float((correct & valid).sum() / valid.sum().clamp(min=1))


@torch.no_grad()
def code_gain(model: SequenceVAE, x: Tensor) -> float:
    """Nats per window that each window's own code saves over another window's code,
    teacher-forced. Near 0: the decoder ignores z (posterior collapse)."""
    model.eval()
    z = model.encode(x).mean
    own, _ = model.reconstruction(model.teacher_forced_logits(x, z), x)
    other, _ = model.reconstruction(model.teacher_forced_logits(x, z.roll(1, 0)), x)
    return float(other - own)


def inverse_sigmoid(step: int, rate: float) -> float:
    """Scheduled sampling: probability of feeding the true token, k / (k + exp(step / k))."""
    if rate <= 0:
        return 1.0
    return rate / (rate + math.exp(min(step / rate, 80.0)))
