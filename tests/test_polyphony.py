"""Polyphony: chords, voices, trio and piano-roll on real MIDI (bundled chorales and
generated multi-track files), through the representations and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch
from fixtures.midi_factory import write_parts, write_tune

from musicae import api
from musicae.datasets.midi import bundled, list_midi
from musicae.errors import MusicaeError
from musicae.midi.notes import UnusableMidi, make_notes, read_midi, write_midi
from musicae.models.prior import GIVEN
from musicae.representations import Melody, MelodyChords, Pianoroll, Trio, Voices
from musicae.representations.chords import (
    CHORD_CLASSES,
    NO_CHORD,
    chord_name,
    chord_steps,
    infer_chords,
    parse_chord,
    parse_progression,
    shift_chords,
    spread,
)
from musicae.representations.codec import piece_windows

TINY = ["--set", "enc_size=32", "--set", "dec_size=32", "--set", "latent_dim=8"]
CHORALES = bundled("chorales")
needs_chorales = pytest.mark.skipif(not CHORALES.is_dir(), reason="chorales not built")


# --- chords ------------------------------------------------------------------------------


def test_every_chord_name_parses_back_to_its_label():
    for label in range(CHORD_CLASSES):
        assert parse_chord(chord_name(label)) == label
    assert [parse_chord(s) for s in ("C", "Am", "F#m", "Bb", "Bdim", "C+", "N.C.")] == [
        1, 1 + 12 + 9, 1 + 12 + 6, 1 + 10, 1 + 24 + 11, 1 + 36, NO_CHORD]


@pytest.mark.parametrize("symbol", ["H", "Cmaj7x", "c", "Am7"])
def test_an_unknown_chord_symbol_is_named_in_the_error(symbol):
    with pytest.raises(MusicaeError, match=f"unknown chord symbol '{symbol}'"):
        parse_progression(f"C {symbol} G")
    with pytest.raises(MusicaeError, match="no chord symbols"):
        parse_progression(" ")


def test_chords_are_inferred_per_half_bar_from_the_notes_sounding():
    # C major over beats 1-2, G7 (G B D F: G major fits best) over 3-4, A minor, silence
    notes = make_notes(
        [0, 0, 0, 8, 8, 8, 8, 16, 16, 16], [8, 8, 8, 16, 16, 16, 16, 24, 24, 24],
        [48, 64, 67, 43, 59, 62, 65, 45, 60, 64])
    labels = infer_chords(notes, 0, 32, chord_steps((4, 4), 4))
    assert [chord_name(c) for c in labels[::8]] == ["C", "G", "Am", "N.C."]
    assert (labels[:8] == labels[0]).all() and len(labels) == 32
    # the same chords seen from step 8 on
    assert [chord_name(c) for c in infer_chords(notes, 8, 16, 8)[::8]] == ["G", "Am"]


def test_a_chord_lasts_half_a_bar_of_an_even_number_of_beats_else_a_bar():
    meters = [(4, 4), (2, 4), (2, 2), (6, 8), (3, 4), (3, 8), (5, 4)]
    assert [chord_steps(m, 4) for m in meters] == [8, 4, 8, 6, 12, 6, 20]
    # 3/4: C on beats 1-2 and G on beat 3 is one bar of C, not C then G from mid beat 2
    notes = make_notes([0, 0, 0, 8, 8, 8], [8, 8, 8, 12, 12, 12], [48, 64, 67, 43, 59, 62])
    assert {chord_name(c) for c in infer_chords(notes, 0, 12, chord_steps((3, 4), 4))} == {"C"}


def test_chords_move_with_transposition_and_spread_over_a_window():
    labels = np.array([parse_chord(s) for s in ("C", "Am", "N.C.", "Bdim")])
    assert [chord_name(c) for c in shift_chords(labels, 2)] == ["D", "Bm", "N.C.", "C#dim"]
    assert spread([1, 2], 32).tolist() == [1] * 16 + [2] * 16
    assert spread([1, 2, 3, 4], 24).tolist() == sum(([c] * 6 for c in (1, 2, 3, 4)), [])


@needs_chorales
def test_chorale_windows_carry_chords_that_transpose_with_the_melody():
    path = sorted(list_midi(CHORALES))[0]
    rep = MelodyChords(bars=2)
    windows = piece_windows(read_midi(path), rep, path)
    chords = windows.arrays["chord"]
    assert chords.shape == windows.tokens.shape and chords.dtype == np.int16
    assert (chords != NO_CHORD).mean() > 0.8  # a chorale has a chord almost everywhere
    moved = rep.transpose_rows(dict(windows.arrays), 3)
    changed = (moved["tokens"] != windows.tokens).any(1)
    assert changed.any()
    assert (moved["chord"][changed] == shift_chords(chords[changed], 3)).all()
    assert (moved["chord"][~changed] == chords[~changed]).all()


# --- voices and trio ---------------------------------------------------------------------


@needs_chorales
def test_voices_round_trip_a_chorale_through_midi(tmp_path):
    path = sorted(list_midi(CHORALES))[0]
    rep = Voices(bars=2)
    windows = piece_windows(read_midi(path), rep, path)
    assert windows.tokens.shape[1:] == (32, 4) and windows.tokens.dtype == np.uint8
    tokens, mask = windows.tokens[3], np.ones(32, bool)
    out = tmp_path / "voices.mid"
    write_midi(rep.decode(tokens, mask, (4, 4)), out)
    midi = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert {i.program for i in midi.instruments} == {52}
    means = [np.mean([n.pitch for n in i.notes]) for i in midi.instruments]
    assert means == sorted(means, reverse=True)  # soprano on top, bass at the bottom
    again = piece_windows(read_midi(out), rep, out)
    assert (again.tokens[0] == tokens).all()


def trio_file(path: Path, parts: tuple[str, ...] = ("melody", "bass", "drums"),
              seed: int = 0) -> Path:
    lead = [(72 + (i * (seed + 5)) % 9, 2 * i, 2 * i + 2) for i in range(32)]
    bass = [(36 + (i * (seed + 2)) % 7, 8 * i, 8 * i + 6) for i in range(8)]
    kit = [(36 if i % 2 == 0 else 38, 4 * i, 4 * i + 1) for i in range(16)]
    kit += [(42, 2 * i, 2 * i + 1) for i in range(32)]
    chosen = {"melody": (0, False, lead), "bass": (33, False, bass), "drums": (0, True, kit)}
    return write_parts(path, [chosen[p] for p in parts])


def test_trio_reads_melody_bass_and_drums_and_writes_them_to_their_own_tracks(tmp_path):
    rep = Trio(bars=2)
    path = trio_file(tmp_path / "trio.mid")
    windows = piece_windows(read_midi(path), rep, path)
    assert windows.tokens.shape[1:] == (32, 3) and windows.tokens.dtype == np.int16
    out = tmp_path / "out.mid"
    write_midi(rep.decode(windows.tokens[0], np.ones(32, bool), (4, 4)), out)
    tracks = mido.MidiFile(str(out)).tracks[1:]
    names = [next(m.name for m in t if m.type == "track_name") for t in tracks]
    assert names == ["melody", "bass", "drums"]
    channels = [next(m.channel for m in t if m.type == "note_on") for t in tracks]
    programs = [next(m.program for m in t if m.type == "program_change") for t in tracks]
    assert channels[2] == 9 and 9 not in channels[:2]
    assert programs[:2] == [0, 33]
    assert (piece_windows(read_midi(out), rep, out).tokens[0] == windows.tokens[0]).all()


@pytest.mark.parametrize(("parts", "reason"), [
    (("melody", "drums"), "no bass"), (("bass", "drums"), "no melody"),
    (("melody", "bass"), "no drums")])
def test_a_file_lacking_a_trio_part_is_skipped_with_that_reason(tmp_path, parts, reason):
    path = trio_file(tmp_path / "part.mid", parts)
    with pytest.raises(MusicaeError, match=reason):
        piece_windows(read_midi(path), Trio(bars=2), path)


def test_sampled_chords_do_not_come_back_as_melody(tmp_path):
    """The chords track a chord model writes is not read back as its melody."""
    rep = MelodyChords(bars=2)
    tokens = np.zeros(32, np.uint8)
    tokens[0], tokens[8] = 2 + 72 - 21, 1  # a note, a rest under the chord, a note
    tokens[20], tokens[24] = 2 + 74 - 21, 1
    labels = np.repeat([parse_chord("C"), parse_chord("G")], 16).astype(np.int16)
    out = tmp_path / "written.mid"
    write_midi(rep.decode(tokens, np.ones(32, bool), (4, 4), controls={"chord": labels}),
               out)
    again = piece_windows(read_midi(out), MelodyChords(bars=2, min_notes=1), out)
    assert (again.tokens[0] == tokens).all()
    assert (again.arrays["chord"][0] == labels).all()


def test_voices_need_as_many_tracks_as_voices(tmp_path):
    path = write_tune(tmp_path / "one.mid", bars=4)
    with pytest.raises(MusicaeError, match="fewer pitched tracks than voices"):
        piece_windows(read_midi(path), Voices(bars=2), path)


# --- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def trio_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trio")
    for split, count in (("train", 6), ("valid", 2), ("test", 2)):
        (root / split).mkdir()
        for i in range(count):
            trio_file(root / split / f"song{i}.mid", seed=i)
    trio_file(root / "train" / "no_bass.mid", ("melody", "drums"))
    return root


def test_trio_trains_samples_and_reports_files_without_the_parts(cli, trio_folder, tmp_path):
    report = cli("prepare", trio_folder, "--preset", "trio_2bar", "--json")
    assert report.exit_code == 0, report.output
    skipped = json.loads(report.stdout)["skipped"]
    assert any("no bass" in reason for reason in skipped), skipped
    run = tmp_path / "trio"
    done = cli("train", trio_folder, "--preset", "trio_2bar", "--out", run, "--steps", "8",
               "--batch-size", "8", "--quiet", *TINY)
    assert done.exit_code == 0, done.output
    done = cli("sample", run, "-n", "2", "-o", tmp_path / "s", "--seed", "0")
    assert done.exit_code == 0, done.output
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "s" / "sample_000.mid"))
    assert [i.name for i in midi.instruments] == ["melody", "bass", "drums"]
    assert [i.is_drum for i in midi.instruments] == [False, False, True]
    assert midi.get_end_time() == pytest.approx(4.0)  # 2 bars of 4/4 at 120 qpm


@pytest.fixture(scope="module")
def chord_model(tmp_path_factory) -> Path:
    if not CHORALES.is_dir():
        pytest.skip("chorales not built")
    from click.testing import CliRunner

    from musicae.cli import main

    out = tmp_path_factory.mktemp("run") / "chords"
    result = CliRunner().invoke(main, ["train", "chorales", "--preset", "mel_chords_2bar",
                                       "--out", str(out), "--steps", "10", "--batch-size", "16",
                                       "--quiet", "--transpose", "2", *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_sampling_over_chords_writes_melody_then_chords(cli, chord_model, tmp_path):
    done = cli("sample", chord_model, "-n", "2", "-o", tmp_path, "--chords", "C G Am F",
               "--seed", "0", "--json")
    assert done.exit_code == 0, done.output
    tracks = mido.MidiFile(str(tmp_path / "sample_000.mid")).tracks[1:]
    assert [next(m.name for m in t if m.type == "track_name") for t in tracks] == [
        "melody", "chords"]
    chords = pretty_midi.PrettyMIDI(str(tmp_path / "sample_000.mid")).instruments
    block = sorted((n.start, n.pitch % 12) for n in chords[[i.name for i in chords].index(
        "chords")].notes)
    starts = sorted({round(s, 3) for s, _ in block})
    assert starts == [0.0, 1.0, 2.0, 3.0]  # one chord per half bar at 120 qpm
    assert {p for s, p in block if s == 2.0} == {9, 0, 4}  # A minor
    assert json.loads((tmp_path / "run.json").read_text())["chords"] == "C G Am F"


def test_a_chord_models_fitted_prior_draws_codes_given_the_chords(cli, chord_model, tmp_path):
    """fit-prior keeps the training windows' posteriors beside their chords; a sample over
    chords draws its code from windows with chords like them (not from N(0, I))."""
    copy = tmp_path / "fitted"
    done = cli("fit-prior", chord_model, "chorales", "-o", copy, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["given_controls"] is True
    model = api.load(str(copy), "cpu").model
    given = model.fitted_prior[GIVEN]
    assert given.keys.shape == (len(given.means), 4 * CHORD_CLASSES)
    c_major = {"chord": torch.full((1, 32), parse_chord("C"))}
    keys = model.prior_keys(None, c_major)
    distance = torch.cdist(keys, given.keys)[0]
    kth = distance.topk(int(given.nearest), largest=False).values[-1]
    nearest = torch.nonzero(distance <= kth + 1e-5)[:, 0]  # with windows tied with the last
    given.scales.fill_(1e-4)  # so that each draw shows the window it was drawn from
    z = model.prior_sample(200, torch.Generator().manual_seed(0), controls={
        "chord": c_major["chord"].expand(200, -1)})
    whose = torch.cdist(z, given.means).argmin(1)  # the posterior each draw came from
    assert set(whose.tolist()) <= set(nearest.tolist())
    for prior in ("fitted", "standard"):
        made = cli("sample", copy, "-n", 2, "-o", tmp_path / f"drawn_{prior}", "--chords", "C G",
                   "--prior", prior, "--seed", 1)
        assert made.exit_code == 0, made.output


def test_chord_models_report_how_much_the_chords_help(cli, chord_model):
    done = cli("evaluate", chord_model, "chorales", "--json")
    assert done.exit_code == 0, done.output
    metrics = json.loads(done.stdout)
    assert "chord_gain" in metrics and np.isfinite(metrics["chord_gain"])
    assert metrics["nll_per_step"] > 0


@needs_chorales
def test_reconstruct_keeps_the_inputs_chords_unless_given(cli, chord_model, tmp_path):
    tune = sorted(list_midi(CHORALES))[0]
    for chords, out in ((None, tmp_path / "own"), ("F C", tmp_path / "given")):
        args = ["--chords", chords] if chords else []
        done = cli("reconstruct", chord_model, tune, "-o", out, *args)
        assert done.exit_code == 0, done.output
    def chord_notes(path):
        midi = pretty_midi.PrettyMIDI(str(path))
        return sorted((round(n.start, 3), n.pitch) for i in midi.instruments
                      if i.name == "chords" for n in i.notes)
    stem = tune.stem
    assert chord_notes(tmp_path / "own" / f"{stem}_input.mid") == chord_notes(
        tmp_path / "own" / f"{stem}_reconstruction.mid")
    given = chord_notes(tmp_path / "given" / f"{stem}_reconstruction.mid")
    assert {p % 12 for s, p in given if s == 0.0} == {5, 9, 0}  # F major


def test_bad_polyphonic_input_is_one_line(cli_process, chord_model, trio_folder, tmp_path):
    drums = write_parts(tmp_path / "drums.mid", [(0, True, [(36, 0, 1), (38, 4, 5)] * 8)])
    melody = write_tune(tmp_path / "melody.mid", bars=4)
    pianoroll = tmp_path / "pr"
    voices = tmp_path / "voices"
    for preset, out in (("pianoroll_2bar", pianoroll), ("voices_2bar", voices)):
        done = cli_process("train", "chorales", "--preset", preset, "--out", out, "--steps",
                           "1", "--batch-size", "4", "--quiet", *TINY)
        assert done.returncode == 0, done.stderr
    cases = {
        "a drum-only file to a piano-roll model": ["reconstruct", pianoroll, drums],
        "a one-line melody to a voices model": ["reconstruct", voices, melody],
        "--chords on a model without chords": ["sample", voices, "--chords", "C G"],
        "an unknown chord symbol": ["sample", chord_model, "--chords", "C Hm"],
        "no chords for a chord model": ["sample", chord_model],
    }
    said = {}
    for what, args in cases.items():
        done = cli_process(*args, "-o", tmp_path / "out")
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and "Traceback" not in done.stderr, what
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, done.stderr)
        said[what] = lines[0]
    assert "'Hm'" in said["an unknown chord symbol"]
    assert "drums only" in said["a drum-only file to a piano-roll model"]
    assert "fewer pitched tracks" in said["a one-line melody to a voices model"]


def test_pianoroll_keeps_every_voice_of_a_chorale(tmp_path):
    if not CHORALES.is_dir():
        pytest.skip("chorales not built")
    path = sorted(list_midi(CHORALES))[0]
    rep = Pianoroll(bars=2)
    windows = piece_windows(read_midi(path), rep, path)
    sounding = (windows.tokens != 0).sum(-1)  # pitches sounding per step
    assert np.median(sounding[sounding > 0]) == 4


# --- the shipped chorale models ----------------------------------------------------------


def shipped(name: str) -> str:
    from musicae.artifacts import SHIPPED_DIR

    if not (SHIPPED_DIR / name).is_dir():
        pytest.skip(f"{name} not shipped")
    return name


def test_the_shipped_voices_model_sings_four_parts_in_their_ranges(cli, tmp_path):
    done = cli("sample", shipped("chorales_voices_2bar"), "-n", 8, "-o", tmp_path, "--seed", 0)
    assert done.exit_code == 0, done.output
    means = []
    for path in sorted(tmp_path.glob("sample_*.mid")):
        midi = pretty_midi.PrettyMIDI(str(path))
        assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
        means.append([np.mean([n.pitch for n in i.notes]) for i in midi.instruments])
    soprano, alto, tenor, bass = np.array(means).T
    assert (soprano > alto).mean() >= 0.75 and (tenor > bass).mean() >= 0.75
    assert 60 <= np.median(soprano) <= 79 and 40 <= np.median(bass) <= 60


def test_the_shipped_chord_model_plays_over_the_chords_it_is_given(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from quality_polyphony import chords as chord_quality

    from musicae import api

    result = chord_quality(api.load(shipped("chorales_mel_chords_2bar"), "cpu"), "chorales",
                           0.5)
    shares = result["samples"]
    assert result["model"]["chord_gain"] > 0
    assert (shares["standard prior: own chords"]["chord_tones_on_beats"]
            > shares["standard prior: own chords, told no chord"]["chord_tones_on_beats"] + 0.1)


def test_the_shipped_pop_lead_draws_codes_that_fit_the_chords_asked_for():
    """pop_lead_2bar's fitted prior draws codes given the chords: over "C G Am F" its
    samples put chord tones on beats far more often than samples of codes from N(0, I)
    (benchmarks: 0.61 against 0.41)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from quality_polyphony import chord_tone_share

    bundle = api.load(shipped("pop_lead_2bar"), "cpu")
    model, rep = bundle.model, bundle.representation
    mask = torch.ones(256, rep.steps, dtype=torch.bool)
    chords = {name: torch.from_numpy(c).long()
              for name, c in rep.progression_controls("C G Am F", mask.numpy()).items()}
    shares = {}
    for prior in ("fitted", "standard"):
        made = model.sample(256, 0.5, torch.Generator().manual_seed(0), mask=mask,
                            controls=chords, prior=prior)
        hits, total = chord_tone_share(made.tokens[..., 0].numpy(), mask.numpy(),
                                       chords["chord"].numpy(), rep.min_pitch,
                                       rep.steps_per_quarter)
        shares[prior] = hits / total
    assert shares["fitted"] >= 0.55 and shares["fitted"] > shares["standard"] + 0.1, shares


