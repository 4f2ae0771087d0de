"""Build the bundled drum corpus, data/groove/, from the Groove MIDI Dataset.

Source: the folder ``groove/`` of the public repository zharry29/drums-with-llm,
which holds the Groove MIDI Dataset (Gillick, Roberts, Engel, Eck and Bamman,
2019; Magenta; CC BY 4.0) as released: 1,150 MIDI files of human drumming and
``info.csv``. The script reads one pinned commit of a local git copy of that
repository (bare or not) and copies every MIDI file unchanged into
``train/``, ``valid/`` or ``test/`` as ``info.csv``'s own split says, under a
name made of drummer, session and the original file name. It also copies
``info.csv``, the upstream ``LICENSE`` and ``README``, writes ``manifest.csv``
(one row per file) and ``SOURCE`` (repository, commit, licence and
attribution). The output is the same on every run. See data/README.md.

Usage::

    python data/build_groove.py [--mirror GIT_DIR] [--commit HASH]

``read_tree`` (a pinned commit's files, through git itself) is shared with
build_pop909.py.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import mido

REPOSITORY = "https://github.com/zharry29/drums-with-llm"
COMMIT = "476adbc938a600eaca26bbb02648e6127b5eca64"
MIRROR = Path("/work/.mirror/zharry29+drums-with-llm/repo")
FOLDER = "groove"  # the only folder of the repository taken
SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # info.csv's → ours
KEPT = ("info.csv", "LICENSE", "README")  # copied unchanged beside the split folders
OUT_DIR = Path(__file__).resolve().parent / "groove"
ATTRIBUTION = (
    "Groove MIDI Dataset: Jon Gillick, Adam Roberts, Jesse Engel, Douglas Eck and David "
    "Bamman, \"Learning to Groove with Inverse Sequence Transformations\", International "
    "Conference on Machine Learning (ICML), 2019. https://magenta.tensorflow.org/datasets/groove"
)
LICENCE = "Creative Commons Attribution 4.0 International (CC BY 4.0)"


def read_tree(mirror: Path, commit: str, folder: str,
              keep: Callable[[str], bool] = lambda path: True) -> dict[str, bytes]:
    """Every file under ``folder`` at ``commit`` of a git copy whose path ``keep`` accepts:
    path → bytes.

    Reads blobs with ``git cat-file --batch`` (one process for all files), so a
    bare mirror works and nothing is checked out.
    """
    listing = subprocess.run(
        ["git", "-C", str(mirror), "ls-tree", "-r", "-z", commit, "--", folder],
        check=True, capture_output=True).stdout.decode()
    entries = [line.split("\t", 1) for line in listing.split("\0") if line]
    blobs = [(info.split()[2], path) for info, path in entries
             if info.split()[1] == "blob" and keep(path)]
    request = "".join(f"{sha}\n" for sha, _ in blobs).encode()
    out = subprocess.run(["git", "-C", str(mirror), "cat-file", "--batch"], input=request,
                         check=True, capture_output=True).stdout
    files, at = {}, 0
    for _, path in blobs:
        header_end = out.index(b"\n", at)
        header = out[at:header_end].split()
        if header[-1] == b"missing":
            raise SystemExit(f"{mirror}: {path} is not in this copy of the repository")
        size = int(header[2])
        files[path] = out[header_end + 1: header_end + 1 + size]
        at = header_end + 1 + size + 1  # the blob, then a newline
    return files


def full_hash(mirror: Path, commit: str) -> str:
    """The 40-hex hash a commit name (a hash, a prefix, a branch) stands for."""
    command = ["git", "-C", str(mirror), "rev-parse", "--verify", f"{commit}^{{commit}}"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def file_name(row: dict) -> str:
    """``drummer1_session1_100_neworleans-secondline_94_beat_4-4.mid``: drummer, session
    (``eval_session`` as ``eval-session``) and the original name, so names stay unique."""
    session = row["session"].split("/")[-1].replace("_", "-")
    return f"{row['drummer']}_{session}_{row['midi_filename'].split('/')[-1]}"


def hits(data: bytes) -> int:
    """Number of drum hits (note-ons with velocity > 0) in a MIDI file."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    return sum(msg.type == "note_on" and msg.velocity > 0
               for track in midi.tracks for msg in track)


