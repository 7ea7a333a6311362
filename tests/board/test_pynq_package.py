"""The board runtime's ``hw`` path through the real ``pynq`` package from PyPI, on a simulated
board (simboard/): over a real sshd, the "board's" Python is a virtual environment with pynq and
NumPy 1.26 as PYNQ images have them, and a ``pynq.Device`` that pynq's own device mechanism
registers. ``pynq.Overlay`` parses the real ``.hwh`` files, the runtime finds BlackBoxJam from
what pynq reports, writes every weight and threshold through ``pynq.MMIO`` and allocates its
buffers with ``pynq.allocate``; the register-level model of BlackBoxJam computes. The outputs
must equal those of ``bnntool verify``'s model for the same images.

- PYNQ 3.1 (Python 3.10, NumPy 1.26.4, pynq 3.1.2; the last image for Pynq-Z1/Z2): a Pynq-Z2
  set up with ``bnntool board setup`` (the real stock bitstreams, fetched from a mirror, checked
  on the board), all five stock overlays: 500 MNIST test images each for LFC, images cut from
  upstream's pictures (and deer.bin's record) for CNV.
- PYNQ 4.0 (Python 3.12, NumPy 1.26.4, pynq 4.0.0): an AUP-ZU3, which has no stock bitstreams:
  all five overlays as custom bitstreams deployed with ``--bitstream``. No Vivado runs here, so
  the "custom build" is BNN-PYNQ's Ultra96 ``.hwh`` (a real Zynq UltraScale+ BlackBoxJam design)
  beside a ``.bit`` made here with a valid header for the AUP-ZU3's part and no real payload.

The virtual environments are built once and kept in ``~/.cache/bnntool-tests`` (or
``$BNNTOOL_TEST_CACHE``); the interpreters come from PATH or pyenv. Missing, the tests fail
where ``BNNTOOL_REQUIRE_SHARED=1`` (CI), else they are skipped saying what is missing.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import pwd
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.convert.params import expected_files
from bnntool.overlay import load_overlay

SIMBOARD = Path(__file__).resolve().parent / "simboard"
LFC = ("lfcW1A1", "lfcW1A2")
CNV = ("cnvW1A1", "cnvW1A2", "cnvW2A2")
MNIST_IMAGES = 500


@dataclass(frozen=True)
class PynqImage:
    """What a PYNQ image's Python environment holds, as far as the runtime is concerned."""

    label: str
    python: str
    requirements: tuple[str, ...]


# pynq 3.1.2 from PyPI pulls pycparser 3.x, which no longer has the module pynq.lib imports
# (pycparser.plyparser); PYNQ 3.1 images have pycparser 2.x, and pynq 4.0.0 pins "<3" itself.
PYNQ_3_1 = PynqImage("pynq-3.1.2", "3.10", ("numpy==1.26.4", "pynq==3.1.2", "pycparser<3"))
PYNQ_4_0 = PynqImage("pynq-4.0.0", "3.12", ("numpy==1.26.4", "pynq==4.0.0"))


def _require(message: str) -> None:
    if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
        pytest.fail(message)
    pytest.skip(message)


