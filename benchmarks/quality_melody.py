"""Do the shipped melody models' samples sound like their data, and do their paths move steadily?

For each shipped melody model (``folk_mel_2bar``, ``folk_mel_16bar``; the bundled folk
corpus, its test split) this prints, as Markdown:

- **accuracies**: teacher-forced and free-running, from ``musicae.api.evaluate`` (which
  decodes at most 2,048 windows free-running);
- **samples**: 1,000 prior draws decoded in 4/4 at the sampling temperature and at 1 (seed
  0), from N(0, I) and from a fitted prior (``musicae fit-prior``'s defaults on the training
  split), beside the test windows in 4/4: onsets per step; mean note length in steps
  (each note to the next event or the window's end); pitch range (the span from the 5th
  to the 95th percentile of all notes' pitches, semitones); pitch-class distance (total
  variation between the pitch-class histograms of the notes of samples and of test
  windows: 0 the same, 1 disjoint); in key (the share of sounding steps whose pitch is in
  its window's best-fitting diatonic scale: the major, or natural minor, scale of the 12
  that holds the most sounding steps of the window);
- **monotone interpolation**: of 100 pairs of test windows (drawn with seed 0), the share
  whose path (``interpolate``'s defaults: 8 points, endpoints included, decoded in A's
  layout) moves steadily away from A: the Hamming distance over A's real steps of each
  point to the first never falls.

``--choose`` prints instead the same measures on the valid split, for the choices behind
the defaults: the prior (its kind, components and covariance, with the
log-likelihood of the valid 4/4 windows' codes), the sampling temperature, and the path
of an interpolation (slerp or lerp of posterior means, slerp of posterior draws, slerp in
the fitted Gaussian's whitened space; decoded at temperature 0 or 0.5; points at equal
fractions of the path, or spaced evenly by their decoded distance from A), with the share of
paths that also move steadily towards B and the mean of each path's largest step between
neighbours (steps changed, as a share of those between its ends; 1/7 is perfectly even).

    python benchmarks/quality_melody.py [--choose] > benchmarks/results/quality_melody.md
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from musicae import api
from musicae.batch import Batch
from musicae.datasets.examples import Examples, window_arrays
from musicae.defaults import INTERPOLATION_SPACING, PRIOR_WINDOWS, SAMPLE_TEMPERATURE
from musicae.models.base import blend, lerp, slerp
from musicae.models.prior import ALL, fit_prior
from musicae.models.sequence import hamming_from_start, monotone_share, rises_steadily
from musicae.representations.attributes import (
    in_best_scale,
    note_lengths,
    pitch_classes,
    sounding_pitch_classes,
)
from musicae.representations.constants import FIRST_PITCH_TOKEN, MIN_PITCH

MODELS = ("folk_mel_2bar", "folk_mel_16bar")
DATA = "folk"
SAMPLES = 1000
PAIRS = 100
TEMPERATURES = (SAMPLE_TEMPERATURE, 1.0)  # the default, and the model's own distribution
COLUMNS = ("onsets per step", "mean note length", "pitch range", "pitch-class distance",
           "in key")


def statistics(tokens: np.ndarray, mask: np.ndarray, reference: np.ndarray | None
               ) -> tuple[dict[str, float], np.ndarray]:
    """The COLUMNS of melody windows (n, steps), and their pitch-class histogram (12,);
    ``reference``: the histogram to measure the distance from."""
    onsets = (tokens >= FIRST_PITCH_TOKEN) & mask
    pitches = tokens[onsets] - FIRST_PITCH_TOKEN + MIN_PITCH
    histogram = pitch_classes(tokens, mask).sum(0)
    histogram = histogram / max(histogram.sum(), 1)
    sounding = sounding_pitch_classes(tokens, mask)
    low, high = np.percentile(pitches, [5, 95]) if len(pitches) else (0.0, 0.0)
    values = {
        "onsets per step": onsets.sum() / mask.sum(),
        "mean note length": note_lengths(tokens, mask).mean() if onsets.any() else 0.0,
        "pitch range": high - low,
        "pitch-class distance": (0.5 * np.abs(histogram - reference).sum()
                                 if reference is not None else 0.0),
        "in key": in_best_scale(sounding).sum() / max(sounding.sum(), 1),
    }
    return {k: float(v) for k, v in values.items()}, histogram


def row(name: str, values: dict[str, float], extra: tuple = ()) -> str:
    cells = [f"{values[c]:.3f}" if c != "pitch range" else f"{values[c]:.1f}"
             for c in COLUMNS]
    return "| " + " | ".join([name, *cells, *map(str, extra)]) + " |"


def header(first: str, extra: tuple = ()) -> str:
    names = (first, *COLUMNS, *extra)
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def four_four(examples: Examples, rep) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and mask of the windows whose every step is real (4/4 for 16-step bars)."""
    tokens, mask = window_arrays(Batch.cat(list(examples.chunks(4096))), rep)
    keep = mask.all(1)
    return tokens[keep], mask[keep]


