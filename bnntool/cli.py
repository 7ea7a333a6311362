"""The ``bnntool`` command line. Commands parse options, call one function of a stage, print."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from bnntool import __version__
from bnntool.errors import UserError

DEBUG_ENV = "BNNTOOL_DEBUG"


class _Group(click.Group):
    """Turns :class:`UserError` into one line on stderr and exit code 2 (traceback with --debug);
    usage errors (a bad option value) are one line too."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx else "bnntool"
            click.echo(
                f"bnntool: error: {where}: {e.format_message()} (see '{where} --help')", err=True
            )
            result = 2
        except click.Abort:
            click.echo("bnntool: aborted", err=True)
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as e:
            if ctx.params.get("debug"):
                raise
            click.echo(f"bnntool: error: {e}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            if ctx.params.get("debug"):
                raise
            click.echo("bnntool: interrupted", err=True)
            ctx.exit(130)

    ORDER = (
        "fetch", "datasets", "train", "convert", "verify", "pipeline",
        "plan", "build", "deploy", "board", "infer", "evaluate", "detect", "export",
    )  # fmt: skip

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Pipeline order, not alphabetical.
        return sorted(self.commands, key=lambda c: self.ORDER.index(c) if c in self.ORDER else 99)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(value: Any) -> None:
    """Write one JSON document to stdout (what ``--json`` promises scripts)."""
    click.echo(json.dumps(_jsonable(value), indent=2))


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _info(message: str) -> None:
    click.echo(message, err=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON document on stdout for scripts."
)
mirror_option = click.option(
    "--mirror",
    envvar="BNNTOOL_MIRROR",
    show_envvar=True,
    metavar="DIR|URL",
    help="Fetch datasets from this folder or URL prefix, laid out as <dataset>/<official file "
    "name>, instead of the official URLs.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BNNTOOL_DATA_DIR",
    show_envvar=True,
    help="Where datasets are kept (default: ~/.cache/bnntool/datasets).",
)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="bnntool")
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help="Show full tracebacks instead of one-line errors.",
)
def cli(debug: bool) -> None:
    """bnntool: binarized neural networks from training to a PYNQ board.

    \b
    The pipeline, one command per stage:
      fetch     get a dataset (MNIST, Fashion-MNIST, CIFAR-10, GTSRB), verified
      datasets  list the known datasets and what is on this machine
      train     train an LFC or CNV network from a recipe -> weights.npz
      convert   trained weights (.npz) -> the parameter folder an overlay loads
      verify    run a parameter folder on the bit-exact overlay model
      pipeline  fetch, train, convert and verify in one resumable command
      plan      SIMD and PE per layer for a target FPS, with resource estimates
      build     HLS and Vivado sources from an overlay spec -> bitstream
      deploy    a params folder onto one or more boards over SSH
      board     board setup (the runtime) and board info
      infer     classify pictures on a board
      evaluate  accuracy and speed on a board, compared with verify
      detect    find a road sign in a picture (windows on a board)
      export    a trained network as QONNX, for Xilinx FINN

    \b
    Example:
      bnntool fetch fashion-mnist
      bnntool convert mnist-1w-1a.npz --overlay lfcW1A1 --dataset mnist --out params/
    """


