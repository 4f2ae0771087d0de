"""Autoencoders over 28x28 greyscale images with values in [0, 1].

One class, :class:`ImageAutoencoder`, composes an encoder and a decoder
(dense or convolutional) and an optional corruption of the input (Gaussian
noise for denoising, downscaling for super-resolution); the clean image is
always the target. Pixels are modelled as Bernoulli, so the reconstruction
term is the binary cross-entropy summed over the 784 pixels.

Two variants of the lesson's reading list are settings of the same class:
a *conditional* model (``labels`` > 0, Sohn et al. 2015) whose encoder and
decoder both see a one-hot label, the control ``LABEL`` of its batches, as
chords are for music; and an *adversarial* autoencoder (``adversarial`` > 0,
Makhzani et al. 2015), a plain autoencoder whose codes a small discriminator
on the latent pushes towards N(0, I), so that it samples from that prior.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from musicae.batch import Batch
from musicae.configs import ImageConfig
from musicae.datasets.examples import one_hot
from musicae.datasets.images import LABEL
from musicae.errors import MusicaeError
from musicae.models.base import Autoencoder, Posterior, kl_penalty

SIDE = 28
PIXELS = SIDE * SIDE


def corrupt(x: Tensor, cfg: ImageConfig, generator: torch.Generator | None = None) -> Tensor:
    """Apply the model's input corruption to clean images x: (batch, 1, 28, 28)."""
    if cfg.corruption == "noise":
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        return torch.clamp(x + cfg.noise_mean + cfg.noise_std * noise, 0.0, 1.0)
    if cfg.corruption == "downscale":
        return upscale(downscale(x, cfg.scale), cfg.scale, mode="nearest")
    return x


def downscale(x: Tensor, scale: int) -> Tensor:
    """Average-pool images by ``scale``: (batch, 1, 28/scale, 28/scale)."""
    return F.avg_pool2d(x, scale)


def upscale(x: Tensor, scale: int, mode: str = "bicubic") -> Tensor:
    """Upsample small images back to 28x28 (bicubic is the classical baseline)."""
    up = F.interpolate(x, scale_factor=scale, mode=mode)
    return torch.clamp(up, 0.0, 1.0)


def _dense_encoder(cfg: ImageConfig, out: int) -> nn.Module:
    """(B, 1, 28, 28) -> (B, out); a conditional model's input is (B, 784 + labels): the
    flat image with its one-hot label (see ``ImageAutoencoder._encoder_input``)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = PIXELS + cfg.labels
    for h in cfg.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def _dense_decoder(cfg: ImageConfig) -> nn.Module:
    """(B, latent [+ labels]) -> (B, 1, 28, 28) logits."""
    layers: list[nn.Module] = []
    width = cfg.latent_dim + cfg.labels
    for h in reversed(cfg.hidden):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers += [nn.Linear(width, PIXELS), nn.Unflatten(1, (1, SIDE, SIDE))]
    return nn.Sequential(*layers)


def _conv_trunk(channels: tuple[int, ...], c_in: int = 1) -> nn.Sequential:
    """Stride-2 convolutions: (B, c_in, 28, 28) -> (B, C, 28 / 2**len, ...)."""
    layers: list[nn.Module] = []
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
        c_in = c
    return nn.Sequential(*layers)


def _conv_side(cfg: ImageConfig) -> int:
    side = SIDE
    for _ in cfg.channels:
        side = (side + 1) // 2
    return side


def _conv_encoder(cfg: ImageConfig, out: int) -> nn.Module:
    side = _conv_side(cfg)
    flat = cfg.channels[-1] * side * side
    # a conditional model's label arrives as one constant plane per class beside the image
    return nn.Sequential(_conv_trunk(cfg.channels, 1 + cfg.labels), nn.Flatten(),
                         nn.Linear(flat, out))


def _conv_decoder(cfg: ImageConfig) -> nn.Module:
    """Mirror of the conv encoder with transposed convolutions: (B, latent) -> (B, 1, 28, 28)."""
    side = _conv_side(cfg)
    chans = list(reversed(cfg.channels))
    layers: list[nn.Module] = [
        nn.Linear(cfg.latent_dim + cfg.labels, chans[0] * side * side),
        nn.ReLU(),
        nn.Unflatten(1, (chans[0], side, side)),
    ]
    for c_in, c_out in zip(chans, chans[1:] + [1], strict=True):
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
        if c_out != 1:
            layers.append(nn.ReLU())
    # Three or more stages overshoot 28 (28 -> 4 -> 32); crop back to the image.
    layers.append(_CenterCrop(SIDE))
    return nn.Sequential(*layers)


def _pool_encoder(cfg: ImageConfig) -> nn.Module:
    """The lesson's encoder: 3x3 conv + ReLU + 2x2 max-pool per stage, code = feature map."""
    layers: list[nn.Module] = []
    c_in = 1
    for c in cfg.channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
        c_in = c
    return nn.Sequential(*layers, nn.Flatten())


