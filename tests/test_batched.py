"""The codec (many files in one set of numpy calls; a piece is a batch of one) gives what
the plain per-file reference in ``tests/oracle.py`` gives: the same windows, in the
same order and dtype, the same meter counts, skipped bars and reasons, on every
bundled file, on damaged copies of them, and under settings that exercise every
branch (octave shift and drop, programs, hops, caps, bars, gaps, resolution), for
files read by the compiled parser and for pieces, of every kind."""

from __future__ import annotations

import io
import random
import tracemalloc

import mido
import numpy as np
import pytest

from musicae.datasets.midi import bundled, list_midi, load_windows
from musicae.datasets.midi_worker import Task, process_chunk, process_file
from musicae.midi import compiled
from musicae.midi.notes import UnusableMidi, parse_midi, read_midi_bytes
from musicae.representations import (
    REPRESENTATIONS,
    Drums,
    Melody,
    Multitrack,
    Pianoroll,
    codec,
)
from musicae.representations.codec import batch_windows, piece_windows
from tests import oracle
from tests.fixtures.mutate import MUTATIONS, mutate

pytestmark = pytest.mark.skipif(not compiled.available(), reason="symusic not installed")

SETTINGS = {
    "default": {},
    "drop, programs, 4 bars, hop 2": dict(bars=4, hop_bars=2, out_of_range="drop",
                                          programs=tuple(range(0, 80))),
    "cap, min_notes, gap 2, narrow range": dict(max_windows_per_file=3, min_notes=4,
                                                gap_bars=2, min_pitch=55, max_pitch=84),
    "8 steps a quarter, 24-step slots": dict(steps_per_quarter=8, slot=24, bars=1),
    "named tracks (chorales' outer voices)": dict(tracks=("Soprano", "BASS")),
}


def files_of(name: str, every: int = 1) -> list[str]:
    folder = bundled(name)
    if not folder.is_dir():
        pytest.skip(f"bundled corpus {name} not built")
    return [str(path) for path in list_midi(folder)][::every]


def windows_of(function, piece, rep, path):
    try:
        return function(piece, rep, path)
    except UnusableMidi as exc:
        return exc


def assert_equal(got, want, path: str) -> None:
    if isinstance(want, UnusableMidi) or isinstance(got, UnusableMidi):
        assert str(got) == str(want), path
        return
    assert list(got.arrays) == list(want.arrays), path
    for name in want.arrays:
        assert got.arrays[name].dtype == want.arrays[name].dtype, (path, name)
        np.testing.assert_array_equal(got.arrays[name], want.arrays[name], err_msg=path)
    assert list(got.windows_by_meter.items()) == list(want.windows_by_meter.items()), path
    assert got.bars_skipped == want.bars_skipped, path


def assert_same(paths: list[str], datas: list[bytes], rep: Melody,
                wants: list | None = None) -> int:
    """The codec agrees with the oracle on every file, read as a piece and (where the kind
    allows) by the compiled reader; how many files the compiled reader read. ``wants``
    gets what the oracle gave for each file."""
    wants = [] if wants is None else wants
    for data, path in zip(datas, paths, strict=True):
        try:
            piece = parse_midi(data, path, rep.steps_per_quarter)
        except UnusableMidi as exc:  # what the compiled reader must say too
            wants.append(exc)
            continue
        wants.append(windows_of(oracle.piece_windows, piece, rep, path))
        assert_equal(windows_of(piece_windows, piece, rep, path), wants[-1], path)
    if not rep.columnar:
        return 0
    parsed = [compiled.read_events(data) for data in datas]
    index = [i for i, found in enumerate(parsed) if found is not None]
    batched = batch_windows([parsed[i] for i in index], rep, [paths[i] for i in index])
    for i, got in zip(index, batched, strict=True):
        if got is not None:  # None: to be read into a piece first
            assert_equal(got, wants[i], paths[i])
    return len(index)


KINDS = {"melody": Melody, "pianoroll": Pianoroll}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_batched_windows_equal_per_file_windows_on_the_bundled_corpora(setting, kind):
    rep = KINDS[kind](**SETTINGS[setting])
    every = 1 if setting == "default" else 5  # the full folk corpus once a kind
    paths = files_of("folk", every) + files_of("chorales")
    datas = [read_midi_bytes(path) for path in paths]
    assert assert_same(paths, datas, rep) == len(paths)


