"""A melody model on folk MIDI from outside the bundled corpus.

The bundled corpus is the Essen collection and O'Neill's Music of Ireland.
This script makes two more folders of folk MIDI from music21's corpus with
the same converter (``data/build_folk.py --flat``; needs ``pip install -e
".[build]"``): Ryan's Mammoth Collection of fiddle tunes (1883) and Aird's
Selection of Scotch, English, Irish and Foreign Airs (1782-1803). Neither is
in ``data/``; both go to ``runs/outside/`` and are made once.

Fiddle-tune books share many tunes with O'Neill's, so a window of an outside
tune can be note-for-note a window of the training split. The table reports
how many are, and the model's accuracy on the windows that are not.

    python benchmarks/quality_outside.py [MODEL] [--out runs/outside]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from musicae import api
from musicae.datasets.examples import window_examples
from musicae.domains.music import evaluate_windows

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"ryans": "Ryan's Mammoth Collection", "airds": "Aird's Airs"}


def build(source: str, folder: Path) -> None:
    if folder.is_dir() and any(folder.glob("*.mid")):
        return
    print(f"making {folder} from music21's corpus ({SOURCES[source]}) ...", flush=True)
    subprocess.run([sys.executable, str(ROOT / "data" / "build_folk.py"), "--sources", source,
                    "--flat", "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)


def seen_rows(windows: dict[str, np.ndarray], train: set[bytes]) -> np.ndarray:
    """True for windows that are token-for-token (and bar for bar) a training window."""
    return np.array([key in train for key in keys(windows)], dtype=bool)


def keys(windows: dict[str, np.ndarray]) -> list[bytes]:
    """One key per window: its lengths and its tokens."""
    return [lengths.tobytes() + row.tobytes()
            for lengths, row in zip(windows["lengths"], windows["tokens"], strict=True)]


def arrays(music, data: str, split: str, rep) -> dict[str, np.ndarray]:
    return dict(music.examples(data, split, rep, progress=False).arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="folk_mel_2bar")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "outside")
    args = parser.parse_args()
    bundle = api.load(args.model, "cpu")
    music, rep = api.domain(bundle), bundle.representation
    train = set(keys(arrays(music, "folk", "train", rep)))
    rows = [("folk test split (bundled)", arrays(music, "folk", "test", rep), 0)]
    for source, title in SOURCES.items():
        folder = args.out / source
        build(source, folder)
        x = arrays(music, str(folder), "all", rep)
        seen = seen_rows(x, train)
        rows.append((f"{title}, all windows", x, int(seen.sum())))
        rows.append((f"{title}, unseen windows", {k: v[~seen] for k, v in x.items()}, 0))
    print(f"model {args.model}; accuracy per real step, free-running on up to 2048 windows")
    print(f"{'data':44}{'windows':>9}{'in train':>10}{'teacher-forced':>16}"
          f"{'free-running':>14}{'ELBO':>9}")
    for name, x, seen in rows:
        m = evaluate_windows(bundle.model, window_examples(x, rep))
        print(f"{name:44}{m['windows']:>9}{seen:>10}{m['teacher_forced_accuracy']:>16.3f}"
              f"{m['free_running_accuracy']:>14.3f}{m['elbo']:>9.1f}")


if __name__ == "__main__":
    main()
