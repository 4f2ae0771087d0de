"""The hostile-input audit of issue #28, rerun: each of its probes, counted per area as
tried / clean / traceback / hang / wrong / lost. Outside the default test run.

    python tests/stress/round_two.py [--only config,soundfont,...] [--out round_two.json]

Areas (``--only``): config (``--config`` TOML files), soundfont ($MUSICAE_SOUNDFONT),
disk (a 3 MB tmpfs that fills; needs root), writers (two commands, one output),
signals (SIGINT/SIGTERM/SIGKILL during ``prepare``, and Ctrl-C in its first second),
handle (``musicae.load`` called badly), torchrun (rank 1 killed mid-training). Every
command runs as its own process under a time limit, with ``OMP_NUM_THREADS=1`` and
``--threads 1`` (the signals area runs ``prepare`` as the audit did, and with
``--threads 1`` apart: that option imports torch).

How an outcome is judged (the first rule that matches):
  clean      a bad input: a non-zero exit whose stderr is one line starting with "error:"
             (at most 1,000 characters), or for the Python handle a MusicaeError of one
             line; a good input: success with the right output.
  hang       past the time limit (``--limit``, 120 s; 60 s a handle call), over the memory
             cap (500 MB with a hostile SoundFont, 2 GB a handle call), or a process left
             running after its command ended.
  traceback  a Python traceback, another exception from the handle, or no one-line error
             (counted here, as tests/stress/campaign.py does). A Ctrl-C traceback whose
             frames are all the interpreter's own start-up (site, runpy, importlib: its
             first ~50 ms, before any musicae code runs and can catch it) is clean.
  wrong      a bad input accepted (exit 0), a good one refused, Ctrl-C ignored or ending
             in another status than 130, or an output that is not what it says: a
             silent WAV reported as rendered by the SoundFont, a run.json naming another
             seed, metrics of two runs, a half-written or temporary file left behind, a
             cache whose rerun counts differ from a clean run's.
  lost       what was there is gone: a checkpoint that no longer loads or resumes, earlier
             outputs changed by a failed command, a model or samples silently overwritten
             by a second writer.
The script prints the table, then every case that was not clean with its command and
the last line of its stderr; it writes the counts and cases as JSON and exits 1 if any
case was not clean. It is long because it holds seven areas; each reads on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "stress"))

AREAS = ("config", "soundfont", "disk", "writers", "signals", "handle", "torchrun")
OUTCOMES = ("clean", "traceback", "hang", "wrong", "lost")
FONT_RSS_MB = 500  # peak memory of a `sample --wav` with a hostile SoundFont
HANDLE_CALL_S, HANDLE_RSS_MB = 60, 2048  # one Python handle call: past these, a hang
ERROR_LINE_MAX = 1000  # an error line longer than this is not a line a person reads
MiB = 2**20
TINY = ["--set", "hidden=[32]", "--quiet"]  # the smallest image model: steps of a ms


# --- running commands -------------------------------------------------------------------


def musicae_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "musicae", "--threads", "1", *map(str, args)]


@dataclass
class Result:
    """A finished command: its exit status (negative: killed by that signal), output,
    time, whether it was killed at the time limit, and its peak resident memory."""

    command: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    hung: bool = False
    peak_mb: float = 0.0
    env: dict = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def last_line(self) -> str:
        return self.lines[-1][:300] if self.lines else f"(no stderr; exit {self.rc})"

    @property
    def one_line_error(self) -> bool:
        lines = self.lines
        return (self.rc > 0 and len(lines) == 1 and lines[0].startswith("error:")
                and len(lines[0]) <= ERROR_LINE_MAX)

    def shown(self) -> str:
        env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in self.env.items())
        return (env + " " if env else "") + shlex.join(self.command)


@dataclass
class Started:
    """A command running in its own process group, its output going to files."""

    command: list[str]
    proc: subprocess.Popen
    out: object
    err: object
    began: float
    env: dict
    reaped: tuple | None = None  # (wait status, resource usage) once it has exited

    def exited(self) -> bool:
        """Whether the command has ended (reaping it, so its peak memory is kept)."""
        if self.reaped is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            self.reaped = (status, usage) if pid else None
        return self.reaped is not None


def start(command: list[str], env: dict | None = None) -> Started:
    """Start a command in its own process group, its output going to temporary files."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    environment = os.environ | BASE_ENV | (env or {})
    proc = subprocess.Popen(command, stdout=out, stderr=err, env=environment,
                            start_new_session=True)
    return Started(command, proc, out, err, time.monotonic(), env or {})


def finish(started: Started, limit: float) -> Result:
    """Wait for a started command (its group killed past ``limit`` seconds)."""
    deadline, hung = started.began + limit, False
    while not started.exited():
        if not hung and time.monotonic() > deadline:
            hung = True
            kill_group(started.proc.pid)
        time.sleep(0.05)
    status, usage = started.reaped
    started.proc.returncode = os.waitstatus_to_exitcode(status)
    texts = []
    for stream in (started.out, started.err):
        stream.seek(0)
        texts.append(stream.read().decode(errors="replace"))
        stream.close()
    return Result(started.command, started.proc.returncode, texts[0], texts[1],
                  time.monotonic() - started.began, hung, usage.ru_maxrss / 1024, started.env)