def find_python(version: str) -> tuple[Path, str] | None:
    """A CPython ``version`` (e.g. "3.10") and its full version: from PATH, pyenv's versions or
    /usr(/local)/bin, the first that runs and is that version (pyenv's shims may not be)."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    candidates = [shutil.which(f"python{version}")]
    pyenv = os.environ.get("PYENV_ROOT", str(home / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))[::-1]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True, text=True,
        )  # fmt: skip
        full = probe.stdout.strip()
        if probe.returncode == 0 and full.startswith(version + "."):
            return Path(candidate), full
    return None


def cache_root() -> Path:
    explicit = os.environ.get("BNNTOOL_TEST_CACHE")
    if explicit:
        return Path(explicit)
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "bnntool-tests"


def pynq_python(image: PynqImage) -> Path:
    """The Python of a cached virtual environment with ``image``'s packages (built on first
    use: about half a minute and 80 MB from the package index)."""
    found = find_python(image.python)
    if found is None:
        _require(
            f"no Python {image.python} interpreter (looked on PATH, in ~/.pyenv/versions and "
            f"/usr/bin, /usr/local/bin): install one, e.g. pyenv install {image.python}"
        )
    assert found is not None
    python, full = found
    key = hashlib.sha256(json.dumps([full, image.requirements]).encode()).hexdigest()[:12]
    root = cache_root()
    venv = root / f"{image.label}-py{full}-{key}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)  # an interrupted build, if any
            subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
            pip = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                 "--disable-pip-version-check", *image.requirements],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            if pip.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = " ".join(pip.stderr.split()[-40:])
                _require(f"pip could not install {' '.join(image.requirements)}: {tail}")
            (venv / "complete").write_text(json.dumps(image.requirements))
    return venv / "bin" / "python"


def _ok(r) -> dict:
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_process(events: list[dict]) -> dict[int, dict[str, dict]]:
    out: dict[int, dict[str, dict]] = {}
    for e in events:
        out.setdefault(e["pid"], {}).setdefault(e["event"], e)
        if e["event"] == "allocate":
            out[e["pid"]].setdefault("allocations", {"list": []})["list"].append(
                (e["address"], e["bytes"])
            )
    return out


def _words(overlay: str) -> int:
    return sum(expected_files(load_overlay(overlay)).values()) // 8


@pytest.fixture(scope="module")
def mirror(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    (root / "bnn-pynq-bitstreams").mkdir()
    for path in (upstream / "bitstreams").glob("*/*"):
        (root / "bnn-pynq-bitstreams" / path.name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def cnv_records(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CIFAR-10-sized records made here: deer.bin's image and 32x32 cuts of upstream's pictures,
    as an image folder (PNG, lossless) with a train/ and a test/ split."""
    root = tmp_path_factory.mktemp("cnv-records")
    deer = np.frombuffer(
        (upstream / "tests" / "Test_image" / "deer.bin").read_bytes()[1:], np.uint8
    )
    images = [deer.reshape(3, 32, 32).transpose(1, 2, 0)]
    rng = np.random.default_rng(13)
    pictures = sorted((upstream / "notebooks" / "pictures").rglob("*.jp*g"))
    while len(images) < 64:
        picture = Image.open(pictures[len(images) % len(pictures)]).convert("RGB")
        side = int(rng.integers(32, min(picture.size) + 1))
        x = int(rng.integers(0, picture.size[0] - side + 1))
        y = int(rng.integers(0, picture.size[1] - side + 1))
        cut = picture.crop((x, y, x + side, y + side)).resize((32, 32), Image.Resampling.BILINEAR)
        images.append(np.asarray(cut))
    for split in ("train", "test"):
        for i, image in enumerate(images):
            folder = root / split / f"class{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


def _simulated_board(start_board, tmp_path: Path, python: Path, board: str, designs: dict) -> tuple:
    config = tmp_path / "simboard.json"
    log = tmp_path / "simboard-events.jsonl"
    config.write_text(json.dumps({"board": board, "log": str(log), "designs": designs}))
    handle = start_board(
        "pynq", python=python, pythonpath=SIMBOARD,
        env={"BOARD": board, "BNNTOOL_SIMBOARD": str(config)},
    )  # fmt: skip
    return handle, log


def _design(bit: Path, overlay: str) -> tuple[str, dict]:
    return hashlib.sha256(bit.read_bytes()).hexdigest(), {"spec": load_overlay(overlay).to_json()}


def _check_process(process: dict, bitstream: Path, overlay: str, clocks: list[float]) -> None:
    """What pynq did in one runtime process, as the simulated board saw it."""
    download = process["download"]
    assert download["bitstream"] == str(bitstream) and download["overlay"] == overlay
    assert download["clocks_mhz"] == pytest.approx(clocks, rel=1e-4)  # pynq set them (.hwh)
    # pynq.allocate: the runtime's two buffers (3 840 000 and 160 000 words), nothing else
    assert [size for _, size in process["allocations"]["list"]] == [3_840_000 * 8, 160_000 * 8]
    done = process["exit"]
    assert done["memsets"] == _words(overlay)  # every weight and threshold word, through MMIO
    assert done["mmio_writes"] >= 9 * done["memsets"] and done["flushes"] >= 1
    assert done["invalidates"] >= 1 and len(done["computes"]) == 1


