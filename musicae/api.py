"""The public API: every CLI command is one function here.

Functions take plain values (paths, numbers), do the work through the model
interface and a :class:`~musicae.domains.base.Domain` (the only way they
reach data), write files, and return a JSON-serialisable summary that the
CLI prints. Defaults come from ``musicae.defaults``, which the CLI reads too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from musicae import __version__, artifacts, distributed
from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.configs import SCHEDULES
from musicae.defaults import (
    DECODE_TEMPERATURE,
    GROOVE_TEMPERATURE,
    INTERPOLATION_METHOD,
    INTERPOLATION_SPACING,
    INTERPOLATION_STEPS,
    MAX_SAMPLES,
    PRIOR_COMPONENTS,
    PRIOR_COVARIANCE,
    PRIOR_WINDOWS,
    SAMPLE_TEMPERATURE,
    SAMPLES,
)
from musicae.domains.base import Domain
from musicae.domains.image import ImageDomain
from musicae.domains.music import MusicDomain
from musicae.errors import MusicaeError
from musicae.files import (
    RUN_RECORD,
    one_writer,
    read_regular,
    staged_output,
    writable,
)
from musicae.models import sequence
from musicae.models.base import check_spacing, path_codes
from musicae.output import render
from musicae.presets import (
    PRESETS,
    build_model,
    get_preset,
    prepare_representation,
    representation,
    split_settings,
)
from musicae.train import (
    TrainConfig,
    Trainer,
    bf16_works,
    freeze,
    pick_device,
    seed_everything,
)

DOMAINS: dict[str, Domain] = {"image": ImageDomain(), "music": MusicDomain()}
PICTURE_SUFFIXES = (".png", ".pdf", ".svg")
DEFAULT_MODELS = {"music": "folk_mel_2bar", "image": "mnist_conv_vae"}
CONDITIONAL_MODEL = "mnist_cvae"  # the demo's grid of digits, a row per label
MIDI_SUFFIXES = {".mid", ".midi", ".kar", ".smf"}


def domain(bundle_or_preset) -> Domain:
    """The domain a model (or preset) speaks."""
    preset = getattr(bundle_or_preset, "preset", bundle_or_preset)
    return DOMAINS[preset.domain]


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
          transpose: int | None = None, warm_start: str | None = None,
          **train_overrides) -> dict:
    """Train ``preset`` on DATA into the run directory ``out``; returns the final summary.

    transpose: music only, shift training windows by up to this many semitones
    (default 0, or what a resumed run used).
    warm_start: a trained short model (name or run directory) whose encoder and decoder
    become a stacked model's lower level, held fixed unless ``--set freeze=`` says otherwise.
    overrides: ``--set`` values by name, each going to its owner: the
    representation (``bars=4``), the model's sizes (``latent_dim=2``) or the
    training settings (``free_bits=48``).
    train_overrides: other TrainConfig fields (lr, bf16, ...); None leaves the default.
    A resumed run starts from the settings it was trained with; given more
    steps and no time budget, it drops the time budget it had.
    """
    spec = get_preset(preset)
    rep_settings, sizes, settings = split_settings(preset, dict(overrides or {}))
    out = writable(out)  # now, not at the first checkpoint after minutes of training
    with contextlib.ExitStack() as held:
        if distributed.is_main_process():  # rank 0 writes the run; the others only read it
            held.enter_context(one_writer(out))
        first_seed = next(s for s in (seed, settings.get("seed"), spec.train.seed) if s is not None)
        dataclasses.replace(spec.train, seed=first_seed)  # a bad seed: a one-line error now
        torch.manual_seed(first_seed)  # the same seed gives the same initial weights
        bundle = _start_bundle(spec, out, resume, sizes, rep_settings)
        _drop_stale_prior(bundle)
        state = bundle.meta.get("training", {}) if resume else {}
        if warm_start is not None:
            if resume:
                raise MusicaeError("--warm-start starts a run; a resumed run has its weights")
            sequence.warm_start(bundle.model, load(warm_start, device="cpu").model, warm_start)
            bundle.meta["warm_start"] = str(warm_start)
            settings.setdefault("freeze", sequence.STACKED_LOWER)
        flags = {"steps": steps, "batch_size": batch_size, "seed": seed} | train_overrides
        cfg = _train_config(spec, state, settings, flags, out)
        done = state.get("step", 0)
        _check_phases(bundle, cfg, done, warm_start is not None or resume)
        optimizer_state = artifacts.load_optimizer_state(out, bundle.model) if resume else None
        if transpose is None:
            transpose = bundle.meta.get("transpose", 0) if resume else 0
        ranks, dev = distributed.setup(pick_device(device))
        if dev.type == "cuda" and flags.get("bf16") is None and "bf16" not in settings:
            cfg = dataclasses.replace(cfg, bf16=torch.cuda.is_bf16_supported())  # GPUs: bf16
        if cfg.bf16 and not bf16_works(dev):
            if ranks.main:
                print(f"note: --bf16 is off: this {dev.type.upper()} cannot run the model's "
                      f"layers in bfloat16 (on CPUs that takes AVX512-BF16); training in float32",
                      file=sys.stderr)
            cfg = dataclasses.replace(cfg, bf16=False)
        seed_everything(cfg.seed + ranks.rank)  # ranks draw different noise; DDP syncs weights
        dom = domain(spec)
        rep = bundle.representation
        with distributed.main_first(ranks):  # rank 0 prepares (and caches) the data alone
            train_data = dom.examples(data, "train", rep, transpose=transpose,
                                      progress=progress and ranks.main)
            valid_data = dom.examples(data, "valid", rep, progress=progress and ranks.main)
        trainer = Trainer(bundle.model, cfg, out,
                          lambda model, run_dir, state: artifacts.save_checkpoint(bundle, run_dir,
                                                                                  state),
                          dev, ranks)
        if resume:
            trainer.restore(done, state.get("wall_seconds", 0.0), optimizer_state)
            if ranks.main:
                artifacts.truncate_metrics(out, done)
        bundle.meta |= {"data": str(data), "data_path": dom.data_path(data),
                        "train_examples": len(train_data), "transpose": transpose}
        try:
            trainer.fit(train_data, valid_data, progress=progress)
        finally:
            distributed.teardown()
        if ranks.main and not bundle.model.standard_prior:
            _fit_prior(bundle, train_data)
            artifacts.save_checkpoint(bundle, out, trainer.state())
        summary = {"model": str(out), "preset": preset, "steps": trainer.step,
                   "wall_seconds": round(trainer.wall_seconds, 1), "device": str(dev),
                   "processes": ranks.world, "global_batch": cfg.batch_size * ranks.world,
                   "train_examples": len(train_data), "valid": trainer.last_eval}
        if trainer.stop:  # Ctrl-C or SIGTERM: checkpointed at the step it came
            summary["stopped_by_signal"] = trainer.stop[0]
        return summary


def _check_phases(bundle: ModelBundle, cfg: TrainConfig, done: int, warm: bool) -> None:
    """Before any data is read: the modules ``freeze`` names exist, and a code phase
    (``code_steps``) still to run fits codes of a lower level that is trained and held."""
    freeze(bundle.model, cfg.freeze)
    code_steps = getattr(getattr(bundle.model, "cfg", None), "code_steps", 0)
    if code_steps <= done:
        return
    held = {name.strip() for name in cfg.freeze.split(",")}
    if not warm:
        raise MusicaeError("code_steps fits the codes of a trained lower level: give "
                           "--warm-start MODEL (a short model such as folk_mel_2bar)")
    if not set(sequence.STACKED_LOWER.split(",")) <= held:
        raise MusicaeError(f"code_steps trains the levels above a held lower level: keep "
                           f"freeze={sequence.STACKED_LOWER} until step "
                           f"{code_steps} (--resume --set code_steps=N ends "
                           f"the code phase)")


def _train_config(spec, state: dict, settings: dict, flags: dict, out: Path) -> TrainConfig:
    """The preset's training settings, then a resumed run's own, then ``--set`` and flags
    (None: not given); a resumed run given more steps but no time budget drops its old one.
    """
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    stored = {k: v for k, v in state.get("config", {}).items() if k in train_fields}
    if state and flags.get("steps") is not None and flags.get("minutes") is None \
            and "minutes" not in settings:
        stored.pop("minutes", None)  # asked for more steps: the old time budget is done
    given = settings | {k: v for k, v in flags.items() if v is not None}
    cfg = dataclasses.replace(dataclasses.replace(spec.train, **stored), **given)  # checked
    done, spent = state.get("step", 0), state.get("wall_seconds", 0.0) / 60
    if state and done >= cfg.steps:
        raise MusicaeError(f"{out}: already trained {done} steps; "
                           f"pass --steps above {done} to go on")
    if state and cfg.minutes is not None and spent >= cfg.minutes:
        raise MusicaeError(f"{out}: already trained {spent:.1f} minutes; "
                           f"pass --minutes above that to go on")
    return cfg


def _drop_stale_prior(bundle: ModelBundle) -> None:
    """A resumed VAE's fitted prior no longer fits the codes training moves: drop it,
    and say so (a plain autoencoder's is fitted again when training ends)."""
    if bundle.model.fitted_prior is None or not bundle.model.standard_prior:
        return
    bundle.model.fitted_prior = None
    bundle.meta.pop("fitted_prior", None)
    if distributed.is_main_process():
        print("note: training moves the codes, so the run's fitted prior is dropped; fit it "
              "again with `musicae fit-prior`", file=sys.stderr)


def _start_bundle(spec, out: Path, resume: bool, sizes: dict, rep_settings: dict
                  ) -> ModelBundle:
    if resume:
        if distributed.is_main_process():
            artifacts.recover(out)  # what a killed run left half done
        else:
            artifacts.wait_recovered(out)
        if not (out / artifacts.CONFIG).exists():
            raise MusicaeError(f"{out}: nothing to resume (no {artifacts.CONFIG})")
        bundle = artifacts.load(out)
        if bundle.preset.name != spec.name:
            raise MusicaeError(f"{out}: holds preset {bundle.preset.name!r}, not {spec.name!r}")
        stored = split_settings(spec.name, bundle.overrides)[1]
        schedules = {k: v for k, v in sizes.items() if k in SCHEDULES}
        changed = {k for k, v in sizes.items() if stored.get(k) != v and k not in schedules}
        changed |= {k for k, v in rep_settings.items()
                    if getattr(bundle.representation, k) != v}
        if changed:
            raise MusicaeError(f"{out}: a resumed run keeps its model sizes; "
                               f"cannot change {', '.join(sorted(changed))}")
        if schedules:  # checked as any setting is, then saved with the next checkpoint
            bundle.model.cfg = dataclasses.replace(bundle.model.cfg, **schedules)
        return bundle
    if (out / artifacts.CONFIG).exists():
        raise MusicaeError(f"{out}: already holds a model; use --resume or another --out")
    rep = representation(spec.name, rep_settings)
    return ModelBundle(build_model(spec.name, sizes, rep), spec, sizes, representation=rep)


@torch.no_grad()
def _fit_prior(bundle: ModelBundle, examples) -> None:
    """Let a plain autoencoder sample: fit a Gaussian to its training codes."""
    codes, real_steps, _ = prior_codes(bundle.model, examples)
    bundle.model.fit_prior(codes, real_steps, components=1, covariance="full")


@torch.no_grad()
def prior_codes(model, examples, limit: int | None = None, seed: int = 0,
                progress: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, tuple | None]:
    """Posterior means of ``examples`` (of ``limit`` of them, drawn by ``seed``, where
    there are more), the real steps of each one's window (None for models without steps),
    and for a model told per-step controls the keys of each window's controls and its
    posterior's scales (else None): (n, latent), (n,), ((n, key), (n, latent))."""
    model.eval()
    index = None
    if limit is not None and limit < len(examples):
        index = np.sort(np.random.default_rng(seed).choice(len(examples), limit, replace=False))
    codes, real_steps, keys, scales = [], [], [], []
    total = math.ceil((len(examples) if index is None else limit) / PRIOR_BATCH)
    for chunk in tqdm(examples.chunks(PRIOR_BATCH, index), total=total, unit="batch",
                      desc="encode", disable=not progress):
        chunk = chunk.to(model.device)
        posterior = model.encode(chunk)
        codes.append(posterior.mean)
        if chunk.mask is not None:
            real_steps.append(chunk.mask.sum(1))
        key = model.prior_keys(chunk.mask, chunk.controls) if chunk.controls else None
        if key is not None and posterior.logvar is not None:
            keys.append(key)
            scales.append(torch.exp(0.5 * posterior.logvar))
    given = (torch.cat(keys), torch.cat(scales)) if keys else None
    return torch.cat(codes), torch.cat(real_steps) if real_steps else None, given


PRIOR_BATCH = 512  # windows encoded at a time for a prior


@torch.no_grad()
def fit_prior(model: str, data: str, out: str | Path, components: int = PRIOR_COMPONENTS,
              covariance: str = PRIOR_COVARIANCE, windows: int = PRIOR_WINDOWS,
              split: str = "train", seed: int = 0, device: str = "auto",
              progress: bool = True, temperature: float | None = None) -> dict:
    """Write a copy of a model with a prior fitted to the codes (posterior means) of up to
    ``windows`` examples of DATA's ``split`` into the new model directory ``out``
    (``sample`` then draws from it; see ``musicae.models.prior``); ``temperature``: the one
    samples from it are decoded at unless told (default: SAMPLE_TEMPERATURE)."""
    check_temperature(temperature, default_ok=True)
    _positive("--components", components)
    _positive("--windows", windows)
    out = writable(out)
    if (out / artifacts.CONFIG).exists() or artifacts.is_shipped(out):
        where = "holds a model" if (out / artifacts.CONFIG).exists() else "is for shipped models"
        raise MusicaeError(f"{out}: {where}; fit-prior writes a new model directory (a copy "
                           f"of {model} with the prior)")
    bundle = load(model, device)
    dom = domain(bundle)
    examples = dom.examples(data, split, bundle.representation, progress=progress)
    if len(examples) < components:
        raise MusicaeError(f"{data} [{split}]: {len(examples)} examples, fewer than the "
                           f"{components} components asked for")
    codes, real_steps, given = prior_codes(bundle.model, examples, windows, seed, progress)
    bundle.model.fit_prior(codes, real_steps, components, covariance, seed, given)
    prior = bundle.model.fitted_prior
    record = {"prior": prior.describe(), "components": components, "covariance": covariance,
              "data": str(data), "split": split, "windows": len(codes), "seed": seed,
              "given_controls": given is not None,
              "temperature": SAMPLE_TEMPERATURE if temperature is None else temperature,
              "layouts": {layout: int((real_steps == int(layout)).sum())
                          for layout in map(str, prior.layouts)}}
    bundle.meta["fitted_prior"] = record
    with staged_output(out) as staging:
        artifacts.save(bundle, staging, half=bundle.half)
        summary = {"model": str(out), "from": str(bundle.path)} | record
        summary["written"] = [staging / artifacts.WEIGHTS, staging / artifacts.CONFIG]
        return _record(out, staging, "fit-prior", summary, model=str(bundle.path),
                       **{k: v for k, v in record.items() if k != "layouts"})


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _chosen(seed: int | None) -> int:
    """The seed to use: the one given, or a new one (then printed and recorded)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 2**63):
        raise MusicaeError(f"--seed must be a whole number 0..{2**63 - 1} (got {seed!r})")
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little") % 2**31
    seed_everything(seed)
    return seed


def _record(out: Path, staging: Path, command: str, summary: dict, **settings) -> dict:
    """Write run.json beside a command's files (in ``staging``, on their way to ``out``):
    what made them, and their names; the summary lists where they will be."""
    written = [Path(p).name for p in summary["written"]]
    if any(name.endswith(".wav") for name in written):
        settings["synth"] = render.synthesiser()
    record = {"command": command, "musicae": __version__} | settings | {"written": written}
    (staging / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    summary["written"] = [str(out / name) for name in written + [RUN_RECORD]]
    return summary | {k: v for k, v in settings.items() if k in ("seed", "synth")}


@torch.no_grad()
def sample(model: str, n: int = SAMPLES, out: str | Path = "samples",
           temperature: float | None = None, seed: int | None = None,
           device: str = "auto", shift: dict[str, float] | None = None,
           meter: str | None = None, chords: str | None = None, label: int | None = None,
           prior: str | None = None, **options) -> dict:
    """Decode n prior samples into files under ``out``.

    shift: move every code along stored attribute vectors (``{"density": 1.5}``);
    meter: music, the time signature of the samples (default 4/4);
    chords: chord-conditioned models, the progression ("C G Am F", spread evenly);
    label: label-conditioned models, the class of every sample (default: 0, 1, ... in turn);
    prior: "fitted" or "standard" (N(0, I)); default: the fitted one where the model has one;
    temperature: default, the fitted prior's own where it has one, else SAMPLE_TEMPERATURE.
    """
    _positive("-n", n)
    check_temperature(temperature, default_ok=True)
    writable(out)
    bundle = load(model, device)
    prior, temperature = sampling(bundle, prior, temperature)
    dom = domain(bundle)
    seed = _chosen(seed)
    layout = dom.layout(bundle, n, meter, chords, label)
    batch = bundle.model.sample(n, temperature, _generator(seed), shift_vector(bundle, shift),
                                prior=prior, **layout)
    with staged_output(Path(out)) as staging:
        paths = dom.write_batch(bundle, batch, staging, "sample", **options)
        summary = {"model": str(bundle.path), "prior": prior, "written": paths}
        return _record(Path(out), staging, "sample", summary, model=str(bundle.path), n=n,
                       seed=seed, temperature=temperature, meter=meter, shift=shift or {},
                       prior=prior, **_controls(chords, label))


@torch.no_grad()
def arrange(model: str, chords: str, out: str | Path, bars: int | None = None,
            temperature: float | None = None, seed: int | None = None,
            device: str = "auto", meter: str | None = None, prior: str | None = None,
            **options) -> dict:
    """One style (one code from the prior) decoded under each chord of a progression in
    turn, repeated to ``bars`` bars, written as one piece (see ``MusicDomain.arrange``)."""
    check_temperature(temperature, default_ok=True)
    writable(out)
    bundle = load(model, device)
    dom = domain(bundle)
    prior, temperature = sampling(bundle, prior, temperature)
    seed = _chosen(seed)
    batch = dom.arrange(bundle, chords, bars, temperature, _generator(seed), meter, prior)
    bars = len(batch) * bundle.representation.bars
    with staged_output(Path(out)) as staging:
        title = f"one style over {chords.strip()}, {bars} bars"
        paths = dom.write_joined(bundle, batch, staging, "arrangement", title, **options)
        summary = {"model": str(bundle.path), "prior": prior, "bars": bars, "written": paths}
        return _record(Path(out), staging, "arrange", summary, model=str(bundle.path),
                       chords=chords, bars=bars, seed=seed, temperature=temperature,
                       meter=meter, prior=prior)


def check_prior(bundle: ModelBundle, prior: str | None) -> str:
    """The prior to sample from (``--prior``, or the model's default), or a one-line error
    naming the model (the CLI and the Python handle)."""
    try:
        return bundle.model.prior_name(prior)
    except MusicaeError as exc:
        raise MusicaeError(f"{bundle.path}: {exc}") from None


def _controls(chords: str | None, label: int | None) -> dict:
    """The controls a user gave, for run.json."""
    return {k: v for k, v in (("chords", chords), ("label", label)) if v is not None}


def check_temperature(temperature: float | None, default_ok: bool = False) -> None:
    """A sampling temperature is a finite number >= 0 (the CLI and the Python handle); None
    where ``default_ok`` (sample and arrange: the model's default)."""
    if temperature is None and default_ok:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not (math.isfinite(temperature) and temperature >= 0):
        raise MusicaeError(f"--temperature must be a finite number >= 0 (got {temperature!r})")


def sampling(bundle: ModelBundle, prior: str | None, temperature: float | None
             ) -> tuple[str, float]:
    """The prior to draw codes from (``check_prior``) and the temperature to decode them at
    (``sample_temperature``): what sample and arrange ask first, wherever they are asked."""
    prior = check_prior(bundle, prior)
    return prior, sample_temperature(bundle, temperature, prior)


def sample_temperature(bundle: ModelBundle, temperature: float | None, prior: str) -> float:
    """The temperature to sample at: the one given, else the one the model's fitted prior
    was chosen with (``fit-prior --temperature``) when sampling from it, else
    SAMPLE_TEMPERATURE."""
    check_temperature(temperature, default_ok=True)
    if temperature is not None:
        return temperature
    record = bundle.meta.get("fitted_prior") or {}
    chosen = record.get("temperature") if prior == "fitted" else None
    if chosen is None:
        return SAMPLE_TEMPERATURE
    try:
        check_temperature(chosen)
    except MusicaeError:
        raise MusicaeError(f"{bundle.path}: config.json's fitted_prior.temperature must be a "
                           f"finite number >= 0 (got {chosen!r})") from None
    return float(chosen)


def check_path_steps(steps: int) -> None:
    """Points on an interpolation path: 2 to MAX_SAMPLES (the CLI and the Python handle)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_SAMPLES:
        raise MusicaeError(f"--steps must be a whole number 2..{MAX_SAMPLES:,} (got {steps!r})")


def shift_vector(bundle: ModelBundle, shifts: dict[str, float] | None) -> torch.Tensor | None:
    """The sum of stored attribute vectors times their amounts (``--shift density=+1.5``):
    (latent,), or None for no shift."""
    if not shifts:
        return None
    vectors = artifacts.attribute_vectors(bundle)
    total = torch.zeros(bundle.model.latent_dim, device=bundle.model.device)
    for name, amount in shifts.items():
        if name not in vectors:
            known = ", ".join(sorted(vectors)) or "none; make one with `musicae attribute`"
            raise MusicaeError(f"{bundle.path}: no attribute vector {name!r} (known: {known})")
        total += amount * _vector(bundle, name, vectors[name])
    return total


def _vector(bundle: ModelBundle, name: str, stored: object) -> torch.Tensor:
    """A stored attribute vector, checked: finite numbers, one per latent dimension."""
    width = bundle.model.latent_dim
    values = stored.get("vector") if isinstance(stored, dict) else None
    try:
        vector = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        vector = np.zeros(0, np.float32)
    if vector.shape != (width,) or not np.isfinite(vector).all():
        raise MusicaeError(f"{bundle.path}: attribute vector {name!r} is damaged (need "
                           f"{width} finite numbers); make it again with `musicae attribute`")
    return torch.from_numpy(vector).to(bundle.model.device)


@torch.no_grad()
def interpolate(model: str, a: str | None, b: str | None, out: str | Path,
                steps: int = INTERPOLATION_STEPS, method: str = INTERPOLATION_METHOD,
                temperature: float = DECODE_TEMPERATURE, device: str = "auto",
                bar: int | None = None, seed: int | None = None, chords: str | None = None,
                label: int | None = None, meter: str | None = None, prior: str | None = None,
                spacing: str = INTERPOLATION_SPACING, **options) -> dict:
    """Decode the path between the codes of inputs a and b (endpoints included), in the
    layout (and, for music, the meter and chords) of a; ``chords`` replaces a's chords;
    ``spacing`` places the points (``Autoencoder.interpolate``).
    Label-conditioned models move from a's label to b's, or keep ``label`` all along.
    With neither input, between two random styles: codes from ``prior``, in ``meter``
    over ``chords`` (a one-bar chord model: a chord a step, in turn)."""
    check_temperature(temperature)
    check_path_steps(steps)
    check_spacing(spacing)
    if (a is None) != (b is None):
        raise MusicaeError("interpolate takes two inputs, or none (two random styles)")
    writable(out)
    bundle = load(model, device)
    dom = domain(bundle)
    seed = _chosen(seed)
    if a is None:
        prior = check_prior(bundle, prior)
        path = random_path(bundle, dom, steps, method, temperature, _generator(seed), meter,
                           chords, label, prior)
        info_a = info_b = {"input": f"a random style (prior {prior}, seed {seed})"}
    else:
        xa, info_a = dom.read_input(bundle, Path(a), bar)
        xb, info_b = dom.read_input(bundle, Path(b), bar)
        device_ = bundle.model.device
        xa, xb = xa.to(device_), xb.to(device_)
        like = dom.condition(bundle, xa, chords, label)
        like = None if like is xa else like  # a's own layout: its labels blend into b's
        path = bundle.model.interpolate(xa, xb, steps, method, temperature, like=like,
                                        spacing=spacing)
    with staged_output(Path(out)) as staging:
        written = dom.write_path(bundle, path, staging, **options)
        summary = {"model": str(bundle.path), "a": info_a, "b": info_b, "steps": steps,
                   "method": method, "written": written}
        if a is not None:
            summary["spacing"] = spacing
        return _record(Path(out), staging, "interpolate", summary, model=str(bundle.path),
                       a=a and str(a), b=b and str(b), bar=bar, steps=steps, method=method,
                       temperature=temperature, seed=seed, **_controls(chords, label),
                       **({"prior": prior, "meter": meter} if a is None
                          else {"spacing": spacing}))


def random_path(bundle: ModelBundle, dom: Domain, steps: int, method: str,
                temperature: float, generator: torch.Generator, meter: str | None,
                chords: str | None, label: int | None, prior: str) -> Batch:
    """The path between two codes drawn from ``prior``, decoded in the layout of ``steps``
    new examples (music: in ``meter``, over ``chords``; images: under ``label``)."""
    layout = dom.layout(bundle, steps, meter, chords, label)
    mask = layout.get("mask")
    controls = {name: c[:2] for name, c in layout.get("controls", {}).items()}
    ends = bundle.model.prior_sample(2, generator, prior, None if mask is None else mask[:2],
                                     controls)
    return bundle.model.decode(path_codes(ends[0], ends[1], steps, method), temperature,
                               **layout)


@torch.no_grad()
def reconstruct(model: str, inputs: list[str], out: str | Path, device: str = "auto",
                corrupt_input: bool = True, shift: dict[str, float] | None = None,
                bar: int | None = None, seed: int | None = None, chords: str | None = None,
                label: int | None = None, **options) -> dict:
    """Encode and decode each input (moved by ``shift``; over ``chords`` or under ``label``
    in place of its own where given); writes input beside output. An event kind's input
    (multitrack: ``Representation.whole_inputs``) is read whole, window by window, and
    written back as one piece, unless ``bar`` picks one window."""
    writable(out)
    bundle = load(model, device)
    dom = domain(bundle)
    vector = shift_vector(bundle, shift)
    seed = _chosen(seed)  # the corruption of denoising models draws noise
    written, infos = [], []
    with staged_output(Path(out)) as staging:
        for path in inputs:
            if dom.reads_whole(bundle, bar):
                whole = dom.read_piece(bundle, Path(path))
                y = bundle.model.reconstruct(whole.batch, shift=vector, like=dom.condition(
                    bundle, whole.batch, chords, label))
                written += dom.write_piece_pair(bundle, whole, y, staging, Path(path).stem,
                                                **options)
                infos.append({"input": str(path)} | whole.info)
                continue
            x, info = dom.read_input(bundle, Path(path), bar)
            x = x.to(bundle.model.device)
            seen = bundle.model.corrupted(x) if corrupt_input else None  # one draw for both
            y = bundle.model.reconstruct(x if seen is None else seen, shift=vector,
                                         corrupt=False,
                                         like=dom.condition(bundle, x, chords, label))
            written += dom.write_pair(bundle, x, y, staging, Path(path).stem, corrupted=seen,
                                      **options)
            infos.append({"input": str(path)} | info)
        summary = {"model": str(bundle.path), "inputs": infos, "written": written}
        return _record(Path(out), staging, "reconstruct", summary, model=str(bundle.path),
                       inputs=[str(p) for p in inputs], bar=bar, shift=shift or {},
                       corrupt_input=corrupt_input, seed=seed, **_controls(chords, label))


@torch.no_grad()
def encode(model: str, inputs: list[str], out: str | Path, device: str = "auto",
           bar: int | None = None) -> dict:
    """Posterior means of the inputs, saved as one (n, latent) .npy array (an event
    kind's: one code a window of each input, in order, unless ``bar`` picks one)."""
    writable(out, folder=False)
    bundle = load(model, device)
    dom = domain(bundle)
    codes, infos = [], []
    for path in inputs:
        if dom.reads_whole(bundle, bar):
            whole = dom.read_piece(bundle, Path(path))
            x, info = whole.batch, whole.info
        else:
            x, info = dom.read_input(bundle, Path(path), bar)
        codes.append(bundle.model.encode(x.to(bundle.model.device)).mean.cpu().numpy())
        infos.append({"input": str(path)} | info)
    z = np.concatenate(codes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    artifacts.atomic_write(out, lambda p: np.save(open(p, "wb"), z))
    return {"model": str(bundle.path), "inputs": infos, "shape": list(z.shape),
            "written": [str(out)]}


@torch.no_grad()
def decode(model: str, codes: str | Path, out: str | Path,
           temperature: float = DECODE_TEMPERATURE, device: str = "auto",
           meter: str | None = None, seed: int | None = None, chords: str | None = None,
           label: int | None = None, **options) -> dict:
    """Decode codes from a .npy file of shape (n, latent) into files (music: in ``meter``,
    over ``chords`` for chord-conditioned models; images: under ``label`` for
    label-conditioned ones)."""
    check_temperature(temperature)
    writable(out)
    bundle = load(model, device)
    seed = _chosen(seed)  # draws at temperature > 0
    z = _read_codes(Path(codes), bundle.model.latent_dim)
    dom = domain(bundle)
    layout = dom.layout(bundle, len(z), meter, chords, label)
    batch = bundle.model.decode(torch.from_numpy(z).to(bundle.model.device), temperature,
                                **layout)
    with staged_output(Path(out)) as staging:
        paths = dom.write_batch(bundle, batch, staging, "decoded", **options)
        summary = {"model": str(bundle.path), "written": paths}
        return _record(Path(out), staging, "decode", summary, model=str(bundle.path),
                       codes=str(codes), temperature=temperature, meter=meter, seed=seed,
                       **_controls(chords, label))


@torch.no_grad()
def groove(model: str, beat: str | Path, out: str | Path,
           temperature: float = GROOVE_TEMPERATURE, seed: int | None = None,
           device: str = "auto", wav: bool = False) -> dict:
    """Play the drum hits of a MIDI file with the velocities and micro-timing a groove
    model learned, hits unchanged (the whole file, window by window; see
    ``MusicDomain.groove``); writes the result beside the beat as read."""
    check_temperature(temperature)
    writable(out)
    bundle = load(model, device)
    seed = _chosen(seed)  # draws at temperature > 0
    with staged_output(Path(out)) as staging:
        written, info = domain(bundle).write_groove(bundle, Path(beat), staging, temperature,
                                                    wav=wav)
        summary = {"model": str(bundle.path), "input": str(beat)} | info | {"written": written}
        return _record(Path(out), staging, "groove", summary, model=str(bundle.path),
                       input=str(beat), temperature=temperature, seed=seed)


def _read_codes(path: Path, latent_dim: int) -> np.ndarray:
    if not path.exists():
        raise MusicaeError(f"{path}: no such file")
    data = read_regular(path, "codes")[0]
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError):  # numpy's message suggests allow_pickle: not for us
        raise MusicaeError(f"{path}: not a .npy file of numbers (save codes with "
                           f"`musicae encode` or numpy.save)") from None
    return check_codes(z, latent_dim, str(path))


def check_codes(z: object, latent_dim: int, where: str = "codes") -> np.ndarray:
    """Codes to decode, as (n, latent_dim) float32: numbers, finite, 1 to ``MAX_SAMPLES``
    of them, within ``MAX_CODE``; a one-line error naming ``where`` otherwise."""
    try:
        z = np.asarray(z)
    except (TypeError, ValueError):
        raise MusicaeError(f"{where}: not an array of numbers") from None
    if not np.issubdtype(z.dtype, np.number):
        raise MusicaeError(f"{where}: not an array of numbers")
    z = np.atleast_2d(z).astype(np.float32)
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise MusicaeError(f"{where}: codes have shape {z.shape}; "
                           f"this model needs (n, {latent_dim})")
    if not 1 <= len(z) <= MAX_SAMPLES:
        raise MusicaeError(f"{where}: {len(z)} codes; decode takes 1 to {MAX_SAMPLES:,} a run")
    if not np.isfinite(z).all():
        raise MusicaeError(f"{where}: codes must be finite numbers (found NaN or infinity)")
    if np.abs(z).max() > MAX_CODE:
        raise MusicaeError(f"{where}: codes reach {np.abs(z).max():.3g}; codes lie within "
                           f"±{MAX_CODE:,.0f} (a VAE's prior is a unit normal)")
    return z


MAX_CODE = 1e4  # larger latent values are no code a model was trained near


def prepare(data: str, preset: str, workers: int | None = None, cache: str | None = None,
            progress: bool = True, overrides: dict | None = None, config: dict | None = None):
    """Turn DATA into cached windows of ``preset``'s representation (``overrides``: its
    settings by name, as ``--set``; ``config``: a training config file's settings, of
    which the representation's apply); returns the PrepareReport. (``musicae prepare``
    makes the same two calls without importing this module, and so without torch.)"""
    from musicae.datasets.midi import prepare as prepare_windows

    rep = prepare_representation(preset, overrides, config)
    return prepare_windows(data, rep, workers=workers, cache_dir=cache, progress=progress)


@torch.no_grad()
def evaluate(model: str, data: str, split: str | None = None, device: str = "auto") -> dict:
    """Metrics of a model on DATA's ``split``.

    By default that is ``test`` (the held-out part) of the data the model was
    trained on, and ``all`` of any other data.
    """
    bundle = load(model, device)
    dom = domain(bundle)
    split = split or ("test" if _trained_on(bundle, dom, data) else "all")
    metrics = dom.evaluate(bundle, data, split)
    return {"model": str(bundle.path), "preset": bundle.preset.name, "data": str(data),
            "split": split} | metrics


def _trained_on(bundle: ModelBundle, dom: Domain, data: str) -> bool:
    """Whether DATA is what the model was trained on (True where that is unknown,
    so that training data is never scored as held out)."""
    trained = bundle.meta.get("data")
    if trained is None or trained == str(data):
        return True
    known = {p for p in (bundle.meta.get("data_path"), dom.data_path(trained)) if p}
    here = dom.data_path(data)
    return not known or here is None or here in known


@torch.no_grad()
def plot_latent(model: str, data: str, out: str | Path, device: str = "auto") -> dict:
    """Scatter of held-out codes by digit (and the decoded manifold for 2-D latents)."""
    writable(out, folder=False)
    if Path(out).suffix.lower() not in PICTURE_SUFFIXES:
        raise MusicaeError(f"{out}: the picture is written as PNG, PDF or SVG; name it "
                           f"{Path(out).with_suffix('.png').name}")
    bundle = load(model, device)
    written = domain(bundle).plot_latent(bundle, data, Path(out))
    return {"model": str(bundle.path), "written": [str(written)]}


def models() -> dict:
    """Presets and shipped models."""
    shipped = []
    if artifacts.SHIPPED_DIR.is_dir():
        for d in sorted(artifacts.SHIPPED_DIR.iterdir()):
            if (d / artifacts.CONFIG).is_file():
                config = artifacts.read_config(d)
                shipped.append({"name": d.name, "preset": config["preset"],
                                "metrics": config.get("card", {}).get("test_metrics", {})})
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
    (at the sampling temperature) shifted by each of ATTRIBUTE_SHIFTS times the vector.
    """
    bundle = load(model, device)
    dom = domain(bundle)
    if name not in dom.attributes(bundle):
        known = ", ".join(dom.attributes(bundle)) or "none"
        raise MusicaeError(f"{bundle.path}: this model's data has no attribute {name!r} "
                           f"(known: {known})")
    examples = dom.examples(data, split, bundle.representation)
    if not len(examples):
        raise MusicaeError(f"{data} [{split}]: no windows to measure {name} on")
    batch = Batch.cat(list(examples.chunks(4096, np.arange(min(len(examples),
                                                                ATTRIBUTE_WINDOWS)))))
    values = dom.attribute(bundle, name, batch)
    keep = torch.from_numpy(~np.isnan(values))
    batch, values = batch[keep], values[~np.isnan(values)]
    low, high = np.quantile(values, [0.25, 0.75])
    codes = torch.cat([bundle.model.encode(c.to(bundle.model.device)).mean.cpu()
                       for c in batch.split(512)])
    vector = codes[values >= high].mean(0) - codes[values <= low].mean(0)
    stored = {"vector": vector.tolist(), "data": str(data), "windows": len(batch),
              "low_quartile": float(low), "high_quartile": float(high)}
    kept = artifacts.save_attribute_vector(bundle, name, stored)
    effect = {}
    for amount in ATTRIBUTE_SHIFTS:
        shifted = bundle.model.sample(samples, SAMPLE_TEMPERATURE, _generator(0),
                                      shift_vector(bundle, {name: amount}))
        effect[f"{amount:+g}"] = float(np.nanmean(dom.attribute(bundle, name, shifted)))
    return {"model": str(bundle.path), "attribute": name, "stored_in": str(kept),
            "windows": len(batch), "data_quartiles": [float(low), float(high)],
            f"mean {name} of {samples} samples by shift": effect}


DEMO_TUNES = ("folk", "test")  # interpolation endpoints come from this split ...
DEMO_MIN_NOTES = 8  # ... the first two whose first window has this many notes: a path to hear


def demo(out: str | Path = "out", seed: int = 0, device: str = "auto",
         wav: bool = False) -> dict:
    """The main job on shipped models: new melodies, a melodic interpolation, new digits.

    wav: also a WAV beside each MIDI file.
    """
    out = Path(out)
    tunes = _lively_tunes(load(DEFAULT_MODELS["music"], device), 2)
    done = {
        "melodies": sample(DEFAULT_MODELS["music"], 8, out / "melodies", seed=seed,
                           device=device, wav=wav),
        "interpolation": interpolate(DEFAULT_MODELS["music"], str(tunes[0]), str(tunes[1]),
                                     out / "interpolation", device=device, wav=wav),
        "digits": sample(DEFAULT_MODELS["image"], 64, out / "digits", seed=seed, device=device),
        "digits_by_label": sample(CONDITIONAL_MODEL, 100, out / "digits_by_label", seed=seed,
                                  device=device),
        "latent": plot_latent("mnist_vae_2d", "mnist", out / "latent_2d.png", device=device),
    }
    written = {name: result["written"] for name, result in done.items()}
    return written | ({"synth": done["melodies"]["synth"]} if wav else {})


def _lively_tunes(bundle: ModelBundle, count: int) -> list[Path]:
    """The first ``count`` tunes of the demo split whose first window has DEMO_MIN_NOTES."""
    from musicae.datasets.examples import window_arrays
    from musicae.datasets.midi import resolve_data, split_files

    rep, found = bundle.representation, []
    for tune in split_files(resolve_data(DEMO_TUNES[0]))[DEMO_TUNES[1]]:
        tokens, mask = window_arrays(domain(bundle).read_input(bundle, tune)[0], rep)
        if rep.onsets(tokens[0][mask[0]]).sum() >= DEMO_MIN_NOTES:
            found.append(tune)
        if len(found) == count:
            return found
    raise MusicaeError(f"the bundled folk corpus has fewer than {count} test tunes with "
                       f"{DEMO_MIN_NOTES} notes in their first window")

