"""The generated HLS top level and test bench, compiled with g++ against the real finn-hlslib
headers and Xilinx's ap_types, and run as the C simulation on upstream's parameter folders.

Needs two header folders that bnntool does not ship (their code stays out of this repository):
``BNNTOOL_HLSLIB``, a finn-hlslib checkout (bnn-library.h and what it includes), and
``BNNTOOL_AP_TYPES``, Xilinx's Apache-2.0 ap_types headers (ap_int.h, hls_stream.h, ...), e.g.
``hls4ml/templates/vivado/ap_types`` of the hls4ml wheel on PyPI. Without them it is skipped.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bnntool.hw.boards import get_board
from bnntool.hw.sources import write_sources
from bnntool.overlay import load_overlay

_HLSLIB = os.environ.get("BNNTOOL_HLSLIB")
_AP_TYPES = os.environ.get("BNNTOOL_AP_TYPES")

pytestmark = [
    pytest.mark.skipif(
        not (_HLSLIB and _AP_TYPES),
        reason="BNNTOOL_HLSLIB (a finn-hlslib checkout) and BNNTOOL_AP_TYPES (Xilinx's ap_types "
        "headers, e.g. from the hls4ml wheel) are not both set, so the g++ C simulation of the "
        "generated top.cpp + tb.cpp is skipped",
    ),
    pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed"),
]

# Spec 3.5: the scores of deer.bin on upstream's CNV parameter folders (class 4).
DEER_SCORES = {
    "cnvW1A1": [228, 229, 251, 250, 412, 253, 230, 262, 222, 239],
    "cnvW1A2": [-26, -44, -32, -8, 264, 2, -12, -32, -46, -36],
    "cnvW2A2": [-22, -27, -16, -10, 239, 1, -9, -17, -15, -27],
}
MNIST_IMAGES = 3  # the first t10k images, each classified by the LFC overlays


def _headers() -> tuple[Path, Path]:
    hlslib, ap_types = Path(str(_HLSLIB)), Path(str(_AP_TYPES))
    if not (hlslib / "bnn-library.h").is_file():
        pytest.fail(f"BNNTOOL_HLSLIB={hlslib} has no bnn-library.h")
    if not (ap_types / "ap_int.h").is_file() or not (ap_types / "hls_stream.h").is_file():
        pytest.fail(f"BNNTOOL_AP_TYPES={ap_types} has no ap_int.h and hls_stream.h")
    return hlslib, ap_types


def _compile(name: str, tmp_path: Path) -> Path:
    """Generate the sources of overlay ``name`` and build its C simulation executable."""
    hlslib, ap_types = _headers()
    tree = write_sources(load_overlay(name), get_board("pynq-z2"), tmp_path / "b", hlslib, 1)
    exe = tmp_path / "csim"
    # the HLS script's cflags (-std=c++0x, finn-hlslib, the sources), plus Vivado's ap_types
    cmd = [
        "g++",
        "-std=c++0x",
        "-O1",
        "-Wall",
        "-Wno-unknown-pragmas",
        f"-I{hlslib}",
        f"-I{ap_types}",
        f"-I{tree.hls_dir}",
        str(tree.hls_dir / "top.cpp"),
        str(tree.hls_dir / "tb.cpp"),
        "-o",
        str(exe),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    # warnings in our generated files (not in the library headers) are bugs too
    ours = [
        line
        for line in done.stderr.splitlines()
        if "warning" in line and str(tree.hls_dir) in line.split(":")[0]
    ]
    assert not ours, "\n".join(ours)
    return exe


def _run(exe: Path, *args: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300)
    # hls::stream's model warns when a stream is read empty or left with data: a width or count
    # mismatch somewhere in the dataflow chain, even if the class still comes out right
    for symptom in ("read while empty", "leftover data"):
        assert symptom not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def _mnist_images(shared: Path, dest: Path) -> list[int]:
    """Write the first t10k images as an idx3 file; return their labels."""
    mnist = shared / "datasets" / "mnist"
    with gzip.open(mnist / "t10k-images-idx3-ubyte.gz", "rb") as f:
        header = bytearray(f.read(16))
        pixels = f.read(MNIST_IMAGES * 28 * 28)
    header[4:8] = MNIST_IMAGES.to_bytes(4, "big")
    dest.write_bytes(bytes(header) + pixels)
    with gzip.open(mnist / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        return list(f.read(8 + MNIST_IMAGES)[8:])


@pytest.mark.parametrize("name", ["lfcW1A1", "lfcW1A2"])
def test_lfc_csim_classifies_mnist(name: str, shared: Path, tmp_path: Path) -> None:
    exe = _compile(name, tmp_path)
    params = shared / "fixtures" / "upstream" / "params" / "mnist" / name
    # upstream's own C-simulation image: output word 0x8, class 3 (spec 3.5)
    three = shared / "fixtures" / "upstream" / "tests" / "Test_image" / "3.image-idx3-ubyte"
    done = _run(exe, params, three, 3)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "output word 0x0000000000000008" in done.stdout
    images = tmp_path / "t10k-idx3-ubyte"
    for index, label in enumerate(_mnist_images(shared, images)):
        done = _run(exe, params, images, label, index)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"class {label}, expected {label}: PASS" in done.stdout


@pytest.mark.parametrize("name", list(DEER_SCORES))
def test_cnv_csim_classifies_deer(name: str, shared: Path, tmp_path: Path) -> None:
    exe = _compile(name, tmp_path)
    fixtures = shared / "fixtures" / "upstream"
    deer = fixtures / "tests" / "Test_image" / "deer.bin"
    done = _run(exe, fixtures / "params" / "cifar10" / name, deer, 4)
    assert done.returncode == 0, done.stdout + done.stderr
    scores = [
        int(line.split(":")[1]) for line in done.stdout.splitlines() if line.startswith("score")
    ]
    assert scores == DEER_SCORES[name]
    assert "class 4, expected 4: PASS" in done.stdout