def _evaluate_hw(run_cli, params: str, dataset: str | Path, data_dir: Path | None, **extra) -> dict:
    args = ["evaluate", "--host", "pynq", "--params", params, "--dataset", dataset, "--json",
            "--runtime", extra.get("runtime", "hw")]  # fmt: skip
    if data_dir is not None:
        args += ["--data-dir", data_dir]
    if "limit" in extra:
        args += ["--limit", str(extra["limit"])]
    return _ok(run_cli(*args))


def test_stock_overlays_through_pynq_3_1(
    run_cli, start_board, upstream: Path, mnist_dir: Path, mirror: Path, cnv_records: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    python = pynq_python(PYNQ_3_1)
    stock = upstream / "bitstreams" / "pynqZ1-Z2"
    designs = dict(_design(stock / f"{o}-pynqZ1-Z2.bit", o) for o in LFC + CNV)
    board, log = _simulated_board(start_board, tmp_path, python, "Pynq-Z2", designs)

    setup = _ok(
        run_cli("board", "setup", "--host", "pynq", "--mirror", mirror, "--data-dir",
                tmp_path / "D", "--json")
    )  # fmt: skip
    assert setup["python"].startswith("3.10.") and setup["numpy"] == "1.26.4"
    assert setup["pynq"] == "3.1.2" and setup["board"] == "Pynq-Z2"
    assert setup["stock"]["status"] == "installed" and setup["stock"]["files"] == 15
    on_board = board.root / "bitstreams" / "pynqZ1-Z2"
    info = _ok(run_cli("board", "info", "--host", "pynq", "--json"))
    assert (info["pynq"], info["numpy"], info["board"]) == ("3.1.2", "1.26.4", "Pynq-Z2")
    assert info["python"].startswith("3.10.")

    clocks = [100.0, 142.857, 200.0, 166.667]  # the stock designs' FCLK0-3 (divisors in .hwh)
    for overlay in LFC + CNV:
        folder = upstream / "params" / ("mnist" if overlay in LFC else "cifar10") / overlay
        assert run_cli("deploy", folder, "--host", "pynq").exit_code == 0
        params = f"{folder.parent.name}/{overlay}"
        if overlay in LFC:
            r = _evaluate_hw(run_cli, params, "mnist", mnist_dir, limit=MNIST_IMAGES)
            assert r["images"] == MNIST_IMAGES
        else:
            r = _evaluate_hw(run_cli, params, cnv_records, None)
            assert r["images"] == 64
        assert r["runtime"] == "hw", r["note"]
        assert r["bitstream"] == str(on_board / f"{overlay}-pynqZ1-Z2.bit")
        assert r["verify"]["outputs_identical"], overlay
        assert r["verify"]["agreement"] == 100.0 and r["accuracy"] == r["verify"]["accuracy"]
    processes = [p for p in _by_process(_events(log)).values() if "download" in p]
    assert [p["download"]["overlay"] for p in processes] == list(LFC + CNV)
    for process, overlay in zip(processes, LFC + CNV, strict=True):
        _check_process(process, on_board / f"{overlay}-pynqZ1-Z2.bit", overlay, clocks)
        assert process["download"]["part"] == "7z020clg400"
        assert process["download"]["base"] == 0x43C0_0000  # from the .hwh, as pynq reports it
    assert [p["exit"]["computes"] for p in processes] == [[500], [500], [64], [64], [64]]

    # deer.jpg on cifar10/cnvW1A1: the notebook's published scores (spec 3.5), from the PL
    deer = _ok(
        run_cli("infer", upstream / "notebooks" / "pictures" / "deer.jpg", "--host", "pynq",
                "--params", "cifar10/cnvW1A1", "--runtime", "hw", "--json")
    )["images"][0]  # fmt: skip
    assert deer["scores"] == [234, 231, 265, 248, 410, 257, 224, 262, 226, 233]
    # The software model under the same Python 3.10 and NumPy 1.26.4 gives the same outputs.
    r = _evaluate_hw(run_cli, "mnist/lfcW1A1", "mnist", mnist_dir, limit=MNIST_IMAGES, runtime="sw")
    assert r["runtime"] == "sw" and r["verify"]["outputs_identical"]


def _custom_bit(part: str, payload: bytes) -> bytes:
    """A bitstream file with the header Vivado writes (design, part, date, time, data length);
    the configuration data itself is not a real one (no Vivado here)."""
    head = struct.pack(">H", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">H", 1)
    fields = b""
    for key, text in ((b"a", "bnntool_custom;UserID=0XFFFFFFFF;Version=2025.2"), (b"b", part),
                      (b"c", "2026/11/30"), (b"d", "12:00:00")):  # fmt: skip
        data = text.encode() + b"\0"
        fields += key + struct.pack(">H", len(data)) + data
    return head + fields + b"e" + struct.pack(">I", len(payload)) + payload


def test_custom_bitstreams_through_pynq_4_0(
    run_cli, start_board, upstream: Path, mnist_dir: Path, cnv_records: Path, tmp_path: Path
) -> None:
    python = pynq_python(PYNQ_4_0)
    builds, designs = {}, {}
    for overlay in LFC + CNV:
        out = tmp_path / "build" / overlay / "bitstream"
        out.mkdir(parents=True)
        bit = out / f"{overlay}-aup-zu3.bit"
        bit.write_bytes(_custom_bit("zu3eg-sfvc784", overlay.encode() * 1024))
        for suffix in (".hwh", ".tcl"):
            source = upstream / "bitstreams" / "ultra96" / f"{overlay}-ultra96{suffix}"
            shutil.copyfile(source, bit.with_suffix(suffix))
        builds[overlay] = out
        key, design = _design(bit, overlay)
        designs[key] = design
    board, log = _simulated_board(start_board, tmp_path, python, "AUP-ZU3", designs)
    setup = run_cli("board", "setup", "--host", "pynq", "--json")
    r = _ok(setup)
    assert r["python"].startswith("3.12.") and (r["numpy"], r["pynq"]) == ("1.26.4", "4.0.0")
    assert r["board"] == "AUP-ZU3" and r["stock"]["status"] == "none"
    assert "AUP-ZU3 has no stock BNN-PYNQ bitstreams" in r["note"]

    # Without a custom bitstream: one line saying so.
    source = upstream / "params" / "mnist" / "lfcW1A1"
    assert run_cli("deploy", source, "--host", "pynq").exit_code == 0
    r = run_cli("evaluate", "--host", "pynq", "--params", "mnist/lfcW1A1", "--dataset", "mnist",
                "--data-dir", mnist_dir, "--limit", "5", "--runtime", "hw")  # fmt: skip
    errors = [x for x in r.stderr.splitlines() if x.startswith("bnntool: error: ")]
    assert r.exit_code == 2 and len(errors) == 1 and "Traceback" not in r.stderr
    assert "cannot use the accelerator: board AUP-ZU3 has no stock BNN-PYNQ bitstream" in errors[0]

    # the Ultra96 designs' pl_clk0-3 (.hwh: 99.999901, 24.999975, 299.999695, 374.999634 MHz)
    clocks = [100.0, 25.0, 300.0, 375.0]
    for overlay in LFC + CNV:
        folder = upstream / "params" / ("mnist" if overlay in LFC else "cifar10") / overlay
        deployed = run_cli("deploy", folder, "--host", "pynq", "--bitstream", builds[overlay])
        assert deployed.exit_code == 0, deployed.stderr
        params = f"{folder.parent.name}/{overlay}"
        if overlay in LFC:
            r = _evaluate_hw(run_cli, params, "mnist", mnist_dir, limit=MNIST_IMAGES)
        else:
            r = _evaluate_hw(run_cli, params, cnv_records, None)
        assert r["runtime"] == "hw", r["note"]
        bitstream = board.params(folder.parent.name, overlay) / "bitstream"
        assert r["bitstream"] == str(bitstream / f"{overlay}-aup-zu3.bit")
        assert r["verify"]["outputs_identical"], overlay
    processes = [p for p in _by_process(_events(log)).values() if "download" in p]
    assert [p["download"]["overlay"] for p in processes] == list(LFC + CNV)
    for process in processes:
        overlay = process["download"]["overlay"]
        folder = "mnist" if overlay in LFC else "cifar10"
        bitstream = board.params(folder, overlay) / "bitstream" / f"{overlay}-aup-zu3.bit"
        _check_process(process, bitstream, overlay, clocks)
        assert process["download"]["base"] == 0xA000_0000
        # buffers above 4 GiB: both address registers' halves in use
        assert all(address >= 1 << 32 for address, _ in process["allocations"]["list"])
    # The software model under Python 3.12 and NumPy 1.26.4 gives the same outputs.
    r = _evaluate_hw(run_cli, "mnist/lfcW1A1", "mnist", mnist_dir, limit=MNIST_IMAGES, runtime="sw")
    assert r["runtime"] == "sw" and r["verify"]["outputs_identical"]


def test_pynq_4_0_cannot_load_the_zynq7000_stock_overlays(tmp_path: Path, upstream: Path) -> None:
    """pynq 4.0.0 (which dropped the Pynq-Z1/Z2) reads no PL clock frequency from the stock
    Zynq-7000 .hwh and fails in its own clock code: the reason docs/board.md sends Pynq-Z1/Z2
    users to PYNQ 3.1."""
    python = pynq_python(PYNQ_4_0)
    stock = upstream / "bitstreams" / "pynqZ1-Z2"
    key, design = _design(stock / "lfcW1A1-pynqZ1-Z2.bit", "lfcW1A1")
    config = tmp_path / "simboard.json"
    config.write_text(json.dumps({"board": "Pynq-Z2", "log": str(tmp_path / "log"),
                                  "designs": {key: design}}))  # fmt: skip
    script = (
        "import sys, pynq\n"
        "try:\n"
        "    pynq.Overlay(sys.argv[1])\n"
        "except TypeError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    run = subprocess.run(
        [str(python), "-c", script, str(stock / "lfcW1A1-pynqZ1-Z2.bit")],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SIMBOARD),
             "BNNTOOL_SIMBOARD": str(config), "BOARD": "Pynq-Z2"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "TypeError unsupported operand type(s) for /: 'float' and 'NoneType'"
    )


