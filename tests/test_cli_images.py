"""The command line on image models: tiny runs on the bundled digits, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import musicae
from musicae.datasets.images import BUNDLED, load_images, write_png
from musicae.presets import PRESETS

TINY = ("--steps", "30", "--set", "channels=[8,8]", "--quiet")


def png(path: Path) -> np.ndarray:
    """A PNG as (H, W) floats in [0, 1]."""
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img, dtype=np.float32) / 255.0


def tile(grid: np.ndarray, index: int, columns: int) -> np.ndarray:
    """The 28x28 tile ``index`` of a grid written with 2-pixel gaps."""
    r, c = divmod(index, columns)
    return grid[r * 30 : r * 30 + 28, c * 30 : c * 30 + 28]


def held_out_digits() -> np.ndarray:
    """The bundled digits' held-out split read straight from the .npz (split == 1):
    (n, 28, 28) floats in [0, 1]."""
    with np.load(BUNDLED["mnist"]) as f:
        return f["images"][f["split"] == 1].astype(np.float64) / 255.0


def reconstruction_mse(model_dir: Path, images: np.ndarray) -> float:
    """Mean squared error per pixel of the images against their reconstructions (the
    posterior mean decoded) by the model in ``model_dir``, loaded through the Python API."""
    model = musicae.load(model_dir, device="cpu")
    outputs = np.stack([model.reconstruct(image.astype(np.float32)) for image in images])
    assert outputs.shape == images.shape
    return float(((outputs.astype(np.float64) - images) ** 2).mean())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with two held-out digits as PNGs (a.png, b.png) and a text file x.png."""
    root = tmp_path_factory.mktemp("cli")
    images = load_images("mnist", "test").images
    write_png(images[0], root / "a.png")
    write_png(images[1], root / "b.png")
    (root / "x.png").write_text("not a picture\n")
    return root


