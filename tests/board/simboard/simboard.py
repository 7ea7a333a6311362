"""A simulated PYNQ board for the real ``pynq`` package: a ``pynq.Device`` subclass that pynq's
own device mechanism registers (``DeviceMeta`` records every subclass that defines ``_probe_``;
``pynq.Device.devices`` probes them) and picks as the active device. Everything above it is
pynq's unchanged code: ``pynq.Overlay`` parses the bitstream's ``.hwh`` with pynq's metadata
parser and sets the PL clocks through the PS clock registers, ``pynq.MMIO`` reads and writes
registers (pynq's ``REGISTER_RW`` path, as for PCIe devices), ``pynq.allocate`` returns pynq's
``PynqBuffer`` whose ``flush``/``invalidate`` copy to and from the board's memory.

Below it, the board: its part and architecture, the PS clock registers with their reset values
(SLCR on Zynq-7000, CRL/CRF on Zynq UltraScale+), a DDR that only the device side reads (data
the host did not flush is not there), the bitstream download (pynq's own ``.bit`` header parser;
a bitstream for another part, or one the simulation does not know, is refused), and at the
address the ``.hwh`` gives, the register-level model of BlackBoxJam (blackboxjam.py). Any other
address is a bus error.

Configured by a JSON file named in ``BNNTOOL_SIMBOARD``: the board's name, where to log events
(one JSON object per line), and the designs it knows (sha256 of the ``.bit`` -> overlay spec, as
the design's compiled ``config.h`` would fix it). ``sitecustomize.py`` imports this module when
that variable is set, so that every Python started on the simulated board has the device.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

CONFIG_ENV = "BNNTOOL_SIMBOARD"

# name -> (CPU architecture, part as a .bit header names it, first DDR address for buffers)
BOARDS = {
    "Pynq-Z1": ("armv7l", "7z020clg400", 0x1680_0000),
    "Pynq-Z2": ("armv7l", "7z020clg400", 0x1680_0000),
    "AUP-ZU3": ("aarch64", "zu3eg-sfvc784", 0x8_0000_0000),  # buffers above 4 GiB
    "KV260": ("aarch64", "xck26-sfvc784", 0x8_0000_0000),
    "ZCU104": ("aarch64", "zu7ev-ffvc1156", 0x8_0000_0000),
}

# PS clock registers at reset: Zynq-7000 SLCR (PS_CLK 50 MHz, IO PLL x20 = 1000 MHz, ARM PLL
# x26, FCLKs from the IO PLL /10), Zynq UltraScale+ CRL_APB and CRF_APB (33.333 MHz reference,
# PLLs x90 /2 = 1500 MHz, PL clocks from the IO PLL /15, enabled).
SLCR = 0xF800_0000
CRL_APB, CRF_APB = 0xFF5E_0000, 0xFD1A_0000
_FCLK_Z7 = (0 << 4) | (10 << 8) | (1 << 20)
_PLL_ZU = (90 << 8) | (1 << 16)
_PLCLK_ZU = (1 << 24) | (15 << 8) | (1 << 16)
RESET_VALUES = {
    SLCR + 0x100: 26 << 12, SLCR + 0x104: 21 << 12, SLCR + 0x108: 20 << 12,
    SLCR + 0x120: 2 << 8,
    SLCR + 0x170: _FCLK_Z7, SLCR + 0x180: _FCLK_Z7, SLCR + 0x190: _FCLK_Z7,
    SLCR + 0x1A0: _FCLK_Z7,
    CRL_APB + 0x20: _PLL_ZU, CRL_APB + 0x30: _PLL_ZU,
    CRL_APB + 0xC0: _PLCLK_ZU, CRL_APB + 0xC4: _PLCLK_ZU, CRL_APB + 0xC8: _PLCLK_ZU,
    CRL_APB + 0xCC: _PLCLK_ZU,
    CRF_APB + 0x20: _PLL_ZU, CRF_APB + 0x2C: _PLL_ZU, CRF_APB + 0x38: _PLL_ZU,
    CRF_APB + 0x60: 2 << 8,
}  # fmt: skip
CLOCK_WINDOWS = ((SLCR, 0x1000), (CRL_APB, 0x1000), (CRF_APB, 0x1000))


def _bits(value: int, offset: int, width: int) -> int:
    return (value >> offset) & ((1 << width) - 1)


class Ddr:
    """The board's memory as the PL sees it: regions by physical address."""

    def __init__(self, base: int) -> None:
        self.next = base
        self.regions: dict[int, np.ndarray] = {}

    def allocate(self, size: int) -> int:
        address = self.next
        self.regions[address] = np.zeros(size, dtype=np.uint8)
        self.next += (size + 0xFFFF) & ~0xFFFF
        return address

    def _view(self, address: int, size: int) -> np.ndarray:
        for base, region in self.regions.items():
            if base <= address and address + size <= base + len(region):
                return region[address - base : address - base + size]
        raise RuntimeError(f"simulated bus error: no memory at {address:#x} ({size} bytes)")

    def read(self, address: int, size: int) -> np.ndarray:
        return self._view(address, size).copy()

    def write(self, address: int, data: np.ndarray) -> None:
        self._view(address, len(data))[:] = data


class _Memory:
    """What ``Device.default_memory`` gives pynq: ``allocate`` as pynq's allocators do."""

    def __init__(self, device: SimulatedBoard) -> None:
        self.device = device

    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> PynqBuffer:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        address = self.device.ddr.allocate(nbytes)
        self.device.log("allocate", address=address, bytes=nbytes)
        return PynqBuffer(
            shape, dtype, device=self.device, device_address=address, bo=address, coherent=False
        )


