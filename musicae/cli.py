"""musicae's command line: parses, calls musicae.api, prints.

The installed `musicae ...`, `python -m musicae ...` and the repository's
`python cli.py ...` are the same program. User errors
(musicae.errors.MusicaeError) print one line and exit 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from musicae.defaults import (
    DECODE_TEMPERATURE,
    GROOVE_TEMPERATURE,
    INTERPOLATION_METHOD,
    INTERPOLATION_SPACING,
    INTERPOLATION_STEPS,
    MAX_BATCH,
    MAX_SAMPLES,
    MAX_STEPS,
    METER,
    PRIOR_COMPONENTS,
    PRIOR_COVARIANCE,
    PRIOR_WINDOWS,
    SAMPLE_TEMPERATURE,
    SAMPLES,
)
from musicae.errors import MusicaeError
from musicae.studio import settings as studio


class OneOf(click.Choice):
    """click.Choice whose "missing" message is one line, like every other error."""

    def get_missing_message(self, param, ctx) -> str:
        return "choose from " + ", ".join(map(str, self.choices))


class OutPath(click.Path):
    """A path to write to: an empty one is refused (not taken as the current folder)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("the path is empty", param, ctx)
        return super().convert(value, param, ctx)


class Finite(click.FloatRange):
    """A float in range that is a number: ``nan`` and ``inf`` are refused, not passed on."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


SEED = click.IntRange(0, 2**63 - 1)  # what torch.manual_seed takes
MAX_PRIOR_WINDOWS = 10**6  # examples fit-prior encodes at most: 1 GB of 256-d codes


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters (a newline in a file name) and
    bytes that were not UTF-8 are written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


MAX_ERROR = 400  # characters of an error line (a 900 KB setting is not echoed whole)


def shortened(line: str) -> str:
    """``line`` cut to ``MAX_ERROR`` characters, saying how much was left out."""
    if len(line) <= MAX_ERROR:
        return line
    return f"{line[:MAX_ERROR - 40]}... ({len(line) - MAX_ERROR + 40:,} characters cut)"


class Group(click.Group):
    """Turns MusicaeError into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MusicaeError as exc:
            click.echo(f"error: {shortened(one_line(str(exc)))}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def report(summary: dict, as_json: bool) -> None:
    """Print a command's summary: JSON, or a short human listing."""
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    written = summary.pop("written", [])
    for key, value in summary.items():
        if value in ({}, [], None):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            click.echo(f"{key}:")
            for item in value:
                click.echo(f"  {_human(item)}")
        else:
            click.echo(f"{key}: {_human(value)}")
    if written:
        folder = Path(written[0]).parent
        click.echo(f"wrote {len(written)} file(s) to {folder}/, e.g. {Path(written[0]).name}")


def _human(value) -> str:
    """A value of a summary as short text: 4 significant digits, k=v pairs, commas."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_human(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_human(v) for v in value)
    return str(value)


def is_model(arg: str) -> bool:
    """A trained-model directory or a shipped model's name."""
    from musicae.paths import CONFIG, SHIPPED_DIR

    return (Path(arg) / CONFIG).is_file() or (SHIPPED_DIR / arg / CONFIG).is_file()


def split_model(args: tuple[str, ...], inputs: int | None) -> tuple[str, list[str]]:
    """Separate an optional leading MODEL from input paths.

    inputs: how many inputs the command takes (None: one or more).
    """
    from musicae.api import default_model_for

    args = list(args)
    explicit = len(args) == inputs + 1 if inputs else len(args) > 1 and is_model(args[0])
    if explicit:
        return args[0], args[1:]
    if inputs and len(args) != inputs:
        raise MusicaeError(f"expected [MODEL] and {inputs} input(s), got {len(args)} argument(s)")
    if not args:
        raise MusicaeError("no input given")
    return default_model_for(args), args


def parse_shifts(shifts: tuple[str, ...]) -> dict[str, float]:
    """``density=+1.5`` -> {"density": 1.5}."""
    out = {}
    for item in shifts:
        name, sep, amount = item.partition("=")
        try:
            out[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if sep and not math.isfinite(out[name.strip()]):
            raise MusicaeError(f"--shift {item!r}: the amount must be a finite number")
        if not sep or not name.strip():
            raise MusicaeError(f"--shift {item!r}: expected NAME=AMOUNT, e.g. density=+1.5")
    return out


def parse_settings(settings: tuple[str, ...], config: Path | None = None) -> dict:
    """``--set bars=4 --set latent_dim=2 --set channels=[16,32]`` -> settings by name (JSON
    values): of the representation, the model sizes or training. ``config``: a TOML file
    of the same settings (see ``read_config_file``); ``--set`` wins where both name one."""
    out = read_config_file(config) if config is not None else {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise MusicaeError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def read_config_file(path: Path) -> dict:
    """Settings from a TOML file: ``KEY = VALUE`` lines as ``--set`` takes them, at the top
    or under any tables (``[model]``, ``[training]``: for people; a key may appear once)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    settings: dict = {}

    def take(table: dict, where: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                take(value, f"{where}[{key}] ")
            elif key in settings:
                raise MusicaeError(f"{path}: {where}{key} is set twice")
            elif not _plain(value):
                raise MusicaeError(f"{path}: {where}{key}: not a setting (dates, times and "
                                   f"arrays of tables are not)")
            else:
                settings[key] = value

    from musicae.files import read_regular

    data = read_regular(path, "config")[0]  # a FIFO or /dev/zero: one line, not a hang
    try:
        take(tomllib.loads(data.decode("utf-8")), "")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MusicaeError(f"{path}: not TOML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise MusicaeError(f"{path}: not TOML (nested too deeply)") from None
    return settings


def _plain(value) -> bool:
    """A TOML value that is also a JSON value (not a date or time)."""
    if isinstance(value, list):
        return all(_plain(v) and not isinstance(v, dict) for v in value)
    return isinstance(value, (str, int, float, bool))


config_option = click.option("--config", type=click.Path(path_type=Path),
                             default=None, metavar="FILE.toml",
                             help="Settings as --set takes them, from a TOML file (KEY = "
                             "VALUE lines; --set wins where both name one). prepare uses the "
                             "file's representation settings and ignores the rest.")


json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
device_option = click.option("--device", default="auto", show_default=True,
                             help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
out_option = click.option("-o", "--out", required=True, type=OutPath(),
                          help="Output folder.")
seed_option = click.option("--seed", type=SEED, default=None,
                           help="Random seed [default: a new one, printed and recorded in "
                           "the output's run.json].")
meter_option = click.option("--meter", default=METER,
                            help="Music: meter of the output, e.g. 3/4 [default: full bars, "
                            "4/4 for 16-step bars].")
style_options = [
    click.option("--qpm", type=Finite(10, 1000), default=None,
                 help="Music: tempo of the written MIDI in quarters per minute [default: 120]."),
    click.option("--program", type=click.IntRange(0, 127), default=None,
                 help="Music: General MIDI program of the pitched parts [default: each "
                 "part's own, 0 = piano for melodies]."),
    click.option("--chords", default=None, metavar='"C G Am F"',
                 help="Chord-conditioned models: the progression to play over, spread evenly "
                 "(two chords: one per bar of a 2-bar window; four: one per half bar) "
                 "[sample/decode: required; interpolate/reconstruct: the input's own]."),
]


def _label(ctx, param, value: str | None) -> int | None:
    """--label as a whole number (its range is the model's, checked when it is loaded)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MusicaeError(f"--label {value!r}: expected a whole number, such as a digit 0-9"
                           ) from None


label_option = click.option("--label", default=None, callback=_label, metavar="K",
                            help="Label-conditioned image models (mnist_cvae): the digit to "
                            "draw [sample/decode: all labels, spread evenly in order; "
                            "interpolate/reconstruct: each input's own].")


def _synth_ready(ctx, param, wav: bool) -> bool:
    """--wav: load the SoundFont now (a bad $MUSICAE_SOUNDFONT stops the command before
    it writes anything)."""
    if wav:
        from musicae.output.render import synthesiser

        synthesiser()
    return wav


wav_option = click.option("--wav", is_flag=True, callback=_synth_ready,
                          help="Music: also write a WAV beside each MIDI (General MIDI "
                          "SoundFont; $MUSICAE_SOUNDFONT names another .sf2).")

music_options = [
    click.option("--bar", type=click.IntRange(min=0), default=None,
                 help="Music: which window of a longer MIDI input (default: first with notes)."),
    wav_option,
]


def option_group(options: list):
    """One decorator applying several click options, in the order listed."""

    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f

    return apply


with_style_options = option_group(style_options)
with_music_options = option_group(music_options)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="musicae")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="CPU threads for torch (default: one per core). On a machine shared "
              "with other jobs, 1 is often much faster.")
def main(threads: int | None) -> None:
    """Autoencoders for music (MIDI) and digits (MNIST): train, sample, interpolate."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@main.command()
@click.argument("data")
@click.option("--preset", required=True, help="Model recipe; see `musicae models`.")
@click.option("--out", required=True, type=OutPath(), help="Run directory.")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Optimiser steps (preset default).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=None,
              help="Windows per step and process (preset default); under torchrun the "
              "global batch is the sum over processes.")
@click.option("--lr", type=Finite(min=0, min_open=True), default=None,
              help="Initial learning rate.")
@click.option("--minutes", type=Finite(min=0, min_open=True), default=None,
              help="Stop after this much training time (steps still cap the run).")
@click.option("--seed", type=SEED, default=None, help="Random seed.")
@config_option
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a representation setting, model size or training setting, e.g. "
              "--set bars=4 --set latent_dim=2 --set free_bits=48 (repeatable; see README).")
@click.option("--transpose", type=click.IntRange(0, 12), default=None,
              help="Music: shift training windows by up to K semitones (augmentation; "
              "default 0, or what a resumed run used).")
@click.option("--bf16", is_flag=True, default=None,
              help="bfloat16 autocast: faster on recent CPUs (AVX512-BF16); on by default on "
              "GPUs that support it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--warm-start", "warm_start", metavar="MODEL", default=None,
              help="A stacked preset (mel_16bar_stacked): start from a trained short model "
              "(e.g. folk_mel_2bar) as its lower level, held fixed (--set freeze= trains it "
              "too).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@device_option
@json_option
def train(data, preset, out, steps, batch_size, lr, minutes, seed, config, settings, transpose,
          bf16, resume, warm_start, quiet, device, as_json):
    """Train a preset on DATA (a folder, or a bundled corpus: mnist, folk, chorales, groove,
    pop909).

    Data-parallel over processes and machines when launched by torchrun, e.g.
    torchrun --nproc_per_node=2 -m musicae train folk --preset mel_2bar_small --out runs/m
    """
    from musicae import api, distributed

    summary = api.train(data, preset, out, steps=steps, batch_size=batch_size, device=device,
                        resume=resume, seed=seed, overrides=parse_settings(settings, config),
                        progress=not quiet, transpose=transpose, lr=lr, bf16=bf16,
                        minutes=minutes, warm_start=warm_start)
    if distributed.is_main_process():
        report(summary, as_json)
    if "stopped_by_signal" in summary:  # checkpointed at the signal; --resume goes on
        if distributed.is_main_process():
            click.echo(f"stopped at step {summary['steps']}, checkpoint saved; "
                       f"continue with --resume", err=True)
        sys.exit(128 + summary["stopped_by_signal"])


@main.command()
@click.argument("model", required=False)
@click.option("-n", "n", type=click.IntRange(1, MAX_SAMPLES), default=SAMPLES,
              show_default=True, help=f"How many samples (at most {MAX_SAMPLES:,} a run).")
@out_option
@click.option("--temperature", type=Finite(min=0), default=None,
              help="Sampling temperature for sequence models (0 = argmax) [default: the "
              f"fitted prior's own where the model has one, else {SAMPLE_TEMPERATURE}].")
@seed_option
@click.option("--shift", multiple=True, metavar="NAME=AMOUNT",
              help="Move samples along an attribute vector, e.g. density=+1.5.")
@click.option("--prior", type=OneOf(["fitted", "standard"]), default=None,
              help="Draw codes from the model's fitted prior (see fit-prior) or from N(0, I) "
              "[default: fitted where the model has one, else standard].")
@meter_option
@wav_option
@with_style_options
@label_option
@device_option
@json_option
def sample(model, n, out, temperature, seed, shift, prior, meter, wav, qpm, program, chords,
           label, device, as_json):
    """Decode N random codes into new examples (MIDI or PNG)."""
    from musicae import api

    summary = api.sample(model or api.DEFAULT_MODELS["music"], n, out, temperature, seed,
                         device, shift=parse_shifts(shift), meter=meter, wav=wav, qpm=qpm,
                         program=program, chords=chords, label=label, prior=prior)
    report(summary, as_json)


@main.command()
@click.argument("model")
@click.option("--chords", required=True, metavar='"C Caug Am E"',
              help="The progression: one chord a bar, in turn.")
@click.option("--bars", type=click.IntRange(1, MAX_SAMPLES), default=None,
              help="Bars to write, the progression repeated [default: the progression once].")
@out_option
@click.option("--temperature", type=Finite(min=0), default=None,
              help="Sampling temperature (0 = argmax) [default: the fitted prior's own "
              f"where the model has one, else {SAMPLE_TEMPERATURE}].")
@seed_option
@click.option("--prior", type=OneOf(["fitted", "standard"]), default=None,
              help="Where the style's code is drawn from (as for sample).")
@meter_option
@wav_option
@style_options[0]  # --qpm
@device_option
@json_option
def arrange(model, chords, bars, out, temperature, seed, prior, meter, wav, qpm, device,
            as_json):
    """One style (one random code) played under each chord of --chords in turn, bars
    joined into one MIDI file whose tracks are merged by instrument (chord-conditioned
    models: multitrack_1bar_chords, pop_lead_2bar). The same --seed gives the same style
    under another progression (--chords "N.C." for none)."""
    from musicae import api

    report(api.arrange(model, chords, out, bars, temperature, seed, device, meter, prior,
                       wav=wav, qpm=qpm), as_json)


@main.command("fit-prior")
@click.argument("model")
@click.argument("data")
@click.option("-o", "--out", required=True, type=OutPath(),
              help="The new model directory: MODEL's config and weights with the prior.")
@click.option("--components", type=click.IntRange(1, 1024), default=PRIOR_COMPONENTS,
              show_default=True, help="Gaussians per mixture.")
@click.option("--covariance", type=OneOf(["full", "diag"]), default=PRIOR_COVARIANCE,
              show_default=True, help="Each Gaussian's covariance: full, or diagonal.")
@click.option("--windows", type=click.IntRange(1, MAX_PRIOR_WINDOWS), default=PRIOR_WINDOWS,
              show_default=True, help="Examples of the split to encode (drawn at random where "
              "there are more).")
@click.option("--split", type=OneOf(["train", "valid", "test", "all"]), default="train",
              show_default=True, help="Which files of DATA.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the examples drawn and of the mixtures' start.")
@click.option("--temperature", type=Finite(min=0), default=SAMPLE_TEMPERATURE,
              show_default=True, help="The temperature samples from the prior are decoded at "
              "unless `sample --temperature` says otherwise.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@device_option
@json_option
def fit_prior(model, data, out, components, covariance, windows, split, seed, temperature,
              quiet, device, as_json):
    """Fit a prior to the codes MODEL gives DATA's examples and write MODEL with it as a new
    model directory; `sample` then draws from it (`--prior standard`: N(0, I)). Music gets
    a mixture per meter with enough windows, and one over all of them; a model told chords
    also keeps the windows' posteriors beside their chords, so that codes drawn over given
    chords come from windows whose chords are most alike."""
    from musicae import api

    report(api.fit_prior(model, data, out, components, covariance, windows, split, seed,
                         device, progress=not quiet, temperature=temperature), as_json)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] A B | MODEL")
@out_option
@click.option("--steps", type=click.IntRange(2, MAX_SAMPLES), default=INTERPOLATION_STEPS,
              show_default=True, help="Points on the path, endpoints included (a one-bar "
              "model: bars).")
@click.option("--method", type=OneOf(["slerp", "lerp"]), default=INTERPOLATION_METHOD,
              show_default=True)
@click.option("--spacing", type=OneOf(["even", "uniform"]), default=INTERPOLATION_SPACING,
              show_default=True, help="Between two inputs: 'even' keeps, of 4x the points "
              "on the path, those whose distances from A rise most evenly; 'uniform': equal "
              "fractions of the path.")
@with_music_options
@seed_option
@with_style_options
@label_option
@click.option("--meter", default=METER,
              help="Music, two random styles: meter of the path [default: 4/4].")
@click.option("--prior", type=OneOf(["fitted", "standard"]), default=None,
              help="Two random styles: the prior they are drawn from (as for sample).")
@device_option
@json_option
def interpolate(args, out, steps, method, spacing, bar, wav, seed, qpm, program, chords, label,
                meter, prior, device, as_json):
    """Walk the latent space from input A to input B (music: in A's meter), or, given only
    MODEL, between two random styles (music over --chords: a one-bar chord model takes one
    chord a step, in turn)."""
    from musicae import api

    if len(args) == 1:
        model, (a, b) = args[0], (None, None)
    else:
        model, (a, b) = split_model(args, 2)
    report(api.interpolate(model, a, b, out, steps, method, spacing=spacing, device=device,
                           bar=bar, wav=wav,
                           seed=seed, qpm=qpm, program=program, chords=chords, label=label,
                           meter=meter, prior=prior), as_json)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] INPUT...")
@out_option
@click.option("--no-corrupt", is_flag=True,
              help="Denoise/super-res models: the inputs are already degraded.")
@click.option("--shift", multiple=True, metavar="NAME=AMOUNT",
              help="Move the code along an attribute vector before decoding.")
@with_music_options
@seed_option
@with_style_options
@label_option
@device_option
@json_option
def reconstruct(args, out, no_corrupt, shift, bar, wav, seed, qpm, program, chords, label,
                device, as_json):
    """Encode and decode inputs; writes each input beside its reconstruction (music: in
    the input's meter)."""
    from musicae import api

    model, inputs = split_model(args, None)
    report(api.reconstruct(model, inputs, out, device, corrupt_input=not no_corrupt,
                           shift=parse_shifts(shift), bar=bar, wav=wav, seed=seed, qpm=qpm,
                           program=program, chords=chords, label=label), as_json)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] INPUT...")
@click.option("-o", "--out", required=True, type=OutPath(),
              help="Output .npy file.")
@click.option("--bar", type=click.IntRange(min=0), default=None,
              help="Music: which window of a longer MIDI input.")
@device_option
@json_option
def encode(args, out, bar, device, as_json):
    """Save the latent codes (posterior means) of inputs as an (n, latent) .npy array."""
    from musicae import api

    model, inputs = split_model(args, None)
    report(api.encode(model, inputs, out, device, bar=bar), as_json)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] Z.npy")
@out_option
@click.option("--temperature", type=Finite(min=0), default=DECODE_TEMPERATURE,
              show_default=True, help="Sequence models: 0 = argmax.")
@meter_option
@wav_option
@seed_option
@with_style_options
@label_option
@device_option
@json_option
def decode(args, out, temperature, meter, wav, seed, qpm, program, chords, label, device,
           as_json):
    """Decode codes from a .npy file (as written by `encode`)."""
    from musicae import api

    if len(args) == 2:
        model, codes = args
    elif len(args) == 1:
        model, codes = api.DEFAULT_MODELS["music"], args[0]
    else:
        raise MusicaeError("expected [MODEL] Z.npy")
    report(api.decode(model, codes, out, temperature, device, meter=meter, wav=wav, seed=seed,
                      qpm=qpm, program=program, chords=chords, label=label), as_json)


@main.command()
@click.argument("model")
@click.argument("beat")
@out_option
@click.option("--temperature", type=Finite(min=0), default=GROOVE_TEMPERATURE,
              show_default=True, help="1 draws each hit's velocity and timing as the model "
              "learned them; lower pulls them towards the likeliest (0: mostly on the grid).")
@seed_option
@wav_option
@device_option
@json_option
def groove(model, beat, out, temperature, seed, wav, device, as_json):
    """Play the drum hits of BEAT (a MIDI file) with the velocities and micro-timing MODEL
    (a groove model) learned. The hits stay exactly as they are; the whole file is grooved,
    a window of bars at a time (the last one filled out with silence)."""
    from musicae import api

    report(api.groove(model, beat, out, temperature, seed, device, wav=wav), as_json)


@main.command()
@click.argument("data")
@click.option("--preset", required=True, help="Music preset whose windows to make.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Processes (default: all cores).")
@click.option("--cache", type=OutPath(), default=None,
              help="Cache folder (default: $MUSICAE_CACHE or ~/.cache/musicae).")
@config_option
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a representation setting, e.g. --set bars=4 (as for train).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def prepare(data, preset, workers, cache, config, settings, quiet, as_json):
    """Statistics of what a MIDI folder yields (and cache its windows)."""
    from musicae.datasets.midi import prepare as prepare_windows  # torch-free, unlike api
    from musicae.presets import prepare_representation

    rep = prepare_representation(preset, parse_settings(settings),
                                 read_config_file(config) if config else None)
    result = prepare_windows(data, rep, workers=workers, cache_dir=cache, progress=not quiet)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


@main.command()
@click.argument("model")
@click.argument("data")
@click.option("--split", type=OneOf(["train", "valid", "test", "all"]), default=None,
              help="Which files of DATA [default: test for the model's own training data, "
              "all for other data].")
@device_option
@json_option
def evaluate(model, data, split, device, as_json):
    """Held-out metrics of MODEL on DATA."""
    from musicae import api

    report(api.evaluate(model, data, split, device), as_json)


@main.command()
@click.argument("model")
@click.argument("data")
@click.option("--name", required=True,
              type=OneOf(["density", "pitch_range", "mean_pitch", "syncopation"]),
              help="The attribute whose latent direction to store.")
@click.option("--split", type=OneOf(["train", "valid", "test", "all"]), default="train",
              show_default=True)
@device_option
@json_option
def attribute(model, data, name, split, device, as_json):
    """Store an attribute vector in MODEL (then: sample/reconstruct --shift NAME=AMOUNT)."""
    from musicae import api

    report(api.attribute(model, data, name, split, device=device), as_json)


@main.command("plot-latent")
@click.argument("model", required=False, default="mnist_vae_2d")
@click.option("--data", default="mnist", show_default=True, help="Images whose codes to draw.")
@click.option("-o", "--out", required=True, type=OutPath(), help="PNG file.")
@device_option
@json_option
def plot_latent(model, data, out, device, as_json):
    """Picture of an image model's latent space, coloured by digit."""
    from musicae import api

    report(api.plot_latent(model, data, out, device), as_json)


@main.command()
@click.option("-o", "--out", default="out", show_default=True, type=OutPath())
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Random seed.")
@wav_option
@device_option
@json_option
def demo(out, seed, wav, device, as_json):
    """The main job on the shipped models: 8 new melodies, an interpolation, digits."""
    from musicae import api

    written = api.demo(out, seed, device, wav=wav)
    if as_json:
        report(written, True)
        return
    synth = written.pop("synth", None)
    for name, paths in written.items():
        click.echo(f"{name:<16} {Path(paths[0]).parent}/  ({len(paths)} files, "
                   f"start with {Path(paths[0]).name})")
    if synth:
        click.echo(f"WAVs rendered with: {synth}")
    click.echo(f"Open {out}/melodies/pianoroll.png and play {out}/melodies/*.mid; "
               f"{out}/interpolation/interpolation.mid plays the whole path.")


@main.command()
@json_option
def models(as_json):
    """List presets and shipped models."""
    from musicae import api

    listing = api.models()
    if as_json:
        report(listing, True)
        return
    click.echo("presets:")
    for p in listing["presets"]:
        click.echo(f"  {p['name']:<16} {p['domain']:<6} {p['description']}")
    click.echo("shipped models:" if listing["shipped"] else "shipped models: none")
    for m in listing["shipped"]:
        click.echo(f"  {m['name']:<16} preset {m['preset']}")


@main.command()
@click.option("--host", default=studio.HOST, show_default=True,
              help="Address to listen on. Any other than 127.0.0.1 or localhost lets other "
              "machines use the studio (a warning is printed).")
@click.option("--port", type=click.IntRange(1, 65535), default=studio.PORT, show_default=True,
              help="Port to listen on.")
@click.option("--models", "model_dirs", multiple=True, metavar="DIR",
              type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="A trained-model directory to serve beside the shipped models, under its "
              "folder's name (repeatable).")
def serve(host, port, model_dirs):
    """The studio: a page to sample, blend and hear the models, and its JSON API."""
    from musicae.studio import server

    models = server.served_models(model_dirs)
    sock = server.listen(host, port)
    if not server.is_loopback(host):
        click.echo(f"warning: --host {host} lets other machines reach this studio and run "
                   f"its models (no password); 127.0.0.1 keeps it to this machine", err=True)
    click.echo(f"musicae studio on {server.url(host, port)} ({len(models)} models); "
               f"Ctrl-C stops it")
    server.run(models, host, port, sock)
