"""The on-disk cache of prepared MIDI windows.

Layout under the cache directory (default ``~/.cache/musicae``)::

    midi/manifests/<folder>.json                path → (size, mtime, content digest)
    midi/<settings key>/sets/<folder>-<split>/  a split's windows, file by file

Results are keyed by file content (its digest) and representation settings: the
manifest finds a file's digest by ``stat`` alone, and the split file holds
every file's windows (or why it has none) by digest, so a second run loads
it in one read, and a renamed or new file is the only one parsed. One file per
split rather than one per MIDI file: creating many small files costs more
than parsing them on busy disks. Arrays are saved as .npy files and memory-mapped
on reading, so a split larger than memory trains in bounded memory; metadata
is JSON: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from musicae.errors import MusicaeError
from musicae.representations.base import Representation
from musicae.representations.codec import FileWindows, Rows

CACHE_ENV = "MUSICAE_CACHE"  # overrides the cache directory
XDG_ENV = "XDG_CACHE_HOME"
APP_DIR = "musicae"
MIDI_DIR = "midi"
DIGEST_BYTES = 16


def default_cache_dir() -> Path:
    """``$MUSICAE_CACHE``, else ``$XDG_CACHE_HOME/musicae``, else ``~/.cache/musicae``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get(XDG_ENV) or Path.home() / ".cache"
    return Path(base).expanduser() / APP_DIR


def content_digest(data: bytes) -> str:
    """The cache key of a file's bytes (hex)."""
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=DIGEST_BYTES).hexdigest()


@dataclass
class FileResult:
    """What one file yields: windows (possibly none) and why it was skipped, if it was.

    arrays: named arrays, one row per window (``tokens``, ``steps_per_bar``,
    ``meter``, and whatever else the representation stores), or None.
    """

    digest: str | None
    reason: str | None = None
    arrays: Mapping[str, np.ndarray] | None = None
    bars_skipped: dict[str, int] = field(default_factory=dict)
    windows_by_meter: dict[str, int] = field(default_factory=dict)  # the file's meters
    processed: bool = False  # parsed in this run rather than found in the cache
    detail: str = ""  # more on an internal error, shown in reports (not cached)
    stat: tuple[int, int] | None = None  # (size, mtime_ns) of the bytes read (not cached)

    @classmethod
    def of_windows(cls, digest: str, windows: FileWindows, processed: bool = False
                   ) -> FileResult:
        """A usable file's result."""
        return cls(digest, None, windows.arrays, windows.bars_skipped,
                   windows.windows_by_meter, processed)

    def __reduce__(self) -> tuple:
        """Pickled by position: the parent unpickles every file's result, in half the time."""
        return FileResult, (self.digest, self.reason, self.arrays, self.bars_skipped,
                            self.windows_by_meter, self.processed, self.detail, self.stat)

    @property
    def windows(self) -> int:
        """Number of windows."""
        if self.arrays is None:
            return 0
        return self.arrays.rows if isinstance(self.arrays, Rows) else len(self.arrays["tokens"])


RECORD_FIELDS = ("digest", "reason", "bars_skipped", "windows_by_meter")  # a result's JSON part


Pieces = list[tuple[Mapping[str, np.ndarray], int, int]]  # (arrays, first row, end row)
SPILL_BYTES = 1 << 28  # windows a run holds in memory before it keeps further batches on disk
SPILL_PREFIX = ".spill-"
GROUP_FILES_WINDOWS = 1 << 14  # windows of files made one by one kept on disk together
LOCK_NAME = ".lock"
SPILL_SWEEP_AGE_S = 60.0  # a spill folder younger than this is never taken for a dead run's


class Spilled:
    """An array kept in a file, read a slice at a time when the split is written (read,
    not mapped, so that the pages read are not kept)."""

    def __init__(self, path: Path, array: np.ndarray) -> None:
        self.path, self.dtype, self.shape = path, array.dtype, array.shape
        np.ascontiguousarray(array).tofile(path)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.shape[0])
        per_row = math.prod(self.shape[1:])
        with open(self.path, "rb") as handle:
            handle.seek(lo * per_row * self.dtype.itemsize)
            found = np.fromfile(handle, self.dtype, max(hi - lo, 0) * per_row)
        return found.reshape(-1, *self.shape[1:])


