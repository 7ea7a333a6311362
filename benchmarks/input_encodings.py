"""How much of Fashion-MNIST a float network can read from each LFC input encoding.

A cheap probe for choosing an encoding before a long binarized training: a float MLP
(784-1024-1024-10, ReLU, dropout 0.3, Adam with a cosine decay from 1e-3, cross-entropy,
batch 100, random shifts of up to 1 pixel) is trained on the training split less its last 5000
images and scored on those 5000 (the test split is never read). One thread, seed 0.

    python benchmarks/input_encodings.py --mirror ../shared/datasets [--epochs 12] [--json]

Encodings: "grey" (the 28x28 image itself, as floats: no encoding), "thermometer" (the 14x14
4-level code), "dither" (28x28, a 2x2 ordered-dither matrix at the thermometer's levels) and
"dither4x4" (28x28, a 4x4 Bayer matrix: 16 levels).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bnntool.data import fetch, load_dataset
from bnntool.encoding import InputEncoding
from bnntool.train.data import augment
from bnntool.train.recipe import Augmentation

VALIDATION = 5000
ENCODINGS: dict[str, InputEncoding | None] = {
    "grey": None,
    "thermometer": InputEncoding(28, 14, (32, 96, 160, 224)),
    "dither": InputEncoding(28, 28, matrix=((32, 160), (224, 96))),
    "dither4x4": InputEncoding(  # a 4x4 Bayer matrix: 16 levels, (index + 0.5) x 16
        28,
        28,
        matrix=((8, 136, 40, 168), (200, 72, 232, 104), (56, 184, 24, 152), (248, 120, 216, 88)),
    ),
}


def features(images: np.ndarray, encoding: InputEncoding | None) -> torch.Tensor:
    if encoding is None:
        return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    return torch.from_numpy(encoding.encode(images).astype(np.float32))


def probe(
    images: np.ndarray, labels: np.ndarray, encoding: InputEncoding | None, epochs: int
) -> float:
    """Validation accuracy (%) of the float MLP after ``epochs`` epochs."""
    torch.manual_seed(0)
    train_x, train_y = images[:-VALIDATION], torch.from_numpy(labels[:-VALIDATION]).long()
    val_x, val_y = features(images[-VALIDATION:], encoding), labels[-VALIDATION:]
    width = val_x.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(width, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(1024, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    accuracy = 0.0
    for epoch in range(epochs):
        rng = np.random.default_rng(epoch)
        x = features(augment(train_x, Augmentation(shift=1), rng), encoding)
        for group in optimizer.param_groups:
            group["lr"] = 0.5e-3 * (1 + np.cos(np.pi * epoch / epochs))
        net.train()
        order = torch.from_numpy(rng.permutation(len(train_y)))
        for start in range(0, len(order), 100):
            batch = order[start : start + 100]
            loss = torch.nn.functional.cross_entropy(net(x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            accuracy = float((net(val_x).argmax(1).numpy() == val_y).mean() * 100)
        print(f"  epoch {epoch + 1}/{epochs}: validation {accuracy:.2f} %", file=sys.stderr)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, required=True, help="folder with the dataset files")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--only", choices=sorted(ENCODINGS), action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        fetch("fashion-mnist", Path(tmp), args.mirror)
        train = load_dataset("fashion-mnist", "train", Path(tmp))
        results = {}
        for name in args.only or ENCODINGS:
            print(f"{name}:", file=sys.stderr)
            start = time.perf_counter()
            accuracy = probe(train.images, train.labels, ENCODINGS[name], args.epochs)
            results[name] = {
                "validation": round(accuracy, 2),
                "seconds": round(time.perf_counter() - start, 1),
            }
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for name, r in results.items():
            print(f"{name:12s} {r['validation']:6.2f} %  ({r['seconds']} s)")


if __name__ == "__main__":
    main()
