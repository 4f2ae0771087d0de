"""Saved image models: safetensors + JSON directories, resume, and refusal of damaged ones."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch

from musicae import api, artifacts
from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.datasets.images import load_images
from musicae.errors import MusicaeError
from musicae.presets import build_model, get_preset

TINY_VAE = {"channels": [8, 8]}


@pytest.fixture(scope="module")
def digits() -> Batch:
    """16 held-out bundled digits: (16, 1, 28, 28)."""
    return Batch(torch.from_numpy(load_images("mnist", "test").images[:16]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny conv VAE trained for a few steps on the bundled digits."""
    out = tmp_path_factory.mktemp("run") / "vae"
    api.train("mnist", "mnist_conv_vae", out, steps=10, device="cpu", overrides=TINY_VAE,
              progress=False)
    return out


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


@pytest.mark.parametrize("name, overrides", [
    ("mnist_conv_vae", TINY_VAE), ("mnist_ae", {"hidden": [32], "latent_dim": 4}),
    ("mnist_superres", {"channels": [8, 8]}),
])
def test_save_then_load_gives_identical_outputs(name, overrides, digits, tmp_path):
    model = build_model(name, overrides).eval()
    model.fit_prior(torch.randn(100, model.latent_dim))
    artifacts.save(ModelBundle(model, get_preset(name), overrides), tmp_path)
    loaded = artifacts.load(tmp_path)
    assert loaded.preset.name == name  # every size stored, those overridden among them
    assert loaded.overrides == json.loads(json.dumps(artifacts.model_sizes(model)))
    assert {k: loaded.overrides[k] for k in overrides} == overrides
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.encode(digits).mean, model.encode(digits).mean,
                                   atol=0, rtol=0)
        torch.testing.assert_close(loaded.model.reconstruct(digits).tokens,
                                   model.reconstruct(digits).tokens, atol=0, rtol=0)
    draw = [m.sample(4, generator=torch.Generator().manual_seed(0)).tokens
            for m in (model, loaded.model)]
    torch.testing.assert_close(draw[0], draw[1], atol=0, rtol=0)


def test_half_precision_save_loads_as_float32(digits, tmp_path):
    model = build_model("mnist_conv_vae", TINY_VAE).eval()
    artifacts.save(ModelBundle(model, get_preset("mnist_conv_vae"), TINY_VAE), tmp_path,
                   half=True)
    loaded = artifacts.load(tmp_path).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    torch.testing.assert_close(loaded.reconstruct(digits).tokens,
                               model.reconstruct(digits).tokens, atol=2e-3, rtol=0)


def test_model_directory_holds_no_pickle(trained, monkeypatch):
    names = {p.name for p in trained.iterdir()} - {"tensorboard"}  # protobuf events
    assert names == {"model.safetensors", "optimizer.safetensors", "config.json",
                     "metrics.jsonl"}
    for path in trained.glob("*.safetensors"):
        raw = path.read_bytes()
        header_size = struct.unpack("<Q", raw[:8])[0]  # safetensors: u64 size, JSON header
        json.loads(raw[8 : 8 + header_size])
    config = json.loads((trained / "config.json").read_text())
    assert config["preset"] == "mnist_conv_vae"
    assert {k: config["overrides"][k] for k in TINY_VAE} == TINY_VAE  # among every size

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert artifacts.load(trained).model.latent_dim == 16
    assert artifacts.load_optimizer_state(trained, artifacts.load(trained).model)["state"]


def test_resume_continues_the_step_count(trained, tmp_path, digits):
    run = _copy(trained, tmp_path)
    summary = api.train("mnist", "mnist_conv_vae", run, steps=25, device="cpu", resume=True,
                        progress=False)
    assert summary["steps"] == 25
    assert json.loads((run / "config.json").read_text())["training"]["step"] == 25
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 25]
    before = artifacts.load(trained).model.reconstruct(digits).tokens
    assert not torch.allclose(artifacts.load(run).model.reconstruct(digits).tokens, before)


def test_training_settings_go_with_the_run_and_resume_keeps_them(tmp_path):
    run = tmp_path / "vae"
    api.train("mnist", "mnist_conv_vae", run, steps=3, device="cpu", progress=False,
              overrides=TINY_VAE | {"free_bits": 4, "max_beta": 0.5, "eval_every": 2})
    config = json.loads((run / "config.json").read_text())
    assert {k: config["overrides"][k] for k in TINY_VAE} == TINY_VAE  # among every size
    assert not {"free_bits", "max_beta", "eval_every"} & set(config["overrides"])
    settings = config["training"]["config"]
    assert (settings["free_bits"], settings["max_beta"], settings["eval_every"]) == (4.0, 0.5, 2)
    api.train("mnist", "mnist_conv_vae", run, steps=5, device="cpu", resume=True,
              progress=False)
    resumed = json.loads((run / "config.json").read_text())["training"]
    assert resumed["step"] == 5 and resumed["config"]["free_bits"] == 4.0
    with pytest.raises(MusicaeError, match="already trained 5 steps"):
        api.train("mnist", "mnist_conv_vae", run, steps=5, resume=True, progress=False)
    with pytest.raises(MusicaeError, match="keeps its model sizes; cannot change channels"):
        api.train("mnist", "mnist_conv_vae", run, steps=9, resume=True, progress=False,
                  overrides={"channels": [4, 4]})


