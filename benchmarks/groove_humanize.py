"""How much timing and dynamics a groove model puts back (GrooVAE's humanize, issue #24).

Every window of DATA's test split (default: the bundled groove corpus) is
quantised and flattened (the hits alone: every offset 0, one velocity), grooved
by MODEL, and decoded as ``musicae groove`` writes it. Printed per drum class:
the standard deviation of the timing offsets (in 16ths) and of the velocities
over all hits of (a) the real performances, (b) the flat input (0 and 0) and
(c) the model's output; and whether the output's hits, (step, class), are the
input's in every window. Velocities and offsets are compared at the
representation's bin resolution (bin centres) throughout.

    python benchmarks/groove_humanize.py runs/groove [groove] [--temperature 1] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from musicae import api
from musicae.batch import Batch
from musicae.datasets.examples import window_arrays
from musicae.defaults import GROOVE_TEMPERATURE
from musicae.representations.constants import DRUM_CLASS_NAMES
from musicae.representations.drums import PITCH_CLASS, index_to_multihot
from musicae.representations.groove import (
    HITS,
    NO_HIT,
    conform,
    spreads,
    token_substeps,
    token_velocities,
)
from musicae.representations.slots import from_slots

CHUNK = 256


@torch.no_grad()
def humanize_report(model: str, data: str = "groove", split: str = "test",
                    temperature: float = GROOVE_TEMPERATURE, seed: int = 0) -> dict:
    """Per-class spreads of offsets and velocities, real / flat / grooved, and the number
    of windows whose grooved hits differ from their input's (see the module)."""
    bundle = api.load(model, "cpu")
    rep = bundle.representation
    torch.manual_seed(seed)
    examples = api.domain(bundle).examples(data, split, rep, progress=False)
    real, grooved, masks, hits, meters = [], [], [], [], []
    for batch in examples.chunks(CHUNK):
        flat = Batch(torch.zeros_like(batch.tokens), batch.mask, batch.controls)  # hits alone
        out = bundle.model.reconstruct(flat, temperature)
        tokens, mask = window_arrays(out, rep)
        real.append(window_arrays(batch, rep)[0])
        grooved.append(tokens)
        masks.append(mask)
        hits.append(batch.controls[HITS].numpy())
        meters.append(batch.meter.numpy())
    real, grooved, mask, hits, meters = (np.concatenate(a)
                                         for a in (real, grooved, masks, hits, meters))
    given = index_to_multihot(hits)[mask]  # (m, 9): the input's hits
    own = grooved[..., : len(DRUM_CLASS_NAMES)][mask] != 0  # what the model played itself
    played = conform(grooved, hits, rep.velocity_bins, rep.offset_bins)
    stats = {"real": spreads(real, mask, rep), "model": spreads(played, mask, rep)}
    stats["flat"] = {name: np.where(np.isnan(v), np.nan, 0.0) for name, v in stats["real"].items()}
    return {"model": str(bundle.path), "data": data, "split": split, "windows": len(real),
            "temperature": temperature, "errors": errors(real, played, mask, rep),
            # before `conform` makes the output play exactly the input's hits
            "model_played_given_hits": float(own[given].mean()),
            "model_hits_given": float(given[own].mean()),
            "windows_with_other_hits": _changed_hits(rep, played, mask, hits, meters),
            "per_class": _table(stats)}


def errors(real: np.ndarray, played: np.ndarray, mask: np.ndarray, rep) -> dict:
    """How far each hit's velocity and offset land from the performance's, mean absolute
    error over all hits: the model's output against the flat input's best case (every
    offset 0, each class at its mean velocity over the test hits, known in advance)."""
    r, p = real[mask], played[mask]  # (m, 18), the same hits (conform)
    n = len(DRUM_CLASS_NAMES)
    hit = r[:, :n] != NO_HIT
    rv = token_velocities(r[:, :n], rep.velocity_bins).astype(float)[hit]
    pv = token_velocities(p[:, :n], rep.velocity_bins).astype(float)[hit]
    ro = (token_substeps(r[:, n:], rep.offset_bins) / rep.offset_bins)[hit]
    po = (token_substeps(p[:, n:], rep.offset_bins) / rep.offset_bins)[hit]
    cls = np.nonzero(hit)[1]
    mean_v = np.array([rv[cls == c].mean() if (cls == c).any() else 0.0 for c in range(n)])
    return {"hits": int(hit.sum()),
            "velocity_mae": {"model": float(np.abs(pv - rv).mean()),
                             "flat": float(np.abs(mean_v[cls] - rv).mean())},
            "offset_mae_16ths": {"model": float(np.abs(po - ro).mean()),
                                 "flat": float(np.abs(ro).mean())},
            "velocity_correlation": float(np.corrcoef(pv, rv)[0, 1])}


def _changed_hits(rep, tokens: np.ndarray, mask: np.ndarray, hits: np.ndarray,
                  meters: np.ndarray) -> int:
    """Windows whose decoded notes (as `musicae groove` writes them) hit other (step,
    class) pairs than their input."""
    changed = 0
    for window, real, index, meter in zip(tokens, mask, hits, meters, strict=True):
        piece = rep.decode(window, real, meter, controls={HITS: index})
        step = np.floor(piece.notes["start"] / rep.offset_bins + 0.5).astype(np.int64)
        found = set(zip(step.tolist(), PITCH_CLASS[piece.notes["pitch"]].tolist(), strict=True))
        want = {tuple(hit) for hit in np.argwhere(index_to_multihot(from_slots(index, real)))}
        changed += found != want
    return changed


def _table(stats: dict) -> dict:
    """{class: {"offset_std": {real, flat, model}, "velocity_std": {...}}}, rounded."""
    table = {}
    for c, name in enumerate(DRUM_CLASS_NAMES):
        table[name] = {measure: {who: round(float(stats[who][measure][c]), 3)
                                 for who in ("real", "flat", "model")}
                       for measure in ("offset_std", "velocity_std")}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data", nargs="?", default="groove")
    parser.add_argument("--split", default="test")
    parser.add_argument("--temperature", type=float, default=GROOVE_TEMPERATURE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = humanize_report(args.model, args.data, args.split, args.temperature, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['model']} on {report['data']} [{report['split']}]: {report['windows']} "
          f"windows, temperature {report['temperature']}")
    print(f"{'class':<14} {'offset std (16ths)':>27}   {'velocity std':>24}")
    print(f"{'':<14} {'real':>8} {'flat':>8} {'model':>9}   {'real':>7} {'flat':>7} {'model':>8}")
    for name, row in report["per_class"].items():
        o, v = row["offset_std"], row["velocity_std"]
        print(f"{name:<14} {o['real']:>8.3f} {o['flat']:>8.3f} {o['model']:>9.3f}   "
              f"{v['real']:>7.1f} {v['flat']:>7.1f} {v['model']:>8.1f}")
    e = report["errors"]
    print(f"per hit ({e['hits']:,} hits), mean absolute error from the performance: velocity "
          f"{e['velocity_mae']['model']:.1f} (flat at each class's mean: "
          f"{e['velocity_mae']['flat']:.1f}), offset {e['offset_mae_16ths']['model']:.3f} of a "
          f"16th (flat: {e['offset_mae_16ths']['flat']:.3f}); velocity correlation "
          f"{e['velocity_correlation']:.2f}")
    print(f"hits kept: {report['windows'] - report['windows_with_other_hits']} of "
          f"{report['windows']} windows exactly (by itself the model played "
          f"{report['model_played_given_hits']:.1%} of the given hits, and "
          f"{report['model_hits_given']:.1%} of its hits were given ones)")


if __name__ == "__main__":
    main()
