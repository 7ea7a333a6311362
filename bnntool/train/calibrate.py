"""Read-out calibration of LFC networks: per-class offsets of the last layer's batch-norm beta.

An LFC overlay outputs one bit per class, (logit >= 0), and the host reads the class out as the
highest set bit, class 0 when no bit is set (spec 3.4). A network trained for the argmax of its
logits loses accuracy there: images with no bit set, or with a wrong higher bit set. Shifting each
class's logit by a constant (added to the last layer's beta, so the trained model, the converted
folder and the board all compute the same thing) chosen on the validation split recovers most of
it. Coordinate ascent over the classes; each candidate offset lies half a logit step past a level
the validation images reach, so no image, validation or not, sits on a decision boundary.
"""

from __future__ import annotations

import numpy as np

from bnntool.sim.readout import lfc_class

ROUNDS = 3
MAX_OFFSET = 4.0  # logits of a squared-hinge network live around +-1
CANDIDATES = 200  # per class and round
SAME = 1e-4  # logits closer than this are one level (levels are >= ~1e-2 apart)


def readout_accuracy(logits: np.ndarray, labels: np.ndarray, offsets: np.ndarray) -> float:
    """Percent of images whose board read-out of (logits + offsets >= 0) is their label."""
    bits = (logits + offsets >= 0).astype(np.int64)
    return float((lfc_class(bits, logits.shape[1]) == labels).mean() * 100)


def readout_offsets(
    logits: np.ndarray, labels: np.ndarray, steps: np.ndarray | None = None
) -> np.ndarray:
    """Per-class offsets (float64, length = classes) that maximise the validation read-out
    accuracy; zeros where nothing improves it. Deterministic.

    ``steps``: per class, the distance between neighbouring values its logit can take (the last
    layer's |gamma * inv_std| for an integer sum). Offsets are then put half a step past a
    level, which is never a level, even one the validation images do not reach; without it,
    half-way between neighbouring validation values.
    """
    logits = np.asarray(logits, dtype=np.float64)
    classes = logits.shape[1]
    offsets = np.zeros(classes)
    best = readout_accuracy(logits, labels, offsets)
    for _ in range(ROUNDS):
        changed = False
        for c in range(classes):
            step = None if steps is None else float(abs(steps[c]))
            for t in _candidates(logits[:, c], step):
                trial = offsets.copy()
                trial[c] = t
                accuracy = readout_accuracy(logits, labels, trial)
                if accuracy > best + 1e-9:
                    best, offsets, changed = accuracy, trial, True
        if not changed:
            break
    return offsets


def _candidates(column: np.ndarray, step: float | None) -> np.ndarray:
    """Offsets between the levels of -logit seen on validation, within +-MAX_OFFSET.

    Values closer than SAME are one level (float32 evaluation blurs a level by a few ulps). An
    image fires when its -logit <= the offset.
    """
    values = np.unique(-column[np.abs(column) <= MAX_OFFSET])
    if len(values) == 0:
        return np.zeros(0)
    values = values[np.concatenate([[True], np.diff(values) > SAME])]
    if step is not None and step > 2 * SAME:
        points = np.concatenate([[values[0] - step / 2], values + step / 2])
    elif len(values) >= 2:
        points = (values[:-1] + values[1:]) / 2
    else:
        return np.zeros(0)
    if len(points) > CANDIDATES:
        points = points[np.linspace(0, len(points) - 1, CANDIDATES).round().astype(int)]
    return points