def manifest_row(row: dict, data: bytes) -> dict:
    """One manifest row: where the file went and what info.csv says about it."""
    split = SPLITS[row["split"]]
    return {
        "file": f"{split}/{file_name(row)}", "split": split,
        "source_path": f"{FOLDER}/{row['midi_filename']}", "drummer": row["drummer"],
        "session": row["session"], "style": row["style"], "bpm": row["bpm"],
        "beat_type": row["beat_type"], "time_signature": row["time_signature"].replace("-", "/"),
        "duration": row["duration"], "hits": hits(data),
    }


def write_source(out_dir: Path, commit: str) -> None:
    (out_dir / "SOURCE").write_text(
        f"repository: {REPOSITORY}\nfolder: {FOLDER}/\ncommit: {commit}\n"
        f"licence: {LICENCE} (see LICENSE)\nattribution: {ATTRIBUTION}\n"
        "changes: none to the MIDI files; renamed to drummer_session_name.mid and sorted into "
        "train/, valid/, test/ by info.csv's split column\n", encoding="utf-8")


def build(mirror: Path, commit: str, out_dir: Path) -> list[dict]:
    """Write the corpus into ``out_dir`` (its split folders emptied first); return the
    manifest rows."""
    commit = full_hash(mirror, commit)
    files = read_tree(mirror, commit, FOLDER)
    info = list(csv.DictReader(io.StringIO(files[f"{FOLDER}/info.csv"].decode("utf-8"))))
    midi = {path for path in files if path.endswith(".mid")}
    listed = {f"{FOLDER}/{row['midi_filename']}" for row in info}
    if midi != listed:
        raise SystemExit(f"info.csv and the MIDI files disagree: {sorted(midi ^ listed)[:5]}")
    for split in SPLITS.values():
        shutil.rmtree(out_dir / split, ignore_errors=True)
        (out_dir / split).mkdir(parents=True)
    rows = []
    for row in sorted(info, key=file_name):
        data = files[f"{FOLDER}/{row['midi_filename']}"]
        rows.append(manifest_row(row, data))
        (out_dir / rows[-1]["file"]).write_bytes(data)
    if len({r["file"] for r in rows}) != len(rows):
        raise SystemExit("two files would get the same name")
    for name in KEPT:
        (out_dir / name).write_bytes(files[f"{FOLDER}/{name}"])
    with open(out_dir / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_source(out_dir, commit)
    return rows


def print_summary(rows: list[dict], out_dir: Path) -> None:
    def show(title: str, counts: Counter) -> None:
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    print(f"{len(rows)} files written to {out_dir}")
    show("by split", Counter(r["split"] for r in rows))
    show("by split and type", Counter((r["split"], r["beat_type"]) for r in rows))
    show("by meter", Counter(r["time_signature"] for r in rows))
    show("by drummer", Counter(r["drummer"] for r in rows))
    hours = sum(float(r["duration"]) for r in rows) / 3600
    print(f"{sum(r['hits'] for r in rows)} hits, {hours:.2f} hours")
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"size of {out_dir.name}/: {size / 1e6:.2f} MB")


def mirror_parser(description: str, repository: str, mirror: Path, commit: str,
                  out: Path) -> argparse.ArgumentParser:
    """The options of a build script that reads a pinned commit of a git mirror."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mirror", type=Path, default=mirror,
                        help=f"a git copy of {repository} (bare or not; default {mirror})")
    parser.add_argument("--commit", default=commit, help="the commit to read (default: pinned)")
    parser.add_argument("--out", type=Path, default=out)
    return parser


def main() -> None:
    parser = mirror_parser(__doc__.splitlines()[0], REPOSITORY, MIRROR, COMMIT, OUT_DIR)
    args = parser.parse_args()
    rows = build(args.mirror, args.commit, args.out)
    print_summary(rows, args.out)


if __name__ == "__main__":
    main()
