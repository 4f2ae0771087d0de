"""Data-parallel training across processes and machines, as torchrun launches it.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` for each process;
:func:`setup` joins them into one process group (NCCL on GPUs, gloo on CPUs)
and picks the process's device. Without torchrun there is one process and
nothing here does anything. Rank 0 prepares data first and alone writes
files; every decision to stop is agreed by all ranks. A rank that finds
another gone says so in one line (:class:`LostPeer`); a rank whose torchrun
is killed stops as if torchrun had stopped it.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from musicae.datasets.midi_worker import set_death_signal
from musicae.errors import MusicaeError, first_line

TIMEOUT_ENV = "MUSICAE_DIST_TIMEOUT"  # seconds a rank waits for the others
DEFAULT_TIMEOUT_S = 300.0  # long enough for rank 0 to prepare a large folder first
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"  # set by torchrun's agent in the processes it starts
# marks of a lost connection in what gloo raises (its messages start with its source
# file, .../gloo/transport/tcp/pair.cc); NCCL raises DistBackendError
PEER_GONE = ("gloo", "by peer", "Broken pipe")


class LostPeer(MusicaeError):
    """Another training process is gone (killed, out of memory, or stopped by an error of
    its own), so this one cannot go on."""


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
    if TORCHRUN_ENV in os.environ and sys.platform.startswith("linux"):
        # torchrun starts ranks in sessions of their own: killed, it would leave them
        # running. SIGTERM is what it sends them itself when it stops (from a killed
        # torchrun it may come twice: a rank stopped at its checkpoint then just ends)
        set_death_signal(signal.SIGTERM)
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
        barrier(ranks)
    yield
    if ranks.active and ranks.main:
        barrier(ranks)


@contextmanager
def peers_watched(ranks: Ranks, advice: Callable[[], str] | None = None) -> Iterator[None]:
    """Run the body; a collective in it (DDP's included) that finds another process gone
    raises :class:`LostPeer` naming this rank, with ``advice()`` for the user when given.
    Other errors pass as they are."""
    try:
        yield
    except LostPeer as exc:  # from a collective watched inside, which had no advice
        lost = str(exc)
    except RuntimeError as exc:  # gloo's errors; NCCL's DistBackendError is one too
        if not (ranks.active and _peer_gone(exc)):
            raise
        lost = f"lost a training process (rank {ranks.rank} of {ranks.world}): " \
               f"{_peer_reason(exc)}"
    else:
        return
    raise LostPeer(f"{lost}; {advice()}" if advice else lost) from None


def _peer_gone(exc: RuntimeError) -> bool:
    return isinstance(exc, dist.DistError) or any(mark in str(exc) for mark in PEER_GONE)


def _peer_reason(exc: RuntimeError) -> str:
    """What gloo says went wrong, without where in its source, addresses and its advice:
    "[.../pair.cc:537] Read error [127.0.0.1]:41899: Connection reset by peer. This is..."
    is "Connection reset by peer"."""
    text = re.sub(r"^\[[^\]]*\]\s*|\s*\[[^\]]*\]:\d+", "", first_line(exc))
    return text.split(". ")[0].rstrip(".").rsplit(": ", 1)[-1]


def barrier(ranks: Ranks) -> None:
    with peers_watched(ranks):
        dist.barrier()


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any: how ranks agree to stop together."""
    if not ranks.active:
        return flag
    value = torch.tensor([int(flag)], device=device)
    with peers_watched(ranks):
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
