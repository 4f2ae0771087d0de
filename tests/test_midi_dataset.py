"""Folders of MIDI → windows: bad files reported, caching, splits, single files."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import tracemalloc
from pathlib import Path

import mido
import numpy as np
import pytest
from fixtures.midi_factory import (
    TICKS_PER_BEAT,
    note_messages,
    tune_notes,
    write_parts,
    write_raw,
    write_tune,
)

from musicae import files
from musicae.datasets import midi, midi_cache, midi_worker
from musicae.datasets.midi import (
    bundled_folk,
    list_midi,
    load_windows,
    prepare,
    resolve_data,
    split_files,
    windows_from_file,
)
from musicae.datasets.midi_worker import Task, process_file
from musicae.errors import MusicaeError
from musicae.midi.notes import read_midi
from musicae.representations import Melody, MelodyChords, Pianoroll
from musicae.representations.codec import Rows, piece_windows

MELODY = Melody(bars=2)
MEGA_DELAYS = 10  # ten delta times of 200M ticks: a note about a million bars away
MEGA_DELAY = 200_000_000
GOOD_METERS = [(4, 4), (3, 4), (6, 8), (2, 4)]


# --- broken files, one maker per kind --------------------------------------------


def _corrupt(path: Path) -> None:
    path.write_bytes(b"MThd" + bytes(range(7, 200)))


def _truncated(path: Path) -> None:
    whole = write_tune(path, bars=8).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def _not_midi(path: Path) -> None:
    path.write_text("X:1\nT:an ABC tune saved with the wrong name\nK:G\nGABc|\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _no_notes(path: Path) -> None:
    write_raw(path, [[mido.MetaMessage("set_tempo", tempo=500_000, time=0)]])


def _drums_only(path: Path) -> None:
    write_parts(path, [(0, True, [(36, s, s + 1) for s in range(0, 64, 2)])])


def _absurd_tempo(path: Path) -> None:
    tempo = mido.MetaMessage("set_tempo", tempo=1, time=0)  # 60 million qpm
    write_raw(path, [[tempo, *[m for i in range(16) for m in note_messages(60 + i, 0, 240)]]])


def _note_a_million_bars_away(path: Path) -> None:
    write_raw(path, [[*note_messages(60, 0, 240), *_far_away(), *note_messages(62, 0, 240)]])


def _far_away() -> list[mido.MetaMessage]:
    return [mido.MetaMessage("text", text="...", time=MEGA_DELAY) for _ in range(MEGA_DELAYS)]


def _smpte(path: Path) -> None:
    data = bytearray(write_tune(path).read_bytes())
    data[12:14] = bytes([0xE7, 0x28])  # 25 frames per second, 40 ticks per frame
    path.write_bytes(bytes(data))


BROKEN = {
    "corrupt or truncated MIDI": [_corrupt, _truncated],
    "not a MIDI file": [_not_midi],
    "empty file": [_empty],
    "no notes": [_no_notes],
    "drums only": [_drums_only],
    "absurd tempo": [_absurd_tempo],
    "absurd length": [_note_a_million_bars_away],
    "SMPTE timing unsupported": [_smpte],
}


def write_good(folder: Path, count: int) -> list[Path]:
    """Tunes in every meter the folk corpus has, different in content."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_tune(folder / f"good_{i:02d}.mid", 4, GOOD_METERS[i % 4], seed=i)
        for i in range(count)
    ]


def write_broken(folder: Path, count: int) -> dict[str, int]:
    """``count`` broken files cycling through every kind; reason → files written."""
    folder.mkdir(parents=True, exist_ok=True)
    makers = [(reason, make) for reason, kinds in BROKEN.items() for make in kinds]
    expected: dict[str, int] = {}
    for i in range(count):
        reason, make = makers[i % len(makers)]
        make(folder / f"broken_{i:02d}.mid")
        expected[reason] = expected.get(reason, 0) + 1
    return expected


# --- bad files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "make"), [(r, m) for r, makers in BROKEN.items() for m in makers]
)
def test_each_kind_of_bad_file_is_skipped_with_its_reason(tmp_path, reason, make):
    make(tmp_path / "bad.mid")
    result = process_file(Task(str(tmp_path / "bad.mid"), MELODY, 10.0))
    assert result.reason == reason and result.windows == 0


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setitem(files.LIMITS, "midi", 100)
    path = write_tune(tmp_path / "big.mid", bars=8)
    result = process_file(Task(str(path), MELODY, 10.0))
    assert result.reason == "file too large" and result.digest is None


