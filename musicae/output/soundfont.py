"""A small SoundFont 2 sample player in numpy: MIDI notes in, mono audio out.

No SoundFont synthesiser binding installs from PyPI without a system library, so
musicae plays the General MIDI SoundFont that ships inside pretty_midi
(``TimGM6mb.sf2``) itself. What it honours (SF2 spec 2.01/2.04): presets and
instruments with their global zones, key and velocity ranges, sample address
offsets, root key, coarse/fine/scale tuning and pitch correction, loop modes
(none, continuous, loop until release), initial attenuation and the volume
envelope (delay, attack, hold, decay, sustain, release, key-scaled hold and
decay). What it ignores: modulators (a fixed velocity curve, (velocity/127)**2,
stands in for the default ones), the low-pass filter, LFOs, the modulation
envelope, exclusive classes (an open hi-hat is not choked), reverb and chorus,
pan and stereo (the output is mono), pitch bends and controllers. Drums play
bank 128.

Bounds, so that a hostile font or piece costs no more than a real one: a note plays at
most ``MAX_LAYERS`` zones, at most ``MAX_VOICES`` voices sound at once (a new one takes
the oldest one's place, as hardware synthesisers and FluidSynth steal voices), and voices
are mixed into the output one at a time. A font with a preset that cannot sound (its zones
reach no sample, or only silence: damaged zone indices) is refused when it loads.

    sf = SoundFont.load(DEFAULT_SOUNDFONT)      # parsed once per file (cached)
    audio = sf.render(pretty_midi_object, fs=22050)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from musicae.errors import MusicaeError
from musicae.files import FileProblem, read_regular

DEFAULT_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"

MAX_RELEASE = 1.0  # seconds: long release tails are cut to this
MIN_RAMP = 0.005  # seconds: shortest attack and release (no clicks)
SILENT_DB = 100.0  # a note is rendered until its envelope is this far down (then cut)

# Generator operators (SF2 2.04 section 8.1.2).
START_OFFSET, END_OFFSET, STARTLOOP_OFFSET, ENDLOOP_OFFSET = 0, 1, 2, 3
START_COARSE, END_COARSE, STARTLOOP_COARSE, ENDLOOP_COARSE = 4, 12, 45, 50
PAN = 17
DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL, SUSTAIN_VOL, RELEASE_VOL = 33, 34, 35, 36, 37, 38
KEY_TO_HOLD, KEY_TO_DECAY = 39, 40
INSTRUMENT, KEY_RANGE, VEL_RANGE = 41, 43, 44
KEYNUM, VELOCITY, ATTENUATION = 46, 47, 48
COARSE_TUNE, FINE_TUNE, SAMPLE_ID, SAMPLE_MODES = 51, 52, 53, 54
SCALE_TUNING, OVERRIDING_ROOT_KEY = 56, 58
# Summed from preset to instrument level (the others are instrument-only or ranges).
ADDITIVE = (ATTENUATION, COARSE_TUNE, FINE_TUNE, SCALE_TUNING,
            DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL, SUSTAIN_VOL, RELEASE_VOL,
            KEY_TO_HOLD, KEY_TO_DECAY)
DEFAULTS = {DELAY_VOL: -12000, ATTACK_VOL: -12000, HOLD_VOL: -12000, DECAY_VOL: -12000,
            RELEASE_VOL: -12000, SUSTAIN_VOL: 0, ATTENUATION: 0, COARSE_TUNE: 0,
            FINE_TUNE: 0, SCALE_TUNING: 100, SAMPLE_MODES: 0, OVERRIDING_ROOT_KEY: -1,
            KEYNUM: -1, VELOCITY: -1}

# The pdta records (little-endian, packed).
PHDR = np.dtype([("name", "S20"), ("preset", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                 ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")])
BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
MOD = np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amt_src", "<u2"),
                ("trans", "<u2")])
GEN = np.dtype([("oper", "<u2"), ("amount", "<u2")])
INST = np.dtype([("name", "S20"), ("bag", "<u2")])
SHDR = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("startloop", "<u4"),
                 ("endloop", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                 ("link", "<u2"), ("type", "<u2")])
PDTA = {b"phdr": PHDR, b"pbag": BAG, b"pmod": MOD, b"pgen": GEN, b"inst": INST,
        b"ibag": BAG, b"imod": MOD, b"igen": GEN, b"shdr": SHDR}


# SoundFonts are voiced for EMU hardware, which applies 0.4 of the initial attenuation
# (FluidSynth does the same); at the full value TimGM6mb's piano is 7x quieter than its bass.
ATTENUATION_SCALE = 0.4
MAX_REGIONS = 200_000  # preset x instrument zones; General MIDI fonts have a few thousand
# Zones one note may play. Real fonts stack a stereo pair (2) per instrument layer, a few
# layers at most: TimGM6mb's string ensemble plays 6, the most of any of its presets.
# Beyond 16 a font is hostile (the audit's piano stacked 65,533 zones on every note).
MAX_LAYERS = 16
# Voices sounding at once: FluidSynth's default polyphony (General MIDI asks for 24 at
# least). Real pieces stay far below it; it bounds the work a dense piece can ask for.
MAX_VOICES = 256
SILENCE_BLOCK = 4096  # samples per block of the index that finds silent sample spans


class SoundFontError(MusicaeError, ValueError):
    """A file that is not a SoundFont 2 file, or a damaged one (one-line reason)."""


@dataclass(frozen=True, slots=True)
class Region:
    """One playable zone: a sample with its ranges, tuning, loop and envelope."""

    keys: tuple[int, int]
    vels: tuple[int, int]
    start: int  # absolute indices into the sample data
    end: int
    loop_start: int
    loop_end: int
    loop_mode: int  # 0 none, 1 continuous, 3 until release
    sample_rate: int
    root: int
    tune_cents: float  # coarse*100 + fine + pitch correction
    scale: float  # cents per key (scaleTuning)
    fixed_key: int  # keynum generator (-1: the note's key)
    fixed_vel: int  # velocity generator (-1: the note's velocity)
    gain: float  # from initial attenuation
    delay: float  # seconds
    attack: float
    hold: float
    decay: float  # seconds for a 100 dB fall
    sustain_db: float  # dB below full level
    release: float  # seconds for a 100 dB fall
    key_to_hold: int = 0  # timecents per key below 60 added to the hold
    key_to_decay: int = 0  # and to the decay


@dataclass(frozen=True)
class Voice:
    """One note playing one region, planned before a sample is read."""

    at: int  # output frame where it starts
    region: Region  # with the note's key-scaled hold and decay
    step: float  # sample frames per output frame
    gain: float  # the region's gain times the velocity curve
    frames: int  # until the envelope dies, a one-shot sample ends or a newer voice takes it
    held: int  # frames until the key is released (at most frames)
    attack: float  # seconds, at least MIN_RAMP
    release: float  # seconds, MIN_RAMP to MAX_RELEASE
    fade: int = 0  # frames of fade-out ending at `frames` (a voice another one took)


class SoundFont:
    """A parsed SoundFont: the sample data (one int16 view) and its regions per preset."""

    def __init__(self, samples: np.ndarray, presets: dict[tuple[int, int], list[Region]],
                 path: Path | None = None):
        self.samples = samples
        self.presets = presets
        self.path = path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_SOUNDFONT) -> SoundFont:
        """The SoundFont at path, parsed once per file (until it changes on disk)."""
        return load(path)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path | None = None) -> SoundFont:
        """Parse SF2 file contents; SoundFontError if they are not a sound SF2 file, or if
        one of its presets cannot sound."""
        samples, pdta = _read_riff(data)
        presets = _regions(pdta, len(samples))
        _check_sounding(presets, pdta[b"phdr"], samples)
        return cls(samples, presets, path)

    def regions(self, bank: int, program: int) -> list[Region]:
        """The preset's regions: (bank, program), else bank 0 with the program, else
        bank 0 program 0; for drums (bank 128) the kit, else kit 0, else any kit."""
        if bank == 128:
            kits = sorted(k for k in self.presets if k[0] == 128)
            order = [(128, program), (128, 0)] + kits[:1]
        else:
            order = [(bank, program), (0, program), (0, 0)]
        for key in order:
            if key in self.presets:
                return self.presets[key]
        return []

    def render(self, pm: pretty_midi.PrettyMIDI, fs: int = 22050) -> np.ndarray:
        """Mono float32 audio of pm's notes (not normalised): it lasts until the last
        note's release has died away. Pitch bends and controllers are ignored."""
        voices = self.voices(pm, fs)
        out = np.zeros(max((v.at + v.frames for v in voices), default=0), np.float32)
        end = 0  # a one-shot tail can end before its planned frames
        for v in voices:  # mixed one at a time: memory is the output and one voice
            audio = self._play(v, fs)
            out[v.at:v.at + len(audio)] += audio
            if len(audio):
                end = max(end, v.at + len(audio))
        return out[:end]

    def voices(self, pm: pretty_midi.PrettyMIDI, fs: int = 22050) -> list[Voice]:
        """The voices pm's notes start, in instrument and note order: each note plays the
        regions covering its key and velocity (the first MAX_LAYERS, in font order), and
        at most MAX_VOICES sound at once."""
        voices = []
        for inst in pm.instruments:
            regions = self._instrument_regions(inst)
            for note in inst.notes:
                if note.velocity > 0:
                    planned = (_plan(note, r, fs) for r in _layers(regions, note))
                    voices += [v for v in planned if v is not None]
        return _limit_polyphony(voices, MAX_VOICES, fs)

    def _instrument_regions(self, inst: pretty_midi.Instrument) -> list[Region]:
        """The instrument's regions; an error if it has notes and the font has no preset
        for it, nor a fallback (a font without them would play those notes as silence)."""
        regions = self.regions(128 if inst.is_drum else 0, inst.program)
        if not regions and any(n.velocity > 0 for n in inst.notes):
            what = "drum kit (bank 128)" if inst.is_drum else (
                f"program {inst.program}, nor a piano (bank 0 program 0) to fall back on")
            raise SoundFontError(f"{self.path or 'SoundFont'}: no preset for the {what}")
        return regions

    def _play(self, v: Voice, fs: int) -> np.ndarray:
        """One voice's audio, from its start to its silence."""
        r, step, n, n_held = v.region, v.step, v.frames, v.held
        frame = np.arange(n, dtype=np.float64)
        pos = r.start + step * frame
        looping = r.loop_mode in (1, 3)
        if looping:
            length = r.loop_end - r.loop_start
            loop_until = n if r.loop_mode == 1 else n_held
            wrapped = pos[:loop_until]
            over = wrapped >= r.loop_end
            wrapped[over] = r.loop_start + np.mod(wrapped[over] - r.loop_start, length)
            if loop_until < n:  # mode 3: after the release, on from the loop to the end
                if loop_until > 0:
                    phase = float(pos[loop_until - 1]) + step
                    if phase >= r.loop_end:
                        phase = r.loop_start + (phase - r.loop_start) % length
                    pos[loop_until:] = phase + step * (frame[loop_until:] - loop_until)
                n = min(n, loop_until + int(np.searchsorted(pos[loop_until:], r.end - 1)))
                pos = pos[:n]
                frame = frame[:n]
        index = pos.astype(np.int64)
        frac = (pos - index).astype(np.float32)
        after = index + 1
        if looping:
            after[:loop_until][after[:loop_until] >= r.loop_end] -= length
        np.minimum(after, r.end - 1, out=after)
        data = self.samples
        low = data[index].astype(np.float32)
        wave = low + frac * (data[after].astype(np.float32) - low)
        env = _envelope(n, min(n_held, n), fs, r, v.attack, v.release)
        if v.fade:  # taken by a newer voice: a linear fade to nothing at v.frames
            begin = v.frames - v.fade
            env[begin:] *= (v.frames - np.arange(begin, n, dtype=np.float32)) / v.fade
        return (wave * env * np.float32(v.gain)).astype(np.float32, copy=False)


