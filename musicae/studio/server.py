"""Run the studio: the list of served models, a listening socket, uvicorn until Ctrl-C.

Nothing here imports torch: the page is up in about a second, and the models load in the
background (``Workshop.warm_up``).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from musicae.errors import MusicaeError
from musicae.paths import CONFIG, SHIPPED_DIR
from musicae.studio.guard import WILDCARD, is_loopback
from musicae.studio.settings import CONNECTIONS

__all__ = ["is_loopback", "listen", "run", "served_models", "url"]


def served_models(extra: list[Path] | tuple[Path, ...] = ()) -> dict[str, Path]:
    """The models a studio serves, by name: the shipped ones, then each directory of
    ``extra`` (``--models DIR``) under its folder's name."""
    found = {d.name: d for d in sorted(SHIPPED_DIR.iterdir())
             if (d / CONFIG).is_file() and not _cannot_sample(d)} if SHIPPED_DIR.is_dir() else {}
    for directory in map(Path, extra):
        if not (directory / CONFIG).is_file():
            raise MusicaeError(f"--models {directory}: not a trained-model directory (no "
                               f"{CONFIG})")
        kind = _cannot_sample(directory)
        if kind:
            raise MusicaeError(f"--models {directory}: a {kind} model, which plays given "
                               f"material and cannot sample; the studio has no page for it yet")
        name = directory.resolve().name
        if name in found:
            raise MusicaeError(f"--models {directory}: a served model is already named "
                               f"{name!r}; rename the folder")
        found[name] = directory.resolve()
    if not found:
        raise MusicaeError("no models to serve: none shipped here; give --models DIR")
    return found


def _cannot_sample(directory: Path) -> str | None:
    """The kind of the model in ``directory`` where that kind cannot sample (it plays
    given material: ``Representation.samples``), which the studio leaves out; else None."""
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # loading it later gives the one-line error
    rep = config.get("representation") if isinstance(config, dict) else None
    kind = rep.get("kind") if isinstance(rep, dict) else None
    from musicae.representations import REPRESENTATIONS  # numpy only, no torch

    found = REPRESENTATIONS.get(kind) if isinstance(kind, str) else None
    return kind if found is not None and not found.samples else None


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line error (a name that does not resolve, a
    port in use or not ours to take)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise MusicaeError(f"--host {host} --port {port}: cannot listen there ({reason})"
                           ) from None
    sock.set_inheritable(True)
    return sock


def url(host: str, port: int) -> str:
    """Where a browser on this machine finds a server bound to host:port."""
    shown = "127.0.0.1" if host in WILDCARD else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"


def run(models: dict[str, Path], host: str, port: int, sock: socket.socket) -> None:
    """Serve the studio on ``sock`` until Ctrl-C or SIGTERM; the temporary folder goes
    with it."""
    import uvicorn

    from musicae.studio.app import create_app

    app = create_app(models, host, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                            limit_concurrency=CONNECTIONS, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
