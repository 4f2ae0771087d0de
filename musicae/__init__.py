"""musicae: autoencoders for music and images behind one interface.

encode -> latent -> decode, with reconstruction, sampling and interpolation
written once for every model (see ``musicae.models.base``).
"""

from musicae.errors import MusicaeError


def load(name_or_dir, device: str = "auto"):
    """A trained model for notebooks: MIDI paths or PrettyMIDI in, PrettyMIDI out (images:
    arrays); see :class:`musicae.handle.Model`. (Imported here on use: ``import musicae``
    stays light.)"""
    from musicae.handle import load as _load

    return _load(name_or_dir, device)


__all__ = ["MusicaeError", "load"]
__version__ = "0.1.0"
