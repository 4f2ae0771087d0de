"""Training throughput and sampling latency of mel_2bar_small, beside a bare-LSTM ceiling.

The ceiling is the same LSTM shapes (bidirectional 512 encoder over 32 steps,
2x256 decoder fed z at every step) run forward and backward with plain
nn.LSTM and a trivial loss, in the same process: what musicae's model and
trainer add on top of that is the overhead measured here.

    python benchmarks/bench_music.py [--batch 512] [--repeats 5] [--bf16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from musicae.datasets.examples import window_examples
from musicae.presets import build_model, get_preset
from musicae.train import TrainConfig, Trainer


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_step(batch: int, steps: int, bf16: bool):
    """Forward + backward through plain nn.LSTMs of mel_2bar_small's shapes."""
    cfg = build_model("mel_2bar_small").cfg
    depth = cfg.heads[0][1]
    width = depth + 1
    enc = nn.LSTM(width, cfg.enc_size, batch_first=True, bidirectional=True)
    dec = nn.LSTM(width + cfg.latent_dim, cfg.dec_size, cfg.dec_layers, batch_first=True)
    head = nn.Linear(cfg.dec_size, depth)
    params = [*enc.parameters(), *dec.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params)
    x = torch.randn(batch, steps, width)
    z = torch.randn(batch, steps, cfg.latent_dim)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h, _ = enc(x)
            y, _ = dec(torch.cat([x, z + h[..., :1]], dim=-1))
            loss = head(y).float().logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def musicae_step(batch: int, bf16: bool):
    """One optimiser step of the real model through musicae's Trainer."""
    model = build_model("mel_2bar_small")
    cfg = TrainConfig(batch_size=batch, bf16=bf16)
    trainer = Trainer(model, cfg, Path(tempfile.mkdtemp()), lambda *a: None,
                      torch.device("cpu"))
    rep = get_preset("mel_2bar_small").representation
    windows = {"tokens": np.random.default_rng(0).integers(0, 90, (batch * 4, 32), np.uint8),
               "lengths": np.full((batch * 4, rep.bars), 16, np.int16),
               "meter": np.tile(np.int16([4, 4]), (batch * 4, 1))}
    data = window_examples(windows, rep)
    batches = data.batches(batch, torch.Generator().manual_seed(0))
    return lambda: trainer.train_step(next(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for both")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"bf16={args.bf16}, median of {args.repeats}")
    bare = median_seconds(bare_step(args.batch, 32, args.bf16), args.repeats)
    ours = median_seconds(musicae_step(args.batch, args.bf16), args.repeats)
    print(f"bare nn.LSTM fwd+bwd : {args.batch / bare:8.1f} windows/s  ({bare * 1e3:.0f} ms)")
    print(f"musicae train step   : {args.batch / ours:8.1f} windows/s  ({ours * 1e3:.0f} ms)")
    print(f"ratio (goal >= 0.9)  : {bare / ours:8.2f}")
    model = build_model("mel_2bar_small").eval()
    sample = median_seconds(lambda: model.sample(64, temperature=0.5), args.repeats)
    loop = median_seconds(bare_sampling_loop(64, 32), args.repeats)
    print(f"sample 64 melodies   : {sample * 1e3:8.1f} ms")
    print(f"bare 32-step loop    : {loop * 1e3:8.1f} ms  (nn.LSTM step + softmax draw)")


def bare_sampling_loop(n: int, steps: int):
    """The decoder's step loop with nothing but nn.LSTM, a linear head and a draw."""
    cfg = build_model("mel_2bar_small").cfg
    depth = cfg.heads[0][1]
    dec = nn.LSTM(depth + 1 + cfg.latent_dim, cfg.dec_size, cfg.dec_layers, batch_first=True)
    head = nn.Linear(cfg.dec_size, depth)
    z = torch.randn(n, cfg.latent_dim)

    @torch.no_grad()
    def run():
        prev, state = torch.zeros(n, depth + 1), None
        for _ in range(steps):
            h, state = dec(torch.cat([prev, z], -1)[:, None], state)
            token = torch.multinomial(torch.softmax(head(h[:, 0]) / 0.5, -1), 1)[:, 0]
            prev = torch.cat([nn.functional.one_hot(token, depth).float(),
                              torch.ones(n, 1)], -1)

    return run


if __name__ == "__main__":
    main()
