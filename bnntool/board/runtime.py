"""The board runtime: classifies images with a deployed params folder, on the accelerator in the
programmable logic (``hw``: ``pynq.Overlay``, its registers, ``pynq.allocate`` buffers) or on the
bit-exact software model (``sw``; also ``auto`` when no overlay can be loaded).

NumPy and, for ``hw``, PYNQ's own ``pynq`` package: no torch, no click, no paramiko. ``bnntool
board setup`` puts it on the board as one zipapp (``~/bnntool/bnntool-board.pyz``); the host
runs ``python3 bnntool-board.pyz classify ...`` with the prepared images as a ``.npy`` on stdin
and reads an ``.npz`` on stdout. The same :class:`Classifier` runs ``--runtime sw`` on the host.
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
from bnntool.convert.params import ParamsFolder, read_params
from bnntool.errors import UserError
from bnntool.overlay import spec_from_dict
from bnntool.sim.model import OverlayModel
from bnntool.sim.readout import BATCH, SINGLE, cnv_class, lfc_class

RECORD = ".bnntool-deploy.json"
RUNTIMES = ("auto", "hw", "sw")
PLATFORMS = {"Pynq-Z1": "pynqZ1-Z2", "Pynq-Z2": "pynqZ1-Z2", "Ultra96": "ultra96"}
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
    """A params folder on the accelerator (hw) or on the bit-exact model (sw)."""

    def __init__(self, params: ParamsFolder, runtime: str = "auto") -> None:
        if runtime not in RUNTIMES:
            raise UserError(f"--runtime {runtime}: use one of {', '.join(RUNTIMES)}")
        self.params = params
        self.spec = params.spec
        self.model = OverlayModel(params)
        self.accelerator = None
        self.note = ""
        if runtime in ("auto", "hw"):
            try:
                self.accelerator = _load_accelerator(params)
            except Exception as e:  # no pynq, no bitstream, no PL: fall back or refuse
                if runtime == "hw":
                    raise UserError(f"cannot use the accelerator: {e}") from None
                self.note = f"software model ({e})"
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


def _load_accelerator(params: ParamsFolder) -> Any:
    """Program the PL with the folder's bitstream (or BNN-PYNQ's stock one) and load it."""
    import pynq  # PYNQ's own package, present on the board images only

    from bnntool.board.pl import Accelerator

    bitstream = _bitstream(params)
    overlay = pynq.Overlay(str(bitstream))
    names = [k for k, v in overlay.ip_dict.items() if "BlackBoxJam" in str(v.get("type", k))]
    if not names:
        raise RuntimeError(f"{bitstream.name} has no BlackBoxJam accelerator")
    ip = overlay.ip_dict[names[0]]
    regs = pynq.MMIO(ip["phys_addr"], ip.get("addr_range", 0x10000))
    in_buf = pynq.allocate(shape=(IN_WORDS,), dtype=np.uint64)
    out_buf = pynq.allocate(shape=(OUT_WORDS,), dtype=np.uint64)
    accelerator = Accelerator(regs, params.spec, in_buf, out_buf)
    accelerator.load(params.path)
    return accelerator


def _bitstream(params: ParamsFolder) -> Path:
    """A custom overlay's ``bitstream/*.bit``, else BNN-PYNQ's stock bitstream for the board."""
    custom = sorted((params.path / "bitstream").glob("*.bit"))
    if custom:
        return custom[0]
    import importlib.util

    board = os.environ.get("BOARD", "")
    platform = PLATFORMS.get(board)
    spec = importlib.util.find_spec("bnn")
    if platform is None or spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"no bitstream deployed and no BNN-PYNQ bitstream for board {board!r}")
    root = Path(next(iter(spec.submodule_search_locations)))
    stock = root / "bitstreams" / platform / f"{params.spec.name}-{platform}.bit"
    if not stock.is_file():
        raise RuntimeError(f"no bitstream {stock}")
    return stock


def classify(folder: Path, runtime: str, images: np.ndarray) -> dict[str, Any]:
    """Everything the host needs from one batch: outputs, both read-outs, timing, runtime."""
    classifier = Classifier(read_deployed(folder), runtime)
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
    result = classify(folder, args.runtime, images)
    out = io.BytesIO()
    meta = {k: result[k] for k in ("seconds", "runtime", "note")}
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