class Spill:
    """Keeps a run's batches of windows on disk once it holds ``SPILL_BYTES`` of them, so
    that preparing a folder of any size holds a bounded part of its windows in memory.

    A batch's files share one dict of arrays (``Rows.source``); its arrays are replaced
    there by ``Spilled`` ones, in a folder removed when the run ends.
    """

    def __init__(self, folder: Path, cache: Path) -> None:
        self.folder, self.cache, self.held, self.count = folder, cache, 0, 0
        self.seen: set[int] = set()  # batches counted (results referring to them live on)
        self.pending: list[FileResult] = []  # files made one by one, past the limit
        self.pending_windows = 0

    def hold(self, result: FileResult) -> None:
        """Count a worker's result; keep its batch on disk past the limit (the arrays of
        files made one by one, a group of them at a time)."""
        arrays = result.arrays
        if isinstance(arrays, Rows):  # a batch: counted once, by its shared dict
            if id(arrays.source) in self.seen:
                return
            self.seen.add(id(arrays.source))
            self.held += sum(array.nbytes for array in arrays.source.values())
            if self.held > SPILL_BYTES:
                self._spill(arrays.source)
        elif arrays is not None:  # a file's own arrays (its dict may go, and its id return)
            self.held += sum(array.nbytes for array in arrays.values())
            if self.held > SPILL_BYTES:
                self.pending.append(result)
                self.pending_windows += result.windows
                if self.pending_windows >= GROUP_FILES_WINDOWS:
                    self.flush()

    def flush(self) -> None:
        """Keep the pending files' arrays on disk, as one batch they all refer to."""
        if not self.pending:
            return
        counts = np.cumsum([0] + [r.windows for r in self.pending]).tolist()
        source = {name: np.concatenate([r.arrays[name] for r in self.pending])
                  for name in self.pending[0].arrays}
        for result, lo, hi in zip(self.pending, counts, counts[1:], strict=False):
            result.arrays = Rows(source, lo, hi)
        self.pending, self.pending_windows = [], 0
        self._spill(source)

    def _spill(self, source: dict) -> None:
        with _writing(self.cache):
            for name, array in list(source.items()):
                source[name] = Spilled(self.folder / f"{self.count}.{name}", array)
        self.count += 1