def _layers(regions: list[Region], note: pretty_midi.Note) -> list[Region]:
    """The regions a note plays: those covering its key and velocity, the first
    MAX_LAYERS of them in font order."""
    chosen = []
    for r in regions:
        if r.keys[0] <= note.pitch <= r.keys[1] and r.vels[0] <= note.velocity <= r.vels[1]:
            chosen.append(r)
            if len(chosen) == MAX_LAYERS:
                break
    return chosen


def _plan(note: pretty_midi.Note, r: Region, fs: int) -> Voice | None:
    """How one note plays one region (pitch step, gain, lengths); None if it is silent."""
    key = r.fixed_key if r.fixed_key >= 0 else note.pitch
    velocity = r.fixed_vel if r.fixed_vel > 0 else note.velocity
    cents = (key - r.root) * r.scale + r.tune_cents
    step = 2.0 ** (cents / 1200.0) * r.sample_rate / fs  # samples per output frame
    if r.key_to_hold or r.key_to_decay:  # keynumToVolEnvHold/Decay
        r = dataclasses.replace(r, hold=r.hold * 2.0 ** ((60 - key) * r.key_to_hold / 1200),
                                decay=r.decay * 2.0 ** ((60 - key) * r.key_to_decay / 1200))
    held = max(note.end - note.start, 0.0)
    release = min(max(r.release, MIN_RAMP), MAX_RELEASE)
    attack = max(r.attack, MIN_RAMP)
    silent_at = math.inf  # the envelope fades out by itself (sustain at silence)
    if r.sustain_db >= SILENT_DB:
        silent_at = r.delay + attack + r.hold + r.decay
    n = int(math.ceil(min(held + release, silent_at) * fs))
    n_held = min(int(round(held * fs)), n)
    if r.loop_mode not in (1, 3):  # the sample's end ends the note
        n = min(n, max(int(math.ceil((r.end - 1 - r.start) / step)), 0))
    if n <= 0:
        return None
    return Voice(at=max(int(round(note.start * fs)), 0), region=r, step=step,
                 gain=r.gain * (velocity / 127.0) ** 2 / 32768.0, frames=n,
                 held=min(n_held, n), attack=attack, release=release)


