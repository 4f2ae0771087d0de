"""A prior fitted to the codes a model uses: Gaussian mixtures, fitted by EM.

A VAE is trained to make its aggregate posterior (the codes of all training
examples together) look like N(0, I), but it never quite does: the encoder
uses a few dimensions, and not as a unit normal. Decoding draws of N(0, I)
then lands where few training codes are. A :class:`GaussianMixture` fitted to
the posterior means of the training examples (:func:`fit_mixture`) draws
where the codes are.

Music adds a second reason: the codes of a jig in 6/8 decoded in 4/4 give a
melody twice as busy as a 4/4 tune's, so a prior over the codes of every meter
samples busy 4/4 melodies. A :class:`FittedPrior` therefore holds a mixture
per layout (windows with the same number of real steps: the same meter) that
has enough codes, beside one over all codes, and draws each code from the
mixture of the layout it will be decoded in.

A model told per-step controls (a melody over chords) adds a third: the codes
the encoder gives depend on the controls, and a draw from the prior over all
of them is a melody that does not know the chords it is decoded over (the
decoder bends it only partly). :class:`GivenControls` keeps each fitted
window's posterior beside a summary of its controls (:func:`control_keys`);
a draw for given controls is a draw from the posterior of one of the
``nearest`` windows whose controls are most alike: the aggregate posterior
given the controls, as near as the fitted windows allow.

A fitted prior is a module of buffers: set as a model's ``fitted_prior`` it is
saved in ``model.safetensors`` beside the weights (``fitted_prior.<layout>.*``),
and a model without one saves as before. A plain autoencoder, which has no
prior of its own, samples from a single full Gaussian fitted the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicae.errors import MusicaeError

COVARIANCES = ("diag", "full")
ALL = "all"  # the mixture over every code: for other layouts, and models without steps
GIVEN = "given"  # the codes of windows beside their controls: draws for given controls
KEY_SEGMENTS = 4  # control_keys: a window's controls summed up in this many equal spans
LAYOUT_CODES = 2  # a layout gets a mixture of its own from this many codes per number fitted
FLOOR = 1e-4  # added to every variance: a component on a few near-equal codes stays a density
LOG_2PI = math.log(2 * math.pi)


class GaussianMixture(nn.Module):
    """K Gaussians over codes of ``dim`` numbers, with diagonal or full covariances.

    Buffers: ``log_weights`` (K,) log mixing weights; ``means`` (K, dim); and
    ``scales`` (K, dim), standard deviations (diagonal), or ``scale_tril``
    (K, dim, dim), lower Cholesky factors of the covariances (full).
    """

    def __init__(self, components: int, dim: int, covariance: str = "diag") -> None:
        super().__init__()
        if covariance not in COVARIANCES:
            raise MusicaeError(f"unknown covariance {covariance!r}; use diag or full")
        self.covariance = covariance
        self.register_buffer("log_weights", torch.full((components,), -math.log(components)))
        self.register_buffer("means", torch.zeros(components, dim))
        if covariance == "full":
            self.register_buffer("scale_tril", torch.eye(dim).repeat(components, 1, 1))
        else:
            self.register_buffer("scales", torch.ones(components, dim))

    @property
    def components(self) -> int:
        return len(self.means)

    def describe(self) -> str:
        if self.components == 1:
            return f"a Gaussian ({self.covariance} covariance)"
        return f"a mixture of {self.components} Gaussians ({self.covariance} covariances)"

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n codes: (n, dim). The draws are made on the CPU (``generator`` is a CPU one)."""
        weights = self.log_weights.detach().float().cpu().softmax(0)
        which = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.means.shape[1], generator=generator).to(self.means)
        which = which.to(self.means.device)
        if self.covariance == "full":
            return self.means[which] + (self.scale_tril[which] @ eps[..., None])[..., 0]
        return self.means[which] + self.scales[which] * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """Log density of codes z (n, dim) under the mixture: (n,)."""
        return torch.logsumexp(self.log_weights + self.component_log_probs(z), dim=1)

    def component_log_probs(self, z: Tensor) -> Tensor:
        """log N(z | mean_k, cov_k) for every code and component: (n, K)."""
        dim = z.shape[1]
        if self.covariance == "full":
            diff = (z[None] - self.means[:, None]).transpose(1, 2)  # (K, dim, n)
            white = torch.linalg.solve_triangular(self.scale_tril, diff, upper=False)
            mahalanobis = white.pow(2).sum(1).T  # (n, K)
            log_det = torch.diagonal(self.scale_tril, dim1=1, dim2=2).log().sum(1)  # (K,)
        else:  # the square expanded: no (n, K, dim) array
            precision = self.scales.pow(-2)  # (K, dim)
            mahalanobis = (z.pow(2) @ precision.T - 2 * z @ (self.means * precision).T
                           + (self.means.pow(2) * precision).sum(1))
            log_det = self.scales.log().sum(1)
        return -0.5 * (mahalanobis + dim * LOG_2PI) - log_det

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], dim: int) -> GaussianMixture:
        """A mixture from its saved buffers (names without a prefix), checked: shapes that
        agree with each other and with ``dim``, finite values, positive scales, weights
        that sum to 1. A MusicaeError says what is wrong."""
        names = {"log_weights", "means", "scales", "scale_tril"}
        if set(tensors) - names or {"log_weights", "means"} - set(tensors) \
                or ("scales" in tensors) == ("scale_tril" in tensors):
            raise MusicaeError(f"a fitted prior of buffers {sorted(tensors)}, not log_weights, "
                               f"means and scales or scale_tril")
        weights = tensors["log_weights"]
        k = len(weights) if weights.dim() == 1 else 0  # 0: a shape error below
        covariance = "full" if "scale_tril" in tensors else "diag"
        made = cls(max(k, 1), dim, covariance)
        for name, value in tensors.items():
            expected = getattr(made, name).shape
            if k < 1 or value.shape != expected:
                raise MusicaeError(f"fitted prior: {name} has shape {tuple(value.shape)}, not "
                                   f"{tuple(expected)}")
            if not value.is_floating_point() or not torch.isfinite(value).all():
                raise MusicaeError(f"fitted prior: {name} holds values that are not finite "
                                   f"numbers")
            getattr(made, name).copy_(value)
        scales = made.scales if covariance == "diag" else torch.diagonal(made.scale_tril, 0, 1, 2)
        if (scales <= 0).any():
            raise MusicaeError("fitted prior: scales must be positive")
        if covariance == "full" and made.scale_tril.triu(1).any():
            raise MusicaeError("fitted prior: scale_tril is not lower triangular")
        if abs(float(made.log_weights.logsumexp(0))) > 1e-2:
            raise MusicaeError("fitted prior: mixing weights do not sum to 1")
        return made