def _atomic_save_npy(path: Path, parts: list[tuple[np.ndarray | Spilled, int, int]]) -> None:
    """Write rows ``[lo, hi)`` of each (array, lo, hi) part one after another as one .npy,
    as ``np.concatenate`` would make them but a part at a time (a piano-roll split is
    gigabytes; a spilled part is read only when written), so that readers never see
    half a file."""
    dtype = np.result_type(*(array.dtype for array, _, _ in parts))
    shapes = {array.shape[1:] for array, _, _ in parts}
    if len(shapes) != 1:
        raise ValueError(f"{path.name}: rows of different shapes {sorted(shapes)}")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (sum(hi - lo for _, lo, hi in parts), *shapes.pop())}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for array, lo, hi in parts:
                rows = np.ascontiguousarray(array[lo:hi], dtype=dtype)
                if rows.size:
                    handle.write(memoryview(rows).cast("B"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk: no partial file left behind


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (an OS file lock, released however its
    holder exits)."""
    with FileLock(folder / LOCK_NAME):
        yield


def _open_npy(path: Path) -> np.ndarray:
    """A stored array, memory-mapped (read-only), as a plain ndarray view of the mapping:
    slicing that costs a tenth of slicing a ``np.memmap``."""
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))


class MidiCache:
    """Manifests and split files for one representation under one cache directory."""

    def __init__(self, cache_dir: Path, rep: Representation) -> None:
        self.root = Path(cache_dir) / MIDI_DIR
        self.settings_dir = self.root / rep.key()
        try:
            self.settings_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MusicaeError(f"{cache_dir}: cannot create cache folder ({exc.strerror})") from exc

    # --- manifests: which digest a path had, by size and mtime --------------

    def _manifest_path(self, folder: Path) -> Path:
        return self.root / "manifests" / f"{_text_digest(str(folder.resolve()))}.json"

    def has_manifest(self, folder: Path) -> bool:
        """Whether a run on ``folder`` was recorded (so that stats can find its files)."""
        return self._manifest_path(folder).is_file()

    def load_manifest(self, folder: Path) -> dict[str, list]:
        """Relative path → [size, mtime_ns, digest] from the last run on ``folder``."""
        try:
            return json.loads(self._manifest_path(folder).read_text())
        except (OSError, ValueError):
            return {}

    def save_manifest(self, folder: Path, manifest: dict[str, list]) -> None:
        """Record the digests of this run's files."""
        with _writing(self.root):
            _atomic_write_text(self._manifest_path(folder), _json(manifest))

    # --- split files: every window of a split, memory-mapped ------------------
    # A split is a folder: ``index.json`` names a stamp, the listing the split was
    # made from and its report; ``<stamp>.records.json`` holds each file's digest and
    # record; ``<stamp>.<name>.npy`` are its arrays, rows in file order (``bounds``:
    # the first row of each file). A new version is written under a new stamp before
    # the index points to it, so a reader never mixes two versions, and a reader
    # that mapped the old files keeps them.

    def _set_dir(self, folder: Path, split: str) -> Path:
        name = _text_digest(str(folder.resolve()))
        return self.settings_dir / "sets" / f"{name}-{split}"

    def _load_index(self, where: Path) -> tuple[dict, dict[str, np.ndarray], np.ndarray]:
        """A split's index, its arrays and bounds (memory-mapped); raises when unreadable
        or inconsistent."""
        info = json.loads((where / "index.json").read_text())
        arrays = {name: _open_npy(where / f"{info['stamp']}.{name}.npy")
                  for name in info["arrays"]}
        bounds = _open_npy(where / f"{info['stamp']}.bounds.npy")  # (files + 1,)
        if any(len(v) != bounds[-1] for v in arrays.values()):
            raise ValueError("arrays and bounds disagree")
        return info, arrays, bounds

    @contextmanager
    def spilling(self, folder: Path, split: str) -> Iterator[Spill]:
        """A :class:`Spill` for one run on a split; its files go when the run ends (and
        those of runs that were killed, when the next one starts)."""
        where = self._set_dir(folder, split)
        for stale in where.glob(f"{SPILL_PREFIX}*") if where.is_dir() else ():
            # its run ended without removing it (a folder just made is left alone: its
            # run may not hold the lock yet)
            if _age(stale) > SPILL_SWEEP_AGE_S and _unlocked(stale / LOCK_NAME):
                shutil.rmtree(stale, ignore_errors=True)
        spill = Spill(where / f"{SPILL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}", self.root)
        with _writing(self.root):
            spill.folder.mkdir(parents=True)
        with _locked(spill.folder):  # held while the run lives, whatever its pid
            try:
                yield spill
            finally:
                shutil.rmtree(spill.folder, ignore_errors=True)

    def load_unchanged(self, folder: Path, split: str, listing: str
                       ) -> tuple[dict[str, np.ndarray], np.ndarray, dict] | None:
        """The split's arrays, bounds and report if it was made whole from exactly this
        ``listing`` (see ``midi._listing``); None otherwise. Reads no per-file record."""
        try:
            info, arrays, bounds = self._load_index(self._set_dir(folder, split))
            if info.get("listing") != listing or not isinstance(info.get("report"), dict):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return arrays, bounds, info["report"]

    def load_set(self, folder: Path, split: str) -> tuple[list, dict[str, FileResult], dict]:
        """The last run of this split: its files' digests in order, digest → result, and
        the split's arrays (memory-mapped; rows of every file in order).

        All are empty when there is no readable split.
        """
        where = self._set_dir(folder, split)
        try:
            info, arrays, bounds = self._load_index(where)
            stored = json.loads((where / f"{info['stamp']}.records.json").read_text())
            columns = [stored[name] for name in RECORD_FIELDS]
            if any(len(column) != len(bounds) - 1 for column in columns):
                return [], {}, {}
        except (OSError, ValueError, KeyError, TypeError):
            return [], {}, {}
        results = {}
        starts = bounds.tolist()
        for i, (digest, reason, bars_skipped, by_meter) in enumerate(zip(*columns, strict=True)):
            if digest is not None:
                usable = reason is None
                results[digest] = FileResult(
                    digest, reason, Rows(arrays, starts[i], starts[i + 1]) if usable else None,
                    bars_skipped, by_meter)
        return columns[0], results, arrays

    def save_set(self, folder: Path, split: str, results: list[FileResult], pieces: Pieces,
                 listing: str | None = None, report: dict | None = None
                 ) -> dict[str, np.ndarray]:
        """Keep a split: its arrays (every file's rows, in order: the rows of ``pieces``
        one after another, the first piece naming the arrays) and each file's record;
        with the ``listing`` and ``report`` of a whole split, which a later run with the
        same listing takes as they are (:meth:`load_unchanged`).

        Returns the arrays as stored, memory-mapped, so the caller can let go of
        its own copies.
        """
        with _writing(self.root):
            return self._save_set(folder, split, results, pieces, listing, report)

    def _save_set(self, folder: Path, split: str, results: list[FileResult], pieces: Pieces,
                  listing: str | None, report: dict | None) -> dict[str, np.ndarray]:
        where = self._set_dir(folder, split)
        where.mkdir(parents=True, exist_ok=True)
        stamp = f"{os.getpid()}-{os.urandom(4).hex()}"
        bounds = np.concatenate([[0], np.cumsum([r.windows for r in results])]).astype(np.int64)
        names = list(pieces[0][0])
        info = {"stamp": stamp, "arrays": sorted(names), "listing": listing, "report": report}
        records = {name: [getattr(r, name) for r in results] for name in RECORD_FIELDS}
        with _locked(where):  # one writer at a time per split
            for name in names:
                _atomic_save_npy(where / f"{stamp}.{name}.npy",
                                 [(arrays[name], lo, hi) for arrays, lo, hi in pieces])
            _atomic_save_npy(where / f"{stamp}.bounds.npy", [(bounds, 0, len(bounds))])
            _atomic_write_text(where / f"{stamp}.records.json", _json(records))
            _atomic_write_text(where / "index.json", json.dumps(info))
            for old in where.iterdir():
                if not old.name.startswith((f"{stamp}.", ".")) and old.name != "index.json":
                    old.unlink(missing_ok=True)  # a reader that mapped it keeps its pages
                elif old.name.startswith(".") and old.name.endswith(".tmp"):
                    old.unlink(missing_ok=True)  # a killed writer's (writers hold the lock)
            return {name: _open_npy(where / f"{stamp}.{name}.npy") for name in names}


def _json(value: object) -> str:
    """Compact JSON of a large plain value (no cycles to look for: a fifth faster)."""
    return json.dumps(value, check_circular=False, separators=(",", ":"))


@contextmanager
def _writing(cache: Path) -> Iterator[None]:
    """A cache that cannot be written to is the user's one-line error."""
    try:
        yield
    except OSError as exc:
        raise MusicaeError(f"{cache.parent}: cannot write to the cache folder "
                           f"({exc.strerror or exc}); give another with --cache") from exc


def _age(path: Path) -> float:
    """Seconds since ``path`` last changed (0 when it cannot be told)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _unlocked(lock: Path) -> bool:
    """Whether no process holds ``lock`` (see ``_locked``); False when it cannot be told
    (no lock file)."""
    if not lock.is_file():
        return False
    try:
        with FileLock(lock, timeout=0):
            return True
    except (Timeout, OSError):
        return False
