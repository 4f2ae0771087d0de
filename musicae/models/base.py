"""The one autoencoder interface, and everything written once on top of it.

Every model, image or music, is an :class:`Autoencoder`: it maps an input
:class:`~musicae.batch.Batch` to a :class:`Posterior` over latent codes
(``encode``) and latent codes back to a batch of inputs (``decode``).
Reconstruction, sampling and interpolation are defined here once, from those
two methods alone.

Loss terms are in nats per example: the reconstruction term is summed over
pixels or time steps of one example, the KL term over latent dimensions, and
both are then averaged over the batch.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from musicae.batch import Batch
from musicae.defaults import (
    DECODE_TEMPERATURE,
    INTERPOLATION_METHOD,
    INTERPOLATION_SPACING,
    INTERPOLATION_STEPS,
    PRIOR_COMPONENTS,
    PRIOR_COVARIANCE,
    PRIOR_NEAREST,
    SAMPLE_TEMPERATURE,
)
from musicae.errors import MusicaeError
from musicae.models.prior import FittedPrior, fit_prior

PRIORS = ("fitted", "standard")  # what `sample --prior` draws codes from


@dataclass
class Posterior:
    """A diagonal Gaussian over codes; ``logvar`` is None for a plain autoencoder.

    mean, logvar: (batch, latent)
    """

    mean: Tensor
    logvar: Tensor | None = None

    def sample(self) -> Tensor:
        """A reparameterised draw (the mean itself when there is no variance)."""
        if self.logvar is None:
            return self.mean
        return self.mean + torch.randn_like(self.mean) * torch.exp(0.5 * self.logvar)

    def kl(self) -> Tensor:
        """KL(q(z|x) || N(0, I)) per example and latent dimension, in nats: (batch, latent)."""
        if self.logvar is None:
            return torch.zeros_like(self.mean)
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)


def kl_penalty(posterior: Posterior, beta: float, free_bits: float) -> tuple[Tensor, Tensor]:
    """The KL term of the objective: the one home of beta and free bits.

    As in MusicVAE, the first ``free_bits`` bits of KL per example cost nothing,
    so the encoder can carry that much information before it is penalised.
    Returns ``(kl, penalty)``: the mean KL per example in nats, and ``beta``
    times the part of it above the free budget, averaged over the batch.
    """
    kl = posterior.kl().sum(dim=-1)  # (batch,)
    free_nats = free_bits * math.log(2.0)
    penalty = beta * torch.clamp(kl - free_nats, min=0.0).mean()
    return kl.mean(), penalty


def beta_schedule(step: int, max_beta: float, rate: float) -> float:
    """MusicVAE's KL annealing: beta rises as ``(1 - rate**step) * max_beta``.

    ``rate = 0`` means no annealing (``max_beta`` from the first step).
    """
    return (1.0 - rate**step) * max_beta


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (latent, ) at fractions t (steps,).

    Falls back to a straight line where the two codes are (anti)parallel.
    """
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos(torch.clamp((a_n * b_n).sum(), -1.0, 1.0))
    if omega.abs() < 1e-4 or (math.pi - omega.abs()) < 1e-4:
        return lerp(a, b, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight-line interpolation: (steps, latent)."""
    t = t[:, None]
    return (1 - t) * a + t * b


INTERPOLATIONS = {"slerp": slerp, "lerp": lerp}


def path_codes(za: Tensor, zb: Tensor, steps: int = INTERPOLATION_STEPS,
               method: str = INTERPOLATION_METHOD) -> Tensor:
    """``steps`` codes (steps, latent) on the path from za to zb (latent,), both included."""
    if steps < 2:
        raise MusicaeError(f"--steps must be at least 2 (got {steps})")
    if method not in INTERPOLATIONS:
        raise MusicaeError(f"unknown interpolation method {method!r}; use slerp or lerp")
    return INTERPOLATIONS[method](za, zb, torch.linspace(0.0, 1.0, steps, device=za.device))


SPACINGS = ("even", "uniform")  # how interpolate places its points on the path
EVEN_DENSITY = 4  # "even" spacing decodes this many points per gap of the path shown
EVEN_MAX_STEPS = 64  # paths of more points are spaced uniformly (0.1 s of picking at 100)


def check_spacing(spacing: str) -> None:
    if spacing not in SPACINGS:
        raise MusicaeError(f"unknown spacing {spacing!r}; use {' or '.join(SPACINGS)}")


def even_picks(distances: Tensor, t: Tensor, steps: int, to_end: Tensor | None = None
               ) -> list[int]:
    """Indices of ``steps`` of a path's points (distances from the first (n,), at fractions
    t (n,)), in order, the first and last included, whose distances rise as evenly as they
    can: each pick is as near as it can be to its share of the last point's distance, a
    fall from the pick before (or a rise of the distances ``to_end``, the last point,
    where given) costs more than any such miss, and nearness in t breaks ties (a path that
    does not change is spaced uniformly). Dynamic programming over (pick, point): n² ×
    steps, nothing beside decoding."""
    d, t = distances.double().cpu(), t.double().cpu()
    n, span = len(d), max(float(d[-1]), 1.0)
    share = torch.linspace(0.0, 1.0, steps, dtype=torch.double)
    miss = ((d[None, :] - share[:, None] * d[-1]) / span) ** 2  # [k, i]: point i as pick k
    miss = miss + 1e-3 * (t[None, :] - share[:, None]) ** 2
    fall = (d[None, :] < d[:, None]).double()  # [j, i]: from point j to i
    if to_end is not None:
        e = to_end.double().cpu()
        fall = fall + (e[None, :] > e[:, None]).double()
    fall = fall * 4.0 * steps
    later = torch.arange(n)[None, :] > torch.arange(n)[:, None]  # [j, i]: i after j
    cost = torch.full((n,), math.inf, dtype=torch.double)
    cost[0] = 0.0
    back = []
    for k in range(1, steps):
        options = torch.where(later, cost[:, None] + fall, math.inf)  # [j, i]
        best, arg = options.min(0)
        cost = best + miss[k]
        back.append(arg)
    picks = [n - 1]
    for arg in reversed(back):
        picks.append(int(arg[picks[-1]]))
    return picks[::-1]


def blend(a: Batch, b: Batch, t: Tensor) -> Batch:
    """a's layout at each fraction t (steps,) of a path from a to b (batches of 1): float
    controls (a digit's one-hot label) move from a's to b's; discrete ones (chords per
    step) stay a's."""
    like = a.repeat(len(t))
    controls = {name: lerp(value[0], b.controls[name][0].to(value.dtype), t)
                if value.is_floating_point() and name in b.controls else value
                for name, value in like.controls.items()}
    return replace(like, controls=controls)


