"""A register-level model of BlackBoxJam, the accelerator of every BNN-PYNQ overlay (spec 4): its
AXI-Lite ``control`` slave (4.1), memory-init calls into per-(layer, PE) memories (4.2, 4.3) and
inference on numReps images read from and written to memory by physical address (4.4).

It computes what the overlay would from the memories as they were loaded: the words are written
back as a params folder and run by bnntool's bit-exact model (the one ``bnntool verify`` uses),
so a word that went to the wrong layer, memory, index or threshold, a buffer address that is not
the one the host allocated, or data the host did not sync changes the outputs.

Used in-process by ``test_pl.py`` and, inside a simulated board, by ``simboard.py`` (whose
Python may be another one than the tests': this module needs NumPy and bnntool only, and
imports bnntool's model lazily from whatever bnntool that Python finds: the board runtime's
zipapp).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# The control slave's register map (spec 4.1); a model does not trust the driver's constants.
CTRL, IN_LO, IN_HI, OUT_LO, OUT_HI = 0x00, 0x10, 0x14, 0x1C, 0x20
DO_INIT, TARGET_LAYER, TARGET_MEM, TARGET_IND, TARGET_THRESH = 0x28, 0x30, 0x38, 0x40, 0x48
VAL_LO, VAL_HI, NUM_REPS = 0x50, 0x54, 0x5C
AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
ADDRESS_BITS = 7  # C_S_AXI_CONTROL_ADDR_WIDTH: the slave decodes 7 address bits (spec 4.1)


class Memory(Protocol):
    """What the accelerator's AXI master reaches: bytes by physical address."""

    def read(self, address: int, size: int) -> np.ndarray: ...

    def write(self, address: int, data: np.ndarray) -> None: ...


class ModelError(RuntimeError):
    """The host did something the accelerator would not accept (bad target, unloaded memory)."""


class BlackBoxJam:
    def __init__(self, spec: Any, memory: Memory) -> None:
        self.spec, self.memory = spec, memory
        self.regs: dict[int, int] = {}
        self.mem: dict[tuple[int, int, int, int], int] = {}
        self.done = False
        self.memsets = 0
        self.computes: list[int] = []  # numReps of every inference call
        self._model: Any = None
        self._model_memsets = -1

    def read(self, offset: int) -> int:
        offset &= (1 << ADDRESS_BITS) - 1
        if offset == CTRL:
            value = AP_DONE if self.done else 0
            self.done = False  # ap_done clears on read
            return value | AP_IDLE
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        offset &= (1 << ADDRESS_BITS) - 1
        if not 0 <= value < 2**32:
            raise ModelError(f"write of {value:#x} to {offset:#x}: registers are 32 bits")
        self.regs[offset] = value
        if offset == CTRL and value & AP_START:
            self._init() if self.regs.get(DO_INIT, 0) & 1 else self._compute()
            self.done = True

    def _init(self) -> None:
        r = self.regs
        layer, mem, ind, thresh = (r.get(TARGET_LAYER, 0), r.get(TARGET_MEM, 0),
                                   r.get(TARGET_IND, 0), r.get(TARGET_THRESH, 0))  # fmt: skip
        if layer // 2 >= len(self.spec.layers):
            raise ModelError(f"targetLayer {layer} beyond the overlay's layers")
        spec = self.spec.layers[layer // 2]
        ok = mem < spec.pe
        if layer % 2 == 0:
            ok = ok and ind < spec.wmem and thresh == 0
        else:
            ok = ok and spec.has_thresholds and ind < spec.tmem and thresh < spec.steps
        if not ok:
            raise ModelError(f"memset ({layer}, {mem}, {ind}, {thresh}) outside layer {spec.index}")
        self.mem[(layer, mem, ind, thresh)] = r.get(VAL_LO, 0) | r.get(VAL_HI, 0) << 32
        self.memsets += 1

    def loaded_folder(self, folder: Path) -> Path:
        """The memories written out as a params folder (what the overlay now holds)."""
        try:
            for layer in self.spec.layers:
                for pe in range(layer.pe):
                    words = [self.mem[(2 * layer.index, pe, a, 0)] for a in range(layer.wmem)]
                    np.array(words, "<u8").tofile(folder / f"{layer.index}-{pe}-weights.bin")
                    if layer.has_thresholds:
                        t = [self.mem[(2 * layer.index + 1, pe, nf, i)]
                             for nf in range(layer.tmem) for i in range(layer.steps)]  # fmt: skip
                        np.array(t, "<u8").tofile(folder / f"{layer.index}-{pe}-thres.bin")
        except KeyError as e:
            raise ModelError(f"memory word {e.args[0]} was never loaded") from None
        rows = self.spec.layers[-1].mh_padded
        (folder / "classes.txt").write_text("\n".join(str(i) for i in range(rows)))
        return folder

    def _overlay_model(self) -> Any:
        if self._model is None or self._model_memsets != self.memsets:
            from bnntool.convert.params import read_params
            from bnntool.sim.model import OverlayModel

            with tempfile.TemporaryDirectory(prefix="blackboxjam-") as tmp:
                params = read_params(self.loaded_folder(Path(tmp)), self.spec)
                self._model = OverlayModel(params)
            self._model_memsets = self.memsets
        return self._model

    def _compute(self) -> None:
        r, spec = self.regs, self.spec
        n = r.get(NUM_REPS, 0)
        src = r.get(IN_LO, 0) | r.get(IN_HI, 0) << 32
        dst = r.get(OUT_LO, 0) | r.get(OUT_HI, 0) << 32
        raw = self.memory.read(src, 8 * n * spec.input_words).reshape(n, -1)
        if spec.network == "lfc":
            x = np.unpackbits(raw, axis=1, bitorder="little")[:, : spec.layers[0].mw]
        else:
            size = int(np.prod(spec.image_shape))
            x = raw[:, :size].view(np.int8).reshape(n, *spec.image_shape)
        out, _ = self._overlay_model()._forward(x.astype(np.float32), False)
        if spec.output_bits == 1:
            packed = np.packbits(out.astype(np.uint8), axis=1, bitorder="little")
        else:
            packed = out.astype("<i2").view(np.uint8)
        words = np.zeros((n, 8 * spec.output_words), dtype=np.uint8)
        words[:, : packed.shape[1]] = packed
        self.memory.write(dst, words.reshape(-1))
        self.computes.append(n)
