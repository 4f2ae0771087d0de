"""Quality of the polyphonic models: piano-roll, voices, melody over chords.

pianoroll MODEL [DATA]: step accuracy (a step is right when all 88 pitches'
    states are) and Bay et al.'s frame accuracy (TP / (TP + FP + FN) over
    sounding cells), teacher-forced and free-running, and nats per step on the test
    split of DATA (default chorales), beside a trivial baseline: the previous
    step repeated (notes sounding at t-1 held at t). Teacher-forced the baseline
    sees the true previous step; free-running it holds the window's true first
    step to the end. Its nats per step come from a per-pitch first-order Markov
    chain over the three states, counted on the train split of the model's own
    training data (add-one smoothed), whose argmax is the repeat. --split all
    scores every file of another folder (polyphony from outside the corpus).
voices MODEL [DATA]: accuracy of each voice (teacher-forced and free-running)
    on the test split, and the pitch range (5th-95th percentile of onsets) of
    each voice in --samples samples beside the test windows'.
chords MODEL [DATA]: chord_gain on the test split, and the share of the notes
    starting on a beat that are tones of the chord sounding there, in samples
    over each of the test windows' own progressions and over --progression
    (default "C G Am F", a chord a half bar), from N(0, I) and from the model's
    fitted prior where it has one (given the chords, where it holds codes given
    controls), beside samples from the same codes told "no chord" throughout
    (the model without its condition), beside samples of an unconditioned
    melody model (--unconditioned, default folk_mel_2bar) in the same bars,
    beside the test melodies themselves; and for the samples and the test
    melodies, the share of steps that agree with the nearest training window
    (how close they come to copying one). --choose: the same on the valid
    split for several counts of nearest windows a draw given chords chooses
    among.
annotations pop909: how well chords fit the melodies they sound under: the share of
    MELODY's on-beat notes that are chord tones under the annotated chords (the
    CHORDS track) beside the chords musicae infers from the other tracks, per
    half bar, on every split. (MODEL is ignored; pass any name.)
drums MODEL [DATA]: accuracies on the test split, and hits per bar of each drum
    class in --samples prior samples (4/4) beside the test windows' in 4/4.

    python benchmarks/quality_polyphony.py pianoroll chorales_pianoroll_2bar [chorales]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from musicae import api
from musicae.datasets.midi import list_midi, resolve_data
from musicae.domains.music import evaluate_windows, frame_counts
from musicae.midi.notes import UnusableMidi, read_midi
from musicae.models.prior import GIVEN
from musicae.models.sequence import free_running_accuracy
from musicae.representations import MelodyChords
from musicae.representations.base import part_notes
from musicae.representations.chords import NO_CHORD, chord_tones
from musicae.representations.codec import piece_windows
from musicae.representations.constants import DRUM_CLASS_NAMES, FIRST_PITCH_TOKEN
from musicae.representations.constants import PIANOROLL_HOLD as HOLD
from musicae.representations.constants import PIANOROLL_OFF as OFF
from musicae.representations.drums import index_to_multihot

CHUNK = 256
NOVELTY_WINDOWS = 4  # chunks of CHUNK windows each whose nearness to training is measured
NEAREST_CHOICES = (1, 8, 64, 512)  # chords --choose: counts of nearest windows compared


def examples(bundle, data: str, split: str):
    return api.domain(bundle).examples(data, split, bundle.representation, progress=False)


# --- piano-roll ----------------------------------------------------------------------------


def repeated(tokens: torch.Tensor) -> torch.Tensor:
    """Each step predicted as the step before held on (onsets become holds): (B, T, P)."""
    sounding = tokens != OFF
    held = torch.where(sounding, torch.full_like(tokens, HOLD), torch.full_like(tokens, OFF))
    first = torch.full_like(tokens[:, :1], OFF)
    return torch.cat([first, held[:, :-1]], dim=1)


def markov_counts(chunks) -> torch.Tensor:
    """Transitions between the three states, per pitch, add-one smoothed: (P, 3, 3)."""
    counts = None
    for batch in chunks:
        prev, nxt = batch.tokens[:, :-1], batch.tokens[:, 1:]
        real = (batch.mask[:, :-1] & batch.mask[:, 1:])[..., None]  # (B, T-1, 1)
        flat = (prev * 3 + nxt).where(real, torch.full_like(prev, -1))  # (B, T-1, P)
        hot = torch.nn.functional.one_hot(flat.clamp(min=0), 9) * (flat >= 0)[..., None]
        part = hot.sum((0, 1))  # (P, 9)
        counts = part if counts is None else counts + part
    return (counts + 1).view(-1, 3, 3).float()


def pianoroll(bundle, data: str, split: str, all_tracks: bool = False) -> dict:
    rep = bundle.representation
    if all_tracks:  # every pitched track of DATA, whatever the model's tracks setting names
        rep = dataclasses.replace(rep, tracks=None)
    test = api.domain(bundle).examples(data, split, rep, progress=False)
    train = examples(bundle, bundle.meta.get("data", data), "train")  # the model's own data
    log_p = markov_counts(train.chunks(CHUNK))
    log_p = (log_p / log_p.sum(-1, keepdim=True)).log()  # (P, from, to)
    metrics = evaluate_windows(bundle.model, test, rep)
    right = free_right = steps = nll = 0.0
    frames = {"teacher_forced": np.zeros(3), "free_running": np.zeros(3)}
    for batch in test.chunks(CHUNK):
        real = batch.mask
        guess = repeated(batch.tokens)
        right += float(((guess == batch.tokens).all(-1) & real).sum())
        held = batch.tokens[:, :1].where(batch.tokens[:, :1] == OFF,
                                         torch.full_like(batch.tokens[:, :1], HOLD))
        free = torch.cat([batch.tokens[:, :1], held.expand(-1, batch.tokens.shape[1] - 1, -1)], 1)
        free_right += float(((free == batch.tokens).all(-1) & real).sum())
        for name, said in (("teacher_forced", guess), ("free_running", free)):
            frames[name] += frame_counts(rep.sounding(said.numpy()),
                                         rep.sounding(batch.tokens.numpy()), real.numpy())
        prev = torch.cat([torch.zeros_like(batch.tokens[:, :1]), batch.tokens[:, :-1]], 1)
        pitch = torch.arange(batch.tokens.shape[-1])
        step_nll = -log_p[pitch, prev, batch.tokens].sum(-1)  # (B, T)
        nll += float((step_nll * real).sum())
        steps += float(real.sum())
    baseline = {"teacher_forced_accuracy": right / steps, "free_running_accuracy":
                free_right / steps, "nll_per_step": nll / steps}
    baseline |= {f"frame_accuracy_{name}": float(c[0] / max(c.sum(), 1))
                 for name, c in frames.items()}
    keys = ("teacher_forced_accuracy", "free_running_accuracy", "nll_per_step", "code_gain",
            "frame_accuracy_teacher_forced", "frame_accuracy_free_running")
    return {"model": {k: metrics[k] for k in keys}, "repeat_baseline": baseline,
            "windows": metrics["windows"]}


# --- voices --------------------------------------------------------------------------------


def onset_pitches(tokens: np.ndarray, min_pitch: int) -> np.ndarray:
    return tokens[tokens >= FIRST_PITCH_TOKEN].astype(np.int64) - FIRST_PITCH_TOKEN + min_pitch


def pitch_range(tokens: np.ndarray, min_pitch: int) -> list[int]:
    pitches = onset_pitches(tokens, min_pitch)
    return [int(np.percentile(pitches, 5)), int(np.percentile(pitches, 95))]


@torch.no_grad()
def voices(bundle, data: str, n_samples: int) -> dict:
    model, rep = bundle.model.eval(), bundle.representation
    test = examples(bundle, data, "test")
    heads = len(rep.heads)
    tf_right, fr_right, steps = np.zeros(heads), np.zeros(heads), 0.0
    for batch in test.chunks(CHUNK):
        z = model.encode(batch).mean
        logits = model.teacher_forced_logits(batch, z)
        guess = torch.cat([part.argmax(-1) for part in logits], -1)  # (B, T, P)
        free = model.decode_like(z, batch, temperature=0.0).tokens
        for h in range(heads):
            tf_right[h] += float(((guess[..., h] == batch.tokens[..., h]) & batch.mask).sum())
            fr_right[h] += float(((free[..., h] == batch.tokens[..., h]) & batch.mask).sum())
        steps += float(batch.mask.sum())
    layout = api.domain(bundle).layout(bundle, n_samples)
    drawn = model.sample(n_samples, generator=torch.Generator().manual_seed(0), **layout)
    data_tokens = np.concatenate([b.tokens.numpy() for b in test.chunks(CHUNK)])
    out = {}
    for h, name in enumerate(rep.track_names):
        out[name] = {"teacher_forced_accuracy": tf_right[h] / steps,
                     "free_running_accuracy": fr_right[h] / steps,
                     "sample_range": pitch_range(drawn.tokens[..., h].numpy(), rep.min_pitch),
                     "test_range": pitch_range(data_tokens[..., h], rep.min_pitch)}
    return {"windows": len(test), "samples": n_samples, "voices": out,
            "free_running_accuracy_all": float(np.mean([
                free_running_accuracy(model, b) for b in test.chunks(CHUNK)]))}


# --- melody over chords --------------------------------------------------------------------


def chord_tone_share(tokens: np.ndarray, mask: np.ndarray, chords: np.ndarray,
                     min_pitch: int, beat: int) -> tuple[int, int]:
    """(onsets on beats that are chord tones, onsets on beats under a chord)."""
    hits = total = 0
    for row, real, labels in zip(tokens, mask, chords, strict=True):
        t, c = row[real], labels[real]
        for step in np.flatnonzero((t >= FIRST_PITCH_TOKEN) & (np.arange(len(t)) % beat == 0)):
            if c[step] == NO_CHORD:
                continue
            total += 1
            hits += (int(t[step]) - FIRST_PITCH_TOKEN + min_pitch) % 12 in chord_tones(c[step])
    return hits, total


def nearest_agreement(tokens: torch.Tensor, mask: torch.Tensor, train) -> float:
    """How near melodies are to the training set: for each window (B, T), the share of its
    real steps equal to the training window that agrees most, averaged over the windows."""
    best = torch.zeros(len(tokens))
    real = mask.float()
    for chunk in train.chunks(4096):
        same = (tokens[:, None, :] == chunk.tokens[None, :, :, 0]) & chunk.mask[None]
        best = torch.maximum(best, (same.float() * real[:, None]).sum(2).max(1).values)
    return float((best / real.sum(1).clamp(min=1)).mean())


@torch.no_grad()
def chords(bundle, data: str, temperature: float, unconditioned: str | None = None,
           progression: str = "C G Am F", split: str = "test") -> dict:
    """Chord tones on beats in samples over the windows' own chords and over
    ``progression``, from N(0, I) and from the fitted prior where the model has one (given
    the chords where it holds codes given controls), each beside the same codes told "no
    chord"; and how near the melodies are to the training windows."""
    model, rep = bundle.model.eval(), bundle.representation
    held = examples(bundle, data, split)
    train = examples(bundle, data, "train")
    metrics = api.evaluate(str(bundle.path), data, split)
    generator = torch.Generator().manual_seed(0)
    priors = ["standard"] + (["fitted"] if model.fitted_prior is not None else [])
    other = api.load(unconditioned, "cpu").model.eval() if unconditioned else None
    counts: dict[str, list] = {}
    near: dict[str, list] = {}

    def count(name: str, tokens, mask, labels, novelty: bool = False) -> None:
        hits, total = chord_tone_share(tokens.numpy(), mask.numpy(), labels.numpy(),
                                       rep.min_pitch, rep.steps_per_quarter)
        tally = counts.setdefault(name, [0, 0])
        tally[0] += hits
        tally[1] += total
        if novelty and len(near.setdefault(name, [])) < NOVELTY_WINDOWS:
            near[name].append(nearest_agreement(tokens, mask, train))

    for batch in held.chunks(CHUNK):
        silent = {"chord": torch.full_like(batch.controls["chord"], NO_CHORD)}
        fixed = {name: torch.from_numpy(labels).long() for name, labels in
                 rep.progression_controls(progression, batch.mask.numpy()).items()}
        for prior in priors:
            for told, controls in (("own chords", batch.controls), (progression, fixed)):
                z = model.prior_sample(len(batch), generator, prior, batch.mask, controls)
                for name, given in ((told, controls), (f"{told}, told no chord", silent)):
                    torch.manual_seed(0)
                    drawn = model.decode(z, temperature, batch.mask, given)
                    count(f"{prior} prior: {name}", drawn.tokens[..., 0], batch.mask,
                          controls["chord"], novelty=given is controls)
        count(f"the {split} melodies", batch.tokens[..., 0], batch.mask,
              batch.controls["chord"], novelty=True)
        if other is not None:
            drawn = other.sample(len(batch), temperature, generator, mask=batch.mask)
            count(f"unconditioned ({unconditioned})", drawn.tokens[..., 0], batch.mask,
                  batch.controls["chord"])
    shares = {name: {"chord_tones_on_beats": h / max(t, 1), "beat_onsets": t}
              | ({"nearest_training_agreement": float(np.mean(near[name]))}
                 if name in near else {})
              for name, (h, t) in counts.items()}
    keys = ("teacher_forced_accuracy", "free_running_accuracy", "nll_per_step", "code_gain",
            "chord_gain")
    prior = model.fitted_prior.describe() if model.fitted_prior is not None else None
    return {"model": {k: metrics[k] for k in keys}, "windows": metrics["windows"],
            "split": split, "temperature": temperature, "fitted_prior": prior,
            "samples": shares}


