"""Folders of MIDI files → cached training windows, with a report of what was skipped and why.

``load_windows`` is what training reads: the windows of one split as numpy
arrays (torch enters later). ``prepare`` runs the same pipeline over the
whole folder and returns only the report (``musicae prepare``). Both go
through the cache (``midi_cache``): a second run reads it, and a new file is
the only one parsed. Parsing runs in worker processes (``midi_worker``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from musicae.datasets.midi_cache import FileResult, MidiCache, Pieces, default_cache_dir
from musicae.datasets.midi_report import (
    PrepareReport,
    build_report,
    pitch_range,
    printable,
    window_facts,
)
from musicae.datasets.midi_worker import (
    FILE_TIME_LIMIT_S,
    Task,
    cacheable,
    default_workers,
    run_tasks,
)
from musicae.errors import MusicaeError
from musicae.midi.notes import read_midi
from musicae.paths import DATA_DIR
from musicae.representations.base import Representation
from musicae.representations.codec import Rows, WindowArrays, piece_windows

FOLK = "folk"  # the bundled melody corpus
BUNDLED = (FOLK, "chorales", "groove", "pop909", "ensembles")  # bundled corpora (data/)
JOIN = "+"  # DATA of several folders: "pop909+chorales" trains on both
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
SPLITS = ("train", "valid", "test")
SPLIT_PERCENT = {"train": 90, "valid": 5, "test": 5}  # for folders without split subfolders
ALL = "all"
CHECKPOINT_SECONDS = 60.0  # how often a long run saves what it has done

@dataclass
class Windows(WindowArrays):
    """The windows of a split, ready for a model.

    arrays: named arrays, one row per window (see ``WindowArrays``), memory-mapped
        from the cache where it can, tokens in the representation's compact
        dtype; ``file_index`` (n,) int32 indexes ``files``
    """

    arrays: dict[str, np.ndarray]
    paths: list[str]  # the split's files
    rep: Representation
    report: PrepareReport

    @property
    def files(self) -> list[Path]:
        return [Path(p) for p in self.paths]

    @property
    def mask(self) -> np.ndarray:
        """(n, bars * slot) bool, True on real steps (see ``representations.slots``)."""
        return self.rep.mask(self.lengths)

    @property
    def file_index(self) -> np.ndarray:
        return self.arrays["file_index"]


def bundled(name: str = FOLK) -> Path:
    """Where a bundled corpus lives: ``<repo>/data/<name>`` (see ``musicae.paths``)."""
    return DATA_DIR / name


def bundled_folk() -> Path:
    """Where the bundled folk corpus lives: ``<repo>/data/folk``."""
    return bundled(FOLK)


def resolve_data(data: str | os.PathLike) -> Path:
    """A folder of MIDI files from a path or a bundled corpus name (see ``BUNDLED``)."""
    if str(data) in BUNDLED and not Path(data).exists():
        folder = bundled(str(data))
        if not folder.is_dir():
            raise MusicaeError(f"{data}: bundled corpus not found at {folder}")
        return folder
    folder = Path(data).expanduser()
    if not folder.exists():
        raise MusicaeError(f"{data}: no such folder")
    if not folder.is_dir():
        raise MusicaeError(f"{data}: not a folder")
    return folder


def data_parts(data: str | os.PathLike) -> list[str]:
    """The folders (or bundled names) of a DATA argument: several joined by ``+``
    ("pop909+chorales+groove"), where no folder of that whole name exists."""
    text = str(data)
    if JOIN in text and not Path(text).expanduser().exists():
        return [part for part in text.split(JOIN) if part] or [text]
    return [text]


def list_midi(root: Path) -> list[Path]:
    """Every MIDI file under ``root`` (hidden folders skipped), sorted by relative path."""
    return [Path(path) for path in _walk_midi(Path(root), stat=False)[0].paths]


@dataclass
class Listing:
    """The MIDI files a folder walk found, sorted by relative path.

    relative: posix paths under the root (the manifest's keys, the split's hash);
    stats: (size, mtime_ns) of each, None for a file that cannot be stat'ed; None
    when the walk took none. Plain lists, not an object a file: 10,000 objects cost
    more than their stats.
    """

    root: str
    relative: list[str]
    stats: list[tuple[int, int] | None] | None = None

    @property
    def paths(self) -> list[str]:
        prefix = os.path.join(self.root, "")
        return [prefix + name for name in self.relative]

    def take(self, index: list[int]) -> Listing:
        stats = self.stats
        return Listing(self.root, [self.relative[i] for i in index],
                       None if stats is None else [stats[i] for i in index])


def _walk_midi(root: Path, stat: bool = True) -> tuple[Listing, dict[str, str]]:
    """Every MIDI file under ``root``, sorted by relative path (hidden folders skipped), and
    the folders not read: relative path → reason.

    Files are stat'ed (``stat=True``) once sorted. Symlinked folders are not
    followed (they would rename files, moving them between hash splits, or walk out
    of the tree); they are reported, as are folders that cannot be listed.
    """
    found: list[str] = []
    skipped: dict[str, str] = {}
    folders = [(os.fspath(root), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError as error:
            skipped[printable(prefix.rstrip("/") or ".")] = \
                (error.strerror or type(error).__name__).lower()
            continue
        for entry in listed:
            name = entry.name
            try:
                is_folder = entry.is_dir()
            except OSError:
                is_folder = False
            if not is_folder:
                if name.lower().endswith(MIDI_SUFFIXES):
                    found.append(prefix + name)
            elif name.startswith("."):
                continue
            elif entry.is_symlink():
                skipped[printable(prefix + name)] = "symlinked folder, not followed"
            else:
                folders.append((entry.path, prefix + name + "/"))
    found.sort()
    listing = Listing(os.fspath(root), found)
    if stat:
        listing.stats = _stats(listing.paths)
    return listing, dict(sorted(skipped.items()))


def _stats(paths: list[str]) -> list[tuple[int, int] | None]:
    """(size, mtime_ns) of each file (links followed), None for one that cannot be stat'ed."""
    stats: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stats.append(None)
        else:
            stats.append((info.st_size, info.st_mtime_ns))
    return stats


