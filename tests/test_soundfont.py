"""The numpy SoundFont 2 player: pitch, timbre per program, drums, envelope and
velocity on pretty_midi's own TimGM6mb.sf2, and one-line errors for damaged files."""

from __future__ import annotations

import struct

import numpy as np
import pretty_midi
import pytest

from musicae.domains.soundfont import (
    DEFAULT_SOUNDFONT,
    SoundFont,
    SoundFontError,
    load,
)

FS = 22050


@pytest.fixture(scope="module")
def sf() -> SoundFont:
    return SoundFont.load(DEFAULT_SOUNDFONT)


def piece(*notes, program: int = 0, drum: bool = False) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI with one instrument playing (pitch, start, end, velocity) notes."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program, is_drum=drum)
    inst.notes = [pretty_midi.Note(vel, pitch, start, end) for pitch, start, end, vel in notes]
    pm.instruments.append(inst)
    return pm


def note(sf: SoundFont, pitch: int, program: int = 0, length: float = 1.0,
         velocity: int = 100, drum: bool = False) -> np.ndarray:
    return sf.render(piece((pitch, 0.0, length, velocity), program=program, drum=drum), FS)


def rms(audio: np.ndarray, t0: float = 0.0, t1: float | None = None) -> float:
    part = audio[int(t0 * FS):None if t1 is None else int(t1 * FS)]
    return float(np.sqrt(np.mean(np.square(part, dtype=np.float64)))) if len(part) else 0.0


def spectrum(audio: np.ndarray, t0: float = 0.1, t1: float = 0.9):
    """Frequencies and power of the windowed sustained part."""
    part = audio[int(t0 * FS):int(t1 * FS)].astype(np.float64)
    power = np.abs(np.fft.rfft(part * np.hanning(len(part)), 1 << 17)) ** 2
    return np.fft.rfftfreq(1 << 17, 1 / FS), power


def peak(audio: np.ndarray) -> float:
    freqs, power = spectrum(audio)
    return float(freqs[np.argmax(power)])


def centroid(audio: np.ndarray) -> float:
    freqs, power = spectrum(audio)
    return float((freqs * power).sum() / power.sum())


def test_loads_pretty_midis_general_midi_font_once(sf):
    assert DEFAULT_SOUNDFONT.name == "TimGM6mb.sf2" and DEFAULT_SOUNDFONT.is_file()
    assert SoundFont.load(str(DEFAULT_SOUNDFONT)) is sf  # cached: parsed once
    assert load(DEFAULT_SOUNDFONT) is sf
    assert sf.samples.dtype == np.dtype("<i2") and len(sf.samples) > 1_000_000
    assert (0, 0) in sf.presets and (0, 33) in sf.presets and (128, 0) in sf.presets
    assert len(sf.presets[(0, 0)]) > 5  # a multi-sampled piano
    assert sf.regions(5, 40) == sf.regions(0, 40)  # unknown bank: bank 0
    assert sf.regions(128, 77) == sf.regions(128, 0)  # unknown kit: the standard kit


def test_a4_is_440_hz_and_an_octave_up_doubles_it(sf):
    a4 = note(sf, 69)
    assert a4.dtype == np.float32 and a4.ndim == 1
    assert abs(peak(a4) - 440.0) < 0.03 * 440.0
    assert abs(peak(note(sf, 81)) - 880.0) < 0.03 * 880.0
    assert abs(peak(note(sf, 57, program=33)) - 220.0) < 0.03 * 220.0  # bass A3
    freqs, power = spectrum(a4)
    overtones = power[np.abs(freqs - 440.0) > 22.0].sum() / power.sum()
    assert overtones > 0.05  # a sampled piano, not a sine


def test_programs_have_their_own_timbre(sf):
    for pitch in (57, 69):
        piano, bass = note(sf, pitch, program=0), note(sf, pitch, program=33)
        ratio = centroid(bass) / centroid(piano)
        assert ratio > 1.4 or ratio < 1 / 1.4, (pitch, ratio)
    # Two instruments play together: the mix is the sum of their parts.
    both = piece((60, 0.0, 0.5, 90), program=0)
    both.instruments += piece((48, 0.25, 0.75, 90), program=33).instruments
    mix = sf.render(both, FS)
    parts = [sf.render(piece((60, 0.0, 0.5, 90)), FS),
             sf.render(piece((48, 0.25, 0.75, 90), program=33), FS)]
    total = np.zeros(max(len(p) for p in parts), np.float32)
    for p in parts:
        total[:len(p)] += p
    assert len(mix) == len(total) and np.allclose(mix, total, atol=1e-6)


