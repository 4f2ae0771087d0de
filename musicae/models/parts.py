"""Swappable parts of a sequence VAE: output heads, encoders and decoders.

:class:`~musicae.models.sequence.SequenceVAE` composes one encoder and one
decoder (as MusicVAE's ``MusicVAE(encoder, decoder)``); the decoder owns an
output head, which turns hidden states into per-position categoricals and
tokens back into inputs. Geometry (heads, positions, classes) comes from the
representation, so no part knows which kind of music it models.

Shapes: B batch, T steps, P token positions per step, W one-hot width.
"""

from __future__ import annotations

import abc

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicae.configs import HEAD_NAMES, SequenceConfig
from musicae.errors import MusicaeError
from musicae.models.base import Posterior

Logits = tuple[Tensor, ...]  # one (..., positions, classes) tensor per head


class OutputHead(nn.Module, abc.ABC):
    """Hidden states ⇄ tokens: what a decoder predicts and how a token is fed back."""

    input_width: int  # W: width of one step's token encoding

    @abc.abstractmethod
    def one_hot(self, tokens: Tensor) -> Tensor:
        """Tokens (B, T, P) → step inputs (B, T, W)."""

    @abc.abstractmethod
    def logits(self, h: Tensor, tokens: Tensor | None = None) -> Logits:
        """Hidden states (B, T, size) → logits per head (B, T, positions, classes); heads
        that model positions jointly read the step's true tokens (B, T, P) (teacher forcing)."""

    @abc.abstractmethod
    def nll(self, logits: Logits, tokens: Tensor) -> Tensor:
        """Negative log-likelihood of tokens (B, T, P) in nats per step: (B, T)."""

    @abc.abstractmethod
    def correct(self, logits: Logits, tokens: Tensor) -> Tensor:
        """Whether the argmax gets every position of a step right: (B, T) bool."""

    @abc.abstractmethod
    def pick(self, logits: Logits, temperature: float) -> Tensor:
        """Tokens drawn from one step's logits (B, positions, classes): (B, P)."""

    def draw(self, h: Tensor, temperature: float) -> tuple[Tensor, Logits]:
        """One step's tokens (B, P) drawn from hidden states (B, size), and their logits."""
        logits = self.logits(h)
        return self.pick(logits, temperature), logits