@torch.no_grad()
def samples(bundle, prior: str, temperature: float = SAMPLE_TEMPERATURE):
    """SAMPLES prior draws decoded in 4/4, seed 0: tokens and mask."""
    layout = api.domain(bundle).layout(bundle, SAMPLES)
    torch.manual_seed(0)  # the decoder's draws use the global generator
    made = bundle.model.sample(SAMPLES, temperature, torch.Generator().manual_seed(0),
                               prior=prior, **layout)
    return window_arrays(made, bundle.representation)


def with_fitted_prior(bundle, progress: bool = False) -> np.ndarray:
    """Fit the prior ``musicae fit-prior`` fits by default; returns the codes' layouts."""
    train = api.domain(bundle).examples(DATA, "train", bundle.representation, progress=False)
    codes, real_steps, _ = api.prior_codes(bundle.model, train, PRIOR_WINDOWS, 0, progress)
    bundle.model.fit_prior(codes, real_steps)
    return codes, real_steps


def window_pairs(examples: Examples, count: int = PAIRS) -> list[tuple[Batch, Batch]]:
    """``count`` pairs of distinct windows drawn at random (seed 0)."""
    index = np.random.default_rng(0).choice(len(examples), 2 * count, replace=False)
    return [(examples.batch(index[i : i + 1]), examples.batch(index[i + 1 : i + 2]))
            for i in range(0, 2 * count, 2)]


def report_model(name: str) -> None:
    began = time.monotonic()
    bundle = api.load(name, "cpu")
    rep = bundle.representation
    metrics = api.evaluate(name, DATA, "test", "cpu")
    print(f"\n## {name} (test split)\n")
    print(f"- accuracy: teacher-forced {metrics['teacher_forced_accuracy']:.3f}, free-running "
          f"{metrics['free_running_accuracy']:.3f} ({metrics['free_running_windows']:,} of "
          f"{metrics['windows']:,} windows decoded free-running)")
    test = api.domain(bundle).examples(DATA, "test", rep, progress=False)
    tokens, mask = four_four(test, rep)
    data, reference = statistics(tokens, mask, None)
    train = api.domain(bundle).examples(DATA, "train", rep, progress=False)
    train_tokens, train_mask = four_four(train, rep)
    with_fitted_prior(bundle)
    pairs = window_pairs(test)
    share = monotone_share(bundle.model, pairs)
    uniform = monotone_share(bundle.model, pairs, spacing="uniform")
    print(f"- monotone interpolation: {share:.2f} of {PAIRS} pairs of test windows "
          f"(slerp of posterior means, decoded at temperature 0, {INTERPOLATION_SPACING} "
          f"spacing: the default); {uniform:.2f} with uniform spacing")
    print(f"- fitted prior: {bundle.model.fitted_prior.describe()}")
    print(f"\n{header(f'{SAMPLES:,} samples in 4/4', ('onsets per step beside the test',))}")
    print(row(f"test windows in 4/4 ({len(tokens):,})", data, ("",)))
    train_values = statistics(train_tokens, train_mask, reference)[0]
    print(row(f"training windows in 4/4 ({len(train_tokens):,})", train_values, ("",)))
    for prior, title in (("standard", "prior N(0, I)"), ("fitted", "fitted prior")):
        for temperature in TEMPERATURES:
            values = statistics(*samples(bundle, prior, temperature), reference)[0]
            off = values["onsets per step"] / data["onsets per step"] - 1
            print(row(f"{title}, temperature {temperature}", values, (f"{off:+.0%}",)))
    print(f"\n({time.monotonic() - began:.0f} s)")


