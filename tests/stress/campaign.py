"""Hostile-input campaign, outside the default test run: damaged files, bad command lines,
kill -9 during training. Prints the counts the README quotes and writes them as JSON.

    python tests/stress/campaign.py [--files 1000] [--kills 40] [--out results.json]

files: ``--files`` damaged copies of real files from the bundled corpora (every mutation
    of ``tests/fixtures/mutate.py`` in turn) and the odd entries a folder walk meets
    (FIFO, device link, dangling link, a folder named .mid, non-UTF-8 names), prepared
    by ``musicae prepare`` as its own process under a time limit, for two representations.
    Every file must be used or listed among the skipped ones; a hang is a run past the
    limit. A traceback is any Python traceback on stderr.
invocations: every command with each bad value of each of its options (numbers that
    are NaN, infinite, out of range or not numbers; output paths that are files, lie
    under a file or are too long; unknown devices, meters, chords, settings; damaged
    inputs and model directories), run in one process through click's test runner.
    Clean: a non-zero exit whose last stderr line starts with "error:". Silently
    accepted: exit 0.
kills: a tiny training run checkpointing every step, killed with SIGKILL after a random
    time; then the directory must load, its optimizer state agree with its config's step,
    metrics.jsonl hold no step past it after a resume, and the resume must succeed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.mutate import mutated_folder, odd_entries  # noqa: E402

from musicae.datasets.midi import bundled, list_midi, split_files  # noqa: E402

PREPARE_LIMIT_S = 900  # a prepare past this is a hang
PRESETS = ("mel_2bar_small", "pianoroll_2bar")


def musicae(*args, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "musicae", *map(str, args)]
    environment = os.environ | {"OMP_NUM_THREADS": "1"} | (env or {})
    return subprocess.run(command, capture_output=True, timeout=timeout, env=environment)


# --- files ------------------------------------------------------------------------------


def files(count: int, seed: int, work: Path) -> dict:
    sources = list_midi(bundled("folk"))[::7] + list_midi(bundled("chorales"))[::3]
    folder = work / "damaged"
    written = mutated_folder(sources, folder, count, seed)
    odd = odd_entries(folder, sources[0])
    expected = len(written) + sum(1 for kind in odd.values() if kind != "folder")
    totals = {"files": 0, "used_or_reported": 0, "tracebacks": 0, "hangs": 0, "runs": 0}
    for preset in PRESETS:
        totals["runs"] += 1
        try:
            done = musicae("prepare", folder, "--preset", preset, "--workers", "1", "--json",
                           "--quiet", timeout=PREPARE_LIMIT_S,
                           env={"MUSICAE_CACHE": str(work / "cache")})
        except subprocess.TimeoutExpired:
            totals["hangs"] += 1
            continue
        stderr = done.stderr.decode(errors="replace")
        totals["tracebacks"] += "Traceback" in stderr
        report = json.loads(done.stdout) if done.returncode == 0 else {}
        listed = sum(len(names) for names in report.get("skipped_files", {}).values())
        totals["files"] += expected
        if report.get("files_seen") == expected and report["files_used"] + listed == expected:
            totals["used_or_reported"] += expected
        else:
            print(f"  {preset}: saw {report.get('files_seen')} of {expected} files; "
                  f"{stderr.strip().splitlines()[-1:]}")
    return totals


# --- invocations ------------------------------------------------------------------------

FLOATS = ["nan", "inf", "-inf", "1e400", "abc", ""]
INTS = ["abc", "1.5", "", "99999999999999999999999", "-99999999999999999999999"]


def invocations(work: Path) -> list[tuple[list[str], str]]:
    """(command line, what is wrong with it)."""
    a_file = work / "a_file"
    a_file.write_text("x")
    long_name = work / ("x" * 300)
    tune_a, tune_b = (str(p) for p in split_files(bundled("folk"))["test"][:2])
    codes = work / "codes.npy"
    np.save(codes, np.zeros((2, 256), np.float32))
    bad_codes = {}
    for name, array in (("nan", np.full((2, 256), np.nan, np.float32)),
                        ("inf", np.full((2, 256), np.inf, np.float32)),
                        ("empty", np.zeros((0, 256), np.float32)),
                        ("wide", np.zeros((2, 7), np.float32)),
                        ("3d", np.zeros((2, 2, 256), np.float32)),
                        ("huge", np.full((2, 256), 1e30, np.float32)),
                        ("strings", np.array([["a"] * 256]))):
        np.save(work / f"codes_{name}.npy", array)
        bad_codes[name] = work / f"codes_{name}.npy"
    (work / "pickled.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order':"
                                       b" False, 'shape': (1,), }" + b" " * 60 + b"\n" + b"x")
    bad_codes["object"] = work / "pickled.npy"
    not_midi = work / "not_midi.mid"
    not_midi.write_text("hello")
    empty_dir = work / "empty_dir"
    empty_dir.mkdir()
    models = _poisoned_models(work)
    out = str(work / "out")
    bases = {
        "train": ["train", "folk", "--preset", "mel_2bar_small", "--out", out, "--steps", "2",
                  "--set", "enc_size=16", "--set", "dec_size=16", "--set", "latent_dim=4",
                  "--quiet"],
        "sample": ["sample", "-n", "1", "-o", out],
        "interpolate": ["interpolate", tune_a, tune_b, "-o", out],
        "reconstruct": ["reconstruct", tune_a, "-o", out],
        "encode": ["encode", tune_a, "-o", str(work / "enc.npy")],
        "decode": ["decode", "folk_mel_2bar", str(codes), "-o", out],
        "prepare": ["prepare", "folk", "--preset", "mel_2bar_small", "--quiet"],
        "evaluate": ["evaluate", "folk_mel_2bar", "folk", "--split", "valid"],
        "attribute": ["attribute", "folk_mel_2bar", "folk", "--name", "density", "--split",
                      "valid"],
        "plot-latent": ["plot-latent", "mnist_vae_2d", "--data", "mnist", "-o",
                        str(work / "l.png")],
        "demo": ["demo", "-o", out],
    }
    from musicae.cli import main

    cases: list[tuple[list[str], str]] = [(base, "control") for base in bases.values()]
    for command, base in bases.items():
        for param in main.commands[command].params:
            flag = next((o for o in param.opts if o.startswith("-")), None)
            for value, why in _bad_values(param, command, a_file, long_name):
                if flag is None:
                    continue
                cases.append((_with(base, flag, value), f"{command} {flag} {why}"))
        cases.append((base + ["--device", "tpu"], f"{command} --device tpu"))
        cases.append((base + ["--device", "cuda:7"], f"{command} --device cuda:7 (no GPU)"))
        for model, why in models.items():
            if "attributes" in why and command != "sample":
                continue  # only --shift reads attribute vectors
            if command in ("sample", "evaluate", "attribute", "decode"):
                args = list(base)
                if command == "sample":
                    args[1:1] = [model, "--shift", "density=1"]  # uses the vectors too
                else:
                    args[1] = model
                cases.append((args, f"{command} with a model directory whose {why}"))
    for name, path in bad_codes.items():
        cases.append((["decode", "folk_mel_2bar", str(path), "-o", out], f"decode {name} codes"))
    for shift in ("density=nan", "density", "nope=1", "=1", "density=1e400", "density=-inf"):
        cases.append((bases["sample"] + ["--shift", shift], f"sample --shift {shift}"))
    for meter in ("0/4", "4/0", "abc", "1000/4", "4/3", "-4/4"):
        cases.append((bases["sample"] + ["--meter", meter], f"sample --meter {meter}"))
    for chords in ("C G", "H", ""):
        cases.append((bases["sample"] + ["--chords", chords],
                      f"sample --chords {chords!r} to a model without chords"))
    cases.append((["sample", "chorales_mel_chords_2bar", "-o", out, "--chords", "C X7"],
                  "sample --chords with an unknown symbol"))
    for setting in ("free_bits=NaN", "enc_size=200000", "latent_dim=-1", "bars=1000", "nope=1",
                    "lr=inf", "batch_size=0", "x", "enc_size=[1]", "dropout=2"):
        cases.append((bases["train"] + ["--set", setting], f"train --set {setting}"))
    for data, why in ((work / "nowhere", "missing"), (a_file, "a file"), (empty_dir, "empty")):
        for command in ("train", "prepare", "evaluate"):
            args = list(bases[command])
            args[1 if command != "evaluate" else 2] = str(data)
            cases.append((args, f"{command} DATA {why}"))
    for inputs, why in (([str(work / "nowhere.mid")], "missing input"), ([str(not_midi)],
                        "not MIDI"), ([str(empty_dir)], "a folder"), ([], "no input")):
        cases.append((["reconstruct", *inputs, "-o", out], f"reconstruct {why}"))
        cases.append((["encode", *inputs, "-o", str(work / "e.npy")], f"encode {why}"))
    cases.append((["interpolate", tune_a, "-o", out], "interpolate with one input"))
    cases.append((["train", "folk", "--preset", "nope", "--out", out], "train unknown preset"))
    cases.append((bases["train"] + ["--resume"], "train --resume without a run"))
    return cases


def _with(base: list[str], flag: str, value: str) -> list[str]:
    """``base`` with ``flag`` set to ``value`` (replacing its value if present)."""
    args = list(base)
    if flag in args:
        args[args.index(flag) + 1] = value
        return args
    return args + [flag, value]


def _bad_values(param, command: str, a_file: Path, long_name: Path) -> list[tuple[str, str]]:
    import click

    kind = type(param.type).__name__
    own_cases = ("device", "shift", "meter", "chords", "settings")
    if getattr(param, "is_flag", False) or param.name in own_cases:
        return []  # flags take no value; the others have their own cases
    if kind == "Finite":
        values = list(FLOATS)
        if param.type.min is not None:
            values.append(str(param.type.min - 1))
        if param.type.max is not None:
            values.append(str(param.type.max * 10))
        return [(v, repr(v)) for v in values]
    if isinstance(param.type, click.IntRange):
        values = list(INTS)
        if param.type.min is not None:
            values.append(str(param.type.min - 1))
        if param.type.max is not None:
            values.append(str(param.type.max + 1))
        return [(v, repr(v)) for v in values]
    if kind == "IntParamType":
        return [(v, repr(v)) for v in INTS]
    if isinstance(param.type, click.Choice):
        return [("nope", "'nope'")]
    if isinstance(param.type, click.Path) or param.name == "out":
        writes_a_file = command in ("encode", "plot-latent")  # an existing file is replaced
        return [(str(a_file / "under"), "under a file"), (str(long_name / "x"), "name too long"),
                ("", "empty"), ("/proc/musicae", "not writable")] + (
            [] if writes_a_file else [(str(a_file), "an existing file")])
    return []


def _poisoned_models(work: Path) -> dict[str, str]:
    """Copies of the shipped melody model, each damaged one way: path → what is wrong."""
    from musicae.artifacts import SHIPPED_DIR

    shipped = SHIPPED_DIR / "folk_mel_2bar"
    config = json.loads((shipped / "config.json").read_text())
    made = {}

    def copy(name: str, why: str) -> Path:
        path = work / "models" / name
        shutil.copytree(shipped, path)
        made[str(path)] = why
        return path

    for name, change in (("list_overrides", {"overrides": [1, 2]}),
                         ("negative", {"overrides": {"enc_size": -5}}),
                         ("huge", {"overrides": {"enc_size": 200000}}),
                         ("no_preset", {"preset": "nope"}),
                         ("bad_rep", {"representation": {"kind": "nope"}}),
                         ("attributes", {"attributes": {"density": {"vector": "x"}}})):
        path = copy(name, f"config has {json.dumps(change)}")
        (path / "config.json").write_text(json.dumps(config | change))
    path = copy("truncated_weights", "weights are cut in half")
    raw = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    path = copy("pickle_weights", "weights are a pickle")
    (path / "model.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    path = copy("config_text", "config.json is not JSON")
    (path / "config.json").write_text("{")
    return made


def run_invocations(work: Path) -> dict:
    from click.testing import CliRunner

    from musicae.cli import main

    os.environ["MUSICAE_HOME"] = str(work / "home")
    runner = CliRunner()
    totals = {"tried": 0, "clean_errors": 0, "tracebacks": 0, "silently_accepted": 0,
              "controls": 0, "controls_ok": 0}
    failures = []
    import torch

    torch.set_num_threads(1)
    for args, why in invocations(work):
        shutil.rmtree(work / "out", ignore_errors=True)
        started = time.perf_counter()
        result = runner.invoke(main, args, catch_exceptions=True)
        if time.perf_counter() - started > 5:
            print(f"  slow ({time.perf_counter() - started:.0f} s): {why}", flush=True)
        if why == "control":  # the valid line each bad one changes: it must work
            totals["controls"] += 1
            totals["controls_ok"] += result.exit_code == 0
            if result.exit_code:
                print(f"  control failed: {args}: {result.output[-300:]}", flush=True)
            continue
        totals["tried"] += 1
        stderr = result.stderr.strip().splitlines()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            totals["tracebacks"] += 1
            failures.append(f"traceback: {why}: {result.exception!r}")
            print("  " + failures[-1], flush=True)
        elif result.exit_code == 0:
            totals["silently_accepted"] += 1
            failures.append(f"accepted: {why}")
            print("  " + failures[-1], flush=True)
        elif stderr and stderr[-1].lower().startswith("error:"):
            totals["clean_errors"] += 1
        else:
            totals["tracebacks"] += 1
            failures.append(f"unclear: {why}: {stderr[-1:]}")
            print("  " + failures[-1], flush=True)
    return totals


# --- kills ------------------------------------------------------------------------------


def kills(count: int, seed: int, work: Path) -> dict:
    from musicae import artifacts

    rng = random.Random(seed)
    run = work / "killed"
    totals = {"kills": 0, "resumes": 0, "inconsistent": 0}  # resumes: runs that went on
    train = ["train", "mnist", "--preset", "mnist_ae", "--set", "latent_dim=2",
             "--set", "eval_every=1", "--set", "eval_batches=1", "--quiet"]
    step = 0
    for i in range(count):
        fresh = not (run / "config.json").exists()
        args = train + ["--out", run, "--steps", "100000"] + ([] if fresh else ["--resume"])
        command = [sys.executable, "-m", "musicae", *map(str, args)]
        env = os.environ | {"OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env)
        time.sleep(rng.uniform(4.0, 9.0))
        if process.poll() is not None:  # it must still be training when the kill comes
            totals["inconsistent"] += 1
            print(f"  kill {i}: the run had stopped (exit {process.returncode}): "
                  f"{process.stderr.read().decode()[-300:]}")
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        totals["kills"] += 1
        problem = _checkpoint_problem(run, artifacts)
        if problem:
            totals["inconsistent"] += 1
            print(f"  kill {i}: {problem}")
            shutil.rmtree(run)
            step = 0
            continue
        now = json.loads((run / "config.json").read_text())["training"]["step"] \
            if (run / "config.json").exists() else 0
        if now > step or fresh:  # the resumed run got on before the kill
            totals["resumes"] += not fresh
        else:
            print(f"  kill {i}: the resumed run made no step ({step} -> {now})")
        step = now
    if (run / "config.json").exists():  # the last set resumes and finishes
        step = json.loads((run / "config.json").read_text())["training"]["step"]
        done = musicae(*train, "--out", run, "--steps", step + 2, "--resume", timeout=300)
        if done.returncode != 0:
            totals["inconsistent"] += 1
            print("  final resume failed: " + done.stderr.decode()[-300:])
        else:
            steps = [json.loads(line)["step"] for line in
                     (run / "metrics.jsonl").read_text().splitlines()]
            if steps != sorted(set(steps)):
                totals["inconsistent"] += 1
                print(f"  metrics steps repeat or go back: {steps[-10:]}")
    return totals


def _checkpoint_problem(run: Path, artifacts) -> str | None:
    """What is wrong with the checkpoint set a kill left, or None."""
    if not (run / "config.json").exists():
        return None if not (run / "model.safetensors").exists() else "weights without config"
    try:
        bundle = artifacts.load(run)
        optimizer = artifacts.load_optimizer_state(run, bundle.model)
    except Exception as exc:  # noqa: BLE001 (any failure counts)
        return f"does not load: {exc}"
    step = bundle.meta["training"]["step"]
    steps = {float(slots["step"]) for slots in optimizer["state"].values()}
    if steps != {float(step)}:
        return f"optimizer at step {steps}, config at {step}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="files,invocations,kills")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "stress" / "results.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in args.parts.split(","):
            started = time.perf_counter()
            print(f"{part}:")
            (work / part).mkdir()
            if part == "files":
                results[part] = files(args.files, args.seed, work / part)
            elif part == "invocations":
                results[part] = run_invocations(work / part)
            elif part == "kills":
                results[part] = kills(args.kills, args.seed, work / part)
            results[part]["seconds"] = round(time.perf_counter() - started, 1)
            print(f"  {results[part]}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
