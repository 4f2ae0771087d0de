"""What a MIDI file is read and written with when it says nothing itself: the step grid,
tempo, meter, velocity, program and the drum channel (the representations import them
from here)."""

STEPS_PER_QUARTER = 4  # sixteenth notes, as MusicVAE
DEFAULT_QPM = 120.0  # tempo written into decoded MIDI when none is given
DEFAULT_METER = (4, 4)  # MIDI's implied time signature when a file gives none
DEFAULT_VELOCITY = 80  # velocity of decoded notes (the representations carry none)
DEFAULT_PROGRAM = 0  # General MIDI acoustic grand piano
DRUM_CHANNEL = 9  # channel 10 in 1-based MIDI numbering
