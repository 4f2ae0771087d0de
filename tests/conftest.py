"""Fixtures every test module may use: the command line, in-process and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parents[1]
# Test models are tiny: a second intra-op thread buys nothing, and on a machine shared with
# other jobs OpenMP threads that wait for busy cores made steps up to 60x slower.
THREADS = 1


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory) -> None:
    """Dataset caches go to a throwaway folder unless MUSICAE_CACHE names one; user files
    (attribute vectors of shipped models) always do."""
    if "MUSICAE_CACHE" not in os.environ:
        os.environ["MUSICAE_CACHE"] = str(tmp_path_factory.mktemp("musicae-cache"))
    os.environ["MUSICAE_HOME"] = str(tmp_path_factory.mktemp("musicae-home"))  # user files


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``musicae ARGS...`` in this process: ``cli("models", "--json")``.

    The result keeps stdout and stderr apart (``result.stdout``, ``result.stderr``);
    an exception that escaped the command is in ``result.exception``.
    """
    from musicae.cli import main

    runner = CliRunner()

    def run(*args: object) -> Result:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return run


@pytest.fixture
def cli_process() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python cli.py ARGS...`` as its own process, as a user would."""

    def run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, str(ROOT / "cli.py"), *map(str, args)]
        env = os.environ | {"OMP_NUM_THREADS": str(THREADS)}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd,
                              env=env)

    return run
