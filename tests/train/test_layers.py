"""Quantizers and batch-norm on hand-computed cases (spec 1.1, 1.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnntool.train.layers import LasagneBatchNorm, activate, quantize_weights


def test_sign_activation_and_its_gradient() -> None:
    y = torch.tensor([-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.5], requires_grad=True)
    a = activate(y, 1)
    assert a.tolist() == [-1, -1, -1, 1, 1, 1, 1]  # exactly 0 maps to +1
    a.sum().backward()
    assert y.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]  # hard-tanh straight-through


def test_two_bit_activation_levels() -> None:
    y = torch.tensor([-0.51, -0.5, -0.1, 0.0, 0.49, 0.5, 0.9])
    assert activate(y, 2).tolist() == [-1, 0, 0, 0, 0, 1, 1]


def test_weight_quantizers_and_straight_through_gradient() -> None:
    w = torch.tensor([-1.7, -0.5, -0.49, 0.0, 0.49, 0.5, 1.2], requires_grad=True)
    assert quantize_weights(w, 1).tolist() == [-1, -1, -1, 1, 1, 1, 1]
    q = quantize_weights(w, 2)
    assert q.tolist() == [-1, 0, 0, 0, 0, 1, 1]  # clip to [-1, 1], round half up
    (q * torch.arange(7.0)).sum().backward()
    assert w.grad.tolist() == list(range(7))  # identity


def test_lasagne_batchnorm_by_hand() -> None:
    bn = LasagneBatchNorm(2)
    with torch.no_grad():
        bn.gamma.copy_(torch.tensor([2.0, -1.0]))
        bn.beta.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([[1.0, 4.0], [3.0, 8.0]])
    y = bn(x)  # batch mean (2, 6), biased variance (1, 4), eps 1e-4
    inv = 1 / np.sqrt(np.array([1.0, 4.0]) + 1e-4)
    expected = (x.numpy() - [2.0, 6.0]) * (np.array([2.0, -1.0]) * inv) + [0.5, 0.0]
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-6)
    # Running averages of the mean and of inv_std itself (alpha 0.1).
    np.testing.assert_allclose(bn.mean.numpy(), [0.2, 0.6], rtol=1e-6)
    np.testing.assert_allclose(bn.inv_std.numpy(), 0.9 + 0.1 * inv, rtol=1e-6)
    bn.eval()
    got = bn(torch.tensor([[1.0, 1.0]]))
    want = (np.array([1.0, 1.0]) - bn.mean.numpy()) * (
        bn.gamma.detach().numpy() * bn.inv_std.numpy()
    )
    np.testing.assert_allclose(got.detach().numpy()[0], want + bn.beta.detach().numpy(), rtol=1e-6)


def test_scalar_batchnorm_normalises_over_everything() -> None:
    bn = LasagneBatchNorm(10, scalar=True)
    x = torch.arange(20.0).reshape(2, 10)
    y = bn(x)
    assert bn.gamma.shape == () and bn.mean.item() == pytest.approx(0.1 * 9.5)
    assert y.mean().item() == pytest.approx(0.0, abs=1e-5)
