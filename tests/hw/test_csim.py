"""The C simulation of both generations of generated HLS, through ``bnntool build --stage csim``
with g++: the generated top.cpp + tb.cpp compiled against the real finn-hlslib headers of each
generation (../shared/fixtures/finn-hlslib-8b7f5f5 and -cc8db47) and Xilinx's ap_types, then
classifying upstream's test images with upstream's parameter folders.

The ap_types headers are not in this repository (nor in ../shared): ``BNNTOOL_AP_TYPES`` names
them (CI unpacks ``hls4ml/templates/vivado/ap_types`` of the hls4ml 1.3.0 wheel, see .ci/run).
Without them, or without g++, these tests are skipped, except under
``BNNTOOL_REQUIRE_SHARED=1`` (CI), where that is a failure.

Each overlay is compiled once per generation (the build folder keeps the executable); the
further images of a test reuse it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

# generation -> (the release whose sources are simulated, the board, finn-hlslib fixture folder)
GENERATIONS = {
    "legacy": ("2019.2", "pynq-z2", "finn-hlslib-8b7f5f5"),
    "current": ("2024.2", "kv260", "finn-hlslib-cc8db47"),
}
# Spec 3.5: the scores of deer.bin on upstream's CNV parameter folders (class 4).
DEER_SCORES = {
    "cnvW1A1": [228, 229, 251, 250, 412, 253, 230, 262, 222, 239],
    "cnvW1A2": [-26, -44, -32, -8, 264, 2, -12, -32, -46, -36],
    "cnvW2A2": [-22, -27, -16, -10, 239, 1, -9, -17, -15, -27],
}
MNIST_IMAGES = 3  # the first t10k images, each classified by the LFC overlays


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build folders shared by the module's tests: one compile per overlay and generation."""
    return tmp_path_factory.mktemp("csim-builds")


def csim(run_cli, shared: Path, ap_types: Path, builds: Path, generation: str, name: str,
         params: Path, image: Path, expected: int, index: int = 0):  # fmt: skip
    release, board, hlslib = GENERATIONS[generation]
    return run_cli(
        "build", "--overlay", name, "--board", board, "--out", builds / f"{generation}-{name}",
        "--stage", "csim", "--vivado-version", release,
        "--hlslib", shared / "fixtures" / hlslib, "--ap-types", ap_types,
        "--csim-params", params, "--csim-image", image, "--csim-class", str(expected),
        "--csim-index", str(index), "--json",
    )  # fmt: skip


def _no_warnings_in_generated_files(builds: Path, generation: str, name: str) -> None:
    """Warnings in the generated top.cpp / tb.cpp (not in the library headers) are bugs too."""
    build = builds / f"{generation}-{name}"
    log = (build / "csim" / generation / "compile.log").read_text()
    ours = [
        line
        for line in log.splitlines()
        if "warning" in line and str(build / "src" / "hls") in line.split(":")[0]
    ]
    assert not ours, "\n".join(ours)


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


@pytest.mark.parametrize("generation", list(GENERATIONS))
@pytest.mark.parametrize("name", ["lfcW1A1", "lfcW1A2"])
def test_lfc_csim_classifies_mnist(
    run_cli, shared: Path, ap_types: Path, builds: Path, tmp_path: Path, generation, name
) -> None:
    upstream = shared / "fixtures" / "upstream"
    params = upstream / "params" / "mnist" / name
    # upstream's own C-simulation image: output word 0x8, class 3 (spec 3.5)
    three = upstream / "tests" / "Test_image" / "3.image-idx3-ubyte"
    done = csim(run_cli, shared, ap_types, builds, generation, name, params, three, 3)
    assert done.exit_code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["release"] == GENERATIONS[generation][0] and doc["generation"] == generation
    assert doc["csim"]["simulator"] == "g++" and doc["csim"]["passed"]
    assert doc["csim"]["output_word"] == "0x0000000000000008" and doc["csim"]["class"] == 3
    _no_warnings_in_generated_files(builds, generation, name)
    images = tmp_path / "t10k-idx3-ubyte"
    for index, label in enumerate(_mnist_images(shared, images)):
        done = csim(
            run_cli, shared, ap_types, builds, generation, name, params, images, label, index
        )
        assert done.exit_code == 0, done.stderr
        result = json.loads(done.stdout)["csim"]
        assert result["class"] == label and result["compile_seconds"] == 0  # compiled once


@pytest.mark.parametrize("generation", list(GENERATIONS))
@pytest.mark.parametrize("name", list(DEER_SCORES))
def test_cnv_csim_classifies_deer(
    run_cli, shared: Path, ap_types: Path, builds: Path, generation, name
) -> None:
    upstream = shared / "fixtures" / "upstream"
    params = upstream / "params" / "cifar10" / name
    deer = upstream / "tests" / "Test_image" / "deer.bin"
    done = csim(run_cli, shared, ap_types, builds, generation, name, params, deer, 4)
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)["csim"]
    assert result["scores"] == DEER_SCORES[name] and result["class"] == 4
    _no_warnings_in_generated_files(builds, generation, name)
    if name == "cnvW1A1":  # a class other than the expected one: exit 2 with the scores
        wrong = csim(run_cli, shared, ap_types, builds, generation, name, params, deer, 3)
        assert wrong.exit_code == 2 and wrong.stderr.count("bnntool: error") == 1
        error = wrong.stderr.splitlines()[-1]
        assert f"C simulation of cnvW1A1 (g++, Vivado {GENERATIONS[generation][0]} sources)" in (
            error
        )
        assert "class 4, expected 3; scores 0:228 1:229 2:251 3:250 4:412" in error