@cli.command(short_help="Download datasets, verified against their published checksums.")
@click.argument("names", metavar="DATASET...", nargs=-1, required=True)
@data_dir_option
@mirror_option
@click.option(
    "--retries",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Attempts per file before giving up on a flaky connection.",
)
@json_option
def fetch(
    names: tuple[str, ...], data_dir: Path | None, mirror: str | None, retries: int, as_json: bool
) -> None:
    """Download datasets into the data directory, checking every file's checksum.

    A dataset is installed all or nothing: a file that fails its checksum is not kept, and
    neither is the rest of that dataset's fetch. An interrupted download is resumed next time.
    Debian's dataset-fashion-mnist package is used when it is installed.

    \b
    Examples:
      bnntool fetch fashion-mnist
      bnntool fetch mnist cifar-10 --data-dir ~/data
      bnntool fetch fashion-mnist --mirror /mnt/datasets --json
    """
    from bnntool.data import fetch as fetch_dataset
    from bnntool.data.download import RetryPolicy

    policy = RetryPolicy(attempts=retries)
    results = []
    for name in names:
        result = fetch_dataset(name, data_dir, mirror, policy=policy, log=_info)
        results.append(result)
        if not as_json:
            size = sum(f.size for f in result.files)
            sources = sorted({f.source for f in result.files if f.source != "cache"})
            origin = f"from {', '.join(sources)}" if sources else "all already there"
            click.echo(
                f"{result.dataset}: {len(result.files)} files verified in {result.directory} "
                f"({_human_size(size)}, {origin}; {result.seconds:.1f} s)"
            )
    if as_json:
        emit_json(
            [
                {
                    "dataset": r.dataset,
                    "directory": r.directory,
                    "seconds": round(r.seconds, 3),
                    "files": [
                        {
                            "name": f.name,
                            "path": f.path,
                            "size": f.size,
                            "source": f.source,
                            "verified_by": f.verified_by,
                        }
                        for f in r.files
                    ],
                }
                for r in results
            ]
        )


@cli.command(short_help="List the known datasets and which are here and verified.")
@data_dir_option
@json_option
def datasets(data_dir: Path | None, as_json: bool) -> None:
    """List the known datasets, whether each is present and verified, and its size.

    Every file is checked against its published checksum (a few seconds for CIFAR-10).

    \b
    Examples:
      bnntool datasets
      bnntool datasets --json --data-dir ~/data
    """
    from bnntool.data import dataset_names, status

    report = [status(name, data_dir) for name in dataset_names()]
    if as_json:
        emit_json(
            [
                {
                    "name": s.name,
                    "title": s.title,
                    "directory": s.directory,
                    "present": s.present,
                    "verified": s.verified,
                    "size": s.size,
                    "files": [dataclasses.asdict(f) for f in s.files],
                }
                for s in report
            ]
        )
        return
    rows = []
    for s in report:
        have = sum(f.present for f in s.files)
        if s.verified:
            state = "verified"
        elif have == 0:
            state = "not fetched"
        elif any(f.present and not f.verified for f in s.files):
            state = "CORRUPT"
        else:
            state = "incomplete"
        rows.append(
            (s.name, state, f"{have}/{len(s.files)}", _human_size(s.size) if have else "-", s.title)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("DATASET", "STATE", "FILES", "SIZE", "DESCRIPTION")
    widths = [max(w, len(h)) for w, h in zip(widths, header[:4], strict=True)]
    for row in (header, *rows):
        cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))
    root = report[0].directory.parent if report else ""
    click.echo(f"\ndata directory: {root}")


@cli.command(short_help="Train an LFC or CNV network from a recipe (GPU, CPU or several).")
@click.argument("recipe", required=False)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the run in this folder where it stopped.",
)
@click.option("--epochs", type=click.IntRange(1), help="Override the recipe's epochs.")
@click.option("--batch-size", type=click.IntRange(1), help="Override the recipe's batch size.")
@click.option("--lr", type=float, help="Override the recipe's starting learning rate.")
@click.option("--seed", type=int, help="Override the recipe's seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--gpus", type=click.IntRange(1), help="Train on N GPUs of this machine (torchrun).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default: ./runs/<recipe>-<date>-<time>).",
)
@click.option("--limit", type=int, help="Train on the first N training images only (quick runs).")
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
        log=_info,
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


@cli.command(short_help="Export a trained network (QONNX, for Xilinx FINN).")
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
    so that it can go on to Xilinx FINN. Needs the optional onnx dependency:
    pip install 'bnntool[qonnx]'.

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


