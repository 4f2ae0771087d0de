"""The music commands end to end on real MIDI files, with a tiny model trained here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch
from fixtures.midi_factory import write_parts, write_tune

TINY = ["--set", "enc_size=32", "--set", "dec_size=32", "--set", "latent_dim=8"]


@pytest.fixture(scope="module")
def tunes(tmp_path_factory) -> Path:
    """A small MIDI folder in three meters with train/valid/test subfolders."""
    root = tmp_path_factory.mktemp("tunes")
    for split, count in (("train", 9), ("valid", 3), ("test", 3)):
        (root / split).mkdir()
        for i in range(count):
            meter = [(4, 4), (3, 4), (6, 8)][i % 3]
            write_tune(root / split / f"tune{i}.mid", bars=6, meter=meter, seed=i)
    return root


@pytest.fixture(scope="module")
def model(tunes, tmp_path_factory) -> Path:
    from click.testing import CliRunner

    from musicae.cli import main

    out = tmp_path_factory.mktemp("run") / "mel"
    result = CliRunner().invoke(main, ["train", str(tunes), "--preset", "mel_2bar_small",
                                       "--out", str(out), "--steps", "30", "--batch-size", "16",
                                       "--quiet", "--transpose", "2", *TINY])
    assert result.exit_code == 0, result.output
    return out


def midi_notes(path: Path) -> int:
    return sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(path)).instruments)


def test_train_writes_a_loadable_run(model):
    assert {"model.safetensors", "config.json", "metrics.jsonl"} <= {p.name for p in
                                                                     model.iterdir()}
    config = json.loads((model / "config.json").read_text())
    assert config["preset"] == "mel_2bar_small" and config["training"]["step"] == 30


def test_sample_writes_midi_and_a_pianoroll_sheet(cli, model, tmp_path):
    result = cli("sample", model, "-n", 3, "-o", tmp_path, "--seed", 1, "--meter", "3/4",
                 "--wav")
    assert result.exit_code == 0, result.output
    midis = sorted(tmp_path.glob("sample_*.mid"))
    assert len(midis) == 3 and (tmp_path / "pianoroll.png").stat().st_size > 0
    assert len(list(tmp_path.glob("sample_*.wav"))) == 3
    meter = pretty_midi.PrettyMIDI(str(midis[0])).time_signature_changes[0]
    assert (meter.numerator, meter.denominator) == (3, 4)


def test_same_seed_same_samples(cli, model, tmp_path):
    for name in ("a", "b"):
        assert cli("sample", model, "-n", 2, "-o", tmp_path / name, "--seed", 7).exit_code == 0
    a, b = (tmp_path / n / "sample_000.mid" for n in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


def test_interpolate_writes_each_step_and_the_whole_path(cli, model, tunes, tmp_path):
    a, b = tunes / "test" / "tune0.mid", tunes / "test" / "tune1.mid"
    result = cli("interpolate", model, a, b, "-o", tmp_path, "--steps", 4, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["a"]["window"] == 0 and summary["b"]["meter"] == "3/4"
    assert len(list(tmp_path.glob("step_*.mid"))) == 4
    assert (tmp_path / "interpolation.mid").is_file()
    assert (tmp_path / "interpolation.png").is_file()
    assert summary["spacing"] == "even"
    uniform = cli("interpolate", model, a, b, "-o", tmp_path / "u", "--steps", 4,
                  "--spacing", "uniform", "--json")
    assert uniform.exit_code == 0, uniform.output
    assert json.loads(uniform.stdout)["spacing"] == "uniform"
    first, last = (pretty_midi.PrettyMIDI(str(tmp_path / name)) for name in
                   ("step_000.mid", "step_003.mid"))
    for name, made in (("step_000.mid", first), ("step_003.mid", last)):
        again = pretty_midi.PrettyMIDI(str(tmp_path / "u" / name))
        assert [(n.pitch, n.start) for i in made.instruments for n in i.notes] == \
            [(n.pitch, n.start) for i in again.instruments for n in i.notes], "the same ends"


def test_reconstruct_picks_the_window_asked_for(cli, model, tunes, tmp_path):
    tune = tunes / "test" / "tune0.mid"
    result = cli("reconstruct", model, tune, "-o", tmp_path, "--bar", 0, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)["inputs"][0]
    assert info["window"] == 0 and info["windows"] >= 1
    assert midi_notes(tmp_path / "tune0_input.mid") > 0
    past = cli("reconstruct", model, tune, "-o", tmp_path, "--bar", info["windows"])
    assert past.exit_code == 2 and "past its last window" in past.stderr


def test_encode_then_decode(cli, model, tunes, tmp_path):
    codes = tmp_path / "z.npy"
    files = [tunes / "test" / f"tune{i}.mid" for i in range(3)]
    assert cli("encode", model, *files, "-o", codes).exit_code == 0
    assert np.load(codes).shape == (3, 8)
    assert cli("decode", model, codes, "-o", tmp_path / "out").exit_code == 0
    assert len(list((tmp_path / "out").glob("decoded_*.mid"))) == 3


def test_evaluate_reports_musicvae_metrics(cli, model, tunes):
    result = cli("evaluate", model, tunes, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    for key in ("teacher_forced_accuracy", "free_running_accuracy", "elbo", "kl", "windows"):
        assert key in metrics
    assert 0.0 <= metrics["free_running_accuracy"] <= 1.0 and metrics["windows"] > 0


def test_evaluate_holds_out_the_test_split_only_of_the_training_data(cli, model, tunes,
                                                                       tmp_path):
    own = json.loads(cli("evaluate", model, tunes, "--json").stdout)
    other = tmp_path / "other"
    other.mkdir()
    for i in range(2):
        write_tune(other / f"new{i}.mid", bars=4, seed=50 + i)
    new = json.loads(cli("evaluate", model, other, "--json").stdout)
    assert own["split"] == "test" and new["split"] == "all"
    assert new["windows"] > 0  # a hash "test" split of two files would most likely be empty


def test_prepare_json(cli, tunes):
    result = cli("prepare", tunes, "--preset", "mel_2bar_small", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_seen"] == report["files_used"] == 15 and report["windows"] > 0


def test_prepare_reports_folders_joined_by_plus_as_one(cli, tunes, tmp_path):
    more = tmp_path / "more"
    more.mkdir()
    write_tune(more / "extra.mid", bars=6, meter=(2, 4), seed=99)
    (more / "broken.mid").write_bytes(b"MThd broken")
    reports = [json.loads(cli("prepare", data, "--preset", "mel_2bar_small", "--json",
                              "--quiet").stdout) for data in (tunes, more, f"{tunes}+{more}")]
    one, other, joined = reports
    for count in ("files_seen", "files_used", "windows"):
        assert joined[count] == one[count] + other[count]
    assert joined["skipped"] == other["skipped"] and sum(joined["skipped"].values()) == 1
    assert set(joined["windows_by_meter"]) == {*one["windows_by_meter"], "2/4"}
    missing = cli("prepare", f"{tunes}+{tmp_path / 'nowhere'}", "--preset", "mel_2bar_small")
    assert missing.exit_code != 0 and "nowhere: no such folder" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def bad_inputs(tmp_path: Path, tunes: Path) -> dict[str, list]:
    image = tmp_path / "digit.png"
    from PIL import Image

    Image.new("L", (28, 28)).save(image)
    drums = write_parts(tmp_path / "drums.mid", [(0, True, [(36, 0, 1), (38, 4, 5)] * 8)])
    short = write_tune(tmp_path / "short.mid", bars=1)
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"format": "musicae-model/1",
                                                     "preset": "mel_99bar"}))
    return {
        "an image given to a music model": ["reconstruct", "{model}", image],
        "a MIDI file with no melody": ["reconstruct", "{model}", drums],
        "an input shorter than a window": ["encode", "{model}", short],
        "a model from an unknown preset": ["sample", unknown],
        "a missing model": ["sample", tmp_path / "nope"],
        "a missing MIDI file": ["reconstruct", "{model}", short.with_name("x.mid")],
    }


def test_bad_input_is_one_line_and_no_traceback(cli_process, model, tunes, tmp_path):
    for what, args in bad_inputs(tmp_path, tunes).items():
        args = [str(model) if a == "{model}" else a for a in args]
        done = cli_process(*args, "-o", tmp_path / "out")
        assert done.returncode != 0, what
        assert "Traceback" not in done.stderr, what
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, done.stderr)
        if what == "a model from an unknown preset":
            assert "config.json" in lines[0] and "mel_99bar" in lines[0]


def test_attribute_vector_is_stored_and_used_by_shift(cli, model, tunes, tmp_path):
    result = cli("attribute", model, tunes, "--name", "density", "--json")
    assert result.exit_code == 0, result.output
    config = json.loads((model / "config.json").read_text())
    assert len(config["attributes"]["density"]["vector"]) == 8
    unknown = cli("sample", model, "-n", 2, "-o", tmp_path, "--shift", "loudness=1")
    assert unknown.exit_code == 2 and "no attribute vector 'loudness'" in unknown.stderr
    notes = {}  # sample adds the vector to every code: the same codes, denser tunes
    for name, extra in (("plain", []), ("denser", ["--shift", "density=+3"])):
        out = tmp_path / name
        assert cli("sample", "folk_mel_2bar", "-n", 8, "-o", out, "--seed", 3,
                   "--temperature", 0, *extra).exit_code == 0
        notes[name] = [midi_notes(p) for p in sorted(out.glob("sample_*.mid"))]
    assert sum(notes["denser"]) > sum(notes["plain"]), notes


def test_shift_moves_every_reconstruction(cli, tmp_path):
    """The shipped melody model's density vector, applied to two inputs: both get denser."""
    from musicae.datasets.midi import resolve_data, split_files

    inputs = split_files(resolve_data("folk"))["test"][:2]
    notes = {}
    for name, extra in (("plain", []), ("denser", ["--shift", "density=+3"])):
        assert cli("reconstruct", "folk_mel_2bar", *inputs, "-o", tmp_path / name,
                   *extra).exit_code == 0
        notes[name] = [midi_notes(tmp_path / name / f"{p.stem}_reconstruction.mid")
                       for p in inputs]
    assert all(d > p for d, p in zip(notes["denser"], notes["plain"], strict=True)), notes


