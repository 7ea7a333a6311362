"""`bnntool deploy`: a params folder (and a custom overlay's bitstream) onto one or more boards.

Per host, over one SSH connection: a probe (sha256 of what the board holds now; identical files
skip the upload), then the folder as one gzip tar stream on one exec channel into a temporary
folder on the board, every file's sha256 checked there against the record sent first in the
stream, and a rename swap that keeps the previous version until the new one is in place.
Several hosts deploy in parallel, one result row each.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bnntool import __version__
from bnntool.artifacts import MANIFEST, read_manifest, sha256_file
from bnntool.board import transport
from bnntool.board.agent import RECORD
from bnntool.board.remote import DEFAULT_ROOT, agent_command, check
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec, load_overlay, spec_from_dict, stock_names

LAYOUTS = ("bnntool", "bnn-pynq")
CHUNK = 1 << 16  # bytes per send: small enough that a broken connection is noticed early
BITSTREAM_SUFFIXES = (".bit", ".hwh", ".tcl")


@dataclass(frozen=True)
class Bundle:
    """What goes to the board: files by their name there, and the record that describes them."""

    dataset: str
    overlay: str
    spec: OverlaySpec
    files: dict[str, Path]  # name on the board -> local file
    hashes: dict[str, str]
    record: dict[str, Any]

    @property
    def params(self) -> str:
        return f"{self.dataset}/{self.overlay}"

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files.values())


@dataclass
class DeployRow:
    """One host's outcome."""

    host: str
    status: str  # "deployed", "unchanged" or "failed"
    params: str
    path: str | None = None
    bnn_path: str | None = None
    files: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    error: str | None = None


def bundle(
    params_dir: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    overlay: str | None = None,
    bitstream: str | os.PathLike[str] | None = None,
) -> Bundle:
    """Check a local params folder (sizes against its overlay, sha256 against its manifest) and
    describe what deploy sends."""
    folder = Path(params_dir)
    if not folder.is_dir():
        raise UserError(f"params folder {folder} does not exist; give the folder convert wrote")
    manifest = read_manifest(folder)
    spec = _spec(folder, manifest, overlay)
    name = spec.name
    transport.check_name(name, "overlay name")
    if dataset is None:
        if folder.resolve().name == name:
            dataset = folder.resolve().parent.name
        else:
            raise UserError(
                f"give --as DATASET for {folder}: the name the board lists it under "
                f"(<dataset>/{name}), e.g. --as fashion-mnist"
            )
    transport.check_name(dataset, "--as")

    from bnntool.convert.params import expected_files

    files: dict[str, Path] = {}
    for fname, size in expected_files(spec).items():
        path = folder / fname
        if not path.is_file() or path.stat().st_size != size:
            raise UserError(
                f"{path} is missing or not {size} bytes as overlay {name} needs; is {folder} a "
                "complete params folder of this overlay?"
            )
        files[fname] = path
    for extra in ("classes.txt", MANIFEST):
        if (folder / extra).is_file():
            files[extra] = folder / extra
    if "classes.txt" not in files:
        raise UserError(f"{folder} has no classes.txt; convert writes one")
    hashes = {n: sha256_file(p) for n, p in files.items()}
    for fname, digest in (manifest or {}).get("files", {}).items():
        if fname in hashes and hashes[fname] != digest:
            raise UserError(
                f"{folder / fname} does not match the sha256 in {folder / MANIFEST}; the folder "
                "changed after convert wrote it: convert again"
            )
    if bitstream is not None:
        for fname, path in _bitstream_files(Path(bitstream)).items():
            files[fname] = path
            hashes[fname] = sha256_file(path)
    classes = (folder / "classes.txt").read_text().splitlines()
    record = {
        "kind": "bnntool-deploy",
        "bnntool_version": __version__,
        "dataset": dataset,
        "overlay": name,
        "overlay_spec": spec.to_json(),
        "input_encoding": (manifest or {}).get("input_encoding"),
        "classes": len(classes),
        "source": {"host": socket.gethostname(), "path": str(folder.resolve())},
        "deployed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": hashes,
    }
    return Bundle(dataset, name, spec, files, hashes, record)