class Autoencoder(nn.Module, abc.ABC):
    """Base of every musicae model.

    Subclasses pass ``latent_dim`` and ``variational`` up and implement
    ``encode``, ``decode`` and ``loss``, each on a :class:`~musicae.batch.Batch`.
    ``decode`` takes the layout of what it writes (``mask``: which steps are
    real; ``controls``: what conditions it) from a batch; models without steps
    ignore them. ``forward`` is ``loss``, so DistributedDataParallel wraps any model.
    """

    def __init__(self, latent_dim: int, variational: bool,
                 standard_prior: bool | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.variational = variational
        # Whether N(0, I) is a prior of this model: VAEs, and models trained towards it (the
        # adversarial autoencoder); a plain autoencoder samples only from a fitted prior.
        self.standard_prior = variational if standard_prior is None else standard_prior
        # Mixtures fitted to the codes of training examples (see fit_prior), saved with the
        # weights; sample draws from them where they are set.
        self.fitted_prior: FittedPrior | None = None

    @abc.abstractmethod
    def encode(self, batch: Batch) -> Posterior:
        """Posterior over codes for a batch of inputs."""

    @abc.abstractmethod
    def _decode(self, z: Tensor, temperature: float, mask: Tensor | None,
                controls: Mapping[str, Tensor]) -> Batch:
        """Inputs for a batch of codes z: (batch, latent), laid out by ``mask``/``controls``."""

    def decode(self, z: Tensor, temperature: float = DECODE_TEMPERATURE,
               mask: Tensor | None = None, controls: Mapping[str, Tensor] | None = None,
               lengths: Tensor | None = None, meter: Tensor | None = None) -> Batch:
        """Inputs for a batch of codes z: (batch, latent), laid out by ``mask`` and
        ``controls`` and carrying the windows' ``lengths`` and ``meter`` (music)."""
        made = self._decode(z, temperature, mask, dict(controls or {}))
        return replace(made, lengths=lengths, meter=meter)

    @abc.abstractmethod
    def loss(self, batch: Batch, beta: float = 1.0, free_bits: float = 0.0,
             step: int = 0) -> dict[str, Tensor]:
        """Named loss terms in nats per example: ``loss`` (to minimise), ``recon``, ``kl``, ....

        ``step`` is the training step, for models with schedules of their own.
        """

    def forward(self, batch: Batch, beta: float = 1.0, free_bits: float = 0.0,
                step: int = 0) -> dict[str, Tensor]:
        """The loss terms (what a training step, or DDP, calls)."""
        return self.loss(batch, beta=beta, free_bits=free_bits, step=step)

    def corrupted(self, batch: Batch) -> Batch | None:
        """What the model sees of a clean input, where it corrupts inputs
        (denoising, super-resolution); None for models that do not."""
        return None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def decode_like(self, z: Tensor, like: Batch, temperature: float = DECODE_TEMPERATURE
                    ) -> Batch:
        """Decode codes into the layout of ``like`` (its mask and controls; one example
        of ``like`` serves every code)."""
        if len(like) == 1 and len(z) != 1:
            like = like.repeat(len(z))
        return self.decode(z, temperature, like.mask, like.controls, like.lengths, like.meter)

    @torch.no_grad()
    def reconstruct(self, batch: Batch, temperature: float = DECODE_TEMPERATURE,
                    shift: Tensor | None = None, corrupt: bool = True,
                    like: Batch | None = None) -> Batch:
        """Decode the posterior mean of each input, moved by ``shift`` (latent,) where given,
        in the layout of ``like`` (default: the input's own; other chords, say).

        Models that corrupt inputs encode the corrupted version unless ``corrupt``
        is False (inputs that are already degraded).
        """
        source = self.corrupted(batch) if corrupt else None
        z = self.encode(batch if source is None else source).mean
        like = like if like is not None else batch
        return self.decode_like(z if shift is None else z + shift, like, temperature)

    def full_mask(self, n: int) -> Tensor | None:
        """The mask ``decode`` assumes where it is given none (None: models without steps)."""
        return None

    def prior_name(self, prior: str | None = None) -> str:
        """The prior ``sample`` draws from: ``prior`` ("fitted" or "standard", checked),
        or by default the fitted one where the model has one, else N(0, I)."""
        if prior is None:
            return "fitted" if self.fitted_prior is not None else "standard"
        if prior not in PRIORS:
            raise MusicaeError(f"unknown prior {prior!r}; use {' or '.join(PRIORS)}")
        if prior == "fitted" and self.fitted_prior is None:
            raise MusicaeError("this model has no fitted prior; make a copy with one with "
                               "`musicae fit-prior MODEL DATA -o OUT`")
        return prior

    @torch.no_grad()
    def prior_sample(self, n: int, generator: torch.Generator | None = None,
                     prior: str | None = None, mask: Tensor | None = None,
                     controls: Mapping[str, Tensor] | None = None) -> Tensor:
        """n codes (n, latent) from ``prior`` (see :meth:`prior_name`); the fitted prior
        draws each given the ``controls`` it will be decoded under where it holds codes
        given controls, else from the mixture of the layout it will be decoded in, ``mask``
        (n, steps) (default: :meth:`full_mask`), where it has one."""
        if self.prior_name(prior) == "fitted":
            mask = mask if mask is not None else self.full_mask(n)
            real_steps = mask.sum(1).cpu() if mask is not None else None
            keys = self.prior_keys(mask, controls) if controls else None
            return self.fitted_prior.sample(n, generator, real_steps, keys).to(self.device)
        if not self.standard_prior:
            raise MusicaeError(
                "this plain autoencoder has no fitted code distribution to sample from (its "
                "codes are not trained towards N(0, I)); train it with musicae (which fits "
                "one) or use a VAE preset"
            )
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = SAMPLE_TEMPERATURE,
               generator: torch.Generator | None = None, shift: Tensor | None = None,
               mask: Tensor | None = None, controls: Mapping[str, Tensor] | None = None,
               prior: str | None = None, lengths: Tensor | None = None,
               meter: Tensor | None = None) -> Batch:
        """n new inputs decoded from codes of ``prior`` (see :meth:`prior_name`; moved by
        ``shift`` (latent,) where given), laid out by ``mask`` and ``controls`` (n, steps)
        where the model has steps, carrying ``lengths`` and ``meter`` (see :meth:`decode`)."""
        z = self.prior_sample(n, generator, prior, mask, controls)
        z = z if shift is None else z + shift
        return self.decode(z, temperature, mask, controls, lengths, meter)

    @torch.no_grad()
    def interpolate(self, a: Batch, b: Batch, steps: int = INTERPOLATION_STEPS,
                    method: str = INTERPOLATION_METHOD,
                    temperature: float = DECODE_TEMPERATURE, like: Batch | None = None,
                    spacing: str = INTERPOLATION_SPACING) -> Batch:
        """Decode ``steps`` codes on the path between the posterior means of a and b,
        in the layout of ``like`` (default: a's, with continuous controls such as a
        digit's one-hot label moving from a's to b's along the path).

        a, b: single inputs (batches of 1); both endpoints are included. ``spacing``
        "uniform" takes the codes at equal fractions of the path; "even" decodes
        ``EVEN_DENSITY`` times as many and keeps the ``steps`` (in order, endpoints
        included) whose distances from the first rise most evenly (:func:`even_picks`);
        paths of more than ``EVEN_MAX_STEPS`` points are spaced uniformly.
        """
        check_spacing(spacing)
        za, zb = self.encode(a).mean[0], self.encode(b).mean[0]
        if steps > EVEN_MAX_STEPS:  # the picking grows as steps³: long walks are uniform
            spacing = "uniform"
        dense = steps if spacing == "uniform" else (steps - 1) * EVEN_DENSITY + 1
        z = path_codes(za, zb, dense, method)
        t = torch.linspace(0.0, 1.0, dense, device=za.device)
        path = self.decode_like(z, like if like is not None else blend(a, b, t), temperature)
        if spacing == "uniform":
            return path
        backwards = torch.arange(dense - 1, -1, -1, device=z.device)
        to_end = self.distances_from_start(path[backwards]).flip(0)
        return path[torch.as_tensor(even_picks(self.distances_from_start(path), t, steps,
                                               to_end))]

    def distances_from_start(self, path: Batch) -> Tensor:
        """How far each point of a decoded path is from its first: (points,). Images: the
        summed absolute difference of their pixels; sequence models count steps."""
        return (path.tokens - path.tokens[:1]).abs().flatten(1).sum(1).float()

    def prior_keys(self, mask: Tensor | None, controls: Mapping[str, Tensor]) -> Tensor | None:
        """What the controls of each window are, for a prior given controls (see
        :class:`~musicae.models.prior.GivenControls`): (B, key), or None for a model told
        no per-step controls."""
        return None

    @torch.no_grad()
    def fit_prior(self, codes: Tensor, real_steps: Tensor | None = None,
                  components: int = PRIOR_COMPONENTS, covariance: str = PRIOR_COVARIANCE,
                  seed: int = 0, given: tuple[Tensor, Tensor] | None = None) -> None:
        """Fit the prior ``sample`` then draws from to codes (n, latent) of training
        examples (``real_steps`` (n,): of each one's window; ``given``: the keys of their
        controls (:meth:`prior_keys`) and their posteriors' scales; see
        :func:`~musicae.models.prior.fit_prior`)."""
        given = None if given is None else (*given, PRIOR_NEAREST)
        self.fitted_prior = fit_prior(codes, real_steps, components, covariance,
                                      seed, given).to(self.device)