def test_a_shift_along_density_moves_density(tmp_path):
    """On the shipped melody model: samples shifted up have more notes than those shifted down."""
    from musicae import api

    bundle = api.load("folk_mel_2bar", "cpu")
    music = api.domain(bundle)
    density = {}
    for amount in (-2.0, 2.0):
        batch = bundle.model.sample(64, generator=torch.Generator().manual_seed(0),
                                    shift=api.shift_vector(bundle, {"density": amount}))
        density[amount] = float(np.nanmean(music.attribute(bundle, "density", batch)))
    assert density[2.0] > density[-2.0] + 0.05, density


@pytest.mark.parametrize(("meter", "written"), [
    ((6, 8), (6, 8)), ((3, 4), (3, 4)), ((2, 4), (2, 4)), ((2, 2), (2, 2)),
    ((9, 8), (3, 8)),  # a 9/8 bar is longer than a slot: its windows are in 3/8 groups
])  # fmt: skip
def test_outputs_keep_the_meter_of_their_input(cli, model, tmp_path, meter, written):
    a = write_tune(tmp_path / "a.mid", bars=6, meter=meter, seed=1)
    b = write_tune(tmp_path / "b.mid", bars=6, meter=meter, seed=2)
    assert cli("reconstruct", model, a, "-o", tmp_path / "r").exit_code == 0
    assert cli("interpolate", model, a, b, "-o", tmp_path / "i", "--steps", 3).exit_code == 0
    outputs = [tmp_path / "r" / "a_input.mid", tmp_path / "r" / "a_reconstruction.mid",
               tmp_path / "i" / "interpolation.mid", *sorted((tmp_path / "i").glob("step_*"))]
    for path in outputs:
        midi = pretty_midi.PrettyMIDI(str(path))
        signatures = midi.time_signature_changes
        assert [(s.numerator, s.denominator) for s in signatures] == [written], path
        assert all(i.name == "melody" for i in midi.instruments), path
        assert mido.MidiFile(str(path)).tracks[1].name == "melody", path


