"""Fitted priors: EM finds known mixtures, layouts draw from their own, models keep them;
and the measure of interpolations that move steadily."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.midi_factory import write_parts
from safetensors.torch import load_file, save_file

import musicae
from musicae import api, artifacts
from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.errors import MusicaeError
from musicae.models.prior import (
    ALL,
    GIVEN,
    FittedPrior,
    control_keys,
    fit_mixture,
    fit_prior,
)
from musicae.models.sequence import hamming_from_start, rises_steadily
from musicae.presets import build_model, get_preset

TINY = ["--set", "enc_size=32", "--set", "dec_size=32", "--set", "latent_dim=8"]
MEANS = torch.tensor([[-6.0, 0.0, 2.0], [5.0, 1.0, 0.0], [0.0, 7.0, -3.0]])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])


def known_mixture(n: int) -> torch.Tensor:
    """n draws of three well-apart Gaussians (scale 0.5) of weights WEIGHTS: (n, 3)."""
    generator = torch.Generator().manual_seed(1)
    which = torch.multinomial(WEIGHTS, n, replacement=True, generator=generator)
    return MEANS[which] + 0.5 * torch.randn(n, 3, generator=generator)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_em_recovers_a_known_mixture(covariance):
    mixture = fit_mixture(known_mixture(3000), 3, covariance)
    order = [int((mixture.means - m).norm(dim=1).argmin()) for m in MEANS]
    assert sorted(order) == [0, 1, 2]  # one component per true one
    torch.testing.assert_close(mixture.means[order], MEANS, atol=0.1, rtol=0)
    torch.testing.assert_close(mixture.log_weights.exp()[order], WEIGHTS, atol=0.03, rtol=0)
    scales = mixture.scales if covariance == "diag" else \
        torch.diagonal(mixture.scale_tril, dim1=1, dim2=2)
    torch.testing.assert_close(scales, torch.full((3, 3), 0.5), atol=0.05, rtol=0)
    drawn = mixture.sample(3000, torch.Generator().manual_seed(0))
    assert (mixture.log_prob(drawn).mean() - mixture.log_prob(known_mixture(3000)).mean()
            ).abs() < 0.1  # its draws are as likely as the data's


def test_each_layout_draws_from_its_own_mixture_and_others_from_all():
    codes = torch.cat([torch.randn(400, 2) + 10, torch.randn(400, 2) - 10, torch.randn(3, 2)])
    steps = torch.tensor([32] * 400 + [24] * 400 + [20] * 3)
    prior = fit_prior(codes, steps, 1, "full")
    assert set(prior) == {ALL, "32", "24"}  # 3 codes of 20 steps are too few for their own
    asked = torch.tensor([32] * 500 + [24] * 500 + [20] * 500)
    z = prior.sample(1500, torch.Generator().manual_seed(0), asked)
    torch.testing.assert_close(z[:500].mean(0), torch.full((2,), 10.0), atol=0.2, rtol=0)
    torch.testing.assert_close(z[500:1000].mean(0), torch.full((2,), -10.0), atol=0.2, rtol=0)
    assert z[1000:, 0].std() > 5  # over all codes: both clusters


def test_damaged_prior_buffers_are_refused_with_a_reason():
    good = {f"{ALL}.log_weights": torch.zeros(1), f"{ALL}.means": torch.zeros(1, 4),
            f"{ALL}.scales": torch.ones(1, 4)}
    assert FittedPrior.from_tensors(good, 4)[ALL].components == 1
    for change, reason in ((("scales", -torch.ones(1, 4)), "positive"),
                           (("means", torch.full((1, 4), float("nan"))), "finite"),
                           (("means", torch.zeros(1, 5)), "shape"),
                           (("log_weights", torch.tensor(0.0)), "shape"),
                           (("log_weights", torch.full((1,), -1.0)), "sum to 1")):
        bad = good | {f"{ALL}.{change[0]}": change[1]}
        with pytest.raises(MusicaeError, match=reason):
            FittedPrior.from_tensors(bad, 4)
    with pytest.raises(MusicaeError, match="not a layout"):
        FittedPrior.from_tensors(good | {"3/4.means": torch.zeros(1, 4)}, 4)
    full = {f"{ALL}.log_weights": torch.zeros(1), f"{ALL}.means": torch.zeros(1, 2),
            f"{ALL}.scale_tril": torch.tensor([[[1.0, 0.5], [0.0, 1.0]]])}
    with pytest.raises(MusicaeError, match="not lower triangular"):
        FittedPrior.from_tensors(full, 2)


def test_control_keys_are_the_share_of_each_label_per_quarter_of_the_real_steps():
    labels = torch.tensor([[1, 1, 2, 2, 3, 3, 0, 0]])
    mask = torch.tensor([[True] * 6 + [False] * 2])
    keys = control_keys([labels], [4], mask).view(4, 4)  # (quarters, labels)
    assert keys.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    mixed = control_keys([torch.tensor([[1, 2, 2, 2]])], [3], torch.ones(1, 4, dtype=bool))
    assert mixed.view(4, 3)[:, 1].tolist() == [1, 0, 0, 0]


def test_codes_given_controls_come_from_the_windows_whose_controls_are_nearest():
    """Two kinds of window (chord 1 throughout, chord 2 throughout), each with its own
    codes: a draw for chord 1 is a draw from a chord-1 window's posterior, for chord 2 from
    a chord-2 one's; tied windows are chosen among at random."""
    mask = torch.ones(100, 8, dtype=torch.bool)
    labels = torch.tensor([1] * 50 + [2] * 50)[:, None].expand(100, 8)
    keys = control_keys([labels], [3], mask)
    codes = torch.cat([10 + torch.arange(50.0)[:, None] / 50, -10 - torch.arange(50.0)[:, None]
                       / 50]).expand(100, 2).contiguous()
    scales = torch.full((100, 2), 1e-3)
    prior = fit_prior(codes, mask.sum(1), 1, "full", given=(keys, scales, 1))
    assert set(prior) == {ALL, GIVEN}  # one layout: the mixture over all is its own
    asked = torch.tensor([1] * 200 + [2] * 200)[:, None].expand(400, 8)
    z = prior.sample(400, torch.Generator().manual_seed(0), mask[:1].expand(400, 8).sum(1),
                     control_keys([asked], [3], mask[:1].expand(400, 8)))
    assert (z[:200] > 9.9).all() and (z[:200] < 11).all()
    assert (z[200:] < -9.9).all() and (z[200:] > -11).all()
    assert len(torch.unique(z[:200, 0].round(decimals=2))) > 30  # ties: many windows drawn
    assert torch.equal(prior.sample(4, None, None)[:, 0].abs() < 30, torch.ones(4, dtype=bool))
    saved = {f"{name}": value for name, value in prior.state_dict().items()}
    loaded = FittedPrior.from_tensors(saved, 2)
    assert int(loaded[GIVEN].nearest) == 1 and torch.equal(loaded[GIVEN].keys, keys)
    for name, value, reason in (("keys", keys[:5], "shapes"),
                                ("scales", -scales, "positive"),
                                ("nearest", torch.tensor(0), "nearest count")):
        with pytest.raises(MusicaeError, match=reason):
            FittedPrior.from_tensors(saved | {f"{GIVEN}.{name}": value}, 2)


