"""Music as numpy arrays: quantised notes (``musicae.midi`` reads and writes the files) ⇄
windows of a representation.

No torch here. ``kinds`` holds one
:class:`~musicae.representations.base.Representation` per kind (melody,
drums, piano-roll, melody over chords, voices, trio; ``groove`` the drums as
played; ``multitrack`` a bar of any instruments as events), each owning its
encoding and its output geometry; ``codec`` cuts
pieces into windows laid out in bar ``slots`` and back; ``chords`` infers and
names triads.
"""

from musicae.representations.base import Representation
from musicae.representations.groove import Groove
from musicae.representations.kinds import (
    REPRESENTATIONS,
    Drums,
    Melody,
    MelodyChords,
    Pianoroll,
    Trio,
    Voices,
    from_dict,
)
from musicae.representations.multitrack import Multitrack

__all__ = ["REPRESENTATIONS", "Drums", "Groove", "Melody", "MelodyChords", "Multitrack",
           "Pianoroll", "Representation", "Trio", "Voices", "from_dict"]