def test_a_note_a_million_bars_away_allocates_nothing_of_that_size(tmp_path):
    _note_a_million_bars_away(tmp_path / "far.mid")
    tracemalloc.start()
    with pytest.raises(MusicaeError, match="absurd length"):
        read_midi(tmp_path / "far.mid")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20


def test_a_far_note_within_limits_yields_windows_only_where_music_is(tmp_path):
    far_bars = 5_000  # 20,000 quarters: allowed, but no window may cover the silence
    notes = tune_notes(2, 16) + [(62, far_bars * 16, far_bars * 16 + 4)]
    piece = read_midi(write_parts(tmp_path / "far.mid", [(0, False, notes)]))
    tracemalloc.start()
    found = piece_windows(piece, Pianoroll(bars=2))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(found.tokens) == 1 and peak < 2**20


def test_a_file_over_its_time_limit_is_skipped(tmp_path):
    notes = [(60 + i % 24, i, i + 1) for i in range(20_000)]
    path = write_parts(tmp_path / "long.mid", [(0, False, notes)])
    assert process_file(Task(str(path), MELODY, 0.001)).reason == "time limit"
    options = {"workers": 1, "cache_dir": tmp_path / "c", "progress": False, "allow_empty": True}
    hurried = load_windows(tmp_path, MELODY, "all", time_limit=0.001, **options)
    assert hurried.report.skipped == {"time limit": 1}
    patient = load_windows(tmp_path, MELODY, "all", time_limit=None, **options)
    assert (patient.report.files_parsed, patient.report.files_used) == (1, 1)


def test_twenty_broken_files_among_good_ones(tmp_path):
    good = write_good(tmp_path / "data", 10)
    expected = write_broken(tmp_path / "data", 20)
    report = prepare(tmp_path / "data", MELODY, workers=2, cache_dir=tmp_path / "c")
    assert report.files_seen == 30 and report.files_used == len(good)
    assert report.skipped == expected and sum(report.skipped.values()) == 20
    assert {"4/4", "3/4", "6/8", "2/4"} <= set(report.windows_by_meter)
    assert report.windows == sum(report.windows_by_meter.values())
    assert report.to_dict()["skipped"] == expected
    corrupt = expected["corrupt or truncated MIDI"]
    assert f"skipped {corrupt}: corrupt or truncated MIDI" in report.summary()


def test_prepare_command_reports_json_and_fails_on_nothing_usable(tmp_path, cli):
    write_good(tmp_path / "mixed", 4)
    expected = write_broken(tmp_path / "mixed", 20)
    cache = tmp_path / "cache"
    done = cli("prepare", tmp_path / "mixed", "--preset", "mel_2bar_small", "--json",
               "--cache", cache, "--workers", 1, "--quiet")  # fmt: skip
    assert done.exit_code == 0, done.output
    found = json.loads(done.stdout)
    assert (found["files_seen"], found["files_used"], found["skipped"]) == (24, 4, expected)
    assert found["windows"] > 0
    write_broken(tmp_path / "bad", 3)
    failed = cli("prepare", tmp_path / "bad", "--preset", "mel_2bar_small", "--cache", cache,
                 "--quiet")  # fmt: skip
    assert failed.exit_code != 0
    assert "no usable windows (3 files:" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_a_folder_of_only_broken_files_is_one_line_error(tmp_path):
    write_broken(tmp_path / "bad", 9)
    with pytest.raises(MusicaeError) as caught:
        prepare(tmp_path / "bad", MELODY, workers=1, cache_dir=tmp_path / "c", progress=False)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'bad'}: no usable windows")
    assert "9 files" in message and "empty file" in message


def test_a_folder_without_midi_files_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(MusicaeError, match="no MIDI files"):
        prepare(tmp_path, MELODY, workers=1, cache_dir=tmp_path / "c", progress=False)


# --- cache -------------------------------------------------------------------------


