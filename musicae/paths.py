"""Where the repository's bundled data lives (corpora and shipped models)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