class SimulatedBoard(Device):
    """One simulated board; pynq finds it by probing (``_probe_``) like its own devices."""

    _probe_priority_ = 5  # before pynq's own devices (a PCIe or embedded XRT device is 50+)

    @classmethod
    def _probe_(cls) -> list[SimulatedBoard]:
        path = os.environ.get(CONFIG_ENV)
        return [cls(json.loads(Path(path).read_text()))] if path else []

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__("simulated_board0")
        self.config = config
        self.name = config["board"]
        self.arch, self.part, base = BOARDS[self.name]
        self.capabilities = {"REGISTER_RW": True}
        self.ddr = Ddr(base)
        self.registers = dict(RESET_VALUES)
        self.accelerator: Any = None
        self.window = (0, 0)
        self.counts = {"mmio_reads": 0, "mmio_writes": 0, "flushes": 0, "invalidates": 0}
        self.log("probe", board=self.name, arch=self.arch)
        atexit.register(self._summary)

    # -- events ------------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        with open(self.config["log"], "a") as f:
            f.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")

    def _summary(self) -> None:
        acc = self.accelerator
        self.log(
            "exit", **self.counts,
            memsets=acc.memsets if acc else 0, computes=acc.computes if acc else [],
        )  # fmt: skip

    # -- bitstreams ----------------------------------------------------------------------------
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False) -> Any:
        """pynq's own parser of the ``.hwh`` beside the bitstream (as its embedded device)."""
        try:
            from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser
        except ImportError:  # pynq 4.0 uses pynqmetadata's
            from pynqmetadata.views.runtime import RuntimeMetadataParser
        from pynqmetadata.frontends import Metadata

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError(f"Unable to find metadata for bitstream {bitfile_name}")
        return RuntimeMetadataParser(Metadata(input=hwh))

    def download(self, bitstream: Any, parser: Any = None) -> None:
        from pynq.pl_server.embedded_device import parse_bit_header

        data = Path(bitstream.bitfile_name).read_bytes()
        header = parse_bit_header(data)  # pynq's parser: a cut or damaged file raises
        if header["part"] != self.part:
            raise RuntimeError(
                f"{bitstream.bitfile_name} is for part {header['part']}, not {self.part}"
            )
        design = self.config["designs"].get(hashlib.sha256(data).hexdigest())
        if design is None:
            raise RuntimeError(f"the simulation does not know {bitstream.bitfile_name}")
        from blackboxjam import BlackBoxJam

        from bnntool.overlay import spec_from_dict  # the board runtime's (its zipapp)

        spec = spec_from_dict(design["spec"], "simboard config")
        ips = [v for v in parser.ip_dict.values() if ":BlackBoxJam:" in str(v.get("type"))]
        ip = ips[0]
        self.window = (ip["phys_addr"], ip["addr_range"])
        self.accelerator = BlackBoxJam(spec, self.ddr)
        self.log(
            "download", bitstream=bitstream.bitfile_name, part=header["part"],
            design=header["design"], overlay=spec.name, base=self.window[0],
            clocks_mhz=self.pl_clocks_mhz(),
        )  # fmt: skip
        self.post_download(bitstream, parser, self.name)

    def pl_clocks_mhz(self) -> list[float]:
        """The four PL clocks as the PS clock registers now set them."""
        r = self.registers
        if self.arch == "armv7l":
            io_pll = 50.0 * _bits(r[SLCR + 0x108], 12, 7)
            ctrls = [r[SLCR + o] for o in (0x170, 0x180, 0x190, 0x1A0)]
            return [round(io_pll / (_bits(c, 8, 6) * _bits(c, 20, 6)), 3) for c in ctrls]
        io_pll = 33.333 * _bits(r[CRL_APB + 0x20], 8, 7) / (2 if r[CRL_APB + 0x20] >> 16 & 1 else 1)
        ctrls = [r[CRL_APB + o] for o in (0xC0, 0xC4, 0xC8, 0xCC)]
        return [round(io_pll / (_bits(c, 8, 6) * _bits(c, 16, 6)), 3) for c in ctrls]

    # -- registers -----------------------------------------------------------------------------
    def _target(self, address: int) -> tuple[str, int]:
        base, size = self.window
        if self.accelerator is not None and base <= address < base + size:
            return "accelerator", address - base
        for start, length in CLOCK_WINDOWS:
            if start <= address < start + length:
                return "ps", address
        raise RuntimeError(f"simulated bus error: nothing at {address:#x}")

    def read_registers(self, address: int, length: int) -> bytes:
        self.counts["mmio_reads"] += 1
        where, offset = self._target(address)
        value = (
            self.accelerator.read(offset)
            if where == "accelerator"
            else self.registers.get(address, 0)
        )
        return int(value).to_bytes(4, "little")[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        self.counts["mmio_writes"] += 1
        if len(data) != 4:
            raise RuntimeError(f"simulated bus error: {len(data)}-byte write at {address:#x}")
        where, offset = self._target(address)
        value = int.from_bytes(data, "little")
        if where == "accelerator":
            self.accelerator.write(offset, value)
        else:
            self.registers[address] = value

    # -- memory --------------------------------------------------------------------------------
    @property
    def default_memory(self) -> _Memory:
        return _Memory(self)

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """Host cache -> the board's memory (``PynqBuffer.flush``/``sync_to_device``)."""
        self.counts["flushes"] += 1
        data = (ctypes.c_uint8 * size).from_address(ptr)
        self.ddr.write(bo + offset, np.frombuffer(data, dtype=np.uint8))

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """The board's memory -> host (``PynqBuffer.invalidate``/``sync_from_device``)."""
        self.counts["invalidates"] += 1
        target = np.frombuffer((ctypes.c_uint8 * size).from_address(ptr), dtype=np.uint8)
        target[:] = self.ddr.read(bo + offset, size)
