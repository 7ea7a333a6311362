"""`bnntool train` and `bnntool export`."""

from __future__ import annotations

from pathlib import Path

import click

from bnntool.cli.common import (
    data_dir_option,
    emit_json,
    json_option,
    log,
    mirror_option,
)


@click.command(short_help="Train an LFC or CNV network from a recipe (GPU, CPU or several).")
@click.argument("recipe", required=False)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the run in this folder where it stopped.",
)
@click.option("--epochs", type=click.IntRange(1), help="Override the recipe's epochs.")
@click.option("--batch-size", type=click.IntRange(1), help="Override the recipe's batch size.")
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Override the recipe's starting learning rate.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Override the recipe's seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--gpus", type=click.IntRange(1), help="Train on N GPUs of this machine (torchrun).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default: ./runs/<recipe>-<date>-<time>).",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    help="Train on the first N training images only (quick runs).",
)
@click.option(
    "--init",
    "init_npz",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from these weights (.npz, e.g. from BNN-PYNQ's Theano scripts).",
)
@mirror_option
@data_dir_option
@json_option
def train(
    recipe: str | None,
    resume_dir: Path | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    device: str,
    gpus: int | None,
    out_dir: Path | None,
    limit: int | None,
    init_npz: Path | None,
    mirror: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Train BNN-PYNQ's LFC or CNV network from a recipe, and write a run folder: weights.npz
    (the best validation epoch, or the last when the recipe holds no validation split out, in
    the upstream .npz layout that `bnntool convert` takes),
    checkpoint.pt, metrics.csv, curves.png, confusion.png and run.json.

    RECIPE is a shipped recipe (`python -m bnntool.resources training` lists them), a dataset
    name (its W1A1 recipe: fashion-mnist means fashion-mnist-lfcW1A1) or a .toml file.

    \b
    Examples:
      bnntool train fashion-mnist
      bnntool train mnist-lfcW1A2 --epochs 50 --device cuda
      bnntool train my-recipe.toml --out runs/mine --limit 5000
      bnntool train --resume runs/fashion-mnist-lfcW1A1-20261123-2105
      torchrun --nproc_per_node 4 -m bnntool train cifar10-cnvW1A1 --out runs/cnv
    """
    from bnntool.train.launch import run_training

    result = run_training(
        recipe=recipe,
        resume_dir=resume_dir,
        overrides={"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed},
        device=device,
        gpus=gpus,
        out_dir=out_dir,
        limit=limit,
        init=init_npz,
        data_dir=data_dir,
        mirror=mirror,
        log=log,
    )
    if result is None:  # a launcher of several processes: they reported themselves
        return
    if as_json:
        emit_json({k: v for k, v in vars(result).items() if k != "metrics"})
        return
    val = (
        f"validation {result.validation_accuracy:.2f}%, "
        if result.validation_accuracy is not None
        else ""
    )
    click.echo(
        f"{result.run_dir}: {result.recipe} on {result.device}, best epoch {result.best_epoch} of "
        f"{result.epochs}: {val}test {result.test_accuracy:.2f}% ({result.seconds:.0f} s)"
    )
    click.echo(f"weights: {result.weights}")


@click.command(short_help="Export a trained network (QONNX, for Xilinx FINN).")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["qonnx"]), default="qonnx", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (default: RUN_DIR/model.qonnx.onnx).",
)
@json_option
def export(run_dir: Path, fmt: str, out: Path | None, as_json: bool) -> None:
    """Export a trained run's network as a QONNX graph (ONNX with QONNX's quantization nodes),
    so that it can go on to Xilinx FINN: FINN's build steps turn it into FINN's hardware layers,
    which compute what the overlay computes (docs/to-finn.md). Needs the optional onnx
    dependency: pip install 'bnntool[qonnx]'.

    \b
    Examples:
      bnntool export runs/fashion-mnist-lfcW1A1-20261123-2105
      bnntool export runs/cnv --format qonnx --out cnv.onnx --json
    """
    from bnntool.export import export_qonnx

    path = export_qonnx(run_dir, out)
    if as_json:
        emit_json({"format": fmt, "path": path})
    else:
        click.echo(f"{path}: QONNX graph of {run_dir}")
