"""The board: `bnntool deploy`, `board setup/info`, `infer`, `evaluate`, `detect`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bnntool.cli.common import (
    data_dir_option,
    dataset_option,
    emit_json,
    human_size,
    json_option,
    log,
    mirror_option,
    split_option,
)
from bnntool.errors import UserError


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


@click.command(short_help="Upload a params folder (and bitstream) to one or more boards.")
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
        layout=layout, root=ssh["remote_dir"], force=force, log=log,
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


@click.group(short_help="Set up a board (runtime, stock bitstreams) and show what it holds.")
def board() -> None:
    """Board commands: setup puts the board runtime (and BNN-PYNQ's stock bitstreams, on a
    board that has them) on it; info shows what it has.

    \b
    Examples:
      bnntool board setup --host pynq
      bnntool board info --host pynq --json
    """


@board.command(short_help="Put the runtime and stock bitstreams on a board (no internet there).")
@_ssh_options()
@click.option(
    "--board",
    "board_name",
    metavar="NAME",
    help="The board's name as PYNQ spells it (Pynq-Z2, AUP-ZU3, KV260, ZCU104, ...); default: "
    "what the board says (BOARD, the device tree, /etc/xocl.txt).",
)
@click.option(
    "--no-bitstreams", is_flag=True, help="Install the runtime only (--runtime sw needs no more)."
)
@data_dir_option
@mirror_option
@json_option
def setup(
    host: str, board_name: str | None, no_bitstreams: bool, data_dir: Path | None,
    mirror: str | None, as_json: bool, **ssh: Any,
) -> None:  # fmt: skip
    """Put bnntool's board runtime (one zipapp: the bit-exact model and the accelerator driver,
    NumPy only) into ~/bnntool on the board and check that the board's Python runs it. On a
    Pynq-Z1 or Pynq-Z2, also BNN-PYNQ's stock bitstreams of the five overlays (bnntool fetch
    bnn-pynq-bitstreams first, unless already fetched), checked by sha256 on the board, into
    ~/bnntool/bitstreams/pynqZ1-Z2, where --runtime hw loads them from. Boards without stock
    bitstreams (AUP-ZU3, KV260, ZCU104, ...) run a custom one deployed with the params folder.

    \b
    Examples:
      bnntool board setup --host pynq
      bnntool board setup --host kria --board KV260 --json
      bnntool board setup --host pynq --mirror /mnt/mirror
    """
    from bnntool.board.client import setup as run_setup

    result = run_setup(
        _target(host, ssh), ssh["remote_dir"], board=board_name, bitstreams=not no_bitstreams,
        data_dir=data_dir, mirror=mirror, log=log,
    )  # fmt: skip
    if as_json:
        emit_json(result)
        return
    pynq = f", pynq {result['pynq']}" if result["pynq"] else ", no pynq"
    click.echo(
        f"{result['host']}: runtime {result['path']} ({result['bytes']:,} bytes, "
        f"{result['modules']} modules); Python {result['python']}, NumPy {result['numpy']}{pynq}"
    )
    stock = result["stock"]
    if stock["status"] in ("installed", "unchanged"):
        click.echo(
            f"{result['host']}: stock bitstreams {stock['platform']} {stock['status']} "
            f"({stock['files']} files, sha256 checked on the board) in {stock['path']}"
        )
    else:
        click.echo(f"{result['host']}: {result['note']}")


@board.command(short_help="PYNQ version, board, free disk, runtime, params and bitstreams.")
@_ssh_options()
@json_option
def info(host: str, as_json: bool, **ssh: Any) -> None:
    """Show a board's PYNQ, Python and NumPy versions, its name (and where it was read from),
    free disk, the runtime (and whether it is this bnntool's), the stock bitstreams, the params
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
    board = r["board"] or r["model"] or "board unknown"
    source = f" from {r['board_from']}" if r["board"] and r["board_from"] else ""
    click.echo(f"host     {r['host']} ({board}{source})")
    click.echo(f"pynq     {r['pynq'] or 'not installed'}")
    click.echo(f"python   {r['python']} ({r['executable']}), numpy {r['numpy']}")
    click.echo(f"disk     {human_size(r['disk_free'])} free of {human_size(r['disk_total'])}")
    if r["runtime"]:
        click.echo(f"runtime  {r['runtime']} ({r['runtime_state']})")
    else:
        click.echo("runtime  not installed (bnntool board setup)")
    for platform, files in r["stock_bitstreams"].items():
        click.echo(f"stock    {platform}: {len(files)} files")
    for d in r["deployed"]:
        bit = f", bitstream {', '.join(d['bitstream'])}" if d["bitstream"] else ""
        click.echo(f"params   {d['params']} ({d['files']} files, {d['deployed']}{bit})")
    if r["bnn"]:
        click.echo(f"bnn      {r['bnn']['params']}: {', '.join(r['bnn']['available'])}")
    if r["overlays"]:
        click.echo(f"overlays {', '.join(r['overlays'])}")


@click.command(short_help="Classify image files on a board (or here with --runtime sw).")
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
    """Prepare pictures as the network was trained (the params folder's image preparation; by
    default as the board's classifier does: CNV thumbnail into a white 32x32, LFC grey and
    scaled; idx3 files as they are) and classify them on the board: class, score, time.

    \b
    Examples:
      bnntool infer deer.jpg --host pynq --params cifar10/cnvW1A1
      bnntool infer 3.image-idx3-ubyte --params bnn/params/mnist/lfcW1A1 --runtime sw
    """
    from bnntool.board.client import infer as run_infer
    from bnntool.board.client import place

    target = _target(host, ssh) if host else None
    with place(
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"], log=log
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
        + (f" ({Path(r['bitstream']).name})" if r["bitstream"] else "")
        + (f"; {r['note']}" if r["note"] else "")
    )


@click.command(short_help="Accuracy and speed of a params folder on a board, vs verify.")
@_params_option
@dataset_option
@split_option
@click.option("--limit", type=click.IntRange(1), help="Only the first N images.")
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
      bnntool evaluate --host pynq --params photos/lfcW1A1 --dataset ~/photos
    """
    from bnntool.board.client import evaluate as run_evaluate
    from bnntool.board.client import place

    target = _target(host, ssh) if host else None
    with place(
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"], log=log
    ) as p:
        r = run_evaluate(p, dataset, split=split, limit=limit, data_dir=data_dir, log=log)
    if as_json:
        emit_json(r)
        return
    where = r["host"] or "this machine"
    bitstream = f", {Path(r['bitstream']).name}" if r["bitstream"] else ""
    click.echo(
        f"{r['params']} on {where} ({r['runtime']}{bitstream}): {r['dataset']} {r['split']} "
        f"{r['accuracy']:.2f}% ({r['correct']}/{r['images']}), "
        f"{r['images_per_second']:,.0f} images/s"
    )
    if r["folder_split"] is not None:
        from bnntool.data.split import describe

        click.echo(f"{r['dataset']}: {describe(r['folder_split'])}: the run's split")
    for c in r["per_class"]:
        if c["images"]:
            click.echo(
                f"  {c['class']:>3} {c['name'][:28]:28} {c['accuracy']:6.2f}%  ({c['images']})"
            )
    v = r["verify"]
    click.echo(f"verify's model: {v['accuracy']:.2f}%; agreement {v['agreement']:.2f}%")
    if r["note"]:
        click.echo(f"note: {r['note']}", err=True)


@click.command(short_help="Find a road sign in a picture (windows classified on a board).")
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
        params, target=target, runtime=runtime, overlay=overlay, root=ssh["remote_dir"], log=log
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
