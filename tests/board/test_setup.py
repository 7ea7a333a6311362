"""``board setup`` with BNN-PYNQ's stock bitstreams, the board's name, first use without a
runtime, and the modes of what bnntool writes on a board (real sshd on loopback; the "board's"
Python is this test run's, without pynq)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bnntool.artifacts import sha256_file
from bnntool.board import agent, bundle

PYNQ_FILES = 15  # .bit, .hwh, .tcl of five overlays


@pytest.fixture(scope="module")
def mirror(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror folder laid out bnn-pynq-bitstreams/<official file name> (links to the real
    files in the fixtures)."""
    root = tmp_path_factory.mktemp("mirror")
    (root / "bnn-pynq-bitstreams").mkdir()
    for path in (upstream / "bitstreams").glob("*/*"):
        (root / "bnn-pynq-bitstreams" / path.name).symlink_to(path)
    return root


def _ok(r) -> dict:
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _one_error(r, *needles: str) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnntool: error: "), r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_setup_installs_the_stock_bitstreams(
    run_cli, start_board, mirror: Path, upstream: Path, tmp_path: Path
) -> None:
    board = start_board("pynq", env={"BOARD": "Pynq-Z2"})
    args = ("board", "setup", "--host", "pynq", "--mirror", mirror, "--data-dir", tmp_path / "D")
    r = _ok(run_cli(*args, "--json"))
    there = board.root / "bitstreams" / "pynqZ1-Z2"
    assert (r["board"], r["board_from"]) == ("Pynq-Z2", "BOARD")
    assert r["stock"]["status"] == "installed" and r["stock"]["path"] == str(there)
    assert r["stock"]["files"] == PYNQ_FILES and r["stock"]["bytes_sent"] > 0
    for source in (upstream / "bitstreams" / "pynqZ1-Z2").iterdir():
        assert sha256_file(there / source.name) == sha256_file(source)
    assert sorted(p.name for p in there.iterdir()) == sorted(
        p.name for p in (upstream / "bitstreams" / "pynqZ1-Z2").iterdir()
    )
    assert not [p for p in there.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    record = json.loads((board.root / "bnntool-board.json").read_text())
    assert (record["board"], record["platform"], record["stock_bitstreams"]) == (
        "Pynq-Z2", "pynqZ1-Z2", True,
    )  # fmt: skip
    assert record["runtime_sha256"] == bundle.built()[1]
    assert (board.root / "bnntool-board.pyz.sha256").read_text().strip() == bundle.built()[1]

    again = run_cli(*args)  # the board holds the same files: nothing is sent
    assert again.exit_code == 0, again.stderr
    assert "stock bitstreams pynqZ1-Z2 unchanged (15 files, sha256 checked" in again.stdout
    (there / "lfcW1A1-pynqZ1-Z2.bit").write_bytes(b"damaged on the board")
    third = _ok(run_cli(*args, "--json"))
    assert third["stock"]["status"] == "installed"
    assert sha256_file(there / "lfcW1A1-pynqZ1-Z2.bit") == sha256_file(
        upstream / "bitstreams" / "pynqZ1-Z2" / "lfcW1A1-pynqZ1-Z2.bit"
    )

    info = _ok(run_cli("board", "info", "--host", "pynq", "--json"))
    assert (info["board"], info["board_from"], info["runtime_state"]) == (
        "Pynq-Z2", "BOARD", "current",
    )  # fmt: skip
    assert len(info["stock_bitstreams"]["pynqZ1-Z2"]) == PYNQ_FILES
    assert info["pynq"] is None and info["numpy"] and info["python"]
    text = run_cli("board", "info", "--host", "pynq").stdout
    assert "(Pynq-Z2 from BOARD)" in text and "pynq     not installed" in text
    assert "stock    pynqZ1-Z2: 15 files" in text and "(current)" in text


def test_board_option_and_a_corrupt_mirror(
    run_cli, start_board, mirror: Path, tmp_path: Path
) -> None:
    board = start_board("pynq")  # no BOARD on this one: --board says it
    bad = tmp_path / "bad-mirror"
    (bad / "bnn-pynq-bitstreams").mkdir(parents=True)
    for link in (mirror / "bnn-pynq-bitstreams").iterdir():
        (bad / "bnn-pynq-bitstreams" / link.name).write_bytes(link.read_bytes())
    damaged = bad / "bnn-pynq-bitstreams" / "cnvW1A1-pynqZ1-Z2.bit"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped
    damaged.write_bytes(bytes(data))
    args = ("board", "setup", "--host", "pynq", "--board", "pynq-z1", "--data-dir", tmp_path / "D")
    _one_error(run_cli(*args, "--mirror", bad), "checksum mismatch for bnn-pynq-bitstreams/")
    assert not board.root.exists()  # refused before anything was installed
    r = _ok(run_cli(*args, "--mirror", mirror, "--json"))
    assert (r["board"], r["board_from"], r["stock"]["status"]) == (
        "Pynq-Z1",
        "--board",
        "installed",
    )
    r = run_cli("board", "setup", "--host", "pynq", "--board", "../x")
    _one_error(r, "--board '../x' is not a valid name")


def test_a_board_without_stock_bitstreams(run_cli, start_board, upstream: Path) -> None:
    start_board("zu3", env={"BOARD": "AUP-ZU3"})
    r = run_cli("board", "setup", "--host", "zu3")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1] == (
        "zu3: AUP-ZU3 has no stock BNN-PYNQ bitstreams: --runtime hw runs a custom bitstream "
        "deployed with bnntool deploy --bitstream BUILD_DIR (from bnntool build)"
    )
    assert (
        run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "zu3").exit_code == 0
    )
    image = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    r = run_cli("infer", image, "--host", "zu3", "--params", "mnist/lfcW1A1", "--runtime", "hw")
    _one_error(
        r,
        "zu3: cannot use the accelerator: board AUP-ZU3 has no stock BNN-PYNQ bitstream",
        "build one with bnntool build and deploy it with bnntool deploy --bitstream BUILD_DIR",
    )
    r = _ok(run_cli("infer", image, "--host", "zu3", "--params", "mnist/lfcW1A1", "--json"))
    assert r["runtime"] == "sw" and "has no stock BNN-PYNQ bitstream" in r["note"]
    assert r["images"][0]["class"] == 3


