"""From the host: board setup and info, and infer, evaluate and detect on the board (over SSH,
through the board runtime) or here (``--runtime sw`` and no host: the same runtime code, locally).

Images are prepared on the host as the board's classifier prepares them (spec 6.4) and sent as one
uint8 array; the board returns the overlay outputs, its read-outs and the time it took. The host
also fetches the deployed folder back (sha256-checked on deploy) so that it can name classes and
compare the board with ``bnntool verify``'s model of the very same files.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bnntool import __version__
from bnntool.board import bundle, transport
from bnntool.board.platforms import canonical, stock_platform
from bnntool.board.remote import (
    DEFAULT_ROOT,
    RUNTIME_NAME,
    agent_command,
    call_agent,
    check,
    runtime_command,
    setup_needed,
)
from bnntool.board.runtime import Classifier, classes_of, read_deployed
from bnntool.convert.params import ParamsFolder, read_params
from bnntool.data.bitstreams import runnable
from bnntool.errors import UserError
from bnntool.sim.readout import BATCH, SINGLE

# ---------------------------------------------------------------------------------------------
# setup, info


def setup(
    target: transport.Target,
    root: str = DEFAULT_ROOT,
    *,
    board: str | None = None,
    bitstreams: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Put the board runtime on the board (no internet needed there) and, for a board with
    stock bitstreams, those bitstreams (fetched here first when needed, sha256-checked there);
    a board whose Python or NumPy is too old is refused before anything is installed."""
    transport.check_relpath(root, "--remote-dir")
    if board is not None:
        transport.check_name(board, "--board")
    with transport.connect(target) as conn:
        return setup_on(
            conn, root, board=board, bitstreams=bitstreams, data_dir=data_dir, mirror=mirror,
            log=log,
        )  # fmt: skip


