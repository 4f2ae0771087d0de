"""One trainer for every model.

The trainer knows a model only through ``model(batch, beta, free_bits, step)``
(its loss), which returns named terms with ``loss`` to minimise, and data
only as :class:`~musicae.datasets.examples.Examples`, which make batches. It owns the optimiser
(Adam with MusicVAE's exponential learning-rate decay), gradient clipping,
the KL (beta) schedule, periodic evaluation on held-out data, atomic
checkpoints, resume and the metrics log (``metrics.jsonl`` in the run
directory).
"""

from __future__ import annotations

import functools
import json
import math
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from musicae.batch import Batch
from musicae.configs import TrainConfig
from musicae.datasets.examples import Examples
from musicae.distributed import Ranks, any_rank, peers_watched
from musicae.errors import MusicaeError, first_line
from musicae.models.base import Autoencoder, beta_schedule


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MusicaeError(f"--device {name}: CUDA is not available on this machine")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MusicaeError(f"--device {name!r}: unknown device (auto, cpu, cuda, cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise MusicaeError(f"--device {name!r}: musicae runs on cpu or cuda")
    return device


@functools.cache
def bf16_works(device: torch.device) -> bool:
    """Whether bfloat16 autocast runs an LSTM and a convolution on ``device``: CPUs without
    AVX512-BF16 refuse the LSTM (oneDNN has no such primitive there), so it is tried."""
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4, batch_first=True).to(device)(torch.zeros(1, 2, 4, device=device))
            torch.nn.Conv2d(1, 1, 3).to(device)(torch.zeros(1, 1, 4, 4, device=device))
    except RuntimeError:
        return False
    return True