def test_simulated_board_is_pynqs_device(tmp_path: Path, upstream: Path) -> None:
    """pynq finds the simulated board by probing, and refuses what a board would refuse: a
    bitstream for another part, a damaged one."""
    python = pynq_python(PYNQ_3_1)
    stock = upstream / "bitstreams" / "pynqZ1-Z2"
    key, design = _design(stock / "lfcW1A1-pynqZ1-Z2.bit", "lfcW1A1")
    config = tmp_path / "simboard.json"
    config.write_text(json.dumps({"board": "Pynq-Z2", "log": str(tmp_path / "log"),
                                  "designs": {key: design}}))  # fmt: skip
    (tmp_path / "zu.bit").write_bytes(_custom_bit("zu3eg-sfvc784", b"x" * 64))
    shutil.copyfile(stock / "lfcW1A1-pynqZ1-Z2.hwh", tmp_path / "zu.hwh")
    cut = (stock / "lfcW1A1-pynqZ1-Z2.bit").read_bytes()[:100_000]
    (tmp_path / "cut.bit").write_bytes(cut)
    shutil.copyfile(stock / "lfcW1A1-pynqZ1-Z2.hwh", tmp_path / "cut.hwh")
    script = (
        "import json, sys, pynq\n"
        "devices = pynq.Device.devices\n"
        "out = {'devices': [type(d).__name__ for d in devices],\n"
        "       'active': type(pynq.Device.active_device).__name__,\n"
        "       'mro': [c.__module__ + '.' + c.__name__ for c in type(devices[0]).__mro__]}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        pynq.Overlay(name)\n"
        "        out[name] = 'loaded'\n"
        "    except Exception as e:\n"
        "        out[name] = str(e)\n"
        "print(json.dumps(out))\n"
    )
    run = subprocess.run(
        [str(python), "-c", script, str(tmp_path / "zu.bit"), str(tmp_path / "cut.bit")],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SIMBOARD),
             "BNNTOOL_SIMBOARD": str(config), "BOARD": "Pynq-Z2"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["devices"] == ["SimulatedBoard"] and out["active"] == "SimulatedBoard"
    assert "pynq.pl_server.device.Device" in out["mro"]
    assert out[str(tmp_path / "zu.bit")].endswith("is for part zu3eg-sfvc784, not 7z020clg400")
    assert "Invalid length" in out[str(tmp_path / "cut.bit")]
    assert sys.version_info >= (3, 10)