def _spec(folder: Path, manifest: dict[str, Any] | None, overlay: str | None) -> OverlaySpec:
    if overlay is not None:
        return load_overlay(overlay)
    if manifest and "overlay_spec" in manifest:
        return spec_from_dict(manifest["overlay_spec"], f"{folder / MANIFEST}")
    if folder.resolve().name in stock_names():  # BNN-PYNQ's own layout: params/<ds>/<overlay>
        return load_overlay(folder.resolve().name)
    raise UserError(f"{folder} has no manifest.json naming its overlay; give --overlay NAME|FILE")


def _bitstream_files(build_dir: Path) -> dict[str, Path]:
    """A custom overlay's .bit, .hwh and .tcl from a build folder, named bitstream/<file>."""
    if not build_dir.is_dir():
        raise UserError(f"--bitstream {build_dir} is not a folder; give bnntool build's output")
    found = {
        f"bitstream/{p.name}": p
        for p in sorted(build_dir.rglob("*"))
        if p.is_file() and p.suffix in BITSTREAM_SUFFIXES
    }
    if not any(n.endswith(".bit") for n in found):
        raise UserError(f"--bitstream {build_dir} holds no .bit file; run bnntool build first")
    for name in found:
        transport.check_name(name.split("/", 1)[1], "bitstream file")
    return found


def tar_stream(b: Bundle) -> bytes:
    """The record, then every file, as one gzip tar (fast compression: the words are dense)."""
    members = [(RECORD, (json.dumps(b.record, indent=1) + "\n").encode())]
    members += [(n, p.read_bytes()) for n, p in sorted(b.files.items())]
    return tar_members(members)


def tar_members(members: list[tuple[str, bytes]]) -> bytes:
    """Named byte strings as one gzip tar of files, mode 0644 (the board sets it again)."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = now
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


def deploy_one(
    target: transport.Target,
    b: Bundle,
    *,
    layout: str = "bnntool",
    root: str = DEFAULT_ROOT,
    stream: bytes | None = None,
    force: bool = False,
) -> DeployRow:
    """Deploy to one host; failures are the row's error (never raised)."""
    started = time.perf_counter()
    row = DeployRow(host=target.name, status="failed", params=b.params, files=len(b.files))
    args = {"root": root, "dataset": b.dataset, "overlay": b.overlay, "bnn": layout == "bnn-pynq"}
    try:
        with transport.connect(target) as conn:
            sent: list[bytes] = []

            def answer(line: bytes) -> Iterator[bytes]:
                try:
                    reply = json.loads(line.decode())
                    there = reply["probe"]
                except (ValueError, KeyError):
                    return  # sends nothing: the board fails, or its answer is unreadable below
                row.path = there["path"]
                if there["bnn"] is not None:
                    row.bnn_path = there["bnn"]["path"]
                if reply["send"]:
                    sent.append(stream if stream is not None else tar_stream(b))
                    yield from chunks(sent[0])

            header = json.dumps({"files": b.hashes, "force": force}).encode() + b"\n"
            status, out, err = conn.run(agent_command("deploy", args), header, reply=answer)
            check(conn, status, err, "deploy")
            try:
                result = json.loads(out.decode())
            except ValueError:
                raise transport.BoardError(
                    f"{target.name}: the board's answer to deploy was not readable"
                ) from None
            row.status = result["status"]
            if row.status == "deployed":
                row.path, row.bnn_path = result["path"], result["bnn"]
                row.bytes_sent = len(sent[0])
    except UserError as e:
        row.error = str(e)
    row.seconds = time.perf_counter() - started
    return row


def deploy(
    params_dir: str | os.PathLike[str],
    targets: list[transport.Target],
    *,
    dataset: str | None = None,
    overlay: str | None = None,
    bitstream: str | os.PathLike[str] | None = None,
    layout: str = "bnntool",
    root: str = DEFAULT_ROOT,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[DeployRow]:
    """Deploy a params folder to every target in parallel; one row per target, in order."""
    if layout not in LAYOUTS:
        raise UserError(f"--layout {layout}: use one of {', '.join(LAYOUTS)}")
    if not targets:
        raise UserError("give at least one --host")
    transport.check_relpath(root, "--remote-dir")
    b = bundle(params_dir, dataset=dataset, overlay=overlay, bitstream=bitstream)
    data = tar_stream(b)
    if log:
        log(f"{b.params}: {len(b.files)} files, {len(data):,} bytes compressed")
    with ThreadPoolExecutor(max_workers=min(len(targets), 16)) as pool:
        rows = list(
            pool.map(
                lambda t: deploy_one(t, b, layout=layout, root=root, stream=data, force=force),
                targets,
            )
        )
    return rows