def _limit_polyphony(voices: list[Voice], limit: int, fs: int) -> list[Voice]:
    """The voices (order kept) with at most limit sounding at once: one that starts while
    limit sound takes the oldest one's place, which fades out over MIN_RAMP just before.
    A voice counts as sounding for its planned frames; one taken as it starts is dropped."""
    ends = [v.at + v.frames for v in voices]
    sounding: list[int] = []  # oldest first: voices are visited in order of their start
    for i in sorted(range(len(voices)), key=lambda i: voices[i].at):
        sounding = [j for j in sounding if ends[j] > voices[i].at]
        if len(sounding) >= limit:
            ends[sounding.pop(0)] = voices[i].at
        sounding.append(i)
    ramp = max(int(round(MIN_RAMP * fs)), 1)
    kept = []
    for v, end in zip(voices, ends, strict=True):
        frames = end - v.at
        if frames == v.frames:
            kept.append(v)
        elif frames > 0:
            kept.append(dataclasses.replace(v, frames=frames, held=min(v.held, frames),
                                            fade=min(ramp, frames)))
    return kept


def _envelope(n: int, n_held: int, fs: int, r: Region, attack: float,
              release: float) -> np.ndarray:
    """The volume envelope over a voice's n frames, released after n_held frames:
    delay, linear attack, hold, decay to the sustain level (linear in dB), then the
    release from the level reached (linear in dB). Built segment by segment."""
    env = np.empty(n, np.float32)
    held = env[:n_held]
    edges = np.cumsum([r.delay, attack, r.hold]) * fs
    d, a, h = (min(int(round(x)), n_held) for x in edges)
    held[:d] = 0.0
    if a > d:
        held[d:a] = (np.arange(d, a, dtype=np.float32) - np.float32(r.delay * fs) + 1) / (
            np.float32(attack * fs))
    held[a:h] = 1.0
    slope = SILENT_DB / max(r.decay, 1e-3) / fs  # dB per frame
    s = min(h + int(math.ceil(r.sustain_db / slope)), n_held)
    if s > h:
        held[h:s] = _db_ramp(s - h, slope, 0.0)
    held[s:] = 10.0 ** (-r.sustain_db / 20.0)
    if n > n_held:
        t = n_held / fs
        rise = min(max((t - r.delay) / attack, 0.0), 1.0)
        level = min(max((t - r.delay - attack - r.hold) * SILENT_DB / max(r.decay, 1e-3), 0.0),
                    r.sustain_db)
        env[n_held:] = rise * _db_ramp(n - n_held, SILENT_DB / release / fs, level)
    np.minimum(env, 1.0, out=env)
    return env


