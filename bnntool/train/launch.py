"""Starting a training run: recipe and overrides, run folder, one process or several."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bnntool.errors import UserError
from bnntool.train.loop import RunResult, saved_recipe, train
from bnntool.train.recipe import load_recipe


def run_training(
    *,
    recipe: str | None,
    resume_dir: Path | None,
    overrides: dict[str, Any],
    device: str,
    gpus: int | None,
    out_dir: Path | None,
    limit: int | None,
    init: Path | None,
    data_dir: Path | None,
    mirror: str | None,
    log: Callable[[str], None],
) -> RunResult | None:
    if resume_dir is not None:
        saved = saved_recipe(resume_dir)
        given = load_recipe(recipe) if recipe is not None else saved
        if given.name != saved.name and given.identity() != saved.identity():
            raise UserError(f"{resume_dir} was made by recipe {saved.name}, not {recipe}")
        if out_dir is not None and Path(out_dir).resolve() != Path(resume_dir).resolve():
            raise UserError(
                f"--out {out_dir}: a resumed run stays in its folder {resume_dir}; leave --out out"
            )
        for key, value in overrides.items():
            was = getattr(saved.training, key)
            if value is not None and value != was:
                option = f"--{key.replace('_', '-')}"
                raise UserError(
                    f"{option} {value}: {resume_dir} was started with {option} {was}; a resumed "
                    f"run keeps the settings it started with: leave {option} out (or start a new "
                    "run)"
                )
        chosen = saved
        out = resume_dir
    else:
        if recipe is None:
            raise UserError("give a recipe (e.g. bnntool train fashion-mnist) or --resume RUN_DIR")
        chosen = load_recipe(recipe).with_overrides(**overrides)
        out = out_dir or Path("runs") / f"{chosen.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if gpus is not None and gpus > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(gpus, out, resume_dir is not None)
    _init_distributed(device)
    try:
        result = train(
            chosen,
            out,
            device=device,
            limit=limit,
            data_dir=data_dir,
            mirror=mirror,
            resume=resume_dir is not None,
            init=init,
            log=log,
        )
        # with several processes only the first reports (one summary, one JSON document)
        return result if int(os.environ.get("RANK", "0")) == 0 else None
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _init_distributed(device: str) -> None:
    """Join the process group that torchrun describes in the environment, if any."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)


def _without_gpus(argv: list[str]) -> list[str]:
    """The command line without its ``--gpus N`` / ``--gpus=N`` (every other word kept, in
    order): torchrun starts one process per GPU with the rest."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--gpus":
            skip = True
        elif not word.startswith("--gpus="):
            out.append(word)
    return out


def _launch(gpus: int, out: Path, resumed: bool) -> None:
    """Re-run this command under torchrun with one process per GPU, into one run folder."""
    import torch

    if torch.cuda.device_count() < gpus:
        raise UserError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA GPUs")
    args = _without_gpus(sys.argv[1:])
    if not resumed and not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(out)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={gpus}",
        "-m",
        "bnntool",
        *args,
    ]
    code = subprocess.call(command)
    if code:
        raise UserError(
            f"training on {gpus} GPUs failed (exit code {code}); see the messages above"
        )
    return None