def test_drums_sound_and_silence_is_silent(sf):
    kick, snare = note(sf, 36, length=0.2, drum=True), note(sf, 38, length=0.2, drum=True)
    assert np.abs(kick).max() > 0.05 and np.abs(snare).max() > 0.05

    def brightness(audio):
        freqs = np.fft.rfftfreq(len(audio), 1 / FS)
        power = np.abs(np.fft.rfft(audio)) ** 2
        return (freqs * power).sum() / power.sum()

    assert brightness(kick) < 0.5 * brightness(snare)  # a kick drum is the lower
    piano38 = note(sf, 38, length=0.2)
    assert brightness(piano38) != pytest.approx(brightness(snare), rel=0.2)
    for empty in (pretty_midi.PrettyMIDI(), piece()):
        audio = sf.render(empty, FS)
        assert audio.dtype == np.float32 and not np.any(audio)


def test_a_longer_note_sounds_longer(sf):
    long, short = note(sf, 60, length=1.0), note(sf, 60, length=0.2)
    assert rms(long, 0.5, 0.9) > 10 * rms(short, 0.5, 0.9)
    assert rms(short, 0.0, 0.2) > 0.5 * rms(long, 0.0, 0.2)  # the same onset
    # The release tail is short (at most about a second) and the audio ends with it.
    assert 1.0 < len(long) / FS <= 2.1 and 0.2 < len(short) / FS <= 1.3
    # A looped sample (organ) keeps sounding while the key is held.
    organ = note(sf, 60, program=19, length=3.0)
    assert rms(organ, 2.5, 2.9) > 0.5 * rms(organ, 0.5, 0.9) > 0


def test_velocity_makes_it_louder(sf):
    loud, soft = note(sf, 64, velocity=100), note(sf, 64, velocity=30)
    assert rms(loud) > 3 * rms(soft) > 0
    assert len(loud) == len(soft)


def riff_chunks(data: bytes, begin: int, end: int) -> dict[bytes, int]:
    """Offsets of the chunks (and of LIST sub-chunks) in an SF2 file."""
    found, at = {}, begin
    while at + 8 <= end:
        cid, size = struct.unpack_from("<4sI", data, at)
        if cid == b"LIST":
            found[data[at + 8:at + 12]] = at
            found.update(riff_chunks(data, at + 12, at + 8 + size))
        else:
            found[cid] = at
        at += 8 + size + (size & 1)
    return found


def assert_one_line_error(path):
    with pytest.raises(SoundFontError) as info:
        SoundFont.load(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message and "\n" not in message and path.name in message
    return message


def test_damaged_soundfonts_are_one_line_errors(tmp_path):
    data = DEFAULT_SOUNDFONT.read_bytes()
    for cut in (10, 5000, len(data) // 2, len(data) - 100):
        path = tmp_path / f"cut{cut}.sf2"
        path.write_bytes(data[:cut])
        assert_one_line_error(path)
    # Cut inside the pdta list, with the RIFF size patched to match the cut.
    cut = len(data) - 300
    path = tmp_path / "patched.sf2"
    path.write_bytes(data[:4] + struct.pack("<I", cut - 8) + data[8:cut])
    assert "truncated chunk" in assert_one_line_error(path)
    # An instrument zone pointing past the last sample header.
    chunks = riff_chunks(data, 12, len(data))
    igen = chunks[b"igen"] + 8
    for at in range(igen, igen + 4 * 10000, 4):
        if struct.unpack_from("<H", data, at)[0] == 53:  # sampleID
            break
    broken = bytearray(data)
    struct.pack_into("<H", broken, at + 2, 60000)
    path = tmp_path / "badsample.sf2"
    path.write_bytes(bytes(broken))
    assert "sample index" in assert_one_line_error(path)
    path = tmp_path / "random.sf2"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    assert "not a SoundFont" in assert_one_line_error(path)
    path = tmp_path / "text.sf2"
    path.write_text("This is not a SoundFont.\n" * 40)
    assert "not a SoundFont" in assert_one_line_error(path)
    assert "cannot read" in assert_one_line_error(tmp_path / "missing.sf2")


def test_a_font_with_too_many_zones_is_refused_before_it_is_built(monkeypatch):
    """Zones multiply (each preset zone by its instrument's zones): a small hostile file
    could ask for billions. Above the cap the font is a one-line error, not a hang."""
    from musicae.domains import soundfont

    data = DEFAULT_SOUNDFONT.read_bytes()  # 2,063 zones
    monkeypatch.setattr(soundfont, "MAX_REGIONS", 1000)
    with pytest.raises(SoundFontError, match="more than 1,000 zones"):
        soundfont.SoundFont.from_bytes(data)
