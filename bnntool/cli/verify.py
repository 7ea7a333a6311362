"""`bnntool verify` and `bnntool pipeline`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bnntool.cli.common import (
    data_dir_option,
    dataset_option,
    emit_json,
    json_option,
    log,
    mirror_option,
    split_option,
)

if TYPE_CHECKING:
    from bnntool.pipeline import PipelineResult
    from bnntool.verify import VerifyReport


@click.command(short_help="Run a parameter folder on the bit-exact overlay model.")
@click.argument("params_dir", metavar="PARAMS_DIR", type=click.Path(path_type=Path))
@dataset_option
@click.option(
    "--overlay",
    metavar="NAME|FILE",
    help="The folder's overlay, for folders without a manifest.json (e.g. BNN-PYNQ's own).",
)
@split_option
@click.option(
    "--against",
    metavar="WEIGHTS.npz|RUN_DIR",
    type=click.Path(path_type=Path),
    help="Also run the trained network and report agreement with it.",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N images.")
@click.option(
    "--fit",
    is_flag=True,
    help="Resize and recolour a named dataset's images to the overlay's input (as the params "
    "folder's image preparation says).",
)
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit with code 3 if the folder's accuracy is below PCT (a CI gate).",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit with code 3 if the agreement with the trained model is below PCT.",
)
@click.option(
    "--allow-edited",
    is_flag=True,
    help="Verify a folder whose files no longer match its manifest's sha256 (edited on purpose).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON report path (default: ./verify-<folder>-<dataset>-<split>.json); the "
    "confusion-matrix PNG goes beside it.",
)
@data_dir_option
@json_option
def verify(
    params_dir: Path,
    dataset: str,
    overlay: str | None,
    split: str,
    against: Path | None,
    limit: int | None,
    fit: bool,
    report: Path | None,
    min_accuracy: float | None,
    min_agreement: float | None,
    allow_edited: bool,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Run a parameter folder on bnntool's bit-exact model of its overlay, over a dataset, and
    report accuracy (the board's batch read-out), per-class accuracy and images per second.
    With --against, also run the trained network and report agreement; a folder converted with
    exact thresholds agrees on every image. With --min-accuracy or --min-agreement it is a CI
    gate: a missed gate ends it with exit code 3 (after the report is written and printed).

    \b
    Examples:
      bnntool verify params/ --dataset fashion-mnist --against run/weights.npz
      bnntool verify bnn/params/mnist/lfcW1A1 --overlay lfcW1A1 --dataset mnist
      bnntool verify params/ --dataset cifar-10 --limit 1000 --json
      bnntool verify params/ --dataset ~/photos --against runs/photos
      bnntool verify params/ --dataset mnist --against run/ --min-accuracy 98.5 --min-agreement 100
    """
    from bnntool.verify import check_gates
    from bnntool.verify import verify as run_verify

    result = run_verify(
        params_dir,
        dataset,
        overlay=overlay,
        split=split,
        against=against,
        limit=limit,
        data_dir=data_dir,
        fit=fit,
        report=report,
        allow_edited=allow_edited,
        min_accuracy=min_accuracy,
        min_agreement=min_agreement,
    )
    if as_json:
        emit_json(result)
    else:
        _print_report(result)
    check_gates(result)


def _print_report(result: VerifyReport) -> None:
    click.echo(
        f"{result.overlay} on {result.dataset} {result.split}: {result.accuracy:.2f}% "
        f"({result.correct}/{result.images}), {result.images_per_second:,.0f} images/s"
    )
    if result.folder_split is not None:
        from bnntool.data.split import describe

        click.echo(f"{result.dataset}: {describe(result.folder_split)}: the run's split")
    if result.skipped:
        n = len(result.skipped)
        click.echo(f"{result.dataset}: {n} unreadable image{'s' if n != 1 else ''} skipped")
    for c in result.per_class:
        if c["images"]:
            click.echo(
                f"  {c['class']:>3} {c['name'][:28]:28} {c['accuracy']:6.2f}%  ({c['images']})"
            )
    for name, count in result.quirks.items():
        if count:
            click.echo(
                f"read-out: {count} images with {name.replace('_', ' ')} (upstream's read-out kept)"
            )
    a = result.against
    if a is not None:
        click.echo(
            f"trained model: {a.model_accuracy:.2f}%; agreement {a.agreement:.2f}% "
            f"(read-out {a.readout_agreement:.2f}%)"
        )
        if a.disagreements:
            shown = ", ".join(map(str, a.disagreements[:20]))
            more = " ..." if len(a.disagreements) > 20 else ""
            click.echo(f"  disagreeing images: {shown}{more}")
        if a.first_differing_layer is not None:
            click.echo(
                f"  activations first differ in layer {a.first_differing_layer} "
                f"({a.differing_images_at_that_layer} images)"
            )
    click.echo(f"report: {result.report_json}; confusion matrix: {result.confusion_png}")