def split_files(root: str | os.PathLike) -> dict[str, list[Path]]:
    """Files of each split: ``train``/``valid``/``test`` subfolders if there are any,
    else a fixed split by a hash of each relative path (90/5/5); ``all`` holds every file.
    """
    splits, _ = _splits(Path(root), stat=False)
    return {name: [Path(path) for path in found.paths] for name, found in splits.items()}


def _splits(root: Path, only: str | None = None, stat: bool = True
            ) -> tuple[dict[str, Listing], dict[str, str]]:
    """:func:`split_files` as listings (with stats), and the folders that could not be
    listed (see :func:`_walk_midi`); ``only="all"`` skips the split."""
    files, skipped_folders = _walk_midi(root, stat)
    if only == ALL:
        return {ALL: files}, skipped_folders
    index: dict[str, list[int]] = {name: [] for name in SPLITS}
    by_folder = any((root / name).is_dir() for name in SPLITS)
    for i, relative in enumerate(files.relative):
        if by_folder:
            top, _, rest = relative.partition("/")
            if top in index and rest:
                index[top].append(i)
        else:
            index[_hash_split(relative)].append(i)
    splits = {name: files.take(found) for name, found in index.items()}
    splits[ALL] = files
    return splits, skipped_folders


def _hash_split(relative: str) -> str:
    """The split of a file, fixed by its relative path."""
    name = relative.encode("utf-8", "surrogateescape")  # names need not be UTF-8
    bucket = int(hashlib.blake2b(name, digest_size=8).hexdigest(), 16) % 100
    for name in SPLITS:
        if bucket < SPLIT_PERCENT[name]:
            return name
        bucket -= SPLIT_PERCENT[name]
    return SPLITS[-1]


def prepare(
    data: str | os.PathLike,
    rep: Representation,
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    time_limit: float | None = FILE_TIME_LIMIT_S,
) -> PrepareReport:
    """Prepare (and cache) every file of a folder (or of several joined by ``+``); the
    report of what it yields.

    Raises
    ------
    MusicaeError
        ``"<folder>: no usable windows (N files: reasons)"`` when nothing is usable.
    """
    reports = [load_windows(part, rep, ALL, workers, cache_dir, progress, time_limit).report
               for part in data_parts(data)]
    return reports[0] if len(reports) == 1 else PrepareReport.joined(str(data), reports)


