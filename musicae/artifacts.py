"""A trained model is a directory: ``model.safetensors`` + ``config.json``.

config.json names the preset, every size the model was built with (as
"overrides" of the preset's: earlier files stored only those that differed),
the representation (kind and settings: how the model reads and writes MIDI)
and the training state, so loading rebuilds the model exactly as it was
trained, whatever the preset's defaults have since become, and fills in the
weights; nothing is unpickled. Directories
written by earlier versions (``musicae-model/1``) load too. ``optimizer.safetensors``
holds Adam's moments for ``--resume``. Every file is written to a temporary
name and renamed, so an interrupted save never leaves a half-written model.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import safetensors.torch
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from musicae.configs import GEOMETRY
from musicae.errors import MusicaeError, first_line
from musicae.files import read_regular
from musicae.models.base import Autoencoder
from musicae.models.prior import ALL, FittedPrior
from musicae.paths import CONFIG, SHIPPED_DIR, WEIGHTS
from musicae.presets import Preset, build_model, get_preset
from musicae.representations import Representation, from_dict

FORMAT = "musicae-model/2"
FORMAT_1 = "musicae-model/1"  # before representations were stored; read, never written
FORMAT_1_GEOMETRY = ("kind", "depth", "bars", "slot")  # format-1 model settings now derived
# Before sequence models were composed of parts their weights had flat names: (old prefix,
# new prefix), in the order that model registered them (which its optimizer state follows).
# Image models kept their names.
FORMAT_1_SEQUENCE_NAMES = (
    ("encoder.", "encoder.lstm."),
    ("to_posterior.", "encoder.to_posterior."),
    ("conductor_init.", "decoder.conductor_init."),
    ("conductor.", "decoder.conductor."),
    ("decoder_init.", "decoder.init."),
    ("decoder.", "decoder.lstm."),
    ("out.", "decoder.head.out."),
)
OPTIMIZER = "optimizer.safetensors"
METRICS = "metrics.jsonl"


@dataclass
class ModelBundle:
    """A model with what it was made from: preset, size overrides, representation (music)
    and saved metadata."""

    model: Autoencoder
    preset: Preset
    overrides: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # config.json as read (training state, metrics)
    path: Path | None = None
    representation: Representation | None = None
    half: bool = False  # whether its weights were stored as float16 (shipped models)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)  # as any new file, whatever the writer chose
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once, at import: setting it is process-wide


def _write_json(obj: dict) -> Callable[[Path], None]:
    return lambda p: p.write_text(json.dumps(obj, indent=2) + "\n")


def save(bundle: ModelBundle, directory: Path, training: dict | None = None,
         half: bool = False) -> None:
    """Write weights and config into ``directory`` (created if needed).

    ``half`` stores floating-point weights as float16 (for shipped models).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    rep = bundle.representation
    config = {
        "format": FORMAT,
        "preset": bundle.preset.name,
        "overrides": model_sizes(bundle.model),
        "representation": rep.to_dict() if rep is not None else None,
        "training": training if training is not None else bundle.meta.get("training", {}),
    }
    config |= {k: v for k, v in bundle.meta.items() if k not in config}
    atomic_write(directory / WEIGHTS, lambda p: save_file(tensors, str(p)))
    atomic_write(directory / CONFIG, _write_json(config))
    bundle.meta = config


def model_sizes(model: Autoencoder) -> dict:
    """Every size a model was built with (its config less the representation's geometry):
    what config.json stores as "overrides", so that a saved model is rebuilt as it was
    whatever its preset's defaults later become (files saved before stored only what
    differed from the preset)."""
    return {f.name: getattr(model.cfg, f.name) for f in fields(model.cfg)
            if f.name not in GEOMETRY}


STAGING, COMMITTING = ".checkpoint.tmp", ".checkpoint.new"  # folders inside a run


