"""The studio's ASGI app (FastAPI): the page, its JSON API, and the files the API names.

Routes parse a request, hand it to the :class:`~musicae.studio.workshop.Workshop` through
the model's gate, and answer JSON. Every error is ``{"error": "one line"}``: 400 for what
the library refuses (its own message, the CLI's, with server paths replaced by the names a
client knows), 404 for what is not there, 413 for a body over the cap, 503 when a model's
queue is full. OpenAPI is at ``/openapi.json``, browsable at ``/docs`` (Swagger UI served
from the ``swagger-ui-bundle`` package, not a CDN).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import threading
from pathlib import Path
from typing import Literal

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException

from musicae import __version__
from musicae.defaults import (
    INTERPOLATION_METHOD,
    INTERPOLATION_STEPS,
    SAMPLE_TEMPERATURE,
    SAMPLES,
)
from musicae.errors import MusicaeError
from musicae.studio.guard import Guard
from musicae.studio.settings import BODY_BYTES, MAX_PIECES, QUEUE
from musicae.studio.store import Busy, Store
from musicae.studio.workshop import Workshop

STATIC = Path(__file__).parent / "static"
MEDIA = {".mid": "audio/midi", ".wav": "audio/wav", ".png": "image/png"}
Method = Literal["slerp", "lerp"]


class StudioRequest(BaseModel):
    """Unknown fields are an error, not ignored: a misspelt "temprature" is said."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=200,
                              description="a served model's name (GET /api/models) "
                                          "[default: the default music model]")


class SampleRequest(StudioRequest):
    n: StrictInt = Field(default=SAMPLES, description=f"pieces, 1..{MAX_PIECES}")
    temperature: float | None = Field(
        default=None, description=f"0 = argmax [default: the model's fitted prior's own, "
                                  f"else {SAMPLE_TEMPERATURE}]")
    seed: StrictInt | None = Field(default=None, description="[default: a new one, returned]")
    chords: str | None = Field(default=None, max_length=200,
                               description='chord models: the progression, e.g. "C G Am F"')
    meter: str | None = Field(default=None, max_length=16, description="music: e.g. 3/4")
    shift: dict[str, float] = Field(default_factory=dict, max_length=16,
                                    description="attribute vectors: {name: amount}")
    label: StrictInt | None = Field(default=None, description="label-conditioned images")


class InterpolateRequest(StudioRequest):
    a: str = Field(max_length=40, description="a piece id (a sample or an upload)")
    b: str = Field(max_length=40, description="a piece id")
    steps: StrictInt = Field(default=INTERPOLATION_STEPS,
                             description=f"points, endpoints included, 2..{MAX_PIECES}")
    method: Method = INTERPOLATION_METHOD
    chords: str | None = Field(default=None, max_length=200,
                               description="chord models [default: a's own]")


class BlendRequest(StudioRequest):
    pieces: list[str] = Field(min_length=2, max_length=4,
                              description="2 piece ids (a slider) or 4 corners (a pad: "
                                          "a b along the top, c d along the bottom)")
    x: float = Field(ge=0, le=1, description="0 = a, 1 = b")
    y: float = Field(default=0.0, ge=0, le=1, description="pad only: 0 = top, 1 = bottom")
    method: Method = INTERPOLATION_METHOD
    chords: str | None = Field(default=None, max_length=200,
                               description="chord models: the progression to decode over")
    label: StrictInt | None = Field(default=None, description="label-conditioned images")


class ReconstructRequest(StudioRequest):
    input: str = Field(max_length=40, description="a piece id (an upload, or a sample)")
    bar: StrictInt | None = Field(default=None, ge=0,
                                  description="music: which window [default: the first]")


def create_app(models: dict[str, Path], host: str = "127.0.0.1", port: int = 8000,
               queue: int = QUEUE, warm: bool = True, store: Store | None = None) -> FastAPI:
    """The studio app serving ``models`` (name -> model directory) for a server bound to
    ``host``:``port`` (the Host header it accepts). ``warm``: load the default model in
    the background at startup. The store's folder is removed at shutdown."""
    store = store or Store()
    workshop = Workshop(models, store, queue)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tempfile.tempdir, before = str(store.root / "tmp"), tempfile.tempdir
        Path(tempfile.tempdir).mkdir(exist_ok=True)  # the library's own temporary files too
        if warm:
            threading.Thread(target=_warm_up, args=(workshop,), daemon=True).start()
        try:
            yield
        finally:
            tempfile.tempdir = before
            store.close()

    app = FastAPI(title="musicae studio", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Sample, blend and hear musicae's models. Pieces are named by "
                              "id; their MIDI, WAV and PNG files are under /files.")
    app.openapi_version = "3.0.3"  # what the bundled Swagger UI (4.x) renders
    app.state.store = store
    app.add_middleware(Guard, host=host, port=port, max_body=BODY_BYTES)
    _errors(app, workshop)
    _api(app, workshop)
    _pages(app, store)
    return app


