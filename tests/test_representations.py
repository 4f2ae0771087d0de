"""MIDI ⇄ notes ⇄ melody, drum and piano-roll windows: round trips, meters, slots."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from fixtures.midi_factory import (
    TICKS_PER_STEP,
    note_messages,
    tune_notes,
    write_parts,
    write_raw,
    write_tune,
)

from musicae.errors import MusicaeError
from musicae.midi import compiled
from musicae.midi.notes import (
    READER_ENV,
    Meter,
    Piece,
    UnusableMidi,
    default_reader,
    make_notes,
    parse_midi,
    read_midi,
    steps_per_bar,
    write_midi,
)
from musicae.representations import Drums, Melody, Pianoroll, from_dict, pianoroll
from musicae.representations.codec import encode_piece, encode_runs, piece_windows
from musicae.representations.constants import (
    DRUM_CLASS_PITCHES,
    DRUMS_DEPTH,
    MELODY_DEPTH,
    MIN_PITCH,
    NO_EVENT,
    NOTE_OFF,
    PIANOROLL_HOLD,
    PIANOROLL_OFF,
    PIANOROLL_ONSET,
)
from musicae.representations.drums import (
    decode_drums,
    encode_drums,
    index_to_multihot,
    multihot_to_index,
)
from musicae.representations.melody import decode_melody, encode_melody, fit_range, skyline
from musicae.representations.pianoroll import decode_pianoroll, encode_pianoroll
from musicae.representations.slots import from_slots, to_slots, to_slots_batch
from musicae.representations.windows import bar_unit

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

MELODY = Melody(bars=2)
DRUMS = Drums(bars=2)
PIANOROLL = Pianoroll(bars=2)
FIELDS = ["start", "end", "pitch"]


def triples(notes: np.ndarray) -> list[tuple[int, int, int]]:
    return [(int(n["start"]), int(n["end"]), int(n["pitch"])) for n in notes]


# --- MIDI ⇄ notes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("meter", "steps"),
    [((4, 4), 16), ((3, 4), 12), ((6, 8), 12), ((2, 4), 8), ((12, 8), 24), ((2, 2), 16),
     ((7, 8), 14), ((3, 32), 0)],
)  # fmt: skip
def test_steps_per_bar_follow_the_time_signature(meter, steps):
    assert steps_per_bar(*meter, 4) == steps


@pytest.mark.parametrize(("meter", "steps"), [((3, 4), 12), ((6, 8), 12), ((2, 4), 8)])
def test_read_midi_keeps_meter_and_steps(tmp_path, meter, steps):
    path = write_tune(tmp_path / "t.mid", bars=3, meter=meter)
    piece = read_midi(path)
    assert [(m.start, m.name, m.steps_per_bar) for m in piece.meters] == [
        (0, f"{meter[0]}/{meter[1]}", steps)
    ]
    assert triples(piece.notes)[:2] == [(0, 2, 60), (2, 4, 63)]
    assert piece.qpm == pytest.approx(120.0)


def test_type0_file_with_drums_programs_and_tempo_changes(tmp_path):
    """Ticks, not seconds, set the grid: a tempo change moves no note off its beat."""
    track = [
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),
        mido.Message("program_change", program=40, channel=0, time=0),
        *note_messages(67, 0, 4 * TICKS_PER_STEP),
        mido.MetaMessage("set_tempo", tempo=300_000, time=0),
        *note_messages(36, 0, TICKS_PER_STEP, channel=9),
        *note_messages(69, 0, 2 * TICKS_PER_STEP),
    ]
    piece = read_midi(write_raw(tmp_path / "t0.mid", [track], midi_type=0))
    assert triples(piece.notes) == [(0, 4, 67), (4, 5, 36), (5, 7, 69)]
    assert piece.notes["is_drum"].tolist() == [False, True, False]
    assert piece.notes["program"][[0, 2]].tolist() == [40, 40]
    assert piece.qpm == pytest.approx(120.0)


def test_meter_changes_become_segments(tmp_path):
    notes = tune_notes(2, 16) + [(p, s + 32, e + 32) for p, s, e in tune_notes(2, 12)]
    path = write_parts(tmp_path / "m.mid", [(0, False, notes)], ((0, 4, 4), (32, 3, 4)))
    meters = read_midi(path).meters
    assert [(m.start, m.name, m.steps_per_bar) for m in meters] == [(0, "4/4", 16), (32, "3/4", 12)]


def test_piece_survives_write_and_read(tmp_path):
    notes = make_notes(
        [0, 0, 4, 9, 30], [4, 2, 8, 10, 34], [60, 36, 62, 42, 61],
        velocity=[100, 90, 70, 60, 50], program=[24, 0, 24, 0, 24],
        is_drum=[False, True, False, True, False], instrument=[0, 1, 0, 1, 0],
    )  # fmt: skip
    piece = Piece(notes, (Meter(0, 6, 8, 12), Meter(24, 2, 4, 8)), qpm=96.0)
    write_midi(piece, tmp_path / "p.mid")
    back = read_midi(tmp_path / "p.mid")
    keys = ["start", "end", "pitch", "velocity", "program", "is_drum"]
    assert back.notes[keys].tolist() == piece.notes[keys].tolist()
    assert back.meters == piece.meters
    assert back.qpm == pytest.approx(96.0)


def test_write_refuses_notes_midi_cannot_hold(tmp_path):
    bad = Piece(make_notes([0], [4], [130]), (Meter(0, 4, 4, 16),))
    with pytest.raises(MusicaeError, match="a pitch outside 0..127"):
        write_midi(bad, tmp_path / "bad.mid")
    assert not (tmp_path / "bad.mid").exists()


# --- melody ----------------------------------------------------------------------


def test_melody_tokens_are_musicvae_tokens():
    notes = make_notes([0, 2, 4], [2, 3, 8], [60, 62, 64])
    tokens = encode_melody(notes, 0, 8)
    assert tokens.tolist() == [41, NO_EVENT, 43, NOTE_OFF, 45, 0, 0, 0]
    assert triples(decode_melody(tokens)) == triples(notes)
    assert encode_melody(make_notes([0], [1], [108]), 0, 1).tolist() == [MELODY_DEPTH - 1]


def test_melody_round_trip_on_a_window_cut_mid_note():
    notes = make_notes([0, 3, 10], [3, 10, 20], [70, 72, 74])
    tokens = encode_melody(notes, 5, 10)  # starts inside the second note
    assert tokens.tolist() == [0, 0, 0, 0, 0, 55, 0, 0, 0, 0]
    assert np.array_equal(encode_melody(decode_melody(tokens), 0, 10), tokens)


def test_skyline_keeps_the_highest_note_where_notes_overlap():
    chord_then_line = make_notes(
        [0, 0, 0, 8, 9, 12, 15], [8, 8, 8, 16, 11, 16, 17], [60, 64, 67, 72, 60, 74, 73]
    )
    line = skyline(chord_then_line)
    # 60 under 72 is dropped; 74 cuts 72; 73 starts one step before 74 ends: legato
    assert triples(line) == [(0, 8, 67), (8, 12, 72), (12, 15, 74), (15, 17, 73)]


def test_out_of_range_melody_is_shifted_or_dropped():
    notes = make_notes([0, 2], [2, 4], [15, 60])
    shifted = fit_range(notes, 21, 108, shift=True)
    assert shifted["pitch"].tolist() == [27, 60]
    assert fit_range(notes, 21, 108, shift=False) is None


def test_melodies_come_from_each_pitched_instrument_and_filter_programs(tmp_path):
    path = write_parts(
        tmp_path / "band.mid",
        [(0, False, tune_notes(2, 16, 60)), (33, False, tune_notes(2, 16, 40, seed=1)),
         (0, True, [(36, s, s + 1) for s in range(0, 32, 4)])],
    )  # fmt: skip
    piece = read_midi(path)
    assert len(encode_piece(piece, MELODY)) == 2  # piano and bass; drums never
    bass_only = Melody(bars=2, programs=(33,))
    (window,) = encode_piece(piece, bass_only)
    assert decode_melody(window.tokens)["pitch"].min() >= 40


def test_a_bar_of_silence_ends_a_melody(tmp_path):
    notes = tune_notes(2, 16) + [(p, s + 48, e + 48) for p, s, e in tune_notes(2, 16)]
    piece = read_midi(write_parts(tmp_path / "gap.mid", [(0, False, notes)]))
    windows = encode_piece(piece, MELODY)
    assert len(windows) == 2  # bars 0-1 and 3-4; nothing across the silent bar 2
    assert all((w.tokens[:16] != NO_EVENT).any() and (w.tokens[16:] != 0).any() for w in windows)


# --- drums -----------------------------------------------------------------------


def test_drum_index_is_the_bitmask_of_classes():
    every = np.arange(DRUMS_DEPTH)
    assert np.array_equal(multihot_to_index(index_to_multihot(every)), every)
    hits = np.zeros(9, dtype=bool)
    hits[[0, 2]] = True  # bass drum and closed hi-hat
    assert multihot_to_index(hits) == 5


def test_drums_round_trip_and_map_general_midi_pitches():
    canonical = [pitches[0] for pitches in DRUM_CLASS_PITCHES]
    starts = np.array([0, 0, 4, 8, 8, 12])
    pitches = [canonical[i] for i in (0, 1, 2, 0, 8, 7)]
    pattern = make_notes(starts, starts + 1, pitches, is_drum=True)
    hits = encode_drums(pattern, 0, 16)
    assert triples(decode_drums(hits)) == triples(pattern)
    variants = make_notes([0, 1, 2], [3, 3, 3], [35, 40, 20], is_drum=True)  # 20: unmapped
    assert np.flatnonzero(multihot_to_index(encode_drums(variants, 0, 3))).tolist() == [0, 1]
    assert multihot_to_index(encode_drums(variants, 0, 3)).tolist() == [1, 2, 0]


def test_drum_windows_from_a_drum_track(tmp_path):
    kit = [(36, s, s + 1) for s in range(0, 64, 4)] + [(38, s, s + 1) for s in range(2, 64, 8)]
    piece = read_midi(write_parts(tmp_path / "d.mid", [(0, True, kit)]))
    found = piece_windows(piece, DRUMS)
    assert found.tokens.shape == (1, 32)  # four bars, every 2-bar window identical
    mask = np.ones(32, dtype=bool)
    back = DRUMS.decode(found.tokens[0], mask, (4, 4))
    assert triples(back.notes) == sorted(t[1:] + t[:1] for t in [(p, s, e) for p, s, e in kit
                                                                  if s < 32])  # fmt: skip
    with pytest.raises(UnusableMidi, match="no drums"):
        piece_windows(read_midi(write_tune(tmp_path / "t.mid")), DRUMS)


# --- pianoroll -------------------------------------------------------------------


def test_pianoroll_keeps_repeated_notes_and_chords():
    notes = make_notes([0, 2, 0, 4, 4], [2, 4, 6, 8, 5], [60, 60, 64, 67, 72])
    roll = encode_pianoroll(notes, 0, 8)
    assert roll[:, 60 - 21].tolist() == [1, 2, 1, 2, 0, 0, 0, 0]
    assert set(np.unique(roll)) == {PIANOROLL_OFF, PIANOROLL_ONSET, PIANOROLL_HOLD}
    assert triples(decode_pianoroll(roll)) == triples(notes)


def test_pianoroll_note_held_into_a_window_starts_at_its_first_step():
    roll = encode_pianoroll(make_notes([0], [10], [50]), 4, 4)
    assert roll[:, 50 - 21].tolist() == [PIANOROLL_HOLD] * 4
    assert triples(decode_pianoroll(roll)) == [(0, 4, 50)]


def roll_note_by_note(notes, start, n_steps, min_pitch, max_pitch):
    """The piano-roll as a loop over notes (how encode_pianoroll was first written)."""
    roll = np.zeros((n_steps, max_pitch - min_pitch + 1), dtype=np.uint8)
    for first, last, pitch in zip(notes["start"].tolist(), notes["end"].tolist(),
                                  notes["pitch"].tolist(), strict=True):
        if min_pitch <= pitch <= max_pitch and last > start and first < start + n_steps:
            column = roll[max(first - start, 0) : min(last - start, n_steps), pitch - min_pitch]
            np.maximum(column, PIANOROLL_HOLD, out=column)
    for first, pitch in zip(notes["start"].tolist(), notes["pitch"].tolist(), strict=True):
        if min_pitch <= pitch <= max_pitch and start <= first < start + n_steps:
            roll[first - start, pitch - min_pitch] = PIANOROLL_ONSET
    return roll


@pytest.mark.parametrize("sparse_bytes", [0, 10**9], ids=["cell by cell", "edges summed"])
def test_pianoroll_encoding_equals_a_note_by_note_loop(monkeypatch, sparse_bytes):
    """Both ways of writing a roll (the cells that sound, or +1/-1 edges summed)."""
    monkeypatch.setattr(pianoroll, "SPARSE_BYTES", sparse_bytes)
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(0, 40))
        starts = rng.integers(0, 100, n)
        notes = make_notes(starts, starts + rng.integers(1, 30, n), rng.integers(10, 120, n))
        start, n_steps = int(rng.integers(-10, 60)), int(rng.integers(1, 80))
        low = int(rng.integers(15, 60))
        high = int(rng.integers(low, 115))
        np.testing.assert_array_equal(encode_pianoroll(notes, start, n_steps, low, high),
                                      roll_note_by_note(notes, start, n_steps, low, high))


@pytest.mark.parametrize("sparse_bytes", [0, 10**9], ids=["cell by cell", "edges summed"])
def test_a_note_of_no_length_marks_its_onset_and_nothing_else(monkeypatch, sparse_bytes):
    monkeypatch.setattr(pianoroll, "SPARSE_BYTES", sparse_bytes)
    held = make_notes(np.zeros(8, int), np.full(8, 40), np.arange(30, 38))
    notes = np.concatenate([held, make_notes([3], [3], [60])])
    roll = encode_pianoroll(notes, 0, 40)
    column = roll[:, 60 - MIN_PITCH]
    assert column[3] == PIANOROLL_ONSET and np.count_nonzero(column) == 1
    np.testing.assert_array_equal(roll[:, :60 - MIN_PITCH], encode_pianoroll(held, 0, 40)[
        :, :60 - MIN_PITCH])


def test_pianoroll_windows_round_trip_through_midi(tmp_path):
    chords = [(p, s, s + 4) for s in range(0, 32, 4) for p in (60, 64, 67 + s % 8)]
    piece = read_midi(write_parts(tmp_path / "c.mid", [(0, False, chords)], ((0, 2, 4),)))
    found = piece_windows(piece, PIANOROLL)
    assert found.tokens.shape[1:] == (32, 88) and found.tokens.dtype == np.uint8
    mask = np.tile(np.arange(16) < 8, 2)
    write_midi(PIANOROLL.decode(found.tokens[0], mask, (2, 4)), tmp_path / "w.mid")
    again = piece_windows(read_midi(tmp_path / "w.mid"), PIANOROLL)
    assert np.array_equal(again.tokens[0], found.tokens[0])


# --- windows, slots, meters ------------------------------------------------------


def test_slots_round_trip_and_pad_with_zeros():
    tokens = np.arange(1, 25)  # two bars of 3/4
    slotted, mask = to_slots(tokens, 12, 16)
    assert slotted.shape == (32,) and mask.sum() == 24
    assert slotted[12:16].tolist() == [0, 0, 0, 0]
    assert np.array_equal(from_slots(slotted, mask), tokens)
    roll = np.ones((24, 88), dtype=np.uint8)
    assert np.array_equal(from_slots(*to_slots(roll, 12, 16)), roll)
    batch = np.stack([tokens, tokens + 100])
    assert np.array_equal(to_slots_batch(batch, 12, 16)[1], to_slots(tokens + 100, 12, 16)[0])
    with pytest.raises(ValueError):
        to_slots(np.zeros(48), 24, 16)


@pytest.mark.parametrize(("meter", "steps"), [((3, 4), 12), ((6, 8), 12), ((2, 4), 8)])
def test_windows_in_other_meters(tmp_path, meter, steps):
    piece = read_midi(write_tune(tmp_path / "t.mid", bars=4, meter=meter))
    found = piece_windows(piece, MELODY)
    assert found.lengths.tolist() == [[steps] * MELODY.bars] * len(found.tokens)
    assert found.meter[0].tolist() == list(meter)
    assert found.tokens.shape[1] == 32
    assert not found.tokens[:, steps:16].any()  # the padding of bar one


def test_no_window_straddles_a_meter_change(tmp_path):
    first = tune_notes(3, 16, seed=1)
    second = [(p, s + 48, e + 48) for p, s, e in tune_notes(3, 12, seed=2)]
    path = write_parts(tmp_path / "c.mid", [(0, False, first + second)], ((0, 4, 4), (48, 3, 4)))
    piece = read_midi(path)
    windows = encode_piece(piece, MELODY)
    assert [w.steps_per_bar for w in windows] == [16, 16, 12, 12]
    line = piece.notes
    expected = [encode_melody(line, 0, 32), encode_melody(line, 16, 32),
                encode_melody(line, 48, 24), encode_melody(line, 60, 24)]  # fmt: skip
    assert all(np.array_equal(w.tokens, e) for w, e in zip(windows, expected, strict=True))


@pytest.mark.parametrize(
    ("meter", "unit"),
    [((4, 4), (4, 4)), ((12, 8), (6, 8)), ((4, 2), (2, 2)), ((3, 2), (1, 2)), ((6, 4), (3, 4)),
     ((9, 8), (3, 8)), ((6, 2), (2, 2)), ((4, 1), (1, 1)), ((1, 1), (1, 1)), ((3, 32), None)],
)  # fmt: skip
def test_long_bars_are_cut_into_equal_groups_of_beats(meter, unit):
    steps = steps_per_bar(*meter, 4)
    assert bar_unit(Meter(0, *meter, steps), 16) == unit
    assert bar_unit(Meter(0, 1, 1, 16), 8) is None  # one beat longer than the slot


def test_long_bars_give_windows_of_their_parts_and_the_rest_says_why(tmp_path):
    piece = read_midi(write_tune(tmp_path / "t.mid", bars=2, meter=(12, 8)))
    found = piece_windows(piece, MELODY)
    assert found.windows_by_meter == {"12/8": len(found.tokens)}
    assert found.meter.tolist()[0] == [6, 8] and found.lengths[0].tolist() == [12, 12]
    assert len(encode_piece(piece, MELODY)) == 3  # four half-bars, hop of one
    whole = read_midi(write_tune(tmp_path / "w.mid", bars=4, meter=(1, 1)))
    with pytest.raises(UnusableMidi, match="meter 1/1 does not fit the bar slot"):
        piece_windows(whole, Melody(bars=2, slot=8))
    assert piece_windows(whole, MELODY).tokens.shape[1:] == (32,)


def test_runs_keep_notes_tied_across_a_meter_change(tmp_path):
    notes = [(60, 0, 8), (62, 8, 40), (64, 40, 44), (65, 44, 56)]  # 62 crosses step 32
    path = write_parts(tmp_path / "tie.mid", [(0, False, notes)], ((0, 4, 4), (32, 3, 4)))
    piece = read_midi(path)
    ((start, tokens),) = encode_runs(piece, MELODY)
    assert start == 0 and triples(decode_melody(tokens)) == [(s, e, p) for p, s, e in notes]
    windows = encode_piece(piece, MELODY)
    assert [w.meter for w in windows] == [(4, 4), (3, 4)]  # one on each side, none across


def test_duplicates_removed_and_cap_spreads_windows(tmp_path):
    bar = tune_notes(1, 16)
    repeated = [(p, s + 16 * b, e + 16 * b) for b in range(6) for p, s, e in bar]
    piece = read_midi(write_parts(tmp_path / "r.mid", [(0, False, repeated)]))
    assert len(encode_piece(piece, MELODY)) == 5
    assert len(piece_windows(piece, MELODY).tokens) == 1
    varied = read_midi(write_tune(tmp_path / "v.mid", bars=12, seed=5))
    capped = Melody(bars=2, max_windows_per_file=3)
    assert len(piece_windows(varied, capped).tokens) == 3


def test_decoded_6_8_window_writes_and_reads_back(tmp_path):
    piece = read_midi(write_tune(tmp_path / "t.mid", bars=2, meter=(6, 8), seed=3))
    found = piece_windows(piece, MELODY)
    mask = np.tile(np.arange(16) < 12, 2)
    out = tmp_path / "w.mid"
    write_midi(MELODY.decode(found.tokens[0], mask, (6, 8), program=73), out)
    back = read_midi(out)
    assert back.meters[0].name == "6/8" and set(back.notes["program"]) == {73}
    assert np.array_equal(piece_windows(back, MELODY).tokens, found.tokens)
    with pytest.raises(MusicaeError, match="does not have bars of 12"):
        MELODY.decode(found.tokens[0], mask, meter=(4, 4))


# --- augmentation and settings ----------------------------------------------------


def test_transpose_moves_pitches_and_leaves_windows_that_would_leave_the_range():
    tokens = np.array([[41, 0, 1, 43], [89, 0, 0, 0]], dtype=np.int16)
    moved = MELODY.transpose(tokens, 2)
    assert moved.tolist() == [[43, 0, 1, 45], [89, 0, 0, 0]]
    per_row = MELODY.transpose(tokens, np.array([-1, -3]))
    assert per_row.tolist() == [[40, 0, 1, 42], [86, 0, 0, 0]]
    roll = np.zeros((2, 4, 88), dtype=np.uint8)
    roll[0, 0, 10], roll[1, 0, 87] = 1, 2
    shifted = PIANOROLL.transpose(roll, 3)
    assert shifted[0, 0, 13] == 1 and shifted[1, 0, 87] == 2
    assert np.array_equal(DRUMS.transpose(tokens, 5), tokens)


def test_representation_settings_validate_and_key_the_cache():
    assert MELODY.key() == Melody(bars=2).key() != Melody(bars=16).key() != DRUMS.key()
    assert from_dict(Melody(bars=2, programs=[1]).to_dict()) == Melody(bars=2, programs=(1,))
    assert from_dict(PIANOROLL.to_dict()) == PIANOROLL and from_dict(DRUMS.to_dict()) == DRUMS
    with pytest.raises(MusicaeError, match="unknown representation kind 'chords'"):
        from_dict({"kind": "chords", "bars": 2})
    with pytest.raises(MusicaeError, match="unknown fields"):
        from_dict(MELODY.to_dict() | {"voices": 4})
    with pytest.raises(MusicaeError, match="bars must be a positive integer"):
        Melody(bars=0)


def test_each_representation_owns_its_output_geometry():
    assert MELODY.heads == ((1, 90),) and MELODY.token_shape == ()
    assert DRUMS.heads == ((1, 512),) and DRUMS.token_dtype == np.int16
    assert PIANOROLL.heads == ((88, 3),) and PIANOROLL.token_shape == (88,)
    assert Melody(bars=2, min_pitch=48, max_pitch=83).heads == ((1, 38),)
    assert Pianoroll(bars=4, min_pitch=36, max_pitch=95).geometry() == {
        "heads": ((60, 3),), "controls": (), "bars": 4, "slot": 16}


@pytest.mark.parametrize("reader", ["mido", "symusic"])
def test_both_readers_read_programs_drums_tempo_and_meters_alike(tmp_path, reader):
    track = [
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),
        mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0),
        mido.Message("program_change", program=40, channel=0, time=0),
        *note_messages(67, 0, 4 * TICKS_PER_STEP),
        mido.Message("note_on", note=60, velocity=90, channel=0, time=0),  # overlapping
        mido.Message("note_on", note=60, velocity=80, channel=0, time=TICKS_PER_STEP),
        mido.Message("note_off", note=60, velocity=0, channel=0, time=TICKS_PER_STEP),
        mido.Message("note_off", note=60, velocity=0, channel=0, time=TICKS_PER_STEP),
        *note_messages(36, 0, TICKS_PER_STEP, channel=9),
    ]
    data = write_raw(tmp_path / "t.mid", [track], midi_type=0).read_bytes()
    piece = parse_midi(data, reader=reader)
    assert triples(piece.notes) == [(0, 4, 67), (4, 6, 60), (5, 7, 60), (7, 8, 36)]
    assert piece.notes["is_drum"].tolist() == [False, False, False, True]
    assert piece.notes["program"].tolist() == [40, 40, 40, 0]
    assert [m.name for m in piece.meters] == ["6/8"] and piece.qpm == pytest.approx(120.0)


def test_a_note_never_released_is_ended_by_mido_and_dropped_by_symusic(tmp_path):
    track = [*note_messages(67, 0, 4 * TICKS_PER_STEP),
             mido.Message("note_on", note=72, velocity=90, channel=0, time=0),
             *note_messages(64, 0, 4 * TICKS_PER_STEP)]
    data = write_raw(tmp_path / "t.mid", [track], midi_type=0).read_bytes()
    assert triples(parse_midi(data, reader="mido").notes) == [(0, 4, 67), (4, 8, 64),
                                                                (4, 8, 72)]
    assert triples(parse_midi(data, reader="symusic").notes) == [(0, 4, 67), (4, 8, 64)]


@pytest.mark.parametrize("reader", ["mido", "symusic"])
def test_a_note_released_where_it_starts_is_dropped_by_both_readers(tmp_path, reader):
    """Its note-off ends it, not the next one of its pitch (symusic before 0.4.6 took
    that one: the lower bound on its release)."""
    track = [*note_messages(72, 0, 0), *note_messages(72, TICKS_PER_STEP, TICKS_PER_STEP),
             mido.Message("note_on", note=60, velocity=90, time=0),
             mido.Message("note_on", note=60, velocity=0, time=0),
             *note_messages(60, TICKS_PER_STEP, TICKS_PER_STEP)]
    data = write_raw(tmp_path / "t.mid", [track], midi_type=0).read_bytes()
    assert triples(parse_midi(data, reader=reader).notes) == [(1, 2, 72), (3, 4, 60)]


def test_symusic_is_read_only_in_the_releases_pyproject_allows(tmp_path, monkeypatch):
    """pyproject.toml's bounds on symusic are the compiled reader's; the installed
    release lies within them, and under any other the mido reader reads."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    low, below = (".".join(map(str, bound)) for bound in (compiled.LOWEST, compiled.BELOW))
    assert [d for d in deps if d.startswith("symusic")] == [f"symusic>={low},<{below}"]
    releases = ["0.4.5", low, f"{low}.1", "0.5.9", "0.6.0", below, f"{below}.0rc1", "1.0", ""]
    assert [compiled.supported(r) for r in releases] == [False, True, True, True, True, False,
                                                         False, False, False]
    symusic = pytest.importorskip("symusic")
    assert compiled.supported(symusic.__version__) and compiled.available()
    data = write_raw(tmp_path / "t.mid", [note_messages(67, 0, 4 * TICKS_PER_STEP)],
                     midi_type=0).read_bytes()
    assert compiled.read_events(data) is not None
    monkeypatch.delenv(READER_ENV, raising=False)
    monkeypatch.setattr(symusic, "__version__", below)
    assert not compiled.available() and default_reader() == "mido"
    assert compiled.read_events(data) is None
    assert triples(parse_midi(data, reader="symusic").notes) == [(0, 4, 67)]