@pytest.mark.parametrize("kind", list(KINDS))
def test_batched_windows_equal_per_file_windows_on_damaged_files(tmp_path, kind):
    rng = random.Random(7)
    sources = files_of("folk", 50) + files_of("chorales", 10)
    paths, datas = [], []
    for i in range(400):
        name = list(MUTATIONS)[i % len(MUTATIONS)]
        _, data = mutate(read_midi_bytes(rng.choice(sources)), rng, name)
        paths.append(str(tmp_path / f"{i}-{name}.mid"))
        datas.append(data)
    read = assert_same(paths, datas, KINDS[kind]())
    assert read > 100  # many damaged files still parse, and must agree too


KIT = (36, 38, 42, 46, 45, 48, 50, 49, 51, 27)  # MusicVAE's kit classes, and 27: none of them


def drummed(data: bytes, seed: int) -> bytes:
    """A real file played on the drum kit: every note moved to channel 10 and a kit pitch
    by its pitch; every other file keeps its pitched parts beside."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    kit = []
    for track in midi.tracks:
        kit.append(mido.MidiTrack(
            message.copy(channel=9, note=KIT[(message.note + seed) % len(KIT)])
            if message.type in ("note_on", "note_off") else message for message in track))
    midi.tracks = kit + (list(midi.tracks) if seed % 2 else [])
    midi.type = 1 if len(midi.tracks) > 1 else midi.type
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


@pytest.mark.parametrize("setting", ["default", "drop, programs, 4 bars, hop 2",
                                     "8 steps a quarter, 24-step slots"])
def test_batched_drum_windows_equal_per_file_windows(setting):
    settings = {k: v for k, v in SETTINGS[setting].items() if k != "programs"}
    paths = files_of("folk", 10) + files_of("chorales", 2)
    datas = [drummed(read_midi_bytes(path), i) for i, path in enumerate(paths)]
    datas += [read_midi_bytes(path) for path in paths[:50]]  # no drums at all
    assert assert_same(paths + paths[:50], datas, Drums(**settings)) == len(datas)


def test_a_batch_past_its_cells_goes_in_parts_with_the_same_windows(monkeypatch):
    """A roll is 88 cells a step: files past ``BATCH_CELLS`` go in further batches (a
    file larger than that alone), with what each gives alone."""
    paths = files_of("folk", 100) + files_of("chorales", 20)
    datas = [read_midi_bytes(path) for path in paths]
    parts = []
    real = codec._parts
    monkeypatch.setattr(codec, "_parts", lambda *args: parts.append(real(*args)) or parts[-1])
    monkeypatch.setattr(codec, "BATCH_CELLS", 20_000)  # a few chorales' worth
    assert assert_same(paths, datas, Pianoroll()) == len(paths)
    assert len(parts[0]) > 10 and any(hi - lo == 1 for lo, hi in parts[0])


@pytest.mark.parametrize(("kind", "corpus"), [("melody", "folk"), ("voices", "chorales"),
                                              ("groove", "groove")])
def test_a_chunk_gives_each_file_what_it_gives_alone(tmp_path, kind, corpus):
    """The worker's batches (of compiled files, or of pieces for a kind that needs them)
    agree with one file at a time, files the readers refuse (not MIDI, empty,
    missing) included, in order."""
    good = files_of(corpus, 500 if corpus == "folk" else 60)
    (tmp_path / "empty.mid").write_bytes(b"")
    (tmp_path / "text.mid").write_text("not midi")
    paths = [*good[:3], str(tmp_path / "empty.mid"), *good[3:], str(tmp_path / "text.mid"),
             str(tmp_path / "missing.mid")]
    rep = REPRESENTATIONS[kind]()
    tasks = [Task(path, rep, 10.0) for path in paths]
    for got, task in zip(process_chunk(tasks), tasks, strict=True):
        want = process_file(task)
        assert (got.digest, got.reason, got.windows, got.stat) == \
            (want.digest, want.reason, want.windows, want.stat), task.path
        assert got.windows_by_meter == want.windows_by_meter
        if got.arrays is not None:
            np.testing.assert_array_equal(got.arrays["tokens"], want.arrays["tokens"])


def wrapped_ticks() -> bytes:
    """A type-1 file whose second track's delta times add up past 2^32 ticks: symusic's
    32-bit ticks wrap around to below zero."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    tune = mido.MidiTrack()
    for k in range(64):
        tune.append(mido.Message("note_on", note=60 + k % 12, velocity=80, time=0))
        tune.append(mido.Message("note_off", note=60 + k % 12, velocity=0, time=240))
    far = mido.MidiTrack()
    total, target = 0, 2**32 - 480 * 8
    while total + 0x0FFFFFFF < target:
        far.append(mido.MetaMessage("text", text="x", time=0x0FFFFFFF))
        total += 0x0FFFFFFF
    far.append(mido.Message("note_on", channel=1, note=72, velocity=80, time=target - total))
    far.append(mido.Message("note_off", channel=1, note=72, velocity=0, time=240))
    midi.tracks += [tune, far]
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def test_a_file_with_wrapped_ticks_goes_alone_and_leaves_its_batch_as_it_was():
    paths = files_of("folk", 2000) + ["wrapped.mid"]
    datas = [read_midi_bytes(path) for path in paths[:-1]] + [wrapped_ticks()]
    parsed = [compiled.read_events(data) for data in datas]
    assert parsed[-1].tracks[1]["time"].min() < 0
    assert batch_windows(parsed, Melody(), paths)[-1] is None  # the per-file path's
    assert assert_same(paths, datas, Melody()) == len(paths)


