"""Read-out calibration: offsets that fix what the highest-set-bit read-out gets wrong."""

from __future__ import annotations

import numpy as np

from bnntool.train.calibrate import readout_accuracy, readout_offsets


def test_offsets_recover_images_with_no_bit_set() -> None:
    # three classes; every class-1 image has logit 1 at -0.3 (no bit set: read out as class 0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    logits = np.full((300, 3), -1.0) + rng.uniform(-0.1, 0.1, (300, 3))
    logits[np.arange(300), labels] = 1.0
    logits[labels == 1, 1] = -0.3
    assert readout_accuracy(logits, labels, np.zeros(3)) < 70
    offsets = readout_offsets(logits, labels)
    assert readout_accuracy(logits, labels, offsets) == 100.0
    # the class-1 offset lies between the other images' class-1 logits and the class-1 images'
    assert 0.3 < offsets[1] < 1.1 and offsets[0] == 0 and offsets[2] == 0


def test_highest_bit_wins_so_offsets_also_lower_a_class() -> None:
    # class 2 fires on every image (logit 0.5), hiding classes 0 and 1 behind it
    labels = np.array([0, 1, 2] * 50)
    logits = np.full((150, 3), -1.0)
    logits[np.arange(150), labels] = 1.0
    logits[labels != 2, 2] = 0.5
    offsets = readout_offsets(logits, labels)
    assert readout_accuracy(logits, labels, np.zeros(3)) == (50 / 150) * 100
    assert readout_accuracy(logits, labels, offsets) == 100.0 and -1.0 < offsets[2] < -0.5


def test_nothing_to_gain_leaves_zero_offsets() -> None:
    labels = np.array([0, 1, 2, 3] * 10)
    logits = np.where(np.eye(4)[labels] > 0, 1.0, -1.0)
    assert not readout_offsets(logits, labels).any()


def test_offsets_never_land_on_a_level_unseen_in_validation() -> None:
    # logits on a lattice of step 0.25; validation reaches only every other level of class 1,
    # so a midpoint between two validation levels would be a level that test images can reach
    step = 0.25
    labels = np.array([0] * 40 + [1] * 40)
    logits = np.full((80, 2), -1.0)
    logits[:40, 0] = 1.0
    logits[40:, 1] = -0.5 + step * 2 * (np.arange(40) % 3)  # -0.5, 0.0, 0.5
    logits[:40, 1] = -1.5
    offsets = readout_offsets(logits, labels, np.array([step, step]))
    assert readout_accuracy(logits, labels, offsets) == 100.0
    lattice = np.arange(-40, 41) * step
    assert np.abs(lattice + offsets[1]).min() == step / 2
