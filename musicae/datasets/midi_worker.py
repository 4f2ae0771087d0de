"""Turning files into windows, a chunk of files at a time, in worker processes.

A worker reads each file's bytes, digests them (the cache key), parses them and
encodes its chunk's files together under a time limit. Nothing but the small window arrays travels
back to the parent, so memory stays bounded by the windows, never by MIDI
objects; the parent keeps the cache. Workers die with the parent (a killed
``prepare`` leaves none behind holding its spill folder) and leave Ctrl-C to it.
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm import tqdm

from musicae.datasets.midi_cache import FileResult, content_digest
from musicae.errors import MusicaeError
from musicae.midi import compiled
from musicae.midi.notes import (
    Piece,
    UnusableMidi,
    default_reader,
    parse_midi,
    read_midi_file,
)
from musicae.representations.base import Representation
from musicae.representations.codec import batch_windows, piece_windows, pieces_windows

FILE_TIME_LIMIT_S = 60.0  # a file that takes longer is skipped, never waited on
TIME_LIMIT_REASON = "time limit"
INTERNAL_ERROR = "internal error"  # a bug met on a file; its traceback is not the user's
# Workers are forked on Linux (as torch's DataLoader does): they start at once
# and never re-import the caller's main script. They use numpy and mido only,
# so threads the parent may hold (torch's) do not matter to them.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
TASKS_PER_CHUNK = 1024  # most files a worker takes at once
BATCH_NOTES = 1 << 20  # notes batched together (about 100 MB of temporary arrays)
CHUNKS_PER_WORKER = 4  # keep workers busy while the slowest chunk finishes
CHUNKS_AHEAD = 2  # chunks submitted a worker, done or not, before the parent takes them
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MAX_MMAP_THRESHOLD = 32 << 20  # glibc's largest (64-bit): larger blocks are still mapped
PR_SET_PDEATHSIG = 1  # prctl option (<linux/prctl.h>): a signal for when the parent dies
_stopping = None  # in a worker: the parent's flag (a shared byte) to drop the chunk it has


class _FileTimeout(BaseException):
    """Raised inside a worker when a file runs past its time limit.

    A BaseException, so that no ``except Exception`` on the way (mido's errors
    are caught that way) mistakes it for a broken file.
    """


class _Stopped(Exception):
    """Raised in a worker whose parent no longer wants the chunk's results."""


@dataclass(frozen=True)
class Task:
    """One file to turn into windows."""

    path: str
    rep: Representation
    time_limit: float | None  # seconds; None: no limit


def default_workers() -> int:
    """All the cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``_FileTimeout`` in the body after ``seconds`` (POSIX main thread; else no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not seconds or not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def process_file(task: Task) -> FileResult:
    """A file's windows (or why it has none), with the digest of its bytes."""
    try:
        data, stat = read_midi_file(task.path)
    except UnusableMidi as exc:
        return FileResult(None, exc.reason, processed=True)
    result = _encode(data, content_digest(data), task)
    result.stat = stat
    return result


def process_chunk(tasks: list[Task]) -> list[FileResult]:
    """:func:`process_file` of several files of one representation at once, through the
    codec together, ``BATCH_NOTES`` notes at a time (one numpy call a step for all of
    them): read by the compiled reader where the kind needs no piece, else read into
    pieces one by one. A file the compiled reader refuses, or all of a batch that fails
    or runs past its time limit, goes on its own."""
    results: list[FileResult | None] = [None] * len(tasks)
    batch: list[tuple[int, str, compiled.Parsed | Piece]] = []  # (task, digest, notes)
    notes = 0
    columnar = bool(tasks) and tasks[0].rep.columnar and default_reader() == "symusic"
    stats: dict[int, tuple[int, int]] = {}
    for i, task in enumerate(tasks):
        if _stopping is not None and _stopping.value:
            raise _Stopped
        try:
            data, stats[i] = read_midi_file(task.path)
        except UnusableMidi as exc:
            results[i] = FileResult(None, exc.reason, processed=True)
            continue
        digest = content_digest(data)
        found = compiled.read_events(data) if columnar else _piece(data, digest, task)
        if found is None:  # the compiled reader refused it
            results[i] = _encode(data, digest, task)
            continue
        if isinstance(found, FileResult):
            results[i] = found
            continue
        batch.append((i, digest, found))
        notes += found.notes if columnar else len(found.notes)
        if notes >= BATCH_NOTES:
            _batch(tasks, batch, results)
            batch, notes = [], 0
    _batch(tasks, batch, results)
    for i, stat in stats.items():
        results[i].stat = results[i].stat or stat
    return results


def _batch(tasks: list[Task], batch: list[tuple[int, str, compiled.Parsed | Piece]],
           results: list[FileResult | None]) -> None:
    """The results of a batch of parsed files (or pieces)."""
    if not batch:
        return
    rep, limit = tasks[batch[0][0]].rep, tasks[batch[0][0]].time_limit
    found = [notes for _, _, notes in batch]
    paths = [tasks[i].path for i, _, _ in batch]
    windows = pieces_windows if isinstance(found[0], Piece) else batch_windows
    try:
        with time_limit(limit):  # a batch takes far less than one slow file alone
            outcomes = windows(found, rep, paths)
    except (_FileTimeout, Exception):  # each file then goes on its own, which names the error
        for i, _, _ in batch:
            results[i] = process_file(tasks[i])
        return
    for (i, digest, _), outcome in zip(batch, outcomes, strict=True):
        if outcome is None:  # a file that must be read into a piece first
            results[i] = process_file(tasks[i])
        elif isinstance(outcome, UnusableMidi):
            results[i] = FileResult(digest, outcome.reason, processed=True)
        else:
            results[i] = FileResult.of_windows(digest, outcome, processed=True)


