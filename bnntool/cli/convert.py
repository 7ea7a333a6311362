"""`bnntool convert`."""

from __future__ import annotations

from pathlib import Path

import click

from bnntool.cli.common import (
    emit_json,
    json_option,
)
from bnntool.errors import UserError


@click.command(short_help="Turn trained weights (.npz) into an overlay's parameter folder.")
@click.argument(
    "weights", metavar="WEIGHTS.npz|RUN_DIR|BREVITAS.tar", type=click.Path(path_type=Path)
)
@click.option(
    "--overlay",
    metavar="NAME|FILE",
    help="Stock overlay (lfcW1A1, lfcW1A2, cnvW1A1, cnvW1A2, cnvW2A2) or an overlay spec file "
    "(default for a bnntool run: the overlay it was trained for).",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write."
)
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Text file with one class name per line (default: 0, 1, 2, ...).",
)
@click.option(
    "--dataset",
    help="Take the class names of this dataset (mnist, cifar-10, ...); default for a bnntool "
    "run: its dataset's.",
)
@click.option(
    "--thresholds",
    type=click.Choice(["exact", "upstream"]),
    default="exact",
    show_default=True,
    help="exact: the overlay agrees with the trained model on every input; upstream: "
    "byte for byte what BNN-PYNQ's finnthesizer writes.",
)
@click.option(
    "--bn-variance",
    is_flag=True,
    help="The .npz holds PyTorch running variances where Lasagne's inv_std goes.",
)
@click.option(
    "--bn-eps",
    type=float,
    default=1e-5,
    show_default=True,
    help="Batch-norm epsilon for --bn-variance (PyTorch's default).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@json_option
def convert(
    weights: Path,
    overlay: str | None,
    out_dir: Path,
    classes_file: Path | None,
    dataset: str | None,
    thresholds: str,
    bn_variance: bool,
    bn_eps: float,
    force: bool,
    as_json: bool,
) -> None:
    """Convert a Lasagne-layout .npz (from bnntool train or BNN-PYNQ's Theano scripts) into the
    binary parameter folder a BNN-PYNQ overlay loads: L-P-weights.bin and L-P-thres.bin per
    layer L and PE P, classes.txt and manifest.json. Given a bnntool run folder (or its
    weights.npz), the overlay, class names and input encoding come from its run.json.

    It also takes a checkpoint of Brevitas's bnn_pynq trainer (LFC_1W1A, CNV_1W1A, CNV_1W2A,
    CNV_2W2A; docs/from-brevitas.md): in its experiment folder the overlay follows from the
    folder's name, elsewhere give --overlay.

    \b
    Examples:
      bnntool convert runs/mnist-lfcW1A1-20261124-0930 --out params/
      bnntool convert run/weights.npz --overlay lfcW1A1 --dataset fashion-mnist --out params/
      bnntool convert cifar10-1w-1a.npz --overlay cnvW1A1 --out cnv/ --thresholds upstream
      bnntool convert w.npz --overlay my-folding.toml --classes names.txt --out p/ --force --json
      bnntool convert experiments/LFC_1W1A_1W1A_20261201_101500 --out params/
    """
    from bnntool.convert import convert as convert_npz
    from bnntool.convert import run_record, weights_of
    from bnntool.convert.brevitas import convert_checkpoint, is_checkpoint, overlay_for

    if classes_file is not None and dataset is not None:
        raise UserError("give --classes or --dataset, not both")
    weights = weights_of(weights)
    run = run_record(weights)
    if overlay is None:
        overlay = run.get("recipe", {}).get("overlay") or overlay_for(weights)
        if not overlay and (weights.parent / "checkpoint.pt").is_file():
            raise UserError(
                f"{weights.parent} is a run that has not finished (no run.json yet); convert it "
                "when it has, or give --overlay NAME|FILE to convert its best epoch so far"
            )
        if not overlay:
            raise UserError(
                f"{weights} is not in a bnntool run folder (no run.json beside it) nor in a "
                "Brevitas experiment folder; give --overlay NAME|FILE"
            )
    classes = None
    if classes_file is None and dataset is None:
        classes = run.get("classes")
    if classes_file is not None:
        try:
            classes = classes_file.read_text().splitlines()
        except OSError as e:
            raise UserError(f"cannot read classes file {classes_file}: {e.strerror or e}") from None
        if not any(c.strip() for c in classes):
            raise UserError(f"classes file {classes_file} is empty; give one class name per line")
    elif dataset is not None:
        from bnntool.data import get_dataset

        classes = list(get_dataset(dataset).classes)
    run_convert = convert_checkpoint if is_checkpoint(weights) else convert_npz
    result = run_convert(
        weights,
        overlay,
        out_dir,
        classes=classes,
        thresholds=thresholds,
        bn_variance_eps=bn_eps if bn_variance else None,
        force=force,
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(result)
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"{result.out_dir}: {result.files} files for overlay {result.overlay} "
        f"({len(result.classes)} classes, {result.thresholds} thresholds, {result.seconds:.2f} s)"
    )