def test_a_toml_config_holds_the_settings_that_set_takes(cli, tmp_path):
    """--config FILE.toml: the --set settings as KEY = VALUE (tables only group them);
    --set wins where both name one; a bad file is a one-line error before any work."""
    config = tmp_path / "run.toml"
    config.write_text('# a tiny conv VAE\n[model]\nchannels = [8, 8]\nlatent_dim = 3\n'
                      '[training]\nfree_bits = 4.5\neval_every = 2\n')
    run = tmp_path / "run"
    done = cli("train", "mnist", "--preset", "mnist_conv_vae", "--out", run, "--steps", 2,
               "--config", config, "--set", "latent_dim=2", "--quiet")
    assert done.exit_code == 0, done.output
    stored = json.loads((run / "config.json").read_text())
    assert (stored["overrides"]["channels"], stored["overrides"]["latent_dim"]) == ([8, 8], 2)
    assert "free_bits" not in stored["overrides"] and "eval_every" not in stored["overrides"]
    assert stored["training"]["config"]["free_bits"] == 4.5
    assert stored["training"]["config"]["eval_every"] == 2
    for text, reason in (("latent_dim = ", "not TOML"), ("a = 1\n[t]\na = 2\n", "set twice"),
                         ("when = 1979-05-27", "not a setting"),
                         ("[[a]]\nb = 1", "not a setting"),
                         ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
                         ("nope = 1", "nope")):
        config.write_text(text)
        done = cli("train", "mnist", "--preset", "mnist_conv_vae", "--out", tmp_path / "bad",
                   "--steps", 2, "--config", config)
        assert done.exit_code != 0 and reason in done.stderr, done.output
        assert done.stderr.count("\n") == 1 and not (tmp_path / "bad").exists()
    config.write_text("[model]\nlatent_dim = 3\n[representation]\nbars = 4\n")
    done = cli("prepare", "folk", "--preset", "mel_2bar_small", "--config", config, "--json",
               "--quiet")  # a training file: prepare takes its representation settings
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["representation"]["bars"] == 4


def test_training_writes_tensorboard_events_beside_its_metrics(tmp_path):
    """With tensorboard installed, every metrics record is also TensorBoard scalars; a
    resume continues the same curves without repeating steps."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    api.train("mnist", "mnist_ae", run, steps=3, progress=False,
              overrides={"hidden": [16], "latent_dim": 2, "eval_every": 1})
    api.train("mnist", "mnist_ae", run, steps=5, resume=True, progress=False)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"train/loss", "valid/loss", "lr"} <= set(events.Tags()["scalars"])
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == [1, 2, 3, 4, 5]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    loss = {e.step: e.value for e in events.Scalars("valid/loss")}
    assert all(abs(loss[m["step"]] - m["valid_loss"]) < 1e-4 for m in metrics)


def test_impossible_training_settings_are_user_errors(tmp_path):
    for bad in ({"eval_every": 0}, {"lr": -1.0}, {"minutes": 0}, {"steps": 2.5},
                {"bf16": "yes"}):
        with pytest.raises(MusicaeError):
            api.train("mnist", "mnist_conv_vae", tmp_path / "run", steps=2, progress=False,
                      overrides=TINY_VAE | bad)
        assert not (tmp_path / "run").exists()


def test_more_steps_on_resume_drop_the_old_time_budget(tmp_path):
    run = tmp_path / "vae"
    api.train("mnist", "mnist_conv_vae", run, steps=3, device="cpu", progress=False,
              overrides=TINY_VAE | {"minutes": 60, "free_bits": 0.5})
    api.train("mnist", "mnist_conv_vae", run, steps=4, device="cpu", resume=True,
              progress=False)
    settings = json.loads((run / "config.json").read_text())["training"]["config"]
    assert settings["minutes"] is None and settings["free_bits"] == 0.5


def test_resume_needs_a_run_and_fresh_runs_do_not_overwrite(trained, tmp_path):
    with pytest.raises(MusicaeError, match="nothing to resume"):
        api.train("mnist", "mnist_conv_vae", tmp_path / "empty", steps=2, resume=True,
                  progress=False)
    with pytest.raises(MusicaeError, match="already holds a model"):
        api.train("mnist", "mnist_conv_vae", trained, steps=2, progress=False)
    with pytest.raises(MusicaeError, match="holds preset"):
        api.train("mnist", "mnist_ae", trained, steps=2, resume=True, progress=False)


def _tamper(config: dict) -> dict[str, str | None]:
    """Damaged config.json texts (None: the file is missing)."""
    return {
        "missing": None,
        "not json": "{ not json",
        "a list": "[1, 2]",
        "no format": json.dumps({k: v for k, v in config.items() if k != "format"}),
        "unknown preset": json.dumps(config | {"preset": "mnist_nope"}),
        "unknown setting": json.dumps(config | {"overrides": {"depth": 3}}),
        "impossible setting": json.dumps(config | {"overrides": {"channels": [8, 0]}}),
        "sizes do not fit weights": json.dumps(config | {"overrides": {"channels": [8, 16]}}),
        "other preset": json.dumps(config | {"preset": "mnist_ae", "overrides": {}}),
    }


@pytest.mark.parametrize("case", list(_tamper({})))
def test_damaged_config_is_a_user_error(case, trained, tmp_path):
    run = _copy(trained, tmp_path)
    text = _tamper(json.loads((run / "config.json").read_text()))[case]
    if text is None:
        (run / "config.json").unlink()
    else:
        (run / "config.json").write_text(text)
    with pytest.raises(MusicaeError):
        artifacts.load(run)


def test_missing_or_corrupt_weights_are_user_errors(trained, tmp_path):
    run = _copy(trained, tmp_path)
    (run / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(MusicaeError, match="unreadable weights"):
        artifacts.load(run)
    (run / "model.safetensors").unlink()
    with pytest.raises(MusicaeError, match="no model.safetensors"):
        artifacts.load(run)


def _rewrite(path: Path, change) -> None:
    """Rewrite a safetensors file with ``change(tensors, metadata)`` applied."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    change(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)


