"""The studio's work: the served models, and what the page asks of them.

Each model is loaded once through the Python handle (``musicae.load``); each operation is
one call of that handle or of ``musicae.api`` (the command line's own functions) plus the
files it leaves in the server's :class:`~musicae.studio.store.Store`. Clients name models
from the served list only, and pieces by id, never a path. torch and pretty_midi are
imported on first use (``warm_up`` does it in the background), so ``serve`` shows its page
before they load.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

import anyio

from musicae.errors import MusicaeError
from musicae.studio.settings import KEPT_CODES, QUEUE
from musicae.studio.store import Gate, Piece, Store


class Workshop:
    """Served models (name -> directory), their handles, gates, and the operations."""

    def __init__(self, models: dict[str, Path], store: Store, queue: int = QUEUE) -> None:
        self.models, self.store, self.queue = models, store, queue
        limiter = anyio.CapacityLimiter(len(models) * (queue + 1))  # all gates' jobs at once
        self.gates = {name: Gate(name, queue, limiter) for name in models}
        self._handles: dict = {}
        self._loading = threading.Lock()
        self._codes: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._codes_lock = threading.Lock()  # gates of different models share the codes

    # --- models ------------------------------------------------------------------------

    def model_name(self, name: object) -> str:
        """``name`` if it is a served model's name; a one-line error otherwise (a path, or
        any other string, is never looked up on disk)."""
        if not isinstance(name, str) or name not in self.models:
            raise MusicaeError(f"unknown model {name!r}; this studio serves "
                               f"{', '.join(self.models)}")
        return name

    def handle(self, name: str):
        with self._loading:
            if name not in self._handles:
                import musicae

                self._handles[name] = musicae.load(self.models[name])
            return self._handles[name]

    def warm_up(self, first: str) -> None:
        """Load ``first`` (then describe every model): imports torch ahead of the first
        request."""
        self.handle(first)
        self.listing()

    def listing(self) -> list[dict]:
        from musicae import artifacts
        from musicae.api import sampling

        described = []
        for name in self.models:
            h = self.handle(name)
            rep = h.bundle.representation
            described.append({
                "name": name, "domain": "music" if h.is_music else "image",
                "preset": h.bundle.preset.name, "description": h.bundle.preset.description,
                "latent_dim": h.latent_dim, "bars": rep.bars if rep is not None else None,
                "chords": bool(rep is not None and rep.controls),
                "labels": int(getattr(getattr(h.model, "cfg", None), "labels", 0) or 0),
                "attributes": sorted(artifacts.attribute_vectors(h.bundle)),
                "shipped": artifacts.is_shipped(h.bundle.path),
                "temperature": sampling(h.bundle, None, None)[1],
            })
        return described

    async def run(self, name: str, job, *args):
        """``job(name, *args)`` through the model's gate (503 when its queue is full)."""
        return await self.gates[self.model_name(name)].run(job, name, *args)

    # --- operations (each runs in a worker thread, one at a time per model) ------------

    def sample(self, name: str, n: int, temperature: float, seed: int | None,
               chords: str | None, meter: str | None, shift: dict[str, float],
               label: int | None) -> dict:
        """n new pieces from the prior, moved by ``shift`` along attribute vectors."""
        from musicae.api import sampling

        seed = secrets.randbelow(2**31) if seed is None else seed  # said, so reproducible
        h = self.handle(name)
        temperature = sampling(h.bundle, None, temperature)[1]
        with self._result() as (rid, folder):
            made = h.sample(n, temperature, seed, meter=meter, chords=chords, label=label,
                            shift=shift)
            pieces = self._save(name, rid, folder, made, "sample")
        return {"result": rid, "model": name, "seed": seed, "temperature": temperature,
                "pieces": self.described(pieces),
                "command": _command(name, n, temperature, seed, chords, meter, shift, label,
                                    h.is_music)}

    def interpolate(self, name: str, a: str, b: str, steps: int, method: str,
                    chords: str | None) -> dict:
        """The path from piece a to piece b, endpoints included (the handle's interpolate)."""
        h = self.handle(name)
        ends = [self._input(name, p) for p in (a, b)]
        with self._result() as (rid, folder):
            made = h.interpolate(ends[0].path, ends[1].path, steps, method, chords=chords)
            pieces = self._save(name, rid, folder, made, "step")
        return {"result": rid, "model": name, "pieces": self.described(pieces)}

    def blend(self, name: str, ids: list[str], x: float, y: float, method: str,
              chords: str | None, label: int | None) -> dict:
        """One piece decoded from the codes of 2 pieces mixed at x (a slider), or of 4
        corners at (x, y) (a pad: a-b along the top, c-d along the bottom)."""
        import torch

        from musicae.models.base import INTERPOLATIONS

        h = self.handle(name)
        codes = [torch.from_numpy(self._code(name, self._input(name, p))) for p in ids]
        mix = INTERPOLATIONS[method]
        t = torch.tensor([x])
        z = mix(codes[0], codes[1], t)[0]  # (latent,)
        if len(codes) == 4:
            z = mix(z, mix(codes[2], codes[3], t)[0], torch.tensor([y]))[0]
        with self._result() as (rid, folder):
            made = h.decode(z[None].numpy(), chords=chords, label=label)
            pieces = self._save(name, rid, folder, made, "blend")
        return {"result": rid, "model": name, "x": x, "y": y,
                "pieces": self.described(pieces)}

    def reconstruct(self, name: str, piece: str, bar: int | None) -> dict:
        """The piece's window beside its reconstruction (``api.reconstruct``, as the CLI)."""
        from musicae import api

        source = self._input(name, piece)
        with self._result() as (rid, folder):
            summary = api.reconstruct(str(self.models[name]), [str(source.path)], folder,
                                      bar=bar, wav=True)
            written = [Path(p) for p in summary["written"]]
            midis = [p for p in written if p.suffix == ".mid"]
            pieces = ([self._kept(name, rid, m, m.stem.rpartition("_")[2]) for m in midis]
                      if midis else
                      [self.store.add_piece(rid, written[0], "image",
                                            f"{source.title}: input | reconstruction")])
        info = {k: v for k, v in summary["inputs"][0].items() if k != "input"}
        return {"result": rid, "model": name, "input": piece, "window": info,
                "pieces": self.described(pieces)}

    def upload(self, name: str, filename: str, data: bytes) -> dict:
        """Keep an uploaded file as a piece, once the model has read it (the library's
        reader: the same rules as ``prepare``); a file it cannot read is not kept."""
        music = self.handle(name).is_music
        kind, suffix = ("music", ".mid") if music else ("image", ".png")
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(filename).stem)[:40].strip("_-") or "upload"
        with self._result() as (rid, folder):
            path = folder / f"{stem}{suffix}"
            path.write_bytes(data)
            piece = self.store.add_piece(rid, path, kind, f"{stem}{suffix}")
            self._code(name, piece)  # reads (and checks) it now; kept for blending
        return {"result": rid, "model": name, "pieces": [{"id": piece.id, "kind": kind,
                                                          "title": piece.title}]}

    def redact(self, message: str) -> str:
        """A library message as a client may read it: one line, the server's folders
        replaced by what the client named (an upload's name, a model's name)."""
        message = re.sub(re.escape(str(self.store.root)) + r"/r\d+/", "", message)
        for name, directory in self.models.items():
            for spelling in sorted({str(directory), str(Path(directory).resolve())},
                                   key=len, reverse=True):
                message = message.replace(spelling, name)
        return " ".join(message.replace(str(self.store.root), "(studio folder)").split())

    # --- helpers -----------------------------------------------------------------------

    def described(self, pieces: list[Piece]) -> list[dict]:
        from musicae.studio.pieces import describe

        return [describe(p) for p in pieces]

    def _marks(self, name: str):
        """The representation's chord names for a roll (none for images)."""
        rep = self.handle(name).bundle.representation
        return rep.marks if rep is not None else None

    def _result(self):
        return _Result(self.store)

    def _save(self, name: str, rid: str, folder: Path, made: list, stem: str
              ) -> list[Piece]:
        """What the handle returned (PrettyMIDI objects, or image arrays) as files."""
        from musicae.studio.pieces import save_images, save_music

        h = self.handle(name)
        if not h.is_music:
            return save_images(self.store, rid, folder, made, stem)
        return save_music(self.store, rid, folder, made, stem, h.bundle.representation.bars,
                          self._marks(name))

    def _kept(self, name: str, rid: str, path: Path, title: str) -> Piece:
        from musicae.studio.pieces import keep_music

        if path.suffix == ".png":
            return self.store.add_piece(rid, path, "image", title)
        return keep_music(self.store, rid, path, title, self._marks(name))

    def _input(self, name: str, piece_id: str) -> Piece:
        """A piece to read with model ``name``: one of its kind (MIDI for music)."""
        piece = self.store.piece(piece_id)
        wanted = "music" if self.handle(name).is_music else "image"
        if piece.kind != wanted:
            raise MusicaeError(f"piece {piece_id} is {piece.kind}; {name} reads {wanted}")
        return piece

    def _code(self, name: str, piece: Piece):
        """The posterior mean of a piece under a model (latent,), encoded once."""
        key = (name, piece.id)
        with self._codes_lock:
            code = self._codes.get(key)
        if code is None:  # this model's gate is held: no other thread encodes it now
            code = self.handle(name).encode(piece.path)[0]
        with self._codes_lock:
            self._codes[key] = code
            self._codes.move_to_end(key)
            while len(self._codes) > KEPT_CODES:
                self._codes.popitem(last=False)
        return code


class _Result:
    """A new result folder for one operation: sealed (counted, older results evicted) when
    the operation succeeds, removed when it fails."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> tuple[str, Path]:
        self.rid, folder = self.store.new_result()
        return self.rid, folder

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.store.seal(self.rid)
        else:
            self.store.drop(self.rid)


def _command(name: str, n: int, temperature: float, seed: int, chords: str | None,
             meter: str | None, shift: dict[str, float], label: int | None,
             music: bool) -> str:
    """The ``musicae sample`` command line that makes the same pieces (as files)."""
    words = [f"musicae sample {name} -n {n}"]
    words += [f"--temperature {temperature:g}"] if music else []
    words += [f"--seed {seed}"]
    words += [f'--chords "{chords}"'] if chords else []
    words += [f"--meter {meter}"] if meter else []
    words += [f"--shift {k}={v:+g}" for k, v in shift.items()]
    words += [f"--label {label}"] if label is not None else []
    return " ".join(words + (["--wav"] if music else []) + ["-o out/sample"])
