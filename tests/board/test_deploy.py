"""bnntool deploy and board setup/info against a real sshd on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bnntool.artifacts import sha256_file
from bnntool.board import deploy as deploy_module


def _copy_lfc(upstream: Path, dest: Path) -> Path:
    folder = dest / "mnist" / "lfcW1A1"
    shutil.copytree(upstream / "params" / "mnist" / "lfcW1A1", folder)
    return folder


def _one_error(result) -> bool:
    """Exactly one error line, the last one, and no traceback."""
    lines = result.stderr.splitlines()
    errors = [x for x in lines if x.startswith("bnntool: error: ")]
    return len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in result.stderr


def _json(result) -> object:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_deploy_then_unchanged(run_cli, start_board, upstream: Path) -> None:
    board = start_board("pynq")
    source = upstream / "params" / "mnist" / "lfcW1A1"
    rows = _json(run_cli("deploy", source, "--host", "pynq", "--json"))
    assert [r["status"] for r in rows] == ["deployed"]
    there = board.params("mnist", "lfcW1A1")
    assert rows[0]["path"] == str(there)
    for f in source.iterdir():
        assert sha256_file(there / f.name) == sha256_file(f)
    record = json.loads((there / ".bnntool-deploy.json").read_text())
    assert record["overlay"] == "lfcW1A1" and record["dataset"] == "mnist"
    assert set(record["files"]) == {f.name for f in source.iterdir()}
    assert not [p for p in there.parent.iterdir() if p.name.startswith(".")]  # no leftovers

    again = _json(run_cli("deploy", source, "--host", "pynq", "--json"))
    assert again[0]["status"] == "unchanged" and again[0]["bytes_sent"] == 0
    (there / "classes.txt").write_text("changed on the board")  # a board copy that differs
    third = _json(run_cli("deploy", source, "--host", "pynq", "--json"))
    assert third[0]["status"] == "deployed"
    assert (there / "classes.txt").read_bytes() == (source / "classes.txt").read_bytes()


def test_deploy_refuses_a_folder_that_does_not_match_its_manifest(
    run_cli, start_board, tmp_path: Path
) -> None:
    start_board("pynq")
    folder = tmp_path / "p"
    folder.mkdir()
    from bnntool.overlay import load_overlay

    spec = load_overlay("lfcW1A1")
    from bnntool.convert.params import expected_files

    for name, size in expected_files(spec).items():
        (folder / name).write_bytes(bytes(size))
    (folder / "classes.txt").write_text("\n".join("0123456789"))
    from bnntool.artifacts import write_manifest

    write_manifest(folder, {"overlay": "lfcW1A1", "overlay_spec": spec.to_json()})
    (folder / "0-0-weights.bin").write_bytes(b"\1" * 8 + bytes(spec.layers[0].wmem * 8 - 8))
    r = run_cli("deploy", folder, "--host", "pynq", "--as", "mnist")
    assert r.exit_code == 2
    assert "0-0-weights.bin does not match the sha256" in r.stderr
    assert _one_error(r) and "Traceback" not in r.stderr


def test_board_checks_sha256_and_keeps_the_old_version(tmp_path: Path, upstream: Path) -> None:
    """The board-side check: a stream whose file differs from its record changes nothing."""
    import io
    import sys

    from bnntool.board import agent

    b = deploy_module.bundle(upstream / "params" / "mnist" / "lfcW1A1")
    good = deploy_module.tar_stream(b)
    root = tmp_path / "root"
    args = {"root": str(root), "dataset": "mnist", "overlay": "lfcW1A1", "bnn": False}

    def receive(data: bytes) -> object:
        old = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(data))
        try:
            return agent.receive(args)
        finally:
            sys.stdin = old

    receive(good)
    dest = root / "params" / "mnist" / "lfcW1A1"
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    tampered = deploy_module.Bundle(
        b.dataset, b.overlay, b.spec, b.files, b.hashes,
        {**b.record, "files": {**b.hashes, "0-0-weights.bin": "0" * 64}},
    )  # fmt: skip
    with pytest.raises(agent.Failure, match="sha256 check failed on the board"):
        receive(deploy_module.tar_stream(tampered))
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    with pytest.raises(agent.Failure, match="cut short"):
        receive(good[: len(good) // 2])
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["lfcW1A1"]


def test_layout_bnn_pynq(run_cli, start_board, upstream: Path, tmp_path: Path) -> None:
    # A stand-in for an installed BNN-PYNQ: the package that the board's python finds.
    pylib = tmp_path / "pylib"
    (pylib / "bnn" / "params" / "cifar10" / "cnvW1A1").mkdir(parents=True)
    (pylib / "bnn" / "__init__.py").write_text("raise RuntimeError('needs BOARD and xlnk')\n")
    board = start_board("pynq", pythonpath=pylib)
    source = upstream / "params" / "mnist" / "lfcW1A1"
    rows = _json(run_cli("deploy", source, "--host", "pynq", "--layout", "bnn-pynq", "--json"))
    bnn_dir = pylib / "bnn" / "params" / "mnist" / "lfcW1A1"
    assert rows[0]["status"] == "deployed" and rows[0]["bnn_path"] == str(bnn_dir)
    assert (bnn_dir / "classes.txt").read_bytes() == (source / "classes.txt").read_bytes()
    assert board.params("mnist", "lfcW1A1").is_dir()
    # BNN-PYNQ's available_params(network): the params sub-folders that hold that network.
    params = pylib / "bnn" / "params"
    assert sorted(d.name for d in params.iterdir() if (d / "lfcW1A1").exists()) == ["mnist"]
    again = _json(run_cli("deploy", source, "--host", "pynq", "--layout", "bnn-pynq", "--json"))
    assert again[0]["status"] == "unchanged"
    info = _json(run_cli("board", "info", "--host", "pynq", "--json"))
    assert "mnist/lfcW1A1" in info["bnn"]["available"]
    assert [d["params"] for d in info["deployed"]] == ["mnist/lfcW1A1"]


def test_two_hosts_in_parallel(run_cli, start_board, upstream: Path) -> None:
    one, two = start_board("pynq1"), start_board("pynq2")
    source = upstream / "params" / "mnist" / "lfcW1A1"
    rows = _json(run_cli("deploy", source, "--host", "pynq1", "--host", "pynq2", "--json"))
    assert [(r["host"], r["status"]) for r in rows] == [
        ("pynq1", "deployed"),
        ("pynq2", "deployed"),
    ]
    for b in (one, two):
        assert (b.params("mnist", "lfcW1A1") / "classes.txt").is_file()
    # One board down: its row fails, the other's is still there, exit 2 with one line.
    two.process.terminate()
    two.process.wait()
    r = run_cli("deploy", source, "--host", "pynq1", "--host", "pynq2")
    assert r.exit_code == 2
    assert "pynq1" in r.stdout and "unchanged" in r.stdout
    assert "deploy failed on 1 of 2 hosts" in r.stderr and _one_error(r)


def test_connection_killed_mid_upload_keeps_previous(
    run_cli, start_board, upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = start_board("pynq")
    v1 = _copy_lfc(upstream, tmp_path / "v1")
    assert run_cli("deploy", v1, "--host", "pynq").exit_code == 0
    v2 = _copy_lfc(upstream, tmp_path / "v2")
    (v2 / "classes.txt").write_text("\n".join(f"digit {i}" for i in range(10)))
    there = board.params("mnist", "lfcW1A1")
    before = {p.name: p.read_bytes() for p in there.iterdir()}

    real_chunks = deploy_module.chunks

    def dropped(data: bytes):
        for i, chunk in enumerate(real_chunks(data)):
            if i == 3:
                board.kill_sessions()  # the network drops in the middle of the stream
            yield chunk

    monkeypatch.setattr(deploy_module, "chunks", dropped)
    r = run_cli("deploy", v2, "--host", "pynq")
    assert r.exit_code == 2, r.stdout
    assert "pynq:" in r.stderr and _one_error(r) and "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in there.iterdir()} == before
    monkeypatch.setattr(deploy_module, "chunks", real_chunks)
    rows = _json(run_cli("deploy", v2, "--host", "pynq", "--json"))
    assert rows[0]["status"] == "deployed"
    assert (there / "classes.txt").read_text().startswith("digit 0")
    assert sorted(p.name for p in there.parent.iterdir()) == ["lfcW1A1"]


SITECUSTOMIZE = """
import builtins, errno, io