@click.command(short_help="Fetch, train, convert and verify in one resumable command.")
@click.argument("dataset")
@click.option(
    "--overlay",
    metavar="NAME|FILE",
    help="Default: lfcW1A1 for MNIST-like, cnvW1A1 for CIFAR-10/GTSRB.",
)
@click.option(
    "--recipe", help="Training recipe (default: the dataset's, e.g. fashion-mnist-lfcW1A1)."
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from trained weights (.npz, Lasagne layout) instead of training.",
)
@click.option("--epochs", type=click.IntRange(1), help="Override the recipe's epochs.")
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    help="Override the recipe's seed (e.g. to measure the spread).",
)
@click.option("--device", help="Training device: auto (the default), cpu, cuda[:N].")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: ./bnntool-<dataset>-<overlay>).",
)
@click.option(
    "--thresholds", type=click.Choice(["exact", "upstream"]), default="exact", show_default=True
)
@mirror_option
@click.option("--limit", type=click.IntRange(1), help="Verify on the first N test images only.")
@click.option(
    "--train-limit", type=click.IntRange(1), help="Train on the first N training images only."
)
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit with code 3 if the folder's accuracy is below PCT (a CI gate).",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit with code 3 if the folder agrees with the trained model on less than PCT.",
)
@data_dir_option
@json_option
def pipeline(
    dataset: str,
    overlay: str | None,
    recipe: str | None,
    weights: Path | None,
    epochs: int | None,
    seed: int | None,
    device: str | None,
    out_dir: Path | None,
    thresholds: str,
    mirror: str | None,
    limit: int | None,
    train_limit: int | None,
    min_accuracy: float | None,
    min_agreement: float | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Fetch the dataset, train its recipe (or take --weights), convert the weights for the
    overlay and verify the folder on the bit-exact overlay model against the trained network,
    with one summary at the end. A stage whose outputs are already there for the same inputs is
    skipped, and an interrupted training resumes, so running it again finishes the job.

    \b
    Examples:
      bnntool pipeline fashion-mnist
      bnntool pipeline mnist --overlay lfcW1A2 --epochs 100 --device cuda
      bnntool pipeline fashion-mnist --seed 2 --out fmnist-seed2
      bnntool pipeline mnist --weights mnist-1w-1a.npz
      bnntool pipeline cifar-10 --overlay cnvW2A2 --weights cifar10-2w-2a.npz --out cnv/
    """
    from bnntool.pipeline import run_pipeline
    from bnntool.verify import check_gates

    result = run_pipeline(
        dataset,
        overlay=overlay,
        recipe=recipe,
        weights=weights,
        epochs=epochs,
        seed=seed,
        device=device,
        out_dir=out_dir,
        thresholds=thresholds,
        data_dir=data_dir,
        mirror=mirror,
        limit=limit,
        train_limit=train_limit,
        min_accuracy=min_accuracy,
        min_agreement=min_agreement,
        log=log,
    )
    if as_json:
        emit_json(result)
    else:
        _print_pipeline(result)
    if result.verify is not None:
        check_gates(result.verify)


def _print_pipeline(result: PipelineResult) -> None:
    for stage in result.stages:
        click.echo(f"{stage.stage:8} {stage.status:8} {stage.detail}")
    v = result.verify
    a = v.against if v else None
    if v is not None:
        rows = [("images", f"{v.images}")]
        if a is not None:
            rows.append(("trained model accuracy", f"{a.model_accuracy:.2f}%"))
        rows.append((f"{result.overlay} folder accuracy", f"{v.accuracy:.2f}%"))
        if a is not None:
            rows.append(("agreement (outputs)", f"{a.agreement:.2f}%"))
            rows.append(("agreement (read-out class)", f"{a.readout_agreement:.2f}%"))
        click.echo("")
        click.echo(f"{result.dataset} on {result.overlay} ({result.out_dir})")
        for name, value in rows:
            click.echo(f"  {name:28} {value:>10}")
