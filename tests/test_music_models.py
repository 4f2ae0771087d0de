"""Sequence VAEs: shapes, the teacher-forced and step-by-step decoders agreeing, learning,
geometry taken from the representation, controls."""

from __future__ import annotations

import pytest
import torch
from fixtures.midi_factory import write_parts, write_tune

from musicae.batch import Batch
from musicae.datasets.examples import window_arrays, window_examples
from musicae.datasets.midi import load_windows
from musicae.errors import MusicaeError
from musicae.models.base import even_picks
from musicae.models.sequence import (
    SequenceConfig,
    build_sequence_vae,
    code_gain,
    free_running_accuracy,
    hamming_from_start,
    inverse_sigmoid,
    rises_steadily,
    warm_start,
)
from musicae.presets import PRESETS, build_model

TINY = dict(enc_size=32, dec_size=32, latent_dim=8)
KINDS = {
    "melody": SequenceConfig(**TINY),
    "drums": SequenceConfig(heads=((1, 512),), **TINY),
    "pianoroll": SequenceConfig(heads=((88, 3),), **TINY),
    "two_tracks": SequenceConfig(heads=((1, 90), (1, 512)), **TINY),
    "hierarchical": SequenceConfig(bars=4, conductor_size=16, enc_layers=2, **TINY),
    "hierarchical_z": SequenceConfig(bars=4, conductor_size=16, z_to_bars=True, **TINY),
    "hierarchical_both": SequenceConfig(bars=4, encoder="hierarchical", conductor_size=16,
                                        enc_layers=2, **TINY),
    "stacked": SequenceConfig(bars=4, encoder="stacked", decoder="stacked", conductor_size=16,
                              segment_bars=2, segment_code=8, **TINY),
    # steps through a narrow map into each LSTM, a segment's code added once
    "embedded": SequenceConfig(heads=((1, 512),), embed=16, **TINY),
    "embedded_hierarchical": SequenceConfig(bars=4, encoder="hierarchical", conductor_size=16,
                                            z_to_bars=True, embed=16, **TINY),
    "embedded_stacked": SequenceConfig(bars=4, encoder="stacked", decoder="stacked",
                                       conductor_size=16, segment_bars=2, segment_code=8,
                                       embed=16, **TINY),
    # each bar slot read and written over its real steps only (event tracks)
    "packed": SequenceConfig(bars=4, encoder="hierarchical", conductor_size=16, z_to_bars=True,
                             embed=16, pack=True, **TINY),
}
MUSIC_PRESETS = sorted(name for name, p in PRESETS.items() if p.domain == "music")


def meter_mask(n: int, cfg: SequenceConfig, steps_per_bar: int) -> torch.Tensor:
    """(n, steps): the first ``steps_per_bar`` steps of every bar slot are real."""
    bar = torch.arange(cfg.slot) < steps_per_bar
    return bar.repeat(cfg.bars).expand(n, cfg.steps).clone()


def random_batch(cfg: SequenceConfig, n: int, steps_per_bar: int) -> Batch:
    """Random windows in one meter: tokens (n, steps, positions), zero off the meter's steps."""
    mask = meter_mask(n, cfg, steps_per_bar)
    columns = [torch.randint(0, classes, (n, cfg.steps, positions))
               for positions, classes in cfg.heads]
    tokens = torch.cat(columns, dim=-1) * mask[..., None]
    return Batch(tokens, mask)


@pytest.mark.parametrize("name", KINDS)
def test_shapes_and_padding(name):
    cfg = KINDS[name]
    model = build_sequence_vae(cfg).eval()
    x = random_batch(cfg, 3, 12)  # 3/4: four unreal steps per bar slot
    posterior = model.encode(x)
    assert posterior.mean.shape == posterior.logvar.shape == (3, cfg.latent_dim)
    y = model.decode(posterior.mean, temperature=1.0, mask=x.mask)
    assert y.tokens.shape == x.tokens.shape
    assert torch.equal(y.mask, x.mask)
    assert not y.tokens[~x.mask].any(), "unreal steps decode to nothing"
    assert set(model.loss(x)) >= {"loss", "recon", "kl", "elbo", "accuracy"}