def save_checkpoint(bundle: ModelBundle, directory: Path, state: dict) -> None:
    """A training checkpoint: the model plus Adam's state for ``--resume``, made visible as
    one unit.

    The three files are written into ``.checkpoint.tmp/``, which is renamed to
    ``.checkpoint.new/`` once complete; then each file is moved into the run,
    ``config.json`` last. A kill before that rename leaves the previous checkpoint
    as it was (the half-written folder is removed by :func:`recover`); a kill
    after it is finished by :func:`recover`, which the next load runs. Adam's
    state is stored by parameter name, so it survives a reordering of the
    model's parts.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recover(directory)
    staging = directory / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _stage_checkpoint(bundle, staging, dict(state))
    except Exception as exc:  # noqa: BLE001 (a full disk: OSError, or safetensors' own error)
        shutil.rmtree(staging, ignore_errors=True)
        raise MusicaeError(f"{directory}: cannot write a checkpoint ({first_line(exc)}); the "
                           f"last complete checkpoint there is intact") from None
    os.replace(staging, directory / COMMITTING)
    recover(directory)


def _stage_checkpoint(bundle: ModelBundle, staging: Path, state: dict) -> None:
    staging.mkdir()
    optimizer = state.pop("optimizer", None)
    if optimizer is not None:
        names = [name for name, _ in bundle.model.named_parameters()]
        tensors, groups = _flatten_optimizer(optimizer.state_dict())
        metadata = {"groups": json.dumps(groups), "names": json.dumps(names)}
        atomic_write(staging / OPTIMIZER,
                     lambda p: save_file(tensors, str(p), metadata=metadata))
    save(bundle, staging, training=state)


def _roll_forward(committing: Path, directory: Path) -> None:
    for name in (OPTIMIZER, WEIGHTS, CONFIG):  # config.json last: it names the step
        try:
            os.replace(committing / name, directory / name)
        except FileNotFoundError:
            pass  # moved already (by an earlier, killed recovery)
    shutil.rmtree(committing, ignore_errors=True)


def wait_recovered(directory: Path, seconds: float = 60.0) -> None:
    """Wait (other ranks of a resumed run) until rank 0's :func:`recover` has moved a
    half-moved checkpoint in, so that every rank reads the same one."""
    deadline = time.monotonic() + seconds
    while (Path(directory) / COMMITTING).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def truncate_metrics(directory: Path, step: int) -> None:
    """Drop ``metrics.jsonl`` records after ``step`` (a resumed run writes them again) and
    any line a kill cut short."""
    path = Path(directory) / METRICS
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        at = record.get("step") if isinstance(record, dict) else None
        if isinstance(at, (int, float)) and at <= step:
            kept.append(line)
    atomic_write(path, lambda p: p.write_text("".join(f"{line}\n" for line in kept)))


def recover(directory: Path) -> None:
    """Finish or drop a checkpoint a killed run left half made (see
    :func:`save_checkpoint`), and remove temporary files of interrupted writes."""
    directory = Path(directory)
    if (directory / COMMITTING).is_dir():
        _roll_forward(directory / COMMITTING, directory)
    shutil.rmtree(directory / STAGING, ignore_errors=True)
    for leftover in directory.glob(".*.tmp-*"):  # atomic_write's, from a killed process
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def _flatten_optimizer(sd: dict) -> tuple[dict[str, torch.Tensor], list]:
    tensors = {}
    for index, slots in sd["state"].items():
        for name, value in slots.items():
            tensors[f"{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def load_optimizer_state(directory: Path, model: Autoencoder) -> dict | None:
    """Adam's state_dict as saved by ``save_checkpoint``, in ``model``'s parameter order
    (None when absent)."""
    path = Path(directory) / OPTIMIZER
    if not path.exists():
        return None
    data = read_regular(path, "weights")[0]  # a regular file, and not too large
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        groups = json.loads(metadata["groups"])
        saved = json.loads(metadata["names"]) if "names" in metadata else None
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # safetensors and json raise their own error types
        raise MusicaeError(f"{path}: unreadable optimizer state ({first_line(exc)})") from None
    params = dict(model.named_parameters())
    names = list(params)
    if saved is None:
        saved = _format_1_order(model) if read_config(directory).get("format") == FORMAT_1 \
            else names
    if not isinstance(saved, list) or sorted(map(str, saved)) != sorted(names):
        raise MusicaeError(f"{path}: optimizer state of another model")
    position = {name: i for i, name in enumerate(names)}
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, _, slot = key.partition(".")
        if not re.fullmatch(r"[0-9]{1,9}", index) or int(index) >= len(saved) \
                or slot not in ADAM_SLOTS:
            raise MusicaeError(f"{path}: unexpected tensor {key!r} in optimizer state")
        name = saved[int(index)]
        shape = () if slot == "step" else tuple(params[name].shape)
        _check_tensor(path, key, value, shape, non_negative=slot != "exp_avg")
        state.setdefault(position[name], {})[slot] = value
    if any(set(slots) != set(ADAM_SLOTS) for slots in state.values()):
        raise MusicaeError(f"{path}: incomplete optimizer state")
    return {"state": state, "param_groups": _check_groups(path, groups, len(names))}


ADAM_SLOTS = ("step", "exp_avg", "exp_avg_sq")


def _check_tensor(path: Path, name: str, value: torch.Tensor, shape: tuple,
                  non_negative: bool = False) -> None:
    """A stored tensor is a float array of the expected shape, finite (and >= 0 where asked)."""
    if tuple(value.shape) != shape:
        raise MusicaeError(f"{path}: {name} has shape {tuple(value.shape)}, not {shape}")
    if not value.is_floating_point():
        raise MusicaeError(f"{path}: {name} is {value.dtype}, not a float tensor")
    if not torch.isfinite(value).all():
        raise MusicaeError(f"{path}: {name} holds NaN or infinite values")
    if non_negative and (value < 0).any():
        raise MusicaeError(f"{path}: {name} holds negative values")


def _check_groups(path: Path, groups, n_params: int) -> list[dict]:
    """Adam's param_groups as musicae writes them: one group over every parameter, its
    settings finite numbers in range or flags (settings of other torch versions too)."""

    def setting(key, value) -> bool:
        if key == "params":
            return value == list(range(n_params))
        if key == "betas":
            return (isinstance(value, list) and len(value) == 2
                    and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in value))
        if value is None or isinstance(value, bool):
            return key not in ADAM_NUMBERS
        if not isinstance(value, (int, float)) or isinstance(value, int) and value > 2**63:
            return False  # a 400-digit integer overflows math.isfinite
        return math.isfinite(value) and value >= 0 and (key not in ("lr", "eps") or value < 1e3)

    ok = (isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict)
          and {"params", "betas", *ADAM_NUMBERS} <= set(groups[0])
          and all(setting(k, v) for k, v in groups[0].items()))
    if not ok:
        raise MusicaeError(f"{path}: optimizer settings are not Adam's")
    return groups


ADAM_NUMBERS = ("lr", "eps", "weight_decay")


def _format_1_names(model: Autoencoder) -> tuple[tuple[str, str], ...]:
    from musicae.models.sequence import SequenceVAE

    return FORMAT_1_SEQUENCE_NAMES if isinstance(model, SequenceVAE) else ()


def _format_1_order(model: Autoencoder) -> list[str]:
    """Parameter names (as they are now) in the order a format-1 model registered them."""
    prefixes = [new for _, new in _format_1_names(model)]  # in the old registration order
    names = [name for name, _ in model.named_parameters()]
    if not prefixes:
        return names

    def old_place(name: str) -> int:
        return next(i for i, prefix in enumerate(prefixes) if name.startswith(prefix))

    return sorted(names, key=old_place)  # stable: the order within a part is unchanged


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A model directory, or the name of a shipped model under data/models."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = SHIPPED_DIR / str(name_or_path)
    if shipped.is_dir():
        return shipped
    if path.exists():
        raise MusicaeError(f"{path}: not a model directory")
    raise MusicaeError(f"{name_or_path}: no such model directory or shipped model "
                       f"(see `musicae models`)")


def read_config(directory: Path) -> dict:
    path = Path(directory) / CONFIG
    if not path.exists():
        raise MusicaeError(f"{directory}: not a musicae model (no {CONFIG})")
    try:
        config = json.loads(read_regular(path, "config")[0].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MusicaeError(f"{path}: unreadable model config ({exc.__class__.__name__})") from None
    if not isinstance(config, dict) or config.get("format") not in (FORMAT, FORMAT_1):
        raise MusicaeError(f"{path}: not a {FORMAT} config")
    return config


def _representation(config: dict, preset: Preset) -> Representation | None:
    """The stored representation (a format-1 directory used its preset's)."""
    if config.get("format") == FORMAT_1 or preset.representation is None:
        return preset.representation
    return from_dict(config.get("representation"))


def _overrides(config: dict) -> dict:
    """The stored size overrides (format 1 also stored geometry, now the representation's)."""
    overrides = config.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise MusicaeError(f"overrides must be a mapping, not {overrides!r}")
    if config.get("format") == FORMAT_1:
        overrides = {k: v for k, v in overrides.items() if k not in FORMAT_1_GEOMETRY}
    return overrides


def _rename_format_1(tensors: dict, model: Autoencoder) -> dict:
    """Weights of a format-1 directory under the names the model's parts have now."""
    renamed = {}
    names = _format_1_names(model)
    longest_first = sorted(names, key=lambda pair: -len(pair[0]))
    for key, value in tensors.items():
        old = next((o for o, _ in longest_first if key.startswith(o)), None)
        new = dict(names)[old] + key[len(old):] if old else key
        renamed[new] = value
    return renamed


def load(name_or_path: str | Path, device: torch.device | str = "cpu") -> ModelBundle:
    """Rebuild a saved model from its preset and load its weights (float32, on ``device``)."""
    directory = resolve_model_dir(name_or_path)
    if (directory / COMMITTING).is_dir() and os.access(directory, os.W_OK):
        try:  # a checkpoint a killed run did not finish moving in
            _roll_forward(directory / COMMITTING, directory)
        except OSError:
            pass  # a live run is moving it in right now
    config = read_config(directory)
    try:
        preset = get_preset(str(config.get("preset")))
        rep = _representation(config, preset)
        overrides = _overrides(config)
        model = build_model(preset.name, overrides, rep)
    except MusicaeError as exc:
        raise MusicaeError(f"{directory / CONFIG}: {exc}") from None
    tensors = _read_weights(directory / WEIGHTS)
    half = any(v.dtype == torch.float16 for v in tensors.values())
    if config.get("format") == FORMAT_1:
        tensors = _rename_format_1(tensors, model)
    try:
        prior = _take_prior(tensors, model.latent_dim)
    except MusicaeError as exc:
        raise MusicaeError(f"{directory / WEIGHTS}: {exc}") from None
    reference = model.state_dict()
    for key, value in tensors.items():
        if key in reference and reference[key].is_floating_point():
            _check_tensor(directory / WEIGHTS, key, value, tuple(reference[key].shape))
    tensors = {k: v.to(reference[k].dtype) if k in reference else v for k, v in tensors.items()}
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise MusicaeError(f"{directory / WEIGHTS}: weights do not fit preset "
                           f"{preset.name!r} ({first})") from None
    model.fitted_prior = prior
    model.to(device).eval()
    return ModelBundle(model, preset, overrides, config, directory, rep, half)


PRIOR = "fitted_prior."  # the buffers of a model's fitted prior
# Before fitted priors were mixtures, every model stored a Gaussian that plain autoencoders
# sampled from (when "prior_fitted" was true); it is now a one-component fitted prior.
GAUSSIAN_PRIOR = ("prior_fitted", "prior_mean", "prior_scale_tril")


def _take_prior(tensors: dict[str, torch.Tensor], latent_dim: int) -> FittedPrior | None:
    """Remove the fitted prior's buffers (and those of the Gaussian earlier versions
    stored) from the weights read; the prior they hold, checked, or None."""
    stored = {k[len(PRIOR):]: tensors.pop(k) for k in list(tensors) if k.startswith(PRIOR)}
    old = {name: tensors.pop(name) for name in GAUSSIAN_PRIOR if name in tensors}
    if old.get("prior_fitted") is not None and bool(old["prior_fitted"].any()) and not stored:
        mean, tril = old.get("prior_mean"), old.get("prior_scale_tril")
        if mean is None or tril is None:
            raise MusicaeError("a fitted Gaussian prior without its mean or scale")
        stored = {f"{ALL}.log_weights": torch.zeros(1), f"{ALL}.means": mean[None],
                  f"{ALL}.scale_tril": tril[None]}
    stored = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}
    return FittedPrior.from_tensors(stored, latent_dim) if stored else None