def run(command: list[str], limit: float, env: dict | None = None) -> Result:
    return finish(start(command, env), limit)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` now (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def survivors(pids: list[int], wait: float = 5.0) -> list[int]:
    """The processes of ``pids`` still running after up to ``wait`` seconds; killed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def wait_for(path: Path, started: Started, limit: float) -> bool:
    """Wait until ``path`` exists while the command runs; False if it ended or timed out."""
    deadline = started.began + limit
    while not path.exists():
        if started.exited() or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- judging ----------------------------------------------------------------------------


def refusal(r: Result) -> tuple[str, str]:
    """The outcome of a command given a bad input."""
    if r.hung:
        return "hang", f"still running after {r.seconds:.0f} s (killed)"
    if "Traceback" in r.stderr:
        return "traceback", r.last_line
    if r.rc == 0:
        return "wrong", "accepted (exit 0)"
    if not r.one_line_error:
        return "traceback", f"no one-line error (exit {r.rc}, {len(r.lines)} stderr " \
                            f"lines, the last {len(r.lines[-1]) if r.lines else 0} chars): " \
                            f"{r.last_line}"
    return "clean", r.last_line


def success(r: Result, check: Callable[[], str | None] = lambda: None) -> tuple[str, str]:
    """The outcome of a command given a good input; ``check`` names what is wrong with
    its output, if anything."""
    if r.hung:
        return "hang", f"still running after {r.seconds:.0f} s (killed)"
    if "Traceback" in r.stderr:
        return "traceback", r.last_line
    if r.rc != 0:
        return "wrong", f"a good input refused (exit {r.rc}): {r.last_line}"
    problem = check()
    return ("wrong", problem) if problem else ("clean", "")


class Tally:
    """Outcomes per area, and the cases that were not clean."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose  # print clean cases too
        self.areas: dict[str, dict[str, int]] = {}
        self.cases: list[dict] = []
        self.notes: dict[str, list[str]] = {}

    def add(self, area: str, what: str, outcome: str, detail: str = "",
            result: Result | None = None) -> None:
        counts = self.areas.setdefault(area, dict.fromkeys(("tried", *OUTCOMES), 0))
        counts["tried"] += 1
        counts[outcome] += 1
        if outcome == "clean":
            if self.verbose:
                print(f"  clean: {what}: {(detail or '')[:160]}", flush=True)
            return
        case = {"area": area, "case": what, "outcome": outcome, "detail": detail,
                "command": result.shown() if result else "",
                "stderr": result.last_line if result else ""}
        self.cases.append(case)
        print(f"  {outcome}: {what}: {detail}", flush=True)

    def note(self, area: str, text: str) -> None:
        self.notes.setdefault(area, []).append(text)
        print(f"  note: {text}", flush=True)


@dataclass
class Ctx:
    work: Path
    tally: Tally
    limit: float
    seed: int
    sizes: argparse.Namespace


BASE_ENV = {"OMP_NUM_THREADS": "1"}  # MUSICAE_CACHE and MUSICAE_HOME are added in main


Judge = Callable[[Result], tuple[str, str]]


def run_all(ctx: Ctx, area: str, cases: list[tuple]) -> None:
    """Run (what, command, judge[, env]) cases, ``--jobs`` at a time, and count them."""
    def one(case: tuple) -> Result:
        return run(case[1], ctx.limit, case[3] if len(case) > 3 else None)

    with ThreadPoolExecutor(ctx.sizes.jobs) as pool:
        for case, r in zip(cases, pool.map(one, cases), strict=True):
            ctx.tally.add(area, case[0], *case[2](r), r)


def small_folder(folder: Path, count: int, step: int = 7) -> Path:
    """A folder of ``count`` bundled folk tunes."""
    from musicae.datasets.midi import bundled, list_midi

    folder.mkdir(parents=True, exist_ok=True)
    for path in list_midi(bundled("folk"))[::step][:count]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def special_paths(folder: Path) -> dict[str, Path]:
    """Paths that are not regular files: a FIFO, devices, a folder, links, nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "fifo")
    (folder / "a_folder").mkdir()
    os.symlink("/dev/zero", folder / "link_to_zero")
    os.symlink(folder / "nowhere", folder / "dangling_link")
    return {"FIFO": folder / "fifo", "/dev/zero": Path("/dev/zero"),
            "/dev/urandom": Path("/dev/urandom"), "a directory": folder / "a_folder",
            "a missing file": folder / "missing", "a link to /dev/zero": folder / "link_to_zero",
            "a dangling link": folder / "dangling_link"}


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no room (all a hole)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


# --- 1. --config TOML files -------------------------------------------------------------

TRAIN_BAD_TOML = {
    # values out of range (the audit's, and a few more)
    "lr = 1e300": "lr = 1e300", "lr_decay = 1e300": "lr_decay = 1e300",
    "max_beta = -1": "max_beta = -1", "grad_clip = 0": "grad_clip = 0",
    "grad_clip = -1": "grad_clip = -1", "seed = 2**64": "seed = 18446744073709551616",
    "beta_rate = 1e10": "beta_rate = 1e10", "lr = nan": "lr = nan",
    "batch_size = 0": "batch_size = 0", "min_lr over lr": "lr = 0.5\nmin_lr = 1.0",
    "hidden = [100000]": "hidden = [100000]", "arch = nope": 'arch = "nope"',
    # wrong types
    'lr = "fast"': 'lr = "fast"', "seed = 1.5": "seed = 1.5", 'bf16 = "yes"': 'bf16 = "yes"',
    'hidden = "32"': 'hidden = "32"', "hidden = 32": "hidden = 32",
    "hidden = [[32]]": "hidden = [[32]]", "latent_dim = true": "latent_dim = true",
    # unknown keys, tables, dates, nesting, duplicates
    "unknown key": "nope = 1",
    "inline table": "hidden = {a = 1}", "unknown key in [a.b.c]": "[a.b.c]\nnope = 1",
    "a date": "seed = 1979-05-27", "a date-time": "when = 1979-05-27T07:32:00Z",
    "an array of tables": "[[training]]\nlr = 0.1",
    "an array of inline tables": "hidden = [{a = 1}]",
    "arrays nested 100,000 deep": "x = " + "[" * 100_000 + "]" * 100_000,
    "tables nested 5,000 deep": "[" + ".".join(["a"] * 5000) + "]\nx = 1",
    "inline tables nested 3,000 deep": "x = " + "{a = " * 3000 + "1" + "}" * 3000,
    "a key twice": "lr = 0.1\nlr = 0.2",
    "a key in two tables": "[model]\nlatent_dim = 2\n[training]\nlatent_dim = 3",
    # not TOML, or too much of it
    "unterminated string": 'arch = "conv',
    "a 900 KB string value": 'arch = "' + "x" * 900_000 + '"',
    "1.2 MB of comments": "# x\n" * 300_000,
}
TRAIN_BAD_BYTES = {
    "binary garbage": bytes(random.Random(0).randrange(256) for _ in range(4096)),
    "invalid UTF-8": b'arch = "\xff\xfe"\n', "NUL bytes": b"lr = 0.001\x00\n",
    "UTF-16": "lr = 0.001\n".encode("utf-16"),
}
# name -> (TOML, what config.json must then say, under "overrides" or training "config")
TRAIN_GOOD_TOML = {
    "valid, with tables": ("[model]\nhidden = [32]\nlatent_dim = 4\n\n[training]\n"
                           "lr = 0.002\nseed = 7\n",
                           {"hidden": [32], "latent_dim": 4, "lr": 0.002, "seed": 7}),
    "valid, flat": ("lr = 0.0005\nbatch_size = 16\n", {"lr": 0.0005, "batch_size": 16}),
    "valid, under [a.b]": ("[a.b]\nlr = 0.0007\n", {"lr": 0.0007}),
    "empty": ("", {}),
    "comments only": ("# nothing to set\n\n", {}),
}
PREPARE_BAD_TOML = {
    "bars = 1e20": "bars = 100000000000000000000", "bars = 0": "bars = 0",
    "bars = -1": "bars = -1", "bars = 2.5": "bars = 2.5", 'bars = "2"': 'bars = "2"',
    "bars = 100000": "bars = 100000", "slot = 0": "slot = 0",
    "steps_per_quarter = 0": "steps_per_quarter = 0", "min_pitch = 200": "min_pitch = 200",
    "min_pitch over max_pitch": "min_pitch = 90\nmax_pitch = 30", "hop_bars = 0": "hop_bars = 0",
    "max_windows_per_file = -1": "max_windows_per_file = -1",
    'out_of_range = "nope"': 'out_of_range = "nope"', "programs = [999]": "programs = [999]",
    "min_notes = -1": "min_notes = -1", "unknown key": "nope = 1",
}
PREPARE_GOOD_TOML = {"bars = 4": ("bars = 4\n", 4), "training settings only (ignored)":
                     ("lr = 0.001\nseed = 3\n", 2)}


def area_config(ctx: Ctx) -> None:
    """`train --config FILE` and `prepare --config FILE` on hostile files and good ones,
    ``--jobs`` at a time."""
    folder = ctx.work / "files"
    folder.mkdir()
    bad = dict(special_paths(folder / "special"))
    bad["a sparse 2 GB file"] = sparse(folder / "sparse.toml", 2**31)
    for name, content in (TRAIN_BAD_TOML | TRAIN_BAD_BYTES).items():
        bad[name] = folder / f"bad{len(bad)}.toml"
        bad[name].write_bytes(content if isinstance(content, bytes) else content.encode())
    cases = [_config_train(ctx, name, path, None) for name, path in bad.items()]
    for i, (name, (text, expected)) in enumerate(TRAIN_GOOD_TOML.items()):
        (folder / f"good{i}.toml").write_text(text)
        cases.append(_config_train(ctx, name, folder / f"good{i}.toml", expected))
    tunes = small_folder(ctx.work / "tunes", 20)
    prepare = {name: (text, None) for name, text in PREPARE_BAD_TOML.items()} | PREPARE_GOOD_TOML
    for i, (name, (text, bars)) in enumerate(prepare.items()):
        (folder / f"prepare{i}.toml").write_text(text)
        cases.append(_config_prepare(ctx, tunes, name, folder / f"prepare{i}.toml", bars))
    run_all(ctx, "config", cases)


def _config_train(ctx: Ctx, name: str, path: Path, expected: dict | None
                  ) -> tuple[str, list[str], Judge]:
    """(what, command, judge) of `train --config`: refused, or run with ``expected``."""
    out = ctx.work / "runs" / hashlib.sha1(name.encode()).hexdigest()[:12]
    command = musicae_cmd("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps", 2,
                          "--quiet", "--config", path)
    if expected is None:
        return f"train --config: {name}", command, refusal

    def judge(r: Result) -> tuple[str, str]:
        outcome = success(r, lambda: _settings_problem(out, expected))
        shutil.rmtree(out, ignore_errors=True)
        return outcome

    return f"train --config: {name}", command, judge


def _settings_problem(out: Path, expected: dict) -> str | None:
    meta = json.loads((out / "config.json").read_text())
    got = meta.get("overrides", {}) | meta["training"]["config"]
    differ = {k: got.get(k) for k, v in expected.items() if got.get(k) != v}
    return f"settings not applied, config.json has {differ}" if differ else None


def _config_prepare(ctx: Ctx, tunes: Path, name: str, path: Path, bars: int | None
                    ) -> tuple[str, list[str], Judge]:
    """(what, command, judge) of `prepare --config`: refused, or windows of ``bars``."""
    command = musicae_cmd("prepare", tunes, "--preset", "mel_2bar_small", "--workers", 1,
                          "--quiet", "--json", "--config", path)
    if bars is None:
        return f"prepare --config: {name}", command, refusal

    def judge(r: Result) -> tuple[str, str]:
        def check() -> str | None:
            got = json.loads(r.stdout)["representation"]["bars"]
            return None if got == bars else f"bars is {got}, not {bars}"
        return success(r, check)

    return f"prepare --config: {name}", command, judge


# --- 2. SoundFonts ----------------------------------------------------------------------


def font_cases(folder: Path, rng: random.Random, flips: int) -> list[tuple[str, Path, str]]:
    """(name, font, expected: "good", "bad" or "any") for $MUSICAE_SOUNDFONT."""
    import test_soundfont as sf2

    from musicae.output.soundfont import DEFAULT_SOUNDFONT

    data = DEFAULT_SOUNDFONT.read_bytes()
    cases = [("pretty_midi's TimGM6mb.sf2", DEFAULT_SOUNDFONT, "good")]
    cases += [(name, path, "bad") for name, path in special_paths(folder / "special").items()]

    def font(name: str, content: bytes, expect: str) -> None:
        path = folder / f"{len(cases)}.sf2"
        path.write_bytes(content)
        cases.append((name, path, expect))

    font("an empty file", b"", "bad")
    font("text", b"This is not a SoundFont.\n" * 40, "bad")
    font("random bytes", rng.randbytes(50_000), "bad")
    for cut in (12, 5000, len(data) // 3, len(data) // 2, len(data) - 100):
        font(f"TimGM6mb cut to {cut:,} bytes", data[:cut], "bad")
    cut = len(data) - 300
    font("TimGM6mb cut, RIFF size patched", data[:4] + struct.pack("<I", cut - 8) + data[8:cut],
         "bad")
    pdta = sf2.riff_chunks(data, 12, len(data))[b"pdta"]
    for k in range(flips):
        broken, low = bytearray(data), pdta if k % 2 == 0 else 0
        for _ in range(rng.choice((1, 4, 16))):
            broken[rng.randrange(low, len(data))] ^= 1 << rng.randrange(8)
        font(f"TimGM6mb with bytes flipped ({'pdta' if low else 'anywhere'}, #{k})",
             bytes(broken), "any")
    font("65,533 zones stacked on one note", sf2.layered_font(65_533), "good")
    one = sf2.layered_font(1)
    font("one good zone", one, "good")
    font("damaged pbag", sf2.damaged(one, b"pbag", 4, 0, 1), "bad")
    font("damaged ibag", sf2.damaged(one, b"ibag", 4, 0, 0), "bad")
    font("damaged phdr", sf2.damaged(one, b"phdr", 38, 24, 0), "bad")
    font("TimGM6mb with damaged ibag", sf2.damaged(data, b"ibag", 4, 0, 0), "bad")
    font("samples all zero", sf2.sf2_bytes(np.zeros(200, np.int16), [{sf2.SAMPLE_ID: 0}],
                                           [{sf2.INSTRUMENT_GEN: 0}]), "bad")
    font("no piano (only program 73)", sf2.sf2_bytes(sf2.tone(), [{sf2.SAMPLE_ID: 0}],
                                                     [{sf2.INSTRUMENT_GEN: 0}], program=73),
         "bad")
    cases.append(("a sparse 2 GB file", sparse(folder / "sparse.sf2", 2**31), "bad"))
    return cases


def area_soundfont(ctx: Ctx) -> None:
    """`sample --wav` with each font as $MUSICAE_SOUNDFONT: one-line errors for fonts that
    cannot sound, sound (never silence) from fonts that can, bounded memory."""
    folder = ctx.work / "fonts"
    folder.mkdir()
    cases = []
    for i, (name, path, expect) in enumerate(font_cases(folder, random.Random(ctx.seed),
                                                        ctx.sizes.flips)):
        out = ctx.work / f"out{i}"
        command = musicae_cmd("sample", "folk_mel_2bar", "-n", 2, "-o", out, "--wav",
                              "--seed", 0)

        def judge(r: Result, name=name, out=out, expect=expect) -> tuple[str, str]:
            if "zones" in name or name.startswith("pretty_midi"):
                ctx.tally.note("soundfont", f"{name}: peak RSS {r.peak_mb:.0f} MB, "
                               f"{r.seconds:.1f} s")
            return _judge_font(r, out, expect)

        cases.append((f"{name} ({expect})", command, judge, {"MUSICAE_SOUNDFONT": str(path)}))
    run_all(ctx, "soundfont", cases)


def _judge_font(r: Result, out: Path, expect: str) -> tuple[str, str]:
    if r.hung:
        return "hang", f"still running after {r.seconds:.0f} s (killed)"
    if r.peak_mb > FONT_RSS_MB:
        return "hang", f"peak RSS {r.peak_mb:.0f} MB (over {FONT_RSS_MB} MB)"
    if "Traceback" in r.stderr:
        return "traceback", r.last_line
    if r.rc == 0:
        if expect == "bad":
            return "wrong", "accepted (exit 0): " + (_wav_problem(out) or "it sounds")
        problem = _wav_problem(out)
        return ("wrong", problem) if problem else ("clean", "")
    if not r.one_line_error:
        return refusal(r)
    if expect == "good":
        return "wrong", f"a good font refused: {r.last_line}"
    if out.exists() and any(out.iterdir()):
        return "wrong", f"refused, but wrote {sorted(p.name for p in out.iterdir())}"
    return "clean", r.last_line


def _wav_problem(out: Path) -> str | None:
    """What is wrong with a sample's WAVs: not rendered by the SoundFont, or silent where
    the MIDI beside them has notes."""
    import pretty_midi

    record = json.loads((out / "run.json").read_text())
    if record.get("synth") != "soundfont":
        return f"run.json says synth={record.get('synth')!r}"
    wavs = sorted(out.glob("*.wav"))
    if len(wavs) != 2:
        return f"{len(wavs)} WAVs, not 2"
    for path in wavs:
        with wave.open(str(path)) as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        notes = sum(len(i.notes) for i in
                    pretty_midi.PrettyMIDI(str(path.with_suffix(".mid"))).instruments)
        if notes and not audio.any():
            return f"{path.name} is silent but its MIDI has {notes} notes (synth soundfont)"
    return None


# --- 3. a full disk ---------------------------------------------------------------------


class CannotMount(Exception):
    pass


@contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``path`` (root only)."""
    path.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        raise CannotMount(done.stderr.strip() or f"mount exited {done.returncode}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """A file that takes the disk's free room but ``leave`` bytes (0: all of it)."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as f:
        while (free := shutil.disk_usage(disk).free) > leave:
            try:
                f.write(bytes(min(free - leave, MiB)))
            except OSError:
                break
    return filler


def leftovers(folder: Path) -> list[str]:
    """Temporary and staging files a command left under ``folder``."""
    from musicae.files import STAGING_PREFIX

    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if ".tmp" in p.name or p.name.startswith((STAGING_PREFIX, ".checkpoint")))


def snapshot(folder: Path) -> dict[str, str]:
    """Each file under ``folder``, by name: a digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def area_disk(ctx: Ctx) -> None:
    """Commands writing into a 3 MB tmpfs that fills: one line, nothing half-written,
    the earlier output and the last checkpoint intact."""
    reason = None if os.geteuid() == 0 and shutil.which("mount") else "not root (no mount)"
    try:
        if reason is None:
            _disk_sample(ctx)
            _disk_train(ctx)
            _disk_prepare(ctx)
    except CannotMount as exc:
        reason = f"mount -t tmpfs failed: {exc}"
    if reason:
        ctx.tally.note("disk", f"disk-full probes skipped: {reason}")


def _disk_sample(ctx: Ctx) -> None:
    with tmpfs(ctx.work / "disk_sample", 3 * MiB) as disk:
        out, area = disk / "out", "disk"

        def sample(seed: int, where: Path = out) -> Result:
            return run(musicae_cmd("sample", "folk_mel_2bar", "-n", 2, "-o", where, "--wav",
                                   "--seed", seed), ctx.limit)

        r = sample(1)
        ctx.tally.add(area, "sample --wav with room to spare", *success(r), r)
        before = snapshot(out)
        filler = fill(disk, leave=64 * 1024)
        for attempt in ("sample --wav into a full disk", "sample --wav into a full disk, again"):
            r = sample(2)
            outcome, detail = _kept(refusal(r), out, before)
            ctx.tally.add(area, attempt, outcome, detail, r)
        r = sample(2, disk / "new")
        outcome, detail = refusal(r)
        if outcome == "clean" and snapshot(disk / "new"):
            outcome, detail = "wrong", f"left {sorted(snapshot(disk / 'new'))}"
        ctx.tally.add(area, "sample --wav into a new folder on a full disk", outcome, detail, r)
        filler.unlink()
        r = sample(2)
        ctx.tally.add(area, "sample --wav again once there is room", *success(
            r, lambda: _sample_problem(out, 2) or _listed(leftovers(out))), r)


def _kept(judged: tuple[str, str], out: Path, before: dict) -> tuple[str, str]:
    """A refusal's outcome, made worse if the earlier output changed or temporaries stayed."""
    if judged[0] != "clean":
        return judged
    now = snapshot(out)
    changed = [name for name, digest in before.items() if now.get(name) != digest]
    if changed:
        return "lost", f"the earlier output changed: {changed}"
    extra = sorted(set(now) - set(before) | set(leftovers(out)))
    return ("wrong", f"left behind: {extra}") if extra else judged


def _listed(names: list[str]) -> str | None:
    return f"left behind: {names}" if names else None


def _disk_train(ctx: Ctx) -> None:
    from campaign import _checkpoint_problem

    from musicae import artifacts

    with tmpfs(ctx.work / "disk_train", 3 * MiB) as disk:
        run_dir, area = disk / "run", "disk"
        base = ["train", "mnist", "--preset", "mnist_ae", *TINY, "--set", "eval_every=10"]
        running = start(musicae_cmd(*base, "--steps", 100_000, "--out", run_dir))
        if not wait_for(run_dir / "config.json", running, ctx.limit):
            r = finish(running, 1)
            ctx.tally.add(area, "train on a 3 MB disk (first checkpoint)", "wrong",
                          f"no checkpoint was written: {r.last_line}", r)
            return
        filler = fill(disk)
        r = finish(running, ctx.limit)
        ctx.tally.add(area, "train: the disk fills during training", *refusal(r), r)
        problem = _checkpoint_problem(run_dir, artifacts)
        left = _listed(leftovers(run_dir))
        outcome, detail = ("lost", problem) if problem else ("wrong", left) if left else \
            ("clean", "")
        ctx.tally.add(area, "train: the last checkpoint after the disk filled", outcome, detail)
        filler.unlink()
        step = json.loads((run_dir / "config.json").read_text())["training"]["step"]
        r = run(musicae_cmd(*base, "--steps", step + 3, "--out", run_dir, "--resume"),
                ctx.limit)
        outcome, detail = success(r, lambda: _listed(leftovers(run_dir)))
        if outcome == "wrong" and r.rc != 0:  # the checkpoint kept cannot be resumed
            outcome = "lost"
        ctx.tally.add(area, "train --resume once there is room", outcome, detail, r)
        filler = fill(disk)
        r = run(musicae_cmd(*base, "--steps", 5, "--out", disk / "run2"), ctx.limit)
        outcome, detail = refusal(r)
        if outcome == "clean":
            problem = _checkpoint_problem(disk / "run2", artifacts) or _listed(
                leftovers(disk / "run2"))
            outcome, detail = ("wrong", problem) if problem else (outcome, detail)
        ctx.tally.add(area, "train a new run on a full disk", outcome, detail, r)


def _disk_prepare(ctx: Ctx) -> None:
    tunes = small_folder(ctx.work / "disk_tunes", 40)

    def prepare(cache: Path) -> Result:
        return run(musicae_cmd("prepare", tunes, "--preset", "pianoroll_2bar", "--workers", 1,
                               "--cache", cache, "--json", "--quiet"), ctx.limit)

    reference = prepare(ctx.work / "disk_reference_cache")
    if reference.rc != 0:
        ctx.tally.add("disk", "prepare (reference run)", *success(reference), reference)
        return
    size = sum(p.stat().st_size for p in (ctx.work / "disk_reference_cache").rglob("*")
               if p.is_file())
    with tmpfs(ctx.work / "disk_prepare", max(3 * MiB, 2 * size)) as disk:
        cache = disk / "cache"
        filler = fill(disk, leave=size // 3)
        for attempt in ("prepare --cache on a full disk", "prepare --cache on a full disk, "
                        "again"):
            r = prepare(cache)
            outcome, detail = refusal(r)
            if outcome == "clean" and leftovers(cache):
                outcome, detail = "wrong", f"left behind: {leftovers(cache)}"
            ctx.tally.add("disk", attempt, outcome, detail, r)
        filler.unlink()
        r = prepare(cache)
        ctx.tally.add("disk", "prepare --cache again once there is room", *success(
            r, lambda: _counts_differ(r, reference) or _listed(leftovers(cache))), r)


PREPARE_COUNTS = ("files_seen", "files_used", "windows", "skipped_files")


def _counts_differ(r: Result, reference: Result) -> str | None:
    got, want = (json.loads(x.stdout) for x in (r, reference))
    differ = [k for k in PREPARE_COUNTS if got.get(k) != want.get(k)]
    return "counts differ from a clean run: " + ", ".join(
        f"{k} {got.get(k)} vs {want.get(k)}" for k in differ) if differ else None


# --- 4. two writers, one output ---------------------------------------------------------


def area_writers(ctx: Ctx) -> None:
    """Two trainings into one --out, two samples into one -o, started together (or a
    second apart): one succeeds, the other is refused in one line; the folder is the
    winner's alone."""
    from musicae import artifacts

    references = {}
    for seed in (11, 12):
        references[seed] = ctx.work / f"reference{seed}"
        r = run(musicae_cmd("sample", "folk_mel_2bar", "-n", 2, "-o", references[seed],
                            "--seed", seed), ctx.limit)
        if r.rc != 0:
            ctx.tally.add("writers", f"sample --seed {seed} (reference)", *success(r), r)
            return
    for trial in range(ctx.sizes.writer_trials):
        delay = 0.0 if trial == 0 else 0.5 * trial
        out = ctx.work / f"train{trial}"
        commands = {seed: musicae_cmd("train", "mnist", "--preset", "mnist_ae", "--steps", 200,
                                      *TINY, "--json", "--seed", seed, "--out", out)
                    for seed in (1, 2)}
        _pair(ctx, f"two trainings into one --out ({delay:.1f} s apart)", commands, delay,
              lambda seed, out=out: _train_problem(out, seed, artifacts))
        out = ctx.work / f"samples{trial}"
        commands = {seed: musicae_cmd("sample", "folk_mel_2bar", "-n", 2, "-o", out,
                                      "--seed", seed) for seed in (11, 12)}
        _pair(ctx, f"two samples into one -o ({delay:.1f} s apart)", commands, delay,
              lambda seed, out=out: _sample_problem(out, seed, references[seed]))


def _pair(ctx: Ctx, what: str, commands: dict[int, list[str]], delay: float,
          problem: Callable[[int], str | None]) -> None:
    seeds = list(commands)
    first = start(commands[seeds[0]])
    time.sleep(delay)
    second = start(commands[seeds[1]])
    results = [finish(first, ctx.limit), finish(second, ctx.limit)]
    shown = results[1]
    winners = [seed for seed, r in zip(seeds, results, strict=True) if r.rc == 0]
    if any(r.hung for r in results):
        outcome, detail = "hang", "a writer ran past the limit"
    elif any("Traceback" in r.stderr for r in results):
        shown = next(r for r in results if "Traceback" in r.stderr)
        outcome, detail = "traceback", shown.last_line
    elif len(winners) == 2:
        outcome, detail = "lost", f"both exited 0; one's output was replaced: " \
                                  f"{problem(seeds[1]) or 'the folder holds the second'}"
    elif not winners:
        outcome, detail = "wrong", "neither succeeded: " + " | ".join(
            r.last_line for r in results)
    else:
        shown = results[seeds.index(winners[0]) ^ 1]
        outcome, detail = ("clean", shown.last_line) if shown.one_line_error else refusal(shown)
        found = problem(winners[0]) if outcome == "clean" else None
        if found:
            outcome, detail = ("lost" if found.startswith("does not load") else "wrong"), found
    ctx.tally.add("writers", what, outcome, detail, shown)


def _train_problem(out: Path, seed: int, artifacts) -> str | None:
    """What is wrong with a run directory that the training with ``seed`` won alone."""
    try:
        bundle = artifacts.load(out)
    except Exception as exc:  # noqa: BLE001 (any failure counts)
        return f"does not load: {exc}"
    training = bundle.meta["training"]
    if training["config"]["seed"] != seed or training["step"] != 200:
        return f"config.json has seed {training['config']['seed']}, step {training['step']}"
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    if steps != sorted(set(steps)) or steps[-1:] != [200]:
        return f"metrics.jsonl is not one run's: steps {steps[-10:]}"
    return None


def _sample_problem(out: Path, seed: int, reference: Path | None = None) -> str | None:
    """What is wrong with a sample folder the run with ``seed`` wrote: run.json naming
    another seed, files it does not list, MIDI other than that seed's."""
    record = json.loads((out / "run.json").read_text())
    if record.get("seed") != seed:
        return f"run.json says seed {record.get('seed')}, the files are seed {seed}'s"
    files = {p.name for p in out.iterdir()}
    if files != set(record["written"]) | {"run.json"}:
        return f"files {sorted(files)} but run.json lists {record['written']}"
    for mid in sorted(out.glob("*.mid")) if reference else []:
        if mid.read_bytes() != (reference / mid.name).read_bytes():
            return f"{mid.name} is not seed {seed}'s sample"
    return None


# --- 5. signals during prepare ----------------------------------------------------------


def area_signals(ctx: Ctx) -> None:
    """SIGINT (to the group, as Ctrl-C does), SIGTERM and SIGKILL (to the main process) at
    several moments of `prepare folk --workers 2`: no worker left, Ctrl-C one line and
    exit 130, and a rerun on the same cache counts what a clean run counts. Then Ctrl-C
    while the command starts, with and without ``--threads 1`` (which imports torch)."""
    def prepare(cache: Path, *extra: str, threads: bool = False) -> list[str]:
        line = musicae_cmd("prepare", "folk", "--preset", "pianoroll_2bar", "--workers", 2,
                           "--cache", cache, "--quiet", *extra)
        return line if threads else [a for a in line if a not in ("--threads", "1")]

    reference = run(prepare(ctx.work / "reference", "--json"), ctx.limit)
    if reference.rc != 0:
        ctx.tally.add("signals", "prepare folk (reference run)", *success(reference), reference)
        return
    ctx.tally.note("signals", f"a clean prepare took {reference.seconds:.1f} s")
    moments = [float(m) for m in ctx.sizes.moments.split(",")]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        for moment in moments:
            cache = ctx.work / f"{signum.name}-{moment}"
            what = f"{signum.name} at {moment:.0%} of a prepare"
            running = start(prepare(cache))
            time.sleep(moment * reference.seconds)
            _signal_probe(ctx, what, running, signum)
            _rerun(ctx, what, prepare(cache, "--json"), reference)
    # Ctrl-C while the command starts (imports, lists files, forks its workers): moments
    # the fractions above miss, spread evenly from 0.05 s to a tenth of a run after 0.25 s
    count = ctx.sizes.early_interrupts
    for k in range(2 * count):
        threads = k % 2 == 1
        delay = 0.05 + (k // 2) * (0.2 + 0.1 * reference.seconds) / max(count - 1, 1)
        cache = ctx.work / f"early-{k}"
        what = f"SIGINT {delay:.2f} s into a prepare" + (" --threads 1" if threads else "")
        running = start(prepare(cache, threads=threads))
        time.sleep(delay)
        if _signal_probe(ctx, what, running, signal.SIGINT) != "clean":
            _rerun(ctx, what, prepare(cache, "--json"), reference)  # is the cache harmed?


def _before_musicae(stderr: str) -> bool:
    """Whether a traceback's frames are all the interpreter's start-up (site, runpy, the
    import machinery, an editable install's finder): none in musicae's own modules."""
    frames = [line for line in stderr.splitlines() if line.strip().startswith("File ")]
    return bool(frames) and not any("/musicae/" in line for line in frames)


def _rerun(ctx: Ctx, what: str, command: list[str], reference: Result) -> None:
    r = run(command, ctx.limit)
    ctx.tally.add("signals", f"rerun after {what}",
                  *success(r, lambda: _counts_differ(r, reference)), r)


def _signal_probe(ctx: Ctx, what: str, running: Started, signum: signal.Signals) -> str:
    """Send ``signum`` to a running prepare and count the outcome (returned)."""
    workers = descendants(running.proc.pid)
    if running.exited():
        ctx.tally.note("signals", f"{what}: the prepare had finished; no signal sent")
        finish(running, 1)
        return "clean"
    if signum == signal.SIGINT:
        os.killpg(running.proc.pid, signum)
    else:
        os.kill(running.proc.pid, signum)
    r = finish(running, 60)
    left = survivors(workers + descendants(running.proc.pid))
    if r.hung:
        outcome, detail = "hang", "still running 60 s after the signal (killed)"
    elif left:
        outcome, detail = "hang", f"{len(left)} of {len(workers)} worker(s) still running"
    elif "Traceback" in r.stderr and not _before_musicae(r.stderr):
        outcome, detail = "traceback", r.last_line
    elif "Traceback" in r.stderr:  # Python's own start-up: no program can catch it there
        outcome, detail = "clean", "interrupted in the interpreter's start-up, before any " \
                                   "musicae code ran (Python's default KeyboardInterrupt)"
    elif signum == signal.SIGINT and r.rc != 0 and len(r.lines) != 1:
        outcome, detail = "traceback", f"not one line ({len(r.lines)}): {r.last_line}"
    elif signum == signal.SIGINT and r.rc == 0:
        outcome, detail = "wrong", "Ctrl-C ignored: the prepare ran on and exited 0"
    elif signum == signal.SIGINT and r.rc != 130:
        outcome, detail = "wrong", f"exit status {r.rc}, not 130 (stderr: {r.last_line})"
    else:
        outcome, detail = "clean", f"exit {r.rc}; its {len(workers)} child process(es) ended"
    ctx.tally.add("signals", what, outcome, detail, r)
    return outcome


# --- 6. the Python handle ---------------------------------------------------------------


class Fixtures:
    """What the handle's probes use: models (loaded on first use) and hostile paths."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.models: dict[str, object] = {}

    def __getattr__(self, name: str):
        names = {"music": "folk_mel_2bar", "image": "mnist_conv_vae", "cvae": "mnist_cvae"}
        if name not in names:
            raise AttributeError(name)
        if name not in self.models:
            import musicae

            self.models[name] = musicae.load(names[name], device="cpu")
        return self.models[name]

    def __truediv__(self, name: str) -> Path:
        return self.folder / name


def make_handle_files(folder: Path) -> None:
    """The files the handle's probes read (the parent makes them once)."""
    from PIL import Image

    from musicae.artifacts import SHIPPED_DIR

    special_paths(folder)
    small_folder(folder / "tunes", 2, step=50)
    (folder / "not_midi.mid").write_text("hello")
    (folder / "not_png.png").write_text("hello")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(folder / "digit.png")
    for name, damage in (("config_not_json", "config.json"), ("weights_cut", "model.safetensors")):
        shutil.copytree(SHIPPED_DIR / "folk_mel_2bar", folder / name)
        path = folder / name / damage
        path.write_bytes(b"{" if damage == "config.json" else path.read_bytes()[:1000])


def piece(*notes: tuple[float, float, float]):
    """A PrettyMIDI of (pitch, start, end) notes, written as given (no checks)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(100, p, s, e) for p, s, e in notes]
    pm.instruments.append(inst)
    return pm


NAN, INF = float("nan"), float("inf")
Probe = tuple[str, str, Callable[[Fixtures], object], Callable[[object], str | None] | None]


def _tunes(n: int) -> Callable[[object], str | None]:
    def check(result) -> str | None:
        ok = isinstance(result, list) and len(result) == n and all(
            hasattr(x, "instruments") for x in result)
        return None if ok else f"expected {n} PrettyMIDI, got {_kind(result)}"
    return check


def _images(n: int | None) -> Callable[[object], str | None]:
    def check(result) -> str | None:
        items = result if n is not None else [result]
        ok = isinstance(items, list) and len(items) == (n or 1) and all(
            isinstance(x, np.ndarray) and x.shape == (28, 28) and np.isfinite(x).all()
            and 0 <= x.min() and x.max() <= 1 for x in items)
        return None if ok else f"expected {n or 1} images (28, 28) in [0, 1], got {_kind(result)}"
    return check


def _codes(n: int) -> Callable[[object], str | None]:
    def check(result) -> str | None:
        ok = isinstance(result, np.ndarray) and result.ndim == 2 and len(result) == n \
            and np.isfinite(result).all()
        return None if ok else f"expected ({n}, latent) finite codes, got {_kind(result)}"
    return check


def _kind(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array {x.shape} {x.dtype}"
    return f"{type(x).__name__} of {len(x)}" if isinstance(x, list) else type(x).__name__


def handle_probes() -> list[Probe]:
    """(what, expected: "ok", "error" or "any", the call, a check of an "ok" result)."""
    def tune(f, i=0):
        return sorted((f / "tunes").iterdir())[i]

    z = np.zeros
    music: list[Probe] = [
        ("music sample(2, seed=0)", "ok", lambda f: f.music.sample(2, seed=0), _tunes(2)),
        ("music sample(0)", "error", lambda f: f.music.sample(0), None),
        ("music sample(2.5)", "error", lambda f: f.music.sample(2.5), None),
        ("music sample(10**9)", "error", lambda f: f.music.sample(10**9), None),
        ("music sample(-1)", "error", lambda f: f.music.sample(-1), None),
        ('music sample("2")', "error", lambda f: f.music.sample("2"), None),
        ("music sample(temperature=nan)", "error",
         lambda f: f.music.sample(2, temperature=NAN), None),
        ("music sample(temperature=-1)", "error",
         lambda f: f.music.sample(2, temperature=-1), None),
        ("music sample(temperature=inf)", "error",
         lambda f: f.music.sample(2, temperature=INF), None),
        ('music sample(temperature="x")', "error",
         lambda f: f.music.sample(2, temperature="x"), None),
        ("music sample(seed=-1)", "error", lambda f: f.music.sample(2, seed=-1), None),
        ("music sample(seed=2**70)", "error", lambda f: f.music.sample(2, seed=2**70), None),
        ('music sample(seed="x")', "error", lambda f: f.music.sample(2, seed="x"), None),
        ("music sample(seed=1.5)", "error", lambda f: f.music.sample(2, seed=1.5), None),
        ('music sample(meter="0/4")', "error", lambda f: f.music.sample(2, meter="0/4"), None),
        ('music sample(meter="3/4")', "ok", lambda f: f.music.sample(2, meter="3/4"), _tunes(2)),
        ('music sample(chords="C G") without chords', "error",
         lambda f: f.music.sample(2, chords="C G"), None),
        ("music sample(label=3)", "error", lambda f: f.music.sample(2, label=3), None),
        ("music encode(a tune)", "ok", lambda f: f.music.encode(tune(f)), _codes(1)),
        ("music encode([two tunes])", "ok",
         lambda f: f.music.encode([tune(f), tune(f, 1)]), _codes(2)),
        ("music encode([])", "error", lambda f: f.music.encode([]), None),
        ("music encode(None)", "error", lambda f: f.music.encode(None), None),
        ("music encode(5)", "error", lambda f: f.music.encode(5), None),
        ("music encode(a missing path)", "error", lambda f: f.music.encode(f / "missing"), None),
        ("music encode(a directory)", "error", lambda f: f.music.encode(f / "a_folder"), None),
        ("music encode(/dev/null)", "error", lambda f: f.music.encode("/dev/null"), None),
        ("music encode(/dev/zero)", "error", lambda f: f.music.encode("/dev/zero"), None),
        ("music encode(a FIFO)", "error", lambda f: f.music.encode(f / "fifo"), None),
        ("music encode(not MIDI)", "error", lambda f: f.music.encode(f / "not_midi.mid"), None),
        ("music encode(an image array)", "error", lambda f: f.music.encode(z((28, 28))), None),
        ("music encode(bar=-1)", "error", lambda f: f.music.encode(tune(f), bar=-1), None),
        ("music encode(bar=1.5)", "error", lambda f: f.music.encode(tune(f), bar=1.5), None),
        ("music encode(bar=10**6)", "error", lambda f: f.music.encode(tune(f), bar=10**6), None),
        ("music encode(a note at NaN s)", "error",
         lambda f: f.music.encode(piece((60, NAN, 1.0), (62, 0, 1))), None),
        ("music encode(a note ending at inf)", "error",
         lambda f: f.music.encode(piece((60, 0.0, INF))), None),
        ("music encode(pitch -5)", "error", lambda f: f.music.encode(piece((-5, 0, 1))), None),
        ("music encode(pitch 300)", "error", lambda f: f.music.encode(piece((300, 0, 1))), None),
        ("music encode(a note at -1 s)", "any",
         lambda f: f.music.encode(piece((60, -1.0, 0.5), (62, 0, 1))), None),
        ("music encode(a note 1e12 s long)", "any",
         lambda f: f.music.encode(piece((60, 0.0, 1e12), (62, 0, 1))), None),
        ("music encode(an empty PrettyMIDI)", "any", lambda f: f.music.encode(piece()), None),
        ("music reconstruct(a tune)", "ok", lambda f: [f.music.reconstruct(tune(f))], _tunes(1)),
        ("music reconstruct(a dict)", "error", lambda f: f.music.reconstruct({}), None),
        ("music interpolate(steps=3)", "ok",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), steps=3), _tunes(3)),
        ("music interpolate(steps=1)", "error",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), steps=1), None),
        ("music interpolate(steps=100000)", "error",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), steps=100_000), None),
        ("music interpolate(steps=2.5)", "error",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), steps=2.5), None),
        ('music interpolate(method="nope")', "error",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), method="nope"), None),
        ("music interpolate(temperature=nan)", "error",
         lambda f: f.music.interpolate(tune(f), tune(f, 1), temperature=NAN), None),
        ("music decode(zeros (2, latent))", "ok",
         lambda f: f.music.decode(z((2, f.music.latent_dim))), _tunes(2)),
        ("music decode(zeros (2, 7))", "error", lambda f: f.music.decode(z((2, 7))), None),
        ("music decode(NaN codes)", "error",
         lambda f: f.music.decode(np.full((2, f.music.latent_dim), NAN)), None),
        ("music decode(1e30 codes)", "error",
         lambda f: f.music.decode(np.full((2, f.music.latent_dim), 1e30)), None),
        ("music decode(zero codes)", "error",
         lambda f: f.music.decode(z((0, f.music.latent_dim))), None),
        ("music decode(3-D codes)", "error",
         lambda f: f.music.decode(z((2, 2, f.music.latent_dim))), None),
        ('music decode("x")', "error", lambda f: f.music.decode("x"), None),
        ("music decode(None)", "error", lambda f: f.music.decode(None), None),
        ("music decode(object codes)", "error",
         lambda f: f.music.decode(np.array([[None] * f.music.latent_dim])), None),
    ]
    return music + _image_probes() + _load_probes()


def _image_probes() -> list[Probe]:
    z = np.zeros
    probes: list[Probe] = [
        ("image sample(2, seed=0)", "ok", lambda f: f.image.sample(2, seed=0), _images(2)),
        ("image sample(label=3), no labels", "error", lambda f: f.image.sample(2, label=3), None),
        ("image encode(zeros (28, 28))", "ok", lambda f: f.image.encode(z((28, 28))), _codes(1)),
        ("image encode(zeros (1, 28, 28))", "ok",
         lambda f: f.image.encode(z((1, 28, 28))), _codes(1)),
        ("image encode(a PNG path)", "ok", lambda f: f.image.encode(f / "digit.png"), _codes(1)),
        ("image encode(zeros (27, 28))", "error", lambda f: f.image.encode(z((27, 28))), None),
        ("image encode(zeros (28, 28, 3))", "error",
         lambda f: f.image.encode(z((28, 28, 3))), None),
        ("image encode(values 2.0)", "error",
         lambda f: f.image.encode(np.full((28, 28), 2.0)), None),
        ("image encode(values -0.5)", "error",
         lambda f: f.image.encode(np.full((28, 28), -0.5)), None),
        ("image encode(NaN)", "error", lambda f: f.image.encode(np.full((28, 28), NAN)), None),
        ("image encode(strings)", "error",
         lambda f: f.image.encode(np.full((28, 28), "a")), None),
        ("image encode(objects)", "error",
         lambda f: f.image.encode(np.full((28, 28), None)), None),
        ("image encode(a PrettyMIDI)", "error", lambda f: f.image.encode(piece()), None),
        ("image encode(not a PNG)", "error", lambda f: f.image.encode(f / "not_png.png"), None),
        ("image encode(a FIFO)", "error", lambda f: f.image.encode(f / "fifo"), None),
        ("image encode(/dev/urandom)", "error", lambda f: f.image.encode("/dev/urandom"), None),
        ("image encode([])", "error", lambda f: f.image.encode([]), None),
        ("image reconstruct(zeros)", "ok",
         lambda f: f.image.reconstruct(z((28, 28))), _images(None)),
        ("image interpolate(steps=3)", "ok",
         lambda f: f.image.interpolate(z((28, 28)), np.full((28, 28), 0.5), steps=3),
         _images(3)),
        ("image decode(zeros (2, latent))", "ok",
         lambda f: f.image.decode(z((2, f.image.latent_dim))), _images(2)),
        ("image decode(zeros (2, latent + 1))", "error",
         lambda f: f.image.decode(z((2, f.image.latent_dim + 1))), None),
        ("image decode(label=3), no labels", "error",
         lambda f: f.image.decode(z((2, f.image.latent_dim)), label=3), None),
    ]
    from musicae.artifacts import SHIPPED_DIR

    if (SHIPPED_DIR / "mnist_cvae" / "config.json").is_file():
        probes += _cvae_probes()
    return probes


def _cvae_probes() -> list[Probe]:
    z = np.zeros
    probes: list[Probe] = [
        ("cvae sample(2, label=3)", "ok", lambda f: f.cvae.sample(2, label=3), _images(2))]
    for label in (10, -1, 2.5, "3", True, 10**20):
        probes.append((f"cvae sample(label={label!r})", "error",
                       lambda f, label=label: f.cvae.sample(2, label=label), None))
    probes += [
        ("cvae decode(label=11)", "error",
         lambda f: f.cvae.decode(z((1, f.cvae.latent_dim)), label=11), None),
        ("cvae reconstruct(label=12)", "error",
         lambda f: f.cvae.reconstruct(z((28, 28)), label=12), None),
        ("cvae interpolate(label=-2)", "error",
         lambda f: f.cvae.interpolate(z((28, 28)), z((28, 28)), label=-2), None),
    ]
    return probes


def _load_probes() -> list[Probe]:
    import musicae

    probes: list[Probe] = [
        (f"load({name})", "error", lambda f, arg=arg: musicae.load(arg(f)), None)
        for name, arg in (
            ('"nope"', lambda f: "nope"), ('""', lambda f: ""), ("None", lambda f: None),
            ("5", lambda f: 5), ("a folder without a model", lambda f: f / "a_folder"),
            ("/dev/null", lambda f: "/dev/null"), ("a FIFO", lambda f: f / "fifo"),
            ("a config.json that is not JSON", lambda f: f / "config_not_json"),
            ("cut weights", lambda f: f / "weights_cut"))]
    for device in ("tpu", "cuda:7"):
        probes.append((f'load(device="{device}")', "error",
                       lambda f, device=device: musicae.load("folk_mel_2bar", device), None))
    return probes


def handle_child(folder: Path, first: int) -> None:
    """Run the handle's probes from ``first`` on, in this process; one JSON line each."""
    import torch

    from musicae.errors import MusicaeError

    torch.set_num_threads(1)
    fixtures = Fixtures(folder)

    def emit(**message) -> None:
        print("@@" + json.dumps(message), flush=True)

    for i, (_, expect, call, check) in enumerate(handle_probes()[first:], first):
        emit(i=i, event="start")
        try:
            value = call(fixtures)
        except MusicaeError as exc:
            text = str(exc)
            outcome, detail = ("clean", text[:300]) if expect != "ok" else (
                "wrong", f"a valid call refused: {text[:300]}")
            if "\n" in text or len(text) > ERROR_LINE_MAX:
                outcome, detail = "traceback", f"not a one-line error: {text[:300]!r}"
        except BaseException as exc:  # noqa: BLE001 (every other exception counts)
            outcome, detail = "traceback", f"{type(exc).__name__}: {exc}"[:300]
        else:
            problem = check(value) if check else None
            outcome, detail = ("wrong", f"accepted, returned {_kind(value)}") \
                if expect == "error" else ("wrong", problem) if problem else ("clean", "")
        emit(i=i, event="end", outcome=outcome, detail=detail)
    emit(event="done")


def area_handle(ctx: Ctx) -> None:
    """~60 hostile calls on musicae.load(...) models in one process (restarted after a
    call that hangs or kills it)."""
    folder = ctx.work / "handle"
    make_handle_files(folder)
    whats = [probe[0] for probe in handle_probes()]
    first = 0
    while first < len(whats):
        first = _handle_batch(ctx, folder, first, whats)


def _handle_batch(ctx: Ctx, folder: Path, first: int, whats: list[str]) -> int:
    """Run probes from ``first`` in a child until it ends or a call hangs; the next to run."""
    command = [sys.executable, __file__, "--handle-child", str(folder), "--first", str(first)]
    errors = tempfile.TemporaryFile()  # read only if the child dies: a pipe could fill
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                            env=os.environ | BASE_ENV, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    current, began = None, time.monotonic()
    shown = Result([sys.executable, "-c", "import musicae; musicae.load(...) ..."], 0, "", "", 0)
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            line = ""
        if line is None:  # the child ended: after "done", or dying in a call
            proc.wait()
            if current is None:
                return len(whats)
            errors.seek(0)
            shown.stderr = errors.read().decode(errors="replace")
            ctx.tally.add("handle", whats[current], "traceback",
                          f"the process died (exit {proc.returncode})", shown)
            return current + 1
        if line.startswith("@@"):
            message = json.loads(line[2:])
            if message["event"] == "done":
                proc.wait()
                return len(whats)
            if message["event"] == "start":
                current, began = message["i"], time.monotonic()
            else:
                ctx.tally.add("handle", whats[current], message["outcome"], message["detail"])
                current = None
        overrun = _handle_overrun(proc.pid, began) if current is not None else None
        if overrun:
            kill_group(proc.pid)
            proc.wait()
            ctx.tally.add("handle", whats[current], "hang", overrun)
            return current + 1


def _handle_overrun(pid: int, began: float) -> str | None:
    if time.monotonic() - began > HANDLE_CALL_S:
        return f"still running after {HANDLE_CALL_S} s (killed)"
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) // 1024 for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    return f"{rss} MB resident (killed)" if rss > HANDLE_RSS_MB else None


# --- 7. torchrun ------------------------------------------------------------------------


def area_torchrun(ctx: Ctx) -> None:
    """Two processes under torchrun (gloo); rank 1 killed after the first checkpoint:
    rank 0 ends fast with one line, the checkpoint loads, one process resumes it."""
    for trial in range(ctx.sizes.torchrun_trials):
        _torchrun_trial(ctx, trial, wait=0.5 + 1.5 * trial)


def _torchrun_trial(ctx: Ctx, trial: int, wait: float) -> None:
    from campaign import _checkpoint_problem

    from musicae import artifacts

    out, logs = ctx.work / f"run{trial}", ctx.work / f"logs{trial}"
    train = ["train", "mnist", "--preset", "mnist_ae", "--set", "hidden=[32]", "--quiet"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--log-dir", str(logs), "--redirects", "3", "-m", "musicae", "--threads", "1",
               *train, "--set", "eval_every=50", "--steps", "100000", "--out", str(out)]
    running = start(command, env={"MUSICAE_DIST_TIMEOUT": "60"})
    what = f"rank 1 killed {wait:.1f} s after the first checkpoint"
    if not wait_for(out / "config.json", running, ctx.limit):
        kill_group(running.proc.pid)
        r = finish(running, 10)
        ctx.tally.add("torchrun", what, "wrong", f"no checkpoint came: {r.last_line}", r)
        return
    time.sleep(wait)
    ranks = {_rank(pid): pid for pid in descendants(running.proc.pid)}
    if 1 not in ranks:
        kill_group(running.proc.pid)
        ctx.tally.add("torchrun", what, "wrong", f"no rank 1 among {sorted(ranks)}",
                      finish(running, 10))
        return
    os.kill(ranks[1], signal.SIGKILL)
    r = finish(running, 60)
    left = survivors([p for p in ranks.values() if p])
    rank0 = _rank0_stderr(logs)
    r.stderr = "\n".join(rank0)  # what the row shows: rank 0's own stderr
    ctx.tally.add("torchrun", what, *_judge_rank0(r, rank0, left), r)
    problem = _checkpoint_problem(out, artifacts)
    ctx.tally.add("torchrun", f"the checkpoint after {what}", *(("lost", problem) if problem
                                                                else ("clean", "it loads")))
    if problem:
        return
    step = json.loads((out / "config.json").read_text())["training"]["step"]
    resumed = run(musicae_cmd(*train, "--out", out, "--resume", "--steps", step + 3), ctx.limit)
    outcome, detail = success(resumed)
    ctx.tally.add("torchrun", f"--resume in one process after {what}",
                  "lost" if outcome == "wrong" else outcome, detail, resumed)


def _rank(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((int(v[5:]) for v in environ if v.startswith(b"RANK=")), None)


def _rank0_stderr(logs: Path) -> list[str]:
    """Rank 0's stderr lines, without torchrun's "[rank0]: " prefixes."""
    found = sorted(logs.glob("*/attempt_0/0/stderr.log"))
    text = found[0].read_text(errors="replace") if found else ""
    return [line.removeprefix("[rank0]:").strip() for line in text.splitlines() if line.strip()]


def _judge_rank0(r: Result, rank0: list[str], left: list[int]) -> tuple[str, str]:
    if r.hung:
        return "hang", "torchrun still running 60 s after rank 1 died (killed)"
    if left:
        return "hang", f"{len(left)} process(es) left running"
    if any("Traceback" in line for line in rank0):
        return "traceback", f"rank 0: {rank0[-1][:300]}"
    if not rank0 or not rank0[-1].startswith("error:"):
        return "traceback", f"rank 0 ended without a one-line error ({r.seconds:.1f} s; " \
                            f"its last line: {rank0[-1][:200] if rank0 else 'none'})"
    return "clean", f"{rank0[-1][:200]} ({r.seconds:.1f} s)"


# --- the table --------------------------------------------------------------------------


def table(tally: Tally) -> str:
    columns = ("tried", *OUTCOMES)
    rows = ["| area | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    total = dict.fromkeys(columns, 0)
    for area, counts in tally.areas.items():
        rows.append(f"| {area} | " + " | ".join(str(counts[c]) for c in columns) + " |")
        for c in columns:
            total[c] += counts[c]
    rows.append("| **total** | " + " | ".join(f"**{total[c]}**" for c in columns) + " |")
    return "\n".join(rows)


def report(tally: Tally) -> None:
    print("\n" + table(tally))
    if tally.cases:
        print(f"\n{len(tally.cases)} case(s) not clean:")
    for case in tally.cases:
        print(f"- [{case['area']}] {case['outcome']}: {case['case']}: {case['detail']}")
        if case["command"]:
            print(f"    command: {case['command'][:600]}")
        if case["stderr"]:
            print(f"    stderr:  {case['stderr']}")


RUNNERS = {"config": area_config, "soundfont": area_soundfont, "disk": area_disk,
           "writers": area_writers, "signals": area_signals, "handle": area_handle,
           "torchrun": area_torchrun}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(AREAS),
                        help=f"areas to run, comma-separated: {','.join(AREAS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "stress" / "round_two.json")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before a hang")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flips", type=int, default=6, help="byte-flipped SoundFonts")
    parser.add_argument("--moments", default="0.15,0.45",
                        help="signals: when, as fractions of a clean prepare's time")
    parser.add_argument("--jobs", type=int, default=1, help="config, soundfont: commands at once")
    parser.add_argument("--early-interrupts", type=int, default=12,
                        help="signals: Ctrl-C trials in a prepare's first seconds")
    parser.add_argument("--writer-trials", type=int, default=2)
    parser.add_argument("--torchrun-trials", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="print clean cases too")
    parser.add_argument("--handle-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.handle_child:
        handle_child(args.handle_child, args.first)
        return
    areas = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        parser.error(f"unknown area(s) {unknown}; choose from {', '.join(AREAS)}")
    tally, seconds = Tally(args.verbose), {}
    with tempfile.TemporaryDirectory(prefix="round_two-") as tmp:
        BASE_ENV.update(MUSICAE_CACHE=str(Path(tmp) / "cache"),
                        MUSICAE_HOME=str(Path(tmp) / "home"))
        for area in areas:
            print(f"{area}:", flush=True)
            began = time.monotonic()
            (Path(tmp) / area).mkdir()
            RUNNERS[area](Ctx(Path(tmp) / area, tally, args.limit, args.seed, args))
            seconds[area] = round(time.monotonic() - began, 1)
            print(f"  {tally.areas.get(area)} in {seconds[area]} s", flush=True)
    report(tally)
    results = {"areas": {a: tally.areas.get(a, {}) | {"seconds": seconds[a]} for a in areas},
               "cases": tally.cases, "notes": tally.notes}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    sys.exit(1 if tally.cases else 0)


if __name__ == "__main__":
    main()