@torch.no_grad()
def fit_mixture(codes: Tensor, components: int, covariance: str = "diag",
                iterations: int = 200, tolerance: float = 1e-4, seed: int = 0
                ) -> GaussianMixture:
    """Fit a Gaussian mixture to codes (n, dim) by expectation-maximisation.

    Means start at k-means++ picks of the codes (seeded); EM stops when the mean
    log-likelihood per code improves by less than ``tolerance`` nats, or after
    ``iterations``. Computed in float64 on the codes' device.
    """
    if covariance not in COVARIANCES:
        raise MusicaeError(f"unknown covariance {covariance!r}; use diag or full")
    x = codes.detach().double()
    if not 1 <= components <= len(x):
        raise MusicaeError(f"--components must be 1 to the number of codes ({len(x)}), "
                           f"not {components}")
    mixture = GaussianMixture(components, x.shape[1], covariance).to(x)
    generator = torch.Generator().manual_seed(seed)
    responsibilities = _nearest(x, _kmeans_plus_plus(x, components, generator))
    previous = -math.inf
    for _ in range(iterations):
        _maximise(mixture, x, responsibilities)
        joint = mixture.log_weights + mixture.component_log_probs(x)  # (n, K)
        log_likelihood = float(torch.logsumexp(joint, 1).mean())
        responsibilities = joint.softmax(1)
        if log_likelihood - previous < tolerance:
            break
        previous = log_likelihood
    return mixture.float()


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k codes of x (n, dim), each drawn with probability by its squared distance to the
    nearest one drawn before: (k, dim)."""
    picks = [int(torch.randint(len(x), (1,), generator=generator))]
    nearest = (x - x[picks[0]]).pow(2).sum(1)  # (n,)
    for _ in range(k - 1):
        weights = nearest.cpu() + 1e-12  # codes already picked have weight ~0
        picks.append(int(torch.multinomial(weights / weights.sum(), 1, generator=generator)))
        nearest = torch.minimum(nearest, (x - x[picks[-1]]).pow(2).sum(1))
    return x[picks]


def _nearest(x: Tensor, centres: Tensor) -> Tensor:
    """One-hot assignment of each code to its nearest centre: (n, k)."""
    which = torch.cdist(x, centres).argmin(1)
    return torch.nn.functional.one_hot(which, len(centres)).to(x)


def _maximise(mixture: GaussianMixture, x: Tensor, responsibilities: Tensor) -> None:
    """EM's M-step: weights, means and covariances from responsibilities (n, K)."""
    counts = responsibilities.sum(0) + 1e-10  # (K,)
    mixture.log_weights.copy_((counts / counts.sum()).log())
    means = responsibilities.T @ x / counts[:, None]  # (K, dim)
    mixture.means.copy_(means)
    if mixture.covariance == "diag":
        variances = responsibilities.T @ x.pow(2) / counts[:, None] - means.pow(2)
        mixture.scales.copy_((variances.clamp(min=0) + FLOOR).sqrt())
        return
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    for k in range(len(counts)):
        centred = x - means[k]
        cov = (responsibilities[:, k, None] * centred).T @ centred / counts[k]
        mixture.scale_tril[k].copy_(torch.linalg.cholesky(cov + FLOOR * eye))


