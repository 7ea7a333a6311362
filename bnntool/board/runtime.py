"""The board runtime: classifies images with a deployed params folder, on the accelerator in the
programmable logic (``hw``: ``pynq.Overlay``, its registers, ``pynq.allocate`` buffers) or on the
bit-exact software model (``sw``; also ``auto`` when no overlay can be loaded).

NumPy and, for ``hw``, PYNQ's own ``pynq`` package: no torch, no click, no paramiko. ``bnntool
board setup`` puts it on the board as one zipapp (``~/bnntool/bnntool-board.pyz``); the host
runs ``python3 bnntool-board.pyz classify ...`` with the prepared images as a ``.npy`` on stdin
and reads an ``.npz`` on stdout. The same :class:`Classifier` runs ``--runtime sw`` on the host.

The bitstream: a custom overlay's, deployed with the params folder (``bitstream/*.bit``), else
BNN-PYNQ's stock one for the board, which ``board setup`` put in ``~/bnntool/bitstreams/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bnntool import __version__
from bnntool.board.agent import SETUP_RECORD, board_name, exported
from bnntool.board.platforms import (
    CURRENT_BOARDS,
    STOCK_OVERLAYS,
    stock_bitstream_name,
    stock_platform,
)
from bnntool.convert.params import ParamsFolder, read_params
from bnntool.errors import UserError
from bnntool.overlay import spec_from_dict
from bnntool.sim.model import OverlayModel
from bnntool.sim.readout import BATCH, SINGLE, cnv_class, lfc_class

RECORD = ".bnntool-deploy.json"
RUNTIMES = ("auto", "hw", "sw")
DEFAULT_ROOT = Path("~/bnntool")  # bnntool's folder on the board
# What login shells on PYNQ images get from /etc/profile.d and SSH commands do not: the XRT
# location (without it pynq registers no device) and the board's name.
PROFILE_SCRIPTS = ("/etc/profile.d/xrt_setup.sh", "/etc/profile.d/pynq_venv.sh")
IN_WORDS = 3_840_000  # upstream's buffer sizes (spec 4.3)
OUT_WORDS = 160_000


def read_deployed(folder: str | os.PathLike[str]) -> ParamsFolder:
    """A folder deployed by ``bnntool deploy``: its overlay comes from the deploy record."""
    folder = Path(folder)
    record_path = folder / RECORD
    if not record_path.is_file():
        raise UserError(f"{folder} was not deployed by bnntool deploy (no {RECORD}); deploy it")
    record = json.loads(record_path.read_text())
    return read_params(folder, spec_from_dict(record["overlay_spec"], str(record_path)))


def classes_of(network: str, outputs: np.ndarray, classes: int, mode: str = BATCH) -> np.ndarray:
    """The host's read-out (spec 3.4) of overlay outputs."""
    if network == "lfc":
        return lfc_class(outputs, classes, mode)
    return cnv_class(outputs, classes, mode)


