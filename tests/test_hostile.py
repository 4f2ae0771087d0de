"""Hostile input, in small: damaged real files, random option values and paths, kill -9
during training, two preparations sharing a cache. The large campaign is
``tests/stress/campaign.py`` (outside the default run; its figures are in the README)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from fixtures.mutate import MUTATIONS, mutated_folder, odd_entries
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicae import artifacts
from musicae.datasets.midi import bundled, list_midi

ENV = os.environ | {"OMP_NUM_THREADS": "1"}


def musicae(*args: object, timeout: float = 240, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "musicae", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=ENV | env)


def test_damaged_real_files_are_each_used_or_reported(tmp_path):
    """Every mutation of real files (cut, flipped, a note years away, absurd tempi and
    meters, lying headers) and every odd entry (FIFO, device link, dangling link, a
    folder named .mid, non-UTF-8 names): each file is used or listed with its reason;
    no traceback, no hang (the process runs under a time limit)."""
    sources = list_midi(bundled("folk"))[::500] + list_midi(bundled("chorales"))[::100]
    folder = tmp_path / "damaged"
    written = mutated_folder(sources, folder, 4 * len(MUTATIONS), seed=1)
    odd = odd_entries(folder, sources[0])
    files = len(written) + sum(1 for kind in odd.values() if kind != "folder")
    for preset in ("mel_2bar_small", "pianoroll_2bar"):
        done = musicae("prepare", folder, "--preset", preset, "--workers", 1, "--json",
                       "--quiet", timeout=180, MUSICAE_CACHE=str(tmp_path / "cache"))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        report = json.loads(done.stdout)
        listed = [name for names in report["skipped_files"].values() for name in names]
        assert report["files_seen"] == files
        assert report["files_used"] + len(listed) == files, report["skipped"]
        assert report["files_used"] >= 3  # at least the good files under odd names
        assert any(name.startswith("pipe.mid") for name in listed)


# --- option values and paths: a one-line error, never a traceback, never accepted -------

# What each numeric option accepts, written out here (not read from the code under test).
RANGES = {
    ("sample", "--temperature"): (0.0, math.inf, float),
    ("sample", "-n"): (1, 10_000, int),
    ("sample", "--qpm"): (10.0, 1000.0, float),
    ("sample", "--program"): (0, 127, int),
    ("sample", "--seed"): (0, 2**63 - 1, int),
    ("train", "--lr"): (math.ulp(0.0), math.inf, float),  # above 0
    ("train", "--minutes"): (math.ulp(0.0), math.inf, float),
    ("train", "--steps"): (1, 10**9, int),
    ("train", "--batch-size"): (1, 65_536, int),
    ("train", "--transpose"): (0, 12, int),
    ("train", "--seed"): (0, 2**63 - 1, int),
    ("interpolate", "--steps"): (2, 10_000, int),
    ("demo", "--seed"): (0, 2**63 - 1, int),
}
# Each command with a valid rest of the line that still fails, cheaply, after the options
# are checked: a model or data folder that does not exist.
LINES = {
    "sample": ["sample", "/nonexistent/model", "-o", "{out}"],
    "train": ["train", "/nonexistent/data", "--preset", "mel_2bar_small", "--out", "{out}"],
    "interpolate": ["interpolate", "/nonexistent/a.mid", "/nonexistent/b.mid", "-o", "{out}"],
    "demo": ["demo", "-o", "{out}/under/a/file", "--device", "tpu"],
}


def _valid(text: str, low, high, kind) -> bool:
    try:
        value = kind(text)
    except ValueError:
        return False
    return (math.isfinite(value) and low <= value <= high) if kind is float else \
        low <= value <= high


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "+Infinity", "1e400", "", " ", "0x10",
                     "1_000", "½", "1,5", "--1"]),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(RANGES)), text=numbers)
def test_numeric_options_are_refused_in_one_line_unless_in_range(cli, tmp_path, option, text):
    """Any text for a numeric option: a value out of its range (or not a number) is a
    one-line error naming the option; a value in range passes on to the next error (the
    missing model or data). Never a traceback, never exit 0."""
    command, flag = option
    args = [a.replace("{out}", str(tmp_path / "out")) for a in LINES[command]]
    result = cli(*args, flag, text)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.lower().startswith("error:"), result.stderr
    names_option = f"'{flag}'" in result.stderr or f"{flag} must" in last
    assert names_option != _valid(text, *RANGES[option]), (text, result.stderr)
    assert not (tmp_path / "out").exists()


path_parts = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\x00/", blacklist_categories=["Cs"]),
            min_size=1, max_size=40).filter(lambda part: part != ".."),
    st.sampled_from(["a_file", ".", "x" * 300, " ", "-", "~", "*", "\n"]),  # no "..": stay in
)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(path_parts, min_size=1, max_size=3))
def test_any_output_path_is_used_or_refused_in_one_line(cli, tmp_path, parts):
    """``-o`` given any path (under a file, too long, odd characters): either the command
    gets past the path (and stops at the missing model) or it refuses the path in one
    line; nothing is written and no traceback escapes."""
    (tmp_path / "a_file").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path.joinpath(*parts)
    result = cli("sample", "/nonexistent/model", "-o", out)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- kill -9 during training, then resume -----------------------------------------------

TINY = ["--set", "hidden=[32]", "--set", "latent_dim=2", "--set", "eval_every=1",
        "--set", "eval_batches=1", "--quiet", "--device", "cpu"]


@pytest.mark.parametrize("seconds", [4.0, 6.5])
def test_kill_9_during_training_leaves_one_whole_checkpoint_that_resumes(tmp_path, seconds):
    """A run checkpointing every step is killed with SIGKILL at a random moment: the
    directory loads, its optimizer state is at the config's step (one unit), and a resume
    finishes with one metrics record per step."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "musicae", "train", "mnist", "--preset", "mnist_ae",
               "--out", str(out), "--steps", "100000", *TINY]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=ENV)
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the first checkpoint
    time.sleep(seconds * random.Random(seconds).uniform(0.2, 1.0))
    assert process.poll() is None, process.stderr.read().decode()  # killed while training
    process.send_signal(signal.SIGKILL)
    process.wait()
    bundle = artifacts.load(out)
    step = bundle.meta["training"]["step"]
    optimizer = artifacts.load_optimizer_state(out, bundle.model)
    assert {float(s["step"]) for s in optimizer["state"].values()} == {float(step)}
    resumed = musicae("train", "mnist", "--preset", "mnist_ae", "--out", out, "--steps",
                      step + 3, "--resume", "--json", *TINY)
    assert resumed.returncode == 0, resumed.stderr
    steps = [json.loads(line)["step"] for line in
             (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == step + 3, steps[-8:]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


# --- two preparations, one cache -----------------------------------------------------------


def test_two_prepares_at_once_on_one_cache_agree(tmp_path):
    """Two processes preparing one folder into one cache at the same time both succeed,
    report the same windows, and leave a cache a third run reads whole."""
    folder = tmp_path / "tunes"
    folder.mkdir()
    for path in list_midi(bundled("folk"))[::10]:
        (folder / path.name).write_bytes(path.read_bytes())
    cache = str(tmp_path / "cache")
    command = [sys.executable, "-m", "musicae", "prepare", str(folder), "--preset",
               "mel_2bar_small", "--workers", "1", "--json", "--quiet"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENV | {"MUSICAE_CACHE": cache}) for _ in range(2)]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    reports = [json.loads(stdout) for stdout, _ in outputs]
    keep = ("files_seen", "files_used", "windows", "skipped_files", "windows_by_meter",
            "pitch_range")
    assert [{k: r[k] for k in keep} for r in reports][0] == {k: reports[1][k] for k in keep}
    third = musicae("prepare", folder, "--preset", "mel_2bar_small", "--json", "--quiet",
                    MUSICAE_CACHE=cache)
    again = json.loads(third.stdout)
    assert {k: again[k] for k in keep} == {k: reports[0][k] for k in keep}
    assert again["files_parsed"] == 0 and again["files_cached"] == again["files_seen"]



# --- round two (issue #28): special files, settings, one writer per output -----------------


def _special_files(tmp_path) -> dict[str, str]:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    (tmp_path / "folder.toml").mkdir()
    return {"a FIFO": str(fifo), "/dev/zero": "/dev/zero", "/dev/urandom": "/dev/urandom",
            "a folder": str(tmp_path / "folder.toml")}


def test_special_files_as_config_or_soundfont_are_one_line_not_a_hang(tmp_path):
    """A FIFO would block forever, /dev/zero would fill memory: both are refused at once."""
    for what, path in _special_files(tmp_path).items():
        done = musicae("train", "mnist", "--preset", "mnist_ae", "--out", tmp_path / "run",
                       "--steps", 1, "--config", path, timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: "), (what, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and "not a regular file" in done.stderr
        done = musicae("sample", "-n", 1, "-o", tmp_path / "out", "--wav", timeout=60,
                       MUSICAE_SOUNDFONT=path)
        assert done.returncode == 2 and "cannot read the SoundFont" in done.stderr, done.stderr
        assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting", ["lr = 1e300", "lr_decay = 1e300", "max_beta = -1",
                                     "grad_clip = 0", "grad_clip = -1", "beta_rate = 1e10",
                                     "seed = 18446744073709551616", "steps = 0",
                                     f"arch = \"{'x' * 100_000}\""])
