"""Images per second of bnntool's bit-exact overlay model (bnntool.sim) on this machine.

Converts generated weights for each stock overlay (exact thresholds), then runs the model on
random images: one warm-up pass, then the best and median of several timed passes.

    python benchmarks/sim.py [--images 10000] [--cnv-images 1000] [--repeat 5] [--json]

Point --params at a real folder (and --overlay) to time that instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bnntool.convert import convert, read_params
from bnntool.overlay import load_overlay
from bnntool.sim import OverlayModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.convert.fakes import layer_arrays, write_npz


def time_model(model: OverlayModel, images: np.ndarray, repeat: int) -> tuple[float, float]:
    model.run(images[: min(len(images), 1000)])
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        model.run(images)
        rates.append(len(images) / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="LFC images per pass")
    parser.add_argument("--cnv-images", type=int, default=1000, help="CNV images per pass")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--overlays", default="lfcW1A1,lfcW1A2,cnvW1A1,cnvW1A2,cnvW2A2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.overlays.split(","):
            spec = load_overlay(name)
            npz = write_npz(Path(tmp) / f"{name}.npz", layer_arrays(spec, rng, edge=False))
            convert(npz, spec, Path(tmp) / name)
            model = OverlayModel(read_params(Path(tmp) / name))
            n = args.images if spec.network == "lfc" else args.cnv_images
            images = rng.integers(0, 256, (n, *spec.image_shape), dtype=np.uint8)
            best, median = time_model(model, images, args.repeat)
            rows.append(
                {
                    "overlay": name,
                    "images": n,
                    "best_per_s": round(best),
                    "median_per_s": round(median),
                }
            )
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": rows}, indent=2))
        return
    print(f"bnntool.sim on {os.cpu_count()} CPUs (float32 matrix products, exact)")
    print(f"{'overlay':9} {'images':>7} {'best img/s':>11} {'median img/s':>13}")
    for r in rows:
        print(f"{r['overlay']:9} {r['images']:>7} {r['best_per_s']:>11,} {r['median_per_s']:>13,}")


if __name__ == "__main__":
    main()