def test_a_model_directory_with_a_damaged_prior_is_refused_naming_its_weights(tmp_path):
    model = build_model("mnist_ae", {"hidden": [32], "latent_dim": 3})
    model.fit_prior(torch.randn(50, 3))
    artifacts.save(ModelBundle(model, get_preset("mnist_ae"), {"hidden": [32],
                                                               "latent_dim": 3}), tmp_path)
    weights = load_file(tmp_path / artifacts.WEIGHTS)
    assert set(weights) >= {"fitted_prior.all.means", "fitted_prior.all.scale_tril"}
    weights["fitted_prior.all.means"][0, 1] = float("nan")
    save_file(weights, tmp_path / artifacts.WEIGHTS)
    with pytest.raises(MusicaeError, match="model.safetensors: fitted prior: means holds"):
        artifacts.load(tmp_path)


def test_the_gaussian_earlier_versions_stored_loads_as_a_fitted_prior(tmp_path):
    """A plain autoencoder saved with the buffers of before (prior_fitted, prior_mean,
    prior_scale_tril) samples from that Gaussian; shipped models stored them unfitted
    and load without a fitted prior."""
    model = build_model("mnist_ae", {"hidden": [32], "latent_dim": 3}).eval()
    artifacts.save(ModelBundle(model, get_preset("mnist_ae"), {"hidden": [32],
                                                               "latent_dim": 3}), tmp_path)
    weights = load_file(tmp_path / artifacts.WEIGHTS)
    weights |= {"prior_fitted": torch.tensor(True), "prior_mean": torch.tensor([4.0, 0, -4]),
                "prior_scale_tril": torch.diag(torch.tensor([1.0, 2.0, 0.5]))}
    save_file(weights, tmp_path / artifacts.WEIGHTS)
    loaded = artifacts.load(tmp_path).model
    z = loaded.prior_sample(4000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([4.0, 0, -4]), atol=0.1, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0, 0.5]), atol=0.1, rtol=0)
    assert artifacts.load("chorales_voices_2bar").model.fitted_prior is None  # unfitted buffers


