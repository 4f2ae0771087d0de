"""Where a studio server keeps what it makes, and how it lets work in.

:class:`Store` is the server's own temporary folder: one subfolder per result (a sample,
a blend step, an upload), each file reachable by an opaque piece id, the oldest results
removed once the folder passes its size cap, the whole folder removed on exit.
:class:`Gate` lets one job at a time reach a model and a few more wait; the rest are told
the server is busy (HTTP 503) instead of piling up in memory.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from musicae.errors import MusicaeError
from musicae.studio.settings import STORE_BYTES

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # file names a URL may name


@dataclass(frozen=True)
class Piece:
    """One file a client may name by ``id``: a MIDI file (music) or a PNG (image), and what
    the page draws it from (``facts``: notes, bars, length; see ``pieces.describe``)."""

    id: str
    result: str
    path: Path
    kind: str  # "music" or "image"
    title: str
    facts: dict = field(default_factory=dict, compare=False)


class Store:
    """A per-server temporary folder of results, bounded in total size (thread-safe)."""

    def __init__(self, max_bytes: int = STORE_BYTES) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="musicae-studio-"))
        self.max_bytes = max_bytes
        self._results: OrderedDict[str, int] = OrderedDict()  # id -> bytes, oldest first
        self._pieces: dict[str, Piece] = {}
        self._result_ids, self._piece_ids = itertools.count(1), itertools.count(1)
        self._lock = threading.Lock()

    def new_result(self) -> tuple[str, Path]:
        """A fresh, empty folder for one request's files, and its id."""
        with self._lock:
            rid = f"r{next(self._result_ids)}"
            self._results[rid] = 0
        folder = self.root / rid
        folder.mkdir()
        return rid, folder

    def add_piece(self, result: str, path: Path, kind: str, title: str = "",
                  facts: dict | None = None) -> Piece:
        with self._lock:
            piece = Piece(f"p{next(self._piece_ids)}", result, path, kind, title or path.stem,
                          facts or {})
            self._pieces[piece.id] = piece
        return piece

    def piece(self, piece_id: object) -> Piece:
        """A piece by id, or a one-line error (unknown, or its result was removed)."""
        with self._lock:
            found = self._pieces.get(piece_id) if isinstance(piece_id, str) else None
        if found is None:
            raise MusicaeError(f"piece {piece_id!r}: unknown or expired; sample or upload it "
                               f"again")
        return found

    def seal(self, result: str) -> None:
        """Count a finished result's bytes, then drop the oldest results while the folder
        is over its cap (never the one just sealed)."""
        size = sum(p.stat().st_size for p in (self.root / result).iterdir() if p.is_file())
        with self._lock:
            self._results[result] = size
            doomed = []
            total = sum(self._results.values())
            for rid in list(self._results):
                if total <= self.max_bytes or rid == result:
                    break
                total -= self._results.pop(rid)
                doomed.append(rid)
            self._pieces = {k: p for k, p in self._pieces.items() if p.result not in doomed}
        for rid in doomed:
            shutil.rmtree(self.root / rid, ignore_errors=True)

    def drop(self, result: str) -> None:
        """Forget a result that failed half way, and its files."""
        with self._lock:
            self._results.pop(result, None)
            self._pieces = {k: p for k, p in self._pieces.items() if p.result != result}
        shutil.rmtree(self.root / result, ignore_errors=True)

    def file(self, result: str, name: str) -> Path | None:
        """A file of a live result, by a plain name (no paths); None where there is none."""
        with self._lock:
            live = result in self._results
        path = self.root / result / name
        return path if live and SAFE_NAME.match(name) and path.is_file() else None

    def used_bytes(self) -> int:
        with self._lock:
            return sum(self._results.values())

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Busy(Exception):
    """A model's queue is full: the client should try again shortly (HTTP 503)."""


class Gate:
    """One job at a time per model, at most ``queue`` more waiting; the next one is Busy.

    Admission is counted on the event loop (one thread), the work runs in worker threads
    of the studio's own limiter, so waiting jobs never starve the threads that serve files.
    """

    def __init__(self, name: str, queue: int, limiter: anyio.CapacityLimiter) -> None:
        self.name, self.queue, self.limiter = name, queue, limiter
        self.waiting = 0  # running and queued
        self._lock = threading.Lock()

    async def run(self, job: Callable[..., Any], *args: Any) -> Any:
        if self.waiting > self.queue:
            raise Busy(f"{self.name} is busy ({self.waiting} requests in hand); try again "
                       f"in a moment")
        self.waiting += 1
        try:
            return await anyio.to_thread.run_sync(self._locked, job, *args,
                                                  limiter=self.limiter)
        finally:
            self.waiting -= 1

    def _locked(self, job: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return job(*args)
