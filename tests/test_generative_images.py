"""The lesson's last two image models: the adversarial autoencoder and the conditional VAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import musicae
from musicae.batch import Batch
from musicae.datasets.examples import Examples, image_examples, one_hot
from musicae.datasets.images import LABEL, load_images, write_png
from musicae.errors import MusicaeError
from musicae.models.base import blend
from musicae.presets import build_model
from musicae.train import TrainConfig, Trainer

TINY = {"channels": [8, 16]}


@pytest.fixture(scope="module")
def train_digits() -> Examples:
    images = load_images("mnist", "train")
    return image_examples(images.images[:512], images.labels[:512])


@pytest.fixture(scope="module")
def test_digits():
    return load_images("mnist", "test")


def mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the kernel exp(-|a - b|^2 / 2d) (as benchmarks/quality_generative)."""
    d, n, m = x.shape[1], len(x), len(y)
    k = lambda a, b: torch.exp(-torch.cdist(a, b).pow(2) / (2 * d))  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    return float((kxx.sum() - kxx.trace()) / (n * (n - 1))
                 + (kyy.sum() - kyy.trace()) / (m * (m - 1)) - 2 * k(x, y).mean())


def nearest_class_mean(images: np.ndarray, test_digits) -> np.ndarray:
    """The digit whose held-out mean image is nearest to each image: (n,)."""
    means = np.stack([test_digits.images[test_digits.labels == k].mean(0) for k in range(10)])
    distances = ((images[:, None] - means[None]) ** 2).reshape(len(images), 10, -1).sum(-1)
    return distances.argmin(1)


def test_adversarial_terms_move_each_side_only(train_digits):
    model = build_model("mnist_aae", TINY)
    z = model.encode(train_digits.batch(np.arange(16))).mean
    terms = model.adversarial_terms(z)
    encoder, critic = list(model.encoder.parameters()), list(model.discriminator.parameters())
    fool = torch.autograd.grad(terms["fool"], encoder + critic, allow_unused=True,
                               retain_graph=True)
    assert all(g is None for g in fool[len(encoder):])  # the discriminator is frozen here
    assert all(g is not None and g.abs().sum() > 0 for g in fool[:len(encoder)])
    disc = torch.autograd.grad(terms["disc_loss"], encoder + critic, allow_unused=True)
    assert all(g is None for g in disc[:len(encoder)])  # codes enter it detached
    assert all(g is not None and g.abs().sum() > 0 for g in disc[len(encoder):])
    assert 0.0 <= float(terms["disc_acc"]) <= 1.0


def test_adversarial_training_pulls_codes_towards_the_prior(train_digits, tmp_path):
    """The same autoencoder trained with and without the discriminator: its codes end up
    nearer N(0, I) only with it."""
    distances = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model("mnist_aae", TINY | {"adversarial": weight})
        cfg = TrainConfig(steps=600, batch_size=64, lr=1e-3, eval_every=10_000)
        Trainer(model, cfg, tmp_path, save=lambda *_: None, device=torch.device("cpu")).fit(
            train_digits, None, progress=False)
        with torch.no_grad():
            z = model.eval().encode(train_digits.batch(np.arange(512))).mean
        distances[weight] = mmd2(z, torch.randn(512, z.shape[1]))
    assert distances[1.0] < 0.5 * distances[0.0], distances


def test_adversarial_autoencoder_samples_from_the_standard_normal():
    model = build_model("mnist_aae", TINY).eval()
    assert model.fitted_prior is None  # nothing fitted, and none needed
    z = model.prior_sample(4000, torch.Generator().manual_seed(0))
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1.0) < 0.05
    assert model.sample(3).tokens.shape == (3, 1, 28, 28)


def test_adversarial_setting_needs_a_plain_autoencoder():
    with pytest.raises(MusicaeError, match="adversarial needs a plain"):
        build_model("mnist_conv_vae", {"adversarial": 1.0})
    with pytest.raises(MusicaeError, match="labels need a dense or conv"):
        build_model("mnist_conv_ae", {"labels": 10})


def test_conditional_model_needs_a_label(train_digits):
    model = build_model("mnist_cvae", TINY)
    with pytest.raises(MusicaeError, match="conditioned on 10 labels"):
        model.encode(Batch(train_digits.batch(np.arange(4)).tokens))


