"""Overlay specs: the stock ones derive upstream's sizes; bad specs name the wrong field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bnntool.hw.config_h import layer_defines, render
from bnntool.overlay import SpecError, load_overlay, spec_from_dict, stock_names
from tests.conftest import REPO

# Spec section 2.8: (MW, MH, SIMD, PE, WMEM, TMEM, thresholds per neuron) per layer.
TABLES = {
    "lfcW1A1": [
        (832, 1024, 64, 32, 416, 32, 1),
        (1024, 1024, 32, 64, 512, 16, 1),
        (1024, 1024, 64, 32, 512, 32, 1),
        (1024, 64, 8, 16, 512, 4, 1),
    ],
    "lfcW1A2": [
        (832, 1024, 64, 32, 416, 32, 2),
        (1024, 1024, 32, 64, 512, 16, 2),
        (1024, 1024, 64, 32, 512, 32, 2),
        (1024, 64, 8, 16, 512, 4, 1),
    ],
    "cnvW1A1": [
        (27, 64, 3, 16, 36, 4, 1),
        (576, 64, 32, 32, 36, 2, 1),
        (576, 128, 32, 16, 144, 8, 1),
        (1152, 128, 32, 16, 288, 8, 1),
        (1152, 256, 32, 4, 2304, 64, 1),
        (2304, 256, 32, 1, 18432, 256, 1),
        (256, 512, 4, 1, 32768, 512, 1),
        (512, 512, 8, 1, 32768, 512, 1),
        (512, 64, 1, 4, 8192, 16, 0),
    ],
    "cnvW1A2": [
        (27, 64, 3, 16, 36, 4, 2),
        (576, 64, 32, 32, 36, 2, 2),
        (576, 128, 32, 16, 144, 8, 2),
        (1152, 128, 32, 16, 288, 8, 2),
        (1152, 256, 32, 4, 2304, 64, 2),
        (2304, 256, 32, 1, 18432, 256, 2),
        (256, 512, 4, 1, 32768, 512, 2),
        (512, 512, 8, 1, 32768, 512, 2),
        (512, 64, 1, 4, 8192, 16, 0),
    ],
    "cnvW2A2": [
        (27, 64, 3, 8, 72, 8, 2),
        (576, 64, 16, 16, 144, 4, 2),
        (576, 128, 16, 8, 576, 16, 2),
        (1152, 128, 16, 8, 1152, 16, 2),
        (1152, 256, 8, 4, 9216, 64, 2),
        (2304, 256, 8, 1, 73728, 256, 2),
        (256, 512, 2, 1, 65536, 512, 2),
        (512, 512, 2, 2, 65536, 256, 2),
        (512, 64, 1, 4, 8192, 16, 0),
    ],
}


def test_shipped_overlays() -> None:
    # BNN-PYNQ's five, and bnntool's own conv overlays for 28x28 grey images
    assert stock_names() == sorted([*TABLES, "cnv28W1A1", "cnv28W1A2"])


@pytest.mark.parametrize("name", sorted(TABLES))
def test_derived_sizes_equal_upstream(name: str) -> None:
    spec = load_overlay(name)
    got = [
        (ly.mw_padded, ly.mh_padded, ly.simd, ly.pe, ly.wmem, ly.tmem, ly.steps)
        for ly in spec.layers
    ]
    assert got == TABLES[name]
    assert spec.boards == ("pynq-z1", "pynq-z2", "ultra96")
    assert spec.max_classes == 64


def test_layer_arithmetic_kinds() -> None:
    # Spec 3.1: which layers count XNOR matches, which use popcount thresholds, the W1A2 offset.
    lfc2 = load_overlay("lfcW1A2").layers
    assert [ly.xnor for ly in lfc2] == [False] * 4 and lfc2[0].accumulator_offset == 48
    cnv1 = load_overlay("cnvW1A1").layers
    assert [ly.xnor for ly in cnv1] == [False] + [True] * 8
    assert [ly.popcount_thresholds for ly in cnv1] == [False] + [True] * 7 + [False]
    assert cnv1[6].interleave_channels == 256 and cnv1[0].threshold_scale == 256
    assert [str(ly.inputs) for ly in load_overlay("cnvW2A2").layers] == ["1.7"] + ["2.0"] * 8
    assert load_overlay("lfcW1A1").input_words == 13 and load_overlay("cnvW1A1").input_words == 384
    assert load_overlay("cnvW1A1").output_words == 16 and load_overlay("lfcW1A2").output_words == 1


# Values of upstream's config.h for cnvW2A2 (spec 2.8/2.9), layers 0 and 7.
def test_config_h_values() -> None:
    layers = load_overlay("cnvW2A2").layers
    assert layer_defines(layers[0]) == [
        ("K", 3),
        ("IFM_CH", 3),
        ("IFM_DIM", 32),
        ("OFM_CH", 64),
        ("OFM_DIM", 30),
        ("SIMD", 3),
        ("PE", 8),
        ("WMEM", 72),
        ("TMEM", 8),
        ("WPI", 2),
        ("API", 2),
        ("WPF", 0),
        ("APF", 0),
    ]
    assert layer_defines(layers[7]) == [
        ("SIMD", 2),
        ("PE", 2),
        ("WMEM", 65536),
        ("TMEM", 256),
        ("MW", 512),
        ("MH", 512),
        ("WPI", 2),
        ("API", 2),
        ("WPF", 0),
        ("APF", 0),
    ]
    assert ("API", 16) in layer_defines(layers[8])
    text = render(load_overlay("lfcW1A1"))
    assert "#define L0_MW 832" in text and "#define L3_MH 64" in text
    assert re.search(r"#ifndef __LAYER_CONFIG_H_\n#define __LAYER_CONFIG_H_", text)


def test_a_users_copy_with_other_folding_works(tmp_path: Path) -> None:
    text = (REPO / "finnthesizer" / "lfcW1A1.toml").read_text()
    text = text.replace('name = "lfcW1A1"', 'name = "lfc-small"').replace("pe = 32", "pe = 16", 1)
    (tmp_path / "small.toml").write_text(text)
    spec = load_overlay(tmp_path / "small.toml")
    assert spec.name == "lfc-small" and spec.layers[0].pe == 16 and spec.layers[0].tmem == 64


def _raw(name: str = "lfcW1A1") -> dict:
    import tomllib

    return tomllib.loads((REPO / "finnthesizer" / f"{name}.toml").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["layers"][1].pop("pe"), r"my.toml: field layers\[1\].pe is missing"),
        (lambda r: r.pop("input"), "field input is missing"),
        (
            lambda r: r["layers"][1].update(pe=48),
            r"layers\[1\].pe = 48 does not divide the layer's 1024 outputs",
        ),
        (
            lambda r: r["layers"][2].update(simd=48),
            r"layers\[2\].simd = 48 does not divide the layer's 1024 inputs",
        ),
        (lambda r: r["layers"][0].update(weights="3.0"), 'the overlays support "1.0" or "2.0"'),
        (lambda r: r["layers"][0].update(activations="4.0"), "thresholded layers support"),
        (lambda r: r["layers"][0].update(weights="1"), "is not a precision"),
        (lambda r: r["layers"][0].update(kind="pool"), 'use "conv" or "dense"'),
        (lambda r: r["layers"][3].update(simd=128, weights="2.0"), "at most 64 bits"),
        (lambda r: r.update(boards=["zedboard"]), "boards has 'zedboard'"),
        (lambda r: r["input"].update(precision="1.7"), "a dense overlay takes"),
    ],
)
def test_bad_specs_name_the_field(change, message: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(raw, "my.toml")


def test_conv_simd_must_divide_the_channels() -> None:
    raw = _raw("cnvW1A1")
    raw["layers"][1]["simd"] = 24
    with pytest.raises(SpecError, match="simd = 24 does not divide the layer's 64 input channels"):
        spec_from_dict(raw, "my.toml")


def test_unknown_overlay_lists_the_stock_ones() -> None:
    with pytest.raises(
        SpecError, match="unknown overlay 'lfcW9A9'; stock overlays: cnv28W1A1, cnv28W1A2, cnvW1A1"
    ):
        load_overlay("lfcW9A9")


def test_missing_or_broken_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_overlay(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("name = [")
    with pytest.raises(SpecError, match="is not valid TOML"):
        load_overlay(tmp_path / "bad.toml")


def test_spec_round_trips_through_its_json_copy(tmp_path: Path) -> None:
    spec = load_overlay("cnvW2A2")
    again = spec_from_dict(spec.to_json(), "manifest")
    assert again.layers == spec.layers
    shutil.copy(REPO / "finnthesizer" / "cnvW2A2.toml", tmp_path / "x.toml")
    assert load_overlay(str(tmp_path / "x.toml")).layers == spec.layers
