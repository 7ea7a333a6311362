"""Folding planner: SIMD and PE per layer for a target throughput, with cycle and resource models.

Cycle model (exact for the dataflow overlays): a layer needs MW * MH / (SIMD * PE) cycles per
output pixel, times OFM_DIM^2 for a convolution; the slowest layer sets the rate, so
FPS = fabric clock / max(cycles).

Resource model, calibrated on upstream's published Pynq-Z1/Z2 figures (spec 7): the five stock
overlays come out within 12 % of their LUTs and BRAM tiles, none above the part
(tests/hw/test_plan.py).
* BRAM18: each PE's weight memory (WMEM words of SIMD x weight bits) in the BRAM18 aspect ratio
  that needs fewest blocks (16K x 1 ... 512 x 36); the sliding-window line buffers of each
  convolution (K + 1 blocks of IFM_DIM * IFM_CH / SIMD words of SIMD x input bits); thresholds
  are small and go to LUT RAM. Plus fixed tiles per layer for FIFOs and the AXI adapters.
* LUTs: 0.5 per XNOR-popcount lane (SIMD x PE of a binary layer), 2.75 per bit of a multi-bit
  lane (SIMD x PE x weight bits x input bits), plus a fixed cost per layer and for the AXI
  infrastructure.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnntool.errors import UserError
from bnntool.hw.boards import Board
from bnntool.overlay import WORD_BITS, LayerSpec, OverlaySpec, load_overlay, spec_from_dict

# BRAM18 aspect ratios (depth, width)
_BRAM18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
# calibration (see the module docstring)
LUT_PER_XNOR_LANE = 0.5
LUT_PER_MAC_BIT = 2.75
LUT_BASE = 6000
LUT_PER_DENSE = 4125
LUT_PER_CONV = 1354
BRAM_TILES_BASE = 2.0
BRAM_TILES_PER_DENSE = 1.0
BRAM_TILES_PER_CONV = 1.75
PRECISIONS = {"lfc": ("W1A1", "W1A2"), "cnv": ("W1A1", "W1A2", "W2A2")}


def bram18(depth: int, width: int) -> int:
    """BRAM18 blocks for a memory of ``depth`` words of ``width`` bits."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM18)


@dataclass(frozen=True)
class LayerEstimate:
    index: int
    kind: str
    simd: int
    pe: int
    cycles: int
    bram18: int
    luts: int


@dataclass(frozen=True)
class Estimate:
    """Resources and throughput of one overlay on one board."""

    overlay: str
    board: str
    clock_mhz: float
    layers: tuple[LayerEstimate, ...]
    luts: int
    bram_tiles: float
    board_luts: int
    board_bram_tiles: int

    @property
    def cycles(self) -> int:
        """Cycles per image of the slowest layer."""
        return max(ly.cycles for ly in self.layers)

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles

    @property
    def fits(self) -> bool:
        return self.luts <= self.board_luts and self.bram_tiles <= self.board_bram_tiles

    def overflow(self) -> str:
        """What does not fit, and by how much; empty when it all fits."""
        parts = []
        if self.luts > self.board_luts:
            over = self.luts - self.board_luts
            parts.append(
                f"{self.luts:,} LUTs of {self.board_luts:,} ({over:,} or "
                f"{100 * over / self.board_luts:.0f}% too many)"
            )
        if self.bram_tiles > self.board_bram_tiles:
            over_b = self.bram_tiles - self.board_bram_tiles
            parts.append(
                f"{self.bram_tiles:g} BRAM tiles of {self.board_bram_tiles} ({over_b:g} or "
                f"{100 * over_b / self.board_bram_tiles:.0f}% too many)"
            )
        return " and ".join(parts)


def _layer_bram18(layer: LayerSpec, simd: int, pe: int) -> int:
    wmem = layer.mw_padded * layer.mh_padded // (simd * pe)
    blocks = pe * bram18(wmem, simd * layer.weights.bits)
    if layer.is_conv:
        depth = layer.in_dim * layer.in_channels // simd
        blocks += (layer.kernel + 1) * bram18(depth, simd * layer.inputs.bits)
    return blocks


def _layer_luts(layer: LayerSpec, simd: int, pe: int) -> float:
    lanes = simd * pe
    if layer.xnor:
        return LUT_PER_XNOR_LANE * lanes
    return LUT_PER_MAC_BIT * lanes * layer.weights.bits * layer.inputs.bits