class Classifier:
    """A params folder on the accelerator (hw) or on the bit-exact model (sw). ``root`` is
    bnntool's folder on the board (stock bitstreams, setup record)."""

    def __init__(
        self,
        params: ParamsFolder,
        runtime: str = "auto",
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise UserError(f"--runtime {runtime}: use one of {', '.join(RUNTIMES)}")
        self.params = params
        self.spec = params.spec
        self.model = OverlayModel(params)
        self.accelerator = None
        self.bitstream: str | None = None
        self.note = ""
        if runtime in ("auto", "hw"):
            root_path = Path(root if root is not None else DEFAULT_ROOT).expanduser().absolute()
            try:
                self.accelerator, bitstream = _load_accelerator(params, root_path)
                self.bitstream = str(bitstream)
            except Exception as e:  # no pynq, no bitstream, no PL: fall back or refuse
                reason = _reason(e)
                if runtime == "hw":
                    raise UserError(f"cannot use the accelerator: {reason}") from None
                self.note = f"software model ({reason})"
        self.runtime = "hw" if self.accelerator is not None else "sw"

    def run(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        """Overlay outputs for uint8 images (LFC: bits; CNV: scores) and the seconds taken
        (the accelerator call, or the model's forward pass)."""
        self.model.host.check(images)
        if self.accelerator is None:
            started = time.perf_counter()
            outputs, _ = self.model.run(images)
            return outputs, time.perf_counter() - started
        prepared = self.model.host.prepare(images)
        started = time.perf_counter()
        outputs = self.accelerator.run(prepared)
        return outputs, time.perf_counter() - started


class NoBitstream(RuntimeError):
    """No bitstream for this folder on this board (the message says what to do)."""


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, ModuleNotFoundError) and e.name == "pynq":
        return "no pynq package for this Python (not a PYNQ image?)"
    if "Root permissions required" in text:
        return (
            f"{text} (pynq maps the registers through /dev/mem: run the runtime as root, "
            "e.g. log in as root)"
        )
    if isinstance(e, NoBitstream):
        return text
    return f"{type(e).__name__}: {text}"


def _pynq_environment() -> None:
    """Give pynq what a login shell on a PYNQ image would: ``XILINX_XRT`` and ``BOARD``."""
    for variable in ("XILINX_XRT", "BOARD"):
        if os.environ.get(variable):
            continue
        for script in PROFILE_SCRIPTS:
            value = exported(script, variable)
            if value:
                os.environ[variable] = value
                break


def _load_accelerator(params: ParamsFolder, root: Path) -> tuple[Any, Path]:
    """Program the PL with the folder's bitstream (or the board's stock one) and load it."""
    bitstream = find_bitstream(params, root)
    _pynq_environment()
    import pynq  # PYNQ's own package, present on the board images only

    from bnntool.board.pl import Accelerator

    overlay = pynq.Overlay(str(bitstream))
    names = [k for k, v in overlay.ip_dict.items() if "BlackBoxJam" in str(v.get("type", k))]
    if not names:
        raise NoBitstream(f"{bitstream.name} has no BlackBoxJam accelerator (pynq lists "
                          f"{', '.join(overlay.ip_dict) or 'no IP'})")  # fmt: skip
    ip = overlay.ip_dict[names[0]]
    regs = pynq.MMIO(ip["phys_addr"], ip.get("addr_range") or 0x10000)
    in_buf = pynq.allocate(shape=(IN_WORDS,), dtype=np.uint64)
    out_buf = pynq.allocate(shape=(OUT_WORDS,), dtype=np.uint64)
    accelerator = Accelerator(regs, params.spec, in_buf, out_buf)
    accelerator.load(params.path)
    accelerator.overlay = overlay  # keep pynq's objects alive as long as the driver
    return accelerator, bitstream


def setup_record(root: Path) -> dict[str, Any]:
    """What ``board setup`` recorded in ``root`` (empty if nothing)."""
    try:
        return json.loads((root / SETUP_RECORD).read_text())
    except (OSError, ValueError):
        return {}


def find_bitstream(params: ParamsFolder, root: Path) -> Path:
    """A custom overlay's ``bitstream/*.bit`` deployed with the folder, else the board's stock
    bitstream that ``board setup`` installed; :class:`NoBitstream` saying what to do otherwise."""
    custom = sorted((params.path / "bitstream").glob("*.bit"))
    if custom:
        return custom[0].absolute()
    record = setup_record(root)
    board = record.get("board") or board_name()[0]
    platform = record.get("platform") or stock_platform(board)
    overlay = params.spec.name
    if platform is None:
        which = f"board {board}" if board else "this board (its name is unknown)"
        raise NoBitstream(
            f"{which} has no stock BNN-PYNQ bitstream (BNN-PYNQ published them for Pynq-Z1/Z2 "
            f"and Ultra96; {', '.join(CURRENT_BOARDS)} and others run custom ones): build one "
            f"with bnntool build and deploy it with bnntool deploy --bitstream BUILD_DIR"
        )
    stock = root / "bitstreams" / platform / stock_bitstream_name(overlay, platform)
    if not stock.is_file():
        if platform == "ultra96":
            raise NoBitstream(
                f"no {stock.name} on the board: bnntool's catalog does not cover the Ultra96 "
                ".bit files (no checksum to check them against); deploy a custom bitstream with "
                "bnntool deploy --bitstream BUILD_DIR"
            )
        raise NoBitstream(
            f"no stock bitstream {stock.name} in {stock.parent} for overlay {overlay}; run "
            "bnntool board setup (it installs them)"
            + ("" if overlay in STOCK_OVERLAYS else f" ({overlay} is not a stock overlay)")
        )
    return stock


def classify(
    folder: Path, runtime: str, images: np.ndarray, root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Everything the host needs from one batch: outputs, both read-outs, timing, runtime."""
    classifier = Classifier(read_deployed(folder), runtime, root)
    outputs, seconds = classifier.run(images)
    n_classes = len(classifier.params.classes)
    network = classifier.spec.network
    return {
        "outputs": outputs,
        "batch": classes_of(network, outputs, n_classes, BATCH),
        "single": classes_of(network, outputs, n_classes, SINGLE),
        "seconds": seconds,
        "runtime": classifier.runtime,
        "note": classifier.note,
        "bitstream": classifier.bitstream,
    }


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bnntool-board", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    c = sub.add_parser("classify", help="uint8 images (.npy on stdin) -> .npz on stdout")
    c.add_argument("--root", default="bnntool")
    c.add_argument("--params", required=True, help="DATASET/OVERLAY")
    c.add_argument("--runtime", choices=RUNTIMES, default="auto")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(
            json.dumps(
                {"bnntool": __version__, "python": sys.version.split()[0], "numpy": np.__version__}
            )
        )
        return 0
    dataset, _, overlay = args.params.partition("/")
    folder = Path(args.root) / "params" / dataset / overlay
    if not overlay or ".." in args.params or not folder.is_dir():
        raise UserError(f"no params {args.params} on the board; deploy it, or see board info")
    images = np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False)
    result = classify(folder, args.runtime, images, args.root)
    out = io.BytesIO()
    meta = {k: result[k] for k in ("seconds", "runtime", "note", "bitstream")}
    np.savez(
        out,
        outputs=result["outputs"],
        batch=result["batch"],
        single=result["single"],
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    sys.stdout.buffer.write(out.getvalue())
    sys.stdout.buffer.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the zipapp; errors are one line on stderr, exit status 3."""
    os.chdir(os.path.expanduser("~"))
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except UserError as e:
        sys.stderr.write(f"bnntool-board: error: {e}\n")
        return 3
