"""What preparing a MIDI folder yielded: files used and skipped (and why), windows, meters.

``PrepareReport.to_dict()`` is what ``musicae prepare --json`` prints;
``summary()`` is the human version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from musicae.datasets.midi_cache import FileResult
from musicae.representations.base import Representation

EXAMPLES_PER_REASON = 3  # skipped files named per reason
PITCH_BLOCK = 1 << 15  # windows read at once for the pitch range
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class PrepareReport:
    """Statistics of one prepared folder (or split)."""

    data: str
    split: str
    representation: dict  # kind and settings of the windows
    files_seen: int
    files_used: int
    windows: int
    skipped: dict[str, int]  # reason → files
    skipped_examples: dict[str, list[str]]  # reason → a few of those files
    skipped_files: dict[str, list[str]]  # reason → every one of those files (--json)
    skipped_folders: dict[str, str]  # folder that could not be listed (printable) → why
    windows_by_meter: dict[str, int]  # the files' time signature ("6/8") → windows
    bars_skipped_by_meter: dict[str, int]  # e.g. "meter 12/8 longer than the bar slot" → bars
    pitch_range: tuple[int, int] | None  # lowest, highest MIDI pitch in the windows
    facts: dict[str, int]  # what the representation counts in its windows (tracks per bar)
    files_parsed: int  # read and encoded in this run
    files_cached: int  # found in the cache
    seconds: float

    def to_dict(self) -> dict:
        """Plain JSON values (the ``--json`` output)."""
        values = asdict(self)
        values["pitch_range"] = list(self.pitch_range) if self.pitch_range else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> PrepareReport:
        """A report from :meth:`to_dict`'s values."""
        pitch = values["pitch_range"]
        return cls(**({"facts": {}} | values | {"pitch_range": tuple(pitch) if pitch else None}))

    @classmethod
    def joined(cls, data: str, reports: list[PrepareReport]) -> PrepareReport:
        """One report of several folders' (DATA joined by ``+``): counts added, lists
        joined, the pitch range the widest."""
        first, *rest = reports
        values = first.to_dict() | {"data": data}
        for report in rest:
            for name, value in report.to_dict().items():
                if isinstance(value, int) and not isinstance(value, bool) or name == "seconds":
                    values[name] += value
                elif name in ("skipped_examples", "skipped_files"):
                    for reason, files in value.items():
                        values[name][reason] = values[name].get(reason, []) + files
                elif name == "skipped_folders":
                    values[name] |= value
                elif isinstance(value, dict) and name != "representation":
                    values[name] = {key: values[name].get(key, 0) + value.get(key, 0)
                                    for key in {**values[name], **value}}
        values["facts"] = dict(sorted(values["facts"].items()))
        values["windows_by_meter"] = dict(sorted(values["windows_by_meter"].items(),
                                                 key=lambda item: -item[1]))
        ranges = [r.pitch_range for r in reports if r.pitch_range]
        values["pitch_range"] = ((min(lo for lo, _ in ranges), max(hi for _, hi in ranges))
                                 if ranges else None)
        values["skipped_examples"] = {reason: files[:EXAMPLES_PER_REASON]
                                      for reason, files in values["skipped_examples"].items()}
        return cls.from_dict(values)

    def summary(self) -> str:
        """A few lines for people."""
        kind = f"{self.representation['kind']}, {self.representation['bars']} bars"
        lines = [
            f"{self.data} [{self.split}] ({kind}): {self.files_seen} files seen, "
            f"{self.files_used} used, {sum(self.skipped.values())} skipped; "
            f"{self.windows} windows in {self.seconds:.2f} s "
            f"({self.files_parsed} files parsed, {self.files_cached} from cache)"
        ]
        if self.windows_by_meter:
            lines.append("  windows by meter: " + _counts(self.windows_by_meter))
        if self.pitch_range:
            low, high = self.pitch_range
            lines.append(f"  pitch range: {low}..{high} ({pitch_name(low)}..{pitch_name(high)})")
        lines += [f"  {fact}: {count}" for fact, count in self.facts.items()]
        for reason, count in sorted(self.skipped.items(), key=lambda item: -item[1]):
            example = self.skipped_examples.get(reason, [""])[0]
            more = f"; all {count} in --json" if count > 1 else ""
            lines.append(f"  skipped {count}: {reason}"
                         + (f" (e.g. {example}{more})" if example else ""))
        for folder, reason in self.skipped_folders.items():
            lines.append(f"  skipped folder {folder}: {reason}")
        for reason, bars in self.bars_skipped_by_meter.items():
            lines.append(f"  bars left out: {bars} ({reason})")
        return "\n".join(lines)


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch (60 → C4)."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def build_report(
    data: Path,
    split: str,
    rep: Representation,
    files: list[Path] | list[str],
    results: list[FileResult],
    seconds: float,
    pitch_range: tuple[int, int] | None,
    facts: dict[str, int] | None = None,
) -> PrepareReport:
    """Add up per-file results (the pitch range and facts are the windows', see
    :func:`pitch_range` and :func:`window_facts`)."""
    skipped: Counter = Counter()
    every: dict[str, list[str]] = {}
    bars_skipped: Counter = Counter()
    by_meter: dict[str, int] = {}
    used = windows = parsed = 0
    for path, result in zip(files, results, strict=True):  # one pass: 100,000 files add up
        if result.bars_skipped:  # most files have none: skip the update
            bars_skipped.update(result.bars_skipped)
        for meter, count in result.windows_by_meter.items():
            by_meter[meter] = by_meter.get(meter, 0) + count
        if result.reason is not None:
            skipped[result.reason] += 1
            every.setdefault(result.reason, []).append(
                _relative(path, data) + (f": {result.detail}" if result.detail else ""))
        count = result.windows
        used += count > 0
        windows += count
        parsed += result.processed
    return PrepareReport(
        data=str(data),
        split=split,
        representation=rep.to_dict(),
        files_seen=len(files),
        files_used=used,
        windows=windows,
        skipped=dict(skipped.most_common()),
        skipped_examples={reason: names[:EXAMPLES_PER_REASON] for reason, names in every.items()},
        skipped_files=every,
        skipped_folders={},
        windows_by_meter=dict(Counter(by_meter).most_common()),
        bars_skipped_by_meter=dict(bars_skipped.most_common()),
        pitch_range=pitch_range,
        facts=facts or {},
        files_parsed=parsed,
        files_cached=len(results) - parsed,
        seconds=round(seconds, 4),
    )


