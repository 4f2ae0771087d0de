"""Do the image models' prior samples look like digits, and whose codes look like N(0, I)?

For the adversarial autoencoder (``mnist_aae``), the conv VAE (``mnist_conv_vae``) and
a plain conv autoencoder of the same 16-d latent (``mnist_aae`` with ``adversarial=0``,
which samples from a Gaussian fitted to its training codes), this prints:

- **MMD** between the held-out digits' codes (posterior means, 1,000) and 1,000 draws
  of N(0, I): the unbiased estimate of MMD^2 with the Gaussian kernel
  k(x, y) = exp(-|x - y|^2 / (2 d)), d the latent size (smaller: closer to the prior);
- **recognised**: the share of 1,000 prior samples that a small CNN classifier,
  trained here on the training split only, assigns to one digit with probability
  >= 0.9 (and the classifier's own held-out accuracy, for scale);
- for the conditional VAE (``mnist_cvae``), per label 0-9, the share of 100 samples
  drawn with that label that the classifier labels as asked, and its held-out ELBO
  beside the unconditional conv VAE's.

``--sweep`` also chooses the adversarial weight the way the preset's was chosen: on
a validation split carved from the training digits (every fifth one), never the test
split. Models are the shipped ones unless ``--runs DIR`` names a folder holding run
directories of those names (the plain autoencoder is trained into ``--runs`` if it is
not there: about 4 minutes on one core).

    python benchmarks/quality_generative.py [--sweep] > benchmarks/results/quality_generative.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from musicae import api
from musicae.datasets.examples import image_examples
from musicae.datasets.images import load_images
from musicae.train import mean_loss_terms

SAMPLES = 1000
PER_LABEL = 100
CONFIDENT = 0.9
SWEEP = (1.0, 3.0, 10.0, 30.0)


def classifier(train_x: torch.Tensor, train_y: torch.Tensor, epochs: int = 8) -> nn.Module:
    """A small CNN (two conv/pool stages, one hidden layer) trained on the training split."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(128, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        net.train()
        for index in torch.randperm(len(train_x)).split(64):
            loss = nn.functional.cross_entropy(net(train_x[index]), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()


@torch.no_grad()
def probabilities(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(x).softmax(dim=1) for x in images.split(500)])  # (n, 10)


def mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 between samples x (n, d) and y (m, d), kernel exp(-|a-b|^2 / 2d)."""
    d = x.shape[1]

    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * d))

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within_x + within_y - 2 * k(x, y).mean())


@torch.no_grad()
def codes(bundle, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    examples = image_examples(images.numpy(), labels.numpy())
    return torch.cat([bundle.model.encode(b).mean for b in examples.chunks(500)])


@torch.no_grad()
def prior_images(bundle, n: int, label: int | None = None) -> torch.Tensor:
    layout = api.domain(bundle).layout(bundle, n, label=label)
    generator = torch.Generator().manual_seed(1)
    return bundle.model.sample(n, generator=generator, **layout).tokens


def stats(bundle, x: torch.Tensor, y: torch.Tensor, net: nn.Module) -> str:
    """'MMD^2 | recognised | MSE' of a model on held-out digits x (n, 1, 28, 28), labels y."""
    torch.manual_seed(0)
    z = codes(bundle, x, y)
    prior = torch.randn(SAMPLES, z.shape[1], generator=torch.Generator().manual_seed(2))
    p = probabilities(net, prior_images(bundle, SAMPLES))
    recognised = float((p.max(dim=1).values >= CONFIDENT).float().mean())
    mse = mean_loss_terms(bundle.model, image_examples(x.numpy(), y.numpy()).chunks(500))["mse"]
    return f"{mmd2(z, prior):.4f} | {recognised:.3f} | {mse:.4f}"


def conditional_rows(bundle, vae, test_x, test_y, net) -> list[str]:
    shares = []
    for label in range(10):
        p = probabilities(net, prior_images(bundle, PER_LABEL, label))
        shares.append(float((p.argmax(dim=1) == label).float().mean()))
    lines = ["| label | " + " | ".join(map(str, range(10))) + " | mean |",
             "|---" * 12 + "|",
             "| drawn as asked | " + " | ".join(f"{s:.2f}" for s in shares)
             + f" | {np.mean(shares):.3f} |", ""]
    examples = image_examples(test_x.numpy(), test_y.numpy())
    for name, model in (("mnist_cvae", bundle), ("mnist_conv_vae", vae)):
        torch.manual_seed(0)
        elbo = mean_loss_terms(model.model, examples.chunks(500))["elbo"]
        lines.append(f"- {name}: held-out ELBO {elbo:.2f} nats per digit")
    torch.manual_seed(0)
    guessed = bundle.model.classify(test_x)
    lines.append(f"- mnist_cvae as a classifier (the label of the highest ELBO): "
                 f"{float((guessed == test_y).float().mean()):.3f} held-out accuracy")
    return lines


def train_plain(runs: Path) -> Path:
    out = runs / "mnist_ae_16"
    if not (out / "config.json").is_file():
        print(f"training the plain autoencoder into {out}", file=sys.stderr)
        api.train("mnist", "mnist_aae", out, seed=0, overrides={"adversarial": 0},
                  progress=False)
    return out


def sweep(train_x: torch.Tensor, train_y: torch.Tensor) -> list[str]:
    """Adversarial weights trained on 4/5 of the training digits, scored on the other 1/5."""
    lines = ["| adversarial weight | valid MMD^2 | valid recognised | valid MSE |",
             "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        write_idx(folder, train_x, train_y)  # the IDX reader holds out every fifth digit
        valid = load_images(folder, "test")
        vx, vy = torch.from_numpy(valid.images), torch.from_numpy(valid.labels)
        net = classifier(*train_fold(folder))
        for weight in SWEEP:
            out = Path(tmp) / f"aae_{weight}"
            api.train(str(folder), "mnist_aae", out, seed=0, progress=False,
                      overrides={"adversarial": weight})
            bundle = api.load(str(out), "cpu")
            lines.append(f"| {weight:g} | {stats(bundle, vx, vy, net)} |")
    return lines


def train_fold(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    fold = load_images(folder, "train")
    return torch.from_numpy(fold.images), torch.from_numpy(fold.labels)


def write_idx(folder: Path, x: torch.Tensor, y: torch.Tensor) -> None:
    """Digits as MNIST IDX files (what a user downloads), readable as DATA."""
    folder.mkdir(parents=True)
    pixels = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    header = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in pixels.shape)
    (folder / "train-images-idx3-ubyte").write_bytes(header + pixels.tobytes())
    labels = y.to(torch.uint8).numpy()
    header = bytes([0, 0, 8, 1]) + len(labels).to_bytes(4, "big")
    (folder / "train-labels-idx1-ubyte").write_bytes(header + labels.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"),
                        help="folder of run directories (mnist_aae, mnist_cvae, ...)")
    parser.add_argument("--sweep", action="store_true", help="choose the adversarial weight")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = load_images("mnist", "train"), load_images("mnist", "test")
    train_x, train_y = torch.from_numpy(train.images), torch.from_numpy(train.labels)
    test_x, test_y = torch.from_numpy(test.images), torch.from_numpy(test.labels)
    if args.sweep:
        print("## Choosing the adversarial weight (validation digits from the training split)\n")
        print("\n".join(sweep(train_x, train_y)) + "\n")
    net = classifier(train_x, train_y)
    accuracy = float((probabilities(net, test_x).argmax(dim=1) == test_y).float().mean())

    def model(name: str):
        run = args.runs / name
        return api.load(str(run if (run / "config.json").is_file() else name), "cpu")

    print("## Prior samples and the aggregate posterior (1,000 held-out digits)\n")
    print(f"classifier: held-out accuracy {accuracy:.3f}; 'recognised' = max probability "
          f">= {CONFIDENT} on {SAMPLES:,} prior samples\n")
    print("| model | MMD^2 to N(0, I) | recognised | held-out MSE |")
    print("|---|---|---|---|")
    rows = (("adversarial AE (mnist_aae)", model("mnist_aae")),
            ("conv VAE (mnist_conv_vae)", model("mnist_conv_vae")),
            ("plain conv AE (mnist_aae, adversarial=0; fitted Gaussian prior)",
             api.load(str(train_plain(args.runs)), "cpu")))
    for name, bundle in rows:
        print(f"| {name} | {stats(bundle, test_x, test_y, net)} |")
    print("\n## The conditional VAE: samples drawn with each label\n")
    print("\n".join(conditional_rows(model("mnist_cvae"), model("mnist_conv_vae"), test_x,
                                     test_y, net)))


if __name__ == "__main__":
    main()