def test_a_batch_without_any_window_gives_each_file_its_reason():
    rep = Melody()
    notes = [mido.Message("note_on", note=60, velocity=80), mido.Message("note_off", note=60,
                                                                         time=480)]
    midi = mido.MidiFile(tracks=[mido.MidiTrack(notes)])
    out = io.BytesIO()
    midi.save(file=out)
    paths = ["one_note.mid", "one_note_again.mid"]
    got = batch_windows([compiled.read_events(out.getvalue())] * 2, rep, paths)
    assert [str(o) for o in got] == [f"{p}: shorter than 2 bars" for p in paths]


def meter_changes(bars: int) -> bytes:
    """A meter change every bar (4/4, 3/4 in turn) and a short note every other bar."""
    track = mido.MidiTrack()
    for bar in range(bars):
        beats = 3 if bar % 2 else 4
        track.append(mido.MetaMessage("time_signature", numerator=beats, denominator=4))
        if bar % 2 == 0:
            track.append(mido.Message("note_on", note=60, velocity=80))
            track.append(mido.Message("note_off", note=60, time=120))
            track.append(mido.MetaMessage("marker", text="", time=beats * 480 - 120))
        else:
            track.append(mido.MetaMessage("marker", text="", time=beats * 480))
    out = io.BytesIO()
    mido.MidiFile(tracks=[track]).save(file=out)
    return out.getvalue()