@pytest.mark.parametrize("name", KINDS)
def test_step_by_step_decoder_matches_the_teacher_forced_one(name):
    """Feeding the true tokens one step at a time gives exactly the parallel logits."""
    cfg = KINDS[name]
    model = build_sequence_vae(cfg).eval()
    x = random_batch(cfg, 2, 16)
    z = model.encode(x).mean
    parallel = model.teacher_forced_logits(x, z)
    context = model.context(x.mask, x.controls)
    _, stepped = model.decoder.generate(z, x.mask, context, 0.0, teacher=x.tokens,
                                        teacher_prob=1.0)
    for a, b in zip(parallel, stepped, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def ragged_batch(cfg: SequenceConfig, n: int) -> Batch:
    """Random windows whose bar slots each have a random number of real steps (1..slot),
    first, as event tracks have."""
    lengths = torch.randint(1, cfg.slot + 1, (n, cfg.bars, 1))
    mask = (torch.arange(cfg.slot) < lengths).reshape(n, cfg.steps)
    tokens = torch.randint(0, cfg.heads[0][1], (n, cfg.steps, 1)) * mask[..., None]
    return Batch(tokens, mask)


def test_packed_slots_read_and_write_only_their_real_steps():
    """pack: the decoder's logits of real steps are those of the same decoder run over every
    step, and the encoder's slot states are those of torch's packed bidirectional LSTM with
    the same weights; a mask whose real steps do not come first is refused."""
    from torch.nn.utils.rnn import pack_padded_sequence

    cfg = KINDS["packed"]
    model = build_sequence_vae(cfg).eval()
    x = ragged_batch(cfg, 24)  # 96 slots: several length groups
    z = torch.randn(24, cfg.latent_dim)
    packed = model.teacher_forced_logits(x, z)
    model.decoder.pack = False
    whole = model.teacher_forced_logits(x, z)
    torch.testing.assert_close(packed[0][x.mask], whole[0][x.mask], atol=1e-5, rtol=1e-4)
    two_way = model.encoder.bar_lstm
    reference = torch.nn.LSTM(two_way.forward_lstm.input_size, cfg.enc_size, batch_first=True,
                              bidirectional=True)
    with torch.no_grad():
        for name, value in two_way.forward_lstm.named_parameters():
            getattr(reference, name).copy_(value)
            getattr(reference, name + "_reverse").copy_(
                getattr(two_way.backward_lstm, name))
    inputs = torch.randn(96, cfg.slot, two_way.forward_lstm.input_size)
    lengths = x.mask.reshape(96, cfg.slot).sum(1)
    _, (h, _) = reference(pack_padded_sequence(inputs, lengths, batch_first=True,
                                               enforce_sorted=False))
    torch.testing.assert_close(two_way.final_states(inputs, lengths),
                               torch.cat([h[-2], h[-1]], dim=-1), atol=1e-5, rtol=1e-4)
    holes = Batch(x.tokens, x.mask.clone())
    holes.mask[:, 0] = False
    holes.mask[:, 1] = True
    with pytest.raises(MusicaeError, match="real steps must come first"):
        model.encode(holes)


def test_word_dropout_hides_previous_tokens_in_training_only():
    """word_dropout: a training step's teacher-forced logits see fewer previous tokens (so
    they differ from evaluation's), evaluation is the model without it, and the settings
    outside [0, 1) are refused."""
    cfg = SequenceConfig(word_dropout=0.5, **TINY)
    torch.manual_seed(0)
    model = build_sequence_vae(cfg)
    torch.manual_seed(0)
    plain = build_sequence_vae(SequenceConfig(**TINY)).eval()
    x = random_batch(cfg, 4, 16)
    z = torch.randn(4, cfg.latent_dim)
    evaluated = model.eval().teacher_forced_logits(x, z)[0]
    torch.testing.assert_close(evaluated, plain.teacher_forced_logits(x, z)[0])
    trained = model.train().teacher_forced_logits(x, z)[0]
    assert not torch.allclose(trained[:, 1:], evaluated[:, 1:])
    torch.testing.assert_close(trained[:, 0], evaluated[:, 0])  # the first step has no token
    for bad in (-0.1, 1.0):
        with pytest.raises(MusicaeError, match="word_dropout"):
            SequenceConfig(word_dropout=bad)


def test_recon_counts_only_real_steps():
    cfg = KINDS["melody"]
    model = build_sequence_vae(cfg).eval()
    x = random_batch(cfg, 4, 16)
    fewer = Batch(x.tokens, x.mask.clone())
    fewer.mask[:, 8:16] = False  # fewer real steps: less to reconstruct
    assert model.loss(fewer)["recon"] < model.loss(x)["recon"]


def test_scheduled_sampling_schedule():
    assert inverse_sigmoid(0, 0.0) == 1.0
    probs = [inverse_sigmoid(step, 100.0) for step in (0, 300, 600, 1200)]
    assert probs == sorted(probs, reverse=True) and probs[0] > 0.99 and probs[-1] < 0.01


def test_scheduled_sampling_feeds_the_decoder_its_own_samples():
    model = build_sequence_vae(SequenceConfig(sampling_rate=10.0, **TINY)).train()
    x = random_batch(model.cfg, 4, 16)
    torch.manual_seed(0)
    z = model.encode(x).sample()
    teacher_forced, _ = model.reconstruction(model.teacher_forced_logits(x, z), x)
    torch.manual_seed(0)  # the same code z, drawn first in both
    terms = model.loss(x, step=1000)  # the true token is fed with probability ~e^-100
    assert abs(float(terms["recon"].detach() - teacher_forced.detach())) > 1e-3
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_temperature_zero_is_the_argmax_and_higher_temperatures_vary():
    model = build_sequence_vae(KINDS["melody"]).eval()
    z = torch.randn(4, 8)
    torch.manual_seed(1)
    first = model.decode(z, temperature=0.0).tokens
    torch.manual_seed(2)
    assert torch.equal(model.decode(z, temperature=0.0).tokens, first)
    draws = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        draws.append(model.decode(z, temperature=1.0).tokens)
    assert not torch.equal(draws[0], draws[1])


def test_big_preset_builds_and_trains_a_step_on_cpu():
    model = build_model("mel_2bar_big")
    x = random_batch(model.cfg, 2, 16)
    model(x)["loss"].backward()
    assert model.latent_dim == 512


@pytest.mark.parametrize("name", MUSIC_PRESETS)
def test_every_preset_takes_its_geometry_from_its_representation(name, tmp_path):
    """Real windows of the preset's representation go through its model and back."""
    rep = PRESETS[name].representation
    model = build_model(name, {"enc_size": 16, "dec_size": 16, "latent_dim": 4}).eval()
    assert model.decoder.head.heads == rep.heads
    assert (model.cfg.bars, model.cfg.slot, model.cfg.controls) == (
        *rep.slots, tuple((name, c.classes) for name, c in rep.controls.items()))
    notes = [(60 + (i * 5) % 12, 2 * i, 2 * i + 2) for i in range(8 * rep.bars)]
    drums = [(36 + (i % 2) * 2, 2 * i, 2 * i + 1) for i in range(8 * rep.bars)]
    # four pitched tracks (the lowest on a bass program) and drums: every kind finds its parts
    voices = [(0 if octave < 3 else 33, False, [(n[0] + 12 - 7 * octave, *n[1:]) for n in notes])
              for octave in range(4)]
    write_parts(tmp_path / "song.mid", [*voices, (0, True, drums)])
    windows = load_windows(tmp_path, rep, "all", workers=1, cache_dir=tmp_path / "c",
                           progress=False)
    batch = next(window_examples(windows.arrays, rep).chunks(2))
    assert batch.tokens.shape[1:] == (rep.steps, rep.positions)
    assert torch.isfinite(model(batch)["loss"])
    tokens, mask = window_arrays(model.reconstruct(batch), rep)
    assert tokens.shape == windows.tokens[:2].shape and tokens.dtype == windows.tokens.dtype
    assert (mask == windows.mask[:2]).all()


def test_controls_condition_the_model_and_are_required():
    cfg = SequenceConfig(controls=(("chord", 5),), **TINY)
    model = build_sequence_vae(cfg).eval()
    x = random_batch(cfg, 2, 16)
    chords = torch.zeros(2, cfg.steps, dtype=torch.int64)
    with_c = Batch(x.tokens, x.mask, {"chord": chords})
    other = Batch(x.tokens, x.mask, {"chord": chords + 3})
    z = model.encode(with_c).mean
    assert not torch.allclose(model.encode(other).mean, z), "the encoder reads the controls"
    logits = model.teacher_forced_logits(with_c, z)[0]
    assert not torch.allclose(model.teacher_forced_logits(other, z)[0], logits)
    assert model.decode(z, controls={"chord": chords}).controls["chord"] is chords
    with pytest.raises(MusicaeError, match="conditioned on chord"):
        model.loss(x)


@pytest.mark.parametrize("encoder", ["bilstm", "hierarchical"])
def test_learns_real_melodies(tmp_path, encoder):
    """A tiny model on real MIDI windows: loss falls and reconstructions improve, with
    either encoder."""
    (tmp_path / "tunes").mkdir()
    for seed in range(6):
        write_tune(tmp_path / "tunes" / f"t{seed}.mid", bars=4, seed=seed)
    rep = PRESETS["mel_2bar_small"].representation
    windows = load_windows(tmp_path / "tunes", rep, "all", workers=1,
                           cache_dir=tmp_path / "cache", progress=False)
    x = next(window_examples(windows.arrays, rep).chunks(len(windows)))
    assert torch.equal(x.mask, torch.from_numpy(rep.mask(windows.lengths)))
    model = build_sequence_vae(SequenceConfig(enc_size=48, dec_size=48, latent_dim=16,
                                              encoder=encoder))
    assert type(model.encoder).__name__ == {"bilstm": "BiLSTMEncoder",
                                            "hierarchical": "HierarchicalEncoder"}[encoder]
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
    model = build_sequence_vae(KINDS["hierarchical"]).eval()
    x = random_batch(model.cfg, 4, 16)
    assert abs(code_gain(model, x)) > 1e-4
    with torch.no_grad():  # cut z off: the conductor then starts from the same state always
        model.decoder.conductor_init.proj.weight.zero_()
    assert code_gain(model, x) == pytest.approx(0.0, abs=1e-4)


def test_a_model_directory_asking_for_a_huge_model_is_refused_before_allocating(tmp_path):
    """config.json is untrusted: sizes far past any real model are a one-line error."""
    import json

    from musicae import artifacts

    run = tmp_path / "run"
    bundle = artifacts.ModelBundle(build_model("mel_2bar_small", {"enc_size": 8}),
                                   PRESETS["mel_2bar_small"], {"enc_size": 8},
                                   representation=PRESETS["mel_2bar_small"].representation)
    artifacts.save(bundle, run)
    config = json.loads((run / "config.json").read_text())
    for overrides, said in (({"enc_size": 200000}, "enc_size <= 8192"),
                            ({"dec_layers": 1000}, "dec_layers <= 8"),
                            ({"latent_dim": -3}, "positive integers"),
                            ({"encoder": "transformer"}, "encoder='transformer': one of"),
                            ({"decoder": "hierarchical"}, "needs a conductor")):
        (run / "config.json").write_text(json.dumps(config | {"overrides": overrides}))
        with pytest.raises(MusicaeError, match=said):
            artifacts.load(run)


def test_a_config_saved_before_decoders_were_named_keeps_its_decoder():
    """config.json files written before ``decoder`` existed say only conductor_size."""
    assert SequenceConfig(conductor_size=16).decoder == "hierarchical"
    assert SequenceConfig().decoder == "flat"
    model = build_sequence_vae(SequenceConfig(bars=4, conductor_size=16, **TINY))
    assert type(model.decoder).__name__ == "HierarchicalDecoder"
    assert type(build_sequence_vae(KINDS["melody"]).decoder).__name__ == "FlatDecoder"


def test_a_saved_model_is_rebuilt_as_it_was_when_its_preset_changes(tmp_path, monkeypatch):
    """config.json stores every size, so a preset's new default (a hierarchical encoder,
    say) does not change how models saved before it are rebuilt."""
    import dataclasses

    from musicae import artifacts

    preset = PRESETS["mel_16bar_hier"]
    sizes = {"enc_size": 8, "dec_size": 8, "conductor_size": 8, "latent_dim": 4}
    saved = build_model("mel_16bar_hier", sizes)
    artifacts.save(artifacts.ModelBundle(saved, preset, sizes,
                                         representation=preset.representation), tmp_path)
    changed = dataclasses.replace(preset, model_config=dataclasses.replace(
        preset.model_config, encoder="hierarchical", enc_layers=1))
    monkeypatch.setitem(PRESETS, "mel_16bar_hier", changed)
    back = artifacts.load(tmp_path).model
    assert type(back.encoder).__name__ == "BiLSTMEncoder" and back.cfg == saved.cfg
    for name, value in saved.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)
    fresh = build_model("mel_16bar_hier", sizes)  # the preset's new default, for new models
    assert type(fresh.encoder).__name__ == "HierarchicalEncoder"