def _pool_decoder(cfg: ImageConfig) -> nn.Module:
    """Mirror of the pool encoder: 3x3 conv + ReLU + 2x upsampling per stage."""
    chans = list(reversed(cfg.channels))
    side = _conv_side(cfg)
    layers: list[nn.Module] = [nn.Unflatten(1, (chans[0], side, side))]
    for c_in, c_out in zip(chans, chans[1:] + [chans[-1]], strict=True):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2)]
    # 7 -> 4 stages overshoot 28 (4 -> 8 -> 16 -> 32); crop back to the image.
    layers += [nn.Conv2d(chans[-1], 1, 3, padding=1), _CenterCrop(SIDE)]
    return nn.Sequential(*layers)


def _discriminator(cfg: ImageConfig) -> nn.Module:
    """An MLP on codes: (B, latent) -> (B,) logits of "drawn from N(0, I)"."""
    layers: list[nn.Module] = []
    width = cfg.latent_dim
    for h in cfg.disc_hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 1), nn.Flatten(0))


class _CenterCrop(nn.Module):
    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, x: Tensor) -> Tensor:
        off = (x.shape[-1] - self.side) // 2
        return x[..., off : off + self.side, off : off + self.side]


def pool_code_size(cfg: ImageConfig) -> int:
    side = _conv_side(cfg)
    return cfg.channels[-1] * side * side