def test_second_run_reads_the_cache_and_a_new_file_is_the_only_one_parsed(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_good(data, 6)
    write_broken(data, 2)
    first = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert first.report.files_parsed == 8
    second = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert (second.report.files_parsed, second.report.files_cached) == (0, 8)
    assert np.array_equal(first.tokens, second.tokens)
    assert np.array_equal(first.file_index, second.file_index)
    volatile = ("files_parsed", "files_cached", "seconds")
    assert {k: v for k, v in second.report.to_dict().items() if k not in volatile} == \
        {k: v for k, v in first.report.to_dict().items() if k not in volatile}
    os.utime(data / "good_01.mid", ns=(1, 1))  # a new time: read again, the same windows
    touched = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert (touched.report.files_parsed, touched.report.files_cached) == (1, 7)
    assert np.array_equal(first.tokens, touched.tokens)
    again = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert (again.report.files_parsed, again.report.files_cached) == (0, 8)
    write_tune(data / "new.mid", 4, (3, 4), seed=42)
    third = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert (third.report.files_parsed, third.report.files_cached) == (1, 8)
    assert third.report.files_used == 7
    write_tune(data / "good_00.mid", 6, (4, 4), seed=99)  # same name, new content
    fourth = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert fourth.report.files_parsed == 1


def test_a_result_travels_between_processes_whole():
    """Results are pickled by position (``FileResult.__reduce__``): every field arrives."""
    rows = Rows({"tokens": np.arange(12).reshape(4, 3)}, 1, 3)
    sent = midi_cache.FileResult("ab" * 16, "too short", None, {"meter 5/4": 2}, {"4/4": 3},
                                 True, "detail", (120, 7))
    assert pickle.loads(pickle.dumps(sent)) == sent
    assert [f.name for f in dataclasses.fields(sent)] == [
        "digest", "reason", "arrays", "bars_skipped", "windows_by_meter", "processed", "detail",
        "stat"]  # the order __reduce__ gives them in
    got = pickle.loads(pickle.dumps(rows))
    assert (got.start, got.rows) == (1, 2) and np.array_equal(got["tokens"], rows["tokens"])


def test_a_stored_report_of_another_shape_is_made_again(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_good(data, 3)
    first = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    (index,) = cache.rglob("index.json")
    info = json.loads(index.read_text())
    index.write_text(json.dumps(info | {"report": {"written by": "another version"}}))
    again = load_windows(data, MELODY, "all", workers=1, cache_dir=cache, progress=False)
    assert (again.report.files_parsed, again.report.files_cached) == (0, 3)
    assert again.report.windows == first.report.windows


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    write_good(tmp_path / "data", 6)
    real = midi.run_tasks

    def stop_after_three(tasks, workers, progress):
        for done, result in enumerate(real(tasks, workers, progress)):
            if done == 3:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(midi, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(midi, "run_tasks", stop_after_three)
    options = {"workers": 1, "cache_dir": tmp_path / "c", "progress": False}
    with pytest.raises(KeyboardInterrupt):
        load_windows(tmp_path / "data", MELODY, "all", **options)
    monkeypatch.setattr(midi, "run_tasks", real)
    resumed = load_windows(tmp_path / "data", MELODY, "all", **options)
    assert (resumed.report.files_parsed, resumed.report.files_used) == (3, 6)


def test_cache_is_keyed_by_codec_settings(tmp_path):
    write_good(tmp_path / "data", 3)
    prepare(tmp_path / "data", MELODY, workers=1, cache_dir=tmp_path / "c", progress=False)
    other = prepare(
        tmp_path / "data", Pianoroll(bars=2), workers=1, cache_dir=tmp_path / "c",
        progress=False,
    )  # fmt: skip
    assert other.files_parsed == 3


def test_cache_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(midi_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv(midi_cache.XDG_ENV, str(tmp_path / "xdg"))
    assert midi_cache.default_cache_dir() == tmp_path / "xdg" / "musicae"
    monkeypatch.delenv(midi_cache.XDG_ENV)
    assert midi_cache.default_cache_dir() == Path.home() / ".cache" / "musicae"
    monkeypatch.setenv(midi_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert midi_cache.default_cache_dir() == tmp_path / "mine"
    write_good(tmp_path / "data", 2)
    prepare(tmp_path / "data", MELODY, workers=1, progress=False)
    assert list((tmp_path / "mine" / "midi").rglob("*.npy"))


# --- splits, arrays, names ---------------------------------------------------------


def test_folders_without_splits_are_split_by_path_hash(tmp_path):
    for i in range(200):
        (tmp_path / f"t{i:03d}.mid").write_bytes(b"")
    splits = split_files(tmp_path)
    assert len(splits["all"]) == 200
    assert sorted(splits["train"] + splits["valid"] + splits["test"]) == splits["all"]
    assert 160 <= len(splits["train"]) <= 195 and splits["valid"] and splits["test"]
    assert split_files(tmp_path) == splits


def test_split_subfolders_are_used_as_they_are(tmp_path):
    for split in ("train", "valid", "test"):
        write_good(tmp_path / split, 1)
    splits = split_files(tmp_path)
    assert [p.parent.name for p in splits["valid"]] == ["valid"]
    assert len(splits["all"]) == 3


def test_windows_arrays_line_up(tmp_path):
    files = write_good(tmp_path, 4)
    found = load_windows(tmp_path, MELODY, "all", workers=1, cache_dir=tmp_path / "c",
                         progress=False)  # fmt: skip
    n = len(found)
    assert found.tokens.shape == (n, 32) and found.tokens.dtype == np.uint8  # 90 classes
    assert found.mask.shape == (n, 32) and found.mask.dtype == bool
    assert np.array_equal(found.mask[:, :16].sum(axis=1), found.lengths[:, 0])
    assert not found.tokens[~found.mask].any()
    assert found.files == files and set(found.file_index.tolist()) == {0, 1, 2, 3}
    assert found.meter[found.file_index == 2][0].tolist() == [6, 8]


def test_data_names_resolve(tmp_path):
    assert resolve_data(tmp_path) == tmp_path
    assert bundled_folk() == Path(__file__).resolve().parents[1] / "data" / "folk"
    with pytest.raises(MusicaeError, match="nowhere: no such folder"):
        resolve_data(tmp_path / "nowhere")
    if bundled_folk().is_dir():
        assert resolve_data("folk") == bundled_folk()


def test_single_files_give_windows_or_say_why(tmp_path):
    found = windows_from_file(write_tune(tmp_path / "t.mid", 3, (3, 4)), MELODY)
    assert len(found) == 2 and found.meter[0].tolist() == [3, 4]
    short = write_tune(tmp_path / "short.mid", 1)
    with pytest.raises(MusicaeError, match="short.mid: shorter than 2 bars"):
        windows_from_file(short, MELODY)
    _not_midi(tmp_path / "text.mid")
    with pytest.raises(MusicaeError, match="text.mid: not a MIDI file"):
        windows_from_file(tmp_path / "text.mid", MELODY)
    with pytest.raises(MusicaeError, match="missing.mid: no such file"):
        windows_from_file(tmp_path / "missing.mid", MELODY)


def test_ticks_per_beat_of_written_fixtures():
    assert TICKS_PER_BEAT == 480


def test_paths_that_are_not_plain_files_are_skipped_without_hanging(cli, tmp_path):
    """A FIFO and a symlink to a device named .mid are refused before any read blocks or
    runs away; a file name that is not UTF-8 is read like any other."""
    folder = tmp_path / "odd"
    folder.mkdir()
    write_tune(folder / "good.mid", bars=4)
    os.mkfifo(folder / "pipe.mid")
    (folder / "zero.mid").symlink_to("/dev/zero")
    odd_name = os.fsencode(folder) + b"/caf\xe9.mid"  # Latin-1, not UTF-8
    with open(odd_name, "wb") as f:
        f.write((folder / "good.mid").read_bytes())
    done = cli("prepare", folder, "--preset", "mel_2bar_small", "--workers", "1", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["files_used"] == 2 and report["skipped"] == {"not a regular file": 2}
    assert sorted(report["skipped_files"]["not a regular file"]) == ["pipe.mid", "zero.mid"]
    with open(os.fsencode(folder) + b"/bad\xff.mid", "wb") as f:  # skipped: named printably
        f.write(b"not midi")
    done = cli("prepare", folder, "--preset", "mel_2bar_small", "--workers", "1")
    assert done.exit_code == 0 and "bad\\xff.mid" in done.output, done.output
    assert "Traceback" not in done.output


def test_unreadable_and_symlinked_folders_are_reported(cli, tmp_path, monkeypatch):
    """A sub-folder that cannot be listed is named in the report with its reason (its
    files are not silently dropped); a symlinked folder is reported, not followed (it
    would rename files, moving them between splits, or lead out of the tree)."""
    folder = tmp_path / "music"
    for name in ("open", "locked"):
        (folder / name).mkdir(parents=True)
        write_tune(folder / name / f"{name}.mid", bars=4)
    (folder / "open" / "up").symlink_to("..")  # a loop
    (tmp_path / "elsewhere").mkdir()
    write_tune(tmp_path / "elsewhere" / "far.mid", bars=4)
    (folder / "far").symlink_to(tmp_path / "elsewhere")
    locked = folder / "locked"
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads any folder: make the kernel's refusal by hand
        listing = os.scandir

        def scandir(path="."):
            if not isinstance(path, int) and Path(os.fsdecode(path)) == locked:
                raise PermissionError(13, "Permission denied", os.fsdecode(path))
            return listing(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        done = cli("prepare", folder, "--preset", "mel_2bar_small", "--workers", "1", "--json")
        human = cli("prepare", folder, "--preset", "mel_2bar_small", "--workers", "1")
    finally:
        locked.chmod(0o755)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["files_used"] == 1  # open/open.mid
    assert report["skipped_folders"] == {
        "far": "symlinked folder, not followed",
        "locked": "permission denied",
        "open/up": "symlinked folder, not followed",
    }
    assert "skipped folder locked: permission denied" in human.output
    assert "Traceback" not in human.output


def test_prepare_runs_without_torch(tmp_path):
    """`musicae prepare` needs only the preset's settings and the MIDI pipeline: it never
    imports torch (about 2 s of every call), and says so by doing its job without it."""
    import subprocess
    import sys

    code = ("import sys; from musicae.cli import main\n"
            "try:\n    main(['prepare', 'folk', '--preset', 'mel_2bar_small', '--quiet',"
            " '--json'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'prepare imported torch'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=os.environ | {"MUSICAE_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["windows"] > 100_000


def test_a_split_is_written_from_its_pieces_as_their_concatenation(tmp_path):
    parts = [np.arange(6, dtype=np.int16).reshape(3, 2), np.zeros((0, 2), np.uint8),
             np.arange(4, dtype=np.int64).reshape(2, 2)[1:]]
    midi_cache._atomic_save_npy(tmp_path / "a.npy", [(p, 0, len(p)) for p in parts])
    got = np.load(tmp_path / "a.npy", mmap_mode="r")
    want = np.concatenate(parts)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    midi_cache._atomic_save_npy(tmp_path / "c.npy", [(parts[0], 1, 3), (parts[2], 0, 0)])
    assert np.array_equal(np.load(tmp_path / "c.npy"), parts[0][1:3])
    with pytest.raises(ValueError, match="different shapes"):
        midi_cache._atomic_save_npy(tmp_path / "b.npy", [(np.zeros((1, 2)), 0, 1),
                                                         (np.zeros((1, 3)), 0, 1)])
    assert not (tmp_path / "b.npy").exists()


@pytest.mark.parametrize("rep", [Pianoroll(), MelodyChords()], ids=["batched", "file by file"])
def test_windows_past_the_spill_limit_are_kept_on_disk_and_stored_the_same(tmp_path,
                                                                          monkeypatch, rep):
    """Preparing a folder holds at most ``SPILL_BYTES`` of its windows in memory: further
    batches (and groups of files made one by one) wait on disk. The stored split is the
    same, and the spill folder goes."""
    data = tmp_path / "data"
    data.mkdir()
    for path in list_midi(bundled_folk())[::40]:
        (data / path.name).write_bytes(path.read_bytes())
    kept = load_windows(data, rep, "all", workers=2, cache_dir=tmp_path / "a", progress=False)
    spilled = []
    real = midi_cache.Spilled.__init__
    monkeypatch.setattr(midi_cache.Spilled, "__init__",
                        lambda self, *args: spilled.append(args[0]) or real(self, *args))
    monkeypatch.setattr(midi_cache, "SPILL_BYTES", 0)
    monkeypatch.setattr(midi_cache, "GROUP_FILES_WINDOWS", 100)
    monkeypatch.setattr(midi_worker, "TASKS_PER_CHUNK", 16)  # several batches
    again = load_windows(data, rep, "all", workers=2, cache_dir=tmp_path / "b", progress=False)
    assert len(spilled) > 10
    for name in kept.arrays:
        assert np.array_equal(kept.arrays[name], again.arrays[name]), name
    assert again.report.pitch_range == kept.report.pitch_range
    assert not list((tmp_path / "b").rglob(".spill-*"))
    (index,) = (tmp_path / "b").rglob("index.json")
    stale, live = index.parent / ".spill-1-0000", index.parent / ".spill-1-1111"
    for folder in (stale, live):  # a killed run's (its lock free), a running one's
        folder.mkdir()
        (folder / ".lock").touch()
        os.utime(folder, (1, 1))  # made long ago (a folder just made is left alone)
    os.utime(next(data.iterdir()), ns=(1, 1))  # one file to read again
    with midi_cache._locked(live):
        load_windows(data, rep, "all", workers=1, cache_dir=tmp_path / "b", progress=False)
    assert not stale.exists() and live.exists()


def test_a_cache_that_cannot_be_written_is_a_one_line_error(cli, tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_good(data, 3)
    assert cli("prepare", data, "--preset", "mel_2bar_small", "--cache", cache,
               "--workers", "1").exit_code == 0
    (sets,) = cache.rglob("sets")
    shutil.rmtree(sets)
    sets.write_text("in the way")  # a real OSError where the splits are kept
    done = cli("prepare", data, "--preset", "mel_2bar_small", "--cache", cache, "--workers", "1")
    assert done.exit_code != 0 and "Traceback" not in done.output
    assert "cannot write to the cache folder" in done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
