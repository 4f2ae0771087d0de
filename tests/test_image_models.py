"""The autoencoder interface as the image models implement it, on bundled digits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from musicae.batch import Batch
from musicae.datasets.examples import image_examples
from musicae.datasets.images import load_images
from musicae.errors import MusicaeError
from musicae.models.base import Posterior, beta_schedule, kl_penalty, lerp, slerp
from musicae.models.image import ImageConfig, corrupt, downscale, upscale
from musicae.presets import PRESETS, build_model
from musicae.train import TrainConfig, Trainer, mean_loss_terms

IMAGE_PRESETS = sorted(name for name, p in PRESETS.items() if p.domain == "image")
# Small sizes for the presets (same architectures), to keep training tests fast.
TINY = {
    "mnist_ae": {"hidden": [64]},
    "mnist_vae_2d": {"hidden": [64]},
    "mnist_conv_vae": {"channels": [8, 16]},
    "mnist_conv_ae": {"channels": [8, 8, 8]},
    "mnist_denoise": {"channels": [8, 8]},
    "mnist_superres": {"channels": [8, 8]},
    "mnist_aae": {"channels": [8, 16]},
    "mnist_cvae": {"channels": [8, 16]},
}


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """64 bundled training digits: (64, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(load_images("mnist", "train").images[:64])


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    """The digits' labels: (64,) int64."""
    return load_images("mnist", "train").labels[:64]


def labelled(x: torch.Tensor, labels: np.ndarray) -> Batch:
    """Digits with their labels as the control conditional models read (others ignore it)."""
    return image_examples(x.numpy(), labels[: len(x)]).batch(np.arange(len(x)))


def test_every_image_preset_has_a_tiny_size():
    assert sorted(TINY) == IMAGE_PRESETS


@pytest.mark.parametrize("name", IMAGE_PRESETS)
def test_encode_decode_shapes(name, digits, labels):
    model = build_model(name).eval()
    x = labelled(digits[:5], labels)
    with torch.no_grad():
        posterior = model.encode(x)
        y = model.decode(posterior.mean, controls=x.controls).tokens
    assert posterior.mean.shape == (5, model.latent_dim)
    if model.variational:
        assert posterior.logvar.shape == (5, model.latent_dim)
    else:
        assert posterior.logvar is None
    assert y.shape == (5, 1, 28, 28)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """-log p(x) of images x under independent Bernoulli pixels of probability
    sigmoid(logits), summed over each image's pixels, in float64: (batch,).
    -[x log s(l) + (1 - x) log(1 - s(l))] = log(1 + e^l) - x l, exactly and stably."""
    logit = logits.double().numpy().reshape(len(logits), -1)
    x = x.double().numpy().reshape(len(x), -1)
    return (np.logaddexp(0.0, logit) - x * logit).sum(axis=1)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> np.ndarray:
    """KL(N(mean, exp(logvar)) || N(0, I)) per example in closed form, in float64: (batch,)."""
    m, v = mean.double().numpy(), np.exp(logvar.double().numpy())
    return 0.5 * (m**2 + v - 1.0 - np.log(v)).sum(axis=1)


@pytest.mark.parametrize("name", IMAGE_PRESETS)
def test_loss_terms_are_named_and_finite(name, digits, labels):
    model = build_model(name, TINY[name])
    batch = labelled(digits[:8], labels)
    with torch.no_grad():
        terms = model.loss(batch)
    assert {"loss", "recon", "kl", "elbo", "mse"} <= set(terms)
    assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
    assert float(terms["elbo"]) == pytest.approx(-float(terms["recon"] + terms["kl"]))

    # A few steps first: a fresh model's output barely depends on its code, and what it
    # encodes (the clean or the corrupted image) must show in the terms below.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        optimizer.zero_grad()
        model.loss(labelled(digits, labels))["loss"].backward()
        optimizer.step()
    # The terms recomputed here from the model's parts, for the same draws: the loss
    # corrupts the input (denoise: noise from torch's generator) and then draws one code
    # from the posterior, so replaying both from the same seed gives the same code.
    x = batch.tokens
    for training in (True, False):
        model.train(training)
        with torch.no_grad():
            torch.manual_seed(11)
            terms = model.loss(batch)
            torch.manual_seed(11)
            seen = model.corrupted(batch)
            posterior = model.encode(batch if seen is None else seen)
            z = posterior.sample()
            logits = model.decode_logits(z, batch.controls)  # (8, 1, 28, 28)
            drawn = model.decode(z, controls=batch.controls).tokens  # their probabilities
            mean = model.decode(posterior.mean, controls=batch.controls).tokens
        if model.cfg.corruption != "none":  # the model sees a damaged copy...
            assert float((seen.tokens - x).abs().max()) > 0.1
        # ...but is scored against the clean image: Bernoulli pixels, nats per image
        recon = bernoulli_nll(logits, x).mean()
        assert float(terms["recon"]) == pytest.approx(recon, rel=1e-5)
        if model.variational:
            assert float((z - posterior.mean).abs().max()) > 1e-3  # a draw, not the mean
            kl = gaussian_kl(posterior.mean, posterior.logvar).mean()
            assert kl > 0
        else:
            kl = 0.0
        assert float(terms["kl"]) == pytest.approx(kl, rel=1e-4, abs=1e-6)
        assert float(terms["elbo"]) == pytest.approx(-(recon + kl), rel=1e-5)
        if model.discriminator is None:  # beta 1, no free bits: the loss is -ELBO
            assert float(terms["loss"]) == pytest.approx(recon + kl, rel=1e-5)
        # mse per pixel: training scores the drawn code, evaluation the posterior mean's
        scored = drawn if training else mean
        mse = ((scored.double() - x.double()) ** 2).mean()
        assert float(terms["mse"]) == pytest.approx(float(mse), rel=1e-5)


def test_code_sizes_follow_the_settings():
    assert build_model("mnist_ae", {"latent_dim": 2}).latent_dim == 2
    assert build_model("mnist_conv_ae").latent_dim == 4 * 4 * 8  # the lesson's 128-d code
    assert build_model("mnist_conv_vae", {"channels": [8, 8, 8]}).decode(
        torch.zeros(1, 16)).tokens.shape == (1, 1, 28, 28)


@pytest.mark.parametrize("bad", [
    {"latent_dim": 0}, {"latent_dim": "abc"}, {"channels": []}, {"channels": [8, -1]},
    {"arch": "zzz"}, {"corruption": "blur"}, {"scale": 3}, {"hidden": ["a"]},
])
def test_impossible_settings_are_user_errors(bad):
    with pytest.raises(MusicaeError, match="bad image model settings|expected"):
        build_model("mnist_conv_vae", bad)


def test_pool_architecture_is_not_variational():
    with pytest.raises(MusicaeError, match="plain autoencoder"):
        ImageConfig(arch="pool", variational=True)


def test_kl_matches_the_closed_form():
    mean = torch.tensor([[1.0, 0.0], [0.3, -2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [-1.0, 0.5]])
    kl = Posterior(mean, logvar).kl()
    # KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2, per dimension
    assert kl[0].tolist() == pytest.approx([0.5, 0.5 * (1.0 - math.log(2.0))])
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(kl, expected)


def test_kl_is_zero_at_the_prior_and_for_a_plain_autoencoder():
    assert float(Posterior(torch.zeros(3, 4), torch.zeros(3, 4)).kl().abs().max()) == 0.0
    assert float(Posterior(torch.ones(3, 4)).kl().abs().max()) == 0.0


def test_free_bits_and_beta_scale_only_the_penalty():
    posterior = Posterior(torch.full((2, 1), 2.0), torch.zeros(2, 1))  # KL = 2 nats each
    kl, penalty = kl_penalty(posterior, beta=0.5, free_bits=1.0)
    assert float(kl) == pytest.approx(2.0)
    assert float(penalty) == pytest.approx(0.5 * (2.0 - math.log(2.0)))
    assert beta_schedule(0, 1.0, 0.99) == 0.0 and beta_schedule(10, 1.0, 0.0) == 1.0


def test_slerp_and_lerp_pass_through_their_endpoints():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    for path in (slerp(a, b, t), lerp(a, b, t)):
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(lerp(a, b, t)[1], torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(slerp(a, 2 * a, t)[1], 1.5 * a)  # parallel: a straight line


@pytest.mark.parametrize("name", ["mnist_conv_vae", "mnist_ae"])
@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolation_endpoints_are_the_reconstructions(name, method, digits):
    model = build_model(name, TINY[name]).eval()
    a, b = Batch(digits[:1]), Batch(digits[1:2])
    path = model.interpolate(a, b, steps=5, method=method).tokens
    assert path.shape == (5, 1, 28, 28)
    torch.testing.assert_close(path[0], model.reconstruct(a).tokens[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], model.reconstruct(b).tokens[0], atol=1e-5, rtol=0)
    assert not torch.allclose(path[2], path[0])


def test_interpolation_rejects_bad_arguments(digits):
    model = build_model("mnist_ae", TINY["mnist_ae"])
    with pytest.raises(MusicaeError, match="at least 2"):
        model.interpolate(Batch(digits[:1]), Batch(digits[1:2]), steps=1)
    with pytest.raises(MusicaeError, match="unknown interpolation"):
        model.interpolate(Batch(digits[:1]), Batch(digits[1:2]), method="cubic")


def test_plain_autoencoder_without_fitted_prior_cannot_sample():
    with pytest.raises(MusicaeError, match="no fitted code distribution"):
        build_model("mnist_ae", TINY["mnist_ae"]).sample(4)


def test_plain_autoencoder_samples_from_its_fitted_prior(digits):
    model = build_model("mnist_ae", {"hidden": [64], "latent_dim": 3}).eval()
    codes = torch.randn(500, 3) * torch.tensor([1.0, 2.0, 0.5]) + 4.0
    model.fit_prior(codes)
    drawn = model.prior_sample(4000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(drawn.mean(0), codes.mean(0), atol=0.15, rtol=0)
    torch.testing.assert_close(drawn.std(0), codes.std(0), atol=0.15, rtol=0)
    assert model.sample(6).tokens.shape == (6, 1, 28, 28)


def test_vae_samples_from_the_standard_normal():
    model = build_model("mnist_conv_vae", TINY["mnist_conv_vae"]).eval()
    z = model.prior_sample(4000, torch.Generator().manual_seed(0))
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1.0) < 0.05
    first = model.sample(3, generator=torch.Generator().manual_seed(1))
    again = model.sample(3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(first.tokens, again.tokens)


def test_denoising_corruption_is_clipped_noise(digits):
    cfg = ImageConfig(arch="pool", channels=(8,), variational=False, corruption="noise")
    noisy = corrupt(digits, cfg, torch.Generator().manual_seed(0))
    assert noisy.shape == digits.shape
    assert 0.0 <= float(noisy.min()) and float(noisy.max()) <= 1.0
    assert float((noisy - digits).mean()) > 0.2  # noise of mean 0.5 brightens the image


def test_downscale_corruption_keeps_block_averages(digits):
    cfg = ImageConfig(arch="pool", channels=(8,), variational=False, corruption="downscale")
    blocky = corrupt(digits, cfg)
    assert blocky.shape == digits.shape
    torch.testing.assert_close(downscale(blocky, 2), downscale(digits, 2))
    torch.testing.assert_close(blocky[..., ::2, ::2], blocky[..., 1::2, 1::2])
    assert upscale(downscale(digits, 2), 2).shape == digits.shape


def test_eval_mse_scores_the_mean_reconstruction(digits):
    model = build_model("mnist_conv_vae", TINY["mnist_conv_vae"]).eval()
    x = Batch(digits[:16])
    expected = float(((model.reconstruct(x).tokens - digits[:16]) ** 2).mean())
    with torch.no_grad():
        mse = float(model.loss(x)["mse"])
    assert mse == pytest.approx(expected, rel=1e-5)


def test_elbo_is_estimated_with_a_sampled_code(digits):
    """Decoding the posterior mean would overstate the ELBO; the loss draws a code."""
    model = build_model("mnist_conv_vae", TINY["mnist_conv_vae"]).eval()
    x = Batch(digits[:16])
    with torch.no_grad():
        torch.manual_seed(3)
        terms = model.loss(x)
        torch.manual_seed(3)
        z = model.encode(x).sample()
        bce = torch.nn.functional.binary_cross_entropy(model.decode(z).tokens, x.tokens,
                                                       reduction="sum")
    assert float(terms["recon"]) == pytest.approx(float(bce) / len(x), rel=1e-4)


@pytest.mark.parametrize("name", IMAGE_PRESETS)
def test_loss_falls_on_a_batch_of_digits(name, digits, labels, tmp_path):
    model = build_model(name, TINY[name])
    examples = image_examples(digits.numpy(), labels)
    before = mean_loss_terms(model, examples.chunks(64))
    cfg = TrainConfig(steps=50, batch_size=32, lr=3e-3, eval_every=1000)
    trainer = Trainer(model, cfg, tmp_path, save=lambda *_: None, device=torch.device("cpu"))
    trainer.fit(examples, None, progress=False)
    after = mean_loss_terms(model, examples.chunks(64))
    assert trainer.step == 50
    assert after["loss"] < 0.8 * before["loss"], (before, after)
    assert after["mse"] < before["mse"]