def test_an_ultra96_whose_stock_bit_files_are_not_covered(
    run_cli, start_board, upstream: Path
) -> None:
    start_board("u96", env={"BOARD": "Ultra96V2"})
    r = _ok(run_cli("board", "setup", "--host", "u96", "--json"))
    assert (r["board"], r["stock"]["platform"], r["stock"]["status"]) == (
        "Ultra96V2", "ultra96", "not covered",
    )  # fmt: skip
    assert "bnntool's catalog does not cover BNN-PYNQ's ultra96 .bit files" in r["note"]
    assert (
        run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "u96").exit_code == 0
    )
    image = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    r = run_cli("infer", image, "--host", "u96", "--params", "mnist/lfcW1A1", "--runtime", "hw")
    _one_error(r, "no lfcW1A1-ultra96.bit on the board: bnntool's catalog does not cover")


def test_hw_without_pynq_is_one_line(run_cli, start_board, mirror: Path, upstream: Path) -> None:
    start_board("pynq", env={"BOARD": "Pynq-Z2", "BNNTOOL_MIRROR": "unused-on-the-board"})
    assert run_cli("board", "setup", "--host", "pynq", "--mirror", mirror).exit_code == 0
    assert (
        run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq").exit_code
        == 0
    )
    image = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    r = run_cli("infer", image, "--host", "pynq", "--params", "mnist/lfcW1A1", "--runtime", "hw")
    _one_error(r, "pynq: cannot use the accelerator: no pynq package for this Python")


def test_first_use_sets_the_runtime_up(
    run_cli, start_board, upstream: Path, mnist_dir: Path, mirror: Path,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    board = start_board("pynq", env={"BOARD": "Pynq-Z2"})
    monkeypatch.setenv("BNNTOOL_MIRROR", str(mirror))  # where first use fetches the bitstreams
    monkeypatch.setenv("BNNTOOL_DATA_DIR", str(tmp_path / "D"))
    assert (
        run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq").exit_code
        == 0
    )
    assert not (board.root / "bnntool-board.pyz").exists()
    evaluate = ("evaluate", "--host", "pynq", "--params", "mnist/lfcW1A1", "--dataset", "mnist",
                "--data-dir", mnist_dir, "--limit", "50", "--json")  # fmt: skip
    r = run_cli(*evaluate)
    assert r.exit_code == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("pynq: ")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pynq: no board runtime: set it up (bnntool board setup): ")
    assert f"stock bitstreams (pynqZ1-Z2) in {board.root / 'bitstreams' / 'pynqZ1-Z2'}" in lines[0]
    result = json.loads(r.stdout)
    assert result["images"] == 50 and result["verify"]["outputs_identical"]
    assert result["setup"]["stock"]["status"] == "installed"
    assert (board.root / "bnntool-board.pyz").read_bytes() == bundle.built()[0]

    r = run_cli(*evaluate)  # set up now: no line
    assert r.exit_code == 0 and not [x for x in r.stderr.splitlines() if x.startswith("pynq: ")]

    # Another bnntool's runtime (its sha256 differs) is replaced, again in one line.
    (board.root / "bnntool-board.pyz").write_bytes(b"#!/usr/bin/env python3\nprint('old')\n")
    (board.root / "bnntool-board.pyz.sha256").write_text("0" * 64 + "\n")
    image = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    r = run_cli("infer", image, "--host", "pynq", "--params", "mnist/lfcW1A1", "--runtime", "sw")
    assert r.exit_code == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("pynq: ")]
    assert len(lines) == 1 and "its runtime was another bnntool's: set it up" in lines[0]
    assert r.stdout.startswith(f"{image}[0]: 3 3")
    assert (board.root / "bnntool-board.pyz").read_bytes() == bundle.built()[0]