def choose_nearest(bundle, data: str, temperature: float, progression: str) -> dict:
    """Chord tones and nearness to the training windows on the valid split for each count
    of nearest windows a draw given chords chooses among (the default, PRIOR_NEAREST, was
    chosen by this)."""
    given = bundle.model.fitted_prior[GIVEN]
    results = {}
    for nearest in NEAREST_CHOICES:
        given.nearest.fill_(nearest)
        samples = chords(bundle, data, temperature, None, progression, "valid")["samples"]
        results[nearest] = {name: value for name, value in samples.items()
                            if name.startswith("fitted prior") and "no chord" not in name}
    return results


def annotation_agreement(data: str) -> dict:
    """:func:`chord_tone_share` of each file's melody under its annotated chords and under
    chords inferred from its other tracks."""
    rep = MelodyChords(bars=2, tracks=("melody",))
    counts = {"annotated": [0, 0], "inferred": [0, 0]}
    for path in list_midi(resolve_data(data)):
        piece = read_midi(path, rep.steps_per_quarter)
        parts = piece.notes[part_notes(piece, None)]
        bare = dataclasses.replace(piece, notes=parts)  # no CHORDS track: chords inferred
        for name, source in (("annotated", piece), ("inferred", bare)):
            try:
                found = piece_windows(source, rep, path)
            except UnusableMidi:
                continue
            mask = rep.mask(found.arrays["lengths"])
            tokens = found.arrays["tokens"].reshape(mask.shape)  # one melody line
            hits, total = chord_tone_share(tokens, mask,
                                           found.arrays["chord"], rep.min_pitch,
                                           rep.steps_per_quarter)
            counts[name][0] += hits
            counts[name][1] += total
    return {name: {"chord_tones_on_beats": h / max(t, 1), "beat_onsets": t}
            for name, (h, t) in counts.items()}