def pitch_range(rep: Representation, parts: list[tuple[np.ndarray, int, int]]
                ) -> tuple[int, int] | None:
    """Lowest and highest pitch in windows, rows ``[lo, hi)`` of each (tokens, lo, hi) part
    (n, steps, ...), read a block of rows at a time (memory-mapped or spilled windows are
    not all brought into memory at once)."""
    blocks = (tokens[i : min(i + PITCH_BLOCK, hi)] for tokens, lo, hi in parts
              for i in range(lo, hi, PITCH_BLOCK))
    spans = [span for span in map(rep.pitch_span, blocks) if span]
    if not spans:
        return None
    return min(low for low, _ in spans), max(high for _, high in spans)


def window_facts(rep: Representation, parts: list[tuple[dict, int, int]]) -> dict[str, int]:
    """What the representation counts in windows (``Representation.facts``), rows ``[lo,
    hi)`` of each (arrays, lo, hi) part, a block of rows at a time, added up."""
    total: Counter = Counter()
    for arrays, lo, hi in parts:
        for i in range(lo, hi, PITCH_BLOCK):
            stop = min(i + PITCH_BLOCK, hi)
            total.update(rep.facts({name: values[i:stop] for name, values in arrays.items()}))
    return dict(sorted(total.items()))


def _relative(path: Path | str, root: Path) -> str:
    """The file's path under ``root``, printable: bytes that are not UTF-8 as escapes."""
    try:
        name = Path(path).relative_to(root).as_posix()
    except ValueError:
        name = str(path)
    return printable(name)


def printable(name: str) -> str:
    """A path name as text: bytes that are not UTF-8 (surrogate escapes) as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
