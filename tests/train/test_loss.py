"""The recipe losses on hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from bnntool.train.loop import make_loss
from bnntool.train.recipe import Training

LOGITS = torch.tensor([[0.5, -2.0, 0.2]])


def _value(loss: str, label: int, **kw) -> float:
    return float(make_loss(Training(loss=loss, **kw))(LOGITS, torch.tensor([label])))


def test_squared_hinge_by_hand() -> None:
    # label 1: targets (-1, +1, -1); terms (1 + 0.5)^2, (1 + 2)^2, (1 + 0.2)^2
    assert _value("squared-hinge", 1) == pytest.approx((2.25 + 9 + 1.44) / 3)
    # label 0: targets (+1, -1, -1); terms (1 - 0.5)^2, 0 (beyond the margin), 1.44
    assert _value("squared-hinge", 0) == pytest.approx((0.25 + 0 + 1.44) / 3)


def test_readout_hinge_weighs_down_what_the_readout_ignores() -> None:
    # label 1: class 0 lies below the label, so a set class-0 bit cannot change the read-out
    assert _value("readout-hinge", 1) == pytest.approx((0.3 * 2.25 + 9 + 1.44) / 3)
    # label 0: no bit set reads out as class 0 too, so class 0's own term is weighed down
    assert _value("readout-hinge", 0) == pytest.approx((0.3 * 0.25 + 0 + 1.44) / 3)
    # label 2 (the highest class): only its own bit matters, both others are weighed down
    w = 0.5
    expected = (w * 2.25 + w * 0 + (1 - 0.2) ** 2) / 3
    assert _value("readout-hinge", 2, readout_below_weight=w) == pytest.approx(expected)
    # weight 1 is the squared hinge
    assert _value("readout-hinge", 1, readout_below_weight=1.0) == _value("squared-hinge", 1)


def test_cross_entropy() -> None:
    expected = float(torch.nn.functional.cross_entropy(LOGITS, torch.tensor([1])))
    assert _value("cross-entropy", 1) == pytest.approx(expected)
