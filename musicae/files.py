"""Files a user names: read as regular files only, written by one command at a time.

Every file musicae reads on a user's word (MIDI, images, codes, a TOML config, a
SoundFont, a model's config and weights) comes through :func:`read_regular`, so a
FIFO never blocks a command, ``/dev/zero`` never fills memory, and a file too
large for its kind is refused before it is read. The caps, by kind of file, are
``LIMITS``. Every output folder is written by one command at a time
(:func:`one_writer`), all or nothing (:func:`staged_output`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from musicae.errors import MusicaeError
from musicae.paths import CONFIG, WEIGHTS

MiB = 2**20
LIMITS = {
    "midi": 4 * MiB,  # bigger .mid files are rare and cost ~100x their size to parse
    "image": 64 * MiB,  # a digit is a few KB; a photo of one a few MB
    "codes": 1024 * MiB,  # 10,000 codes of 8,192 floats is 330 MB
    "config": 1 * MiB,  # a TOML file of settings, or a model's config.json
    "soundfont": 1024 * MiB,  # General MIDI fonts run from 6 MB (TimGM6mb) to ~500 MB
    "weights": 8192 * MiB,  # the largest preset at the largest sizes allowed
}
READ_CHUNK = 1 << 16


class FileProblem(MusicaeError):
    """A file that cannot be read as asked; ``reason`` is a short countable key
    ("unreadable file", "not a regular file", "file too large")."""

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = "") -> None:
        self.path, self.reason, self.detail = path, reason, detail
        super().__init__(f"{os.fsdecode(path)}: {reason}" + (f" ({detail})" if detail else ""))


def read_regular(path: str | os.PathLike, kind: str) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file (at most ``LIMITS[kind]``) and its stat on the open file.

    FIFOs, sockets and devices (also behind a symlink) are refused without
    waiting on them: the file is opened non-blocking and checked on the open
    descriptor. A file whose size is over the cap is refused unread, and the cap
    also counts the bytes actually read, so a file that says it is empty but
    never ends is still cut off.
    """
    limit = LIMITS[kind]
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FileProblem(path, "unreadable file", exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(path, "not a regular file")
        return _read_capped(fd, path, info.st_size, limit), info
    except OSError as exc:
        raise FileProblem(path, "unreadable file", exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _read_capped(fd: int, path: str | os.PathLike, size: int, limit: int) -> bytes:
    if size > limit:
        raise _too_large(path, limit)
    want = size + 1  # the whole file and one byte more, if it has grown
    chunks, total = [], 0
    while chunk := os.read(fd, want):  # no buffer of the whole limit up front
        total += len(chunk)
        if total > limit:
            raise _too_large(path, limit)
        chunks.append(chunk)
        if len(chunk) < want and total >= size:
            break  # short of what was asked, and all the file said it held: the end
        want = READ_CHUNK
    return b"".join(chunks)


def _too_large(path: str | os.PathLike, limit: int) -> FileProblem:
    return FileProblem(path, "file too large", f"over {limit:,} bytes")


# --- one writer per output --------------------------------------------------------------

RUN_RECORD = "run.json"  # beside a command's files: what made them, and their names
STAGING_PREFIX = ".musicae-staging-"  # a command's files until they are all written


def _lock_paths(folder: Path) -> tuple[Path, Path]:
    """Where ``folder``'s writer lock lives, and the note of who holds it: in a folder of
    this user's locks in the temporary directory, named by a digest of the folder's real
    path (so the output folder itself gets no lock file, and two spellings of one folder
    share one lock)."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    locks = Path(tempfile.gettempdir()) / f"musicae-locks-{user}"
    locks.mkdir(mode=0o700, exist_ok=True)
    name = hashlib.sha1(os.fsencode(folder.resolve())).hexdigest()[:24]
    return locks / f"{name}.lock", locks / f"{name}.holder"


@contextmanager
def one_writer(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s writer lock while a command writes there.

    A second command that would write into the same folder gets a one-line error
    naming the holder instead of mixing its files (or its checkpoints) with the
    first one's. The lock is an OS file lock (``filelock``), so it is released
    when its holder exits, however it exits.
    """
    lock_path, holder = _lock_paths(folder)
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise MusicaeError(f"{folder}: another musicae command is writing there "
                           f"({_holder(holder)}); wait for it or write elsewhere") from None
    try:
        holder.write_text(f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def _holder(path: Path) -> str:
    try:
        return path.read_text()[:300].replace("\n", " ") or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """A folder to write a command's files into, moved into ``out`` only when all are
    written: one writer at a time, all or nothing.

    Under ``out``'s writer lock, what a killed run left (staging folders, temporary
    files) is swept first. On success the previous command's files are removed
    (:func:`clear_earlier`), then the new ones are moved in, ``run.json`` last; on any
    failure (a full disk, an error) ``out`` is left as it was.
    """
    with one_writer(out):
        out.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(out)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        try:
            yield staging
            clear_earlier(out)
            for path in sorted(staging.iterdir(), key=lambda p: p.name == RUN_RECORD):
                os.replace(path, out / path.name)
        except OSError as exc:
            raise MusicaeError(f"{out}: cannot write ({(exc.strerror or str(exc)).lower()}); "
                               f"the folder is as it was") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def sweep_leftovers(folder: Path) -> None:
    """Remove what killed musicae commands left in ``folder``: staging folders and
    ``.NAME.tmp-PID`` files (call it holding the folder's writer lock)."""
    for path in folder.iterdir():
        if path.name.startswith(STAGING_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(".") and ".tmp-" in path.name and path.is_file():
            path.unlink(missing_ok=True)


# --- output paths -----------------------------------------------------------------------


def writable(out: str | Path, folder: bool = True) -> Path:
    """``out`` as a place this command can write a folder (or, ``folder=False``, a file)
    into, checked before any work: a name, not an existing thing of the other sort, not
    under a file, no part too long, and in a folder where a file can really be made (a
    probe, so read-only and virtual file systems count). A one-line error otherwise."""
    if str(out) == "" or not folder and str(out) == ".":
        raise MusicaeError("output path is empty")
    out = Path(out)
    try:
        if out.exists() and out.is_dir() != folder:
            raise MusicaeError(f"{out}: exists and is not a {'folder' if folder else 'file'}")
        parent = out if folder else out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise MusicaeError(f"{out}: {parent} is a file, not a folder")
        longest = _name_max(parent)
        for part in out.relative_to(parent).parts if out != parent else ():
            if len(os.fsencode(part)) > longest:
                raise MusicaeError(f"{out}: a name longer than {longest} bytes")
        # a real write, where the command will write (or the nearest folder that exists):
        # read-only and virtual file systems pass os.access; a kill here leaves only an
        # empty .musicae-probe-* folder
        with tempfile.TemporaryDirectory(prefix=".musicae-probe-", dir=parent):
            pass
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise MusicaeError(f"{out}: cannot write there ({reason})") from None
    return out


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system of ``folder`` takes."""
    try:
        return max(os.pathconf(folder, "PC_NAME_MAX"), 1)
    except (OSError, ValueError):
        return 255


def clear_earlier(out: Path) -> Path:
    """Make ``out`` ready for a command's files: the files an earlier musicae command
    wrote there (listed in its run.json) are removed, so old and new never mix; but a model
    (one that fit-prior wrote) is never removed by the files written beside it."""
    record = out / RUN_RECORD  # what the earlier command wrote
    if record.is_file():
        try:
            earlier = json.loads(record.read_text()).get("written", [])
        except (ValueError, AttributeError):
            raise MusicaeError(f"{record}: unreadable; remove it or write elsewhere") from None
        model = (CONFIG, WEIGHTS) if (out / CONFIG).is_file() else ()
        for name in {Path(str(name)).name for name in earlier} - set(model):
            (out / name).unlink(missing_ok=True)  # only files directly in out
        record.unlink()
    return out