def setup_on(
    conn: transport.Connection,
    root: str = DEFAULT_ROOT,
    *,
    board: str | None = None,
    bitstreams: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    log: Callable[[str], None] | None = None,
    strict: bool = True,
) -> dict[str, Any]:
    """:func:`setup` on an open connection (also the first use of ``infer``/``evaluate``).
    Not ``strict``, stock bitstreams that cannot be fetched or sent leave the runtime installed
    and the failure in the result's note."""
    name = conn.target.name
    found = call_agent(conn, "versions", {})
    bundle.check_versions(name, found["python"], found["numpy"], found["executable"])
    if board is not None:
        board, board_from = canonical(board), "--board"
    else:
        board, board_from = found.get("board"), found.get("board_from")
    platform = stock_platform(board)
    stock: dict[str, Any] = {"platform": platform, "status": "none", "files": 0, "path": None}
    if platform is not None and not runnable(platform):
        stock["status"] = "not covered"
    elif platform is not None and bitstreams:
        try:
            stock = install_stock(conn, root, platform, data_dir=data_dir, mirror=mirror, log=log)
        except UserError as e:
            if strict:
                raise
            stock = {**stock, "platform": platform, "status": "failed", "error": str(e)}
    data, sha = bundle.built()
    record = {
        "bnntool": __version__,
        "runtime_sha256": sha,
        "board": board,
        "board_from": board_from,
        "platform": platform,
        "stock_bitstreams": stock["status"] in ("installed", "unchanged"),
        "setup": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    installed = call_agent(
        conn,
        "install",
        {"root": root, "name": RUNTIME_NAME, "sha256": sha, "record": record},
        stdin=data,
    )
    status, out, err = conn.run(runtime_command(root, "version", sha256=sha))
    check(conn, status, err, "the board runtime")
    version = json.loads(out.decode())
    return {
        "host": name,
        "path": installed["path"],
        "bytes": len(data),
        "modules": len(bundle.modules()),
        **version,
        "pynq": found.get("pynq"),
        "board": board,
        "board_from": board_from,
        "stock": stock,
        "note": board_note(board, platform, stock),
    }


def board_note(board: str | None, platform: str | None, stock: dict[str, Any]) -> str:
    """One line on which bitstreams ``--runtime hw`` will use on this board."""
    if platform is None:
        which = f"{board} has" if board else "the board's name is unknown (give --board), so it has"
        return (
            f"{which} no stock BNN-PYNQ bitstreams: --runtime hw runs a custom bitstream "
            "deployed with bnntool deploy --bitstream BUILD_DIR (from bnntool build)"
        )
    if stock["status"] == "not covered":
        return (
            f"{board}: bnntool's catalog does not cover BNN-PYNQ's {platform} .bit files: "
            "--runtime hw runs a custom bitstream deployed with bnntool deploy --bitstream"
        )
    if stock["status"] == "failed":
        return f"{board}: stock bitstreams not installed ({stock['error']})"
    if stock["status"] == "none":
        return f"{board}: stock bitstreams not installed (--runtime sw)"
    return f"{board}: stock bitstreams ({platform}) in {stock['path']}"


def install_stock(
    conn: transport.Connection,
    root: str,
    platform: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """BNN-PYNQ's stock bitstreams of ``platform``: fetched here (verified; a cached copy is
    used), then sent unless the board holds the same files, sha256-checked on the board."""
    from bnntool.board.deploy import chunks, tar_members
    from bnntool.data import fetch
    from bnntool.data.bitstreams import NAME, platform_files

    fetched = fetch(NAME, data_dir, mirror, log=log or (lambda _: None))
    wanted = {f.name: f.sha256 for f in platform_files(platform)}
    local = {f.name: f.path for f in fetched.files if f.name in wanted}
    sent: list[bytes] = []

    def answer(line: bytes) -> Iterator[bytes]:
        try:
            send = json.loads(line.decode())["send"]
        except (ValueError, KeyError):
            return
        if send:
            sent.append(tar_members([(n, p.read_bytes()) for n, p in sorted(local.items())]))
            yield from chunks(sent[0])

    header = json.dumps({"files": wanted, "force": force}).encode() + b"\n"
    args = {"root": root, "platform": platform}
    status, out, err = conn.run(agent_command("stock", args), header, reply=answer)
    check(conn, status, err, "installing the stock bitstreams")
    try:
        result = json.loads(out.decode())
    except ValueError:
        raise transport.BoardError(
            f"{conn.target.name}: the board's answer to the stock bitstreams was not readable"
        ) from None
    return {
        "platform": platform,
        "status": result["status"],
        "files": result["files"],
        "path": result["path"],
        "bytes_sent": len(sent[0]) if sent else 0,
    }


def info(target: transport.Target, root: str = DEFAULT_ROOT) -> dict[str, Any]:
    transport.check_relpath(root, "--remote-dir")
    with transport.connect(target) as conn:
        found = call_agent(conn, "info", {"root": root})
    setup_record = found.get("setup") or {}
    if found.get("runtime") is None:
        state = "not installed"
    elif setup_record.get("runtime_sha256") == bundle.built()[1]:
        state = "current"
    else:
        state = "another bnntool version"
    return {"host": target.name, **found, "runtime_state": state}


# ---------------------------------------------------------------------------------------------
# Where images run: a board over SSH, or this machine


@dataclass
class Batch:
    outputs: np.ndarray
    batch: np.ndarray  # the board's multi-image read-out
    single: np.ndarray  # the single-image read-out
    seconds: float  # the board's own compute time
    runtime: str
    note: str = ""
    bitstream: str | None = None  # the bitstream pynq loaded (hw)


@dataclass
class Place:
    """A params folder to run images on: ``params`` is local (for names, image preparation and the
    comparison with verify's model); with ``conn`` the images run on that board."""

    params: ParamsFolder
    name: str  # DATASET/OVERLAY on a board, the folder's path here
    runtime: str
    conn: transport.Connection | None = None
    root: str = DEFAULT_ROOT
    host: str | None = None
    log: Callable[[str], None] | None = field(default=None, repr=False)
    setup: dict[str, Any] | None = None  # what a first-use setup did
    _local: Classifier | None = field(default=None, repr=False)

    def run(self, images: np.ndarray) -> Batch:
        if self.conn is None:
            if self._local is None:
                self._local = Classifier(self.params, self.runtime)
            c = self._local
            outputs, seconds = c.run(images)
            n = len(self.params.classes)
            return Batch(
                outputs,
                classes_of(c.spec.network, outputs, n, BATCH),
                classes_of(c.spec.network, outputs, n, SINGLE),
                seconds,
                c.runtime,
                c.note,
                c.bitstream,
            )
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(images, dtype=np.uint8), allow_pickle=False)
        command = runtime_command(
            self.root, "classify", "--root", self.root, "--params", self.name,
            "--runtime", self.runtime, sha256=bundle.built()[1],
        )  # fmt: skip
        status, out, err = self.conn.run(command, buffer.getvalue())
        reason = setup_needed(status, err)
        if reason is not None and self.setup is None:
            self._first_use_setup(reason)
            status, out, err = self.conn.run(command, buffer.getvalue())
        check(self.conn, status, err, "classify")
        try:
            z = np.load(io.BytesIO(out), allow_pickle=False)
            meta = json.loads(z["meta"].tobytes().decode())
            return Batch(
                z["outputs"], z["batch"], z["single"], meta["seconds"], meta["runtime"],
                meta.get("note", ""), meta.get("bitstream"),
            )  # fmt: skip
        except (ValueError, KeyError, OSError):
            raise transport.BoardError(
                f"{self.conn.target.name}: the board runtime's answer was not readable; run "
                "bnntool board setup again"
            ) from None

    def _first_use_setup(self, reason: str) -> None:
        """Install (or replace a stale) runtime, and for hw/auto the stock bitstreams; say so in
        one line. Under ``auto`` a failure to get the bitstreams leaves the software model."""
        assert self.conn is not None
        name = self.conn.target.name
        self.setup = setup_on(
            self.conn, self.root, bitstreams=self.runtime != "sw", strict=self.runtime == "hw"
        )
        what = "no board runtime" if reason == "missing" else "its runtime was another bnntool's"
        if self.log:
            self.log(
                f"{name}: {what}: set it up (bnntool board setup): {self.setup['path']}; "
                f"{self.setup['note']}"
            )


def local_params(path: str | os.PathLike[str], overlay: str | None = None) -> ParamsFolder:
    """A params folder on this machine: its manifest's overlay, --overlay, or a stock overlay
    named like the folder (BNN-PYNQ's own params/<dataset>/<overlay>)."""
    from bnntool.overlay import stock_names

    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"--params {folder}: no such folder here (without --host it is local)")
    if overlay is None and (folder / ".bnntool-deploy.json").is_file():
        return read_deployed(folder)
    no_manifest = not (folder / "manifest.json").is_file()
    if overlay is None and no_manifest and folder.resolve().name in stock_names():
        overlay = folder.resolve().name
    return read_params(folder, overlay)


