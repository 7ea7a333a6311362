"""The board runtime over SSH (sw mode on the "board", i.e. this machine through sshd) and here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bnntool.board import bundle


def _ok(r) -> dict:
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def board_with_runtime(run_cli, start_board, upstream: Path):
    board = start_board("pynq")
    r = _ok(run_cli("board", "setup", "--host", "pynq", "--json"))
    assert r["path"] == str(board.root / "bnntool-board.pyz")
    assert r["python"] == sys.version.split()[0]
    return board


def test_runtime_bundle_needs_no_torch_or_click(tmp_path: Path) -> None:
    names = bundle.modules()
    assert "bnntool.board.runtime" in names and "bnntool.sim.model" in names
    assert not [n for n in names if n.startswith(("bnntool.train", "bnntool.cli", "bnntool.data"))]
    pyz = tmp_path / "b.pyz"
    pyz.write_bytes(bundle.build())
    assert bundle.build() == pyz.read_bytes()  # reproducible
    # Run it with torch, click, paramiko and PIL made unimportable, outside the checkout.
    repo = str(Path(bundle.PACKAGE).parent)
    blocker = (
        "import sys, runpy\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'click', 'paramiko', 'PIL', 'matplotlib'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path = [p for p in sys.path if p not in ('', '.', {repo!r})]\n"
        f"sys.argv = ['{pyz}', 'version']\n"
        "try:\n"
        f"    runpy.run_path('{pyz}', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert sys.modules['bnntool'].__file__.startswith(sys.argv[0]), 'not from the pyz'\n"
        "    raise\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["bnntool"]


def test_evaluate_lfc_mnist_over_ssh(
    run_cli, board_with_runtime, upstream: Path, mnist_dir: Path, tmp_path: Path
) -> None:
    source = upstream / "params" / "mnist" / "lfcW1A1"
    assert run_cli("deploy", source, "--host", "pynq").exit_code == 0
    r = _ok(
        run_cli(
            "evaluate", "--host", "pynq", "--params", "mnist/lfcW1A1", "--dataset", "mnist",
            "--data-dir", mnist_dir, "--json",
        )
    )  # fmt: skip
    assert r["images"] == 10000 and r["correct"] == 9840
    assert f"{r['accuracy']:.2f}" == "98.40"
    assert r["runtime"] == "sw" and "software model" in r["note"]  # no PYNQ here
    assert r["verify"]["accuracy"] == r["accuracy"] and r["verify"]["agreement"] == 100.0
    assert r["verify"]["outputs_identical"]
    assert len(r["per_class"]) == 10 and r["images_per_second"] > 0


def test_infer_and_detect_over_ssh(
    run_cli, board_with_runtime, upstream: Path, tmp_path: Path
) -> None:
    pictures = upstream / "notebooks" / "pictures"
    for params in ("cifar10/cnvW1A1", "road-signs/cnvW1A1"):
        assert run_cli("deploy", upstream / "params" / params, "--host", "pynq").exit_code == 0
    r = _ok(
        run_cli(
            "infer",
            pictures / "deer.jpg",
            "--host",
            "pynq",
            "--params",
            "cifar10/cnvW1A1",
            "--json",
        )
    )
    deer = r["images"][0]
    assert (deer["class"], deer["name"], deer["score"]) == (4, "Deer", 410)
    assert deer["scores"] == [234, 231, 265, 248, 410, 257, 224, 262, 226, 233]  # spec 3.5
    out = tmp_path / "stop.png"
    r = _ok(
        run_cli(
            "detect", pictures / "street_with_stop.JPG", "--host", "pynq",
            "--params", "road-signs/cnvW1A1", "--out", out, "--json",
        )
    )  # fmt: skip
    assert r["windows"] == 1330 and r["class_name"] == "Stop"
    assert [d["box"] for d in r["detections"]] == [[288, 144, 384, 240]]  # around the sign
    assert Image.open(out).size == (640, 480)
    r = run_cli("detect", pictures / "street_with_stop.JPG", "--host", "pynq",
                "--params", "road-signs/cnvW1A1", "--class", "Unicorn")  # fmt: skip
    assert r.exit_code == 2 and "is not a class of" in r.stderr


def test_missing_params_and_runtime_are_one_line(run_cli, start_board) -> None:
    start_board("pynq")
    r = run_cli("infer", "x.jpg", "--host", "pynq", "--params", "mnist/lfcW1A1")
    assert r.exit_code == 2 and "run bnntool deploy first" in r.stderr
    r = run_cli("evaluate", "--host", "pynq", "--params", "../etc", "--dataset", "mnist")
    assert r.exit_code == 2 and "not a valid name" in r.stderr


def test_local_sw_runtime(run_cli, upstream: Path, tmp_path: Path) -> None:
    pictures = upstream / "notebooks" / "pictures"
    r = _ok(
        run_cli(
            "infer", pictures / "road_signs" / "stop.jpg", "--params",
            upstream / "params" / "road-signs" / "cnvW1A1", "--runtime", "sw", "--json",
        )
    )  # fmt: skip
    assert r["images"][0]["class"] == 14 and r["host"] is None  # spec 6.6: stop.jpg -> 14
    r = run_cli(
        "infer", tmp_path / "none.png", "--params", upstream / "params" / "mnist" / "lfcW1A1",
        "--runtime", "sw",
    )  # fmt: skip
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_local_evaluate_matches_verify(run_cli, upstream: Path, mnist_dir: Path) -> None:
    r = _ok(
        run_cli(
            "evaluate", "--params", upstream / "params" / "mnist" / "lfcW1A2", "--dataset",
            "mnist", "--data-dir", mnist_dir, "--runtime", "sw", "--json",
        )
    )  # fmt: skip
    assert r["correct"] == 9849 and r["verify"]["agreement"] == 100.0  # spec 7: 98.49 %
