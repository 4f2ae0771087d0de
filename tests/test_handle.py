"""musicae.load: the notebook handle, PrettyMIDI (or arrays) in and out, CLI defaults."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
from fixtures.midi_factory import write_tune

import musicae
from musicae.errors import MusicaeError


@pytest.fixture(scope="module")
def melody():
    return musicae.load("folk_mel_2bar", "cpu")


def test_music_in_and_out_as_pretty_midi(melody, tmp_path):
    path = write_tune(tmp_path / "tune.mid", bars=4, seed=2)
    tunes = melody.sample(3, seed=0)
    assert all(isinstance(t, pretty_midi.PrettyMIDI) for t in tunes)
    assert [t.get_end_time() for t in tunes] == [4.0] * 3  # 2 bars of 4/4 at 120 qpm
    assert [len(t.instruments[0].notes) for t in melody.sample(3, seed=0)] == [
        len(t.instruments[0].notes) for t in tunes]  # a seed gives the same samples
    from_object = melody.encode(pretty_midi.PrettyMIDI(str(path)))
    assert np.allclose(from_object, melody.encode(path), atol=1e-5)  # object or path alike
    codes = melody.encode([path, tunes[0]])
    assert codes.shape == (2, melody.latent_dim)
    back = melody.reconstruct(path)
    decoded = melody.decode(codes[:1])[0]
    assert [n.pitch for n in back.instruments[0].notes] == [
        n.pitch for n in decoded.instruments[0].notes]  # reconstruct = decode(encode)
    steps = melody.interpolate(path, tunes[1], steps=4)
    assert len(steps) == 4


def test_image_models_take_and_give_arrays():
    digits = musicae.load("mnist_conv_vae", "cpu")
    made = digits.sample(2, seed=0)
    assert made[0].shape == (28, 28) and 0 <= made[0].min() and made[0].max() <= 1
    assert digits.reconstruct(made[0]).shape == (28, 28)
    assert digits.encode(made).shape == (2, digits.latent_dim)


def test_wrong_inputs_are_musicae_errors(melody):
    with pytest.raises(MusicaeError, match="PrettyMIDI"):
        melody.encode(np.zeros((28, 28)))
    with pytest.raises(MusicaeError, match="finite"):
        melody.decode(np.full((1, melody.latent_dim), np.nan))
    with pytest.raises(MusicaeError, match="not conditioned on chords"):
        melody.sample(1, chords="C G")


def _tune(start: float = 0.0, end: float = 0.5, pitch: int = 60) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(0)
    part.notes += [pretty_midi.Note(90, pitch, start, end), pretty_midi.Note(90, 62, 0.5, 1.0)]
    pm.instruments.append(part)
    return pm


@pytest.mark.parametrize("call, reason", [
    (lambda m: m.sample(2, temperature=float("nan")), "--temperature"),
    (lambda m: m.sample(2, temperature=-1), "--temperature"),
    (lambda m: m.sample(2, temperature="hot"), "--temperature"),
    (lambda m: m.sample(2, seed=-1), "--seed"),
    (lambda m: m.sample(2, seed=2**70), "--seed"),
    (lambda m: m.sample(2.5), "n must be"),
    (lambda m: m.interpolate(_tune(), _tune(), steps=100_000), "--steps"),
    (lambda m: m.encode(_tune(), bar=-1), "--bar"),
    (lambda m: m.encode(_tune(start=float("nan"))), "cannot be written as MIDI"),
    (lambda m: m.encode(_tune(pitch=-5)), "cannot be written as MIDI"),
    (lambda m: m.encode([]), "at least one input"),
    (lambda m: m.encode("/dev/zero"), "not a regular file"),
])
def test_the_handle_shares_the_command_lines_checks(melody, call, reason):
    """The CLI's caps and checks hold in Python too, as one MusicaeError (the audit found
    a 230 s, 3.5 GB interpolation and pretty_midi, mido and torch errors here)."""
    with pytest.raises(MusicaeError, match=reason):
        call(melody)


def test_image_arrays_out_of_range_are_refused():
    digits = musicae.load("mnist_conv_vae", "cpu")
    for bad in (np.full((28, 28), 7.0), np.array([["a"]]), np.zeros((3, 28, 28))):
        with pytest.raises(MusicaeError, match="28x28 arrays of numbers in"):
            digits.encode(bad)


def test_shift_moves_samples_and_reconstructions_along_an_attribute(melody, tmp_path):
    """The handle takes --shift as the command line does: the shipped density vector makes
    the same codes denser, and an unknown attribute is a MusicaeError."""
    def notes(pieces):
        return sum(len(p.instruments[0].notes) for p in pieces)

    plain = melody.sample(8, temperature=0, seed=3)
    assert notes(melody.sample(8, temperature=0, seed=3, shift={"density": 3})) > notes(plain)
    path = write_tune(tmp_path / "tune.mid", bars=2, seed=4)
    assert notes([melody.reconstruct(path, shift={"density": 3})]) > notes(
        [melody.reconstruct(path)])
    with pytest.raises(MusicaeError, match="no attribute vector 'loudness'"):
        melody.sample(2, shift={"loudness": 1})


@pytest.mark.parametrize("meter", [(6, 8), (3, 4)])
def test_music_comes_back_in_the_meter_it_came_in(melody, tmp_path, meter):
    """A window keeps its stored meter through the handle: 6/8 and 3/4 have bars of the
    same 12 steps, so only the meter carried with the window tells them apart."""
    path = write_tune(tmp_path / "tune.mid", bars=4, seed=3, meter=meter)
    signatures = [(ts.numerator, ts.denominator) for ts in
                  melody.reconstruct(path).time_signature_changes]
    assert signatures == [meter]
    path_signatures = {(ts.numerator, ts.denominator) for step in melody.interpolate(path, path, 3)
                       for ts in step.time_signature_changes}
    assert path_signatures == {meter}
    sampled = melody.sample(1, seed=0, meter="6/8")[0].time_signature_changes
    assert [(ts.numerator, ts.denominator) for ts in sampled] == [(6, 8)]


def test_windows_decoded_without_a_layout_are_written_in_the_default_meter(tmp_path):
    """The low-level API: a model told no layout decodes whole 4/4 bars, written as such;
    windows of shorter bars without their meter are a one-line error, not a guess."""
    from musicae import api

    bundle = api.load("folk_mel_2bar", device="cpu")
    music = api.domain(bundle)
    made = bundle.model.sample(2, generator=None)
    written = music.write_batch(bundle, made, tmp_path / "plain", "sample")
    midis = [pretty_midi.PrettyMIDI(str(p)) for p in written if p.suffix == ".mid"]
    assert [[(t.numerator, t.denominator) for t in m.time_signature_changes]
            for m in midis] == [[(4, 4)]] * 2
    three = music.layout(bundle, 2, meter="3/4")
    short = bundle.model.decode(bundle.model.prior_sample(2), mask=three["mask"])
    with pytest.raises(MusicaeError, match="need their meter"):
        music.write_batch(bundle, short, tmp_path / "short", "sample")
    laid = bundle.model.decode(bundle.model.prior_sample(2), **three)
    written = music.write_batch(bundle, laid, tmp_path / "three", "sample")
    assert {(t.numerator, t.denominator) for p in written if p.suffix == ".mid"
            for t in pretty_midi.PrettyMIDI(str(p)).time_signature_changes} == {(3, 4)}
