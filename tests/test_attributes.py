"""Melody attributes measure what their names say."""

from __future__ import annotations

import numpy as np

from musicae.representations.attributes import (
    in_best_scale,
    in_scale,
    mean_pitch,
    note_density,
    note_lengths,
    pitch_classes,
    pitch_range,
    sounding_pitch_classes,
    syncopation,
)
from musicae.representations.constants import FIRST_PITCH_TOKEN, MIN_PITCH, NO_EVENT, NOTE_OFF


def token(pitch: int) -> int:
    return pitch - MIN_PITCH + FIRST_PITCH_TOKEN


def test_attributes_of_two_windows():
    tokens = np.full((2, 8), NO_EVENT)
    tokens[0, [0, 2, 4, 6]] = [token(p) for p in (60, 62, 64, 72)]  # on the beat grid
    tokens[1, [1, 3]] = [token(60), token(60)]  # off the eighth grid
    tokens[1, 5] = NOTE_OFF
    mask = np.ones((2, 8), bool)
    np.testing.assert_allclose(note_density(tokens, mask), [4 / 8, 2 / 8])
    np.testing.assert_allclose(pitch_range(tokens, mask), [12, 0])
    np.testing.assert_allclose(mean_pitch(tokens, mask), [64.5, 60])
    np.testing.assert_allclose(syncopation(tokens, mask), [0, 1])


def test_silent_windows_have_no_pitch_attributes_and_pad_steps_do_not_count():
    tokens = np.array([[NO_EVENT] * 4, [token(60), NO_EVENT, token(70), NO_EVENT]])
    mask = np.array([[True] * 4, [True, True, False, False]])
    assert np.isnan(mean_pitch(tokens, mask)[0]) and np.isnan(syncopation(tokens, mask)[0])
    np.testing.assert_allclose(note_density(tokens, mask), [0, 0.5])
    np.testing.assert_allclose(pitch_range(tokens, mask)[1], 0)


def test_pitch_classes_and_the_best_fitting_scale():
    tokens = np.full((3, 8), NO_EVENT)
    tokens[0, :7] = [token(p) for p in (57, 59, 60, 62, 64, 65, 67)]  # A minor = C major
    tokens[1, :4] = [token(p) for p in (60, 61, 62, 63)]  # chromatic: 3 of 4 fit one scale
    mask = np.ones((3, 8), bool)
    counts = pitch_classes(tokens, mask)
    assert counts[0].tolist() == [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]
    assert counts[1, :4].tolist() == [1, 1, 1, 1] and counts[2].sum() == 0
    scale = in_scale(tokens, mask)
    np.testing.assert_allclose(scale[:2], [1.0, 0.75])
    assert np.isnan(scale[2])  # no notes


def test_note_lengths_and_sounding_steps_follow_holds_offs_and_real_steps():
    """A note lasts to the next event (another note or a note-off) or the last real step;
    a note held across the unreal tail of a short bar goes on in the next bar."""
    tokens = np.full((2, 8), NO_EVENT)
    tokens[0, [0, 3, 4, 7]] = [token(60), NOTE_OFF, token(62), token(61)]  # 3, 3 and 1 steps
    tokens[1, [1, 5]] = [token(64), token(66)]  # bars of 3 real steps in 4-step slots
    mask = np.array([[True] * 8, [True, True, True, False] * 2])
    assert note_lengths(tokens, mask).tolist() == [3, 3, 1, 3, 2]  # E: steps 1, 2 and 4
    sounding = sounding_pitch_classes(tokens, mask)
    assert sounding[0, [0, 1, 2]].tolist() == [3, 1, 3] and sounding[0].sum() == 7
    assert sounding[1, [4, 6]].tolist() == [3, 2] and sounding[1].sum() == 5
    assert in_best_scale(sounding).tolist() == [6, 5]  # C# is out of any scale with C and D
