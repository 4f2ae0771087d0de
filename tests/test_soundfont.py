"""The numpy SoundFont 2 player: pitch, timbre per program, drums, envelope and
velocity on pretty_midi's own TimGM6mb.sf2, and one-line errors for damaged files."""

from __future__ import annotations

import struct

import numpy as np
import pretty_midi
import pytest

from musicae.output import render, soundfont
from musicae.output.soundfont import (
    DEFAULT_SOUNDFONT,
    MAX_LAYERS,
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
    from musicae.output import soundfont

    data = DEFAULT_SOUNDFONT.read_bytes()  # 2,063 zones
    monkeypatch.setattr(soundfont, "MAX_REGIONS", 1000)
    with pytest.raises(SoundFontError, match="more than 1,000 zones"):
        soundfont.SoundFont.from_bytes(data)


# ------------------------------------------------------------- small SoundFonts built here

SAMPLE_ID, SAMPLE_MODES, INSTRUMENT_GEN = 53, 54, 41  # generator operators (SF2 8.1.2)
Zone = dict[int, int]  # generator operator -> raw amount


def sf2_bytes(samples: np.ndarray, instrument: list[Zone], preset: list[Zone],
              program: int = 0, root: int = 69) -> bytes:
    """A SoundFont 2 file with one sample (at FS, root key root, its loop the whole
    sample), one instrument made of the given zones, and one preset (bank 0, program) of
    the given zones; a zone without the linking generator is its list's global zone."""
    def chunk(cid: bytes, data: bytes) -> bytes:
        return cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)

    def listed(name: bytes, *chunks: bytes) -> bytes:
        return chunk(b"LIST", name + b"".join(chunks))

    def bags_and_gens(zones: list[Zone]) -> tuple[bytes, bytes]:
        bags, gens = [], []
        for zone in zones:
            bags.append(struct.pack("<HH", len(gens), 0))
            gens += [struct.pack("<HH", oper, amount & 0xFFFF) for oper, amount in zone.items()]
        bags.append(struct.pack("<HH", len(gens), 0))
        return b"".join(bags), b"".join(gens) + struct.pack("<HH", 0, 0)

    n = len(samples)
    pbag, pgen = bags_and_gens(preset)
    ibag, igen = bags_and_gens(instrument)
    mod = bytes(10)  # the terminal modulator record only
    pdta = listed(
        b"pdta",
        chunk(b"phdr", struct.pack("<20sHHHIII", b"Piano", program, 0, 0, 0, 0, 0)
              + struct.pack("<20sHHHIII", b"EOP", 0, 0, len(preset), 0, 0, 0)),
        chunk(b"pbag", pbag), chunk(b"pmod", mod), chunk(b"pgen", pgen),
        chunk(b"inst", struct.pack("<20sH", b"Tone", 0)
              + struct.pack("<20sH", b"EOI", len(instrument))),
        chunk(b"ibag", ibag), chunk(b"imod", mod), chunk(b"igen", igen),
        chunk(b"shdr", struct.pack("<20sIIIIIBbHH", b"tone", 0, n, 0, n, FS, root, 0, 0, 1)
              + bytes(46)))
    sdta = listed(b"sdta", chunk(b"smpl", samples.astype("<i2").tobytes() + bytes(92)))
    body = b"sfbk" + listed(b"INFO", chunk(b"ifil", struct.pack("<HH", 2, 1))) + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(frames: int = 200) -> np.ndarray:
    """One loopable cycle-aligned sine at 441 Hz (FS / 50): int16 samples."""
    return (12000 * np.sin(2 * np.pi * np.arange(frames) / 50)).astype(np.int16)


def layered_font(layers: int) -> bytes:
    """The audit's hostile font: a piano whose one instrument stacks `layers` zones, all
    covering every key and velocity and playing the same looped sample."""
    instrument = [{SAMPLE_MODES: 1}] + [{SAMPLE_ID: 0}] * layers
    return sf2_bytes(tone(), instrument, [{INSTRUMENT_GEN: 0}])


def layered_piece() -> pretty_midi.PrettyMIDI:
    """Two notes one after the other, held half a second each."""
    return piece((69, 0.0, 0.5, 100), (72, 1.0, 1.5, 100))


def test_a_note_plays_at_most_max_layers_zones_of_a_hostile_stack(tmp_path):
    """The audit's 527 KB font stacks 65,533 zones on every piano note (exhausting memory
    before): each note now plays the first MAX_LAYERS of them, and sounds as that many."""
    path = tmp_path / "stacked.sf2"
    path.write_bytes(layered_font(65_533))
    font = load(path)
    assert len(font.regions(0, 0)) == 65_533
    voices = font.voices(layered_piece(), FS)
    assert [v.at for v in voices] == [0] * MAX_LAYERS + [FS] * MAX_LAYERS
    audio = font.render(layered_piece(), FS)
    capped = tmp_path / "capped.sf2"
    capped.write_bytes(layered_font(MAX_LAYERS))
    assert np.array_equal(audio, load(capped).render(layered_piece(), FS))
    one = SoundFont.from_bytes(layered_font(1)).render(layered_piece(), FS)
    assert np.allclose(audio, MAX_LAYERS * one, atol=1e-5) and np.abs(one).max() > 0.1
    few = SoundFont.from_bytes(layered_font(3)).voices(layered_piece(), FS)
    assert len(few) == 2 * 3  # under the cap every layer plays


