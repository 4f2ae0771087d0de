"""The bundled folk corpus: every tune round-trips, and nearly every tune yields windows.

Skipped (with the reason) where ``data/folk`` has not been built.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from musicae.datasets.midi import bundled_folk, list_midi, prepare
from musicae.midi.notes import Piece, read_midi, write_midi
from musicae.representations import Melody
from musicae.representations.codec import encode_runs
from musicae.representations.melody import decode_melody

FOLK = bundled_folk()
MELODY = Melody(bars=2)
COVERAGE = 0.95  # share of tunes that must yield at least one 2-bar window
WORKERS = 2
CHUNK = 64
START = "fork" if sys.platform.startswith("linux") else "spawn"

pytestmark = pytest.mark.skipif(
    not FOLK.is_dir(), reason=f"bundled folk corpus not built ({FOLK} missing)"
)


def melody_of(piece: Piece) -> list[tuple[int, bytes]]:
    """Every melody of a piece (runs ended by a bar of silence): (first step, tokens)."""
    return [(start, tokens.tobytes()) for start, tokens in encode_runs(piece, MELODY)]


def round_trip_problem(path: Path, scratch: Path) -> str | None:
    """MIDI → melody → MIDI → melody; what differs, or None.

    Windows are cut from the melodies by the meters, so equal melodies and
    meters mean equal windows too.
    """
    piece = read_midi(path)
    notes = []
    for start, tokens in encode_runs(piece, MELODY):
        decoded = decode_melody(tokens)
        decoded["start"] += start
        decoded["end"] += start
        notes.append(decoded)
    if not notes:
        return f"{path.name}: no melody"
    rebuilt = Piece(np.concatenate(notes), piece.meters, piece.qpm, piece.steps_per_quarter)
    out = scratch / path.name
    write_midi(rebuilt, out)
    again = read_midi(out)
    if melody_of(again) != melody_of(piece):
        return f"{path.name}: melody changed"
    if again.meters != piece.meters:
        return f"{path.name}: meters changed"
    return None


def _check_chunk(paths: list[Path]) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        found = (round_trip_problem(p, Path(scratch)) for p in paths)
        return [problem for problem in found if problem]


def test_every_tune_round_trips_midi_melody_midi_melody():
    files = list_midi(FOLK)
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    context = multiprocessing.get_context(START)
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        problems = [p for found in pool.map(_check_chunk, chunks) for p in found]
    assert problems == [], f"{len(problems)} of {len(files)} tunes: {problems[:5]}"


def test_nearly_every_tune_yields_a_window_in_its_own_meter():
    # the user cache ($MUSICAE_CACHE in CI): other tests on folk read what this one makes
    report = prepare(FOLK, MELODY, progress=False)
    assert report.files_used / report.files_seen >= COVERAGE, report.summary()
    assert {"4/4", "3/4", "6/8"} <= set(report.windows_by_meter), report.summary()


def test_the_compiled_and_the_python_reader_agree_on_every_bundled_file():
    from musicae.midi.notes import parse_midi, read_midi_bytes

    differ = []
    for path in list_midi(FOLK):
        data = read_midi_bytes(path)
        a, b = parse_midi(data, path, reader="mido"), parse_midi(data, path, reader="symusic")
        if (a.notes.tobytes(), a.meters, a.qpm, a.names) != (b.notes.tobytes(), b.meters,
                                                             b.qpm, b.names):
            differ.append(path.name)
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:3]}"