def _api(app: FastAPI, workshop: Workshop) -> None:
    @app.get("/api/models", summary="The served models, the server's limits and synthesiser")
    async def models() -> dict:
        listing = await anyio.to_thread.run_sync(workshop.listing)
        return {"models": listing, "default": await _default(workshop, None),
                "limits": {"pieces": MAX_PIECES, "upload_bytes": BODY_BYTES,
                           "queue": workshop.queue},
                "synth": await anyio.to_thread.run_sync(_synthesiser)}

    @app.post("/api/sample", summary="New pieces from the prior, with MIDI and WAV files")
    async def sample(req: SampleRequest) -> dict:
        _count("n", req.n, 1)
        for name, amount in req.shift.items():
            if not math.isfinite(amount):
                raise MusicaeError(f"--shift '{name}={amount}': the amount must be a finite "
                                   f"number")
        return await workshop.run(await _default(workshop, req.model), workshop.sample, req.n,
                                  req.temperature, req.seed, req.chords, req.meter, req.shift,
                                  req.label)

    @app.post("/api/interpolate", summary="The path between two pieces, endpoints included")
    async def interpolate(req: InterpolateRequest) -> dict:
        _count("steps", req.steps, 2)
        return await workshop.run(await _default(workshop, req.model), workshop.interpolate,
                                  req.a, req.b, req.steps, req.method, req.chords)

    @app.post("/api/blend", summary="One piece from mixed codes: a slider (2) or a pad (4)")
    async def blend(req: BlendRequest) -> dict:
        if len(req.pieces) not in (2, 4):
            raise MusicaeError(f"blend takes 2 pieces (a slider) or 4 (a pad), not "
                               f"{len(req.pieces)}")
        return await workshop.run(await _default(workshop, req.model), workshop.blend,
                                  req.pieces, req.x, req.y, req.method, req.chords,
                                  req.label)

    @app.post("/api/reconstruct", summary="A piece's window beside its reconstruction")
    async def reconstruct(req: ReconstructRequest) -> dict:
        return await workshop.run(await _default(workshop, req.model), workshop.reconstruct,
                                  req.input, req.bar)

    @app.post("/api/upload", summary="Keep a MIDI file (PNG for image models) as a piece",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string",
                                                          "format": "binary"}}}}})
    async def upload(request: Request, model: str | None = None,
                     name: str = "upload.mid") -> dict:
        """The body is the file's bytes, at most 2 MB (``curl --data-binary @tune.mid``)."""
        data = bytearray()
        async for chunk in request.stream():  # the Guard stops it past the cap
            data += chunk
        if not data:
            raise MusicaeError("empty upload: send the file's bytes as the request body")
        return await workshop.run(await _default(workshop, model), workshop.upload, name,
                                  bytes(data))


def _pages(app: FastAPI, store: Store) -> None:
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="musicae studio API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/files/{result}/{name}", summary="A file of a result: MIDI, WAV or PNG")
    async def file(result: str, name: str) -> FileResponse:
        path = store.file(result, name)
        if path is None or path.suffix not in MEDIA:
            raise HTTPException(404, f"no file {result}/{name} (results expire as the "
                                     f"studio's folder fills)")
        return FileResponse(path, media_type=MEDIA[path.suffix])


def _errors(app: FastAPI, workshop: Workshop) -> None:
    def error(status: int, message: str, **headers: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    @app.exception_handler(MusicaeError)
    async def refused(request, exc: MusicaeError) -> JSONResponse:
        return error(400, workshop.redact(str(exc)))

    @app.exception_handler(Busy)
    async def busy(request, exc: Busy) -> JSONResponse:
        return error(503, str(exc), **{"Retry-After": "1"})

    @app.exception_handler(HTTPException)
    async def http(request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "body"
        return error(400, f"{where}: {first['msg']}")

    @app.exception_handler(Exception)
    async def bug(request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error ({type(exc).__name__}); see the server's log")


def _count(name: str, value: int, low: int) -> None:
    """The studio writes a MIDI and a WAV file per piece: at most MAX_PIECES a request."""
    if not low <= value <= MAX_PIECES:
        raise MusicaeError(f"{name} must be a whole number {low}..{MAX_PIECES} in the studio "
                           f"(got {value}; the command line writes up to 10,000 to files)")


async def _default(workshop: Workshop, name: str | None) -> str:
    """The model a request names, or the default music model (``musicae.api``'s, which
    imports torch: in a thread, so the page is served meanwhile)."""
    if name is not None:
        return workshop.model_name(name)
    from_api = await anyio.to_thread.run_sync(_default_music)
    return workshop.model_name(from_api if from_api in workshop.models
                               else next(iter(workshop.models)))


def _default_music() -> str:
    from musicae.api import DEFAULT_MODELS

    return DEFAULT_MODELS["music"]


def _synthesiser() -> str:
    from musicae.output.render import synthesiser

    return synthesiser()


def _warm_up(workshop: Workshop) -> None:
    """Import torch and load the models while the page loads; a model that fails to load
    says so when a request names it."""
    with contextlib.suppress(MusicaeError):
        workshop.warm_up(_default_music())

