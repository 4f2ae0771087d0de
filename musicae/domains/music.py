"""MIDI in, MIDI (plus piano-roll PNGs and WAV) out: the music face of musicae.

Windows come from ``musicae.datasets.midi`` as numpy token arrays in bar
slots with a mask of real steps; here they become torch tensors with ``PAD``
on the steps that are not music, which is what the sequence models read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from musicae.artifacts import ModelBundle
from musicae.datasets.midi import load_windows, resolve_data, windows_from_file
from musicae.domains.base import Domain
from musicae.domains.render import pianoroll_sheet, write_wav
from musicae.errors import MusicaeError
from musicae.models.sequence import PAD, code_gain, free_running_accuracy, meter_mask, valid_mask
from musicae.representations.codec import CODECS, decode_window, transpose, write_window_midi
from musicae.representations.config import CodecConfig
from musicae.representations.notes import Piece, steps_per_bar, write_midi
from musicae.train import TensorData, mean_loss_terms

FREE_RUNNING_LIMIT = 2048  # windows decoded step by step in `evaluate` (the slow metric)


def codec_of(bundle_or_preset) -> CodecConfig:
    preset = getattr(bundle_or_preset, "preset", bundle_or_preset)
    return CODECS[preset.codec]


def to_tensor(tokens: np.ndarray, mask: np.ndarray) -> Tensor:
    """Dataset windows -> model input: int64 tokens with PAD where mask is False."""
    x = torch.from_numpy(tokens.astype(np.int64))
    x[torch.from_numpy(~mask)] = PAD
    return x


def to_arrays(x: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Model output -> (tokens with pad steps zeroed, mask), as the codecs read them."""
    mask = valid_mask(x).cpu().numpy()
    return x.clamp(min=0).cpu().numpy(), mask


def parse_meter(meter: str | tuple[int, int] | None) -> tuple[int, int]:
    if meter is None:
        return (4, 4)
    if isinstance(meter, tuple):
        return meter
    num, sep, den = str(meter).partition("/")
    if not (sep and num.isdigit() and den.isdigit()):
        raise MusicaeError(f"--meter {meter!r}: expected a time signature like 3/4")
    return int(num), int(den)