@cli.command(short_help="Turn trained weights (.npz) into an overlay's parameter folder.")
@click.argument("weights", metavar="WEIGHTS.npz|RUN_DIR", type=click.Path(path_type=Path))
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

    \b
    Examples:
      bnntool convert runs/mnist-lfcW1A1-20261124-0930 --out params/
      bnntool convert run/weights.npz --overlay lfcW1A1 --dataset fashion-mnist --out params/
      bnntool convert cifar10-1w-1a.npz --overlay cnvW1A1 --out cnv/ --thresholds upstream
      bnntool convert w.npz --overlay my-folding.toml --classes names.txt --out p/ --force --json
    """
    from bnntool.convert import convert as run_convert
    from bnntool.convert import run_record, weights_of

    if classes_file is not None and dataset is not None:
        raise UserError("give --classes or --dataset, not both")
    weights = weights_of(weights)
    run = run_record(weights)
    if overlay is None:
        overlay = run.get("recipe", {}).get("overlay")
        if not overlay:
            raise UserError(
                f"{weights} is not in a bnntool run folder (no run.json beside it); give "
                "--overlay NAME|FILE"
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


@cli.command(short_help="Run a parameter folder on the bit-exact overlay model.")
@click.argument("params_dir", metavar="PARAMS_DIR", type=click.Path(path_type=Path))
@click.option(
    "--dataset", required=True, help="Dataset name (mnist, fashion-mnist, ...) or image folder."
)
@click.option(
    "--overlay",
    metavar="NAME|FILE",
    help="The folder's overlay, for folders without a manifest.json (e.g. BNN-PYNQ's own).",
)
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option(
    "--against",
    metavar="WEIGHTS.npz|RUN_DIR",
    type=click.Path(path_type=Path),
    help="Also run the trained network and report agreement with it.",
)
@click.option("--limit", type=int, help="Only the first N images.")
@click.option(
    "--fit", is_flag=True, help="Resize and recolour dataset images to the overlay's input."
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
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Run a parameter folder on bnntool's bit-exact model of its overlay, over a dataset, and
    report accuracy (the board's batch read-out), per-class accuracy and images per second.
    With --against, also run the trained network and report agreement; a folder converted with
    exact thresholds agrees on every image.

    \b
    Examples:
      bnntool verify params/ --dataset fashion-mnist --against run/weights.npz
      bnntool verify bnn/params/mnist/lfcW1A1 --overlay lfcW1A1 --dataset mnist
      bnntool verify params/ --dataset cifar-10 --limit 1000 --json
    """
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
    )
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result.overlay} on {result.dataset} {result.split}: {result.accuracy:.2f}% "
        f"({result.correct}/{result.images}), {result.images_per_second:,.0f} images/s"
    )
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