def test_a_stacked_model_reads_and_writes_each_segment_as_its_short_model_does():
    """Warm-started from a 2-bar model, an 8-bar stacked model gives each 2-bar segment the
    code the 2-bar model gives it, and decodes each segment's code exactly as the 2-bar
    model decodes it: from a fresh start, segment by segment, in 3/4 as in 4/4."""
    torch.manual_seed(0)
    short = build_sequence_vae(SequenceConfig(**TINY)).eval()
    long = build_sequence_vae(SequenceConfig(bars=8, encoder="stacked", decoder="stacked",
                                             conductor_size=16, segment_code=8, **TINY)).eval()
    warm_start(long, short, "short")
    x = random_batch(long.cfg, 2, 12)
    pieces = Batch(x.tokens.reshape(8, 32, 1), x.mask.reshape(8, 32))  # 4 segments each
    seen = []
    long.encoder.segment.register_forward_hook(lambda module, args, out: seen.append(out.mean))
    with torch.no_grad():
        z = long.encode(x).mean
        torch.testing.assert_close(seen[0], short.encode(pieces).mean)
        codes = long.decoder.codes(z)  # (2 * 4, 8)
        decoded = long.decode(z, temperature=0.0, mask=x.mask).tokens
        expected = short.decode(codes, temperature=0.0, mask=pieces.mask).tokens
    assert torch.equal(decoded.reshape(8, 32, 1), expected)
    assert decoded.any(), "the tiny models decode notes, not only silence"


