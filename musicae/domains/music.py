"""MIDI in, MIDI (plus piano-roll PNGs and WAV) out: the music face of musicae.

Windows come from ``musicae.datasets.midi`` in the model's representation;
``musicae.datasets.examples`` turns them into batches and back. Every window
keeps its meter from reading to writing: a 6/8 tune is reconstructed in 6/8.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from musicae.artifacts import ModelBundle
from musicae.batch import Batch
from musicae.datasets.examples import Examples, window_arrays, window_batch, window_examples
from musicae.datasets.midi import (
    JOIN,
    data_parts,
    load_windows,
    resolve_data,
    windows_from_file,
)
from musicae.defaults import MAX_SAMPLES, SAMPLE_TEMPERATURE
from musicae.domains.base import Domain, no_groove
from musicae.errors import MusicaeError
from musicae.midi.notes import Piece, UnusableMidi, read_midi, steps_per_bar, write_midi
from musicae.models.sequence import (
    SequenceVAE,
    code_gain,
    control_gain,
    steps_right,
)
from musicae.output.render import pianoroll_sheet, write_wav
from musicae.representations.base import Representation, default_meter
from musicae.representations.chords import chord_name, parse_progression
from musicae.representations.codec import encode_piece, piece_windows
from musicae.train import mean_loss_terms

FREE_RUNNING_LIMIT = 2048  # windows decoded step by step in `evaluate` (the slow metric)
EVAL_BATCH = 256


def parse_meter(meter: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"6/8"`` → (6, 8); None stays None (the plainest meter of the bar length)."""
    if meter is None or isinstance(meter, tuple):
        return meter
    num, sep, den = str(meter).partition("/")
    if not (sep and num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0):
        raise MusicaeError(f"--meter {meter!r}: expected a time signature like 3/4")
    return int(num), int(den)


