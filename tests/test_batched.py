"""The batched path (many files in one set of numpy calls) gives what the per-file path
gives: the same windows, in the same order and dtype, the same meter counts, skipped
bars and reasons, on every bundled file, on damaged copies of them, and under
settings that exercise every branch (octave shift and drop, programs, hops, caps,
bars, gaps, resolution)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from musicae.datasets.midi import bundled, list_midi
from musicae.datasets.midi_worker import Task, process_chunk, process_file
from musicae.representations import Melody, MelodyChords, compiled
from musicae.representations.batched import batch_windows
from musicae.representations.codec import piece_windows
from musicae.representations.notes import UnusableMidi, parse_midi, read_midi_bytes
from tests.fixtures.mutate import MUTATIONS, mutate

pytestmark = pytest.mark.skipif(not compiled.available(), reason="symusic not installed")

SETTINGS = {
    "default": {},
    "drop, programs, 4 bars, hop 2": dict(bars=4, hop_bars=2, out_of_range="drop",
                                          programs=tuple(range(0, 80))),
    "cap, min_notes, gap 2, narrow range": dict(max_windows_per_file=3, min_notes=4,
                                                gap_bars=2, min_pitch=55, max_pitch=84),
    "8 steps a quarter, 24-step slots": dict(steps_per_quarter=8, slot=24, bars=1),
}


def files_of(name: str, every: int = 1) -> list[str]:
    folder = bundled(name)
    if not folder.is_dir():
        pytest.skip(f"bundled corpus {name} not built")
    return [str(path) for path in list_midi(folder)][::every]


def per_file(data: bytes, path: str, rep: Melody):
    try:
        return piece_windows(parse_midi(data, path, rep.steps_per_quarter), rep, path)
    except UnusableMidi as exc:
        return exc


def assert_same(paths: list[str], datas: list[bytes], rep: Melody) -> int:
    """Both paths agree on every file the compiled reader reads; how many it read."""
    parsed = [compiled.read_events(data) for data in datas]
    index = [i for i, found in enumerate(parsed) if found is not None]
    batched = batch_windows([parsed[i] for i in index], rep, [paths[i] for i in index])
    for i, got in zip(index, batched, strict=True):
        want = per_file(datas[i], paths[i], rep)
        if isinstance(want, UnusableMidi) or isinstance(got, UnusableMidi):
            assert str(got) == str(want), paths[i]
            continue
        assert list(got.arrays) == list(want.arrays), paths[i]
        for name in want.arrays:
            assert got.arrays[name].dtype == want.arrays[name].dtype, (paths[i], name)
            np.testing.assert_array_equal(got.arrays[name], want.arrays[name], err_msg=paths[i])
        assert list(got.windows_by_meter.items()) == list(want.windows_by_meter.items())
        assert got.bars_skipped == want.bars_skipped, paths[i]
    return len(index)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_batched_windows_equal_per_file_windows_on_the_bundled_corpora(setting):
    rep = Melody(**SETTINGS[setting])
    every = 1 if setting == "default" else 5  # the full folk corpus once
    paths = files_of("folk", every) + files_of("chorales")
    datas = [read_midi_bytes(path) for path in paths]
    assert assert_same(paths, datas, rep) == len(paths)


def test_batched_windows_equal_per_file_windows_on_damaged_files(tmp_path):
    rng = random.Random(7)
    sources = files_of("folk", 50) + files_of("chorales", 10)
    paths, datas = [], []
    for i in range(400):
        kind = list(MUTATIONS)[i % len(MUTATIONS)]
        _, data = mutate(read_midi_bytes(rng.choice(sources)), rng, kind)
        paths.append(str(tmp_path / f"{i}-{kind}.mid"))
        datas.append(data)
    read = assert_same(paths, datas, Melody())
    assert read > 100  # many damaged files still parse, and must agree too


def test_a_chunk_gives_each_file_what_it_gives_alone(tmp_path):
    """The worker's batches agree with one file at a time, files the compiled reader
    refuses (not MIDI, empty, missing) included, in order."""
    good = files_of("folk", 500)
    (tmp_path / "empty.mid").write_bytes(b"")
    (tmp_path / "text.mid").write_text("not midi")
    paths = [*good[:3], str(tmp_path / "empty.mid"), *good[3:], str(tmp_path / "text.mid"),
             str(tmp_path / "missing.mid")]
    rep = Melody()
    tasks = [Task(path, rep, 10.0) for path in paths]
    for got, task in zip(process_chunk(tasks), tasks, strict=True):
        want = process_file(task)
        assert (got.digest, got.reason, got.windows, got.stat) == \
            (want.digest, want.reason, want.windows, want.stat), task.path
        assert got.windows_by_meter == want.windows_by_meter
        if got.arrays is not None:
            np.testing.assert_array_equal(got.arrays["tokens"], want.arrays["tokens"])


def test_kinds_without_a_batched_path_are_refused():
    with pytest.raises(ValueError, match="file by file"):
        batch_windows([], MelodyChords(), [])
