"""Held-out quality of every image preset, against the classical baselines.

Trains each image preset on the bundled digits' train split (4,000 images)
for a fixed step budget, evaluates it with ``musicae.api.evaluate`` on the
1,000 held-out digits, and prints markdown tables:

- autoencoders vs PCA: held-out per-pixel MSE at the same code size (2, 16, 32, 128),
- the denoiser's PSNR vs its noisy input (goal: at least 6 dB better),
- 2x super-resolution PSNR vs bicubic upsampling of the same small image (goal: higher),
- the VAEs' evidence lower bound in nats per digit.

Nothing is tuned on the held-out split; the step budget is the presets' own
(3,000 steps of 64, about 48 epochs). The eight runs are spread over ``--jobs``
processes of one torch thread each (default 2: one per core of a 2-core machine,
which also stays fast when other work shares the cores; two threads in one process
do not). Progress goes to stderr, the tables to stdout, so
``python benchmarks/quality_images.py > benchmarks/results/quality_images.md``
keeps only the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from musicae import api
from musicae.presets import build_model, get_preset, model_config


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so a dict key
class Run:
    """One trained model of the table: a preset with size overrides."""

    preset: str
    overrides: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        return f"{self.preset} ({sizes})" if sizes else self.preset

    @property
    def folder(self) -> str:
        return self.preset + "".join(f"_{k}{v}" for k, v in self.overrides.items())


RUNS = [
    Run("mnist_ae", {"latent_dim": 2}),
    Run("mnist_vae_2d"),
    Run("mnist_ae", {"latent_dim": 16}),
    Run("mnist_conv_vae"),
    Run("mnist_ae", {"latent_dim": 32}),
    Run("mnist_conv_ae"),
    # The same 128-d code size from stride-2 convolutions into a dense code (conv VAE's
    # layers, not variational), to separate "conv AE" from the lesson's max-pool design.
    Run("mnist_conv_vae", {"variational": False, "latent_dim": 128}),
    Run("mnist_denoise"),
    Run("mnist_superres"),
]


def command_line(run: Run, out: Path, steps: int, seed: int) -> str:
    sets = "".join(f" --set {k}={json.dumps(v)}" for k, v in run.overrides.items())
    return (f"python cli.py train mnist --preset {run.preset}{sets} --steps {steps} "
            f"--seed {seed} --device cpu --quiet --out {out} && "
            f"python cli.py evaluate {out} mnist --device cpu --json")


def train_and_evaluate(run: Run, root: Path, steps: int, seed: int) -> dict:
    """Train one run from scratch, then its held-out metrics (plus the seconds it took)."""
    out = root / run.folder
    print(f"$ {command_line(run, out, steps, seed)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    api.train("mnist", run.preset, out, steps=steps, seed=seed, device="cpu",
              overrides=run.overrides, progress=False)
    seconds = time.perf_counter() - start
    metrics = api.evaluate(str(out), "mnist", split="test", device="cpu")
    print(f"  {seconds:.0f} s, held-out mse {metrics['mse']:.4f}", file=sys.stderr, flush=True)
    return metrics | {"steps": steps, "train_seconds": seconds}


def code_size_table(results: list[tuple[Run, dict]]) -> list[str]:
    lines = ["| model | code size | held-out MSE | PCA MSE, same size | AE / PCA | lower MSE |",
             "|---|---:|---:|---:|---:|---|"]
    for run, m in results:
        if "pca_mse" not in m:
            continue
        ratio = m["mse"] / m["pca_mse"]
        winner = "autoencoder" if ratio < 1 else "PCA"
        lines.append(f"| {run.name} | {_code_size(run)} | {m['mse']:.4f} | {m['pca_mse']:.4f} "
                     f"| {ratio:.2f} | {winner} |")
    return lines


def _code_size(run: Run) -> int:
    return build_model(run.preset, run.overrides).latent_dim


def restoration_table(results: list[tuple[Run, dict]]) -> list[str]:
    lines = ["| model | task | PSNR of model (dB) | baseline | PSNR of baseline (dB) | gain (dB) "
             "| goal | met |", "|---|---|---:|---|---:|---:|---|---|"]
    for run, m in results:
        if "psnr_input" in m:
            task, base, value, goal = "denoise", "noisy input", m["psnr_input"], 6.0
        elif "psnr_bicubic" in m:
            task, base, value, goal = "2x super-resolution", "bicubic", m["psnr_bicubic"], 0.0
        else:
            continue
        gain = m["psnr"] - value
        met = "yes" if gain >= goal and gain > 0 else "no"
        lines.append(f"| {run.name} | {task} | {m['psnr']:.2f} | {base} | {value:.2f} "
                     f"| {gain:+.2f} | gain {'>= 6' if goal else '> 0'} dB | {met} |")
    return lines


def elbo_table(results: list[tuple[Run, dict]]) -> list[str]:
    lines = ["| model | ELBO (nats/digit) | reconstruction (nats) | KL (nats) |",
             "|---|---:|---:|---:|"]
    for run, m in results:
        if model_config(run.preset, run.overrides).variational:
            lines.append(f"| {run.name} | {m['elbo']:.1f} | {m['recon']:.1f} | {m['kl']:.1f} |")
    return lines


def timing_table(results: list[tuple[Run, dict]]) -> list[str]:
    lines = ["| model | steps | train seconds |", "|---|---:|---:|"]
    lines += [f"| {run.name} | {m['steps']} | {m['train_seconds']:.0f} |"
              for run, m in results]
    return lines


def report(results: list[tuple[Run, dict]], root: Path, seed: int, jobs: int,
           total: float) -> str:
    any_result = results[0][1]
    header = [
        "# Image presets: held-out quality",
        "",
        f"Bundled digits: 4,000 train, {any_result['examples']:,} held out. "
        f"CPU ({os.cpu_count()} cores, {platform.machine()}), {jobs} runs at once with one "
        f"torch thread each, torch {torch.__version__}; seed {seed}; "
        f"whole script {total / 60:.1f} min, load average {os.getloadavg()[1]:.1f} at the end.",
        "MSE is per pixel on [0, 1] images; PSNR = 10 log10(1 / MSE).",
        "",
        "Each row is, on the command line:",
        "",
        "```",
        *(command_line(run, root / run.folder, m["steps"], seed) for run, m in results),
        "```",
    ]
    sections = [
        ("Autoencoders vs PCA (same code size, held-out MSE)", code_size_table(results)),
        ("Restoration: denoising and super-resolution (held-out PSNR)",
         restoration_table(results)),
        ("VAE evidence lower bound (held-out, one-sample estimate)", elbo_table(results)),
        ("Training time", timing_table(results)),
    ]
    body = []
    for title, table in sections:
        body += ["", f"## {title}", "", *table]
    return "\n".join(header + body) + "\n"


def run_all(runs: list[Run], root: Path, steps: int | None, seed: int,
            jobs: int) -> list[tuple[Run, dict]]:
    """Every run, ``jobs`` at a time (the costliest first, so the processes finish together)."""
    budget = {run: steps or get_preset(run.preset).train.steps for run in runs}
    costly_first = sorted(runs, key=lambda r: -budget[r] * COST.get(r.preset, 1.0))
    with ProcessPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {run: pool.submit(train_and_evaluate, run, root, budget[run], seed)
                   for run in costly_first}
        return [(run, futures[run].result()) for run in runs]


# Relative seconds per step on one CPU thread (measured), to start the slow runs first.
COST = {"mnist_superres": 13.0, "mnist_denoise": 6.0, "mnist_conv_ae": 4.0,
        "mnist_conv_vae": 1.5, "mnist_ae": 1.0, "mnist_vae_2d": 1.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="steps for every run (default: each preset's own budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="run these presets only")
    parser.add_argument("--keep", type=Path, default=None,
                        help="train into this folder and keep the models (default: a temp dir)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs trained at once, one torch thread each (default 2)")
    args = parser.parse_args(argv)
    runs = [r for r in RUNS if args.only is None or r.preset in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        start = time.perf_counter()
        results = run_all(runs, root, args.steps, args.seed, args.jobs)
        shown = args.keep or Path("runs")  # not the temporary folder, which is gone
        print(report(results, shown, args.seed, args.jobs, time.perf_counter() - start), end="")


if __name__ == "__main__":
    main()
