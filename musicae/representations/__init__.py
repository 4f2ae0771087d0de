"""Music as numpy arrays: MIDI ⇄ quantised notes ⇄ windows of a representation.

No torch here. ``notes`` reads and writes MIDI; ``kinds`` holds one
:class:`~musicae.representations.base.Representation` per kind (melody,
drums, piano-roll), each owning its encoding and its output geometry;
``codec`` cuts pieces into windows laid out in bar ``slots`` and back.
"""

from musicae.representations.base import Representation
from musicae.representations.kinds import REPRESENTATIONS, Drums, Melody, Pianoroll, from_dict

__all__ = ["REPRESENTATIONS", "Drums", "Melody", "Pianoroll", "Representation", "from_dict"]
