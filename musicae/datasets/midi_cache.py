"""The on-disk cache of prepared MIDI windows.

Layout under the cache directory (default ``~/.cache/musicae``)::

    midi/manifests/<folder>.json                path → (size, mtime, content digest)
    midi/<codec key>/sets/<folder>-<split>.npz  a split's windows, file by file

Results are keyed by file content (its digest) and codec settings: the
manifest finds a file's digest by ``stat`` alone, and the split file holds
every file's windows (or why it has none) by digest, so a second run loads
it in one read, and a renamed or new file is the only one parsed. One file per
split rather than one per MIDI file: creating many small files costs more
than parsing them on busy disks. Arrays are saved with numpy, metadata as
JSON: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicae.errors import MusicaeError
from musicae.representations.codec import FileWindows
from musicae.representations.config import CodecConfig

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

    tokens: (n, steps[, pitches]); steps_per_bar: (n,) int16; meter: (n, 2) int16.
    """

    digest: str | None
    reason: str | None = None
    tokens: np.ndarray | None = None
    steps_per_bar: np.ndarray | None = None
    meter: np.ndarray | None = None
    bars_skipped: dict[str, int] = field(default_factory=dict)
    windows_by_meter: dict[str, int] = field(default_factory=dict)  # the file's meters
    pitch: tuple[int, int] | None = None  # lowest and highest pitch in its windows
    processed: bool = False  # parsed in this run rather than found in the cache
    detail: str = ""  # more on an internal error, shown in reports (not cached)

    @classmethod
    def of_windows(cls, digest: str, windows: FileWindows, pitch: tuple | None) -> FileResult:
        """A usable file's result."""
        return cls(
            digest, None, windows.tokens, windows.steps_per_bar, windows.meter,
            windows.bars_skipped, windows.windows_by_meter, pitch,
        )  # fmt: skip

    @property
    def windows(self) -> int:
        """Number of windows."""
        return 0 if self.tokens is None else len(self.tokens)

    def record(self) -> dict:
        """The JSON part: everything but the arrays."""
        pitch = list(self.pitch) if self.pitch else None
        return {
            "reason": self.reason,
            "bars_skipped": self.bars_skipped,
            "windows_by_meter": self.windows_by_meter,
            "pitch": pitch,
        }


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz so that readers never see half a file.

    The zip is built in memory and written at once: zipfile's many small
    writes to disk cost ten times more than the encoding itself.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getbuffer())
    os.replace(tmp, path)


def _json_array(value: object) -> np.ndarray:
    return np.array(json.dumps(value))


class MidiCache:
    """Manifests and split files for one codec under one cache directory."""

    def __init__(self, cache_dir: Path, cfg: CodecConfig) -> None:
        self.root = Path(cache_dir) / MIDI_DIR
        self.codec_dir = self.root / cfg.key()
        try:
            self.codec_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MusicaeError(f"{cache_dir}: cannot create cache folder ({exc.strerror})") from exc

    # --- manifests: which digest a path had, by size and mtime --------------

    def _manifest_path(self, folder: Path) -> Path:
        return self.root / "manifests" / f"{_text_digest(str(folder.resolve()))}.json"

    def load_manifest(self, folder: Path) -> dict[str, list]:
        """Relative path → [size, mtime_ns, digest] from the last run on ``folder``."""
        try:
            return json.loads(self._manifest_path(folder).read_text())
        except (OSError, ValueError):
            return {}

    def save_manifest(self, folder: Path, manifest: dict[str, list]) -> None:
        """Record the digests of this run's files."""
        path = self._manifest_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, path)

    # --- split files: every window of a split in one read --------------------

    def _set_path(self, folder: Path, split: str) -> Path:
        name = _text_digest(str(folder.resolve()))
        return self.codec_dir / "sets" / f"{name}-{split}.npz"

    def load_set(self, folder: Path, split: str) -> tuple[list, dict[str, FileResult]]:
        """The last run of this split: its files' digests in order, and digest → result.

        Both are empty when there is no readable split file.
        """
        try:
            with np.load(self._set_path(folder, split)) as stored:
                info = json.loads(str(stored["info"]))
                arrays = {k: stored[k] for k in ("tokens", "steps_per_bar", "meter")}
                bounds = stored["bounds"]  # (files + 1,) first row of each file
        except (OSError, ValueError, KeyError):
            return [], {}
        results = {}
        for i, (digest, record) in enumerate(zip(info["digests"], info["records"], strict=True)):
            if digest is not None:
                rows = slice(bounds[i], bounds[i + 1])
                results[digest] = _result(digest, record, {k: v[rows] for k, v in arrays.items()})
        return info["digests"], results

    def save_set(self, folder: Path, split: str, results: list[FileResult], arrays: dict) -> None:
        """Keep a split: ``arrays`` (every file's rows, in order) and each file's record."""
        counts = [r.windows for r in results]
        info = {"digests": [r.digest for r in results], "records": [r.record() for r in results]}
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        _atomic_savez(
            self._set_path(folder, split), info=_json_array(info), bounds=bounds, **arrays
        )


def _result(digest: str, record: dict, arrays: dict[str, np.ndarray]) -> FileResult:
    """A result rebuilt from its JSON record and (for a usable file) its arrays."""
    pitch = tuple(record["pitch"]) if record["pitch"] else None
    usable = record["reason"] is None
    return FileResult(
        digest=digest,
        reason=record["reason"],
        tokens=arrays["tokens"] if usable else None,
        steps_per_bar=arrays["steps_per_bar"] if usable else None,
        meter=arrays["meter"] if usable else None,
        bars_skipped=record["bars_skipped"],
        windows_by_meter=record["windows_by_meter"],
        pitch=pitch,
    )