def test_hamming_from_start_counts_real_steps_and_rising_is_non_decreasing():
    a = [60, 0, 62, 0, 64, 0, 1, 70]  # the last step is not real (a short bar)
    points = [a, [60, 0, 62, 0, 64, 0, 1, 71],  # differs on the unreal step only: 0
              [61, 0, 62, 0, 64, 0, 1, 70], [61, 0, 63, 0, 64, 0, 1, 70],
              [61, 0, 62, 0, 65, 0, 0, 70]]
    mask = torch.tensor([True] * 7 + [False]).repeat(len(points), 1)
    path = Batch(torch.tensor(points)[..., None], mask)
    distances = hamming_from_start(path)
    assert distances.tolist() == [0, 0, 1, 2, 3]
    assert rises_steadily(distances)
    assert not rises_steadily(torch.tensor([0, 2, 1, 3]))
    assert rises_steadily(torch.tensor([0, 1, 1, 4]))


def random_tune(path: Path, bars: int, meter: tuple[int, int], seed: int) -> Path:
    """A melody of random pitches and lengths (1, 2 or 4 steps), no two windows alike."""
    rng = np.random.default_rng(seed)
    end, notes, start = bars * meter[0] * 16 // meter[1], [], 0
    while start < end:
        length = int(rng.choice([1, 2, 4]))
        notes.append((int(rng.integers(55, 80)), start, min(start + length, end)))
        start += length
    return write_parts(path, [(0, False, notes)], ((0, *meter),))


@pytest.fixture(scope="module")
def tunes(tmp_path_factory) -> Path:
    """MIDI tunes in 4/4 and 3/4 with train/valid/test subfolders: two layouts with enough
    windows for priors of their own (a tiny model's 8-d codes need 16)."""
    root = tmp_path_factory.mktemp("tunes")
    for split, count in (("train", 6), ("valid", 2), ("test", 2)):
        (root / split).mkdir()
        for i in range(count):
            random_tune(root / split / f"tune{i}.mid", 12, [(4, 4), (3, 4)][i % 2], i)
    return root