_open = builtins.open
_written = [0]
LIMIT = 200_000


class _Full(io.BufferedWriter):
    def write(self, data):
        _written[0] += len(data)
        if _written[0] > LIMIT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def _limited(file, mode="r", *args, **kwargs):
    if "w" in mode and "b" in mode and ".incoming-" in str(file):
        return _Full(_open(file, "wb", buffering=0))
    return _open(file, mode, *args, **kwargs)


builtins.open = _limited
"""


def test_full_disk_is_one_line_and_keeps_old(
    run_cli, start_board, upstream: Path, tmp_path: Path
) -> None:
    """A board whose disk fills up during the upload (ENOSPC, simulated in the board's python)."""
    small = tmp_path / "small"
    small.mkdir()
    (small / "sitecustomize.py").write_text(SITECUSTOMIZE)
    board = start_board("pynq", pythonpath=small)
    there = board.params("mnist", "lfcW1A1")
    there.mkdir(parents=True)
    (there / "classes.txt").write_text("old version")
    r = run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq")
    assert r.exit_code == 2
    assert "pynq: no space left on the board's disk" in r.stderr
    assert _one_error(r) and "Traceback" not in r.stderr
    assert [p.name for p in there.iterdir()] == ["classes.txt"]
    assert (there / "classes.txt").read_text() == "old version"
    assert sorted(p.name for p in there.parent.iterdir()) == ["lfcW1A1"]


def test_bitstream_goes_with_the_params(run_cli, start_board, upstream: Path, tmp_path: Path):
    board = start_board("pynq")
    build = tmp_path / "build"
    build.mkdir()
    (build / "lfcW1A1.bit").write_bytes(b"\0bit" * 100)
    (build / "lfcW1A1.hwh").write_text("<hwh/>")
    source = upstream / "params" / "mnist" / "lfcW1A1"
    rows = _json(run_cli("deploy", source, "--host", "pynq", "--bitstream", build, "--json"))
    assert rows[0]["status"] == "deployed"
    bit = board.params("mnist", "lfcW1A1") / "bitstream" / "lfcW1A1.bit"
    assert bit.read_bytes() == b"\0bit" * 100
    info = _json(run_cli("board", "info", "--host", "pynq", "--json"))
    assert info["deployed"][0]["bitstream"] == ["bitstream/lfcW1A1.bit", "bitstream/lfcW1A1.hwh"]
    (tmp_path / "empty").mkdir()
    r = run_cli("deploy", source, "--host", "pynq", "--bitstream", tmp_path / "empty")
    assert r.exit_code == 2 and "holds no .bit file" in r.stderr


def test_bad_input_is_one_line(run_cli, start_board, upstream: Path, tmp_path: Path) -> None:
    start_board("pynq")
    cases = [
        (["deploy", tmp_path / "nope", "--host", "pynq"], "does not exist"),
        (["deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq", "--as", "../x"],
         "is not a valid name"),
        (["deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq",
          "--remote-dir", "/etc"], "relative path"),
        (["deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq",
          "--overlay", "cnvW1A1", "--as", "mnist"], "is missing or not"),
    ]  # fmt: skip
    for args, message in cases:
        r = run_cli(*args)
        assert r.exit_code == 2, (args, r.stdout)
        assert message in r.stderr and _one_error(r), r.stderr