def _first(tensors: dict, ending: str) -> str:
    return next(k for k in sorted(tensors) if k.endswith(ending))


@pytest.mark.parametrize("damage, reason", [
    (lambda t, m: t.__setitem__(_first(t, "weight"), t[_first(t, "weight")] * float("nan")),
     "NaN or infinite"),
    (lambda t, m: t.__setitem__(_first(t, "weight"), t[_first(t, "weight")][:1]), "has shape"),
    (lambda t, m: t.__setitem__(_first(t, "weight"), t[_first(t, "weight")].to(torch.int32)),
     "not a float tensor"),
])
def test_poisoned_weights_are_refused_before_use(trained, tmp_path, damage, reason):
    """Weights are checked before the model uses them: NaN or infinite values, a wrong
    shape or an integer tensor are a one-line error naming the file, not empty output."""
    run = _copy(trained, tmp_path)
    _rewrite(run / "model.safetensors", damage)
    with pytest.raises(MusicaeError, match=reason) as error:
        artifacts.load(run)
    assert "model.safetensors" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("damage, reason", [
    (lambda t, m: t.__setitem__("0.exp_avg_sq", -t["0.exp_avg_sq"] - 1), "negative"),
    (lambda t, m: t.__setitem__("0.exp_avg", t["0.exp_avg"] * float("inf")), "infinite"),
    (lambda t, m: t.__setitem__("0.exp_avg", t["0.exp_avg"].reshape(-1)[:3]), "shape"),
    (lambda t, m: t.__setitem__("999.exp_avg", t["0.exp_avg"].clone()), "unexpected tensor"),
    (lambda t, m: t.__setitem__("0.momentum", t["0.exp_avg"].clone()), "unexpected tensor"),
    (lambda t, m: t.pop("0.exp_avg_sq"), "incomplete"),
    (lambda t, m: m.__setitem__("groups", m["groups"].replace('"lr": ', '"lr": -')),
     "not Adam's"),
    (lambda t, m: m.__setitem__("groups", "[]"), "not Adam's"),
    (lambda t, m: m.__setitem__("groups", "{"), "unreadable optimizer state"),
    (lambda t, m: m.__setitem__("names", '["x"]'), "another model"),
    (lambda t, m: m.__setitem__("names", '["x"'), "unreadable optimizer state"),
    (lambda t, m: t.__setitem__("\u00b2.step", t["0.step"].clone()), "unexpected tensor"),
    (lambda t, m: m.__setitem__("groups", m["groups"].replace('"eps": ', '"eps": 1' + "0" * 400
                                                             + ", \"x\": ")),
     "not Adam's"),
])
def test_damaged_optimizer_state_stops_resume_before_any_work(trained, tmp_path, damage,
                                                              reason):
    """--resume checks optimizer.safetensors (shapes, values, names, settings) before it
    prepares data or trains: a damaged one is a one-line error and the run is untouched."""
    run = _copy(trained, tmp_path)
    _rewrite(run / "optimizer.safetensors", damage)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(MusicaeError, match=reason):
        api.train("mnist", "mnist_conv_vae", run, steps=12, device="cpu", resume=True,
                  progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    (run / "optimizer.safetensors").write_bytes(pickle.dumps({"state": {}}))
    with pytest.raises(MusicaeError, match="unreadable optimizer state"):
        api.train("mnist", "mnist_conv_vae", run, steps=12, device="cpu", resume=True,
                  progress=False)


def test_unknown_model_names_are_user_errors(tmp_path):
    with pytest.raises(MusicaeError, match="no such model"):
        artifacts.load(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(MusicaeError, match="not a model directory"):
        artifacts.load(tmp_path / "file.txt")
