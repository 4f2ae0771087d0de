"""Digits in, PNGs out: the image face of musicae."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.datasets.examples import Examples, image_examples, one_hot
from musicae.datasets.images import LABEL, grid, label_of, load_images, read_image, write_png
from musicae.domains.base import Domain
from musicae.errors import MusicaeError
from musicae.models.image import corrupt, downscale, upscale
from musicae.representations.base import Representation
from musicae.train import mean_loss_terms

EVAL_BATCH = 256

# The bundled digits have one held-out split; it serves as "valid" and "test".
_SPLIT = {"train": "train", "valid": "test", "test": "test", "all": "all"}


def _label_controls(bundle: ModelBundle, n: int, label: int | None) -> dict:
    """The label control of n examples: all ``label`` (checked against the model), or
    without one the labels spread evenly in order; none for a model without labels."""
    classes = bundle.model.cfg.labels
    if label is None:
        if not classes:
            return {}
        labels = torch.arange(n) * classes // n
    elif not classes:
        Domain.refuse(bundle, label=label)  # raises: the model takes no label
    elif isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
            or not 0 <= label < classes:
        raise MusicaeError(f"--label {label}: a label of this model is a whole number "
                           f"0..{classes - 1}")
    else:
        labels = torch.full((n,), int(label), dtype=torch.int64)
    return {LABEL: one_hot(labels, classes).to(bundle.model.device)}


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


class ImageDomain(Domain):
    def examples(self, data: str, split: str, rep: Representation | None = None,
                 transpose: int = 0, progress: bool = True) -> Examples:
        images = load_images(data, _SPLIT[split])
        return image_examples(images.images, images.labels)

    def read_input(self, bundle: ModelBundle, path: Path, bar: int | None = None
                   ) -> tuple[Batch, dict]:
        return self.input_batch(bundle, read_image(path), label_of(path))

    def input_batch(self, bundle: ModelBundle, image: np.ndarray, label: int = -1
                    ) -> tuple[Batch, dict]:
        """One image (1, 28, 28) as a batch of one on the model's device. A conditional
        model also gets its label: ``label`` where known (a file in a folder named 0-9),
        else the label under which the model explains the image best."""
        x = torch.from_numpy(image)[None].to(bundle.model.device)  # (1, 1, 28, 28)
        classes = bundle.model.cfg.labels
        if not classes:
            return Batch(x), {}
        found = "folder" if 0 <= label < classes else "inferred"
        if found == "inferred":
            label = int(bundle.model.classify(x)[0])
        return self.condition(bundle, Batch(x), label=label), {"label": label,
                                                              "label_from": found}

    def layout(self, bundle: ModelBundle, n: int, meter: str | None = None,
               chords: str | None = None, label: int | None = None) -> dict:
        """Conditional models: every code under ``label``, or the labels spread evenly in
        order (n = 100: ten 0s, then ten 1s, ...: a row per label in a 10x10 grid)."""
        self.refuse(bundle, chords=chords)
        return {"controls": _label_controls(bundle, n, label)}

    def condition(self, bundle: ModelBundle, batch: Batch, chords: str | None = None,
                  label: int | None = None) -> Batch:
        """``batch`` under ``label`` (conditional models; a one-line error for others)."""
        self.refuse(bundle, chords=chords)
        if label is None:
            return batch
        return Batch(batch.tokens, batch.mask, _label_controls(bundle, len(batch), label))

    def write_batch(self, bundle, batch, out, stem, **options) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        images = batch.tokens.detach().cpu().numpy()
        paths = []
        for i, img in enumerate(images):
            paths.append(out / f"{stem}_{i:03d}.png")
            write_png(img, paths[-1])
        paths.insert(0, out / f"{stem}_grid.png")
        write_png(grid(images, columns=math.ceil(math.sqrt(len(images)))), paths[0])
        return paths

    def write_path(self, bundle, batch, out, **options) -> list[Path]:
        paths = self.write_batch(bundle, batch, out, "step", **options)
        strip = out / "interpolation.png"
        write_png(grid(batch.tokens.detach().cpu().numpy(), columns=len(batch)), strip)
        paths[0].unlink()  # the strip replaces the square grid
        return [strip] + paths[1:]

    def write_pair(self, bundle, inputs, outputs, out, stem, corrupted=None,
                   **options) -> list[Path]:
        """input | corrupted input (denoise/superres models) | reconstruction, one row each."""
        out.mkdir(parents=True, exist_ok=True)
        columns = [b.tokens for b in (inputs, corrupted, outputs) if b is not None]
        stacked = torch.stack(columns, dim=1).flatten(0, 1).detach().cpu().numpy()
        path = out / f"{stem}_reconstruction.png"
        write_png(grid(stacked, columns=len(columns)), path)
        return [path]

    @torch.no_grad()
    def evaluate(self, bundle: ModelBundle, data: str, split: str) -> dict:
        """Loss terms, MSE against PCA at the same code size, and PSNR against baselines."""
        torch.manual_seed(0)  # the corruption noise is part of the measurement
        model, cfg = bundle.model, bundle.model.cfg
        examples = self.examples(data, split)
        x = torch.from_numpy(examples.arrays["images"])
        metrics = {"examples": len(x)} | mean_loss_terms(model, examples.chunks(EVAL_BATCH))
        metrics["psnr"] = psnr(metrics["mse"])
        if cfg.corruption == "none" and model.latent_dim < x[0].numel():
            train = torch.from_numpy(self.examples(data, "train").arrays["images"])
            metrics["pca_mse"] = pca_mse(train, x, model.latent_dim)
        if cfg.corruption == "noise":
            noisy = corrupt(x, cfg)
            metrics["psnr_input"] = psnr(float(((noisy - x) ** 2).mean()))
        if cfg.corruption == "downscale":
            bicubic = upscale(downscale(x, cfg.scale), cfg.scale, mode="bicubic")
            metrics["psnr_bicubic"] = psnr(float(((bicubic - x) ** 2).mean()))
        return metrics

    def data_path(self, data: str) -> str | None:
        path = Path(data)
        return str(path.resolve()) if path.exists() else None

    def plot_latent(self, bundle: ModelBundle, data: str, out: Path) -> Path:
        images = load_images(data, "test")
        out.parent.mkdir(parents=True, exist_ok=True)
        return plot_latent(bundle, image_examples(images.images, images.labels), out)


def pca_mse(train: Tensor, test: Tensor, k: int) -> float:
    """Held-out per-pixel MSE of the best rank-k linear code fitted on train (PCA)."""
    a = train.flatten(1).double()
    mean = a.mean(dim=0)
    _, _, vt = torch.linalg.svd(a - mean, full_matrices=False)
    basis = vt[:k]  # (k, pixels)
    b = test.flatten(1).double() - mean
    recon = (b @ basis.T) @ basis
    return float(((recon - b) ** 2).mean())


@torch.no_grad()
def plot_latent(bundle: ModelBundle, examples: Examples, path: Path) -> Path:
    """Held-out codes coloured by digit; for a 2-D latent also the decoded manifold.

    Codes of more than two dimensions are projected on their two principal axes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = bundle.model
    codes = torch.cat([model.encode(b.to(model.device)).mean.cpu()
                       for b in examples.chunks(EVAL_BATCH)])
    labels = examples.arrays.get("labels", np.full(len(codes), -1))
    two_d = codes.shape[1] == 2
    if not two_d:
        centred = codes - codes.mean(0)
        codes = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:2].T
    fig, axes = plt.subplots(1, 2 if two_d else 1, figsize=(13 if two_d else 7, 6))
    ax = axes[0] if two_d else axes
    scatter = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=6)
    ax.legend(*scatter.legend_elements(), title="digit", loc="best", fontsize=7)
    ax.set_title("held-out codes" + ("" if two_d else " (first two principal axes)"))
    if two_d:
        axes[1].imshow(_manifold(model, codes), cmap="gray")
        axes[1].set_title("decoded over the latent plane (5th-95th percentile of codes)")
        axes[1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _manifold(model, codes: Tensor, n: int = 15) -> np.ndarray:
    lo, hi = np.percentile(codes.numpy(), [5, 95], axis=0)
    xs, ys = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)
    z = torch.tensor([[x, y] for y in ys for x in xs], dtype=torch.float32)
    decoded = model.decode(z.to(model.device)).tokens.cpu().numpy()
    return grid(decoded, columns=n, pad=0)