def test_at_most_max_voices_sound_at_once_the_oldest_gives_way(monkeypatch):
    """A voice starting while MAX_VOICES sound takes the oldest one's place; the taken
    voice fades out (no click) by the time the new one starts."""
    monkeypatch.setattr(soundfont, "MAX_VOICES", 3)
    font = SoundFont.from_bytes(layered_font(1))
    pm = piece(*[(60 + k, 0.1 * k, 2.0, 100) for k in range(5)])  # five held together
    voices = font.voices(pm, FS)
    starts = [round(0.1 * k * FS) for k in range(5)]
    assert [v.at for v in voices] == starts
    for t in range(0, 3 * FS, 100):
        assert sum(v.at <= t < v.at + v.frames for v in voices) <= 3
    assert [v.at + v.frames for v in voices[:2]] == starts[3:]  # the two oldest gave way
    assert all(v.fade > 0 for v in voices[:2]) and not any(v.fade for v in voices[2:])
    # The mix: the three newest whole, the two oldest each cut where a newer one starts
    # after a linear fade to nothing over its last `fade` frames.
    audio = font.render(pm, FS)
    expected = np.zeros_like(audio)
    for k, v in enumerate(voices):
        alone = font.render(piece((60 + k, 0.1 * k, 2.0, 100)), FS)[:v.at + v.frames]
        fade = np.ones(len(alone), np.float32)
        fade[len(alone) - v.fade:] = (v.fade - np.arange(v.fade)) / np.float32(max(v.fade, 1))
        expected[:len(alone)] += alone * fade
    assert np.allclose(audio, expected, atol=1e-5) and np.abs(audio).max() > 0.1
    monkeypatch.setattr(soundfont, "MAX_VOICES", 256)
    assert all(v.fade == 0 for v in font.voices(pm, FS))  # under the cap nothing is cut


def damaged(data: bytes, chunk: bytes, record: int, offset: int, value: int) -> bytes:
    """data with one 16-bit field of every record of an SF2 chunk set to value."""
    broken = bytearray(data)
    at = riff_chunks(data, 12, len(data))[chunk]
    (size,) = struct.unpack_from("<I", data, at + 4)
    for start in range(at + 8, at + 8 + size, record):
        struct.pack_into("<H", broken, start + offset, value)
    return bytes(broken)


def test_a_font_whose_presets_cannot_sound_is_refused_in_one_line(tmp_path, monkeypatch):
    """Damaged bag (zone) indices leave a preset with no zone that reaches a sample; a
    zeroed sample chunk leaves only silence. Played, such fonts wrote silent WAVs reported
    as rendered by the SoundFont: now loading them is a one-line error naming the file."""
    good = layered_font(1)
    assert SoundFont.from_bytes(good).regions(0, 0)
    fonts = {
        "pbag": damaged(good, b"pbag", 4, 0, 1),  # the preset zone loses its generators
        "ibag": damaged(good, b"ibag", 4, 0, 0),  # so do the instrument zones
        "timgm-ibag": damaged(DEFAULT_SOUNDFONT.read_bytes(), b"ibag", 4, 0, 0),
        "phdr": damaged(good, b"phdr", 38, 24, 0),  # the preset's zones are none
    }
    for name, data in fonts.items():
        path = tmp_path / f"{name}.sf2"
        path.write_bytes(data)
        assert "plays no sample (damaged zone indices?)" in assert_one_line_error(path)
    path = tmp_path / "zeroed.sf2"
    path.write_bytes(sf2_bytes(np.zeros(200, np.int16), [{SAMPLE_ID: 0}],
                               [{INSTRUMENT_GEN: 0}]))
    assert "preset 0:0 ('Piano') plays only silence" in assert_one_line_error(path)
    # The WAV writer (the command line checks it before writing) refuses it too.
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(path))
    with pytest.raises(SoundFontError, match="zeroed.sf2: preset 0:0"):
        render.synthesiser()


def test_silent_spans_are_found_however_long(monkeypatch):
    """The silence index reads whole blocks from counts: spans inside, across and beside
    loud samples are told apart, at any alignment to the blocks."""
    monkeypatch.setattr(soundfont, "SILENCE_BLOCK", 8)
    samples = np.zeros(100, np.int16)
    samples[[37, 81]] = (5, -3)
    silent = soundfont._silence_test(samples)
    for start in range(100):
        for end in range(start + 1, 101):
            assert silent(start, end) == (not samples[start:end].any()), (start, end)


def test_an_instrument_the_font_has_no_preset_for_is_an_error_not_silence(tmp_path):
    """A font without the program, without the piano every program falls back to, or
    without a drum kit would play those notes as silence."""
    path = tmp_path / "flute.sf2"
    path.write_bytes(sf2_bytes(tone(), [{SAMPLE_ID: 0}], [{INSTRUMENT_GEN: 0}], program=73))
    font = load(path)
    assert np.abs(font.render(piece((69, 0.0, 0.5, 100), program=73), FS)).max() > 0.1
    with pytest.raises(SoundFontError, match="flute.sf2: no preset for the program 0, nor"):
        font.render(piece((69, 0.0, 0.5, 100), program=0), FS)
    with pytest.raises(SoundFontError, match=r"no preset for the drum kit \(bank 128\)"):
        font.render(piece((36, 0.0, 0.5, 100), drum=True), FS)
    assert not font.render(piece((36, 0.0, 0.5, 0), drum=True), FS).any()  # no sounding note