class ImageAutoencoder(Autoencoder):
    """Dense or convolutional (V)AE over MNIST-sized images.

    encode: x (batch, 1, 28, 28) in [0, 1] -> Posterior over (batch, latent)
    decode: z (batch, latent) -> pixel probabilities (batch, 1, 28, 28)
    Conditional models read ``controls[LABEL]`` (batch, labels) in both.
    """

    def __init__(self, cfg: ImageConfig) -> None:
        latent = pool_code_size(cfg) if cfg.arch == "pool" else cfg.latent_dim
        adversarial = cfg.adversarial > 0
        super().__init__(latent, cfg.variational, standard_prior=cfg.variational or adversarial)
        self.cfg = cfg  # validated when it was made (ImageConfig.__post_init__)
        out = 2 * latent if cfg.variational else latent
        if cfg.arch == "dense":
            self.encoder, self.decoder = _dense_encoder(cfg, out), _dense_decoder(cfg)
        elif cfg.arch == "conv":
            self.encoder, self.decoder = _conv_encoder(cfg, out), _conv_decoder(cfg)
        else:
            self.encoder, self.decoder = _pool_encoder(cfg), _pool_decoder(cfg)
        self.discriminator = _discriminator(cfg) if adversarial else None

    def _label(self, controls: Mapping[str, Tensor] | None, n: int) -> Tensor:
        """A conditional model's one-hot labels for n examples: (n, labels)."""
        label = (controls or {}).get(LABEL)
        if label is None or tuple(label.shape) != (n, self.cfg.labels):
            raise MusicaeError(f"this model is conditioned on {self.cfg.labels} labels: it "
                               f"needs a label for every image (labelled data, or --label)")
        return label

    def _with_label(self, h: Tensor, controls: Mapping[str, Tensor] | None) -> Tensor:
        """h (B, width) with the one-hot label beside it (conditional models):
        (B, width + labels)."""
        if not self.cfg.labels:
            return h
        return torch.cat([h, self._label(controls, len(h)).to(h.dtype)], dim=-1)

    def encode(self, batch: Batch) -> Posterior:
        h = self.encoder(self._encoder_input(batch))  # (B, latent) or (B, 2 * latent)
        if not self.variational:
            return Posterior(h)
        mean, logvar = h.chunk(2, dim=-1)
        return Posterior(mean, logvar)

    def _encoder_input(self, batch: Batch) -> Tensor:
        """The image, and for a conditional model its label beside it: (B, 784 + labels)
        for a dense encoder, (B, 1 + labels, 28, 28) for a conv one (a plane per class)."""
        x = batch.tokens  # (B, 1, 28, 28)
        if not self.cfg.labels:
            return x
        if self.cfg.arch == "dense":
            return self._with_label(x.flatten(1), batch.controls)
        planes = self._label(batch.controls, len(x)).to(x.dtype)[:, :, None, None]
        return torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)

    def decode_logits(self, z: Tensor, controls: Mapping[str, Tensor] | None = None) -> Tensor:
        return self.decoder(self._with_label(z, controls))  # (B, 1, 28, 28)

    def _decode(self, z: Tensor, temperature: float, mask: Tensor | None,
                controls: Mapping[str, Tensor]) -> Batch:
        """Pixel probabilities (the mean image), with the controls they were decoded under:
        images have no steps to lay out, so temperature and mask are unused."""
        return Batch(torch.sigmoid(self.decode_logits(z, controls)), controls=controls)

    def corrupted(self, batch: Batch) -> Batch | None:
        if self.cfg.corruption == "none":
            return None
        return Batch(corrupt(batch.tokens, self.cfg), controls=batch.controls)

    def loss(self, batch: Batch, beta: float = 1.0, free_bits: float = 0.0,
             step: int = 0) -> dict[str, Tensor]:
        """Named terms for clean images (batch, 1, 28, 28).

        ``recon`` decodes a code drawn from the posterior, so ``elbo`` is an unbiased
        one-sample estimate (decoding the mean would flatter it by several nats).
        ``mse`` is per pixel; out of training it scores the posterior mean's decoding,
        the reconstruction a user sees. Adversarial models add the discriminator's
        terms (see ``adversarial_terms``).
        """
        x = batch.tokens
        source = self.corrupted(batch)
        posterior = self.encode(batch if source is None else source)
        logits = self.decode_logits(posterior.sample(), batch.controls)  # (B, 1, 28, 28)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        recon = recon.flatten(1).sum(dim=1).mean()  # nats per image
        kl, penalty = kl_penalty(posterior, beta, free_bits)
        if self.variational and not self.training:
            logits = self.decode_logits(posterior.mean, batch.controls)
        mse = F.mse_loss(torch.sigmoid(logits), x)
        terms = {"loss": recon + penalty, "recon": recon, "kl": kl, "elbo": -(recon + kl),
                 "mse": mse}
        if self.discriminator is not None:
            adv = self.adversarial_terms(posterior.mean)
            terms["loss"] = terms["loss"] + self.cfg.adversarial * adv["fool"] + adv["disc_loss"]
            terms |= adv
        return terms

    def adversarial_terms(self, z: Tensor) -> dict[str, Tensor]:
        """The adversarial game on codes z (batch, latent), as terms of one loss.

        ``disc_loss`` trains the discriminator to tell N(0, I) draws (real) from codes
        (fake); codes enter it detached, so it moves only the discriminator. ``fool`` is
        the encoder's non-saturating term, -log D(z), computed with the discriminator's
        weights detached, so it moves only the encoder. One backward pass and one
        optimiser then play both sides (and DDP wraps the model as any other).
        ``disc_acc``: the share of both kinds the discriminator gets right.
        """
        real = self.discriminator(torch.randn_like(z))  # (B,) logits
        fake = self.discriminator(z.detach())
        disc_loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                     + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        fooled = functional_call(self.discriminator, frozen, (z,))
        fool = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        disc_acc = ((real > 0).float().mean() + (fake < 0).float().mean()) / 2
        return {"disc_loss": disc_loss, "disc_acc": disc_acc, "fool": fool}

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """The label under which a conditional model explains each image best (the largest
        ELBO, with the posterior mean): a conditional VAE is also a classifier.

        x: (B, 1, 28, 28) -> labels (B,) int64.
        """
        scores = []
        for k in range(self.cfg.labels):
            controls = {LABEL: one_hot(torch.full((len(x),), k, device=x.device),
                                       self.cfg.labels)}
            posterior = self.encode(Batch(x, controls=controls))
            logits = self.decode_logits(posterior.mean, controls)
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
            scores.append(-(nll.sum(dim=1) + posterior.kl().sum(dim=1)))  # (B,)
        return torch.stack(scores, dim=1).argmax(dim=1)