def test_settings_from_a_file_pass_the_flags_checks(cli, tmp_path, setting):
    (tmp_path / "c.toml").write_text(setting + "\n")
    result = cli("train", "mnist", "--preset", "mnist_ae", "--out", tmp_path / "run",
                 "--config", tmp_path / "c.toml")
    assert result.exit_code == 2 and result.stderr.startswith("error: "), result.output
    line = result.stderr.strip()
    assert "\n" not in line and len(line) <= 500  # a long value is cut, not echoed
    assert not (tmp_path / "run").exists()


def test_a_second_writer_is_refused_naming_the_first(cli, tmp_path):
    """While one command holds an output folder, another gets a one-line error naming it,
    and the folder keeps the first command's files only."""
    from musicae.files import one_writer

    out = tmp_path / "out"
    assert cli("sample", "mnist_conv_vae", "-n", 2, "-o", out, "--seed", 1).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with one_writer(out):
        result = cli("sample", "mnist_conv_vae", "-n", 3, "-o", out, "--seed", 2)
    assert result.exit_code == 2 and "another musicae command is writing there" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr  # who holds it
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_failed_command_leaves_its_output_folder_as_it_was(cli, tmp_path, monkeypatch):
    """Files go to a staging folder and move in only when all are written: a failure
    part way (a full disk, here a write that fails) changes nothing, and the next run
    sweeps what a killed one left."""
    from musicae.datasets import images

    out = tmp_path / "out"
    assert cli("sample", "mnist_conv_vae", "-n", 2, "-o", out, "--seed", 1).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / ".musicae-staging-killed").mkdir()  # what a killed run leaves
    (out / ".sample_000.png.tmp-99999").write_bytes(b"half")
    written = []

    def full_disk(array, path):
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)

    monkeypatch.setattr(images, "write_png", full_disk)
    monkeypatch.setattr("musicae.domains.image.write_png", full_disk)
    result = cli("sample", "mnist_conv_vae", "-n", 3, "-o", out, "--seed", 2)
    assert result.exit_code == 2 and "no space left on device" in result.stderr, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # swept, and as it was
