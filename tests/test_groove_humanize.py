"""The groove kind (GrooVAE's humanize): micro-timing kept by the reader, a round trip of
real performances at bin resolution, an encoder that reads the bare hits only, and
`musicae groove` / ``Model.groove`` keeping a beat's hits while playing them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch
from fixtures.midi_factory import write_parts, write_tune

import musicae
from musicae.batch import Batch
from musicae.datasets.midi import bundled
from musicae.midi.notes import read_midi, write_midi
from musicae.presets import build_model, representation
from musicae.representations.codec import piece_windows
from musicae.representations.drums import PITCH_CLASS
from musicae.representations.groove import HITS, timed_hits

GROOVE = bundled("groove")
TINY = ["--set", "enc_size=16", "--set", "dec_size=16", "--set", "latent_dim=4"]
REP = representation("groove_humanize_2bar")
needs_groove = pytest.mark.skipif(not GROOVE.is_dir(), reason="groove corpus not built")


def beats(split: str, count: int) -> list[Path]:
    """The first ``count`` 4/4 beats (not fills) of a split of the groove corpus."""
    return sorted(GROOVE.glob(f"{split}/*_beat_4-4.mid"))[:count]


def drum_hits(path: Path) -> list[tuple[int, int]]:
    """The (step, drum class) of every drum hit of a MIDI file, as musicae reads it."""
    notes = read_midi(path).notes
    notes = notes[notes["is_drum"] & (PITCH_CLASS[notes["pitch"]] >= 0)]
    classes = PITCH_CLASS[notes["pitch"]].tolist()
    return sorted(set(zip(notes["start"].tolist(), classes, strict=True)))


def test_the_reader_keeps_how_far_each_note_starts_from_its_step(tmp_path):
    midi = mido.MidiFile(ticks_per_beat=480)  # 120 ticks a 16th
    track = mido.MidiTrack()
    for delay in (130, 40, 190):  # at ticks 130, 230 and 480, each 60 long
        track += [mido.Message("note_on", channel=9, note=38, velocity=70, time=delay),
                  mido.Message("note_off", channel=9, note=38, velocity=0, time=60)]
    midi.tracks.append(track)
    midi.save(tmp_path / "late.mid")
    piece = read_midi(tmp_path / "late.mid")
    assert piece.notes["start"].tolist() == [1, 2, 4]
    assert piece.offsets == pytest.approx([10 / 120, -10 / 120, 0.0])


@needs_groove
def test_a_real_performance_round_trips_at_bin_resolution(tmp_path):
    path = beats("test", 1)[0]
    piece = read_midi(path)
    windows = piece_windows(piece, REP, path)
    tokens, hits = windows.arrays["tokens"][0], windows.arrays[HITS][0]
    mask = REP.mask(windows.arrays["lengths"][:1])[0]
    write_midi(REP.decode(tokens, mask, windows.meter_of(0), controls={HITS: hits}),
               tmp_path / "played.mid")
    back = read_midi(tmp_path / "played.mid")
    again = piece_windows(back, REP)
    assert np.array_equal(again.arrays["tokens"][0], tokens)  # exact at bin resolution
    assert np.array_equal(again.arrays[HITS][0], hits)
    first = int(timed_hits(piece)["start"].min()) // 16 * 16  # the first window's downbeat
    loudest = {}  # (step, class) -> (velocity, offset) of the loudest hit there
    for note in np.sort(timed_hits(piece), order="velocity", kind="stable"):
        if first <= note["start"] < first + REP.steps:
            loudest[(note["start"] - first, PITCH_CLASS[note["pitch"]])] = note
    played = {(n["start"], PITCH_CLASS[n["pitch"]]): (n, offset)
              for n, offset in zip(back.notes, back.offsets, strict=True)}
    assert played.keys() == loudest.keys() and len(played) > 20
    for key, (note, offset) in played.items():
        real = loudest[key]
        assert abs(int(note["velocity"]) - int(real["velocity"])) <= 4  # half a bin of 8
        edge = real["offset"] >= 0.5 - 1 / 32  # the last bin holds the rest of the step
        assert abs(offset - real["offset"]) <= (1 / 16 if edge else 1 / 32) + 1e-6


def test_the_encoder_reads_the_hits_and_not_the_played_tokens():
    model = build_model("groove_humanize_2bar", {"enc_size": 8, "dec_size": 8,
                                                 "latent_dim": 4}, REP).eval()
    hits = torch.randint(0, 512, (3, REP.steps))
    mask = torch.ones(3, REP.steps, dtype=torch.bool)
    played = [Batch(torch.randint(0, 17, (3, REP.steps, REP.positions)), mask, {HITS: hits})
              for _ in range(2)]
    assert torch.equal(model.encode(played[0]).mean, model.encode(played[1]).mean)
    other = Batch(played[0].tokens, mask, {HITS: hits.roll(1, 0)})
    assert not torch.equal(model.encode(played[0]).mean, model.encode(other).mean)


@pytest.fixture(scope="module")
def groove_model(tmp_path_factory) -> Path:
    """A tiny groove model trained a few steps on a few real performances."""
    if not GROOVE.is_dir():
        pytest.skip("groove corpus not built")
    from click.testing import CliRunner

    from musicae.cli import main

    root = tmp_path_factory.mktemp("beats")
    for split, count in (("train", 3), ("valid", 1), ("test", 1)):
        (root / split).mkdir()
        for path in beats(split, count):
            shutil.copy(path, root / split / path.name)
    out = tmp_path_factory.mktemp("run") / "groove"
    done = CliRunner().invoke(main, ["train", str(root), "--preset", "groove_humanize_2bar",
                                     "--out", str(out), "--steps", "4", "--batch-size", "8",
                                     "--quiet", *TINY])
    assert done.exit_code == 0, done.output
    return out


def programmed_beat(path: Path, bars: int) -> Path:
    """A quantised rock beat at one velocity: kick, snare, eighth hi-hats (and a crash)."""
    hits = [(36, 0), (38, 4), (36, 8), (38, 12)] + [(42, s) for s in range(0, 16, 2)]
    notes = [(pitch, bar * 16 + s, bar * 16 + s + 1) for bar in range(bars) for pitch, s in hits]
    return write_parts(path, [(0, True, notes + [(49, 0, 1)]), (33, False, [(40, 0, 16)])])


def test_groove_plays_the_hits_of_a_beat_and_no_others(cli, groove_model, tmp_path):
    beat = programmed_beat(tmp_path / "beat.mid", bars=3)  # the last window: half silence
    done = cli("groove", groove_model, beat, "-o", tmp_path / "out", "--temperature", "1",
               "--seed", "0", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["windows"] == 2 and summary["hits_left_as_read"] == 0
    played = tmp_path / "out" / "beat_groove.mid"
    assert drum_hits(played) == drum_hits(beat)
    midi = pretty_midi.PrettyMIDI(str(played))
    kit = next(i for i in midi.instruments if i.is_drum)
    velocities = {n.velocity for n in kit.notes}
    sixteenth = 60 / 120 / 4
    late = [n.start / sixteenth - round(n.start / sixteenth) for n in kit.notes]
    assert len(velocities) > 1 and np.abs(late).max() > 0  # played, not programmed
    assert [len(i.notes) for i in midi.instruments if not i.is_drum] == [1]  # the bass kept
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["command"] == "groove" and record["temperature"] == 1.0


def test_a_file_without_drums_is_a_one_line_error(cli_process, groove_model, tmp_path):
    tune = write_tune(tmp_path / "tune.mid", bars=4)
    done = cli_process("groove", groove_model, tune, "-o", tmp_path / "out")
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert lines == [f"error: {tune}: no drums"]


def test_the_python_handle_grooves_a_pretty_midi(groove_model, tmp_path):
    beat = pretty_midi.PrettyMIDI(str(programmed_beat(tmp_path / "beat.mid", bars=2)))
    played = musicae.load(groove_model, device="cpu").groove(beat, temperature=1.0, seed=0)
    assert isinstance(played, pretty_midi.PrettyMIDI)
    played.write(str(tmp_path / "played.mid"))
    assert drum_hits(tmp_path / "played.mid") == drum_hits(tmp_path / "beat.mid")