def load_windows(
    data: str | os.PathLike,
    rep: Representation,
    split: str = "train",
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    time_limit: float | None = FILE_TIME_LIMIT_S,
    allow_empty: bool = False,
) -> Windows:
    """The windows of one split of a folder, from the cache where it can.

    Parameters
    ----------
    data : str or os.PathLike
        A folder of MIDI files, or ``"folk"``.
    split : str
        ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.
    workers : int, optional
        Worker processes; all cores by default.
    cache_dir : str or os.PathLike, optional
        Cache directory; by default ``$MUSICAE_CACHE`` or the user cache.
    time_limit : float, optional
        Seconds one file may take before it is skipped.
    allow_empty : bool
        Return an empty split instead of raising (e.g. a small folder's ``valid``).
    """
    started = time.perf_counter()
    root = resolve_data(data)
    if split not in (ALL, *SPLITS):
        raise MusicaeError(f"{split}: unknown split (one of {', '.join((*SPLITS, ALL))})")
    cache = MidiCache(Path(cache_dir) if cache_dir is not None else default_cache_dir(), rep)
    with _no_collection():
        # a folder never seen has no stats to compare: the workers take them as they read
        splits, skipped_folders = _splits(root, split, stat=cache.has_manifest(root))
        chosen = splits[split]
        windows = _build(root, split, chosen, rep, workers, cache, progress, time_limit)
    windows.report.skipped_folders = skipped_folders
    windows.report.seconds = round(time.perf_counter() - started, 4)  # the walk included
    if not len(windows) and not allow_empty:
        raise MusicaeError(_nothing_usable(root, split, windows.report))
    return windows


@contextmanager
def _no_collection() -> Iterator[None]:
    """No garbage collection while a folder's bookkeeping is made: a few objects per
    file and no cycles, but collections triggered by the many allocations traversed
    them again and again (about 45% of a cached 10,000-file run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _nothing_usable(root: Path, split: str, report: PrepareReport) -> str:
    where = str(root) if split == ALL else f"{root} [{split}]"
    folders = "".join(f"; folder {name}: {reason}"
                      for name, reason in list(report.skipped_folders.items())[:3])
    if not report.files_seen:
        return (f"{where}: no usable windows (no MIDI files: {', '.join(MIDI_SUFFIXES)}"
                f"{folders})")
    reasons = ", ".join(f"{count} {reason}" for reason, count in report.skipped.items())
    return f"{where}: no usable windows ({report.files_seen} files: {reasons}{folders})"


def _build(
    root: Path,
    split: str,
    found: Listing,
    rep: Representation,
    workers: int | None,
    cache: MidiCache,
    progress: bool,
    time_limit: float | None,
) -> Windows:
    """Cached results where the cache has them, workers for the rest, then one array set.

    A split the cache holds unchanged is served memory-mapped, without a copy;
    a changed one is stored and then mapped, so training holds no copy of its
    windows either way. Progress is saved every ``CHECKPOINT_SECONDS``, so an
    interrupted run on a large folder resumes where it stopped.
    """
    started = time.perf_counter()
    names, files = found.relative, found.paths
    stats = found.stats or [None] * len(names)
    listing = _listing(names, stats)
    unchanged = cache.load_unchanged(root, split, listing) if listing else None
    try:
        report = PrepareReport.from_dict(unchanged[2]) if unchanged else None
    except (TypeError, KeyError, ValueError):  # a report of another version: make it again
        report = None
    if unchanged is not None and report is not None:  # the files of the last whole run
        mapped, bounds, _ = unchanged
        report.files_parsed, report.files_cached = 0, report.files_seen
        arrays = mapped | {"file_index": _file_index(np.diff(bounds))}
        return Windows(arrays, list(files), rep, report)
    stats = list(stats)
    results, stored, mapped = _from_cache(cache, root, split, names, stats)
    todo = [i for i, result in enumerate(results) if result is None]
    tasks = [Task(files[i], rep, time_limit) for i in todo]
    done = run_tasks(tasks, workers or default_workers(), progress)
    # closed on the way out: a run that stops early (Ctrl-C) stops its workers at once
    with cache.spilling(root, split) as spill, closing(done):
        saved = time.monotonic()
        for i, result in zip(todo, done, strict=True):
            results[i] = result
            stats[i] = result.stat or stats[i]  # of the bytes read (the walk may have none)
            spill.hold(result)
            if time.monotonic() - saved > CHECKPOINT_SECONDS:
                _save(cache, root, split, names, stats, results, _pieces(results, rep))
                saved = time.monotonic()
        spill.flush()
        listing = _listing(names, stats)
        changed = bool(todo or stored != [r.digest for r in results] or not mapped or listing)
        pieces = _pieces(results, rep) if changed else [(mapped, 0, len(mapped["tokens"]))]
        tokens = [(arrays["tokens"], lo, hi) for arrays, lo, hi in pieces]
        report = build_report(root, split, rep, files, results, time.perf_counter() - started,
                              pitch_range(rep, tokens), window_facts(rep, pieces))
        if changed:
            # whole: every result is the file's own, read (a file unreadable today may not
            # be tomorrow, with the same size and time)
            whole = listing if all(cacheable(r) and r.digest for r in results) else None
            mapped = _save(cache, root, split, names, stats, results, pieces,
                           whole, report.to_dict() if whole else None)
    counts = [r.windows for r in results]
    return Windows(mapped | {"file_index": _file_index(counts)}, list(files), rep, report)


def _listing(names: list[str], stats: list[tuple[int, int] | None]) -> str | None:
    """A digest of which files a split has, with their sizes and times; None when a file
    could not be stat'ed."""
    if None in stats:
        return None
    digest = hashlib.blake2b("\0".join(names).encode("utf-8", "surrogateescape"),
                             digest_size=16)
    digest.update(np.fromiter(chain.from_iterable(stats), np.int64, 2 * len(stats)).tobytes())
    return digest.hexdigest()


