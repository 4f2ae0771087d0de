"""Where the bundled data lives (corpora and shipped models): ``data/`` beside the package
in a clone of the repository, ``musicae/bundled/`` inside an installed wheel. Torch-free,
so a listing of the shipped models needs no torch."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
DATA_DIR = _PACKAGE / "bundled" if (_PACKAGE / "bundled").is_dir() else _PACKAGE.parent / "data"
SHIPPED_DIR = DATA_DIR / "models"  # one model directory each
CONFIG = "config.json"  # a model directory's settings, card and training state
WEIGHTS = "model.safetensors"  # ... and its weights (with a fitted prior's buffers)