def test_a_short_model_that_does_not_fit_is_refused_by_name():
    long = build_sequence_vae(SequenceConfig(bars=8, encoder="stacked", decoder="stacked",
                                             conductor_size=16, segment_code=8, **TINY))
    wide = build_sequence_vae(SequenceConfig(**TINY | {"dec_size": 48}))
    with pytest.raises(MusicaeError, match="--warm-start wide: its dec_size is 48"):
        warm_start(long, wide, "wide")
    with pytest.raises(MusicaeError, match="only a stacked model"):
        warm_start(wide, long, "long")
    with pytest.raises(MusicaeError, match="segment_bars=3: it must divide"):
        SequenceConfig(bars=8, encoder="stacked", decoder="stacked", conductor_size=16,
                       segment_bars=3)


def test_the_code_phase_fits_the_conductor_to_the_short_models_codes_without_decoding():
    """code_steps: a stacked model's first steps score its codes against the short
    model's posterior of each segment; the frozen short encoder gets no gradient, and
    from code_steps on (and always in evaluation) the loss is the tokens' again."""
    torch.manual_seed(0)
    long = build_sequence_vae(SequenceConfig(bars=4, encoder="stacked", decoder="stacked",
                                             conductor_size=16, segment_code=8, code_steps=3,
                                             **TINY))
    x = random_batch(long.cfg, 4, 16)
    opt = torch.optim.Adam(long.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        terms = long.train().loss(x, beta=0.01, step=0)
        assert set(terms) == {"loss", "code_recon", "kl"}
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        assert all(p.grad is None for p in long.encoder.segment.parameters())
        assert all(p.grad is None for p in long.decoder.segment.parameters())
        opt.step()
        first = float(terms["code_recon"].detach()) if first is None else first
    assert float(terms["code_recon"].detach()) < 0.2 * first
    assert "accuracy" in long.train().loss(x, step=3)
    assert "accuracy" in long.eval().loss(x, step=0)
    with pytest.raises(MusicaeError, match="code_steps fits a stacked decoder"):
        SequenceConfig(code_steps=5)


def test_even_spacing_picks_points_whose_distances_rise_evenly():
    """Of a path's points, even_picks keeps the first, the last and, between them, those
    that rise without falling back, as near as they can be to even shares of the way."""
    d = torch.tensor([0, 0, 1, 1, 3, 2, 4, 5, 5, 6, 8, 7, 9, 10, 10, 12, 12, 13, 14, 13, 15,
                      16, 16, 18, 20, 20, 21, 22, 24.0])
    picks = even_picks(d, torch.linspace(0, 1, len(d)), 8)
    assert picks[0] == 0 and picks[-1] == len(d) - 1 and picks == sorted(set(picks))
    assert rises_steadily(d[picks])
    assert d[picks].tolist() == [0, 3, 7, 10, 14, 18, 21, 24]  # 24 * k / 7, rounded
    to_end = torch.tensor([24.0] * 11 + [30.0] + [12.0] * 16 + [0.0])  # point 11 turns away
    both = even_picks(d, torch.linspace(0, 1, len(d)), 8, to_end)
    assert 11 not in both and 11 in picks and rises_steadily(-to_end[both])
    flat = even_picks(torch.zeros(29), torch.linspace(0, 1, 29), 8)
    assert flat == [0, 4, 8, 12, 16, 20, 24, 28], "no change anywhere: uniform fractions"


def test_an_evenly_spaced_path_is_made_of_points_of_the_path_decoded_densely():
    """interpolate(spacing="even") shows decodings of codes on the same slerp path (its
    ends are the uniform path's), and moves steadily where the uniform one falls back."""
    torch.manual_seed(3)
    model = build_sequence_vae(KINDS["melody"]).eval()
    falls_uniform = falls_even = 0
    for seed in range(12):
        torch.manual_seed(seed)
        a, b = random_batch(model.cfg, 1, 16), random_batch(model.cfg, 1, 16)
        uniform = model.interpolate(a, b, 8, spacing="uniform")
        even = model.interpolate(a, b, 8, spacing="even")
        dense = model.interpolate(a, b, 29, spacing="uniform")
        assert torch.equal(even.tokens[[0, -1]], uniform.tokens[[0, -1]])
        assert all((dense.tokens == point).flatten(1).all(1).any() for point in even.tokens)
        falls_uniform += not rises_steadily(hamming_from_start(uniform))
        falls_even += not rises_steadily(hamming_from_start(even))
        falls_even += not rises_steadily(hamming_from_start(even[torch.arange(7, -1, -1)]))
    assert falls_even < falls_uniform, (falls_even, falls_uniform)
    with pytest.raises(MusicaeError, match="unknown spacing"):
        model.interpolate(a, b, 8, spacing="bumpy")
    long = model.interpolate(a, b, 70)  # beyond EVEN_MAX_STEPS: equal fractions
    assert torch.equal(long.tokens, model.interpolate(a, b, 70, spacing="uniform").tokens)