def _from_cache(
    cache: MidiCache, root: Path, split: str, names: list[str], stats: list
) -> tuple[list[FileResult | None], list[str | None], dict[str, np.ndarray]]:
    """Results of files whose content is known (by size and mtime) and cached; None elsewhere.

    Also returns the digests the split's cached set was made from, to tell
    whether anything changed, and that set's memory-mapped arrays. Other
    splits' sets are read only when this one lacks a known file.
    """
    manifest = cache.load_manifest(root)
    digests = [
        _known_digest(manifest.get(name), stat) for name, stat in zip(names, stats, strict=True)
    ]
    stored, known, mapped = cache.load_set(root, split)
    if any(d is not None and d not in known for d in digests):
        for other in (ALL, *SPLITS):
            if other != split:
                known = cache.load_set(root, other)[1] | known
    found = [known.get(digest) if digest else None for digest in digests]
    return [r if r is not None and cacheable(r) else None for r in found], stored, mapped


def _known_digest(entry: list | None, stat: tuple[int, int] | None) -> str | None:
    """The manifest's digest of a file, if its size and mtime are unchanged."""
    return entry[2] if entry and stat and tuple(entry[:2]) == stat else None


def _save(
    cache: MidiCache,
    root: Path,
    split: str,
    names: list[str],
    stats: list,
    results: list[FileResult | None],
    pieces: Pieces,
    listing: str | None = None,
    report: dict | None = None,
) -> dict[str, np.ndarray]:
    """Keep the split's results (those done so far) and each file's digest by size and
    mtime; with the ``listing`` and ``report`` of a whole split (see ``save_set``).

    Returns the stored arrays, memory-mapped.
    """
    done = [r for r in results if r is not None]
    mapped = cache.save_set(root, split, done, pieces, listing, report)
    manifest = cache.load_manifest(root)
    manifest.update((name, [*stat, result.digest]) for name, stat, result
                    in zip(names, stats, results, strict=True)
                    if stat is not None and result is not None and result.digest is not None)
    cache.save_manifest(root, manifest)
    return mapped


def _pieces(results: list[FileResult | None], rep: Representation) -> Pieces:
    """The rows of every file in file order, as (arrays, first row, end row) slices, the
    first naming the arrays (no rows); files not done yet (None) have none.

    Neighbouring files whose rows follow each other in one set of arrays (a batch from
    a worker, or the cache) are taken as one slice.
    """
    pieces: list[list] = [[rep.empty(), 0, 0]]  # [arrays, start, stop]
    for result in results:
        if result is None or not result.windows:
            continue
        arrays = result.arrays
        if isinstance(arrays, Rows):
            last = pieces[-1]
            if last[0] is arrays.source and last[2] == arrays.start:
                last[2] += arrays.rows
            else:
                pieces.append([arrays.source, arrays.start, arrays.start + arrays.rows])
        else:
            pieces.append([arrays, 0, len(arrays["tokens"])])
    return [tuple(piece) for piece in pieces]


def _file_index(counts: list[int] | np.ndarray) -> np.ndarray:
    """The file of each window, from each file's number of windows: (windows,) int32."""
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


def windows_from_file(path: str | os.PathLike, rep: Representation) -> Windows:
    """The windows of one MIDI file (for ``reconstruct`` and ``interpolate``), uncached.

    Raises
    ------
    MusicaeError
        ``"<file>: <reason>"`` for a missing or non-MIDI file, no notes of the
        representation's kind, fewer bars than a window, and so on.
    """
    path = Path(path)
    if not path.exists():
        raise MusicaeError(f"{path}: no such file")  # else the reader says what it is
    started = time.perf_counter()
    found = piece_windows(read_midi(path, rep.steps_per_quarter), rep, path)
    result = FileResult.of_windows("", found, processed=True)
    arrays = dict(found.arrays) | {"file_index": _file_index([result.windows])}
    report = build_report(path.parent, ALL, rep, [path], [result], time.perf_counter() - started,
                          pitch_range(rep, [(arrays["tokens"], 0, result.windows)]),
                          window_facts(rep, [(arrays, 0, result.windows)]))
    return Windows(arrays, [str(path)], rep, report)
