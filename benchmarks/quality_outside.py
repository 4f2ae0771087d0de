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

import torch

from musicae import api
from musicae.train import TensorData

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"ryans": "Ryan's Mammoth Collection", "airds": "Aird's Airs"}


def build(source: str, folder: Path) -> None:
    if folder.is_dir() and any(folder.glob("*.mid")):
        return
    print(f"making {folder} from music21's corpus ({SOURCES[source]}) ...", flush=True)
    subprocess.run([sys.executable, str(ROOT / "data" / "build_folk.py"), "--sources", source,
                    "--flat", "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)


def seen_rows(x: torch.Tensor, train: set[bytes]) -> torch.Tensor:
    """True for windows that are token-for-token a training window."""
    return torch.tensor([row.numpy().tobytes() in train for row in x], dtype=torch.bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="folk_mel_2bar")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "outside")
    args = parser.parse_args()
    bundle = api.load(args.model, "cpu")
    music = api.domain("music")
    train = {row.numpy().tobytes()
             for row in music.training_data("folk", bundle.preset, "train", progress=False).x}
    rows = [("folk test split (bundled)", music.training_data("folk", bundle.preset, "test",
                                                              progress=False).x, 0)]
    for source, title in SOURCES.items():
        folder = args.out / source
        build(source, folder)
        x = music.training_data(str(folder), bundle.preset, "all", progress=False).x
        seen = seen_rows(x, train)
        rows.append((f"{title}, all windows", x, int(seen.sum())))
        rows.append((f"{title}, unseen windows", x[~seen], 0))
    print(f"model {args.model}; accuracy per real step, free-running on up to 2048 windows")
    print(f"{'data':44}{'windows':>9}{'in train':>10}{'teacher-forced':>16}"
          f"{'free-running':>14}{'ELBO':>9}")
    for name, x, seen in rows:
        m = music.evaluate(bundle, TensorData(x))
        print(f"{name:44}{m['windows']:>9}{seen:>10}{m['teacher_forced_accuracy']:>16.3f}"
              f"{m['free_running_accuracy']:>14.3f}{m['elbo']:>9.1f}")


if __name__ == "__main__":
    main()