def test_a_meter_change_every_bar_costs_what_its_notes_cost():
    """Runs are paired with the meter segments they cross, not with all of a file's: 2,000
    runs in a file of 4,000 segments would otherwise be 8 M pairs (about 800 MB)."""
    assert assert_same(["meters.mid"], [meter_changes(400)], Melody(bars=1)) == 1
    found = compiled.read_events(meter_changes(4000))
    tracemalloc.start()
    try:
        outcome = batch_windows([found], Melody(bars=1), ["meters.mid"])[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome is not None
    assert peak < 50e6


def test_an_unreadable_file_is_tried_again_on_the_next_run(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for path in files_of("folk", 2500):
        (folder / path.rsplit("/", 1)[-1]).write_bytes(read_midi_bytes(path))
    locked = sorted(folder.iterdir())[0]
    real_open = __import__("os").open

    def refuse(path, *args, **kwargs):
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    options = {"workers": 1, "cache_dir": tmp_path / "cache", "progress": False}
    monkeypatch.setattr("os.open", refuse)
    for _ in range(2):  # the second run stats its files: the split could be kept whole
        denied = load_windows(folder, Melody(), "all", **options)
        assert denied.report.skipped == {"unreadable file": 1}
    monkeypatch.setattr("os.open", real_open)
    allowed = load_windows(folder, Melody(), "all", **options)
    assert allowed.report.skipped == {}
    assert allowed.report.files_parsed == 1


def one_part(data: bytes) -> bytes:
    """A file's tracks merged into one on one channel (drums stay drums): its parts sound
    together as chords, one line for a melody kind to reduce to its top notes."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    merged = mido.merge_tracks(midi.tracks)
    one = mido.MidiTrack(
        message.copy(channel=0) if hasattr(message, "channel") and message.channel != 9
        else message for message in merged)
    out = io.BytesIO()
    mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat, tracks=[one]).save(file=out)
    return out.getvalue()


def as_trio(data: bytes) -> bytes:
    """A chorale as a trio: soprano on a piano (program 0), bass on a finger bass (33),
    the alto moved onto the kit; the tenor left out."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    voices = [t for t in midi.tracks if any(m.type == "note_on" for m in t)]
    roles = {0: (0, 0), 1: (9, None), len(voices) - 1: (1, 33)}
    tracks = [t for t in midi.tracks if t not in voices]
    for index, (channel, program) in roles.items():
        messages = [mido.Message("program_change", channel=channel, program=program)] \
            if program is not None else []
        for message in voices[index]:
            if message.type == "program_change":
                continue
            if message.type in ("note_on", "note_off"):
                note = KIT[message.note % len(KIT)] if program is None else message.note
                message = message.copy(channel=channel, note=note)
            messages.append(message)
        tracks.append(mido.MidiTrack(messages))
    midi.tracks = tracks
    midi.type = 1
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


CORPORA = {"melody": ("folk", "chorales"), "drums": ("groove",), "pianoroll": ("chorales",),
           "melody_chords": ("pop909", "chorales"), "voices": ("chorales",),
           "trio": ("chorales",), "groove": ("groove",),
           "multitrack": ("pop909", "chorales", "groove", "ensembles")}


@pytest.mark.parametrize("kind", list(REPRESENTATIONS))
def test_every_kind_cuts_pieces_as_the_oracle_does(kind):
    """Every kind, through the one codec, on the bundled corpora it is made for, on tunes,
    chorales and drum parts moved onto the kit (odd ones keep their pitched parts) and
    chorales merged into one part; the compiled reader's batches where the kind needs no
    piece, and a clear refusal where it does."""
    assert set(CORPORA) == set(REPRESENTATIONS)
    rep = REPRESENTATIONS[kind]()
    if not rep.columnar:
        with pytest.raises(ValueError, match="made from pieces"):
            batch_windows([], rep, [])
    paths = [path for name in CORPORA[kind] for path in files_of(name, 8)]
    chorales = files_of("chorales", 40)
    datas = [read_midi_bytes(path) for path in paths]
    tunes = files_of("folk", 400) + chorales
    datas += [drummed(read_midi_bytes(path), i) for i, path in enumerate(tunes)]
    datas += [one_part(read_midi_bytes(path)) for path in chorales]  # voices as chords
    paths += [f"{path}.drums.mid" for path in tunes] + [f"{p}.one.mid" for p in chorales]
    if kind == "trio":  # chorales played as a trio: melody, bass and the kit
        datas += [as_trio(read_midi_bytes(path)) for path in chorales]
        paths += [f"{path}.trio.mid" for path in chorales]
    wants: list = []
    assert assert_same(paths, datas, rep, wants) == (len(datas) if rep.columnar else 0)
    found = [want for want in wants if not isinstance(want, UnusableMidi)]
    assert len(found) >= 10  # files with windows compared, not only reasons


def test_multitrack_with_chords_cuts_pieces_as_the_oracle_does():
    """The bar's chord (a control an event kind writes beside its tokens) comes out of the
    codec as the oracle makes it, and is the bar's triad."""
    rep = Multitrack(track_slots=4, chords=True)
    paths = [path for name in ("pop909", "chorales", "ensembles") for path in files_of(name, 16)]
    wants: list = []
    assert_same(paths, [read_midi_bytes(path) for path in paths], rep, wants)
    chords = np.concatenate([w.arrays["chord"] for w in wants if not isinstance(w, UnusableMidi)])
    assert (chords == chords[:, :1]).all()  # one chord a window, on every position
    assert (chords[:, 0] > 0).mean() > 0.8  # pitched bars mostly have a triad