def test_the_shipped_pianoroll_model_plays_chords(cli, tmp_path):
    done = cli("sample", shipped("chorales_pianoroll_2bar"), "-n", 4, "-o", tmp_path,
               "--seed", 0)
    assert done.exit_code == 0, done.output
    for path in sorted(tmp_path.glob("sample_*.mid")):
        roll = pretty_midi.PrettyMIDI(str(path)).get_piano_roll(fs=8)  # (128, frames)
        voices = (roll > 0).sum(0)
        assert np.median(voices[voices > 0]) >= 3, path.name  # chords, not a line


def _lead_sheet(path: Path, with_chords_track: bool) -> Path:
    """MELODY (a tune around middle C), PIANO (C major all along) and, optionally, a
    ``Chords`` track of A minor block chords: 2 bars of 4/4 at 120 qpm."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    sixteenth = 0.125
    tracks = {"MELODY": [(60 + 2 * (i % 4), 2 * i, 2 * i + 2) for i in range(16)],
              "PIANO": [(p, 0, 32) for p in (48, 52, 55)]}
    if with_chords_track:
        tracks["Chords"] = [(p, 0, 32) for p in (57, 60, 64)]
    for name, notes in tracks.items():
        instrument = pretty_midi.Instrument(0, name=name)
        instrument.notes = [pretty_midi.Note(80, p, s * sixteenth, e * sixteenth)
                            for p, s, e in notes]
        midi.instruments.append(instrument)
    midi.write(str(path))
    return path


def test_named_tracks_choose_the_parts_and_a_chords_track_gives_the_chords(tmp_path):
    lead = MelodyChords(bars=2, tracks=("melody",))
    found = piece_windows(read_midi(_lead_sheet(tmp_path / "sheet.mid", True)), lead)
    assert {chord_name(c) for c in found.arrays["chord"].ravel()} == {"Am"}  # not C
    melody = found.arrays["tokens"][0]
    pitches = {int(t) for t in melody.ravel() if t >= 2}
    assert min(pitches) >= 60 - 21 + 2  # MELODY's line, not the piano's or the chords'
    plain = piece_windows(read_midi(_lead_sheet(tmp_path / "plain.mid", False)), lead)
    assert {chord_name(c) for c in plain.arrays["chord"].ravel()} == {"C"}  # inferred
    piano = piece_windows(read_midi(tmp_path / "sheet.mid"), Pianoroll(bars=2, tracks=("piano",)))
    rows = np.flatnonzero(piano.arrays["tokens"][0].any(axis=0)) + 21
    assert rows.tolist() == [48, 52, 55]  # neither the melody nor the chords track
    with pytest.raises(UnusableMidi, match="no pitched notes in a track named bass"):
        piece_windows(read_midi(tmp_path / "sheet.mid"), Pianoroll(bars=2, tracks=("bass",)),
                      "sheet.mid")


def test_frame_counts_score_sounding_cells_on_real_steps_only():
    from musicae.domains.music import frame_counts
    truth = np.array([[[1, 2, 0], [2, 0, 0], [0, 0, 1]]])  # (1 window, 3 steps, 3 pitches)
    guess = np.array([[[1, 0, 0], [2, 1, 0], [1, 1, 1]]])
    mask = np.array([[True, True, False]])  # the last step is not music
    piano = Pianoroll()
    assert Melody().sounding(truth) is None  # a kind without sounding cells
    tp, fp, fn = frame_counts(piano.sounding(guess), piano.sounding(truth), mask).tolist()
    assert (tp, fp, fn) == (2, 1, 1)  # Bay et al.'s frame accuracy: 2 / 4
