"""The bundled groove and pop909 corpora: their splits and manifests, POP909's bar lines
on the annotated downbeats, its chord files in musicae's vocabulary, and windows from both.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from musicae.datasets.midi import BUNDLED, SPLITS, bundled, prepare, resolve_data
from musicae.midi.notes import read_midi
from musicae.presets import representation
from musicae.representations.chords import CHORD_CLASSES, chord_tones, parse_chord

GROOVE = bundled("groove")
POP909 = bundled("pop909")
INFO_SPLITS = {"train": "train", "validation": "valid", "test": "test"}
POP_FILES = (".mid", ".beat_midi.txt", ".chord_midi.txt", ".key_audio.txt", ".chords.csv")
TRACKS = ("MELODY", "BRIDGE", "PIANO")
MAPPINGS = {"clean", "approx", "no_third", "none"}


def manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pop_songs() -> dict[str, dict[str, str]]:
    """A few POP909 songs worth checking, one per case, by a name for the case."""
    rows = manifest(POP909)
    cases = {
        "4/4 with a pickup": lambda r: r["meter"] == "4/4" and int(r["pickup_beats"]) > 0,
        "4/4 with irregular bars": lambda r: r["meter"] == "4/4" and int(r["irregular_bars"]),
        "3/4": lambda r: r["meter"] == "3/4",
        "12/8": lambda r: r["meter"] == "12/8",
        "9/8": lambda r: r["meter"] == "9/8",
    }
    return {case: next(r for r in rows if keep(r)) for case, keep in cases.items()}


SONGS = pop_songs()


def test_both_are_bundled_corpus_names():
    for name in ("groove", "pop909"):
        assert name in BUNDLED
        assert resolve_data(name) == bundled(name)
        assert (bundled(name) / "SOURCE").read_text().count("commit: ") == 1


def test_groove_keeps_the_authors_split_and_info():
    rows = manifest(GROOVE)
    with open(GROOVE / "info.csv", newline="", encoding="utf-8") as handle:
        info = {f"groove/{r['midi_filename']}": r for r in csv.DictReader(handle)}
    assert len(rows) == len(info) == 1150
    assert len({r["file"] for r in rows}) == len(rows)
    for row in rows:
        assert row["split"] == INFO_SPLITS[info[row["source_path"]]["split"]]
        assert row["file"].startswith(f"{row['split']}/{row['drummer']}_")
        assert (GROOVE / row["file"]).is_file()
    on_disk = {p.relative_to(GROOVE).as_posix() for p in GROOVE.glob("*/*.mid")}
    assert on_disk == {r["file"] for r in rows}
    assert Counter(r["split"] for r in rows) == {"train": 897, "valid": 124, "test": 129}


def test_pop909_is_split_by_song_with_its_annotations_beside():
    rows = manifest(POP909)
    assert len({r["song"] for r in rows}) == len(rows) == 909
    assert Counter(r["split"] for r in rows) == {"train": 727, "valid": 91, "test": 91}
    for row in rows:
        stem = POP909 / row["split"] / row["song"]
        assert all(Path(f"{stem}{suffix}").is_file() for suffix in POP_FILES), row["song"]
    for split in SPLITS:
        assert len(list((POP909 / split).glob("*.mid"))) == Counter(
            r["split"] for r in rows)[split]


def annotated_downbeats(row: dict[str, str]) -> np.ndarray:
    """Seconds of the song's bar downbeats in the written file: beat_midi.txt's column 3
    where bars are 4 beats, column 2 where they are 3, less the file's offset."""
    beats = np.loadtxt(POP909 / row["split"] / f"{row['song']}.beat_midi.txt", ndmin=2)
    column = 2 if row["meter"] in ("4/4", "12/8") else 1
    return beats[beats[:, column] == 1, 0] - float(row["offset_seconds"])


@pytest.mark.parametrize("case", sorted(SONGS))
def test_pop909_bar_lines_fall_on_the_annotated_downbeats(case):
    row = SONGS[case]
    midi = pretty_midi.PrettyMIDI(str(POP909 / row["file"]))
    expected = annotated_downbeats(row)
    bar_lines = midi.get_downbeats()
    nearest = np.abs(expected[:, None] - bar_lines[None, :]).min(axis=1)
    assert nearest.max() < 1e-3, f"{row['song']}: a downbeat {nearest.max():.3f} s off"
    # and no bar line between two annotated downbeats
    inside = bar_lines[(bar_lines > expected[0] + 1e-3) & (bar_lines < expected[-1] - 1e-3)]
    assert len(inside) == len(expected) - 2
    signature = midi.time_signature_changes[0]
    assert f"{signature.numerator}/{signature.denominator}" in row["meters"]