@pytest.fixture(scope="module")
def vae(workdir) -> Path:
    """A conv VAE trained for 30 steps through the CLI."""
    from click.testing import CliRunner

    from musicae.cli import main

    out = workdir / "vae"
    result = CliRunner().invoke(main, ["train", "mnist", "--preset", "mnist_conv_vae",
                                       "--out", str(out), "--device", "cpu", *TINY])
    assert result.exit_code == 0, result.output
    return out


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_train_reports_its_run(cli, tmp_path):
    # 16 held-out batches of 64 cover all 1,000 held-out digits: the summary's held-out
    # mse is then theirs, whatever sample of them the trainer draws
    result = ok(cli("train", "mnist", "--preset", "mnist_superres", "--out", tmp_path / "sr",
                    "--device", "cpu", "--json", "--set", "eval_batches=16", *TINY))
    summary = json.loads(result.stdout)
    assert summary["steps"] == 30 and summary["train_examples"] == 4000
    assert {"loss", "mse"} <= set(summary["valid"])
    assert summary["global_batch"] * 16 >= len(held_out_digits())

    # the run it names holds that model: it loads, at the step reported...
    run = Path(summary["model"])
    assert run == tmp_path / "sr"
    model = musicae.load(run, device="cpu")
    assert model.bundle.preset.name == "mnist_superres"
    training = json.loads((run / "config.json").read_text())["training"]
    assert model.bundle.meta["training"]["step"] == training["step"] == summary["steps"]
    # ...with the held-out scores reported, as config.json and the last metrics record say
    assert training["valid"] == summary["valid"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == summary["steps"]
    assert {k: records[-1][f"valid_{k}"] for k in summary["valid"]} == summary["valid"]
    # ...and these are the stored weights' scores: their reconstructions of the held-out
    # digits, recomputed here, have that mse
    mse = reconstruction_mse(run, held_out_digits())
    assert summary["valid"]["mse"] == pytest.approx(mse, rel=1e-6)


def test_sample_writes_28x28_pngs_and_a_grid(cli, vae, tmp_path):
    ok(cli("sample", vae, "-n", 6, "-o", tmp_path, "--seed", 1))
    singles = sorted(tmp_path.glob("sample_0*.png"))
    assert len(singles) == 6
    grid = png(tmp_path / "sample_grid.png")
    assert grid.shape == (2 * 30 - 2, 3 * 30 - 2)  # 6 tiles in 3 columns
    for i, path in enumerate(singles):
        assert png(path).shape == (28, 28)
        np.testing.assert_array_equal(tile(grid, i, 3), png(path))


def test_sample_is_repeatable_with_a_seed(cli, vae, tmp_path):
    for run in ("one", "two"):
        ok(cli("sample", vae, "-n", 2, "-o", tmp_path / run, "--seed", 7))
    np.testing.assert_array_equal(png(tmp_path / "one" / "sample_grid.png"),
                                  png(tmp_path / "two" / "sample_grid.png"))


def test_interpolate_and_reconstruct_agree_at_the_endpoints(cli, vae, workdir, tmp_path):
    a, b = workdir / "a.png", workdir / "b.png"
    ok(cli("interpolate", vae, a, b, "-o", tmp_path / "i", "--steps", 5, "--method", "lerp"))
    strip = png(tmp_path / "i" / "interpolation.png")
    assert strip.shape == (28, 5 * 30 - 2)
    assert len(list((tmp_path / "i").glob("step_*.png"))) == 5
    ok(cli("reconstruct", vae, a, b, "-o", tmp_path / "r"))
    for stem, frame in (("a", "step_000.png"), ("b", "step_004.png")):
        pair = png(tmp_path / "r" / f"{stem}_reconstruction.png")
        assert pair.shape == (28, 2 * 30 - 2)  # input | reconstruction
        np.testing.assert_allclose(tile(pair, 0, 2), png(workdir / f"{stem}.png"))
        np.testing.assert_allclose(tile(pair, 1, 2), png(tmp_path / "i" / frame), atol=1 / 255)


def test_reconstruct_shows_the_corrupted_input_of_a_superres_model(cli, workdir, tmp_path):
    ok(cli("train", "mnist", "--preset", "mnist_superres", "--out", tmp_path / "sr",
           "--device", "cpu", "--steps", 5, "--set", "channels=[4,4]", "--quiet"))
    ok(cli("reconstruct", tmp_path / "sr", workdir / "a.png", "-o", tmp_path / "r"))
    row = png(tmp_path / "r" / "a_reconstruction.png")
    assert row.shape == (28, 3 * 30 - 2)  # input | what the model saw | reconstruction
    from musicae.models.image import downscale, upscale

    x = torch.from_numpy(png(workdir / "a.png"))[None, None]
    seen = upscale(downscale(x, 2), 2, mode="nearest")[0, 0].numpy()  # 2x2 blocks averaged
    np.testing.assert_allclose(tile(row, 0, 3), png(workdir / "a.png"))
    np.testing.assert_allclose(tile(row, 1, 3), seen, atol=1 / 255)

    # The same without the model's own functions: the first tile is the digit as written
    # (8-bit, so exactly), the middle one that digit average-pooled 2x to 14x14 (what the
    # super-resolution model is given), shown at 28x28 with each pixel as a 2x2 block;
    # the PNG rounds each block to the nearest 1/255.
    digit = held_out_digits()[0]  # a.png
    np.testing.assert_allclose(tile(row, 0, 3), digit, rtol=0, atol=1e-6)
    small = digit.reshape(14, 2, 14, 2).mean(axis=(1, 3))  # (14, 14)
    shown = tile(row, 1, 3).astype(np.float64)
    np.testing.assert_allclose(shown, np.kron(small, np.ones((2, 2))), rtol=0,
                               atol=0.5 / 255 + 1e-6)
    assert np.abs(shown - digit).max() > 0.2  # visibly coarser than the input


def test_encode_then_decode_gives_the_reconstructions(cli, vae, workdir, tmp_path):
    a, b = workdir / "a.png", workdir / "b.png"
    result = ok(cli("encode", vae, a, b, "-o", tmp_path / "z.npy", "--json"))
    assert json.loads(result.stdout)["shape"] == [2, 16]
    assert np.load(tmp_path / "z.npy").shape == (2, 16)
    ok(cli("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "d"))
    ok(cli("reconstruct", vae, a, b, "-o", tmp_path / "r"))
    decoded = png(tmp_path / "d" / "decoded_grid.png")
    for i, stem in enumerate("ab"):
        pair = png(tmp_path / "r" / f"{stem}_reconstruction.png")
        np.testing.assert_allclose(tile(decoded, i, 2), tile(pair, 1, 2), atol=1 / 255)


def test_evaluate_json_reports_held_out_metrics(cli, vae):
    metrics = json.loads(ok(cli("evaluate", vae, "mnist", "--json")).stdout)
    assert metrics["examples"] == 1000 and metrics["split"] == "test"
    assert {"loss", "recon", "kl", "elbo", "mse", "psnr", "pca_mse"} <= set(metrics)
    assert metrics["elbo"] < 0 and 0 < metrics["mse"] < 0.25
    # every held-out digit counted, and scored as the Python API reconstructs it
    digits = held_out_digits()
    assert metrics["examples"] == len(digits)
    mse = reconstruction_mse(vae, digits)
    assert metrics["mse"] == pytest.approx(mse, rel=1e-6)
    assert metrics["psnr"] == pytest.approx(-10 * np.log10(mse), rel=1e-6)


def test_plot_latent_writes_a_png(cli, vae, tmp_path):
    ok(cli("plot-latent", vae, "-o", tmp_path / "latent.png"))
    with Image.open(tmp_path / "latent.png") as img:
        assert img.format == "PNG"


def test_models_lists_every_image_preset(cli):
    text = ok(cli("models")).stdout
    listing = json.loads(ok(cli("models", "--json")).stdout)
    for name, preset in PRESETS.items():
        if preset.domain == "image":
            assert name in text
            assert name in {p["name"] for p in listing["presets"]}


def test_threads_option_sets_torch_threads(cli):
    try:
        ok(cli("--threads", 2, "models"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert cli("--threads", 0, "models").exit_code == 2


def test_every_command_has_help(cli):
    from musicae.cli import main

    assert set(main.commands) == {"train", "sample", "interpolate", "reconstruct", "encode",
                                  "decode", "prepare", "evaluate", "attribute", "plot-latent",
                                  "demo", "models", "serve", "groove", "fit-prior", "arrange"}
    for command in main.commands:
        assert f"Usage: main {command}" in ok(cli(command, "--help")).stdout


BAD_INPUTS = {
    "missing input": ("reconstruct", "{vae}", "{dir}/missing.png", "-o", "{tmp}"),
    "text file named x.png": ("reconstruct", "{vae}", "{dir}/x.png", "-o", "{tmp}"),
    "text file to interpolate": ("interpolate", "{vae}", "{dir}/a.png", "{dir}/x.png",
                                 "-o", "{tmp}"),
    "missing model": ("sample", "{dir}/no_model", "-n", "2", "-o", "{tmp}"),
    "folder without config": ("sample", "{dir}", "-n", "2", "-o", "{tmp}"),
    "unknown preset": ("train", "mnist", "--preset", "mnist_nope", "--out", "{tmp}/run"),
    "unknown data": ("train", "{dir}/nowhere", "--preset", "mnist_ae", "--out", "{tmp}/run"),
    "impossible size": ("train", "mnist", "--preset", "mnist_ae", "--out", "{tmp}/run",
                        "--set", "latent_dim=0"),
    "size of the wrong type": ("train", "mnist", "--preset", "mnist_ae", "--out", "{tmp}/run",
                               "--set", "hidden=5"),
    "setting of the wrong type": ("train", "mnist", "--preset", "mnist_ae", "--out",
                                  "{tmp}/run", "--set", "free_bits=lots"),
    "existing run": ("train", "mnist", "--preset", "mnist_conv_vae", "--out", "{vae}"),
    "resume with nothing left": ("train", "mnist", "--preset", "mnist_conv_vae", "--out",
                                 "{vae}", "--resume", "--steps", "1"),
    "codes that are not npy": ("decode", "{vae}", "{dir}/x.png", "-o", "{tmp}"),
    "codes of the wrong size": ("decode", "{vae}", "{tmp}/z3.npy", "-o", "{tmp}"),
    "evaluate unknown data": ("evaluate", "{vae}", "{dir}/nowhere"),
}
USAGE_ERRORS = {
    "-n 0": ("sample", "{vae}", "-n", "0", "-o", "{tmp}"),
    "--steps -1": ("train", "mnist", "--preset", "mnist_ae", "--out", "{tmp}/run",
                   "--steps", "-1"),
    "interpolate --steps 1": ("interpolate", "{vae}", "{dir}/a.png", "{dir}/b.png",
                              "-o", "{tmp}", "--steps", "1"),
}


def fill(args: tuple[str, ...], vae: Path, workdir: Path, tmp: Path) -> list[str]:
    np.save(tmp / "z3.npy", np.zeros((2, 3), np.float32))
    return [a.format(vae=vae, dir=workdir, tmp=tmp) for a in args]


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line(case, cli, vae, workdir, tmp_path):
    result = cli(*fill(BAD_INPUTS[case], vae, workdir, tmp_path))
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_out_of_range_numbers_are_usage_errors(case, cli, vae, workdir, tmp_path):
    result = cli(*fill(USAGE_ERRORS[case], vae, workdir, tmp_path))
    assert result.exit_code == 2
    assert "Error: Invalid value" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ("reconstruct", "{vae}", "{dir}/x.png", "-o", "{tmp}"),
    ("train", "mnist", "--preset", "mnist_nope", "--out", "{tmp}/run"),
])
def test_a_real_process_fails_cleanly(args, cli_process, vae, workdir, tmp_path):
    done = cli_process(*fill(args, vae, workdir, tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
