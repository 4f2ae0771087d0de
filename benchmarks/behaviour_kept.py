"""Behaviour kept across a refactor: ``musicae --threads 1 evaluate MODEL DATA --json`` for
every shipped model, from this checkout and from another commit's, side by side.

    python benchmarks/behaviour_kept.py 757a919d          # every shipped model
    python benchmarks/behaviour_kept.py 757a919d folk_mel_2bar mnist_cvae

The other commit is checked out into a temporary git worktree and run from there (its
own code, this checkout's shipped models and data). Each side cuts its own windows, into
a dataset cache of its own that starts empty. Prints, per model, whether the two
JSON results are identical, and the fields that differ; exits 1 if any does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "data" / "models"
IGNORED = {"model"}  # the path of the model evaluated: the checkout's own


def evaluate(checkout: Path, model: str, data: str, cache: Path) -> dict:
    env = os.environ | {"PYTHONPATH": str(checkout), "MUSICAE_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-m", "musicae", "--threads", "1", "evaluate",
                           str(MODELS / model), data, "--json"], cwd=checkout, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return {k: v for k, v in json.loads(done.stdout).items() if k not in IGNORED}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="the commit to compare with (e.g. the one before)")
    parser.add_argument("models", nargs="*", help="default: every model in data/models")
    args = parser.parse_args()
    names = args.models or sorted(p.parent.name for p in MODELS.glob("*/config.json"))
    different = 0
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.commit],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            for name in names:
                data = json.loads((MODELS / name / "config.json").read_text())["data"]
                old = evaluate(before, name, data, Path(tmp) / "cache_before")
                new = evaluate(ROOT, name, data, Path(tmp) / "cache_after")
                changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
                different += bool(changed)
                print(f"{name:28s} {'identical' if not changed else 'DIFFERENT'}"
                      + "".join(f"\n    {k}: {old.get(k)} -> {new.get(k)}" for k in changed),
                      flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           check=False, capture_output=True)
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