class CategoricalHeads(OutputHead):
    """An independent categorical per token position, in heads of (positions, classes).

    A melody is one head ``(1, 90)``, a piano-roll ``(88, 3)``; several tracks
    are several heads side by side on the position axis.
    """

    def __init__(self, size: int, heads: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.heads = tuple(tuple(h) for h in heads)
        self.widths = [positions * classes for positions, classes in self.heads]
        self.input_width = sum(self.widths)
        self.out = nn.Linear(size, self.input_width)

    def _split(self, tokens: Tensor) -> tuple[Tensor, ...]:
        return tokens.split([positions for positions, _ in self.heads], dim=-1)

    def one_hot(self, tokens: Tensor) -> Tensor:
        parts = [F.one_hot(part, classes).flatten(-2).float()  # (B, T, positions * classes)
                 for part, (_, classes) in zip(self._split(tokens), self.heads, strict=True)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def logits(self, h: Tensor, tokens: Tensor | None = None) -> Logits:
        flat = self.out(h).split(self.widths, dim=-1)
        return tuple(part.unflatten(-1, head) for part, head in zip(flat, self.heads, strict=True))

    def nll(self, logits: Logits, tokens: Tensor) -> Tensor:
        total = 0.0
        for part, target in zip(logits, self._split(tokens), strict=True):
            ce = F.cross_entropy(part.flatten(0, -2), target.flatten(), reduction="none")
            total = total + ce.view(target.shape).sum(-1)  # (B, T): all positions of a step
        return total

    def correct(self, logits: Logits, tokens: Tensor) -> Tensor:
        hits = [(part.argmax(-1) == target).all(-1)
                for part, target in zip(logits, self._split(tokens), strict=True)]
        return torch.stack(hits).all(0)

    def pick(self, logits: Logits, temperature: float) -> Tensor:
        return torch.cat([_draw(part, temperature) for part in logits], dim=-1)


class AutoregressiveHead(CategoricalHeads):
    """One head of (positions, classes) whose positions are drawn in order, each
    conditioned on those before it (a NADE/MADE-style factorisation): position p's
    logits add a masked linear map of the one-hot states of positions 0..p-1 to the
    hidden state's. For a piano-roll, low pitches first: the chord is chosen as a whole
    rather than pitch by pitch independently."""

    def __init__(self, size: int, heads: tuple[tuple[int, int], ...]) -> None:
        super().__init__(size, heads)
        if len(self.heads) != 1:
            raise ValueError("an autoregressive head models one (positions, classes) head")
        positions, classes = self.heads[0]
        self.within = nn.Linear(self.input_width, self.input_width, bias=False)
        nn.init.zeros_(self.within.weight)
        earlier = torch.arange(positions)[:, None] > torch.arange(positions)[None, :]
        mask = earlier.repeat_interleave(classes, 0).repeat_interleave(classes, 1)
        self.register_buffer("mask", mask.float(), persistent=False)  # (W out, W in)

    def logits(self, h: Tensor, tokens: Tensor | None = None) -> Logits:
        base = self.out(h)  # (..., W)
        if tokens is not None:
            base = base + F.linear(self.one_hot(tokens), self.within.weight * self.mask)
        return (base.unflatten(-1, self.heads[0]),)

    def draw(self, h: Tensor, temperature: float) -> tuple[Tensor, Logits]:
        positions, classes = self.heads[0]
        base = self.out(h).split(classes, dim=-1)  # positions x (B, classes)
        weight = (self.within.weight * self.mask).split(classes, dim=0)  # rows per position
        hot = h.new_zeros(len(h), self.input_width)  # one-hot of the positions drawn so far
        tokens, logits = [], []
        for p in range(positions):
            logits_p = base[p] + hot @ weight[p].T  # (B, classes)
            token = _draw(logits_p, temperature)
            hot = hot + F.pad(F.one_hot(token, classes).to(hot.dtype),
                              (p * classes, (positions - p - 1) * classes))
            tokens.append(token)
            logits.append(logits_p)
        return torch.stack(tokens, -1), (torch.stack(logits, -2),)


HEADS = dict(zip(HEAD_NAMES, (CategoricalHeads, AutoregressiveHead), strict=True))


def _draw(logits: Tensor, temperature: float) -> Tensor:
    """Argmax (temperature 0) or a draw from softmax(logits / temperature): (..., C) → (...)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1)
    return flat.view(probs.shape[:-1])


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


# --- encoders ------------------------------------------------------------------


class SequenceEncoder(nn.Module, abc.ABC):
    """Step inputs (B, T, W) and the mask of real steps (B, T) → a posterior over codes."""

    @abc.abstractmethod
    def forward(self, inputs: Tensor, mask: Tensor) -> Posterior:
        """The posterior of each sequence: (B, latent)."""


def step_map(width: int, embed: int) -> tuple[nn.Module, int]:
    """What a step of ``width`` values passes through before an LSTM reads it, and the width
    the LSTM then reads: a linear map to ``embed`` values, or (0) nothing."""
    return (nn.Linear(width, embed), embed) if embed else (nn.Identity(), width)


def real_lengths(mask: Tensor) -> Tensor:
    """Real steps of each row of a mask (N, L) whose real steps come first: (N,) on the CPU,
    at least 1 (a row with none is read for one step)."""
    lengths = mask.sum(1)
    if not bool((mask == (torch.arange(mask.shape[1], device=mask.device) < lengths[:, None])
                 ).all()):
        raise MusicaeError("pack: a slot's real steps must come first (padding only after)")
    return lengths.clamp(min=1).cpu()


def causal_outputs(lstm: nn.LSTM, inputs: Tensor, state: tuple[Tensor, Tensor],
                   lengths: Tensor | None = None) -> Tensor:
    """A one-way LSTM's outputs over inputs (N, L, W) from ``state``: (N, L, size). With
    ``lengths``, each row is run over its first ``lengths`` steps only (its outputs after them
    are zero): rows sorted by length in a few groups, each cut to its longest row, so the
    fused kernel runs on little padding. A one-way LSTM's outputs at a step depend only on
    the steps before it, so those of real steps are the same as over the whole row."""
    if lengths is None:
        return lstm(inputs, state)[0]
    n, steps, _ = inputs.shape
    out = inputs.new_zeros(n, steps, lstm.hidden_size)
    for rows in torch.argsort(lengths).chunk(max(1, min(8, n // 16))):  # on the CPU
        longest = int(lengths[rows].max())
        rows = rows.to(inputs.device)
        part, _ = lstm(inputs[rows, :longest], (state[0][:, rows], state[1][:, rows]))
        out = out.index_copy(0, rows, F.pad(part, (0, 0, 0, steps - longest)))
    return out


class BiLSTMEncoder(SequenceEncoder):
    """MusicVAE's encoder: a bidirectional LSTM whose final states give mean and log-variance.
    It reads every step of the window; which are real is in its inputs (the real-step bit)."""

    def __init__(self, width: int, size: int, layers: int, latent_dim: int,
                 embed: int = 0) -> None:
        super().__init__()
        self.embed, width = step_map(width, embed)
        self.lstm = nn.LSTM(width, size, layers, batch_first=True, bidirectional=True)
        self.to_posterior = nn.Linear(2 * size, 2 * latent_dim)

    def forward(self, inputs: Tensor, mask: Tensor) -> Posterior:
        states = _final_states(self.lstm, self.embed(inputs))
        mean, logvar = self.to_posterior(states).chunk(2, dim=-1)
        return Posterior(mean, logvar)


class HierarchicalEncoder(SequenceEncoder):
    """MusicVAE's hierarchical encoder: a bidirectional LSTM reads each bar's steps (all bars
    at once, as one batch), a second reads the bars' final states; its final states give
    the posterior. No recurrence runs longer than a bar or the number of bars, so a 16-bar
    window is read in 16 + 16 steps instead of 256, and gradients reach every bar. Which
    steps are real is in its inputs, as for :class:`BiLSTMEncoder`; with ``pack`` a bar is
    read only up to its last real step."""

    def __init__(self, width: int, size: int, layers: int, latent_dim: int, bars: int,
                 embed: int = 0, pack: bool = False) -> None:
        super().__init__()
        self.bars, self.pack = bars, pack
        self.embed, width = step_map(width, embed)
        self.bar_lstm = (RealStepsBiLSTM(width, size, layers) if pack else
                         nn.LSTM(width, size, layers, batch_first=True, bidirectional=True))
        self.lstm = nn.LSTM(2 * size, size, layers, batch_first=True, bidirectional=True)
        self.to_posterior = nn.Linear(2 * size, 2 * latent_dim)

    def forward(self, inputs: Tensor, mask: Tensor) -> Posterior:
        n, steps, width = inputs.shape
        steps_in = self.embed(inputs.reshape(n * self.bars, -1, width))
        per_bar = (self.bar_lstm.final_states(steps_in,
                                              real_lengths(mask.reshape(n * self.bars, -1)))
                   if self.pack else _final_states(self.bar_lstm, steps_in))
        bars = per_bar.reshape(n, self.bars, -1)  # (B, bars, 2 * size)
        mean, logvar = self.to_posterior(_final_states(self.lstm, bars)).chunk(2, dim=-1)
        return Posterior(mean, logvar)


class StackedEncoder(SequenceEncoder):
    """A short model's encoder under a long one: a :class:`BiLSTMEncoder` reads each segment
    of ``segments`` (all at once, as one batch) and gives its posterior mean, the code a
    short model would give those bars; a bidirectional LSTM reads the segments' codes in
    order, and its final states give the posterior of the whole window."""

    def __init__(self, width: int, size: int, layers: int, latent_dim: int, segments: int,
                 segment_code: int, embed: int = 0) -> None:
        super().__init__()
        self.segments = segments
        self.segment = BiLSTMEncoder(width, size, layers, segment_code, embed)
        self.lstm = nn.LSTM(segment_code, size, layers, batch_first=True, bidirectional=True)
        self.to_posterior = nn.Linear(2 * size, 2 * latent_dim)

    def segment_posteriors(self, inputs: Tensor, mask: Tensor) -> Posterior:
        """What the short model makes of each segment: (B, segments, segment_code)."""
        n, steps, width = inputs.shape
        cut = n * self.segments
        short = self.segment(inputs.reshape(cut, -1, width), mask.reshape(cut, -1))
        return Posterior(short.mean.unflatten(0, (n, -1)), short.logvar.unflatten(0, (n, -1)))

    def over(self, codes: Tensor) -> Posterior:
        """The posterior of a window from its segments' codes (B, segments, segment_code)."""
        mean, logvar = self.to_posterior(_final_states(self.lstm, codes)).chunk(2, dim=-1)
        return Posterior(mean, logvar)

    def forward(self, inputs: Tensor, mask: Tensor) -> Posterior:
        return self.over(self.segment_posteriors(inputs, mask).mean)


class RealStepsBiLSTM(nn.Module):
    """A bidirectional LSTM that reads each row over its real steps only (the first
    ``lengths``), both ways, as two one-way LSTMs: the backward one reads each row reversed
    within its length, so both run on :func:`causal_outputs`'s fused groups."""

    def __init__(self, width: int, size: int, layers: int) -> None:
        super().__init__()
        self.forward_lstm = nn.LSTM(width, size, layers, batch_first=True)
        self.backward_lstm = nn.LSTM(width, size, layers, batch_first=True)

    def final_states(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Each row's last-layer states after its real steps, both ways: (N, 2 * size)."""
        n, steps, _ = inputs.shape
        last = (lengths - 1).to(inputs.device)
        t = torch.arange(steps, device=inputs.device)
        back = torch.where(t < last[:, None] + 1, last[:, None] - t, t)  # reversed within
        reversed_rows = inputs.gather(1, back[..., None].expand_as(inputs))
        ends = []
        for lstm, rows in ((self.forward_lstm, inputs), (self.backward_lstm, reversed_rows)):
            zeros = inputs.new_zeros(lstm.num_layers, n, lstm.hidden_size)
            out = causal_outputs(lstm, rows, (zeros, zeros), lengths)
            ends.append(out[torch.arange(n, device=inputs.device), last])
        return torch.cat(ends, dim=-1)


def _final_states(lstm: nn.LSTM, inputs: Tensor) -> Tensor:
    """The last layer's final states of a bidirectional LSTM, both directions: (B, 2 * size)."""
    _, (h, _) = lstm(inputs)  # h: (layers * 2, B, size)
    return torch.cat([h[-2], h[-1]], dim=-1)


# --- decoders ------------------------------------------------------------------


class SequenceDecoder(nn.Module, abc.ABC):
    """Codes → tokens, autoregressively; ``context`` (B, T, X) is what each step is told
    besides the previous token (whether it is real, the controls)."""

    head: OutputHead

    @abc.abstractmethod
    def teacher_forced(self, z: Tensor, tokens: Tensor, mask: Tensor, context: Tensor) -> Logits:
        """Logits for every step given the true previous tokens (B, T, P)."""

    @abc.abstractmethod
    def generate(self, z: Tensor, mask: Tensor, context: Tensor, temperature: float,
                 teacher: Tensor | None = None, teacher_prob: float = 0.0
                 ) -> tuple[Tensor, Logits]:
        """Tokens (B, T, P), zero off the mask, and the logits they were drawn from.

        With ``teacher`` given, each step's input is the true previous token
        with probability ``teacher_prob`` (scheduled sampling).
        """


class LSTMDecoder(SequenceDecoder):
    """An LSTM over segments of steps, each started (through its initial state) and
    conditioned (at every step) by one vector of :meth:`conditions`. With ``embed``, a step
    (previous token, context) is mapped to ``embed`` values and the segment's vector, mapped
    once, is added: the LSTM reads ``embed`` values a step, not the concatenation. With
    ``pack``, teacher forcing runs each segment only up to its last real step (the logits of
    real steps are the same)."""

    def __init__(self, head: OutputHead, context_width: int, cond_width: int, size: int,
                 layers: int, embed: int = 0, pack: bool = False,
                 word_dropout: float = 0.0) -> None:
        super().__init__()
        self.head, self.pack, self.word_dropout = head, pack, word_dropout
        self.init = LatentInit(cond_width, size, layers)
        self.embed, width = step_map(head.input_width + context_width, embed)
        self.cond_in = nn.Linear(cond_width, embed, bias=False) if embed else None
        self.lstm = nn.LSTM(width + (0 if embed else cond_width), size, layers,
                            batch_first=True)

    def _condition(self, cond: Tensor) -> Tensor:
        """Segments' vectors (..., C) as the LSTM's input takes them: mapped (embed), or as
        they are."""
        return cond if self.cond_in is None else self.cond_in(cond)

    def _inputs(self, steps: Tensor, condition: Tensor) -> Tensor:
        """What the LSTM reads: steps (N, L, W + X) of segments whose :meth:`_condition` is
        ``condition`` (N, C')."""
        if self.cond_in is not None:
            return self.embed(steps) + condition[:, None]
        return torch.cat([steps, condition[:, None].expand(-1, steps.shape[1], -1)], dim=-1)

    @abc.abstractmethod
    def conditions(self, z: Tensor) -> Tensor:
        """What conditions each segment: (B, segments, cond_width)."""

    def teacher_forced(self, z: Tensor, tokens: Tensor, mask: Tensor, context: Tensor) -> Logits:
        n, steps = mask.shape
        hot = self.head.one_hot(tokens) * mask[..., None]  # (B, T, W)
        prev = torch.cat([torch.zeros_like(hot[:, :1]), hot[:, :-1]], dim=1)
        if self.training and self.word_dropout:
            prev = prev * (torch.rand(n, steps, 1, device=prev.device) >= self.word_dropout)
        cond = self.conditions(z)  # (B, S, C)
        segments = cond.shape[1]
        seg_len = steps // segments
        steps_in = torch.cat([prev, context], dim=-1).reshape(n * segments, seg_len, -1)
        cond = cond.reshape(n * segments, -1)  # (B*S, C)
        lengths = real_lengths(mask.reshape(n * segments, seg_len)) if self.pack else None
        h = causal_outputs(self.lstm, self._inputs(steps_in, self._condition(cond)),
                           self.init(cond), lengths)  # (B*S, T/S, size)
        return self.head.logits(h.reshape(n, steps, -1), tokens)

    def generate(self, z: Tensor, mask: Tensor, context: Tensor, temperature: float,
                 teacher: Tensor | None = None, teacher_prob: float = 0.0
                 ) -> tuple[Tensor, Logits]:
        n, steps = mask.shape
        cond = self.conditions(z)  # (B, S, C)
        seg_len = steps // cond.shape[1]
        tokens, logits_all = [], []
        prev = z.new_zeros(n, self.head.input_width)
        condition = self._condition(cond)  # once per segment, not at every step
        for s in range(cond.shape[1]):
            state = self.init(cond[:, s])
            for t in range(s * seg_len, (s + 1) * seg_len):
                step_in = torch.cat([prev, context[:, t]], dim=-1)[:, None]
                h, state = self.lstm(self._inputs(step_in, condition[:, s]), state)
                token, logits = self.head.draw(h[:, 0], temperature)  # (B, P), per head
                if teacher is not None and teacher_prob > 0:
                    use_true = torch.rand(n, device=z.device) < teacher_prob
                    token = torch.where(use_true[:, None], teacher[:, t], token)
                token = token * mask[:, t, None]
                tokens.append(token)
                logits_all.append(logits)
                prev = self.head.one_hot(token[:, None])[:, 0] * mask[:, t, None]
        stacked = tuple(torch.stack(parts, dim=1) for parts in zip(*logits_all, strict=True))
        return torch.stack(tokens, dim=1), stacked


class FlatDecoder(LSTMDecoder):
    """One segment: the whole window decoded by one LSTM fed z at every step."""

    def __init__(self, head: OutputHead, context_width: int, latent_dim: int, size: int,
                 layers: int, embed: int = 0, word_dropout: float = 0.0) -> None:
        super().__init__(head, context_width, latent_dim, size, layers, embed,
                         word_dropout=word_dropout)

    def conditions(self, z: Tensor) -> Tensor:
        return z[:, None]


class HierarchicalDecoder(LSTMDecoder):
    """MusicVAE's hierarchical decoder: a conductor LSTM turns z into one embedding per bar,
    which starts and conditions that bar's decoding; with ``z_to_bars`` z is fed beside it."""

    def __init__(self, head: OutputHead, context_width: int, latent_dim: int, size: int,
                 layers: int, bars: int, conductor_size: int, conductor_layers: int,
                 z_to_bars: bool, embed: int = 0, pack: bool = False,
                 word_dropout: float = 0.0) -> None:
        cond_width = conductor_size + (latent_dim if z_to_bars else 0)
        super().__init__(head, context_width, cond_width, size, layers, embed, pack,
                         word_dropout)
        self.bars, self.z_to_bars = bars, z_to_bars
        self.conductor_init = LatentInit(latent_dim, conductor_size, conductor_layers)
        self.conductor = nn.LSTM(1, conductor_size, conductor_layers, batch_first=True)

    def conditions(self, z: Tensor) -> Tensor:
        zeros = z.new_zeros(len(z), self.bars, 1)
        bars, _ = self.conductor(zeros, self.conductor_init(z))  # (B, bars, conductor_size)
        if self.z_to_bars:
            bars = torch.cat([bars, z[:, None].expand(-1, self.bars, -1)], dim=-1)
        return bars


class StackedDecoder(SequenceDecoder):
    """A short model's decoder under a long one: a conductor LSTM turns z into one code per
    segment (of ``segment_bars`` bars), and a :class:`FlatDecoder` decodes every segment
    from its code, each from a fresh start, as a short model decodes its window. The
    segments are one batch, when generating too: 16 bars in 2-bar segments are 32
    sequential steps, not 256."""

    def __init__(self, head: OutputHead, context_width: int, latent_dim: int, size: int,
                 layers: int, segments: int, segment_code: int, conductor_size: int,
                 conductor_layers: int, embed: int = 0, word_dropout: float = 0.0) -> None:
        super().__init__()
        self.segments = segments
        self.segment = FlatDecoder(head, context_width, segment_code, size, layers, embed,
                                   word_dropout)
        self.conductor_init = LatentInit(latent_dim, conductor_size, conductor_layers)
        self.conductor = nn.LSTM(1, conductor_size, conductor_layers, batch_first=True)
        self.to_code = nn.Linear(conductor_size, segment_code)

    @property
    def head(self) -> OutputHead:  # the segment decoder's: one set of weights, one name
        return self.segment.head

    def codes(self, z: Tensor) -> Tensor:
        """One code per segment, flattened: (B * segments, segment_code)."""
        zeros = z.new_zeros(len(z), self.segments, 1)
        states, _ = self.conductor(zeros, self.conductor_init(z))  # (B, segments, size)
        return self.to_code(states).flatten(0, 1)

    def _cut(self, x: Tensor) -> Tensor:
        """(B, T, ...) → (B * segments, T / segments, ...)."""
        return x.reshape(len(x) * self.segments, x.shape[1] // self.segments, *x.shape[2:])

    def _join(self, x: Tensor) -> Tensor:
        return x.reshape(len(x) // self.segments, x.shape[1] * self.segments, *x.shape[2:])

    def teacher_forced(self, z: Tensor, tokens: Tensor, mask: Tensor, context: Tensor) -> Logits:
        logits = self.segment.teacher_forced(self.codes(z), self._cut(tokens), self._cut(mask),
                                             self._cut(context))
        return tuple(self._join(part) for part in logits)

    def generate(self, z: Tensor, mask: Tensor, context: Tensor, temperature: float,
                 teacher: Tensor | None = None, teacher_prob: float = 0.0
                 ) -> tuple[Tensor, Logits]:
        tokens, logits = self.segment.generate(
            self.codes(z), self._cut(mask), self._cut(context), temperature,
            None if teacher is None else self._cut(teacher), teacher_prob)
        return self._join(tokens), tuple(self._join(part) for part in logits)


def build_parts(cfg: SequenceConfig, context: int) -> tuple[SequenceEncoder, SequenceDecoder]:
    """The encoder and decoder a config names, for steps told ``context`` values besides
    their token (the real-step bit and the controls)."""
    head = HEADS[cfg.head](cfg.dec_size, cfg.heads)
    width = (head.input_width if cfg.encode_tokens else 0) + context
    segments = cfg.bars // cfg.segment_bars
    if cfg.encoder == "hierarchical":
        encoder: SequenceEncoder = HierarchicalEncoder(width, cfg.enc_size, cfg.enc_layers,
                                                       cfg.latent_dim, cfg.bars, cfg.embed,
                                                       cfg.pack)
    elif cfg.encoder == "stacked":
        encoder = StackedEncoder(width, cfg.enc_size, cfg.enc_layers, cfg.latent_dim, segments,
                                 cfg.segment_code, cfg.embed)
    else:
        encoder = BiLSTMEncoder(width, cfg.enc_size, cfg.enc_layers, cfg.latent_dim, cfg.embed)
    if cfg.decoder == "hierarchical":
        decoder: SequenceDecoder = HierarchicalDecoder(
            head, context, cfg.latent_dim, cfg.dec_size, cfg.dec_layers, cfg.bars,
            cfg.conductor_size, cfg.conductor_layers, cfg.z_to_bars, cfg.embed, cfg.pack,
            cfg.word_dropout)
    elif cfg.decoder == "stacked":
        decoder = StackedDecoder(head, context, cfg.latent_dim, cfg.dec_size, cfg.dec_layers,
                                 segments, cfg.segment_code, cfg.conductor_size,
                                 cfg.conductor_layers, cfg.embed, cfg.word_dropout)
    else:
        decoder = FlatDecoder(head, context, cfg.latent_dim, cfg.dec_size, cfg.dec_layers,
                              cfg.embed, cfg.word_dropout)
    return encoder, decoder