def test_the_label_changes_what_a_code_decodes_to():
    model = build_model("mnist_cvae", TINY).eval()
    z = torch.randn(1, model.latent_dim)
    one, seven = ({LABEL: one_hot(torch.tensor([k]), 10)} for k in (1, 7))
    assert not torch.allclose(model.decode(z, controls=one).tokens,
                              model.decode(z, controls=seven).tokens)


def test_interpolation_moves_the_label_from_a_to_b(train_digits):
    model = build_model("mnist_cvae", TINY).eval()
    labels = train_digits.arrays["labels"]
    other = int(np.flatnonzero(labels != labels[0])[0])
    a, b = train_digits.batch(np.array([0])), train_digits.batch(np.array([other]))
    path = model.interpolate(a, b, steps=5)
    torch.testing.assert_close(path.tokens[0], model.reconstruct(a).tokens[0])
    torch.testing.assert_close(path.tokens[-1], model.reconstruct(b).tokens[0])
    middle = blend(a, b, torch.linspace(0, 1, 5)).controls[LABEL][2]
    torch.testing.assert_close(middle, (a.controls[LABEL][0] + b.controls[LABEL][0]) / 2)


def test_blend_keeps_discrete_controls_of_a():
    a = Batch(torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool),
              {"chords": torch.tensor([[1, 1, 2, 2]])})
    b = Batch(torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool),
              {"chords": torch.tensor([[5, 5, 6, 6]])})
    path = blend(a, b, torch.linspace(0, 1, 3))
    assert path.controls["chords"].tolist() == [[1, 1, 2, 2]] * 3


def test_shipped_conditional_vae_draws_the_digit_asked_for(test_digits):
    model = musicae.load("mnist_cvae", device="cpu")
    for label in (0, 3, 7):
        images = np.stack(model.sample(16, label=label, seed=1))
        assert images.shape == (16, 28, 28)
        share = (nearest_class_mean(images[:, None], test_digits) == label).mean()
        assert share >= 0.75, (label, share)
    with pytest.raises(MusicaeError, match="--label 10"):
        model.sample(4, label=10)


def test_shipped_conditional_vae_is_also_a_classifier(test_digits):
    model = musicae.load("mnist_cvae", device="cpu").model
    x = torch.from_numpy(test_digits.images[:300])
    accuracy = float((model.classify(x).numpy() == test_digits.labels[:300]).mean())
    assert accuracy >= 0.9


def test_sample_with_a_label_from_the_command_line(cli, tmp_path, test_digits):
    result = cli("sample", "mnist_cvae", "--label", "7", "-n", "16", "-o", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run.json").read_text())["label"] == 7
    images = np.stack([np.asarray(Image.open(p), np.float32) / 255
                       for p in sorted(tmp_path.glob("sample_0*.png"))])
    assert len(images) == 16
    assert (nearest_class_mean(images[:, None], test_digits) == 7).mean() >= 0.75


def test_interpolate_keeps_each_ends_label_unless_told(cli, tmp_path, test_digits):
    write_png(test_digits.images[0], tmp_path / "a.png")
    write_png(test_digits.images[1], tmp_path / "b.png")
    result = cli("interpolate", "mnist_cvae", tmp_path / "a.png", tmp_path / "b.png",
                 "-o", tmp_path / "path", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["a"] == {"label": int(test_digits.labels[0]), "label_from": "inferred"}
    assert summary["b"]["label"] == int(test_digits.labels[1])
    told = cli("interpolate", "mnist_cvae", tmp_path / "a.png", tmp_path / "b.png",
               "-o", tmp_path / "five", "--label", "5", "--steps", "4")
    assert told.exit_code == 0, told.output
    assert json.loads((tmp_path / "five" / "run.json").read_text())["label"] == 5
    frames = [np.asarray(Image.open(p), np.float32) / 255
              for p in sorted((tmp_path / "five").glob("step_0*.png"))]
    assert (nearest_class_mean(np.stack(frames)[:, None], test_digits) == 5).mean() >= 0.75


@pytest.mark.parametrize("args, reason", [
    (("sample", "mnist_cvae", "--label", "10"), "--label 10: a label of this model"),
    (("sample", "mnist_cvae", "--label", "x"), "--label 'x': expected a whole number"),
    (("sample", "folk_mel_2bar", "--label", "3"), "--label is for label-conditioned"),
    (("sample", "mnist_conv_vae", "--label", "3"), "--label is for label-conditioned"),
])
def test_bad_labels_are_one_line_errors(cli, tmp_path, args, reason):
    result = cli(*args, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], lines
    assert not (tmp_path / "out").exists()