def choose(name: str) -> None:
    """The choices behind the defaults, measured on the valid split."""
    bundle = api.load(name, "cpu")
    model, rep = bundle.model, bundle.representation
    valid = api.domain(bundle).examples(DATA, "valid", rep, progress=False)
    tokens, mask = four_four(valid, rep)
    data, reference = statistics(tokens, mask, None)
    codes, real_steps = with_fitted_prior(bundle)
    full_steps = rep.steps
    valid_codes = api.prior_codes(model, valid)
    held_out = valid_codes[0][valid_codes[1] == full_steps]
    print(f"\n## Choosing on {name}'s valid split\n")
    print(f"Priors fitted to the codes of {len(codes):,} training windows; log-likelihood: "
          f"mean nats per code of the {len(held_out):,} valid windows in 4/4.\n")
    print(header(f"{SAMPLES:,} samples in 4/4", ("log-likelihood",)))
    print(row(f"valid windows in 4/4 ({len(tokens):,})", data, ("",)))
    priors = {
        "N(0, I)": None,
        "a full Gaussian over all codes": fit_prior(codes, None, 1, "full"),
        "a full Gaussian per layout (default)": bundle.model.fitted_prior,
        "32 diagonal Gaussians per layout": fit_prior(codes, real_steps, 32, "diag"),
        "4 full Gaussians per layout": fit_prior(codes, real_steps, 4, "full"),
    }
    for title, prior in priors.items():
        model.fitted_prior = prior
        kind = "fitted" if prior is not None else "standard"
        mixture = prior[str(full_steps)] if prior is not None and str(full_steps) in prior \
            else prior[ALL] if prior is not None else None
        likelihood = (mixture.log_prob(held_out) if mixture is not None else
                      -0.5 * (held_out.pow(2).sum(1) + held_out.shape[1] * np.log(2 * np.pi)))
        values = statistics(*samples(bundle, kind), reference)[0]
        print(row(title, values, (f"{float(likelihood.mean()):.1f}",)))
    model.fitted_prior = priors["a full Gaussian per layout (default)"]
    print(f"\n{header('temperature (samples in 4/4)')}")
    for kind, title in (("standard", "N(0, I)"), ("fitted", "fitted")):
        for temperature in (0.0, 0.25, 0.5, 0.75, 1.0):
            values = statistics(*samples(bundle, kind, temperature), reference)[0]
            print(row(f"{title}, temperature {temperature}", values))
    choose_paths(bundle, window_pairs(valid))


@torch.no_grad()
def choose_paths(bundle, pairs: list[tuple[Batch, Batch]]) -> None:
    """The monotone share of interpolation paths made in several ways."""
    model = bundle.model
    gaussian = model.fitted_prior[ALL]
    mean, tril = gaussian.means[0], gaussian.scale_tril[0]

    def whitened(a, b, t):
        white = torch.linalg.solve_triangular(tril, torch.stack([a, b]).T - mean[:, None],
                                              upper=False).T
        return mean + slerp(white[0], white[1], t) @ tril.T

    paths = {"slerp of posterior means, even spacing (default)": ("slerp", "even"),
             "lerp of posterior means, even spacing": ("lerp", "even"),
             "slerp of posterior means, uniform spacing": (slerp, "mean", 0.0),
             "lerp of posterior means": (lerp, "mean", 0.0),
             "slerp of posterior means, temperature 0.5": (slerp, "mean", 0.5),
             "lerp of posterior means, temperature 0.5": (lerp, "mean", 0.5),
             "slerp of posterior draws": (slerp, "draw", 0.0),
             "slerp in the fitted Gaussian's whitened space": (whitened, "mean", 0.0)}
    print(f"\n| path of 8 points ({len(pairs)} pairs of valid windows) | moves steadily away "
          f"from A | and towards B | largest step (share of A to B) |\n|---|---|---|---|")
    for title, way in paths.items():
        torch.manual_seed(0)
        away = towards = 0
        jumps = []
        for a, b in pairs:
            if len(way) == 2:  # the model's own interpolate: a method and a spacing
                decoded = model.interpolate(a, b, 8, way[0], 0.0, spacing=way[1])
            else:  # a path of codes at equal fractions, decoded as given
                path, code, temperature = way
                za, zb = (model.encode(x).mean[0] if code == "mean"
                          else model.encode(x).sample()[0] for x in (a, b))
                t = torch.linspace(0.0, 1.0, 8)
                decoded = model.decode_like(path(za, zb, t), blend(a, b, t), temperature)
            away += rises_steadily(hamming_from_start(decoded))
            reverse = Batch(decoded.tokens.flip(0), decoded.mask, decoded.controls)
            towards += rises_steadily(hamming_from_start(reverse))
            distances = hamming_from_start(decoded).float()
            if distances[-1] > 0:
                jumps.append(float(distances.diff().abs().max() / distances[-1]))
        print(f"| {title} | {away / len(pairs):.2f} | {towards / len(pairs):.2f} | "
              f"{np.mean(jumps):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--choose", action="store_true",
                        help="Measure the choices behind the defaults on the valid split.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# benchmarks/quality_melody.py{' --choose' if args.choose else ''}\n")
    print(f"Command: `python benchmarks/quality_melody.py{' --choose' if args.choose else ''}` "
          f"({platform.machine()} CPU, torch {torch.__version__}, one thread).")
    for name in args.models:
        (choose if args.choose else report_model)(name)


if __name__ == "__main__":
    main()
