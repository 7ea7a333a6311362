"""Wall time of `bnntool convert` for the LFC and CNV stock overlays.

Generates a trained-looking .npz for each overlay (random weights and batch-norm, seed 0) and
converts it in both threshold modes, a few times each; prints the best and median wall time.

    python benchmarks/convert.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bnntool.convert import convert
from bnntool.overlay import load_overlay

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.convert.fakes import layer_arrays, write_npz

OVERLAYS = ("lfcW1A1", "lfcW1A2", "cnvW1A1", "cnvW1A2", "cnvW2A2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in OVERLAYS:
            spec = load_overlay(name)
            npz = write_npz(
                Path(tmp) / f"{name}.npz", layer_arrays(spec, np.random.default_rng(0), edge=False)
            )
            for mode in ("upstream", "exact"):
                times = []
                for i in range(args.repeat):
                    started = time.perf_counter()
                    convert(npz, spec, Path(tmp) / f"{name}-{mode}-{i}", thresholds=mode)
                    times.append(time.perf_counter() - started)
                rows.append(
                    {
                        "overlay": name,
                        "thresholds": mode,
                        "best_s": min(times),
                        "median_s": statistics.median(times),
                    }
                )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'overlay':9} {'thresholds':10} {'best':>8} {'median':>8}")
    for r in rows:
        print(f"{r['overlay']:9} {r['thresholds']:10} {r['best_s']:7.3f}s {r['median_s']:7.3f}s")


if __name__ == "__main__":
    main()