def _read_weights(weights: Path) -> dict[str, torch.Tensor]:
    if not weights.exists():
        raise MusicaeError(f"{weights.parent}: model has no {WEIGHTS}")
    data = read_regular(weights, "weights")[0]
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise MusicaeError(f"{weights}: unreadable weights ({exc})") from None


HOME_ENV = "MUSICAE_HOME"  # where user-made files for shipped models go


def user_dir() -> Path:
    """``$MUSICAE_HOME``, else ``$XDG_DATA_HOME/musicae``, else ``~/.local/share/musicae``."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "musicae"


def is_shipped(directory: Path) -> bool:
    """Whether a model directory is one that ships with musicae (never written to)."""
    return Path(directory).resolve().is_relative_to(SHIPPED_DIR.resolve())


def _user_attributes_path(bundle: ModelBundle) -> Path:
    return user_dir() / "attributes" / f"{Path(bundle.path).name}.json"


def attribute_vectors(bundle: ModelBundle) -> dict:
    """The model's attribute vectors: those in its config.json and, for a shipped model,
    those the user made for it (which take precedence)."""
    vectors = dict(bundle.meta.get("attributes", {}))
    if bundle.path is not None and is_shipped(bundle.path):
        path = _user_attributes_path(bundle)
        if path.is_file():
            try:
                vectors |= json.loads(read_regular(path, "config")[0].decode("utf-8"))
            except ValueError:
                raise MusicaeError(f"{path}: unreadable attribute vectors") from None
    return vectors


def save_attribute_vector(bundle: ModelBundle, name: str, stored: dict) -> Path:
    """Keep an attribute vector: in a run directory's config.json, or for a shipped model
    in the user's directory (see :func:`user_dir`). Returns the file written."""
    if not is_shipped(bundle.path):
        bundle.meta = update_config(bundle.path, {"attributes": attribute_vectors(bundle)
                                                  | {name: stored}})
        return Path(bundle.path) / CONFIG
    path = _user_attributes_path(bundle)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = json.loads(path.read_text()) if path.is_file() else {}
    atomic_write(path, _write_json(mine | {name: stored}))
    return path


def update_config(directory: Path, changes: dict) -> dict:
    """Merge ``changes`` into a saved model's config.json (atomically); returns the new config."""
    config = read_config(directory) | changes
    atomic_write(Path(directory) / CONFIG, _write_json(config))
    return config
