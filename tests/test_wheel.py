"""The built wheel carries the shipped models and corpora and runs outside the repository."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_installed_elsewhere_finds_its_models_and_corpora(tmp_path):
    """``pip wheel .``, installed in a new virtual environment (its dependencies taken
    from this one), run from another folder: the shipped models and the bundled corpora
    come from inside the wheel, and no top-level ``cli`` module is installed."""
    isolation = [] if importlib.util.find_spec("setuptools") is None else [
        "--no-build-isolation"]  # setuptools is here: no need to fetch it
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                            *isolation, "-q", "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("musicae-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"musicae"}  # no `cli`
    shipped = sorted(p.name for p in (ROOT / "data" / "models").iterdir() if p.is_dir())
    for model in shipped:
        assert f"musicae/bundled/models/{model}/model.safetensors" in names
    for corpus in ("folk", "chorales", "groove", "pop909", "ensembles"):
        wanted = sum(1 for _ in (ROOT / "data" / corpus).rglob("*.mid"))
        inside = [n for n in names if n.startswith(f"musicae/bundled/{corpus}/")]
        assert sum(n.endswith(".mid") for n in inside) == wanted
    assert "musicae/bundled/mnist/mnist5k.npz" in names
    assert "musicae/bundled/README.md" in names  # sources and licences travel along
    for corpus in ("folk", "chorales"):
        assert f"musicae/bundled/{corpus}/manifest.csv" in names  # each file's source

    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # its dependencies: this environment's, behind its own site-packages (a .pth file)
    own = subprocess.run([str(python), "-c", "import sysconfig; "
                          "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                         text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    Path(own, "zz_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                                "-q", "--no-deps", str(wheel)], capture_output=True, text=True,
                               timeout=300)
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], capture_output=True, text=True,
                              cwd=elsewhere, env=env, timeout=300)

    where = run("-c", "import musicae.paths, importlib.util; "
                      "print(musicae.paths.DATA_DIR); print(importlib.util.find_spec('cli'))")
    assert where.returncode == 0, where.stderr
    data_dir, cli_spec = where.stdout.split()
    assert Path(data_dir).is_relative_to(env_dir) and cli_spec == "None"
    listing = run("-m", "musicae", "models", "--json")
    assert listing.returncode == 0, listing.stderr
    models = json.loads(listing.stdout)["shipped"]
    assert sorted(m["name"] for m in models) == shipped
    assert all(m["metrics"] for m in models), "every shipped model reports its metrics"
    sampled = run("-m", "musicae", "sample", "-n", "2", "--seed", "0", "-o", "out", "--json")
    assert sampled.returncode == 0, sampled.stderr
    assert Path(json.loads(sampled.stdout)["model"]).is_relative_to(env_dir)
    assert len(list((elsewhere / "out").glob("*.mid"))) == 2
    assert "musicae/studio/static/index.html" in names  # the studio's page travels along
    _serves_its_page(python, elsewhere, env)


def _serves_its_page(python: Path, where: Path, env: dict) -> None:
    """`musicae serve` from the installed wheel: the page and the model list answer."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(python), "-m", "musicae", "--threads", "1", "serve",
                               "--port", str(port)], cwd=where, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert b"musicae" in page.read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    server.stderr.read().decode() if server.poll() is not None else "no page"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=120) as r:
            names = {m["name"] for m in json.loads(r.read())["models"]}
        assert "folk_mel_2bar" in names
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
