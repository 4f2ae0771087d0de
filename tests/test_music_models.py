"""Sequence VAEs: shapes, the teacher-forced and step-by-step decoders agreeing, learning."""

from __future__ import annotations

import pytest
import torch
from fixtures.midi_factory import write_tune

from musicae.datasets.midi import load_windows
from musicae.domains.music import to_tensor
from musicae.models.sequence import (
    PAD,
    SequenceConfig,
    SequenceVAE,
    code_gain,
    free_running_accuracy,
    inverse_sigmoid,
    meter_mask,
    valid_mask,
)
from musicae.presets import build_model
from musicae.representations.codec import CODECS

TINY = dict(enc_size=32, dec_size=32, latent_dim=8)
KINDS = {
    "melody": SequenceConfig(**TINY),
    "drums": SequenceConfig(kind="drums", depth=512, **TINY),
    "pianoroll": SequenceConfig(kind="pianoroll", depth=88, **TINY),
    "hierarchical": SequenceConfig(bars=4, conductor_size=16, enc_layers=2, **TINY),
    "hierarchical_z": SequenceConfig(bars=4, conductor_size=16, z_to_bars=True, **TINY),
}


def random_tokens(cfg: SequenceConfig, n: int, steps_per_bar: int) -> torch.Tensor:
    """Random windows in one meter: (n, steps[, pitches]) with PAD off the meter's steps."""
    shape = (n, cfg.steps) + ((cfg.depth,) if cfg.kind == "pianoroll" else ())
    high = 3 if cfg.kind == "pianoroll" else cfg.depth
    x = torch.randint(0, high, shape)
    x[~meter_mask(n, cfg.bars, cfg.slot, steps_per_bar)] = PAD
    return x


@pytest.mark.parametrize("name", KINDS)
def test_shapes_and_padding(name):
    cfg = KINDS[name]
    model = SequenceVAE(cfg).eval()
    x = random_tokens(cfg, 3, 12)  # 3/4: four pad steps per bar slot
    posterior = model.encode(x)
    assert posterior.mean.shape == posterior.logvar.shape == (3, cfg.latent_dim)
    y = model.decode(posterior.mean, temperature=1.0, mask=valid_mask(x))
    assert y.shape == x.shape
    assert torch.equal(valid_mask(y), valid_mask(x)), "pad steps stay pad, real steps stay real"
    assert set(model.loss(x)) >= {"loss", "recon", "kl", "elbo", "accuracy"}


@pytest.mark.parametrize("name", KINDS)
def test_step_by_step_decoder_matches_the_teacher_forced_one(name):
    """Feeding the true tokens one step at a time gives exactly the parallel logits."""
    cfg = KINDS[name]
    model = SequenceVAE(cfg).eval()
    x = random_tokens(cfg, 2, 16)
    z = model.encode(x).mean
    parallel = model.teacher_forced_logits(x, z)
    _, stepped = model.generate(z, 0.0, valid_mask(x), teacher=x, teacher_prob=1.0)
    torch.testing.assert_close(parallel, stepped, atol=1e-5, rtol=1e-4)


def test_recon_counts_only_real_steps():
    cfg = KINDS["melody"]
    model = SequenceVAE(cfg).eval()
    x = random_tokens(cfg, 4, 16)
    padded = x.clone()
    padded[:, 8:16] = PAD  # fewer real steps: less to reconstruct
    assert model.loss(padded)["recon"] < model.loss(x)["recon"]


def test_scheduled_sampling_schedule():
    assert inverse_sigmoid(0, 0.0) == 1.0
    probs = [inverse_sigmoid(step, 100.0) for step in (0, 300, 600, 1200)]
    assert probs == sorted(probs, reverse=True) and probs[0] > 0.99 and probs[-1] < 0.01


def test_scheduled_sampling_trains():
    model = SequenceVAE(SequenceConfig(sampling_rate=10.0, **TINY)).train()
    x = random_tokens(model.cfg, 4, 16)
    terms = model.loss(x, step=20)  # mostly its own samples
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_temperature_zero_is_deterministic():
    model = SequenceVAE(KINDS["melody"]).eval()
    z = torch.randn(2, 8)
    assert torch.equal(model.decode(z, temperature=0.0), model.decode(z, temperature=0.0))


def test_big_preset_builds_and_trains_a_step_on_cpu():
    model = build_model("mel_2bar_big")
    x = torch.randint(0, 90, (2, 32))
    model.loss(x)["loss"].backward()
    assert model.latent_dim == 512


def test_learns_real_melodies(tmp_path):
    """A tiny model on real MIDI windows: loss falls and reconstructions improve."""
    (tmp_path / "tunes").mkdir()
    for seed in range(6):
        write_tune(tmp_path / "tunes" / f"t{seed}.mid", bars=4, seed=seed)
    windows = load_windows(tmp_path / "tunes", CODECS["melody_2bar"], "all", workers=1,
                           cache_dir=tmp_path / "cache", progress=False)
    x = to_tensor(windows.tokens, windows.mask)
    model = SequenceVAE(SequenceConfig(enc_size=48, dec_size=48, latent_dim=16))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(model.eval().loss(x)["recon"])
    for _ in range(150):
        terms = model.train().loss(x, beta=0.01)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    with torch.no_grad():
        recon = float(model.eval().loss(x)["recon"])
    accuracy = free_running_accuracy(model, x)
    assert recon < 0.4 * first
    assert accuracy > 0.6


def test_code_gain_is_zero_when_the_decoder_ignores_the_code():
    model = SequenceVAE(KINDS["hierarchical"]).eval()
    x = random_tokens(model.cfg, 4, 16)
    assert abs(code_gain(model, x)) > 1e-4
    with torch.no_grad():  # cut z off: the conductor then starts from the same state always
        model.conductor_init.proj.weight.zero_()
    assert code_gain(model, x) == pytest.approx(0.0, abs=1e-4)