def start_worker(parent: int, stopping: ctypes.c_byte) -> None:
    """Set up a worker process started by ``parent`` (a pid): it dies with it, leaves
    Ctrl-C to it (the parent stops the run and says so once; a worker would print its own
    traceback), gives up its chunk when ``stopping`` is set, and keeps the memory it frees.
    """
    global _stopping
    _stopping = stopping
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux") and set_death_signal(signal.SIGKILL):
        if os.getppid() != parent:  # it died before the kernel was told: no signal will come
            os._exit(1)
    else:
        threading.Thread(target=_exit_with_parent, daemon=True).start()
    keep_freed_memory()


def set_death_signal(signum: int) -> bool:
    """Have Linux send ``signum`` to this process when its parent dies; whether it could.

    The kernel takes the thread that started this process for its parent: should that
    thread end first, the signal comes then.
    """
    try:
        return ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl in this libc
        return False


def _exit_with_parent() -> None:
    """Wait for the parent process to end, then end this one (where the kernel cannot be
    asked to: not Linux)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def keep_freed_memory() -> None:
    """Let a worker's heap keep the memory it frees (glibc only; elsewhere nothing).

    glibc gives blocks over 128 KB back to the system on ``free`` and maps them
    again on the next ``malloc``, so every page of a batch's temporary arrays
    faults again batch after batch: about 40,000 page faults in a cold run over
    the folk corpus, a quarter of the workers' time on a virtual machine. A
    worker keeps its peak batch memory (``BATCH_NOTES``) until it exits instead.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * MAX_MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc
        pass


def cacheable(result: FileResult) -> bool:
    """Whether a result is the file's own: a timeout or a crash may not recur."""
    return result.reason not in (TIME_LIMIT_REASON, INTERNAL_ERROR)


def _encode(data: bytes, digest: str, task: Task) -> FileResult:
    """Parse and encode under the time limit; every failure becomes a reason."""
    piece = _piece(data, digest, task)
    if isinstance(piece, FileResult):
        return piece
    return _guarded(digest, task, lambda: FileResult.of_windows(
        digest, piece_windows(piece, task.rep, task.path), processed=True))


def _piece(data: bytes, digest: str, task: Task) -> Piece | FileResult:
    """A file's piece, parsed under the time limit, or why there is none."""
    return _guarded(digest, task, lambda: parse_midi(data, task.path, task.rep.steps_per_quarter))


def _guarded(digest: str, task: Task, make):
    """``make()`` under the task's time limit; every failure becomes a reason."""
    try:
        with time_limit(task.time_limit):
            return make()
    except UnusableMidi as exc:
        return FileResult(digest, exc.reason, processed=True)
    except _FileTimeout:
        return FileResult(digest, TIME_LIMIT_REASON, processed=True)
    except Exception as exc:  # a file must never stop a whole folder; the report names it
        return FileResult(digest, INTERNAL_ERROR, processed=True, detail=repr(exc)[:200])


def run_tasks(tasks: list[Task], workers: int, progress: bool) -> Iterator[FileResult]:
    """Results of every task, in order, as they come; in ``workers`` processes when that pays."""
    quiet = not (progress and tasks)
    with tqdm(total=len(tasks), unit="file", desc="prepare", disable=quiet) as bar:
        size = max(1, min(TASKS_PER_CHUNK, len(tasks) // (workers * CHUNKS_PER_WORKER)))
        chunks = [tasks[i : i + size] for i in range(0, len(tasks), size)]
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield from _advance(bar, process_chunk(chunk))
            return
        try:
            yield from _in_workers(chunks, workers, bar)
        except BrokenProcessPool as exc:
            raise MusicaeError(
                "a worker process died while preparing MIDI (out of memory?); "
                "try again with fewer workers"
            ) from exc


def _in_workers(chunks: list[list[Task]], workers: int, bar: tqdm) -> Iterator[FileResult]:
    """Results of ``chunks``, in order, from a pool of worker processes.

    Whatever ends the run early (Ctrl-C, an error while the caller stores results, the
    caller closing this generator) has the workers drop their chunks at their next file:
    a chunk may take a minute, and its results are no longer wanted. They are told, not
    killed: a worker killed while sending a result leaves the pool waiting for the rest.
    """
    context = multiprocessing.get_context(START_METHOD)
    stopping = context.RawValue(ctypes.c_byte, 0)  # no lock: one writer, set once
    pool = ProcessPoolExecutor(min(workers, len(chunks)), mp_context=context,
                               initializer=start_worker, initargs=(os.getpid(), stopping))
    try:
        # a few chunks ahead at most: results wait in order, and behind a slow
        # chunk (a file near its time limit) they would pile up in memory
        waiting = iter(chunks)
        with _ctrl_c_deferred():  # the first submit starts the workers
            running = deque(pool.submit(process_chunk, chunk)
                            for chunk in itertools.islice(waiting, workers * CHUNKS_AHEAD))
        while running:
            results = running.popleft().result()
            chunk = next(waiting, None)
            if chunk is not None:
                running.append(pool.submit(process_chunk, chunk))
            yield from _advance(bar, results)
        pool.shutdown()
    except BaseException:
        stopping.value = 1
        # waits for the pool's thread: left running, it races the interpreter's exit
        pool.shutdown(wait=True, cancel_futures=True)
        raise


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C in the body is raised when it ends (in the main thread, where Ctrl-C raises).

    One that comes while a pool forks its workers lands in Python's fork hooks, which
    print it and drop it (the run went on), or between the workers and the thread that
    feeds them (they would wait for work, and the interpreter for them, forever).
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _advance(bar: tqdm, results: list[FileResult]) -> list[FileResult]:
    bar.update(len(results))
    return results
