"""Networks built from overlay specs, and the upstream .npz layout in both directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bnntool.convert.npz import read_npz
from bnntool.encoding import InputEncoding, encoded_spec
from bnntool.errors import UserError
from bnntool.overlay import load_overlay
from bnntool.train.network import QuantNet
from tests.convert.fakes import layer_arrays

LFC_SHAPES = (
    [(784, 1024), (1024,), (1024,), (1024,), (1024,), (1024,)]
    + [(1024, 1024), (1024,), (1024,), (1024,), (1024,), (1024,)] * 2
    + [(1024, 10), (10,), (10,), (10,), (10,), (10,)]
)
CNV_SHAPES = (
    [(64, 3, 3, 3)]
    + [(64,)] * 5
    + [(64, 64, 3, 3)]
    + [(64,)] * 5
    + [(128, 64, 3, 3)]
    + [(128,)] * 5
    + [(128, 128, 3, 3)]
    + [(128,)] * 5
    + [(256, 128, 3, 3)]
    + [(256,)] * 5
    + [(256, 256, 3, 3)]
    + [(256,)] * 5
    + [(256, 512)]
    + [(512,)] * 5
    + [(512, 512)]
    + [(512,)] * 5
    + [(512, 10)]
    + [()] * 4
)


@pytest.mark.parametrize("overlay", ["lfcW1A1", "lfcW1A2", "cnvW1A1", "cnvW1A2", "cnvW2A2"])
def test_exported_arrays_have_the_upstream_layout(overlay: str, tmp_path: Path) -> None:
    spec = load_overlay(overlay)
    arrays = QuantNet(spec, 10).to_arrays()
    assert [a.shape for a in arrays] == (LFC_SHAPES if overlay.startswith("lfc") else CNV_SHAPES)
    assert all(a.dtype == np.float32 for a in arrays)
    np.savez(tmp_path / "w.npz", *arrays)
    read_npz(tmp_path / "w.npz", spec)  # the converter accepts it


@pytest.mark.parametrize("overlay", ["lfcW1A2", "cnvW2A2"])
def test_import_then_export_gives_identical_arrays(overlay: str) -> None:
    spec = load_overlay(overlay)
    arrays = layer_arrays(spec, np.random.default_rng(0))  # as the Theano scripts save them
    net = QuantNet(spec, 10)
    net.load_arrays(arrays, "theano.npz")
    again = net.to_arrays()
    assert len(again) == len(arrays)
    for a, b in zip(arrays, again, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_fewer_classes_and_the_overlay_limit() -> None:
    spec = load_overlay("cnvW1A1")
    assert QuantNet(spec, 44).to_arrays()[48].shape == (512, 44)  # GTSRB with its junk class
    with pytest.raises(UserError, match="65 classes do not fit overlay cnvW1A1"):
        QuantNet(spec, 65)


def test_arrays_of_another_overlay_are_refused() -> None:
    net = QuantNet(load_overlay("lfcW1A1"), 10)
    with pytest.raises(UserError, match="holds 53 arrays; overlay lfcW1A1 needs 24"):
        net.load_arrays(layer_arrays(load_overlay("cnvW1A1"), np.random.default_rng(0)), "cnv.npz")


def test_encoding_changes_only_the_first_layer() -> None:
    spec = encoded_spec(load_overlay("lfcW1A1"), InputEncoding(28, 20, (85, 170)))
    first = spec.layers[0]
    assert (first.mw, first.mw_padded) == (800, 832)
    assert QuantNet(spec, 10).to_arrays()[0].shape == (800, 1024)
    with pytest.raises(UserError, match="more than overlay lfcW1A1's 832-bit input"):
        encoded_spec(load_overlay("lfcW1A1"), InputEncoding(28, 21, (85, 170)))


def test_max_pool_comes_after_the_activation() -> None:
    """With a negative-gamma channel, pooling the raw outputs would pick the wrong one."""
    spec = load_overlay("cnvW1A1")
    net = QuantNet(spec, 10).eval()
    with torch.no_grad():
        net.norms[1].gamma.fill_(-1.0)
    x = torch.zeros(1, 3, 32, 32).uniform_(-1, 1)
    captured = {}
    net.linear[2].register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    net(x)
    # Layer 2 sees +-1 values: activations pooled, not raw sums.
    assert set(captured["x"].unique().tolist()) <= {-1.0, 1.0}