def _db_ramp(n: int, slope: float, start: float) -> np.ndarray:
    """Amplitudes falling linearly in dB: start dB down, then slope dB more per frame."""
    frames = np.arange(n, dtype=np.float32)
    frames *= np.float32(-slope * math.log(10.0) / 20.0)
    frames += np.float32(-start * math.log(10.0) / 20.0)
    return np.exp(frames, out=frames)


def load(path: str | Path = DEFAULT_SOUNDFONT) -> SoundFont:
    """The SoundFont at path, parsed once (cached by path, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise SoundFontError(f"{path}: cannot read the SoundFont ({exc.strerror})") from None
    return _load(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(path: str, size: int, mtime_ns: int) -> SoundFont:
    try:
        data = read_regular(path, "soundfont")[0]  # a FIFO or /dev/zero: refused at once
    except FileProblem as exc:
        raise SoundFontError(f"{path}: cannot read the SoundFont ({exc.reason})") from None
    try:
        return SoundFont.from_bytes(data, Path(path))
    except SoundFontError as exc:
        raise SoundFontError(f"{path}: {exc}") from None
    except (IndexError, KeyError, ValueError, struct.error, OverflowError) as exc:
        raise SoundFontError(f"{path}: damaged SoundFont ({type(exc).__name__})") from None


# ----------------------------------------------------------------------------- parsing


def _chunks(data: bytes, begin: int, end: int, where: str):
    """(id, data start, data end) of the RIFF chunks in data[begin:end]."""
    at = begin
    while at + 8 <= end:
        cid, size = struct.unpack_from("<4sI", data, at)
        if at + 8 + size > end:
            if cid == b"LIST" and at + 12 <= end:
                cid = data[at + 8:at + 12]  # name the list: "truncated chunk pdta"
            name = cid.decode("latin-1", "replace").strip()
            raise SoundFontError(f"truncated chunk {name} in {where}")
        yield cid, at + 8, at + 8 + size
        at += 8 + size + (size & 1)
    if at < end and any(data[at:end]):
        raise SoundFontError(f"truncated chunk header in {where}")


def _read_riff(data: bytes) -> tuple[np.ndarray, dict[bytes, np.ndarray]]:
    """The sample data (int16 view) and the pdta record arrays of an SF2 file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError("not a SoundFont 2 file (no RIFF sfbk header)")
    (size,) = struct.unpack_from("<I", data, 4)
    if 8 + size > len(data):
        raise SoundFontError(f"truncated file ({len(data)} of {8 + size} bytes)")
    lists = {}
    for cid, begin, end in _chunks(data, 12, 8 + size, "RIFF"):
        if cid == b"LIST" and end - begin >= 4:
            lists[bytes(data[begin:begin + 4])] = (begin + 4, end)
    for name in (b"sdta", b"pdta"):
        if name not in lists:
            raise SoundFontError(f"no {name.decode()} list")
    samples = None
    for cid, begin, end in _chunks(data, *lists[b"sdta"], "sdta"):
        if cid == b"smpl":
            samples = np.frombuffer(data, "<i2", (end - begin) // 2, begin)
    if samples is None or len(samples) == 0:
        raise SoundFontError("no sample data (smpl)")
    pdta = {}
    for cid, begin, end in _chunks(data, *lists[b"pdta"], "pdta"):
        if cid in PDTA:
            dtype = PDTA[cid]
            if (end - begin) % dtype.itemsize or end - begin < dtype.itemsize:
                raise SoundFontError(f"bad {cid.decode()} chunk size {end - begin}")
            pdta[cid] = np.frombuffer(data, dtype, (end - begin) // dtype.itemsize, begin)
    missing = [k.decode() for k in PDTA if k not in pdta]
    if missing:
        raise SoundFontError(f"no {', '.join(missing)} in pdta")
    return samples, pdta


def _zones(headers: np.ndarray, bags: np.ndarray, gens: np.ndarray, what: str):
    """Per header (terminal record excluded): its zones as {operator: raw amount}."""
    bag_at = headers["bag"].tolist()
    gen_at = bags["gen"].tolist()
    opers = gens["oper"].tolist()
    amounts = gens["amount"].tolist()
    result = []
    for i in range(len(headers) - 1):
        first, last = bag_at[i], bag_at[i + 1]
        if not first <= last <= len(bags) - 1:
            raise SoundFontError(f"bad {what} zone index {last} (of {len(bags) - 1})")
        zones = []
        for b in range(first, last):
            g0, g1 = gen_at[b], gen_at[b + 1]
            if not g0 <= g1 <= len(gens):
                raise SoundFontError(f"bad {what} generator index {g1} (of {len(gens)})")
            zones.append(dict(zip(opers[g0:g1], amounts[g0:g1], strict=True)))
        result.append(zones)
    return result


def _signed(raw: int) -> int:
    return raw - 65536 if raw >= 32768 else raw


def _range(raw: int | None) -> tuple[int, int]:
    return (0, 127) if raw is None else (raw & 0xFF, raw >> 8)


def _split(zones: list[dict], link: int) -> tuple[dict, list[dict]]:
    """A preset's or instrument's global zone (the first one, without the linking
    generator) and its other zones (those with it)."""
    if zones and link not in zones[0]:
        return zones[0], [z for z in zones[1:] if link in z]
    return {}, [z for z in zones if link in z]


def _regions(pdta: dict[bytes, np.ndarray], n_samples: int) -> dict:
    """Every preset's regions, keyed (bank, program); indices checked on the way."""
    preset_zones = _zones(pdta[b"phdr"], pdta[b"pbag"], pdta[b"pgen"], "preset")
    inst_zones = _zones(pdta[b"inst"], pdta[b"ibag"], pdta[b"igen"], "instrument")
    shdr = pdta[b"shdr"]
    samples = [tuple(s) for s in shdr[["start", "end", "startloop", "endloop", "rate",
                                        "pitch", "correction", "type"]].tolist()]
    n_headers = len(shdr) - 1
    phdr = pdta[b"phdr"]
    banks, programs = phdr["bank"].tolist(), phdr["preset"].tolist()
    presets: dict[tuple[int, int], list[Region]] = {}
    pairs = 0  # preset zone x instrument zone: a hostile file can make billions
    for p, zones in enumerate(preset_zones):
        key = (banks[p], programs[p])
        if key in presets:
            continue  # the first of duplicate presets wins
        p_global, p_local = _split(zones, INSTRUMENT)
        regions = []
        for pz in p_local:
            pgen = {**p_global, **pz}
            i = pz[INSTRUMENT]
            if i >= len(inst_zones):
                raise SoundFontError(f"bad instrument index {i} (of {len(inst_zones)})")
            i_global, i_local = _split(inst_zones[i], SAMPLE_ID)
            pairs += len(i_local)
            if pairs > MAX_REGIONS:
                raise SoundFontError(f"more than {MAX_REGIONS:,} zones (a damaged file?)")
            for iz in i_local:
                igen = {**i_global, **iz}
                s = igen[SAMPLE_ID]
                if s >= n_headers:
                    raise SoundFontError(f"bad sample index {s} (of {n_headers})")
                region = _region(pgen, igen, samples[s], n_samples, s)
                if region is not None:
                    regions.append(region)
        presets[key] = regions
    return presets


def _check_sounding(presets: dict[tuple[int, int], list[Region]], phdr: np.ndarray,
                    samples: np.ndarray) -> None:
    """Refuse a font with a preset that cannot sound: none of its zones reaches a sample in
    the file, or every sample it reaches is silence (damaged zone indices do both). Played,
    such a font writes silent audio that looks like music rendered."""
    if not presets:
        raise SoundFontError("no presets")
    names = {}
    headers = phdr[:-1]  # the last is the terminal record
    for name, bank, program in zip(headers["name"].tolist(), headers["bank"].tolist(),
                                   headers["preset"].tolist(), strict=True):
        names.setdefault((bank, program), name.split(b"\0")[0].decode("latin-1"))
    silent = _silence_test(samples)
    for (bank, program), regions in presets.items():
        preset = f"preset {bank}:{program} ({names[bank, program]!r})"
        if not regions:
            raise SoundFontError(f"{preset} plays no sample (damaged zone indices?)")
        if all(silent(r.start, r.end) for r in regions):
            raise SoundFontError(f"{preset} plays only silence "
                                  "(damaged zone indices or sample data?)")


def _silence_test(samples: np.ndarray):
    """A test whether samples[start:end] is all zeros that reads at most two blocks of
    SILENCE_BLOCK samples, however long the span: thousands of zones can each name a
    long span."""
    block = SILENCE_BLOCK
    whole = len(samples) // block
    loud = samples[:whole * block].reshape(whole, block).any(axis=1)
    before = np.concatenate(([0], np.cumsum(loud)))  # loud blocks before each block

    def silent(start: int, end: int) -> bool:
        first, last = -(-start // block), end // block  # the whole blocks inside the span
        if first >= last:
            return not samples[start:end].any()
        return (before[last] == before[first] and not samples[start:first * block].any()
                and not samples[last * block:end].any())

    return silent


def _region(pgen: dict, igen: dict, header: tuple, n_samples: int, s: int) -> Region | None:
    """One instrument zone under one preset zone, or None if it can never sound."""
    start, end, loop_start, loop_end, rate, pitch, correction, kind = header
    if kind & 0x8000:
        return None  # a ROM sample: not in this file
    keys = _intersect(_range(pgen.get(KEY_RANGE)), _range(igen.get(KEY_RANGE)))
    vels = _intersect(_range(pgen.get(VEL_RANGE)), _range(igen.get(VEL_RANGE)))
    if keys is None or vels is None:
        return None

    def value(oper: int) -> int:
        v = _signed(igen[oper]) if oper in igen else DEFAULTS.get(oper, 0)
        if oper in ADDITIVE and oper in pgen:
            v += _signed(pgen[oper])
        return v

    def offset(fine: int, coarse: int) -> int:
        return value(fine) + 32768 * value(coarse)

    start += offset(START_OFFSET, START_COARSE)
    end += offset(END_OFFSET, END_COARSE)
    loop_start += offset(STARTLOOP_OFFSET, STARTLOOP_COARSE)
    loop_end += offset(ENDLOOP_OFFSET, ENDLOOP_COARSE)
    if not 0 <= start < end <= n_samples or end - start < 2:
        raise SoundFontError(f"sample {s} lies outside the sample data ({start}..{end})")
    if rate <= 0:
        raise SoundFontError(f"sample {s} has sample rate {rate}")
    mode = value(SAMPLE_MODES) & 3
    if mode in (1, 3) and not start <= loop_start < loop_end <= end:
        mode = 0  # a loop outside its sample: play it once
    root = value(OVERRIDING_ROOT_KEY)
    if not 0 <= root <= 127:
        root = pitch if pitch <= 127 else 60
    attenuation = min(max(value(ATTENUATION), 0), 1440)
    return Region(
        keys=keys, vels=vels, start=start, end=end, loop_start=loop_start, loop_end=loop_end,
        loop_mode=mode, sample_rate=rate, root=root,
        tune_cents=_clamp(value(COARSE_TUNE), 120) * 100 + _clamp(value(FINE_TUNE), 99)
        + correction, scale=float(min(max(value(SCALE_TUNING), 0), 1200)),
        fixed_key=value(KEYNUM) if 0 <= value(KEYNUM) <= 127 else -1,
        fixed_vel=value(VELOCITY) if 1 <= value(VELOCITY) <= 127 else -1,
        gain=10.0 ** (-attenuation * ATTENUATION_SCALE / 200.0),
        delay=_seconds(value(DELAY_VOL)), attack=_seconds(value(ATTACK_VOL)),
        hold=_seconds(value(HOLD_VOL)), decay=_seconds(value(DECAY_VOL)),
        sustain_db=min(max(value(SUSTAIN_VOL), 0), 1440) / 10.0,
        release=_seconds(value(RELEASE_VOL)),
        key_to_hold=_clamp(value(KEY_TO_HOLD), 1200),
        key_to_decay=_clamp(value(KEY_TO_DECAY), 1200))


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    low, high = max(a[0], b[0]), min(a[1], b[1])
    return (low, high) if low <= high else None


def _clamp(value: int, limit: int) -> int:
    return min(max(value, -limit), limit)


def _seconds(timecents: int) -> float:
    """Timecents to seconds; -12000 (the default) and below is no time at all."""
    if timecents <= -12000:
        return 0.0
    return 2.0 ** (min(timecents, 8000) / 1200.0)