def _layer_cycles(layer: LayerSpec, simd: int, pe: int) -> int:
    pixels = layer.out_dim**2 if layer.is_conv else 1
    return pixels * (layer.mw_padded // simd) * (layer.mh_padded // pe)


def _layer_estimate(layer: LayerSpec, simd: int, pe: int) -> LayerEstimate:
    fixed = LUT_PER_CONV if layer.is_conv else LUT_PER_DENSE
    return LayerEstimate(
        layer.index,
        layer.kind,
        simd,
        pe,
        _layer_cycles(layer, simd, pe),
        _layer_bram18(layer, simd, pe),
        round(_layer_luts(layer, simd, pe) + fixed),
    )


def _total(spec: OverlaySpec, board: Board, layers: list[LayerEstimate]) -> Estimate:
    tiles = BRAM_TILES_BASE + sum(ly.bram18 for ly in layers) / 2
    tiles += sum(
        BRAM_TILES_PER_CONV if ly.kind == "conv" else BRAM_TILES_PER_DENSE for ly in layers
    )
    return Estimate(
        overlay=spec.name,
        board=board.name,
        clock_mhz=board.fabric_mhz,
        layers=tuple(layers),
        luts=LUT_BASE + sum(ly.luts for ly in layers),
        bram_tiles=tiles,
        board_luts=board.luts,
        board_bram_tiles=board.bram_tiles,
    )


def estimate(spec: OverlaySpec, board: Board) -> Estimate:
    """Estimated resources and throughput of ``spec`` as folded, on ``board``."""
    layers = [_layer_estimate(ly, ly.simd, ly.pe) for ly in spec.layers]
    return _total(spec, board, layers)


def check_fits(spec: OverlaySpec, board: Board) -> Estimate:
    """The estimate of ``spec`` on ``board``; a one-line error when it does not fit the part."""
    est = estimate(spec, board)
    if not est.fits:
        raise UserError(
            f"overlay {spec.name} does not fit the {board.name}'s {board.part}: estimated "
            f"{est.overflow()}; fold it less (smaller SIMD x PE) or plan one with bnntool plan"
        )
    return est


# ---------------------------------------------------------------------------------------------
# Planning


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _candidates(layer: LayerSpec) -> Iterator[tuple[int, int]]:
    """Foldings that the overlay spec accepts for this layer with its sizes unchanged."""
    simds = _divisors(layer.in_channels if layer.is_conv else layer.mw_padded)
    for simd in simds:
        if simd * layer.weights.bits > WORD_BITS:
            continue
        if layer.index == 0 and not layer.is_conv and simd > WORD_BITS:
            continue
        for pe in _divisors(layer.mh_padded):
            if layer.last and pe > WORD_BITS:
                continue
            yield simd, pe


def _cost(est: LayerEstimate, board: Board) -> float:
    return est.luts / board.luts + est.bram18 / (2 * board.bram_tiles)


@dataclass(frozen=True)
class Plan:
    spec: OverlaySpec
    estimate: Estimate
    target_fps: float
    path: Path | None


def plan(
    network: str, precision: str, board: Board, target_fps: float, out: Path | None = None
) -> Plan:
    """The least-resource folding of a stock network that reaches ``target_fps`` on ``board``."""
    if network not in PRECISIONS:
        raise UserError(f"unknown network {network!r}; use lfc or cnv")
    if precision not in PRECISIONS[network]:
        raise UserError(
            f"{network} has no precision {precision!r}; choose {', '.join(PRECISIONS[network])}"
        )
    if target_fps <= 0:
        raise UserError("--target-fps must be positive")
    base = load_overlay(f"{network}{precision}")
    budget = math.floor(board.fabric_mhz * 1e6 / target_fps)  # cycles per image
    chosen: list[LayerEstimate] = []
    for layer in base.layers:
        options = [_layer_estimate(layer, s, p) for s, p in _candidates(layer)]
        ok = [e for e in options if e.cycles <= budget]
        if not ok:
            fastest = min(options, key=lambda e: e.cycles)
            best_fps = board.fabric_mhz * 1e6 / fastest.cycles
            raise UserError(
                f"target {target_fps:,.0f} FPS is unreachable for {network}{precision} on the "
                f"{board.name} at {board.fabric_mhz:g} MHz: layer {layer.index} needs at least "
                f"{fastest.cycles:,} cycles per image, so at most {best_fps:,.0f} FPS"
            )
        chosen.append(min(ok, key=lambda e: (_cost(e, board), e.cycles)))
    raw = base.to_json()
    raw["name"] = f"{network}{precision}-{board.name}-{target_fps:g}fps"
    raw["description"] = (
        f"{base.name} folded by bnntool plan for {target_fps:g} FPS on the {board.name}"
    )
    raw["boards"] = [board.name]
    for table, est in zip(raw["layers"], chosen, strict=True):
        table["simd"], table["pe"] = est.simd, est.pe
    spec = spec_from_dict(raw, str(out) if out else "<plan>")
    result = estimate(spec, board)
    if not result.fits:
        raise UserError(
            f"no folding of {network}{precision} reaches {target_fps:,.0f} FPS within the "
            f"{board.name}'s {board.part}: the smallest needs {result.overflow()}"
        )
    if out is not None:
        write_spec(raw, out)
    return Plan(spec, result, target_fps, out)


# ---------------------------------------------------------------------------------------------
# TOML output (the spec's shapes only: scalars, lists of strings, tables, arrays of tables)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list) and all(not isinstance(v, dict) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def to_toml(raw: dict[str, Any]) -> str:
    head = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, (dict, list))]
    head += [
        f"{k} = {_toml_value(v)}"
        for k, v in raw.items()
        if isinstance(v, list) and not any(isinstance(x, dict) for x in v)
    ]
    lines = ["# Overlay spec written by bnntool plan; it works wherever a stock name does.", *head]
    for key, value in raw.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]", *(f"{k} = {_toml_value(v)}" for k, v in value.items())]
        elif isinstance(value, list) and any(isinstance(x, dict) for x in value):
            for table in value:
                lines += ["", f"[[{key}]]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def write_spec(raw: dict[str, Any], path: Path) -> None:
    from bnntool.hw.sources import write_text

    try:
        write_text(path, to_toml(raw))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
