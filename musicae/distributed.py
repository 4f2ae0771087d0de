"""Data-parallel training across processes and machines, as torchrun launches it.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` for each process;
:func:`setup` joins them into one process group (NCCL on GPUs, gloo on CPUs)
and picks the process's device. Without torchrun there is one process and
nothing here does anything. Rank 0 prepares data first and alone writes
files; every decision to stop is agreed by all ranks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from musicae.errors import MusicaeError, first_line

TIMEOUT_ENV = "MUSICAE_DIST_TIMEOUT"  # seconds a rank waits for the others
DEFAULT_TIMEOUT_S = 300.0  # long enough for rank 0 to prepare a large folder first


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files, logs and progress bars."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether torchrun (or another launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Whether this process is rank 0 (or the only one): the one that reports."""
    return os.environ.get("RANK", "0") == "0"


def setup(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun describes; the ranks and this process's device.

    ``device`` is what the user asked for: a CUDA device becomes
    ``cuda:LOCAL_RANK`` (one process per GPU), a CPU stays the CPU.
    """
    if not launched():
        return Ranks(), device
    ranks = Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                  int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise MusicaeError(f"rank {ranks.rank}: no GPU {ranks.local_rank} on this machine "
                               f"({torch.cuda.device_count()} found)")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return ranks, device


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def main_first(ranks: Ranks) -> Iterator[None]:
    """Rank 0 runs the body first (preparing data, say), then the others (reading its cache)."""
    if ranks.active and not ranks.main:
        barrier()
    yield
    if ranks.active and ranks.main:
        barrier()


def barrier() -> None:
    try:
        dist.barrier()
    except Exception as exc:  # gloo and NCCL raise their own error types
        raise MusicaeError(f"another training process stopped ({first_line(exc)})") from None


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any: how ranks agree to stop together."""
    if not ranks.active:
        return flag
    value = torch.tensor([int(flag)], device=device)
    try:
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    except Exception as exc:
        raise MusicaeError(f"another training process stopped ({first_line(exc)})") from None
    return bool(value.item())
