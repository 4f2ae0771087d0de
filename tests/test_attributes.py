"""Melody attributes measure what their names say."""

from __future__ import annotations

import numpy as np

from musicae.representations.attributes import (
    in_scale,
    mean_pitch,
    note_density,
    pitch_classes,
    pitch_range,
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
