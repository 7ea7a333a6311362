"""Read-out calibration of LFC networks: per-class offsets of the last layer's batch-norm beta.

An LFC overlay outputs one bit per class, (logit >= 0), and the host reads the class out as the
highest set bit, class 0 when no bit is set (spec 3.4). A network trained for the argmax of its
logits loses accuracy there: images with no bit set, or with a wrong higher bit set. Shifting each
class's logit by a constant (added to the last layer's beta, so the trained model, the converted
folder and the board all compute the same thing) chosen on the validation split recovers most of
it. Coordinate ascent over the classes; each candidate offset lies half-way between two logit
values of the validation set, so no validation image sits on a decision boundary.
"""

from __future__ import annotations

import numpy as np

from bnntool.sim.readout import lfc_class

ROUNDS = 3
MAX_OFFSET = 4.0  # logits of a squared-hinge network live around +-1
CANDIDATES = 200  # per class and round


def readout_accuracy(logits: np.ndarray, labels: np.ndarray, offsets: np.ndarray) -> float:
    """Percent of images whose board read-out of (logits + offsets >= 0) is their label."""
    bits = (logits + offsets >= 0).astype(np.int64)
    return float((lfc_class(bits, logits.shape[1]) == labels).mean() * 100)


def readout_offsets(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class offsets (float64, length = classes) that maximise the validation read-out
    accuracy; zeros where nothing improves it. Deterministic."""
    logits = np.asarray(logits, dtype=np.float64)
    classes = logits.shape[1]
    offsets = np.zeros(classes)
    best = readout_accuracy(logits, labels, offsets)
    for _ in range(ROUNDS):
        changed = False
        for c in range(classes):
            for t in _candidates(logits[:, c]):
                trial = offsets.copy()
                trial[c] = t
                accuracy = readout_accuracy(logits, labels, trial)
                if accuracy > best + 1e-9:
                    best, offsets, changed = accuracy, trial, True
        if not changed:
            break
    return offsets


def _candidates(column: np.ndarray) -> np.ndarray:
    """Offsets half-way between consecutive distinct values of -logit, within +-MAX_OFFSET."""
    values = np.unique(-column[np.abs(column) <= MAX_OFFSET])
    if len(values) < 2:
        return np.zeros(0)
    mids = (values[:-1] + values[1:]) / 2
    if len(mids) > CANDIDATES:
        mids = mids[np.linspace(0, len(mids) - 1, CANDIDATES).round().astype(int)]
    return mids