@pytest.fixture(scope="module")
def fitted(tunes, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny melody model trained here, and its copy with a fitted prior."""
    from click.testing import CliRunner

    from musicae.cli import main

    runs = tmp_path_factory.mktemp("runs")
    run = CliRunner().invoke(main, ["train", str(tunes), "--preset", "mel_2bar_small",
                                    "--out", str(runs / "mel"), "--steps", "20",
                                    "--batch-size", "16", "--quiet", *TINY])
    assert run.exit_code == 0, run.output
    fit = CliRunner().invoke(main, ["fit-prior", str(runs / "mel"), str(tunes), "-o",
                                    str(runs / "fitted"), "--quiet", "--json"])
    assert fit.exit_code == 0, fit.output
    return runs / "mel", runs / "fitted"


def notes_of(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("sample_*.mid"))]


def test_fit_prior_writes_a_model_that_samples_from_it_by_default(cli, fitted, tmp_path):
    run, copy = fitted
    record = json.loads((copy / "run.json").read_text())
    assert record["command"] == "fit-prior" and record["covariance"] == "full"
    loaded = artifacts.load(copy)
    assert loaded.model.fitted_prior.layouts == [24, 32]  # 3/4 and 4/4 windows of 2 bars
    assert json.loads((copy / "config.json").read_text())["fitted_prior"]["layouts"] == {
        "24": 33, "32": 33}
    assert artifacts.load(run).model.fitted_prior is None  # the run itself is untouched
    drawn = {}
    for prior in ("default", "fitted", "standard"):
        flags = [] if prior == "default" else ["--prior", prior]
        done = cli("sample", copy, "-n", 6, "-o", tmp_path / prior, "--seed", 3,
                   "--temperature", 0, *flags)
        assert done.exit_code == 0, done.output
        drawn[prior] = notes_of(tmp_path / prior)
        used = json.loads((tmp_path / prior / "run.json").read_text())["prior"]
        assert used == ("fitted" if prior == "default" else prior)
    assert drawn["default"] == drawn["fitted"] != drawn["standard"]


def test_writing_samples_into_a_fitted_copy_keeps_the_model(cli, fitted, tmp_path):
    """fit-prior's run.json lists the model's files; a command writing beside them later
    replaces that record but never removes the model."""
    copy = Path(shutil.copytree(fitted[1], tmp_path / "copy"))
    for seed in (1, 2):  # the second clears the first's samples, not the model
        done = cli("sample", copy, "-n", 2, "-o", copy, "--seed", seed)
        assert done.exit_code == 0, done.output
    assert artifacts.load(copy).model.fitted_prior is not None
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        ["config.json", "model.safetensors", "run.json", "pianoroll.png", "sample_000.mid",
         "sample_001.mid"])


def test_a_fitted_prior_keeps_the_temperature_its_samples_default_to(cli, fitted, tmp_path):
    """fit-prior --temperature T: samples from that prior are decoded at T unless told
    otherwise; N(0, I) samples keep the usual 0.5; the handle and the studio's listing
    agree."""
    copy = tmp_path / "warm"
    done = cli("fit-prior", fitted[0], fitted[0].parent.parent / "unused", "-o", copy)
    assert done.exit_code != 0  # no such data: nothing written
    assert not (copy / "config.json").exists()
    tunes = json.loads((fitted[1] / "run.json").read_text())["data"]
    done = cli("fit-prior", fitted[0], tunes, "-o", copy, "--temperature", 1.25)
    assert done.exit_code == 0, done.output
    used = {}
    for name, flags in (("default", []), ("standard", ["--prior", "standard"]),
                        ("told", ["--temperature", 0.3])):
        made = cli("sample", copy, "-n", 2, "-o", tmp_path / name, "--seed", 1, *flags)
        assert made.exit_code == 0, made.output
        used[name] = json.loads((tmp_path / name / "run.json").read_text())["temperature"]
    assert used == {"default": 1.25, "standard": 0.5, "told": 0.3}
    handle = musicae.load(copy, "cpu")
    assert api.sample_temperature(handle.bundle, None, "fitted") == 1.25
    seeded = [[n.pitch for n in m.instruments[0].notes] for m in handle.sample(3, seed=2)]
    assert seeded == [[n.pitch for n in m.instruments[0].notes]
                      for m in handle.sample(3, temperature=1.25, seed=2)]
    assert api.sample_temperature(musicae.load(fitted[1], "cpu").bundle, None, "fitted") == 0.5
    with pytest.raises(MusicaeError, match="--temperature must be"):
        api.check_temperature(None)  # only sample and arrange have a default
    handle.bundle.meta["fitted_prior"]["temperature"] = float("nan")  # a hand-edited file
    with pytest.raises(MusicaeError, match="fitted_prior.temperature must be"):
        handle.sample(2)


def test_asking_for_a_fitted_prior_a_model_lacks_is_one_line(cli_process, fitted, tmp_path):
    run, _ = fitted
    done = cli_process("sample", run, "-n", 2, "-o", tmp_path / "out", "--prior", "fitted")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "no fitted prior" in done.stderr
    with pytest.raises(MusicaeError, match="no fitted prior"):
        musicae.load(run, "cpu").sample(2, prior="fitted")
    refused = cli_process("fit-prior", run, "folk", "-o", run)  # into a model directory
    assert refused.returncode == 2 and "holds a model" in refused.stderr


def test_the_handle_samples_from_the_fitted_prior_unless_told(fitted):
    handle = musicae.load(fitted[1], "cpu")

    def pitches(prior: str | None) -> list:
        made = handle.sample(6, temperature=0, seed=5, prior=prior)
        return [[n.pitch for n in m.instruments[0].notes] for m in made]

    assert pitches(None) == pitches("fitted") != pitches("standard")


def test_resuming_training_drops_a_stale_fitted_prior(tunes, fitted, tmp_path, capsys):
    copy = Path(shutil.copytree(fitted[1], tmp_path / "resumed"))
    api.train(str(tunes), "mel_2bar_small", copy, steps=22, resume=True, device="cpu",
              progress=False)
    assert "fitted prior is dropped" in capsys.readouterr().err
    resumed = artifacts.load(copy)
    assert resumed.model.fitted_prior is None and "fitted_prior" not in resumed.meta