def freeze(model: torch.nn.Module, names: str) -> None:
    """Hold the weights of the modules ``names`` (comma-separated, e.g. ``encoder.segment``)
    fixed and train every other one; "" trains them all."""
    modules = dict(model.named_modules())
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in modules]
    if unknown:
        known = ", ".join(name for name in modules if name.count(".") <= 1 and name)
        raise MusicaeError(f"setting freeze: this model has no module {', '.join(unknown)} "
                           f"(it has {known})")
    model.requires_grad_(True)
    for name in wanted:
        modules[name].requires_grad_(False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Trains ``model`` on ``train``, evaluates on ``valid``, writes into ``run_dir``.

    ``save`` is called as ``save(model, run_dir, state)`` to write a checkpoint
    (musicae.artifacts.save_checkpoint); it keeps the trainer free of formats.
    """

    def __init__(self, model: Autoencoder, cfg: TrainConfig, run_dir: Path,
                 save: Callable[..., None], device: torch.device,
                 ranks: Ranks = Ranks()) -> None:
        self.model = model.to(device)
        freeze(model, cfg.freeze)  # before DDP, which registers what takes gradients
        # Under torchrun the model is wrapped so that gradients are averaged over ranks.
        with peers_watched(ranks):
            self.net = DistributedDataParallel(model) if ranks.active else model
        self.ranks = ranks
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.save = save
        self.device = device
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.step = 0
        self.wall_seconds = 0.0
        self.last_eval: dict[str, float] = {}
        self.saved_step: int | None = None  # of the last checkpoint in run_dir known here
        self._valid_sample: np.ndarray | None = None
        self.stop: list[int] = []  # the signals that asked training to stop
        self._board = None  # TensorBoard writer while fit runs (rank 0, where installed)
        self._board_from = 0  # the step the run started from

    def fit(self, train: Examples, valid: Examples | None, progress: bool = True) -> dict:
        """Train until ``cfg.steps`` (or the time budget); returns the last held-out evaluation.

        Under torchrun every rank trains on its own shard of each global batch
        (``cfg.batch_size`` windows per rank); rank 0 evaluates and checkpoints.
        """
        cfg, ranks = self.cfg, self.ranks
        generator = torch.Generator().manual_seed(cfg.seed + self.step)  # same on every rank
        batches = train.batches(cfg.batch_size, generator, ranks.rank, ranks.world)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (progress and ranks.main),
                   unit="step", dynamic_ncols=True)
        saved = time.monotonic()
        self._board_from = self.step  # the writer, made at the first record, purges past it
        with _stop_signals() as stop, peers_watched(ranks, self.checkpoint_advice):
            self.stop = stop
            done = self.finished()
            while not done:
                start = time.perf_counter()
                terms = self.train_step(next(batches))
                self.wall_seconds += time.perf_counter() - start
                self.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{terms['loss']:.3f}", kl=f"{terms.get('kl', 0.0):.2f}")
                done = self.finished()
                due = time.monotonic() - saved > 60 * cfg.checkpoint_minutes
                if ranks.main and (self.step % cfg.eval_every == 0 or done or due):
                    self.evaluate_and_checkpoint(terms, valid)
                    saved = time.monotonic()
        bar.close()
        if self._board:
            self._board.close()
        self._board = None
        return self.last_eval

    def out_of_time(self) -> bool:
        return self.cfg.minutes is not None and self.wall_seconds >= 60 * self.cfg.minutes

    def finished(self) -> bool:
        """Whether to stop now (done, out of time, or asked to by a signal); every rank
        gets the same answer."""
        if self.step >= self.cfg.steps:
            return True
        return any_rank(self.out_of_time() or bool(self.stop), self.ranks, self.device)

    def train_step(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_at(self.step)
        beta = beta_schedule(self.step, cfg.max_beta, cfg.beta_rate)
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            terms = self.net(batch.to(self.device, non_blocking=True), beta=beta,
                             free_bits=cfg.free_bits, step=self.step)
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in terms.items()} | {"beta": beta}

    def evaluate(self, valid: Examples) -> dict[str, float]:
        """Loss terms (beta = 1) over a fixed random sample of ``eval_batches`` held-out batches.

        A random sample, not the first examples: held-out data is often sorted
        (by file name, say), and its first batches are then not typical of it.
        """
        if self._valid_sample is None:
            order = torch.randperm(len(valid), generator=torch.Generator().manual_seed(0))
            self._valid_sample = order[: self.cfg.batch_size * self.cfg.eval_batches].numpy()
        return mean_loss_terms(self.model, valid.chunks(self.cfg.batch_size, self._valid_sample))

    def evaluate_and_checkpoint(self, terms: dict[str, float], valid: Examples | None) -> None:
        record = {"step": self.step, "wall_seconds": round(self.wall_seconds, 2),
                  "lr": self.cfg.lr_at(self.step)}
        record |= {f"train_{k}": v for k, v in terms.items()}
        if valid is not None and len(valid):
            self.last_eval = self.evaluate(valid)
            record |= {f"valid_{k}": v for k, v in self.last_eval.items()}
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / "metrics.jsonl", "a") as f:  # artifacts.METRICS
                f.write(json.dumps(record) + "\n")
        except OSError as exc:  # a full disk: the last checkpoint stays as it was
            raise MusicaeError(f"{self.run_dir}: cannot write metrics.jsonl "
                               f"({(exc.strerror or str(exc)).lower()}); "
                               f"{self.checkpoint_advice()}") from None
        self.log_to_tensorboard(record)
        self.save(self.model, self.run_dir, self.state())
        self.saved_step = self.step

    def checkpoint_advice(self) -> str:
        """What the user can do when training stops on an error (a lost process, a full
        disk): a checkpoint is written whole or not at all, so the last one stands (rank 0
        knows whether there is one)."""
        if self.ranks.main and self.saved_step is None:
            return "no checkpoint was written yet"
        return f"the last checkpoint in {self.run_dir} is intact, continue with --resume"

    def log_to_tensorboard(self, record: dict) -> None:
        """The same record as TensorBoard scalars (``train/loss``, ``valid/kl``, ``lr``) in
        ``<run>/tensorboard``, when the tensorboard package is installed (the ``board``
        extra). A broken tensorboard install turns this off with a warning; it never
        stops training. The writer is made with the first record, after metrics.jsonl took
        it (a full disk is then the one error that run reports)."""
        if self._board is None and self.ranks.main:
            self._board = _tensorboard_writer(self.run_dir / TENSORBOARD_DIR, self._board_from)
        if not self._board:
            return
        try:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    tag = key.replace("_", "/", 1) if key.startswith(("train_", "valid_")) \
                        else key
                    self._board.add_scalar(tag, value, self.step)
            self._board.flush()
        except Exception as exc:  # noqa: BLE001 (logging must not end a training run)
            warnings.warn(f"TensorBoard logging stopped: {first_line(exc)}", stacklevel=2)
            self._board = False

    def state(self) -> dict:
        """What a checkpoint records about training (JSON-serialisable)."""
        return {"step": self.step, "wall_seconds": round(self.wall_seconds, 2),
                "config": asdict(self.cfg), "valid": self.last_eval,
                "device": str(self.device), "torch": torch.__version__,
                "optimizer": self.optimizer}

    def restore(self, step: int, wall_seconds: float, optimizer_state: dict | None) -> None:
        """Continue from a checkpoint (``--resume``)."""
        self.step = self.saved_step = step
        self.wall_seconds = wall_seconds
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
TENSORBOARD_DIR = "tensorboard"


def _tensorboard_writer(folder: Path, step: int):
    """A SummaryWriter for ``folder`` that drops events a killed run wrote past ``step``
    (the checkpoint this run starts from), or False without a working tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return False
    try:
        return SummaryWriter(str(folder), purge_step=step + 1)
    except Exception as exc:  # noqa: BLE001 (a broken install: protobuf, numpy versions)
        warnings.warn(f"TensorBoard logging off: {first_line(exc)}", stacklevel=2)
        return False


@contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM ask training to stop after the current step (and checkpoint)
    instead of killing it; the list holds the signals received. A second Ctrl-C while
    stopping still interrupts at once. Outside the main thread nothing is caught."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def ask(signum: int, frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)

    previous = {s: signal.signal(s, ask) for s in STOP_SIGNALS}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@torch.no_grad()
def mean_loss_terms(model: Autoencoder, batches: Iterable[Batch]) -> dict[str, float]:
    """Each loss term (beta = 1, no free bits) averaged over the examples of ``batches``."""
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    for batch in batches:
        for k, v in model(batch.to(model.device), beta=1.0).items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
        n += len(batch)
    return {k: v / n for k, v in sums.items()}