@contextmanager
def place(
    params: str,
    *,
    target: transport.Target | None,
    runtime: str = "auto",
    overlay: str | None = None,
    root: str = DEFAULT_ROOT,
    log: Callable[[str], None] | None = None,
) -> Iterator[Place]:
    """Open where the images will run; on a board, fetch its copy of the folder first. A board
    without this bnntool's runtime gets it at the first run (one line to ``log``)."""
    if target is None:
        if runtime not in ("sw", "auto", "hw"):
            raise UserError(f"--runtime {runtime}: use auto, hw or sw")
        yield Place(local_params(params, overlay), str(params), runtime)
        return
    dataset, _, name = params.partition("/")
    transport.check_name(dataset, "--params DATASET")
    transport.check_name(name, "--params OVERLAY")
    transport.check_relpath(root, "--remote-dir")
    with transport.connect(target) as conn, tempfile.TemporaryDirectory() as tmp:
        data = call_agent(
            conn, "pack", {"root": root, "dataset": dataset, "overlay": name}, raw=True
        )
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(tmp, filter="data")
        yield Place(read_deployed(tmp), params, runtime, conn, root, target.name, log)


# ---------------------------------------------------------------------------------------------
# infer


def prepare_files(params: ParamsFolder, paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    """Image files prepared as the network was trained (bnntool.preparation, the one function
    training and verify use): as the params folder's manifest says, else as the board's
    classifier does (CNV: ``image_to_cifar``, spec 6.4, the picture decoded first as the
    notebooks show it; LFC: greyscale, scaled to the input size). LFC idx3 files as they are."""
    from PIL import Image

    from bnntool.data.idx import read_idx_images
    from bnntool.preparation import prepare_picture
    from bnntool.sim.inputs import HostInput
    from bnntool.verify import preparation_of

    spec = params.spec
    shape = HostInput(spec, params.encoding).image_shape
    preparation = preparation_of(params)
    images, names = [], []
    for path in paths:
        if not path.is_file():
            raise UserError(f"image {path} does not exist")
        if spec.network == "lfc" and "idx3" in path.name:
            for i, image in enumerate(read_idx_images(path)):
                images.append(image)
                names.append(f"{path}[{i}]")
            continue
        try:
            with Image.open(path) as picture:
                picture.load()
                images.append(prepare_picture(picture, shape, preparation))
        except UserError:
            raise
        except Exception as e:  # Pillow: OSError, SyntaxError, ValueError, DecompressionBomb...
            raise UserError(f"cannot read image {path}: {e}") from None
        names.append(str(path))
    return np.stack(images), names


def infer(p: Place, paths: list[Path]) -> dict[str, Any]:
    """Classify image files one by one as the board's single-image call does."""
    images, names = prepare_files(p.params, paths)
    started = time.perf_counter()
    b = p.run(images)
    wall = time.perf_counter() - started
    rows = []
    for i, name in enumerate(names):
        c = int(b.single[i])
        score = int(b.outputs[i, c]) if p.params.spec.network == "cnv" else None
        rows.append(
            {
                "image": name,
                "class": c,
                "name": p.params.classes[c] if c < len(p.params.classes) else str(c),
                "score": score,
                "scores": b.outputs[i, : len(p.params.classes)].tolist(),
            }
        )
    return {
        "host": p.host,
        "params": p.name,
        "runtime": b.runtime,
        "note": b.note,
        "bitstream": b.bitstream,
        "setup": p.setup,
        "images": rows,
        "seconds": b.seconds,
        "usec_per_image": 1e6 * b.seconds / max(len(names), 1),
        "wall_seconds": wall,
    }


# ---------------------------------------------------------------------------------------------
# evaluate


def evaluate(
    p: Place,
    dataset: str,
    *,
    split: str = "test",
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send a dataset split once, run it where ``p`` says, and compare with verify's model."""
    from bnntool.sim.model import OverlayModel
    from bnntool.verify import images_for

    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give at least 1 image")
    model = OverlayModel(p.params)
    manifest = f"{p.host}:{p.name}/manifest.json" if p.host else None
    data = images_for(p.params, model.host, dataset, split, data_dir, log, manifest)
    if limit is not None:
        data = data.head(limit)
    classes = len(p.params.classes)
    if len(data.classes) > classes:
        raise UserError(
            f"dataset {data.name} has {len(data.classes)} classes but {p.name} has {classes}; "
            "is this the folder of another dataset?"
        )
    model.host.check(data.images, f"{data.name} images")
    if log:
        where = p.host or "this machine"
        log(f"{len(data)} {data.name} images to {where} ({p.name}, runtime {p.runtime})")
    started = time.perf_counter()
    b = p.run(data.images)
    wall = time.perf_counter() - started
    predicted, labels = b.batch, data.labels
    reference, _ = model.run(data.images)
    ref_pred = classes_of(model.network, reference, classes, BATCH)
    per_class = []
    for c in range(len(data.classes)):
        mask = labels == c
        per_class.append(
            {
                "class": c,
                "name": p.params.classes[c],
                "images": int(mask.sum()),
                "accuracy": float((predicted[mask] == c).mean() * 100) if mask.any() else None,
            }
        )
    correct = int((predicted == labels).sum())
    ref_correct = int((ref_pred == labels).sum())
    return {
        "host": p.host,
        "params": p.name,
        "overlay": p.params.spec.name,
        "dataset": data.name,
        "split": split,
        "folder_split": data.split_record,
        "skipped": list(data.skipped),
        "runtime": b.runtime,
        "note": b.note,
        "bitstream": b.bitstream,
        "setup": p.setup,
        "images": len(data),
        "correct": correct,
        "accuracy": 100.0 * correct / len(data),
        "per_class": per_class,
        "images_per_second": len(data) / b.seconds if b.seconds > 0 else None,
        "board_seconds": b.seconds,
        "wall_seconds": wall,
        "verify": {
            "accuracy": 100.0 * ref_correct / len(data),
            "correct": ref_correct,
            "agreement": float((ref_pred == predicted).mean() * 100),
            "outputs_identical": bool(np.array_equal(reference, b.outputs)),
        },
    }


# ---------------------------------------------------------------------------------------------
# detect


def windows(width: int, height: int, sizes: tuple[int, ...] = (64, 96)) -> list[tuple[int, ...]]:
    """The road-sign notebook's tiles: squares of each size at a quarter-size stride, kept when
    right <= width and bottom < height (upstream's test, so 1330 tiles for 640x480)."""
    boxes = []
    for s in sizes:
        stride = s // 4
        for j in range(height // stride):
            for i in range(width // stride):
                box = (stride * i, stride * j, stride * i + s, stride * j + s)
                if box[2] <= width and box[3] < height:
                    boxes.append(box)
    return boxes


def detect(
    p: Place,
    image_path: Path,
    *,
    class_name: str = "Stop",
    min_score: int = 455,
    out: Path | None = None,
) -> dict[str, Any]:
    """Classify every window of a picture in one batch; windows of the class scoring above
    ``min_score`` are the detections, drawn in red into ``out`` (PNG)."""
    from PIL import Image, ImageDraw

    from bnntool.sim.images import board_image

    if p.params.spec.network != "cnv":
        raise UserError(f"detect needs a CNV params folder (road-signs/cnvW1A1), not {p.name}")
    names = list(p.params.classes)
    if class_name in names:
        index = names.index(class_name)
    elif class_name.isdigit() and int(class_name) < len(names):
        index = int(class_name)
    else:
        lowered = [n.lower() for n in names]
        if class_name.lower() not in lowered:
            raise UserError(
                f"--class {class_name!r} is not a class of {p.name}; e.g. {', '.join(names[:5])}"
            )
        index = lowered.index(class_name.lower())
    try:
        picture = Image.open(image_path)
        picture.load()
    except OSError as e:
        raise UserError(f"cannot read image {image_path}: {e}") from None
    picture = picture.convert("RGB")
    boxes = windows(*picture.size)
    tiles = np.stack([board_image(picture.crop(box)) for box in boxes])
    b = p.run(tiles)
    scores = b.outputs[:, index]
    hits = [
        {"box": list(box), "score": int(s), "top_class": int(b.batch[i])}
        for i, (box, s) in enumerate(zip(boxes, scores, strict=True))
        if s > min_score
    ]
    if out is not None:
        drawn = picture.copy()
        draw = ImageDraw.Draw(drawn)
        for hit in hits:
            draw.rectangle(hit["box"], outline="red", width=2)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.partial.png")
        try:
            drawn.save(tmp, format="PNG")
            tmp.replace(out)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot write --out {out}: {e.strerror or e}") from None
    return {
        "host": p.host,
        "params": p.name,
        "image": str(image_path),
        "runtime": b.runtime,
        "note": b.note,
        "bitstream": b.bitstream,
        "setup": p.setup,
        "class": index,
        "class_name": names[index],
        "min_score": min_score,
        "windows": len(boxes),
        "best_score": int(scores.max()) if len(scores) else None,
        "detections": hits,
        "seconds": b.seconds,
        "usec_per_window": 1e6 * b.seconds / max(len(boxes), 1),
        "out": str(out) if out else None,
    }