# --- drums -------------------------------------------------------------------------------


def hits_per_bar(tokens: np.ndarray, mask: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """Mean hits per bar of each drum class in windows of 512-way step classes: (9,)."""
    hot = index_to_multihot(tokens[..., 0][mask])  # (real steps, 9)
    return hot.sum(0) / (len(hot) / steps_per_bar)


@torch.no_grad()
def drums(bundle, data: str, n_samples: int, temperature: float) -> dict:
    model, rep = bundle.model.eval(), bundle.representation
    test = examples(bundle, data, "test")
    metrics = api.evaluate(str(bundle.path), data, "test")
    bar = 4 * rep.steps_per_quarter
    chunks = list(test.chunks(CHUNK))
    tokens = np.concatenate([b.tokens.numpy() for b in chunks])
    mask = np.concatenate([b.mask.numpy() for b in chunks])
    four = mask.sum(1) == rep.bars * bar  # windows in 4/4 (every step real)
    layout = api.domain(bundle).layout(bundle, n_samples)
    drawn = model.sample(n_samples, temperature, torch.Generator().manual_seed(0), **layout)
    found = {"samples": hits_per_bar(drawn.tokens.numpy(), drawn.mask.numpy(), bar),
             "test_windows": hits_per_bar(tokens[four], mask[four], bar)}
    keys = ("teacher_forced_accuracy", "free_running_accuracy", "nll_per_step", "code_gain")
    return {"model": {k: metrics[k] for k in keys}, "windows": metrics["windows"],
            "temperature": temperature,
            "hits_per_bar": {name: {"all": round(float(v.sum()), 3),
                                    **dict(zip(DRUM_CLASS_NAMES, v.round(3).tolist(),
                                               strict=True))}
                             for name, v in found.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["pianoroll", "voices", "chords", "drums",
                                         "annotations"])
    parser.add_argument("model")
    parser.add_argument("data", nargs="?", default="chorales")
    parser.add_argument("--split", default="test",
                        help="pianoroll: which split of DATA (all: every file of a folder)")
    parser.add_argument("--all-tracks", action="store_true",
                        help="pianoroll: every pitched track of DATA, not only those the "
                             "model's tracks setting names")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--unconditioned", default="folk_mel_2bar")
    parser.add_argument("--progression", default="C G Am F")
    parser.add_argument("--choose", action="store_true",
                        help="chords: compare counts of nearest windows for the prior given "
                             "chords on the valid split")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.kind == "annotations":
        print(json.dumps({"kind": args.kind, "data": args.data}
                         | annotation_agreement(args.data), indent=2))
        return
    bundle = api.load(args.model, "cpu")
    if args.kind == "pianoroll":
        result = pianoroll(bundle, args.data, args.split, args.all_tracks)
    elif args.kind == "voices":
        result = voices(bundle, args.data, args.samples)
    elif args.kind == "drums":
        result = drums(bundle, args.data, args.samples, args.temperature)
    elif args.choose:
        result = choose_nearest(bundle, args.data, args.temperature, args.progression)
    else:
        result = chords(bundle, args.data, args.temperature, args.unconditioned,
                        args.progression)
    print(json.dumps({"kind": args.kind, "model_name": args.model, "data": args.data} | result,
                     indent=2))


if __name__ == "__main__":
    main()
