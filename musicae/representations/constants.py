"""Every token value and grid size of the music representations, named once.

The melody tokens are MusicVAE's (``OneHotMelodyConverter`` with pitches
21..108); the drum classes are MusicVAE's nine-way reduction of the General
MIDI percussion map. Other modules import these names and never repeat the
numbers. What a MIDI file is read and written with (the step grid, default tempo,
meter, velocity, program, drum channel) is ``musicae.midi.constants``.
"""

# --- the step grid -----------------------------------------------------------
DEFAULT_SLOT = 16  # steps reserved per bar in a window: one 4/4 bar

# --- melody: one-hot over MELODY_DEPTH classes -------------------------------
NO_EVENT = 0  # nothing happens: the sounding note (if any) is held
NOTE_OFF = 1  # the sounding note stops
MIN_PITCH = 21  # A0, lowest piano key
MAX_PITCH = 108  # C8, highest piano key
FIRST_PITCH_TOKEN = 2  # token of MIN_PITCH; pitch p is token p - MIN_PITCH + 2
MELODY_DEPTH = MAX_PITCH - MIN_PITCH + 1 + FIRST_PITCH_TOKEN  # 90

# --- drums: nine classes, multi-hot or one 512-way index ---------------------
# MusicVAE's DEFAULT_DRUM_TYPE_PITCHES: the first pitch of each class is the one
# written back on decoding.
DRUM_CLASS_PITCHES: tuple[tuple[int, ...], ...] = (
    (36, 35),  # bass drum
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
    (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
    (45, 29, 41, 43, 61, 64, 84),  # low tom
    (48, 47, 60, 63, 77, 86, 87),  # mid tom
    (50, 30, 62, 76, 83),  # high tom
    (49, 52, 55, 57, 58),  # crash cymbal
    (51, 53, 59, 82),  # ride cymbal
)
DRUM_CLASSES = len(DRUM_CLASS_PITCHES)  # 9
DRUM_CLASS_NAMES = ("bass drum", "snare", "closed hi-hat", "open hi-hat", "low tom",
                    "mid tom", "high tom", "crash", "ride")
DRUMS_DEPTH = 2**DRUM_CLASSES  # 512: one index per set of classes hit together
DRUM_PITCH_TO_CLASS: dict[int, int] = {
    pitch: cls for cls, pitches in enumerate(DRUM_CLASS_PITCHES) for pitch in pitches
}

# --- pianoroll: a three-state categorical per (step, pitch) -----------------
PIANOROLL_OFF = 0  # the pitch is silent
PIANOROLL_ONSET = 1  # a note of this pitch starts at this step
PIANOROLL_HOLD = 2  # a note of this pitch, started earlier, still sounds
PIANOROLL_STATES = 3

