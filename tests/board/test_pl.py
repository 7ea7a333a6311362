"""The accelerator driver (spec 4) against the register-level model of BlackBoxJam
(simboard/blackboxjam.py), in-process: every weight and threshold word must land at its layer,
memory and index, and inference through the registers and buffers must give the bit-exact
model's outputs. test_pynq_package.py runs the same driver through the real pynq package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnntool.board import pl
from bnntool.convert.params import expected_files, read_params
from bnntool.sim.model import OverlayModel
from tests.board.simboard.blackboxjam import BlackBoxJam


class Buffer(np.ndarray):
    """A pynq.allocate stand-in: a uint64 array with a physical address."""

    physical_address: int


def allocate(words: int, address: int) -> Buffer:
    buf = np.zeros(words, dtype=np.uint64).view(Buffer)
    buf.physical_address = address
    return buf


class Buffers:
    """The buffers as the accelerator's AXI master sees them: bytes by physical address."""

    def __init__(self, buffers: list[Buffer]) -> None:
        self.buffers = buffers

    def _view(self, address: int, size: int) -> np.ndarray:
        for b in self.buffers:
            start = address - b.physical_address
            if start >= 0 and start + size <= b.nbytes:
                return b.view(np.uint8)[start : start + size]
        raise AssertionError(f"no buffer holds {size} bytes at {address:#x}")

    def read(self, address: int, size: int) -> np.ndarray:
        return self._view(address, size).copy()

    def write(self, address: int, data: np.ndarray) -> None:
        self._view(address, len(data))[:] = data


def _check(folder: Path, overlay: str, images: np.ndarray) -> None:
    params = read_params(folder, overlay)
    spec = params.spec
    in_buf = allocate(spec.input_words * 64, 0x1_2000_0000)  # above 4 GiB: both halves used
    out_buf = allocate(spec.output_words * 64, 0x3000_0000)
    regs = BlackBoxJam(spec, Buffers([in_buf, out_buf]))
    acc = pl.Accelerator(regs, spec, in_buf, out_buf)
    assert (regs.regs[pl.IN_LO], regs.regs[pl.IN_HI]) == (0x2000_0000, 1)
    written = acc.load(folder)
    # Every word of every file, at its (layer, memory, index, threshold), and nothing else.
    assert written == len(regs.mem) == sum(expected_files(spec).values()) // 8
    for layer in spec.layers:
        for pe in range(layer.pe):
            w = np.fromfile(folder / f"{layer.index}-{pe}-weights.bin", "<u8")
            got = [regs.mem[(2 * layer.index, pe, a, 0)] for a in range(layer.wmem)]
            assert got == w.tolist()
            if layer.has_thresholds:
                t = np.fromfile(folder / f"{layer.index}-{pe}-thres.bin", "<i8").view("<u8")
                got = [regs.mem[(2 * layer.index + 1, pe, nf, i)]
                       for nf in range(layer.tmem) for i in range(layer.steps)]  # fmt: skip
                assert got == t.tolist()
    assert regs.regs[pl.DO_INIT] == 0
    # Inference in batches of at most 64 images (the buffers' size here).
    outputs = acc.run(OverlayModel(params).host.prepare(images))
    expected, _ = OverlayModel(params).run(images)
    np.testing.assert_array_equal(outputs, expected)


def test_lfc_driver(upstream: Path, mnist_dir: Path) -> None:
    from bnntool.data import load_dataset

    images = load_dataset("mnist", "test", mnist_dir).images[:150]
    _check(upstream / "params" / "mnist" / "lfcW1A2", "lfcW1A2", images)


@pytest.mark.parametrize("overlay", ["cnvW1A1", "cnvW2A2"])
def test_cnv_driver(upstream: Path, overlay: str) -> None:
    images = np.random.default_rng(1).integers(0, 256, (70, 32, 32, 3), dtype=np.uint8)
    _check(upstream / "params" / "cifar10" / overlay, overlay, images)


def test_timeout_is_one_line(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Dead:
        def read(self, offset: int) -> int:
            return 0

        def write(self, offset: int, value: int) -> None:
            pass

    monkeypatch.setattr(pl, "TIMEOUT", 0.01)
    spec = read_params(upstream / "params" / "mnist" / "lfcW1A1", "lfcW1A1").spec
    acc = pl.Accelerator(Dead(), spec, allocate(64, 0x1000), allocate(8, 0x2000))
    with pytest.raises(pl.AcceleratorError, match="did not finish"):
        acc.memset(0, 0, 0, 0, 1)
