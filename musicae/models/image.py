"""Autoencoders over 28x28 greyscale images with values in [0, 1].

One class, :class:`ImageAutoencoder`, composes an encoder and a decoder
(dense or convolutional) and an optional corruption of the input (Gaussian
noise for denoising, downscaling for super-resolution); the clean image is
always the target. Pixels are modelled as Bernoulli, so the reconstruction
term is the binary cross-entropy summed over the 784 pixels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicae.batch import Batch
from musicae.configs import ImageConfig
from musicae.defaults import DECODE_TEMPERATURE
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
    layers: list[nn.Module] = [nn.Flatten()]
    width = PIXELS
    for h in cfg.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def _dense_decoder(cfg: ImageConfig) -> nn.Module:
    layers: list[nn.Module] = []
    width = cfg.latent_dim
    for h in reversed(cfg.hidden):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers += [nn.Linear(width, PIXELS), nn.Unflatten(1, (1, SIDE, SIDE))]
    return nn.Sequential(*layers)


def _conv_trunk(channels: tuple[int, ...]) -> nn.Sequential:
    """Stride-2 convolutions: (B, 1, 28, 28) -> (B, C, 28 / 2**len, ...)."""
    layers: list[nn.Module] = []
    c_in = 1
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
    return nn.Sequential(_conv_trunk(cfg.channels), nn.Flatten(), nn.Linear(flat, out))


def _conv_decoder(cfg: ImageConfig) -> nn.Module:
    """Mirror of the conv encoder with transposed convolutions: (B, latent) -> (B, 1, 28, 28)."""
    side = _conv_side(cfg)
    chans = list(reversed(cfg.channels))
    layers: list[nn.Module] = [
        nn.Linear(cfg.latent_dim, chans[0] * side * side),
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
    """

    def __init__(self, cfg: ImageConfig) -> None:
        latent = pool_code_size(cfg) if cfg.arch == "pool" else cfg.latent_dim
        super().__init__(latent, cfg.variational)
        self.cfg = cfg  # validated when it was made (ImageConfig.__post_init__)
        out = 2 * latent if cfg.variational else latent
        if cfg.arch == "dense":
            self.encoder, self.decoder = _dense_encoder(cfg, out), _dense_decoder(cfg)
        elif cfg.arch == "conv":
            self.encoder, self.decoder = _conv_encoder(cfg, out), _conv_decoder(cfg)
        else:
            self.encoder, self.decoder = _pool_encoder(cfg), _pool_decoder(cfg)

    def encode(self, batch: Batch) -> Posterior:
        h = self.encoder(batch.tokens)  # (B, latent) or (B, 2 * latent)
        if not self.variational:
            return Posterior(h)
        mean, logvar = h.chunk(2, dim=-1)
        return Posterior(mean, logvar)

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)  # (B, 1, 28, 28)

    def decode(self, z: Tensor, temperature: float = DECODE_TEMPERATURE,
               mask: Tensor | None = None, controls: Mapping[str, Tensor] | None = None
               ) -> Batch:
        """Pixel probabilities (the mean image): images have no steps to lay out, so
        temperature, mask and controls are unused."""
        return Batch(torch.sigmoid(self.decode_logits(z)))

    def corrupted(self, batch: Batch) -> Batch | None:
        if self.cfg.corruption == "none":
            return None
        return Batch(corrupt(batch.tokens, self.cfg))

    def loss(self, batch: Batch, beta: float = 1.0, free_bits: float = 0.0,
             step: int = 0) -> dict[str, Tensor]:
        """Named terms for clean images (batch, 1, 28, 28).

        ``recon`` decodes a code drawn from the posterior, so ``elbo`` is an unbiased
        one-sample estimate (decoding the mean would flatter it by several nats).
        ``mse`` is per pixel; out of training it scores the posterior mean's decoding,
        the reconstruction a user sees.
        """
        x = batch.tokens
        source = self.corrupted(batch)
        posterior = self.encode(batch if source is None else source)
        logits = self.decode_logits(posterior.sample())  # (B, 1, 28, 28)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        recon = recon.flatten(1).sum(dim=1).mean()  # nats per image
        kl, penalty = kl_penalty(posterior, beta, free_bits)
        if self.variational and not self.training:
            logits = self.decode_logits(posterior.mean)
        mse = F.mse_loss(torch.sigmoid(logits), x)
        return {"loss": recon + penalty, "recon": recon, "kl": kl, "elbo": -(recon + kl),
                "mse": mse}
