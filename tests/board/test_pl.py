"""The accelerator driver (spec 4) against a register-level model of BlackBoxJam's control
interface: every weight and threshold word must land at its layer, memory and index, and
inference through the registers and buffers must give the bit-exact model's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnntool.board import pl
from bnntool.convert.params import expected_files, read_params
from bnntool.sim.model import OverlayModel


class Buffer(np.ndarray):
    """A pynq.allocate stand-in: a uint64 array with a physical address."""

    physical_address: int


def allocate(words: int, address: int) -> Buffer:
    buf = np.zeros(words, dtype=np.uint64).view(Buffer)
    buf.physical_address = address
    return buf


class BlackBoxJamModel:
    """The AXI-Lite slave of spec 4.1: memsets into per-(layer, PE) memories, and inference on
    numReps images between the two buffer addresses, computed by the overlay model from the
    memories' contents as they were loaded."""

    def __init__(self, spec, folder: Path, tmp: Path, buffers: list[Buffer]) -> None:
        self.spec, self.classes, self.tmp = spec, folder / "classes.txt", tmp
        self.regs: dict[int, int] = {}
        self.mem: dict[tuple[int, int, int, int], int] = {}
        self.buffers = {b.physical_address: b for b in buffers}
        self.done = False
        self.calls = 0

    def read(self, offset: int) -> int:
        if offset == pl.CTRL:
            value = pl.AP_DONE if self.done else 0
            self.done = False  # ap_done clears on read
            return value | 0x4
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        assert 0 <= value < 2**32, (hex(offset), value)
        self.regs[offset] = value
        if offset == pl.CTRL and value & pl.AP_START:
            self.calls += 1
            self._init() if self.regs.get(pl.DO_INIT, 0) & 1 else self._compute()
            self.done = True

    def _init(self) -> None:
        r = self.regs
        layer, mem, ind, thresh = (r[pl.TARGET_LAYER], r[pl.TARGET_MEM], r[pl.TARGET_IND],
                                   r[pl.TARGET_THRESH])  # fmt: skip
        spec = self.spec.layers[layer // 2]
        assert mem < spec.pe
        if layer % 2 == 0:
            assert ind < spec.wmem and thresh == 0
        else:
            assert spec.has_thresholds and ind < spec.tmem and thresh < spec.steps
        self.mem[(layer, mem, ind, thresh)] = r[pl.VAL_LO] | r[pl.VAL_HI] << 32

    def _folder(self) -> Path:
        """The memories written back as a params folder (what the overlay now holds)."""
        folder = self.tmp / f"loaded-{self.calls}"
        folder.mkdir()
        for layer in self.spec.layers:
            for pe in range(layer.pe):
                words = [self.mem[(2 * layer.index, pe, a, 0)] for a in range(layer.wmem)]
                np.array(words, "<u8").tofile(folder / f"{layer.index}-{pe}-weights.bin")
                if layer.has_thresholds:
                    t = [self.mem[(2 * layer.index + 1, pe, nf, i)]
                         for nf in range(layer.tmem) for i in range(layer.steps)]  # fmt: skip
                    np.array(t, "<u8").tofile(folder / f"{layer.index}-{pe}-thres.bin")
        (folder / "classes.txt").write_bytes(self.classes.read_bytes())
        return folder

    def _compute(self) -> None:
        r, spec = self.regs, self.spec
        n = r[pl.NUM_REPS]
        src = self.buffers[r[pl.IN_LO] | r[pl.IN_HI] << 32]
        dst = self.buffers[r[pl.OUT_LO] | r[pl.OUT_HI] << 32]
        model = OverlayModel(read_params(self._folder(), spec))
        raw = np.ascontiguousarray(src[: n * spec.input_words]).view(np.uint8).reshape(n, -1)
        if spec.network == "lfc":
            x = np.unpackbits(raw, axis=1, bitorder="little")[:, : spec.layers[0].mw]
        else:
            x = raw[:, : np.prod(spec.image_shape)].view(np.int8).reshape(n, *spec.image_shape)
        out, _ = model._forward(x.astype(np.float32), False)
        if spec.output_bits == 1:
            packed = np.packbits(out.astype(np.uint8), axis=1, bitorder="little")
        else:
            packed = out.astype("<i2").view(np.uint8)
        dst[: n * spec.output_words] = packed.reshape(-1).view("<u8")


def _check(folder: Path, overlay: str, images: np.ndarray, tmp: Path) -> None:
    params = read_params(folder, overlay)
    spec = params.spec
    in_buf = allocate(spec.input_words * 64, 0x1_2000_0000)  # above 4 GiB: both halves used
    out_buf = allocate(spec.output_words * 64, 0x3000_0000)
    regs = BlackBoxJamModel(spec, folder, tmp, [in_buf, out_buf])
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


def test_lfc_driver(upstream: Path, mnist_dir: Path, tmp_path: Path) -> None:
    from bnntool.data import load_dataset

    images = load_dataset("mnist", "test", mnist_dir).images[:150]
    _check(upstream / "params" / "mnist" / "lfcW1A2", "lfcW1A2", images, tmp_path)


@pytest.mark.parametrize("overlay", ["cnvW1A1", "cnvW2A2"])
def test_cnv_driver(upstream: Path, tmp_path: Path, overlay: str) -> None:
    images = np.random.default_rng(1).integers(0, 256, (70, 32, 32, 3), dtype=np.uint8)
    _check(upstream / "params" / "cifar10" / overlay, overlay, images, tmp_path)


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
