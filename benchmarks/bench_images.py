"""Training throughput and sampling latency of mnist_conv_vae, beside bare PyTorch.

The bare side calls the same model class's layers directly (``model.encoder``,
``model.decoder``) in a hand-written loop: slice a shuffled batch, reparameterise,
BCE + KL summed per digit and averaged over the batch, ``zero_grad`` /
``backward`` / ``torch.optim.Adam.step``. The musicae side is ``Trainer.fit``,
which adds the learning-rate schedule, gradient clipping, beta schedule, named
loss terms (incl. the MSE metric) and a checkpoint-free run. Both train fresh
copies of the same initial weights on the 4,000 bundled training digits and are
timed in alternation, so that load on a shared machine hits both alike.

    python benchmarks/bench_images.py [--batch 64] [--steps 100] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from musicae.datasets.examples import Examples, image_examples
from musicae.datasets.images import load_images
from musicae.models.image import ImageAutoencoder
from musicae.presets import build_model, get_preset
from musicae.train import Trainer

PRESET = "mnist_conv_vae"


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def musicae_run(model: ImageAutoencoder, data: Examples, batch: int, steps: int,
                device: torch.device) -> Callable[[], None]:
    """``steps`` more optimiser steps through musicae's Trainer (no evaluation, no files)."""
    cfg = get_preset(PRESET).train
    trainer = Trainer(model, cfg, Path(tempfile.mkdtemp()), lambda *a: None, device)

    def run() -> None:
        trainer.cfg = dataclasses.replace(cfg, batch_size=batch, steps=trainer.step + steps,
                                          eval_every=10**9)
        trainer.fit(data, None, progress=False)

    return run


def bare_run(model: ImageAutoencoder, data: torch.Tensor, batch: int, steps: int,
             device: torch.device) -> Callable[[], None]:
    """The same layers in a hand-written loop: BCE + KL, Adam, nothing else."""
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def run() -> None:
        order = torch.randperm(len(data), generator=generator)
        for step in range(steps):
            i = (step * batch) % (len(data) - batch + 1)
            x = data[order[i : i + batch]].to(device)  # (B, 1, 28, 28)
            mean, logvar = model.encoder(x).chunk(2, dim=-1)  # (B, latent) each
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            logits = model.decoder(z)  # (B, 1, 28, 28)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum()
            loss = (recon + kl) / len(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss.detach())  # wait for the last step (matters on CUDA)

    return run


def alternate(a: Callable[[], None], b: Callable[[], None], repeats: int) -> tuple[float, float]:
    """Median seconds of a and of b, timed in turns after one warm-up each."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(seconds(a))
        times_b.append(seconds(b))
    return statistics.median(times_a), statistics.median(times_b)


def sampling(model: ImageAutoencoder, n: int, calls: int) -> tuple[Callable, Callable]:
    """model.sample(n) and a bare decoder forward on n normal codes, ``calls`` times each."""
    model.eval()

    def ours() -> None:
        for _ in range(calls):
            model.sample(n)

    @torch.no_grad()
    def bare() -> None:
        for _ in range(calls):
            torch.sigmoid(model.decoder(torch.randn(n, model.latent_dim, device=model.device)))

    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = torch.from_numpy(load_images("mnist", "train").images)  # (4000, 1, 28, 28)
    model = build_model(PRESET)
    print(f"{PRESET}: {sum(p.numel() for p in model.parameters()):,} parameters; "
          f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"training: batch {args.batch}, {args.steps} steps per repeat, "
          f"median of {args.repeats} (timed in alternation)")
    examples = image_examples(data.numpy())
    ours = musicae_run(copy.deepcopy(model), examples, args.batch, args.steps, device)
    bare = bare_run(copy.deepcopy(model), data, args.batch, args.steps, device)
    t_ours, t_bare = alternate(ours, bare, args.repeats)
    rate_ours, rate_bare = args.batch * args.steps / t_ours, args.batch * args.steps / t_bare
    print(f"  bare PyTorch loop   : {rate_bare:8.0f} images/s  ({t_bare / args.steps * 1e3:.2f} "
          f"ms/step)")
    print(f"  musicae Trainer     : {rate_ours:8.0f} images/s  ({t_ours / args.steps * 1e3:.2f} "
          f"ms/step)")
    print(f"  musicae / bare      : {rate_ours / rate_bare:8.2f}")
    calls = 50
    sample_ours, sample_bare = sampling(model.to(device), 64, calls)
    s_ours, s_bare = alternate(sample_ours, sample_bare, args.repeats)
    print(f"sampling 64 digits: median of {args.repeats} x {calls} calls")
    print(f"  bare decoder forward: {s_bare / calls * 1e3:8.3f} ms")
    print(f"  model.sample(64)    : {s_ours / calls * 1e3:8.3f} ms")
    print(f"  sample / bare       : {s_ours / s_bare:8.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