def test_demo_runs_the_main_job_on_the_shipped_models(cli, tmp_path):
    result = cli("demo", "-o", tmp_path, "--wav")
    assert result.exit_code == 0, result.output
    melodies = sorted((tmp_path / "melodies").glob("sample_*.mid"))
    assert len(melodies) == 8 and all(midi_notes(m) > 0 for m in melodies)
    assert len(list((tmp_path / "melodies").glob("sample_*.wav"))) == 8
    assert (tmp_path / "melodies" / "pianoroll.png").is_file()
    path = tmp_path / "interpolation"
    assert len(list(path.glob("step_*.mid"))) == 8 and (path / "interpolation.mid").is_file()
    assert (path / "interpolation.png").is_file() and (path / "interpolation.wav").is_file()
    assert (tmp_path / "digits" / "sample_grid.png").is_file()
    by_label = tmp_path / "digits_by_label"
    assert len(list(by_label.glob("sample_0*.png"))) == 100
    assert json.loads((by_label / "run.json").read_text())["model"].endswith("mnist_cvae")
    assert (tmp_path / "latent_2d.png").is_file()
    assert f"Open {tmp_path}/melodies/pianoroll.png" in result.stdout


def test_a_model_directory_from_before_representations_loads(model, tunes, tmp_path):
    """musicae-model/1 directories (flat weight names, no representation) load and decode
    exactly as the same model saved now."""
    from safetensors.torch import load_file, save_file

    from musicae import api, artifacts

    old = tmp_path / "old"
    old.mkdir()
    renames = [(new, prefix) for prefix, new in artifacts.FORMAT_1_SEQUENCE_NAMES]
    tensors = {}
    for key, value in load_file(str(model / "model.safetensors")).items():
        new = next((n for n, _ in renames if key.startswith(n)), None)
        tensors[dict(renames)[new] + key[len(new):] if new else key] = value
    save_file(tensors, str(old / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    config |= {"format": "musicae-model/1", "overrides": config["overrides"] | {"depth": 90}}
    del config["representation"]
    (old / "config.json").write_text(json.dumps(config))
    loaded, now = artifacts.load(old), artifacts.load(model)
    assert loaded.representation == now.representation
    x, _ = api.domain(now).read_input(now, tunes / "test" / "tune0.mid")
    assert torch.equal(loaded.model.reconstruct(x).tokens, now.model.reconstruct(x).tokens)
    # Adam's moments, as format 1 kept them: by index in the old parameter order
    optimizer = artifacts.load_optimizer_state(model, now.model)
    names = [name for name, _ in now.model.named_parameters()]
    old_index = {name: i for i, name in enumerate(artifacts._format_1_order(now.model))}
    save_file({f"{old_index[names[i]]}.{slot}": value
               for i, slots in optimizer["state"].items() for slot, value in slots.items()},
              str(old / "optimizer.safetensors"),
              metadata={"groups": json.dumps(optimizer["param_groups"])})
    assert artifacts.load_optimizer_state(old, loaded.model)["state"].keys() \
        == optimizer["state"].keys()
    for i, slots in artifacts.load_optimizer_state(old, loaded.model)["state"].items():
        assert all(torch.equal(v, optimizer["state"][i][k]) for k, v in slots.items())
    steps = config["training"]["step"] + 2
    resumed = api.train(str(tunes), "mel_2bar_small", old, steps=steps, resume=True,
                        progress=False)
    assert resumed["steps"] == steps


def test_silent_samples_give_silent_wavs_as_long_as_their_bars(cli, tmp_path, monkeypatch):
    """A shift towards fewer notes leaves some samples silent: no traceback, a silent WAV.
    WAVs are rendered with the General MIDI SoundFont, and the output says so."""
    import wave

    result = cli("sample", "folk_mel_2bar", "-n", 16, "--seed", 0, "--shift", "density=-1.5",
                 "--wav", "-o", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["synth"] == "soundfont"
    assert json.loads((tmp_path / "run.json").read_text())["synth"] == "soundfont"
    silent = [m for m in sorted(tmp_path.glob("sample_*.mid")) if midi_notes(m) == 0]
    assert silent, "this seed and shift give at least one silent sample"
    for midi in sorted(tmp_path.glob("sample_*.mid")):
        with wave.open(str(midi.with_suffix(".wav"))) as audio:
            assert audio.getnframes() == 4 * audio.getframerate()  # 2 bars of 4/4 at 120 qpm
        assert pretty_midi.PrettyMIDI(str(midi)).get_end_time() <= 4.0
    with wave.open(str(silent[0].with_suffix(".wav"))) as audio:
        assert not any(audio.readframes(audio.getnframes()))
    monkeypatch.setenv("MUSICAE_SOUNDFONT", str(tmp_path / "sample_000.mid"))  # not a font
    result = cli("sample", "folk_mel_2bar", "-n", 1, "--wav", "-o", tmp_path / "bad")
    assert result.exit_code != 0 and "not a SoundFont 2 file" in result.stderr, result.output
    assert not result.exception or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_outputs_record_their_run_and_replace_an_earlier_run(cli, tmp_path):
    first = cli("sample", "folk_mel_2bar", "-n", 4, "-o", tmp_path, "--json")
    assert first.exit_code == 0, first.output
    seed = json.loads(first.stdout)["seed"]  # chosen, since none was given, and reported
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["command"] == "sample" and record["seed"] == seed
    assert record["temperature"] == 0.5 and len(record["written"]) == 5  # 4 MIDI + sheet
    (tmp_path / "mine.txt").write_text("not musicae's")
    again = cli("sample", "folk_mel_2bar", "-n", 2, "-o", tmp_path, "--seed", seed)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in tmp_path.glob("sample_*.mid")) == ["sample_000.mid",
                                                                      "sample_001.mid"]
    assert (tmp_path / "mine.txt").is_file(), "files musicae did not write are kept"
    redo = tmp_path / "redo"
    assert cli("sample", "folk_mel_2bar", "-n", 2, "-o", redo, "--seed", seed).exit_code == 0
    assert (redo / "sample_001.mid").read_bytes() == (tmp_path / "sample_001.mid").read_bytes()


def test_tempo_and_program_of_written_midi(cli, tmp_path):
    result = cli("sample", "folk_mel_2bar", "-n", 2, "-o", tmp_path, "--seed", 3, "--qpm", 90,
                 "--program", 73)
    assert result.exit_code == 0, result.output
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "sample_000.mid"))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(90.0)
    assert [(i.program, i.name) for i in midi.instruments] == [(73, "melody")]
    assert mido.MidiFile(str(tmp_path / "sample_000.mid")).length == pytest.approx(2 * 4 * 60 / 90)
    assert cli("sample", "folk_mel_2bar", "-o", tmp_path, "--qpm", 5).exit_code == 2