@cli.command(short_help="Fetch, train, convert and verify in one resumable command.")
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
    "--device", default="auto", show_default=True, help="Training device: auto, cpu, cuda[:N]."
)
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
@click.option("--limit", type=int, help="Verify on the first N test images only.")
@click.option("--train-limit", type=int, help="Train on the first N training images only.")
@data_dir_option
@json_option
def pipeline(
    dataset: str,
    overlay: str | None,
    recipe: str | None,
    weights: Path | None,
    epochs: int | None,
    device: str,
    out_dir: Path | None,
    thresholds: str,
    mirror: str | None,
    limit: int | None,
    train_limit: int | None,
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
      bnntool pipeline mnist --weights mnist-1w-1a.npz
      bnntool pipeline cifar-10 --overlay cnvW2A2 --weights cifar10-2w-2a.npz --out cnv/
    """
    from bnntool.pipeline import run_pipeline

    result = run_pipeline(
        dataset,
        overlay=overlay,
        recipe=recipe,
        weights=weights,
        epochs=epochs,
        device=device,
        out_dir=out_dir,
        thresholds=thresholds,
        data_dir=data_dir,
        mirror=mirror,
        limit=limit,
        train_limit=train_limit,
        log=_info,
    )
    if as_json:
        emit_json(result)
        return
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


# ---------------------------------------------------------------------------------------------
# The board (bnntool.board): deploy, board setup/info, infer, evaluate, detect


def _ssh_options(*, several: bool = False, required: bool = True) -> Any:
    """--host and the options that say how to log in to it (flags win over ~/.ssh/config)."""
    host_help = (
        "Board host name, address or ~/.ssh/config alias (repeat for several boards)."
        if several
        else "Board host name, address or ~/.ssh/config alias."
        + ("" if required else " Without it, runs here with the software model.")
    )
    options = [
        click.option(
            "--host", "hosts" if several else "host", multiple=several, required=required,
            metavar="HOST", help=host_help,
        ),
        click.option("--user", help="Login name (default: ~/.ssh/config's User, else xilinx)."),
        click.option("--port", type=click.IntRange(1, 65535), help="SSH port (default 22)."),
        click.option(
            "--identity", metavar="KEY", help="Private key file (default: ~/.ssh/config, agent)."
        ),
        click.option(
            "--password-env", metavar="VAR",
            help="Take the password from this environment variable (never on the command line).",
        ),
        click.option(
            "--accept-new-host-key", is_flag=True,
            help="Trust and store an unknown host key (first contact); a changed key is refused.",
        ),
        click.option(
            "--remote-dir", default="bnntool", show_default=True, metavar="DIR",
            help="bnntool's folder on the board, below the user's home.",
        ),
    ]  # fmt: skip

    def decorate(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def _target(host: str, opts: dict[str, Any]) -> Any:
    from bnntool.board.transport import resolve

    return resolve(
        host,
        user=opts["user"],
        port=opts["port"],
        identity=opts["identity"],
        password_env=opts["password_env"],
        accept_new_host_key=opts["accept_new_host_key"],
    )


_runtime_option = click.option(
    "--runtime",
    type=click.Choice(["auto", "hw", "sw"]),
    default="auto",
    show_default=True,
    help="hw: the accelerator (PYNQ overlay); sw: the bit-exact software model; auto: hw when "
    "an overlay can be loaded.",
)
_params_option = click.option(
    "--params",
    required=True,
    metavar="DATASET/OVERLAY|DIR",
    help="With --host: a deployed folder (bnntool board info lists them); without: a local folder.",
)
_overlay_option = click.option(
    "--overlay", metavar="NAME|FILE", help="Local folders without a manifest.json: their overlay."
)


@cli.command(short_help="Upload a params folder (and bitstream) to one or more boards.")
@click.argument("params_dir", metavar="PARAMS_DIR", type=click.Path(path_type=Path))
@_ssh_options(several=True)
@click.option(
    "--as",
    "as_dataset",
    metavar="DATASET",
    help="Name on the board (default: the folder's "
    "parent for BNN-PYNQ's params/<dataset>/<overlay>).",
)
@_overlay_option
@click.option(
    "--bitstream",
    type=click.Path(path_type=Path),
    metavar="BUILD_DIR",
    help="Also upload a custom overlay's .bit/.hwh/.tcl from bnntool build.",
)
@click.option(
    "--layout",
    type=click.Choice(["bnntool", "bnn-pynq"]),
    default="bnntool",
    show_default=True,
    help="bnn-pynq: also copy it into an installed BNN-PYNQ's bnn/params/<dataset>/<overlay>.",
)
@click.option("--force", is_flag=True, help="Upload even when the board has identical files.")
@json_option
def deploy(
    params_dir: Path, hosts: tuple[str, ...], as_dataset: str | None, overlay: str | None,
    bitstream: Path | None, layout: str, force: bool, as_json: bool, **ssh: Any,
) -> None:  # fmt: skip
    """Upload a params folder to boards as one compressed stream, check every file's sha256 on
    the board, and swap it into place (the previous version stays until the swap succeeded).
    Boards that already hold identical files are skipped; several boards go in parallel.

    \b
    Examples:
      bnntool deploy params/ --host pynq --as fashion-mnist
      bnntool deploy bnn/params/mnist/lfcW1A1 --host 192.168.2.99 --accept-new-host-key
      bnntool deploy params/ --as mnist --host pynq1 --host pynq2 --layout bnn-pynq --json
    """
    from bnntool.board.deploy import deploy as run_deploy

    targets = [_target(h, ssh) for h in hosts]
    rows = run_deploy(
        params_dir, targets, dataset=as_dataset, overlay=overlay, bitstream=bitstream,
        layout=layout, root=ssh["remote_dir"], force=force, log=_info,
    )  # fmt: skip
    failed = [r for r in rows if r.status == "failed"]
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            where = r.error if r.error else f"{r.path}" + (f" + {r.bnn_path}" if r.bnn_path else "")
            click.echo(f"{r.host:20} {r.status:9} {r.params:24} {r.seconds:6.2f} s  {where}")
    if len(failed) == 1 and len(rows) == 1:
        raise UserError(failed[0].error or "deploy failed")
    if failed:
        raise UserError(
            f"deploy failed on {len(failed)} of {len(rows)} hosts: "
            + "; ".join(f"{r.error}" for r in failed)
        )


@cli.group(short_help="Set up a board (runtime) and show what it holds.")
def board() -> None:
    """Board commands: setup puts the board runtime on it; info shows what it has.

    \b
    Examples:
      bnntool board setup --host pynq
      bnntool board info --host pynq --json
    """


@board.command(short_help="Put the board runtime on a board (no internet needed there).")
@_ssh_options()
@json_option
def setup(host: str, as_json: bool, **ssh: Any) -> None:
    """Put bnntool's board runtime (one zipapp: the bit-exact model and the accelerator driver,
    NumPy only) into ~/bnntool on the board and check that the board's Python runs it.

    \b
    Example:
      bnntool board setup --host pynq
    """
    from bnntool.board.client import setup as run_setup

    result = run_setup(_target(host, ssh), ssh["remote_dir"])
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result['host']}: runtime {result['path']} ({result['bytes']:,} bytes, "
        f"{result['modules']} modules); Python {result['python']}, NumPy {result['numpy']}"
    )


@board.command(short_help="PYNQ version, board, free disk, deployed params and bitstreams.")
@_ssh_options()
@json_option
def info(host: str, as_json: bool, **ssh: Any) -> None:
    """Show a board's Python, NumPy and PYNQ versions, board, free disk, the runtime, the params
    folders deployed by bnntool (with their bitstreams) and BNN-PYNQ's own params.

    \b
    Example:
      bnntool board info --host pynq
    """
    from bnntool.board.client import info as run_info

    r = run_info(_target(host, ssh), ssh["remote_dir"])
    if as_json:
        emit_json(r)
        return
    click.echo(f"host     {r['host']} ({r['board'] or r['model'] or 'board unknown'})")
    click.echo(f"python   {r['python']} ({r['executable']}), numpy {r['numpy']}, pynq {r['pynq']}")
    click.echo(f"disk     {_human_size(r['disk_free'])} free of {_human_size(r['disk_total'])}")
    click.echo(f"runtime  {r['runtime'] or 'not installed (bnntool board setup)'}")
    for d in r["deployed"]:
        bit = f", bitstream {', '.join(d['bitstream'])}" if d["bitstream"] else ""
        click.echo(f"params   {d['params']} ({d['files']} files, {d['deployed']}{bit})")
    if r["bnn"]:
        click.echo(f"bnn      {r['bnn']['params']}: {', '.join(r['bnn']['available'])}")
    if r["overlays"]:
        click.echo(f"overlays {', '.join(r['overlays'])}")


@cli.command(short_help="Classify image files on a board (or here with --runtime sw).")
@click.argument(
    "images", metavar="IMAGE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@_params_option
@_ssh_options(required=False)
@_runtime_option
@_overlay_option
@json_option
def infer(
    images: tuple[Path, ...], params: str, host: str | None, runtime: str, overlay: str | None,
    as_json: bool, **ssh: Any,
) -> None:  # fmt: skip
    """Prepare pictures as the board's classifier does (CNV: thumbnail into a white 32x32; LFC:
    idx3 files, or pictures in grey) and classify them on the board: class, score, time.

    \b
    Examples:
      bnntool infer deer.jpg --host pynq --params cifar10/cnvW1A1
      bnntool infer 3.image-idx3-ubyte --params bnn/params/mnist/lfcW1A1 --runtime sw
    """
    from bnntool.board.client import infer as run_infer
    from bnntool.board.client import place

    target = _target(host, ssh) if host else None
    with place(
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"]
    ) as p:
        r = run_infer(p, list(images))
    if as_json:
        emit_json(r)
        return
    for row in r["images"]:
        score = f" (score {row['score']})" if row["score"] is not None else ""
        click.echo(f"{row['image']}: {row['class']} {row['name']}{score}")
    click.echo(
        f"{r['runtime']}: {r['usec_per_image']:,.1f} us per image"
        + (f"; {r['note']}" if r["note"] else "")
    )


@cli.command(short_help="Accuracy and speed of a params folder on a board, vs verify.")
@_params_option
@click.option("--dataset", required=True, help="Dataset name (mnist, fashion-mnist, ...).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=int, help="Only the first N images.")
@_ssh_options(required=False)
@_runtime_option
@_overlay_option
@data_dir_option
@json_option
def evaluate(
    params: str, dataset: str, split: str, limit: int | None, host: str | None, runtime: str,
    overlay: str | None, data_dir: Path | None, as_json: bool, **ssh: Any,
) -> None:  # fmt: skip
    """Send a dataset's test set to the board once, run it there, and report accuracy (the
    board's batch read-out), per-class accuracy, images per second, and bnntool verify's figure
    for the same folder with the agreement between the two.

    \b
    Examples:
      bnntool evaluate --host pynq --params fashion-mnist/lfcW1A1 --dataset fashion-mnist
      bnntool evaluate --host pynq --params mnist/lfcW1A1 --dataset mnist --limit 1000 --json
      bnntool evaluate --params params/ --dataset mnist --runtime sw
    """
    from bnntool.board.client import evaluate as run_evaluate
    from bnntool.board.client import place

    target = _target(host, ssh) if host else None
    with place(
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"]
    ) as p:
        r = run_evaluate(p, dataset, split=split, limit=limit, data_dir=data_dir, log=_info)
    if as_json:
        emit_json(r)
        return
    where = r["host"] or "this machine"
    click.echo(
        f"{r['params']} on {where} ({r['runtime']}): {r['dataset']} {r['split']} "
        f"{r['accuracy']:.2f}% ({r['correct']}/{r['images']}), "
        f"{r['images_per_second']:,.0f} images/s"
    )
    for c in r["per_class"]:
        if c["images"]:
            click.echo(
                f"  {c['class']:>3} {c['name'][:28]:28} {c['accuracy']:6.2f}%  ({c['images']})"
            )
    v = r["verify"]
    click.echo(f"verify's model: {v['accuracy']:.2f}%; agreement {v['agreement']:.2f}%")
    if r["note"]:
        click.echo(f"note: {r['note']}", err=True)


@cli.command(short_help="Find a road sign in a picture (windows classified on a board).")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@_params_option
@click.option("--class", "class_name", default="Stop", show_default=True, help="Class to find.")
@click.option(
    "--min-score",
    type=int,
    default=455,
    show_default=True,
    help="Score above which a window counts.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="PNG with the detections drawn."
)
@_ssh_options(required=False)
@_runtime_option
@_overlay_option
@json_option
def detect(
    image: Path, params: str, class_name: str, min_score: int, out: Path | None,
    host: str | None, runtime: str, overlay: str | None, as_json: bool, **ssh: Any,
) -> None:  # fmt: skip
    """The road-sign demo: windows of 64 and 96 pixels at a quarter-window stride, all classified
    in one batch; windows whose score for the class is above --min-score are drawn into --out.

    \b
    Examples:
      bnntool detect street_with_stop.JPG --host pynq --params road-signs/cnvW1A1 --out stop.png
      bnntool detect street.jpg --params bnn/params/road-signs/cnvW1A1 --runtime sw --json
    """
    from bnntool.board.client import detect as run_detect
    from bnntool.board.client import place

    target = _target(host, ssh) if host else None
    with place(
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"]
    ) as p:
        r = run_detect(p, image, class_name=class_name, min_score=min_score, out=out)
    if as_json:
        emit_json(r)
        return
    click.echo(
        f"{r['image']}: {len(r['detections'])} of {r['windows']} windows are {r['class_name']} "
        f"(score > {r['min_score']}; best {r['best_score']}); {r['runtime']}, "
        f"{r['usec_per_window']:,.0f} us per window"
    )
    for d in r["detections"]:
        click.echo(f"  box {tuple(d['box'])} score {d['score']}")
    if r["out"]:
        click.echo(f"drawn: {r['out']}")


# ---------------------------------------------------------------------------------------------
# Hardware (bnntool.build): plan, build


@cli.command(short_help="Choose SIMD and PE per layer for a target FPS on a board.")
@click.option("--network", required=True, type=click.Choice(["lfc", "cnv"]), help="Topology.")
@click.option(
    "--precision", default="W1A1", show_default=True, help="W1A1, W1A2 (lfc, cnv) or W2A2 (cnv)."
)
@click.option(
    "--board", "board_name", required=True, metavar="BOARD", help="pynq-z1, pynq-z2 or ultra96."
)
@click.option("--target-fps", required=True, type=float, help="Images per second to reach.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan as an overlay spec (.toml) that convert, verify and build take.",
)
@json_option
def plan(
    network: str,
    precision: str,
    board_name: str,
    target_fps: float,
    out: Path | None,
    as_json: bool,
) -> None:
    """Choose the folding (SIMD and PE per layer) of the LFC or CNV network that reaches
    --target-fps at the board's clock with the fewest resources, from a cycle model (the slowest
    layer sets the rate) and a resource model calibrated on BNN-PYNQ's published figures.
    Refuses a target that no folding reaches, or one whose smallest folding does not fit the
    board, and says by how much.

    \b
    Examples:
      bnntool plan --network cnv --precision W1A1 --board pynq-z2 --target-fps 1000
      bnntool plan --network lfc --board ultra96 --target-fps 500000 --out lfc-fast.toml
    """
    from bnntool.build.boards import get_board
    from bnntool.build.plan import plan as make_plan

    board = get_board(board_name)
    result = make_plan(network, precision, board, target_fps, out)
    est = result.estimate
    if as_json:
        emit_json(
            {
                "overlay": result.spec.name,
                "board": board.name,
                "clock_mhz": est.clock_mhz,
                "target_fps": target_fps,
                "fps": round(est.fps, 1),
                "cycles_per_image": est.cycles,
                "luts": est.luts,
                "bram_tiles": est.bram_tiles,
                "board_luts": est.board_luts,
                "board_bram_tiles": est.board_bram_tiles,
                "layers": est.layers,
                "spec_file": result.path,
            }
        )
        return
    click.echo(
        f"{'layer':>5} {'kind':5} {'SIMD':>4} {'PE':>4} {'cycles':>9} {'BRAM18':>6} {'LUT':>7}"
    )
    for ly in est.layers:
        click.echo(
            f"{ly.index:>5} {ly.kind:5} {ly.simd:>4} {ly.pe:>4} {ly.cycles:>9,} {ly.bram18:>6} "
            f"{ly.luts:>7,}"
        )
    click.echo(
        f"{result.spec.name}: {est.fps:,.0f} FPS at {est.clock_mhz:g} MHz "
        f"({est.cycles:,} cycles per image); {est.luts:,} of {est.board_luts:,} LUTs, "
        f"{est.bram_tiles:g} of {est.board_bram_tiles} BRAM tiles (estimates)"
    )
    if result.path is not None:
        click.echo(f"overlay spec: {result.path}")


@cli.command(short_help="Generate HLS/Vivado sources and build a bitstream with Vivado.")
@click.option(
    "--overlay", required=True, metavar="NAME|FILE", help="Stock overlay name or overlay spec file."
)
@click.option(
    "--board", "board_name", required=True, metavar="BOARD", help="pynq-z1, pynq-z2 or ultra96."
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Build folder."
)
@click.option(
    "--stage",
    type=click.Choice(["hls", "bitstream", "all"]),
    default="all",
    show_default=True,
    help="hls: Vivado HLS only; bitstream: Vivado only (after hls); all: both.",
)
@click.option(
    "--hlslib",
    type=click.Path(file_okay=False, path_type=Path),
    help="finn-hlslib checkout (default: cloned once into the cache at the pinned commit).",
)
@click.option(
    "--vivado-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Vivado install folder, e.g. /tools/Xilinx/Vivado/2019.2 (default: XILINX_VIVADO, PATH).",
)
@click.option("--jobs", type=click.IntRange(1, 64), help="Parallel Vivado jobs (board default).")
@click.option(
    "--csim-params",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run HLS C simulation with this params folder ...",
)
@click.option(
    "--csim-image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="... on this image file (idx3-ubyte or CIFAR-10 binary record) ...",
)
@click.option("--csim-class", type=int, help="... and expect this class.")
@click.option("--dry-run", is_flag=True, help="Write every source and print the commands only.")
@json_option
def build(
    overlay: str,
    board_name: str,
    out_dir: Path,
    stage: str,
    hlslib: Path | None,
    vivado_dir: Path | None,
    jobs: int | None,
    csim_params: Path | None,
    csim_image: Path | None,
    csim_class: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Generate the HLS and Vivado sources of an overlay for a board (config.h, top.cpp, a C
    simulation test bench, hls-syn.tcl, the Vivado project and block-design scripts) and run
    Vivado HLS and Vivado on them: logs in OUT/logs/, timing and utilisation in
    OUT/report.json, the .bit, .hwh and .tcl with a manifest in OUT/bitstream/. Running it
    again resumes after the last finished step.

    \b
    Examples:
      bnntool build --overlay lfcW1A1 --board pynq-z2 --out build/lfc --dry-run
      bnntool build --overlay cnvW1A1 --board pynq-z2 --out build/cnv --hlslib ~/finn-hlslib
      bnntool build --overlay my.toml --board ultra96 --out b/ --stage hls --jobs 8
    """
    from bnntool.build.driver import run_build
    from bnntool.build.sources import Csim

    given = [v is not None for v in (csim_params, csim_image, csim_class)]
    if any(given) and not all(given):
        raise UserError("C simulation needs all three of --csim-params, --csim-image, --csim-class")
    csim = Csim(csim_params, csim_image, csim_class) if all(given) else None  # type: ignore[arg-type]
    result = run_build(
        overlay,
        board_name,
        out_dir,
        stage=stage,
        hlslib=hlslib,
        vivado_dir=vivado_dir,
        jobs=jobs,
        dry_run=dry_run,
        csim=csim,
        log=_info,
    )
    if as_json:
        emit_json(result)
        return
    if dry_run:
        click.echo(
            f"sources of {result.overlay} for {result.board} written to {result.build_dir / 'src'}"
        )
        click.echo("commands (not run):")
        for command in result.commands:
            click.echo(f"  {command}")
        return
    for step in result.steps:
        click.echo(f"{step.step:8} {step.status:8} {step.seconds:7.0f} s")
    t, u = result.timing, result.utilization
    if t is not None and u is not None:
        click.echo(
            f"timing {'met' if t['met'] else 'NOT met'} (WNS {t['wns_ns']:.3f} ns); "
            f"LUT {u['lut']['used']}, FF {u['ff']['used']}, BRAM tiles {u['bram_tiles']['used']}, "
            f"DSP {u['dsp']['used']}"
        )
    if result.bitstream_dir is not None:
        click.echo(f"bitstream: {result.bitstream_dir}")
    elif result.report is not None:
        click.echo(f"report: {result.report}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    if argv is None:
        argv = sys.argv[1:]
    cli.main(args=argv, prog_name="bnntool", standalone_mode=True)
