"""The public API: every CLI command is one function here.

Functions take plain values (paths, numbers), do the work through the model
interface and a :class:`~musicae.domains.base.Domain`, write files, and
return a JSON-serialisable summary that the CLI prints.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from musicae import artifacts
from musicae.artifacts import ModelBundle
from musicae.domains.base import Domain
from musicae.errors import MusicaeError
from musicae.presets import PRESETS, build_model, coerce_setting, get_preset
from musicae.train import TrainConfig, Trainer, pick_device, seed_everything

DEFAULT_MODELS = {"music": "folk_mel_2bar", "image": "mnist_conv_vae"}
MIDI_SUFFIXES = {".mid", ".midi", ".kar", ".smf"}


def domain(kind: str) -> Domain:
    if kind == "image":
        from musicae.domains.image import ImageDomain

        return ImageDomain()
    from musicae.domains.music import MusicDomain

    return MusicDomain()


def default_model_for(paths: list[str | Path]) -> str:
    """The shipped model for inputs of this kind (MIDI -> music; anything else -> image)."""
    music = not paths or Path(paths[0]).suffix.lower() in MIDI_SUFFIXES
    return DEFAULT_MODELS["music" if music else "image"]


def load(model: str | Path, device: str = "auto") -> ModelBundle:
    return artifacts.load(model, pick_device(device))


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise MusicaeError(f"{name} must be a positive number (got {value})")


def train(data: str, preset: str, out: str | Path, steps: int | None = None,
          batch_size: int | None = None, device: str = "auto", resume: bool = False,
          seed: int | None = None, overrides: dict | None = None, progress: bool = True,
          transpose: int | None = None, **train_overrides) -> dict:
    """Train ``preset`` on DATA into the run directory ``out``; returns the final summary.

    transpose: music only, shift training windows by up to this many semitones
    (default 0, or what a resumed run used).
    overrides: model sizes and training settings by name (``--set``), e.g.
    ``{"latent_dim": 2, "free_bits": 48}``.
    train_overrides: other TrainConfig fields (lr, bf16, ...); None leaves the default.
    A resumed run starts from the settings it was trained with; given more
    steps and no time budget, it drops the time budget it had.
    """
    spec = get_preset(preset)
    overrides = dict(overrides or {})
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {k: coerce_setting(TrainConfig, k, overrides.pop(k))
                for k in list(overrides) if k in train_fields}
    out = Path(out)
    bundle = _start_bundle(spec, out, resume, overrides)
    state = bundle.meta.get("training", {}) if resume else {}
    stored = {k: v for k, v in state.get("config", {}).items() if k in train_fields}
    if resume and steps is not None and train_overrides.get("minutes") is None \
            and "minutes" not in settings:
        stored.pop("minutes", None)  # asked for more steps: the old time budget is done
    cfg = dataclasses.replace(spec.train, **stored)
    flags = {"steps": steps, "batch_size": batch_size, "seed": seed} | train_overrides
    settings |= {k: v for k, v in flags.items() if v is not None}
    cfg = dataclasses.replace(cfg, **settings)
    _check(cfg)
    done, spent = state.get("step", 0), state.get("wall_seconds", 0.0) / 60
    if resume and done >= cfg.steps:
        raise MusicaeError(f"{out}: already trained {done} steps; "
                           f"pass --steps above {done} to go on")
    if resume and cfg.minutes is not None and spent >= cfg.minutes:
        raise MusicaeError(f"{out}: already trained {spent:.1f} minutes; "
                           f"pass --minutes above that to go on")
    if transpose is None:
        transpose = bundle.meta.get("transpose", 0) if resume else 0
    dev = pick_device(device)
    seed_everything(cfg.seed)
    dom = domain(spec.domain)
    train_data = dom.training_data(data, spec, "train", transpose_semitones=transpose,
                                   progress=progress)
    valid_data = dom.training_data(data, spec, "valid", progress=progress)
    trainer = Trainer(bundle.model, cfg, out,
                      lambda model, run_dir, state: artifacts.save_checkpoint(bundle, run_dir,
                                                                              state), dev)
    if resume:
        trainer.restore(done, state.get("wall_seconds", 0.0),
                        artifacts.load_optimizer_state(out))
    bundle.meta |= {"data": str(data), "data_path": _data_path(data),
                    "train_examples": len(train_data), "transpose": transpose}
    trainer.fit(train_data, valid_data, progress=progress)
    if not bundle.model.variational:
        _fit_prior(bundle, train_data.x)
        artifacts.save_checkpoint(bundle, out, trainer.state())
    return {"model": str(out), "preset": preset, "steps": trainer.step,
            "wall_seconds": round(trainer.wall_seconds, 1), "device": str(dev),
            "train_examples": len(train_data), "valid": trainer.last_eval}


def _check(cfg: TrainConfig) -> None:
    """One-line errors for training settings that cannot work."""
    for name in ("steps", "batch_size", "eval_every", "eval_batches"):
        _positive(f"--{name.replace('_', '-')}", getattr(cfg, name))
    for name in ("lr", "minutes"):
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise MusicaeError(f"--{name} must be positive (got {value})")


def _data_path(data: str) -> str | None:
    """DATA as an absolute folder, where it is one (to recognise it later)."""
    from musicae.datasets.midi import resolve_data

    try:
        return str(resolve_data(data).resolve())
    except MusicaeError:  # not a folder: a name such as "mnist"
        return None


def _start_bundle(spec, out: Path, resume: bool, overrides: dict) -> ModelBundle:
    if resume:
        if not (out / artifacts.CONFIG).exists():
            raise MusicaeError(f"{out}: nothing to resume (no {artifacts.CONFIG})")
        bundle = artifacts.load(out)
        if bundle.preset.name != spec.name:
            raise MusicaeError(f"{out}: holds preset {bundle.preset.name!r}, not {spec.name!r}")
        changed = {k for k, v in overrides.items() if bundle.overrides.get(k) != v}
        if changed:
            raise MusicaeError(f"{out}: a resumed run keeps its model sizes; "
                               f"cannot change {', '.join(sorted(changed))}")
        return bundle
    if (out / artifacts.CONFIG).exists():
        raise MusicaeError(f"{out}: already holds a model; use --resume or another --out")
    return ModelBundle(build_model(spec.name, overrides), spec, overrides)


@torch.no_grad()
def _fit_prior(bundle: ModelBundle, x: torch.Tensor) -> None:
    """Let a plain autoencoder sample: fit a Gaussian to its training codes."""
    model = bundle.model.eval()
    codes = torch.cat([model.encode(c.to(model.device)).mean for c in x.split(512)])
    model.fit_prior(codes)


def _generator(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(seed if seed is not None else int(time.time()))


@torch.no_grad()
def sample(model: str, n: int, out: str | Path, temperature: float = 1.0,
           seed: int | None = None, device: str = "auto", **options) -> dict:
    """Decode n prior samples into files under ``out``."""
    _positive("-n", n)
    if temperature < 0:
        raise MusicaeError(f"--temperature must be >= 0 (got {temperature})")
    bundle = load(model, device)
    dom = domain(bundle.preset.domain)
    if seed is not None:
        seed_everything(seed)
    context = dom.decode_context(bundle, n, **options)
    z = bundle.model.prior_sample(n, _generator(seed))
    z = shift_codes(bundle, z, options.pop("shift", None))
    x = bundle.model.decode(z, temperature=temperature, **context)
    paths = dom.write_batch(bundle, x, Path(out), "sample", **options)
    return {"model": str(bundle.path), "written": [str(p) for p in paths]}


def shift_codes(bundle: ModelBundle, z: torch.Tensor, shifts: dict[str, float] | None):
    """Move codes along stored attribute vectors (``--shift density=+1.5``)."""
    if not shifts:
        return z
    vectors = bundle.meta.get("attributes", {})
    for name, amount in shifts.items():
        if name not in vectors:
            known = ", ".join(sorted(vectors)) or "none; make one with `musicae attribute`"
            raise MusicaeError(f"{bundle.path}: no attribute vector {name!r} (known: {known})")
        z = z + amount * torch.tensor(vectors[name]["vector"], device=z.device)
    return z


@torch.no_grad()
def interpolate(model: str, a: str, b: str, out: str | Path, steps: int = 8,
                method: str = "slerp", temperature: float = 0.0, device: str = "auto",
                **options) -> dict:
    """Decode the path between the codes of inputs a and b (endpoints included)."""
    bundle = load(model, device)
    dom = domain(bundle.preset.domain)
    xa, info_a = dom.read_input(bundle, Path(a), **options)
    xb, info_b = dom.read_input(bundle, Path(b), **options)
    path = bundle.model.interpolate(xa.to(bundle.model.device), xb.to(bundle.model.device),
                                    steps, method, temperature)
    written = dom.write_path(bundle, path, Path(out), **options)
    return {"model": str(bundle.path), "a": info_a, "b": info_b, "steps": steps,
            "method": method, "written": [str(p) for p in written]}


@torch.no_grad()
def reconstruct(model: str, inputs: list[str], out: str | Path, device: str = "auto",
                corrupt_input: bool = True, **options) -> dict:
    """Encode and decode each input; writes input beside output."""
    bundle = load(model, device)
    dom = domain(bundle.preset.domain)
    written, infos = [], []
    for path in inputs:
        x, info = dom.read_input(bundle, Path(path), **options)
        x = x.to(bundle.model.device)
        source = _corrupted(bundle, x) if corrupt_input else None
        posterior = bundle.model.encode(x if source is None else source)
        z = shift_codes(bundle, posterior.mean, options.pop("shift", None))
        y = bundle.model.decode(z, temperature=0.0, **bundle.model.decode_context(x))
        written += dom.write_pair(bundle, x, y, Path(out), Path(path).stem, corrupted=source,
                                  **options)
        infos.append({"input": str(path)} | info)
    return {"model": str(bundle.path), "inputs": infos, "written": [str(p) for p in written]}


def _corrupted(bundle: ModelBundle, x: torch.Tensor) -> torch.Tensor | None:
    """Denoising and super-resolution models show what they undo: the corrupted input."""
    cfg = getattr(bundle.model, "cfg", None)
    if getattr(cfg, "corruption", "none") == "none":
        return None
    from musicae.models.image import corrupt

    return corrupt(x, cfg)


@torch.no_grad()
def encode(model: str, inputs: list[str], out: str | Path, device: str = "auto",
           **options) -> dict:
    """Posterior means of the inputs, saved as one (n, latent) .npy array."""
    bundle = load(model, device)
    dom = domain(bundle.preset.domain)
    codes, infos = [], []
    for path in inputs:
        x, info = dom.read_input(bundle, Path(path), **options)
        codes.append(bundle.model.encode(x.to(bundle.model.device)).mean.cpu().numpy())
        infos.append({"input": str(path)} | info)
    z = np.concatenate(codes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    artifacts.atomic_write(out, lambda p: np.save(open(p, "wb"), z))
    return {"model": str(bundle.path), "inputs": infos, "shape": list(z.shape),
            "written": [str(out)]}


@torch.no_grad()
def decode(model: str, codes: str | Path, out: str | Path, temperature: float = 0.0,
           device: str = "auto", **options) -> dict:
    """Decode codes from a .npy file of shape (n, latent) into files."""
    bundle = load(model, device)
    z = _read_codes(Path(codes), bundle.model.latent_dim)
    dom = domain(bundle.preset.domain)
    context = dom.decode_context(bundle, len(z), **options)
    x = bundle.model.decode(torch.from_numpy(z).to(bundle.model.device), temperature=temperature,
                            **context)
    paths = dom.write_batch(bundle, x, Path(out), "decoded", **options)
    return {"model": str(bundle.path), "written": [str(p) for p in paths]}


def _read_codes(path: Path, latent_dim: int) -> np.ndarray:
    if not path.is_file():
        raise MusicaeError(f"{path}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError):  # numpy's message suggests allow_pickle: not for us
        raise MusicaeError(f"{path}: not a .npy file of numbers (save codes with "
                           f"`musicae encode` or numpy.save)") from None
    if not isinstance(z, np.ndarray) or not np.issubdtype(z.dtype, np.number):
        raise MusicaeError(f"{path}: not a .npy array of numbers")
    z = np.atleast_2d(z).astype(np.float32)
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise MusicaeError(f"{path}: codes have shape {z.shape}; "
                           f"this model needs (n, {latent_dim})")
    return z


def prepare(data: str, preset: str, workers: int | None = None, cache: str | None = None,
            progress: bool = True):
    """Turn a MIDI folder into cached windows for ``preset``; returns the PrepareReport."""
    from musicae.datasets.midi import prepare as prepare_windows
    from musicae.representations.codec import CODECS

    spec = get_preset(preset)
    if spec.domain != "music":
        raise MusicaeError(f"prepare is for music presets; {preset!r} trains on images")
    return prepare_windows(data, CODECS[spec.codec], workers, cache, progress)


@torch.no_grad()
def evaluate(model: str, data: str, split: str | None = None, device: str = "auto") -> dict:
    """Metrics of a model on DATA's ``split``.

    By default that is ``test`` (the held-out part) of the data the model was
    trained on, and ``all`` of any other data.
    """
    bundle = load(model, device)
    dom = domain(bundle.preset.domain)
    split = split or ("test" if _trained_on(bundle, data) else "all")
    held_out = dom.training_data(data, bundle.preset, split)
    train = dom.training_data(data, bundle.preset, "train") if dom.kind == "image" else None
    metrics = dom.evaluate(bundle, held_out, train=train)
    return {"model": str(bundle.path), "preset": bundle.preset.name, "data": str(data),
            "split": split} | metrics


def _trained_on(bundle: ModelBundle, data: str) -> bool:
    """Whether DATA is what the model was trained on (True where that is unknown,
    so that training data is never scored as held out)."""
    trained = bundle.meta.get("data")
    if trained is None or trained == str(data) or bundle.preset.domain != "music":
        return True
    known = {p for p in (bundle.meta.get("data_path"), _data_path(trained)) if p}
    here = _data_path(data)
    return not known or here is None or here in known


@torch.no_grad()
def plot_latent(model: str, data: str, out: str | Path, device: str = "auto") -> dict:
    """Scatter of held-out codes by digit (and the decoded manifold for 2-D latents)."""
    from musicae.datasets.images import load_images
    from musicae.domains.image import plot_latent as draw

    bundle = load(model, device)
    if bundle.preset.domain != "image":
        raise MusicaeError(f"{bundle.path}: plot-latent draws image models' codes by digit")
    images = load_images(data, "test")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draw(bundle, torch.from_numpy(images.images), images.labels, out)
    return {"model": str(bundle.path), "written": [str(out)]}


def models() -> dict:
    """Presets and shipped models."""
    shipped = []
    if artifacts.SHIPPED_DIR.is_dir():
        for d in sorted(artifacts.SHIPPED_DIR.iterdir()):
            if (d / artifacts.CONFIG).is_file():
                config = artifacts.read_config(d)
                shipped.append({"name": d.name, "preset": config["preset"],
                                "metrics": config.get("metrics", {})})
    presets = [{"name": p.name, "domain": p.domain, "description": p.description}
               for p in PRESETS.values()]
    return {"presets": presets, "shipped": shipped, "defaults": DEFAULT_MODELS}


ATTRIBUTE_WINDOWS = 20000  # windows encoded to estimate an attribute vector
ATTRIBUTE_SHIFTS = (-1.5, 0.0, 1.5)  # amounts at which the effect of a vector is measured


@torch.no_grad()
def attribute(model: str, data: str, name: str, split: str = "train", samples: int = 256,
              device: str = "auto") -> dict:
    """Store the latent direction from windows low in an attribute to windows high in it.

    The vector is the mean code of the top quarter of DATA's windows by the
    attribute minus that of the bottom quarter (MusicVAE's attribute vectors).
    Its effect is then measured: the attribute's mean over ``samples`` samples
    shifted by each of ATTRIBUTE_SHIFTS times the vector.
    """
    from musicae.representations.attributes import ATTRIBUTES

    if name not in ATTRIBUTES:
        raise MusicaeError(f"unknown attribute {name!r}; one of {', '.join(ATTRIBUTES)}")
    bundle = load(model, device)
    if getattr(bundle.model.cfg, "kind", None) != "melody":
        raise MusicaeError(f"{bundle.path}: attribute vectors are measured on melody models")
    measure = _attribute_of(ATTRIBUTES[name])
    x = domain("music").training_data(data, bundle.preset, split).x[:ATTRIBUTE_WINDOWS]
    values = measure(x)
    keep = ~np.isnan(values)
    x, values = x[keep], values[keep]
    low, high = np.quantile(values, [0.25, 0.75])
    codes = torch.cat([bundle.model.encode(c.to(bundle.model.device)).mean.cpu()
                       for c in x.split(512)])
    vector = codes[values >= high].mean(0) - codes[values <= low].mean(0)
    stored = {"vector": vector.tolist(), "data": str(data), "windows": int(len(x)),
              "low_quartile": float(low), "high_quartile": float(high)}
    attributes = bundle.meta.get("attributes", {}) | {name: stored}
    bundle.meta = artifacts.update_config(bundle.path, {"attributes": attributes})
    effect = {}
    for amount in ATTRIBUTE_SHIFTS:
        z = shift_codes(bundle, bundle.model.prior_sample(samples, _generator(0)),
                        {name: amount})
        effect[f"{amount:+g}"] = float(np.nanmean(measure(bundle.model.decode(z, 0.5))))
    return {"model": str(bundle.path), "attribute": name, "windows": int(len(x)),
            "data_quartiles": [float(low), float(high)],
            f"mean {name} of {samples} samples by shift": effect}


def _attribute_of(fn):
    """An attribute of melody tokens as a function of model tensors (PAD on unreal steps)."""
    from musicae.domains.music import to_arrays

    return lambda x: fn(*to_arrays(x))


DEMO_TUNES = ("folk", "test")  # interpolation endpoints: the first two tunes of this split


def demo(out: str | Path = "out", seed: int = 0, device: str = "auto",
         wav: bool = False) -> dict:
    """The main job on shipped models: new melodies, a melodic interpolation, new digits.

    wav: also a WAV beside each MIDI file.
    """
    from musicae.datasets.midi import resolve_data, split_files

    out = Path(out)
    tunes = split_files(resolve_data(DEMO_TUNES[0]))[DEMO_TUNES[1]][:2]
    if len(tunes) < 2:
        raise MusicaeError("the bundled folk corpus has fewer than two test tunes")
    done = {
        "melodies": sample(DEFAULT_MODELS["music"], 8, out / "melodies", temperature=0.5,
                           seed=seed, device=device, wav=wav),
        "interpolation": interpolate(DEFAULT_MODELS["music"], str(tunes[0]), str(tunes[1]),
                                     out / "interpolation", steps=8, device=device, wav=wav),
        "digits": sample(DEFAULT_MODELS["image"], 64, out / "digits", seed=seed, device=device),
        "latent": plot_latent("mnist_vae_2d", "mnist", out / "latent_2d.png", device=device),
    }
    return {name: result["written"] for name, result in done.items()}