def test_attribute_vectors_of_a_shipped_model_go_to_the_user_directory(cli, tunes, tmp_path,
                                                                      monkeypatch):
    from musicae.artifacts import SHIPPED_DIR

    monkeypatch.setenv("MUSICAE_HOME", str(tmp_path / "home"))
    shipped = SHIPPED_DIR / "folk_mel_2bar" / "config.json"
    before = shipped.read_bytes()
    result = cli("attribute", "folk_mel_2bar", tunes, "--name", "syncopation", "--json")
    assert result.exit_code == 0, result.output
    assert shipped.read_bytes() == before, "nothing is written into a shipped model"
    kept = tmp_path / "home" / "attributes" / "folk_mel_2bar.json"
    assert json.loads(result.stdout)["stored_in"] == str(kept) and kept.is_file()
    shifted = cli("sample", "folk_mel_2bar", "-n", 2, "-o", tmp_path / "s", "--shift",
                  "syncopation=1", "--shift", "density=1")  # the user's and the shipped one
    assert shifted.exit_code == 0, shifted.output



@pytest.mark.parametrize("args", [
    ["sample", "-o", "{tmp}", "--temperature", "nan"],
    ["sample", "-o", "{tmp}", "--shift", "density=nan"],
    ["sample", "-o", "{tmp}", "-n", "100000000"],
    ["sample", "-o", "{tmp}", "--device", "tpu"],
    ["train", "folk", "--preset", "mel_2bar_small", "--out", "{tmp}", "--lr", "nan"],
    ["train", "folk", "--preset", "mel_2bar_small", "--out", "{tmp}", "--minutes", "nan"],
    ["train", "folk", "--preset", "mel_2bar_small", "--out", "{tmp}", "--set", "free_bits=NaN"],
    ["plot-latent", "mnist_vae_2d", "-o", "{tmp}/x.xyz"],
])
def test_numbers_and_names_are_checked_before_any_work(cli_process, tmp_path, args):
    done = cli_process(*[str(tmp_path / "out") if a == "{tmp}" else
                         a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after click's usage lines, if any
    assert last.lower().startswith("error:"), done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.xyz").exists()


def test_codes_to_decode_are_checked(cli_process, tmp_path):
    """Codes that are NaN, empty or of another width are one-line errors, not empty MIDI."""
    for name, codes in (("nan", np.full((2, 256), np.nan, np.float32)),
                        ("empty", np.zeros((0, 256), np.float32)),
                        ("wide", np.zeros((2, 7), np.float32))):
        np.save(tmp_path / f"{name}.npy", codes)
        done = cli_process("decode", "folk_mel_2bar", tmp_path / f"{name}.npy", "-o",
                           tmp_path / name)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: ")
        assert not (tmp_path / name).exists()


def test_a_damaged_attribute_vector_is_a_one_line_error(cli_process, model, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(model, run)
    config = json.loads((run / "config.json").read_text())
    for damaged in ({"vector": [1.0, 2.0]}, {"vector": "x"}, [3], {"vector": [float("nan")] * 8}):
        (run / "config.json").write_text(json.dumps(config | {"attributes": {"d": damaged}}))
        done = cli_process("sample", run, "-o", tmp_path / "out", "--shift", "d=1")
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "attribute vector 'd' is damaged" in done.stderr


def test_output_paths_are_checked_before_any_work(cli_process, tmp_path):
    """An output that is a file, lies under a file or cannot be written is refused at once
    (a training must not find out at its first checkpoint)."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [["sample", "-o", a_file], ["sample", "-o", a_file / "under"],
             ["train", "folk", "--preset", "mel_2bar_small", "--out", a_file / "run"],
             ["encode", "folk_mel_2bar", "x.mid", "-o", tmp_path]]
    if os.geteuid() != 0:  # root may write anywhere
        cases.append(["sample", "-o", locked / "out"])
    for args in cases:
        done = cli_process(*args)
        assert done.returncode != 0 and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr
    assert a_file.read_text() == "x"


def test_bf16_trains_where_the_cpu_can_and_says_so_where_it_cannot(cli_process, tunes, tmp_path):
    """--bf16 on a CPU without bfloat16 LSTMs (no AVX512-BF16) trains in float32 and says so
    in one line, instead of oneDNN's traceback; where it can, it trains in bfloat16."""
    from musicae import artifacts
    from musicae.train import bf16_works

    done = cli_process("train", tunes, "--preset", "mel_2bar_small", "--out", tmp_path / "run",
                       "--steps", "3", "--batch-size", "8", "--bf16", "--quiet", "--device",
                       "cpu", *TINY)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    used = artifacts.read_config(tmp_path / "run")["training"]["config"]["bf16"]
    works = bf16_works(torch.device("cpu"))
    assert used == works
    assert ("note: --bf16 is off" in done.stderr) == (not works)


def test_a_piece_too_sparse_for_training_still_encodes(cli, tmp_path):
    """Two bars holding one note (as a sample can be) are below training's min_notes, yet
    encode and reconstruct as inputs."""
    one = write_parts(tmp_path / "one.mid", [(0, False, [(67, 0, 32)])])
    done = cli("reconstruct", "folk_mel_2bar", one, "-o", tmp_path / "r")
    assert done.exit_code == 0, done.output
    assert midi_notes(tmp_path / "r" / "one_reconstruction.mid") >= 1
    empty = write_parts(tmp_path / "empty.mid", [(0, True, [(36, 0, 1)])])  # drums only
    refused = cli("encode", "folk_mel_2bar", empty, "-o", tmp_path / "z.npy")
    assert refused.exit_code == 2 and "drums only" in refused.stderr


def test_a_stacked_model_warm_starts_from_a_short_one_and_trains_only_above_it(
        cli, model, tunes, tmp_path):
    """train --warm-start: the 2-bar model's weights become the lower level and stay as
    they were while the levels above learn (first on codes, code_steps, then on tokens);
    --set freeze= on --resume trains them too, and a resumed run may end the code phase."""
    from safetensors.torch import load_file

    out = tmp_path / "long"
    sizes = [*TINY, "--set", "bars=4", "--set", "segment_code=8", "--set", "conductor_size=16",
             "--set", "enc_layers=1", "--set", "code_steps=100"]
    args = ["train", tunes, "--preset", "mel_16bar_stacked", "--out", out, "--steps", 6,
            "--batch-size", 4, "--quiet", *sizes]
    result = cli(*args, "--warm-start", model)
    assert result.exit_code == 0, result.output
    short, long = load_file(model / "model.safetensors"), load_file(out / "model.safetensors")
    for name, weight in short.items():
        part, rest = name.split(".", 1)
        torch.testing.assert_close(long[f"{part}.segment.{rest}"].float(), weight.float())
    config = json.loads((out / "config.json").read_text())
    assert config["warm_start"] == str(model)
    assert config["training"]["config"]["freeze"] == "encoder.segment,decoder.segment"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "train_code_recon" in logged[-1] and "valid_accuracy" in logged[-1]
    first = {k: v.clone() for k, v in long.items()}
    result = cli(*args[:-len(sizes)], "--steps", 10, "--resume", "--set", "freeze=",
                 "--set", "code_steps=6")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["overrides"]["code_steps"] == 6 and config["training"]["step"] == 10
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "train_accuracy" in logged[-1], "steps 6 to 10 decode tokens"
    refused = cli(*args[:-len(sizes)], "--steps", 12, "--resume", "--set", "segment_code=4")
    assert refused.exit_code != 0 and "cannot change segment_code" in refused.output
    again = load_file(out / "model.safetensors")
    assert not torch.equal(again["decoder.segment.lstm.weight_hh_l0"],
                           first["decoder.segment.lstm.weight_hh_l0"])
    assert not torch.equal(again["decoder.to_code.weight"], first["decoder.to_code.weight"])
    bad = cli("train", tunes, "--preset", "mel_2bar_small", "--out", tmp_path / "x",
              "--steps", 2, *TINY, "--warm-start", model)
    assert bad.exit_code != 0 and "only a stacked model" in bad.output
    assert "Traceback" not in bad.output
    fresh = ["train", tunes, "--preset", "mel_16bar_stacked", "--steps", 2, "--quiet", *sizes]
    for extra, message in (([], "give --warm-start"),
                           (["--warm-start", model, "--set", "freeze="], "keep freeze="),
                           (["--warm-start", model, "--set", "freeze=decoder.nothing"],
                            "no module decoder.nothing")):
        refused = cli(*fresh, "--out", tmp_path / "y", *extra)
        assert refused.exit_code != 0 and message in refused.output, refused.output
        assert "Traceback" not in refused.output