def test_first_use_without_reachable_bitstreams_keeps_the_software_model(
    run_cli, start_board, upstream: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    board = start_board("pynq", env={"BOARD": "Pynq-Z1"})
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv("BNNTOOL_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("BNNTOOL_DATA_DIR", str(tmp_path / "D"))
    assert (
        run_cli("deploy", upstream / "params" / "mnist" / "lfcW1A1", "--host", "pynq").exit_code
        == 0
    )
    image = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    r = run_cli("infer", image, "--host", "pynq", "--params", "mnist/lfcW1A1", "--json")
    assert r.exit_code == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("pynq: ")]
    assert len(lines) == 1 and "stock bitstreams not installed (mirror folder" in lines[0]
    result = json.loads(r.stdout)
    assert result["runtime"] == "sw" and "run bnntool board setup" in result["note"]
    assert (board.root / "bnntool-board.pyz").is_file()
    assert not (board.root / "bitstreams").exists()
    r = run_cli("infer", image, "--host", "pynq", "--params", "mnist/lfcW1A1", "--runtime", "hw")
    _one_error(r, "no stock bitstream lfcW1A1-pynqZ1-Z2.bit in", "run bnntool board setup")


def _modes(root: Path) -> set[tuple[str, str]]:
    return {
        ("dir" if p.is_dir() else "file", oct(stat.S_IMODE(p.stat().st_mode)))
        for p in [root, *root.rglob("*")]
        if p.name != ".lock"
    }


def test_what_bnntool_writes_on_the_board_is_readable_by_others(
    run_cli, start_board, upstream: Path, mirror: Path, tmp_path: Path
) -> None:
    board = start_board("pynq", env={"BOARD": "Pynq-Z2"}, umask=0o077)
    local = tmp_path / "mnist" / "lfcW1A1"
    local.mkdir(parents=True)
    for f in (upstream / "params" / "mnist" / "lfcW1A1").iterdir():
        (local / f.name).write_bytes(f.read_bytes())
        (local / f.name).chmod(0o600)
    local.chmod(0o700)
    assert run_cli("deploy", local, "--host", "pynq").exit_code == 0
    setup = run_cli("board", "setup", "--host", "pynq", "--mirror", mirror, "--data-dir", tmp_path)
    assert setup.exit_code == 0, setup.stderr
    assert _modes(board.root) == {("dir", "0o755"), ("file", "0o644")}
    assert oct(stat.S_IMODE(board.params("mnist", "lfcW1A1").stat().st_mode)) == "0o755"
    from bnntool.board.transport import connect, resolve

    with connect(resolve("pynq")) as conn:  # the sessions' umask really is 077
        assert conn.run("umask")[1].strip() == b"0077"


@pytest.mark.parametrize(
    ("files", "env", "expected"),
    [
        ({"tree": "Pynq-Z2\0"}, None, ("Pynq-Z2", "tree")),
        ({"xocl": "ZCU104\n"}, "Unknown", ("ZCU104", "xocl")),
        ({"profile": "source /x/activate\nexport BOARD=KV260\n"}, None, ("KV260", "profile")),
        ({"environment": 'PATH="/bin"\nBOARD="AUP-ZU3"\n'}, None, ("AUP-ZU3", "environment")),
        ({"profile": "export BOARD=$board\n"}, None, (None, None)),
        ({"tree": "Pynq-Z1\0"}, "KV260", ("KV260", "BOARD")),
    ],
)
def test_board_name_sources(
    files: dict[str, str], env: str | None, expected: tuple, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    paths = {
        "tree": tmp_path / "pynq_board",
        "xocl": tmp_path / "xocl.txt",
        "profile": tmp_path / "pynq_venv.sh",
        "environment": tmp_path / "environment",
    }
    for key, text in files.items():
        paths[key].write_text(text)
    monkeypatch.setattr(agent, "BOARD_FILES", tuple(str(p) for p in paths.values()))
    if env is None:
        monkeypatch.delenv("BOARD", raising=False)
    else:
        monkeypatch.setenv("BOARD", env)
    name, source = agent.board_name()
    want_name, want_key = expected
    assert name == want_name
    assert source == (want_key if want_key in (None, "BOARD") else str(paths[want_key]))


def test_runtime_gives_pynq_the_login_shell_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SSH command gets none of /etc/profile.d: the runtime reads XILINX_XRT and BOARD from
    PYNQ's scripts (read, not run) unless the environment has them."""
    from bnntool.board import runtime

    xrt = tmp_path / "xrt_setup.sh"
    xrt.write_text("export XILINX_XRT=/usr\n")
    venv = tmp_path / "pynq_venv.sh"
    venv.write_text("source /usr/local/share/pynq-venv/bin/activate\nexport BOARD=KV260\n")
    monkeypatch.setattr(runtime, "PROFILE_SCRIPTS", (str(xrt), str(venv)))
    monkeypatch.setenv("XILINX_XRT", "")  # empty counts as unset; restored after the test
    monkeypatch.setenv("BOARD", "Pynq-Z2")  # set already: kept
    runtime._pynq_environment()
    assert os.environ["XILINX_XRT"] == "/usr" and os.environ["BOARD"] == "Pynq-Z2"
    monkeypatch.delenv("BOARD")
    runtime._pynq_environment()
    assert os.environ["BOARD"] == "KV260"