class MusicDomain(Domain):
    def examples(self, data: str, split: str, rep: Representation | None = None,
                 transpose: int = 0, progress: bool = True) -> Examples:
        found = [load_windows(resolve_data(part), rep, split=split, progress=progress,
                              allow_empty=split == "valid").arrays for part in data_parts(data)]
        arrays = found[0] if len(found) == 1 else {
            name: np.concatenate([arrays[name] for arrays in found]) for name in found[0]}
        return window_examples(arrays, rep, transpose if split == "train" else 0)

    def read_input(self, bundle: ModelBundle, path: Path, bar: int | None = None
                   ) -> tuple[Batch, dict]:
        index = 0 if bar is None else bar
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise MusicaeError(f"--bar {bar!r}: a window number is a whole number >= 0")
        if bundle.representation.whole_inputs:  # windows in order, as a whole read has them
            whole = self.read_piece(bundle, path)
            if index >= len(whole.batch):
                raise MusicaeError(f"{path}: --bar {bar} is past its last window "
                                   f"({len(whole.batch)} windows)")
            meter = tuple(whole.batch.meter[index].tolist())
            return whole.batch[index : index + 1], {
                "window": index, "windows": len(whole.batch), "meter": f"{meter[0]}/{meter[1]}"}
        found = input_windows(path, bundle.representation)
        if index >= len(found):
            raise MusicaeError(f"{path}: --bar {bar} is past its last window "
                               f"({len(found)} windows)")
        rows = {name: array[index : index + 1] for name, array in found.arrays.items()}
        meter = found.meter_of(index)
        info = {"window": index, "windows": len(found), "meter": f"{meter[0]}/{meter[1]}"}
        return window_batch(rows, bundle.representation), info

    def reads_whole(self, bundle: ModelBundle, bar: int | None) -> bool:
        """An event kind's input (``Representation.whole_inputs``) unless ``bar`` picks one
        window."""
        return bar is None and bundle.representation.whole_inputs

    def read_piece(self, bundle: ModelBundle, path: Path) -> WholeInput:
        """Every window of a MIDI file, in order (duplicates and all), where each starts,
        and the piece they came from (``Representation.whole_inputs``)."""
        rep = bundle.representation
        if not path.exists():
            raise MusicaeError(f"{path}: no such file")
        piece = read_midi(path, rep.steps_per_quarter)
        windows = encode_piece(piece, rep)
        if not windows:
            piece_windows(piece, rep, path)  # says why there are none
            raise MusicaeError(f"{path}: no window to encode")
        rows = {"tokens": np.stack([w.tokens for w in windows]),
                "lengths": np.stack([w.lengths for w in windows]),
                "meter": np.array([w.meter for w in windows], np.int16)} | {
            name: np.stack([w.controls[name] for w in windows]) for name in rep.controls}
        info = {"windows": len(windows), "bars": len(windows) * rep.bars,
                "meter": f"{windows[0].meter[0]}/{windows[0].meter[1]}"}
        return WholeInput(window_batch(rows, rep).to(bundle.model.device),
                          [w.start for w in windows], piece, info)

    def layout(self, bundle: ModelBundle, n: int, meter: str | None = None,
               chords: str | None = None, label: int | None = None) -> dict:
        self.refuse(bundle, label=label)
        rep = bundle.representation
        num, den = parse_meter(meter) or default_meter(rep.slot, rep.steps_per_quarter)
        spb = steps_per_bar(num, den, rep.steps_per_quarter)
        if not 0 < spb <= rep.slot:
            raise MusicaeError(f"--meter {num}/{den}: bars of {spb} steps do not fit this "
                               f"model's {rep.slot}-step bar slots")
        lengths = rep.window_lengths(np.full(n, spb))
        device = bundle.model.device
        mask = torch.from_numpy(rep.mask(lengths)).to(device)
        return {"mask": mask, "controls": _progression(bundle, chords, mask),
                "lengths": torch.from_numpy(lengths.astype(np.int64)).to(device),
                "meter": torch.tensor([[num, den]] * n, dtype=torch.int64, device=device)}

    def condition(self, bundle: ModelBundle, batch: Batch, chords: str | None = None,
                  label: int | None = None) -> Batch:
        """The controls the representation makes of a progression, in place of the batch's
        own (see ``Representation.progression_controls``)."""
        self.refuse(bundle, label=label)
        if chords is None:
            return batch
        controls = dict(batch.controls) | _progression(bundle, chords, batch.mask)
        return dataclasses.replace(batch, controls=controls)

    def arrange(self, bundle: ModelBundle, chords: str, bars: int | None = None,
                temperature: float = SAMPLE_TEMPERATURE,
                generator: torch.Generator | None = None, meter: str | None = None,
                prior: str | None = None) -> Batch:
        """One code from ``prior`` decoded under each chord of a progression in turn,
        repeated to ``bars`` bars (default: the progression once; whole windows, so a 2-bar
        model rounds up to even bars): the windows in order, each taking the chords of its
        bars (a multitrack bar one, a 2-bar melody over chords two)."""
        labels = parse_progression(chords)
        bars = len(labels) if bars is None else bars
        if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_SAMPLES:
            raise MusicaeError(f"--bars must be a whole number 1..{MAX_SAMPLES:,} "
                               f"(got {bars!r})")
        if not bundle.representation.controls:
            raise MusicaeError(f"{bundle.path}: arrange needs a model conditioned on chords "
                               f"(such as multitrack_1bar_chords or pop_lead_2bar)")
        per = bundle.representation.bars
        parts = [self.layout(bundle, 1, meter, " ".join(
            chord_name(labels[(i * per + k) % len(labels)]) for k in range(per)))
            for i in range(-(-bars // per))]
        layout = {name: torch.cat([part[name] for part in parts])
                  for name in ("mask", "lengths", "meter")}
        layout["controls"] = {name: torch.cat([part["controls"][name] for part in parts])
                              for name in parts[0]["controls"]}
        z = bundle.model.prior_sample(1, generator, prior, layout["mask"][:1],
                                      {name: c[:1] for name, c in layout["controls"].items()})
        return bundle.model.decode(z.expand(len(parts), -1), temperature, **layout)

    def write_batch(self, bundle: ModelBundle, batch: Batch, out: Path, stem: str,
                    wav: bool = False, qpm: float | None = None, program: int | None = None,
                    **options) -> list[Path]:
        """MIDI per example, each in its window's meter (``qpm``: tempo; ``program``:
        General MIDI program of the pitched parts), a piano-roll sheet and, with ``wav``,
        audio."""
        out.mkdir(parents=True, exist_ok=True)
        rep = bundle.representation
        midis = []
        for i, window in enumerate(_rows(rep, batch)):
            midis.append(out / f"{stem}_{i:03d}.mid")
            write_midi(rep.decode(**window, **_style(qpm, program)), midis[-1])
        sheet = pianoroll_sheet(midis, out / "pianoroll.png", marks=rep.marks)
        return [sheet] + midis + _wavs(midis, wav)

    def write_path(self, bundle: ModelBundle, batch: Batch, out: Path, wav: bool = False,
                   qpm: float | None = None, program: int | None = None, **options
                   ) -> list[Path]:
        """One MIDI per step, the whole path as one MIDI, and a piano-roll PNG of the path."""
        paths = self.write_batch(bundle, batch, out, "step", wav=wav, qpm=qpm, program=program)
        midis = [p for p in paths if p.suffix == ".mid"]
        paths[0].unlink()  # the path's sheet replaces the per-step sheet
        joined = self.write_joined(bundle, batch, out, "interpolation",
                                   "A → B, one window per step", wav, qpm, program)
        return joined[:2] + midis + joined[2:] + paths[1 + len(midis):]

    def write_joined(self, bundle: ModelBundle, batch: Batch, out: Path, stem: str,
                     title: str, wav: bool = False, qpm: float | None = None,
                     program: int | None = None) -> list[Path]:
        """The windows one after another as one MIDI (tracks merged by instrument), its
        piano-roll PNG and, with ``wav``, its audio."""
        out.mkdir(parents=True, exist_ok=True)
        whole = out / f"{stem}.mid"
        write_midi(joined_piece(bundle.representation, batch, **_style(qpm, program)), whole)
        sheet = pianoroll_sheet([whole], out / f"{stem}.png", titles=[title], columns=1,
                                segments=len(batch), marks=bundle.representation.marks)
        return [whole, sheet] + _wavs([whole], wav)

    def write_pair(self, bundle: ModelBundle, inputs: Batch, outputs: Batch, out: Path,
                   stem: str, corrupted: Batch | None = None, wav: bool = False,
                   qpm: float | None = None, program: int | None = None, **options
                   ) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        rep = bundle.representation
        midis = []
        for name, batch in (("input", inputs), ("reconstruction", outputs)):
            midis.append(out / f"{stem}_{name}.mid")
            write_midi(rep.decode(**next(_rows(rep, batch)), **_style(qpm, program)), midis[-1])
        sheet = pianoroll_sheet(midis, out / f"{stem}_reconstruction.png", columns=2,
                                marks=rep.marks)
        return [sheet] + midis + _wavs(midis, wav)

    def write_piece_pair(self, bundle: ModelBundle, whole: WholeInput, outputs: Batch,
                         out: Path, stem: str, wav: bool = False, qpm: float | None = None,
                         program: int | None = None, **options) -> list[Path]:
        """A whole input as the model read it and its reconstruction, each one piece with
        every window back where it started (the input's meters and tempo), a piano-roll
        PNG of both and, with ``wav``, their audio."""
        out.mkdir(parents=True, exist_ok=True)
        rep = bundle.representation
        style = _style(whole.piece.qpm if qpm is None else qpm, program)
        midis = []
        for name, batch in (("input", whole.batch), ("reconstruction", outputs)):
            midis.append(out / f"{stem}_{name}.mid")
            write_midi(joined_piece(rep, batch, starts=whole.starts, source=whole.piece,
                                    **style), midis[-1])
        sheet = pianoroll_sheet(midis, out / f"{stem}_reconstruction.png", columns=1,
                                marks=rep.marks)
        return [sheet] + midis + _wavs(midis, wav)

    def evaluate(self, bundle: ModelBundle, data: str, split: str) -> dict:
        rep = bundle.representation
        return evaluate_windows(bundle.model, self.examples(data, split, rep), rep)

    def data_path(self, data: str) -> str | None:
        try:
            return JOIN.join(str(resolve_data(part).resolve()) for part in data_parts(data))
        except MusicaeError:  # not a folder
            return None

    def groove(self, bundle: ModelBundle, path: Path, temperature: float
               ) -> tuple[Piece, Piece, dict]:
        """The whole file laid out as windows of what the model is given (the hits of a
        beat, see ``Groove.given``), each encoded and decoded; every other note as it was
        read."""
        rep = bundle.representation
        if rep.samples:  # a model that plays given material is one that does not sample
            raise no_groove(bundle)
        if not path.exists():
            raise MusicaeError(f"{path}: no such file")
        piece = read_midi(path, rep.steps_per_quarter)
        given = rep.given(piece, str(path))
        mask = torch.from_numpy(given.mask)
        controls = {name: torch.from_numpy(labels.astype(np.int64))
                    for name, labels in given.controls.items()}
        batch = Batch(torch.zeros(*mask.shape, rep.positions, dtype=torch.int64), mask,
                      controls).to(bundle.model.device)
        played = [bundle.model.reconstruct(part, temperature) for part in batch.split(EVAL_BATCH)]
        tokens, _ = window_arrays(Batch.cat(played), rep)
        info = {"windows": len(given.mask)} | given.facts
        return piece, rep.play(piece, given, tokens), info

    def write_groove(self, bundle: ModelBundle, path: Path, out: Path, temperature: float,
                     wav: bool = False) -> tuple[list[Path], dict]:
        """:meth:`groove` written: the beat as played and as read (MIDI, to compare), a
        piano-roll PNG of the first and, with ``wav``, its audio; returns the paths and
        the facts."""
        piece, played, info = self.groove(bundle, path, temperature)
        midis = [out / f"{path.stem}_groove.mid", out / f"{path.stem}_input.mid"]
        for written, midi in zip((played, piece), midis, strict=True):
            write_midi(written, midi)
        sheet = pianoroll_sheet(midis[:1], out / f"{path.stem}_groove.png")
        return [midis[0], sheet, midis[1]] + _wavs(midis[:1], wav), info

    def attributes(self, bundle: ModelBundle) -> list[str]:
        return list(bundle.representation.attributes)

    def attribute(self, bundle: ModelBundle, name: str, batch: Batch) -> np.ndarray:
        rep = bundle.representation
        return rep.attributes[name](*window_arrays(batch, rep))


def input_windows(path: Path, rep: Representation):
    """The windows of one input file; a file too sparse for training (fewer note onsets in
    every window than ``rep.min_notes``, such as a sparse sample) is read with one onset
    enough, so that it still encodes, rather than refused."""
    try:
        return windows_from_file(path, rep)
    except UnusableMidi as refused:
        if rep.min_notes <= 1:
            raise
        try:
            return windows_from_file(path, dataclasses.replace(rep, min_notes=1))
        except UnusableMidi:
            raise refused from None


@torch.no_grad()
def evaluate_windows(model: SequenceVAE, examples: Examples,
                     rep: Representation | None = None) -> dict:
    """MusicVAE's two accuracies, the ELBO terms and the code's gain, on windows; where
    ``rep`` says which cells sound (piano-rolls), also the polyphonic literature's frame
    accuracy, teacher-forced and on the windows decoded free-running."""
    if len(examples) == 0:
        raise MusicaeError("no windows to evaluate on")
    real_steps = []  # counted on the pass the loss makes, not on a second one

    def counted():
        for chunk in examples.chunks(EVAL_BATCH):
            real_steps.append(float(chunk.mask.sum()))
            yield chunk

    terms = mean_loss_terms(model, counted())
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0))
    subset = order[:FREE_RUNNING_LIMIT].numpy()
    chunks = [c.to(model.device) for c in examples.chunks(EVAL_BATCH, subset)]
    model.eval()
    decoded = [model.reconstruct(c, temperature=0.0) for c in chunks]  # free-running
    free = np.mean([steps_right(d, c) for d, c in zip(decoded, chunks, strict=True)])
    sizes = [len(c) for c in chunks]
    gain = np.average([code_gain(model, c) for c in chunks], weights=sizes)
    controls = {f"{name}_gain": float(np.average([control_gain(model, c, name) for c in chunks],
                                                 weights=sizes))
                for name, _ in model.cfg.controls}
    if rep is not None:
        controls |= frame_accuracies(model, rep, chunks, decoded)
    if rep is not None and not rep.on_grid:  # an event kind's notes, matched as played
        counts = sum(note_counts(played, said) for chunk, free in zip(chunks, decoded,
                                                                       strict=True)
                     for played, said in zip(decoded_pieces(rep, chunk.to("cpu")),
                                             decoded_pieces(rep, free.to("cpu")), strict=True))
        controls |= note_scores(counts)
    steps = sum(real_steps) / len(examples)
    return {"windows": len(examples), "teacher_forced_accuracy": terms["accuracy"],
            "free_running_accuracy": float(free), "free_running_windows": len(subset),
            "elbo": terms["elbo"], "recon": terms["recon"], "kl": terms["kl"],
            "nll_per_step": terms["recon"] / steps, "code_gain": float(gain)} | controls


@torch.no_grad()
def frame_accuracies(model: SequenceVAE, rep: Representation, chunks: list[Batch],
                     decoded: list[Batch]) -> dict[str, float]:
    """Bay et al. (2009)'s frame accuracy, TP / (TP + FP + FN) over the sounding (step,
    pitch) cells summed over windows, teacher-forced (argmax of each cell) and
    free-running (``decoded``: argmax decoding of each chunk's posterior mean); nothing
    for a kind without sounding cells."""
    if not chunks or rep.sounding(chunks[0].tokens[:0].cpu().numpy()) is None:
        return {}
    counts = {"teacher_forced": np.zeros(3), "free_running": np.zeros(3)}
    for chunk, free in zip(chunks, decoded, strict=True):
        logits = model.teacher_forced_logits(chunk, model.encode(chunk).mean)
        guesses = {"teacher_forced": torch.cat([part.argmax(-1) for part in logits], -1),
                   "free_running": free.tokens}
        for name, guess in guesses.items():
            counts[name] += frame_counts(rep.sounding(guess.cpu().numpy()),
                                         rep.sounding(chunk.tokens.cpu().numpy()),
                                         chunk.mask.cpu().numpy())
    return {f"frame_accuracy_{name}": float(c[0] / max(c.sum(), 1)) for name, c in counts.items()}


DRUM_FAMILY = 16  # a note's General MIDI family is program // 8, 0..15; drums their own


def note_counts(played: Piece, said: Piece) -> np.ndarray:
    """How a decoded window's notes and instruments match a played window's: notes
    matched, said and played; instruments matched and played. A note matches a played
    one when their pitches are equal, their instruments are of one General MIDI family
    (drums their own) and their onsets are at most one step apart, each at most once
    (greedily by onset); an instrument (program, or drums) matches as often as both
    windows have it."""
    found = [_notes_of(piece) for piece in (played, said)]
    left, matched = sorted(found[0]), 0
    for family, pitch, onset in sorted(found[1]):
        for k, (f, p, o) in enumerate(left):
            if f == family and p == pitch and abs(o - onset) <= 1:
                matched += 1
                del left[k]
                break
    kinds = [Counter(_instruments_of(piece)) for piece in (played, said)]
    return np.array([matched, len(found[1]), len(found[0]),
                     sum((kinds[0] & kinds[1]).values()), sum(kinds[0].values())])


def note_scores(counts: np.ndarray) -> dict[str, float]:
    """Note F1 and instrument accuracy from summed :func:`note_counts`."""
    matched, said, played, kinds_right, kinds = (float(c) for c in counts)
    precision, recall = matched / max(said, 1), matched / max(played, 1)
    return {"note_f1": 2 * precision * recall / max(precision + recall, 1e-9),
            "instrument_accuracy": kinds_right / max(kinds, 1)}


def _notes_of(piece: Piece) -> list[tuple[int, int, int]]:
    n = piece.notes
    family = np.where(n["is_drum"], DRUM_FAMILY, n["program"] // 8)
    return list(zip(family.tolist(), n["pitch"].tolist(), n["start"].tolist(), strict=True))


def _instruments_of(piece: Piece) -> list[int]:
    """The program (128: drums) of each track of a piece that has notes."""
    n = piece.notes
    _, first = np.unique(n["instrument"], return_index=True)
    return np.where(n["is_drum"][first], 128, n["program"][first]).tolist()


def frame_counts(said: np.ndarray, real: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sounding cells (B, T, cells) bool, guessed and true, on real steps (B, T): true
    positives, false positives, false negatives. Bay et al. (2009)'s frame accuracy is
    TP / (TP + FP + FN) of their sums."""
    said, real = said & mask[..., None], real & mask[..., None]
    return np.array([(said & real).sum(), (said & ~real).sum(), (~said & real).sum()])


def _progression(bundle: ModelBundle, chords: str | None, mask: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """``Representation.progression_controls`` as tensors beside ``mask``; its refusals
    (a model not conditioned on chords, or one that needs them) name the model."""
    try:
        made = bundle.representation.progression_controls(chords, mask.cpu().numpy())
    except MusicaeError as exc:
        raise MusicaeError(f"{bundle.path}: {exc}") from None
    return {name: torch.from_numpy(labels.astype(np.int64)).to(mask.device)
            for name, labels in made.items()}


def decoded_pieces(rep: Representation, batch: Batch, **style) -> list[Piece]:
    """Each example of a batch as a piece in its window's meter (with its controls: chords
    as a chords part); ``style``: ``Representation.decode``'s qpm and program."""
    return [rep.decode(**window, **style) for window in _rows(rep, batch)]


def _rows(rep: Representation, batch: Batch):
    """Each window's tokens, mask, meter and controls as numpy arrays, named as
    ``Representation.decode`` reads them."""
    tokens, mask = window_arrays(batch, rep)
    if batch.meter is not None:
        meters = batch.meter.cpu().numpy()
    elif mask.all():  # decoded with no layout: every step real, the model's default (4/4)
        meters = np.tile(default_meter(rep.slot, rep.steps_per_quarter), (len(mask), 1))
    else:
        raise MusicaeError("windows of bars shorter than their slots need their meter: "
                           "decode them in a layout (domain.layout, or like= the batch "
                           "they were encoded from)")
    arrays = {name: labels.cpu().numpy() for name, labels in batch.controls.items()}
    for i in range(len(tokens)):
        yield {"tokens": tokens[i], "mask": mask[i], "meter": tuple(meters[i]),
               "controls": {name: labels[i] for name, labels in arrays.items()}}


def _wavs(midis: list[Path], wav: bool) -> list[Path]:
    return [write_wav(m, m.with_suffix(".wav")) for m in midis] if wav else []


def _style(qpm: float | None, program: int | None) -> dict:
    """How decoded windows are written: ``Representation.decode``'s keyword arguments."""
    return {k: v for k, v in {"qpm": qpm, "program": program}.items() if v is not None}


def joined_piece(rep: Representation, batch: Batch, starts: list[int] | None = None,
                 source: Piece | None = None, **style) -> Piece:
    """Windows one after another as one piece (written in ``style``; one shared layout),
    or each at its step of ``starts`` in the meters of ``source`` (a whole input read
    back). Where windows name their tracks differently (multitrack bars: each its
    instruments), tracks are merged by instrument: the k-th track of a name and program
    in each window is one track of the piece."""
    pieces = decoded_pieces(rep, batch, **style)
    length = pieces[0].length
    starts = [i * length for i in range(len(pieces))] if starts is None else starts
    names = pieces[0].names
    merged: dict[tuple, int] = {}  # (name, program, drums, k) -> track of the piece
    notes = []
    for start, piece in zip(starts, pieces, strict=True):
        shifted = piece.notes.copy()
        shifted["start"] += start
        shifted["end"] += start
        if piece.names != pieces[0].names:
            names = None
        notes.append(shifted)
    if names is None:
        names = []
        for piece, shifted in zip(pieces, notes, strict=True):
            seen: dict[tuple, int] = {}
            ids = shifted["instrument"].copy()
            for track in np.unique(ids).tolist():
                first = shifted[ids == track][0]
                kind = (piece.name_of(track), int(first["program"]), bool(first["is_drum"]))
                seen[kind] = seen.get(kind, -1) + 1
                key = (*kind, seen[kind])
                if key not in merged:
                    merged[key] = len(names)
                    names.append(kind[0])
                shifted["instrument"][ids == track] = merged[key]
        names = tuple(names)
    joined = np.concatenate(notes)
    if names != pieces[0].names or source is not None:
        joined = np.sort(joined, order=["start", "pitch"], kind="stable")
    first = source or pieces[0]
    end = max(start + piece.length for start, piece in zip(starts, pieces, strict=True))
    return Piece(joined, first.meters, pieces[0].qpm, first.steps_per_quarter,
                 length=max(end, (source.length or 0) if source is not None else 0),
                 names=names)


@dataclasses.dataclass
class WholeInput:
    """Every window of an input file, in order: the batch, the step each starts on in
    the piece, the piece, and what to tell the user."""

    batch: Batch
    starts: list[int]
    piece: Piece
    info: dict
