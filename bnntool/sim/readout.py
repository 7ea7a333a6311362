"""How the host turns an overlay's output into a class (spec 3.4), quirks included.

LFC overlays output one bit per class. The batch call (``inference_multiple``, which gave the
published accuracies) returns the highest set bit of the word masked to the classes, and 0 if no
bit is set; the single-image call returns round(log2(word)), which with several bits set can name
the wrong class or none at all. CNV overlays output a signed 16-bit score per class. The single
call returns the first maximum; the batch call scans from a running best of 0 at class 0, so an
image whose scores are all <= 0 is class 0.
"""

from __future__ import annotations

import numpy as np

BATCH = "batch"
SINGLE = "single"


def lfc_words(bits: np.ndarray, classes: int) -> np.ndarray:
    """Output bits (N x rows) -> the low ``classes`` bits as integers (bit j = class j)."""
    weights = np.left_shift(np.uint64(1), np.arange(classes, dtype=np.uint64))
    return (bits[:, :classes].astype(np.uint64) * weights).sum(axis=1)


def lfc_class(bits: np.ndarray, classes: int, mode: str = BATCH) -> np.ndarray:
    has = bits[:, :classes] > 0
    if mode == BATCH:  # floor(log2(word)): the highest set bit, computed exactly
        highest = classes - 1 - np.argmax(has[:, ::-1], axis=1)
        return np.where(has.any(axis=1), highest, 0).astype(np.int64)
    words = lfc_words(bits, classes).astype(np.float64)
    out = np.zeros(len(words), dtype=np.int64)
    nonzero = words > 0
    out[nonzero] = np.round(np.log2(words[nonzero])).astype(np.int64)
    return out


def cnv_class(scores: np.ndarray, classes: int, mode: str = BATCH) -> np.ndarray:
    s = scores[:, :classes]
    if mode == SINGLE:
        return np.argmax(s, axis=1).astype(np.int64)
    best = np.argmax(s, axis=1)
    positive = s[np.arange(len(s)), best] > 0
    return np.where(positive, best, 0).astype(np.int64)


def quirks(network: str, outputs: np.ndarray, classes: int) -> dict[str, int]:
    """How many images hit a read-out quirk (reported by verify, not fixed)."""
    if network == "lfc":
        set_bits = outputs[:, :classes].sum(axis=1)
        return {
            "no_class_bit": int(np.count_nonzero(set_bits == 0)),
            "several_class_bits": int(np.count_nonzero(set_bits > 1)),
        }
    return {"all_scores_not_positive": int(np.count_nonzero(outputs[:, :classes].max(axis=1) <= 0))}
