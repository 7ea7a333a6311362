"""Seconds per LFC W1A1 training epoch on full Fashion-MNIST, bnntool beside Brevitas.

Both train BNN-PYNQ's LFC 1W1A (784-1024-1024-1024-10, binary input, weights and activations)
on the same 60 000 binarized images, batch 100, Adam, squared hinge loss, latent weights
clipped after each step, on the same number of CPU threads; only the training pass is timed.
Brevitas (PyPI brevitas 0.13.4, whose brevitas_examples.bnn_pynq ships this model) runs in its
own virtual environment (benchmarks/.venv-brevitas, created on first use: it pins its own
setuptools), with the same torch.

    python benchmarks/train_speed.py --mirror ../shared/datasets [--threads 2] [--epochs 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from bnntool.data import fetch, load_dataset
from bnntool.overlay import load_overlay
from bnntool.train.data import InputPreparer
from bnntool.train.loop import build_optimizer, make_loss, train_epoch
from bnntool.train.network import QuantNet
from bnntool.train.recipe import Training

HERE = Path(__file__).resolve().parent
BREVITAS_VENV = HERE / ".venv-brevitas"

BREVITAS_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch
    from brevitas_examples.bnn_pynq.models import model_with_cfg
    from brevitas_examples.bnn_pynq.models.losses import SqrHingeLoss
    threads, epochs, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.load(data + "/x.npy"))
    y = torch.from_numpy(np.load(data + "/y.npy"))
    model, _ = model_with_cfg("lfc_1w1a", pretrained=False)
    model.train()
    criterion = SqrHingeLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    times = []
    for epoch in range(epochs):
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(len(y)))
        started = time.perf_counter()
        for s in range(0, len(y), 100):
            index = order[s:s + 100]
            target = 2 * torch.nn.functional.one_hot(y[index], 10).float() - 1
            loss = criterion(model(x[index]), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.clip_weights(-1, 1)
        times.append(time.perf_counter() - started)
    print(json.dumps({"seconds": times, "brevitas_torch": torch.__version__}))
    """
)


def ours(images: np.ndarray, labels: np.ndarray, threads: int, epochs: int) -> list[float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = load_overlay("lfcW1A1")
    prep = InputPreparer(spec, None)  # BNN-PYNQ's input: a pixel is 1 iff it is >= 128
    codes = prep.compact(images)
    model = QuantNet(spec, 10, dropout_input=0.2, dropout_hidden=0.2)
    optimizer = build_optimizer(model, 0.003, "glorot")
    targets = torch.from_numpy(labels)
    times = []
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(labels))
        started = time.perf_counter()
        train_epoch(
            model,
            model,
            optimizer,
            codes,
            targets,
            order,
            100,
            make_loss(Training(loss="squared-hinge")),
            "lfc",
            torch.device("cpu"),
        )
        times.append(time.perf_counter() - started)
    return times


def brevitas(images: np.ndarray, labels: np.ndarray, threads: int, epochs: int) -> dict:
    python = BREVITAS_VENV / "bin" / "python"
    if not python.exists():
        print(
            "creating benchmarks/.venv-brevitas (torch==2.13.0, brevitas==0.13.4) ...",
            file=sys.stderr,
        )
        subprocess.run([sys.executable, "-m", "venv", str(BREVITAS_VENV)], check=True)
        torch_pin = f"torch=={torch.__version__.split('+')[0]}"
        pip = [str(python), "-m", "pip", "install", "-q", torch_pin, "brevitas==0.13.4"]
        subprocess.run(pip, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        # The same binarized images, as Brevitas's LFC takes them (values 0/1, it maps to +-1).
        np.save(Path(tmp) / "x.npy", (images >= 128).astype(np.float32)[:, None])
        np.save(Path(tmp) / "y.npy", labels)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        out = subprocess.run(
            [str(python), "-c", BREVITAS_SCRIPT, str(threads), str(epochs), tmp],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", help="dataset mirror (folder or URL prefix)")
    parser.add_argument("--data-dir", help="bnntool data directory")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--skip-brevitas", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fetch("fashion-mnist", args.data_dir, args.mirror)
    train = load_dataset("fashion-mnist", "train", args.data_dir)
    ours_times = ours(train.images, train.labels, args.threads, args.epochs)
    result = {"threads": args.threads, "images": len(train), "bnntool_seconds": ours_times}
    if not args.skip_brevitas:
        b = brevitas(train.images, train.labels, args.threads, args.epochs)
        result["brevitas_seconds"] = b["seconds"]
        result["ratio"] = min(ours_times) / min(b["seconds"])
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"LFC W1A1, one epoch of Fashion-MNIST ({len(train)} images, batch 100), "
        f"{args.threads} threads:"
    )
    print(f"  bnntool   {min(ours_times):7.1f} s")
    if "brevitas_seconds" in result:
        print(f"  Brevitas  {min(result['brevitas_seconds']):7.1f} s")
        print(f"  ratio     {result['ratio']:7.2f} (bnntool / Brevitas)")


if __name__ == "__main__":
    main()