@pytest.mark.parametrize("case", sorted(SONGS))
def test_pop909_keeps_the_three_named_tracks_and_musicae_reads_its_meter(case):
    row = SONGS[case]
    midi = pretty_midi.PrettyMIDI(str(POP909 / row["file"]))
    assert [inst.name for inst in midi.instruments] == [*TRACKS, "CHORDS"]
    assert all(inst.program == 0 and not inst.is_drum for inst in midi.instruments)
    assert [len(inst.notes) for inst in midi.instruments[:3]] == [
        int(row[f"{name.lower()}_notes"]) for name in TRACKS]
    piece = read_midi(POP909 / row["file"])
    assert piece.names == (*TRACKS, "CHORDS")
    # the CHORDS track plays the chords of NNN.chords.csv, each from where it starts
    with open(POP909 / row["split"] / f"{row['song']}.chords.csv", newline="") as handle:
        annotated = [(float(c["start"]), parse_chord(c["label"])) for c in csv.DictReader(handle)]
    played: dict[float, set[int]] = {}
    for note in midi.instruments[3].notes:
        played.setdefault(round(midi.time_to_tick(note.start) / midi.resolution, 3),
                          set()).add(note.pitch % 12)
    labels = dict(annotated)
    for start, tones in played.items():
        assert tones == set(chord_tones(labels[start])), (row["song"], start)
    found = Counter(meter.name for meter in piece.meters)
    assert found.most_common(1)[0][0] == row["meter"]
    assert set(found) <= set(row["meters"].split("+"))


def test_pop909_chord_files_are_in_the_vocabulary_and_on_beats():
    rows = manifest(POP909)
    mappings: Counter = Counter()
    for row in rows:
        beat = 1.5 if row["meter"].endswith("/8") else 1.0
        with open(POP909 / row["split"] / f"{row['song']}.chords.csv", newline="") as handle:
            chords = list(csv.DictReader(handle))
        assert len(chords) == int(row["chords"])
        starts = np.array([float(c["start"]) for c in chords])
        ends = np.array([float(c["end"]) for c in chords])
        assert np.all(ends > starts) and np.all(np.diff(starts) > 0), row["song"]
        offbeat = np.abs(starts / beat - np.round(starts / beat))
        assert offbeat.max() < 0.01, f"{row['song']}: a chord starts off the beat"
        for chord in chords:
            assert 0 <= parse_chord(chord["label"]) < CHORD_CLASSES
            assert chord["mapping"] in MAPPINGS
            mappings[chord["mapping"]] += 1
            if chord["mapping"] == "clean" and chord["symbol"] != "N":
                root, quality = chord["symbol"].split("/")[0].split(":")
                suffix = {"maj": "", "min": "m", "dim": "dim", "aug": "aug"}[quality]
                assert parse_chord(chord["label"]) == parse_chord(root + suffix)
    assert mappings["clean"] > 0.8 * sum(mappings.values())


def a_few(root: Path, files: list[str], scratch: Path) -> Path:
    """A folder holding copies of ``files`` (paths under ``root``)."""
    for name in files:
        shutil.copy(root / name, scratch / Path(name).name)
    return scratch


def test_prepare_yields_windows_from_a_few_groove_beats(tmp_path):
    beats = [r["file"] for r in manifest(GROOVE) if r["beat_type"] == "beat"][:3]
    report = prepare(a_few(GROOVE, beats, tmp_path), representation("drums_2bar"),
                     workers=1, progress=False)
    assert report.files_used == 3 and report.windows > 0


@pytest.mark.parametrize("preset", ["mel_chords_2bar", "pianoroll_2bar", "mel_2bar_small"])
def test_prepare_yields_windows_from_a_few_pop909_songs(tmp_path, preset):
    songs = [SONGS[case]["file"] for case in ("4/4 with a pickup", "3/4", "12/8")]
    report = prepare(a_few(POP909, songs, tmp_path), representation(preset), workers=1,
                     progress=False)
    assert report.files_used == 3 and report.skipped == {}
    assert {"4/4", "3/4", "12/8"} <= set(report.windows_by_meter)