class MusicDomain(Domain):
    kind = "music"

    def training_data(self, data: str, preset, split: str, transpose_semitones: int = 0,
                      progress: bool = True, **options) -> TensorData:
        cfg = codec_of(preset)
        windows = load_windows(resolve_data(data), cfg, split=split, progress=progress,
                               allow_empty=split == "valid")
        x = to_tensor(windows.tokens, windows.mask)
        augment = None
        if transpose_semitones and split == "train":
            augment = _transposer(cfg, transpose_semitones)
        return TensorData(x, augment)

    def read_input(self, bundle: ModelBundle, path: Path, bar: int | None = None,
                   **options) -> tuple[Tensor, dict]:
        cfg = codec_of(bundle)
        found = windows_from_file(path, cfg)
        if bar is None:
            index = 0
        elif bar < len(found.tokens):
            index = bar
        else:
            raise MusicaeError(f"{path}: --bar {bar} is past its last window "
                               f"({len(found.tokens)} windows)")
        x = to_tensor(found.tokens[index : index + 1], found.mask[index : index + 1])
        meter = tuple(int(v) for v in found.meter[index])
        return x, {"window": index, "windows": len(found.tokens), "meter": f"{meter[0]}/{meter[1]}"}

    def decode_context(self, bundle: ModelBundle, n: int, meter=None, **options) -> dict:
        cfg = codec_of(bundle)
        num, den = parse_meter(meter)
        spb = steps_per_bar(num, den, cfg.steps_per_quarter)
        if not 0 < spb <= cfg.slot:
            raise MusicaeError(f"--meter {num}/{den}: bars of {spb} steps do not fit this "
                               f"model's {cfg.slot}-step bar slots")
        return {"mask": meter_mask(n, cfg.bars, cfg.slot, spb, bundle.model.device)}

    def write_batch(self, bundle, x, out, stem, wav: bool = False, meter=None,
                    **options) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        cfg = codec_of(bundle)
        tokens, mask = to_arrays(x)
        meter = parse_meter(meter) if meter else None  # None: the plainest for the bar length
        midis = []
        for i in range(len(tokens)):
            midis.append(out / f"{stem}_{i:03d}.mid")
            write_window_midi(tokens[i], mask[i], cfg, midis[-1], meter=meter)
        sheet = pianoroll_sheet(midis, out / "pianoroll.png")
        return [sheet] + midis + _wavs(midis, wav)

    def write_path(self, bundle, x, out, wav: bool = False, **options) -> list[Path]:
        """One MIDI per step, the whole path as one MIDI, and a piano-roll PNG of the path."""
        paths = self.write_batch(bundle, x, out, "step", wav=wav)
        midis = [p for p in paths if p.suffix == ".mid"]
        whole = out / "interpolation.mid"
        write_midi(_concatenate(bundle, x), whole)
        sheet = pianoroll_sheet([whole], out / "interpolation.png", titles=["A ... B"],
                                columns=1)
        paths[0].unlink()  # the path sheet replaces the per-step sheet
        return [whole, sheet] + midis + _wavs([whole], wav) + paths[1 + len(midis):]

    def write_pair(self, bundle, inputs, outputs, out, stem, wav: bool = False,
                   **options) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        cfg = codec_of(bundle)
        midis = []
        for name, x in (("input", inputs), ("reconstruction", outputs)):
            tokens, mask = to_arrays(x)
            midis.append(out / f"{stem}_{name}.mid")
            write_window_midi(tokens[0], mask[0], cfg, midis[-1])
        sheet = pianoroll_sheet(midis, out / f"{stem}_reconstruction.png", columns=2)
        return [sheet] + midis + _wavs(midis, wav)

    @torch.no_grad()
    def evaluate(self, bundle: ModelBundle, data: TensorData, **options) -> dict:
        """MusicVAE's two accuracies, the ELBO terms and the code's gain, on DATA's windows."""
        model, x = bundle.model, data.x
        if len(x) == 0:
            raise MusicaeError("no windows to evaluate on")
        terms = mean_loss_terms(model, x)
        subset = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]
        subset = subset[:FREE_RUNNING_LIMIT]
        chunks = [c.to(model.device) for c in subset.split(256)]
        free = np.mean([free_running_accuracy(model, c) for c in chunks])
        gain = np.average([code_gain(model, c) for c in chunks], weights=[len(c) for c in chunks])
        return {"windows": len(x), "teacher_forced_accuracy": terms["accuracy"],
                "free_running_accuracy": float(free), "free_running_windows": len(subset),
                "elbo": terms["elbo"], "recon": terms["recon"], "kl": terms["kl"],
                "code_gain": float(gain)}


def _wavs(midis: list[Path], wav: bool) -> list[Path]:
    return [write_wav(m, m.with_suffix(".wav")) for m in midis] if wav else []


def _concatenate(bundle: ModelBundle, x: Tensor) -> Piece:
    """Windows one after another as one piece (meter of the first window)."""
    cfg = codec_of(bundle)
    tokens, mask = to_arrays(x)
    pieces = [decode_window(tokens[i], mask[i], cfg) for i in range(len(tokens))]
    length = int(mask[0].sum())
    notes = []
    for i, piece in enumerate(pieces):
        shifted = piece.notes.copy()
        shifted["start"] += i * length
        shifted["end"] += i * length
        notes.append(shifted)
    first = pieces[0]
    return Piece(np.concatenate(notes), first.meters, first.qpm, first.steps_per_quarter)


def _transposer(cfg: CodecConfig, k: int):
    """Augmentation: shift each window by a random whole number of semitones in [-k, k]."""

    def augment(batch: Tensor, generator: torch.Generator) -> Tensor:
        shifts = torch.randint(-k, k + 1, (len(batch),), generator=generator).numpy()
        mask = valid_mask(batch)
        moved = transpose(batch.clamp(min=0).numpy(), shifts, cfg.kind, cfg.depth)
        out = torch.from_numpy(moved)
        out[~mask] = PAD
        return out

    return augment
