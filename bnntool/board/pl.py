"""Driver of a BNN-PYNQ accelerator in the programmable logic (spec 4), through its AXI-Lite
registers and two physically contiguous buffers.

It takes any register object with ``read(offset)`` and ``write(offset, value)`` (``pynq.MMIO``
on a board, a register-level model in tests) and buffers that are NumPy arrays with a physical
address (``pynq.allocate``). NumPy only: it runs on the board.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec

# AXI-Lite register map of the `control` slave (spec 4.1), offsets from the IP base.
CTRL = 0x00
IN_LO, IN_HI = 0x10, 0x14
OUT_LO, OUT_HI = 0x1C, 0x20
DO_INIT = 0x28
TARGET_LAYER = 0x30
TARGET_MEM = 0x38
TARGET_IND = 0x40
TARGET_THRESH = 0x48
VAL_LO, VAL_HI = 0x50, 0x54
NUM_REPS = 0x5C
AP_START = 0x1
AP_DONE = 0x2
BASE_ADDRESSES = {"pynq-z1": 0x43C00000, "pynq-z2": 0x43C00000, "ultra96": 0xA0000000}
TIMEOUT = 10.0  # seconds for one call of the accelerator


class Registers(Protocol):
    def read(self, offset: int) -> int: ...

    def write(self, offset: int, value: int) -> None: ...


class AcceleratorError(UserError):
    """The accelerator did not answer as the protocol says."""


def _address(buffer: Any) -> int:
    for name in ("device_address", "physical_address"):
        if hasattr(buffer, name):
            return int(getattr(buffer, name))
    raise TypeError("a buffer needs a physical_address (pynq.allocate)")


def _sync(buffer: Any, to_device: bool) -> None:
    for name in ("sync_to_device", "flush") if to_device else ("sync_from_device", "invalidate"):
        if hasattr(buffer, name):
            getattr(buffer, name)()
            return


class Accelerator:
    """One BlackBoxJam instance: weight and threshold loading (4.3), inference (4.4)."""

    overlay: Any = None  # the pynq.Overlay whose registers and buffers these are (kept alive)

    def __init__(self, regs: Registers, spec: OverlaySpec, in_buf: Any, out_buf: Any) -> None:
        self.regs = regs
        self.spec = spec
        self.in_buf = in_buf  # uint64 words
        self.out_buf = out_buf
        self.words_in = spec.input_words
        self.words_out = spec.output_words
        self.capacity = min(len(in_buf) // self.words_in, len(out_buf) // self.words_out)
        if self.capacity < 1:
            raise ValueError("buffers too small for one image")
        for offset, value in ((IN_LO, _address(in_buf)), (OUT_LO, _address(out_buf))):
            regs.write(offset, value & 0xFFFFFFFF)
            regs.write(offset + 4, value >> 32)
        regs.write(DO_INIT, 0)

    def _call(self) -> None:
        self.regs.write(CTRL, AP_START)
        deadline = time.monotonic() + TIMEOUT
        while not self.regs.read(CTRL) & AP_DONE:
            if time.monotonic() > deadline:
                raise AcceleratorError(
                    f"the accelerator did not finish within {TIMEOUT:.0f} s; is the right "
                    "bitstream loaded? (bnntool board info)"
                )

    def memset(self, layer: int, mem: int, ind: int, thresh: int, value: int) -> None:
        """Write one word into a weight or threshold memory (spec 4.3, one "memset")."""
        regs = self.regs
        regs.write(DO_INIT, 1)
        regs.write(TARGET_LAYER, layer)
        regs.write(TARGET_MEM, mem)
        regs.write(TARGET_IND, ind)
        regs.write(TARGET_THRESH, thresh)
        value &= (1 << 64) - 1
        regs.write(VAL_LO, value & 0xFFFFFFFF)
        regs.write(VAL_HI, value >> 32)
        self._call()
        regs.write(DO_INIT, 0)

    def load(self, folder: str | Path) -> int:
        """Load every layer's weights and thresholds from a params folder; words written."""
        folder = Path(folder)
        written = 0
        for layer in self.spec.layers:
            for pe in range(layer.pe):
                words = _words(folder / f"{layer.index}-{pe}-weights.bin", layer.wmem)
                for addr, word in enumerate(words):
                    self.memset(2 * layer.index, pe, addr, 0, int(word))
                written += len(words)
                if not layer.has_thresholds:
                    continue
                k = layer.steps
                thresholds = _words(folder / f"{layer.index}-{pe}-thres.bin", layer.tmem * k)
                for nf in range(layer.tmem):
                    for i in range(k):
                        self.memset(2 * layer.index + 1, pe, nf, i, int(thresholds[nf * k + i]))
                written += len(thresholds)
        return written

    def run_words(self, words: np.ndarray) -> np.ndarray:
        """Packed input words (N x input words) -> output words (N x output words)."""
        n = len(words)
        out = np.empty((n, self.words_out), dtype=np.uint64)
        for start in range(0, n, self.capacity):
            part = words[start : start + self.capacity]
            count = len(part)
            self.in_buf[: count * self.words_in] = part.reshape(-1)
            _sync(self.in_buf, True)
            self.regs.write(NUM_REPS, count)
            self.regs.write(DO_INIT, 0)
            self._call()
            _sync(self.out_buf, False)
            out[start : start + count] = np.asarray(self.out_buf[: count * self.words_out]).reshape(
                count, self.words_out
            )
        return out

    def run(self, prepared: np.ndarray) -> np.ndarray:
        """The host's prepared inputs (LFC bits, CNV codes) -> outputs as the software model
        gives them (LFC: bits per row; CNV: signed 16-bit scores)."""
        return unpack_outputs(self.spec, self.run_words(pack_inputs(self.spec, prepared)))


def _words(path: Path, count: int) -> np.ndarray:
    """``count`` little-endian 64-bit words of a file, 0 past its end (as upstream reads)."""
    try:
        data = path.read_bytes()
    except OSError:
        raise AcceleratorError(f"{path} is missing; the params folder is incomplete") from None
    words = np.zeros(count, dtype=np.uint64)
    have = np.frombuffer(data[: 8 * count - (len(data[: 8 * count]) % 8)], dtype="<u8")
    words[: len(have)] = have
    return words


def pack_inputs(spec: OverlaySpec, prepared: np.ndarray) -> np.ndarray:
    """LFC input bits -> 64-bit words, bit i of the image in bit i%64 of word i//64 (padding 0);
    CNV 8-bit codes (HWC) -> their bytes, eight per word, element 0 in the low byte."""
    n = len(prepared)
    nbytes = 8 * spec.input_words
    if spec.network == "lfc":
        raw = np.packbits(prepared.reshape(n, -1).astype(np.uint8), axis=1, bitorder="little")
    else:
        raw = prepared.reshape(n, -1).astype(np.int8).view(np.uint8)
    padded = np.zeros((n, nbytes), dtype=np.uint8)
    padded[:, : raw.shape[1]] = raw
    return padded.view("<u8").astype(np.uint64)


def unpack_outputs(spec: OverlaySpec, words: np.ndarray) -> np.ndarray:
    """Output words -> per-row values: bits (1-bit outputs) or signed 16-bit scores."""
    rows = spec.layers[-1].mh_padded
    raw = np.ascontiguousarray(words.astype("<u8")).view(np.uint8).reshape(len(words), -1)
    if spec.output_bits == 1:
        return np.unpackbits(raw, axis=1, bitorder="little")[:, :rows].astype(np.int64)
    return raw.view("<i2")[:, :rows].astype(np.int64)