def control_keys(controls: list[Tensor], classes: list[int], mask: Tensor) -> Tensor:
    """What a window's controls are, as numbers whose distances compare windows: for each
    control (B, T) of ``classes`` labels, the share of each label among the real steps
    (``mask`` (B, T)) of each of KEY_SEGMENTS equal spans of the window: (B, KEY_SEGMENTS *
    sum classes)."""
    spans = torch.arange(mask.shape[1], device=mask.device) * KEY_SEGMENTS // mask.shape[1]
    where = F.one_hot(spans, KEY_SEGMENTS).float()  # (T, S)
    real = mask.float()[..., None] * where  # (B, T, S)
    size = real.sum(1).clamp(min=1)  # (B, S)
    keys = [torch.einsum("bts,btc->bsc", real, F.one_hot(labels.long().to(mask.device), k).float())
            / size[..., None] for labels, k in zip(controls, classes, strict=True)]
    return torch.cat([key.flatten(1) for key in keys], 1)


class GivenControls(nn.Module):
    """The posteriors of fitted windows beside their controls' keys (:func:`control_keys`):
    buffers ``keys`` (n, key), ``means`` and ``scales`` (n, dim), ``nearest`` (a count)."""

    def __init__(self, n: int, key_dim: int, dim: int, nearest: int = 1) -> None:
        super().__init__()
        self.register_buffer("keys", torch.zeros(n, key_dim))
        self.register_buffer("means", torch.zeros(n, dim))
        self.register_buffer("scales", torch.ones(n, dim))
        self.register_buffer("nearest", torch.tensor(nearest))

    def describe(self) -> str:
        return f"the posteriors of {len(self.means):,} windows, drawn from one of the " \
               f"{int(self.nearest)} whose controls are nearest"

    @torch.no_grad()
    def sample(self, keys: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A code for each window's controls ``keys`` (n, key): a draw from the posterior of
        one of the ``nearest`` fitted windows nearest it, chosen at random (ties too)."""
        n, k = len(keys), min(int(self.nearest), len(self.means))
        distance = torch.cdist(keys.float().cpu(), self.keys.float().cpu())  # (n, windows)
        distance += 1e-6 * torch.rand(distance.shape, generator=generator)  # ties at random
        near = distance.topk(k, dim=1, largest=False).indices  # (n, k)
        pick = near[torch.arange(n), torch.randint(k, (n,), generator=generator)]
        eps = torch.randn(n, self.means.shape[1], generator=generator).to(self.means)
        pick = pick.to(self.means.device)
        return self.means[pick] + self.scales[pick] * eps

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], dim: int) -> GivenControls:
        """From saved buffers, checked; a MusicaeError says what is wrong."""
        names = {"keys", "means", "scales", "nearest"}
        if set(tensors) != names:
            raise MusicaeError(f"fitted prior: {GIVEN} has buffers {sorted(tensors)}, not "
                               f"{sorted(names)}")
        keys, means, scales, nearest = (tensors[name] for name in
                                        ("keys", "means", "scales", "nearest"))
        if keys.dim() != 2 or means.shape != (len(keys), dim) or scales.shape != means.shape \
                or nearest.dim() != 0 or len(keys) < 1:
            raise MusicaeError(f"fitted prior: {GIVEN} buffers of shapes "
                               f"{[tuple(t.shape) for t in (keys, means, scales, nearest)]} "
                               f"do not fit codes of {dim} numbers")
        if not all(t.is_floating_point() and torch.isfinite(t).all()
                   for t in (keys, means, scales)) or (scales <= 0).any() or nearest < 1:
            raise MusicaeError(f"fitted prior: {GIVEN} holds values that are not finite "
                               f"numbers, scales that are not positive or no nearest count")
        made = cls(len(keys), keys.shape[1], dim, int(nearest))
        for name in ("keys", "means", "scales"):
            getattr(made, name).copy_(tensors[name])
        return made


class FittedPrior(nn.ModuleDict):
    """Gaussian mixtures by layout: ``"all"`` over every code, and one per number of
    real steps in a window (``"32"``: 2 bars of 4/4) for layouts with enough codes; for
    models told controls, ``"given"``: the codes given controls (:class:`GivenControls`)."""

    @property
    def layouts(self) -> list[int]:
        """The numbers of real steps that have a mixture of their own."""
        return sorted(int(key) for key in self if key not in (ALL, GIVEN))

    def describe(self) -> str:
        own = f" per layout of {', '.join(map(str, self.layouts))} real steps and one over " \
            f"all" if self.layouts else ""
        given = f"; given controls, {self[GIVEN].describe()}" if GIVEN in self else ""
        return f"{self[ALL].describe()}{own}{given}"

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               real_steps: Tensor | None = None, keys: Tensor | None = None) -> Tensor:
        """n codes (n, dim): given the keys of their windows' controls (n, key) where the
        prior holds codes given controls, else code i from the mixture of ``real_steps[i]``
        (n,) where there is one, else from the one over all codes."""
        if keys is not None and GIVEN in self:
            return self[GIVEN].sample(keys, generator)
        keys = [ALL] * n if real_steps is None else \
            [key if key in self else ALL for key in map(str, real_steps.tolist())]
        z = torch.empty(n, self[ALL].means.shape[1], device=self[ALL].means.device)
        for key in sorted(set(keys)):
            rows = torch.tensor([i for i, k in enumerate(keys) if k == key])
            z[rows.to(z.device)] = self[key].sample(len(rows), generator)
        return z

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], dim: int) -> FittedPrior:
        """A fitted prior from its saved buffers (``<layout>.<buffer>``), checked (see
        :meth:`GaussianMixture.from_tensors`); a MusicaeError says what is wrong."""
        groups: dict[str, dict[str, Tensor]] = {}
        for name, value in tensors.items():
            layout, _, buffer = name.partition(".")
            if not (layout in (ALL, GIVEN) or layout.isascii() and layout.isdigit()
                    and 0 < int(layout) < 10**9):
                raise MusicaeError(f"fitted prior: {name!r} is not a layout's buffer")
            groups.setdefault(layout, {})[buffer] = value
        if ALL not in groups:
            raise MusicaeError(f"fitted prior: no mixture over all codes ({ALL}.*)")
        return cls({layout: (GivenControls if layout == GIVEN else GaussianMixture
                             ).from_tensors(group, dim) for layout, group in groups.items()})


@torch.no_grad()
def fit_prior(codes: Tensor, real_steps: Tensor | None, components: int, covariance: str,
              seed: int = 0, given: tuple[Tensor, Tensor, int] | None = None) -> FittedPrior:
    """A :class:`FittedPrior` of codes (n, dim): a mixture of ``components`` over all of
    them, and one per layout (``real_steps`` (n,): real steps of each code's window) with
    at least LAYOUT_CODES codes per component and dimension, unless it holds them all;
    ``given``: the keys of the windows' controls (n, key), their posteriors' scales (n, dim)
    and how many nearest windows a draw given controls chooses among."""
    mixtures = {ALL: fit_mixture(codes, components, covariance, seed=seed)}
    if given is not None:
        keys, scales, nearest = given
        mixtures[GIVEN] = GivenControls(len(codes), keys.shape[1], codes.shape[1], nearest)
        scales = scales.clamp(min=FLOOR)  # still positive when saved in float16
        for name, value in (("keys", keys), ("means", codes), ("scales", scales)):
            getattr(mixtures[GIVEN], name).copy_(value)
    if real_steps is not None:
        least = LAYOUT_CODES * components * codes.shape[1]
        for steps in torch.unique(real_steps).tolist():
            chosen = codes[real_steps == steps]
            if least <= len(chosen) < len(codes):
                mixtures[str(steps)] = fit_mixture(chosen, components, covariance, seed=seed)
    return FittedPrior(mixtures)
