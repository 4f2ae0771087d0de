"""musicae: autoencoders for music and images behind one interface.

encode -> latent -> decode, with reconstruction, sampling and interpolation
written once for every model (see ``musicae.models.base``).
"""

from musicae.errors import MusicaeError

__all__ = ["MusicaeError"]
__version__ = "0.1.0"
