"""`bnntool train`: the training loop, its run folder, resume, and several processes.

The run folder holds ``weights.npz`` (the best validation epoch, in the upstream layout),
``checkpoint.pt`` (after every epoch: model, optimiser, schedule position, RNG states),
``metrics.csv``, ``curves.png``, ``confusion.png`` and ``run.json``.

Every epoch seeds its own randomness from (seed, epoch): the data order, augmentation and
dropout. A run resumed after epoch k therefore continues exactly as the uninterrupted run would,
and ends with bit-identical weights on the same device.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ParamSpec

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F

from bnntool import __version__
from bnntool.artifacts import (
    atomic_file,
    clean_leftovers,
    folder_lock,
    sha256_file,
    signals_held,
    tidy,
    write_bytes,
    write_error,
    write_json,
)
from bnntool.convert.npz import load_arrays
from bnntool.data import ensure_fetched
from bnntool.data.load import is_image_folder
from bnntool.encoding import encoded_spec
from bnntool.errors import Interrupted, UserError, WriteError
from bnntool.overlay import load_overlay
from bnntool.progress import count_bar
from bnntool.sim.readout import lfc_class
from bnntool.train.calibrate import readout_offsets
from bnntool.train.data import Data, InputPreparer, augment, load_data
from bnntool.train.network import QuantNet
from bnntool.train.recipe import Recipe, Training, recipe_from_dict

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "weights.npz"
RUN_JSON = "run.json"
METRICS = "metrics.csv"
RUN_FILES = (CHECKPOINT, WEIGHTS, RUN_JSON, METRICS, "curves.png", "confusion.png")
METRIC_FIELDS = (
    "epoch",
    "train_loss",
    "validation_loss",
    "validation_accuracy",
    "test_accuracy",
    "test_accuracy_argmax",
    "lr",
    "seconds",
)


@dataclass
class RunResult:
    run_dir: Path
    recipe: str
    overlay: str
    device: str
    epochs: int
    best_epoch: int
    validation_accuracy: float | None
    test_accuracy: float
    seconds: float
    weights: Path
    metrics: list[dict[str, Any]] = field(default_factory=list)
    readout_calibration: dict[str, Any] | None = None


def pick_device(requested: str) -> torch.device:
    """``auto`` (CUDA when there is one), ``cpu``, ``cuda`` or ``cuda:N``."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {requested}: this machine has no CUDA GPU (torch "
                f"{torch.__version__}); use --device cpu"
            )
        index = int(requested.split(":", 1)[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise UserError(
                f"--device {requested}: there are only {torch.cuda.device_count()} GPUs"
            )
        return torch.device("cuda", index)
    raise UserError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N")


def _rank() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    torch.manual_seed((seed * 1_000_003 + epoch) % 2**63)
    random.seed(seed * 31 + epoch)
    return np.random.default_rng([seed, epoch])


def _lr(recipe: Recipe, epoch: int) -> float:
    t = recipe.training
    if t.schedule == "cosine":
        return t.lr_final + 0.5 * (t.lr - t.lr_final) * (1 + math.cos(math.pi * epoch / t.epochs))
    return t.lr * (t.lr_final / t.lr) ** (epoch / t.epochs)


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
P = ParamSpec("P")


def make_loss(t: Training) -> Loss:
    """The recipe's loss as a function of (logits, labels).

    ``squared-hinge`` (upstream's): mean of max(0, 1 - t * logit)^2 with targets t = +-1.
    ``readout-hinge``: the same terms, but those the LFC read-out (the highest set class bit,
    class 0 when none is set) does not look at weigh ``readout_below_weight``: the classes below
    the label, and class 0's own bit when the label is 0. Only a wrong bit above the label, or a
    missing label bit, changes the board's answer.
    """
    if t.loss == "cross-entropy":
        return F.cross_entropy
    below = t.readout_below_weight if t.loss == "readout-hinge" else 1.0

    def hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = 2 * F.one_hot(labels, logits.shape[1]).to(logits.dtype) - 1
        terms = torch.clamp(1 - target * logits, min=0).pow(2)
        if below != 1.0:
            classes = torch.arange(logits.shape[1], device=logits.device)[None, :]
            ignored = (classes < labels[:, None]) | ((classes == 0) & (labels[:, None] == 0))
            terms = torch.where(ignored, terms * below, terms)
        return terms.mean()

    return hinge


def _early_stop_said(function: Callable[P, RunResult]) -> Callable[P, RunResult]:
    """Ctrl-C before the epochs begin (loading data, building the model): said in one line."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> RunResult:
        try:
            return function(*args, **kwargs)
        except KeyboardInterrupt:
            out_dir = args[1] if len(args) > 1 else kwargs.get("out_dir")
            if kwargs.get("resume"):
                raise Interrupted(
                    f"training stopped before it resumed; {out_dir} is as it was: resume with: "
                    f"bnntool train --resume {out_dir}"
                ) from None
            raise Interrupted(
                "training stopped before its first epoch began; no run was written (a download "
                "that was cut resumes next time)"
            ) from None

    return wrapper


@_early_stop_said
def train(
    recipe: Recipe,
    out_dir: Path,
    *,
    device: str = "auto",
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    resume: bool = False,
    init: Path | None = None,
    stop_after: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Train ``recipe`` into ``out_dir`` (or continue it there with ``resume``): a run that
    stops (Ctrl-C, a full disk) says what it kept and how to go on."""
    rank, world = _rank()
    started = time.monotonic()
    out_dir = Path(out_dir)
    dev = pick_device(device)
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))

    checkpoint = None
    if resume:
        checkpoint = _load_checkpoint(out_dir, recipe)
        limit, data_dir, mirror = _resumed_settings(
            checkpoint, out_dir, limit=limit, data_dir=data_dir, mirror=mirror, init=init,
            world=world,
        )  # fmt: skip

    base_spec = load_overlay(recipe.overlay)
    spec = encoded_spec(base_spec, recipe.encoding() if base_spec.network == "lfc" else None)
    if recipe.training.loss == "readout-hinge" and spec.network != "lfc":
        raise UserError(
            f"{recipe.source or recipe.name}: training.loss = 'readout-hinge' is for LFC overlays "
            f"(one bit per class); {recipe.overlay} outputs scores: use squared-hinge"
        )

    def prepare() -> None:  # rank 0's checks and downloads, before any training
        if not resume:
            _check_new_run_folder(out_dir, recipe)
        if not is_image_folder(recipe.dataset):  # a user's image folder needs no fetch
            ensure_fetched(recipe.dataset, data_dir, mirror, log=log)

    _on_rank0_for_all(prepare, rank, world)
    prep = InputPreparer(spec, recipe.encoding() if spec.network == "lfc" else None)
    data = load_data(
        recipe, limit, data_dir, prep.host.image_shape, log if rank == 0 else (lambda _: None)
    )
    data_digest = _data_digest(data)
    if checkpoint is not None and checkpoint.get("settings", {}).get("data_sha256") not in (
        None,
        data_digest,
    ):
        raise UserError(
            f"the training images of {recipe.dataset} differ from those {out_dir} was trained on "
            "(their sha256 changed); resume it with the same data, or start a new run"
        )
    settings = {
        "limit": limit,
        "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
        "mirror": mirror,
        "init": {"path": str(init), "sha256": sha256_file(Path(init))} if init else None,
        "processes": world,
        "data_sha256": data_digest,
        # CPU kernels split their sums by thread: another count changes the last bits
        "cpu_threads": torch.get_num_threads() if dev.type == "cpu" else None,
    }
    if checkpoint is not None:
        settings["init"] = checkpoint.get("settings", {}).get("init")
        was = checkpoint.get("settings", {}).get("cpu_threads")
        if (
            rank == 0
            and None not in (was, settings["cpu_threads"])
            and was != settings["cpu_threads"]
        ):
            log(
                f"note: {out_dir} ran its last epoch on {was} CPU threads, this on "
                f"{settings['cpu_threads']}: its weights may differ in the last bits from an "
                f"uninterrupted run's (OMP_NUM_THREADS={was} keeps them identical)"
            )
    prep.check(data.train.images, data.name)
    classes = len(data.classes)
    t = recipe.training
    loss = make_loss(t)
    if t.batch_size % world:
        raise UserError(f"batch size {t.batch_size} does not split over {world} processes")

    torch.manual_seed(t.seed)  # the initial weights
    model = QuantNet(spec, classes, t.dropout_input, t.dropout_hidden).to(dev)
    if init is not None and checkpoint is None:
        model.load_arrays(load_arrays(Path(init)), str(init))
    optimizer = build_optimizer(model, t.lr, t.weight_lr_scale)

    start_epoch, best, metrics = 0, None, []
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = checkpoint["epoch"] + 1
        best = checkpoint["best"]
        metrics = checkpoint["metrics"]
        # wall time counts every session of a run (older checkpoints: the epochs' own times)
        started -= checkpoint.get("wall_seconds", sum(m["seconds"] for m in metrics))
        log(f"resuming {out_dir} after epoch {checkpoint['epoch'] + 1} of {t.epochs}")

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )

    # These datasets are small: on a GPU the whole (compact) training set lives there.
    train_codes = prep.compact(data.train.images).to(dev)
    train_labels = torch.from_numpy(data.train.labels).to(dev)
    needs_augment = t.augmentation.shift or t.augmentation.flip
    created = False  # this call made the run folder (only then may a failure remove it)
    saved_epoch: int | None = checkpoint["epoch"] + 1 if checkpoint is not None else None
    finishing = False
    claim = contextlib.ExitStack()
    try:
        if rank == 0:
            try:
                out_dir.mkdir(parents=True)
                created = True
            except FileExistsError:
                pass
            except OSError as e:
                raise write_error(out_dir, e, "choose another --out") from None
            claim.enter_context(
                folder_lock(
                    out_dir, wait=False,
                    busy=f"run folder {out_dir} is in use by another bnntool train; choose "
                    "another --out",
                )
            )  # fmt: skip
            if not resume:
                _check_new_run_folder(out_dir, recipe)  # again, now that it is ours
        evaluator = _Evaluator(model, prep, data, dev)
        if rank == 0 and start_epoch == 0:
            log(_explain_epoch_lines(spec.network, data.validation is not None))
        for epoch in range(start_epoch, t.epochs):
            epoch_started = time.monotonic()
            rng = _seed_epoch(t.seed, epoch)
            lr = _lr(recipe, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"]
            order = rng.permutation(len(data.train.labels))
            codes = train_codes
            if needs_augment:
                codes = prep.compact(augment(data.train.images, t.augmentation, rng)).to(dev)
            with count_bar(
                f"epoch {epoch + 1}/{t.epochs}", -(-len(order) // t.batch_size), "batch"
            ) as bar:
                total, seen = train_epoch(
                    net,
                    model,
                    optimizer,
                    codes,
                    train_labels,
                    order,
                    t.batch_size,
                    loss,
                    spec.network,
                    dev,
                    rank,
                    world,
                    bar.update,
                )
            if world > 1:
                _average_buffers(model, world)
            val_loss, val_acc, _ = evaluator.evaluate("validation", loss)
            _, test_acc, test_argmax = evaluator.evaluate("test", loss)
            row = {
                "epoch": epoch + 1,
                "train_loss": total / max(seen, 1),
                "validation_loss": val_loss,
                "validation_accuracy": val_acc,
                "test_accuracy": test_acc,
                "test_accuracy_argmax": test_argmax,
                "lr": lr,
                "seconds": time.monotonic() - epoch_started,
            }
            metrics.append(row)
            # Model selection on validation (upstream: <= counts as better); without a
            # validation split, the last epoch.
            score = val_acc if val_acc is not None else float(epoch)
            improved = best is None or score >= best["score"]
            if improved:
                best = {
                    "score": score,
                    "epoch": epoch + 1,
                    "validation_accuracy": val_acc,
                    "test_accuracy": test_acc,
                    "arrays": model.to_arrays(),  # before read-out calibration
                }
            if rank == 0:
                if improved:
                    _write_weights(out_dir / WEIGHTS, best["arrays"])
                _save_checkpoint(
                    out_dir, model, optimizer, epoch, best, metrics, recipe,
                    time.monotonic() - started, settings,
                )  # fmt: skip
                saved_epoch = epoch + 1
                _write_metrics(out_dir / METRICS, metrics)
                log(_epoch_line(row, t.epochs, spec.network, improved and val_acc is not None))
            if stop_after is not None and epoch + 1 >= stop_after:
                break

        if world > 1:
            _write_rank_digest(out_dir, rank, model)
            dist.barrier()
        result = RunResult(
            run_dir=out_dir,
            recipe=recipe.name,
            overlay=spec.name,
            device=str(dev),
            epochs=len(metrics),
            best_epoch=best["epoch"],
            validation_accuracy=best["validation_accuracy"],
            test_accuracy=best["test_accuracy"],
            seconds=time.monotonic() - started,
            weights=out_dir / WEIGHTS,
            metrics=metrics,
        )
        if rank == 0:
            finishing = True
            _finish(out_dir, recipe, base_spec, spec, data, result, dev, world, settings, best,
                    prep, loss, checkpoint is not None, log)  # fmt: skip
    except KeyboardInterrupt:
        if rank == 0:
            _forget(out_dir, created)
        raise Interrupted(_interrupted(out_dir, saved_epoch, t.epochs, finishing)) from None
    except WriteError as e:
        if rank == 0:
            _forget(out_dir, created)
        if (out_dir / CHECKPOINT).is_file():
            raise WriteError(f"{e}; then resume with: bnntool train --resume {out_dir}") from None
        raise
    except BaseException:
        if rank == 0:
            _forget(out_dir, created)
        raise
    finally:
        claim.close()
    return result


def _finish(
    out_dir: Path, recipe: Recipe, base_spec, spec, data: Data, result: RunResult, dev, world: int,
    settings: dict[str, Any], best: dict[str, Any], prep: InputPreparer, loss: Loss,
    resumed: bool, log: Callable[[str], None],
) -> None:  # fmt: skip
    """After the last epoch: the read-out calibration (if the recipe asks), plots, run.json."""
    classes = len(data.classes)
    t = recipe.training
    best_model = QuantNet(spec, classes).to(dev)
    arrays = best.get("arrays") or load_arrays(out_dir / WEIGHTS)
    best_model.load_arrays(arrays, str(out_dir / WEIGHTS))
    if spec.network == "lfc" and t.readout_calibration and data.validation is not None:
        result.readout_calibration = _calibrate(best_model, arrays, prep, data, dev, loss)
        _write_weights(out_dir / WEIGHTS, best_model.to_arrays())
        result.validation_accuracy = result.readout_calibration["validation_after"]
        result.test_accuracy = result.readout_calibration["test_after"]
        log(
            "read-out calibration (per-class offsets of the last layer's beta): validation "
            f"{result.readout_calibration['validation_before']:.2f}% -> "
            f"{result.validation_accuracy:.2f}%, test "
            f"{result.readout_calibration['test_before']:.2f}% -> {result.test_accuracy:.2f}%"
        )
    predictions = _Evaluator(best_model, prep, data, dev).predict("test")
    _plots(out_dir, result.metrics, data, predictions, spec.network)
    _write_run_json(out_dir, recipe, base_spec, spec, data, result, dev, world, settings, resumed)


def _explain_epoch_lines(network: str, validation: bool) -> str:
    """Once, before the first epoch: what the epoch lines' figures mean."""
    readout = (
        "test: the board's read-out (the highest set class bit), argmax: the trained model's"
        if network == "lfc"
        else "test: the top score, as the overlay reads it out"
    )
    keep = (
        "'-> weights.npz' marks a new best validation accuracy"
        if validation
        else "no validation split: weights.npz holds the last epoch"
    )
    return f"{readout}; {keep}"


def _epoch_line(row: dict[str, Any], epochs: int, network: str, saved: bool) -> str:
    val = row["validation_accuracy"]
    val_text = f"validation {val:.2f}%, " if val is not None else ""
    argmax = f" (argmax {row['test_accuracy_argmax']:.2f}%)" if network == "lfc" else ""
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f}, {val_text}test "
        f"{row['test_accuracy']:.2f}%{argmax}, lr {row['lr']:.2e}, {row['seconds']:.1f} s"
        + (" -> weights.npz" if saved else "")
    )


def _interrupted(out_dir: Path, saved: int | None, epochs: int, finishing: bool) -> str:
    if saved is None:
        return "training stopped before its first epoch was saved; no run was kept"
    if finishing:
        return (
            f"training stopped after its last epoch, while writing its results; resume with: "
            f"bnntool train --resume {out_dir} (it writes them)"
        )
    return (
        f"training stopped in epoch {saved + 1} of {epochs}; {out_dir} holds the run up to "
        f"epoch {saved}: resume with: bnntool train --resume {out_dir}"
    )


def _on_rank0_for_all(work: Callable[[], None], rank: int, world: int) -> None:
    """Run ``work`` on rank 0; with several processes every rank learns whether it failed and
    stops with the same one-line error, instead of waiting for rank 0 until a timeout."""
    error: UserError | None = None
    if rank == 0:
        try:
            work()
        except UserError as e:
            error = e
    if world > 1:
        box = [str(error) if error is not None else None]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and rank != 0:
            raise UserError(box[0])
    if error is not None:
        raise error


def _check_new_run_folder(out_dir: Path, recipe: Recipe) -> None:
    """A new run's folder: not inside its own image folder, empty but for what a killed run
    left (removed), and writable; said before any download or training."""
    dataset = Path(recipe.dataset)
    if is_image_folder(recipe.dataset) and _within(out_dir, dataset):
        raise UserError(
            f"--out {out_dir} is inside the image folder {dataset} the recipe trains on (it would "
            "become a class); choose another --out"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder; choose another --out")
    if out_dir.is_dir():
        for name in RUN_FILES:
            clean_leftovers(out_dir / name)
        left = sorted(p.name for p in out_dir.iterdir())
        if (out_dir / CHECKPOINT).is_file():
            raise UserError(
                f"run folder {out_dir} holds a run; resume it (bnntool train --resume {out_dir}) "
                "or choose another --out"
            )
        if left:
            shown = ", ".join(left[:3]) + (" ..." if len(left) > 3 else "")
            raise UserError(
                f"run folder {out_dir} is not empty ({shown}) and holds no checkpoint to resume; "
                "choose another --out (or remove what a stopped run left there)"
            )
    _check_writable(out_dir)


def _within(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def _check_writable(out_dir: Path) -> None:
    """Fail now, in one line, if the run folder cannot be made there (Ctrl-C waits until the
    probe and the folders it made are gone)."""
    with signals_held():
        missing = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            probe = out_dir / f".{os.getpid()}.probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            where = Path(e.filename) if e.filename else out_dir
            raise write_error(where, e, "choose another --out") from None
        finally:
            for folder in missing:  # innermost first: leave nothing until training writes
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _forget(out_dir: Path, created: bool) -> None:
    """A run folder this call created and that holds no checkpoint yet is removed (only the
    files training writes), so a failed or interrupted first epoch leaves nothing behind."""
    if not created or (out_dir / CHECKPOINT).is_file() or not out_dir.is_dir():
        return
    for name in RUN_FILES:
        with contextlib.suppress(OSError):
            (out_dir / name).unlink()
    shutil.rmtree(out_dir / "ranks", ignore_errors=True)
    with contextlib.suppress(OSError):
        out_dir.rmdir()


def _data_digest(data: Data) -> str:
    """sha256 of the images and labels a run trains and selects on (after --limit)."""
    digest = hashlib.sha256()
    for split in (data.train, data.validation):
        if split is not None:
            digest.update(np.ascontiguousarray(split.images).tobytes())
            digest.update(np.ascontiguousarray(split.labels).tobytes())
    return digest.hexdigest()


def _resumed_settings(
    checkpoint: dict[str, Any], out_dir: Path, *, limit: int | None, data_dir, mirror,
    init: Path | None, world: int,
) -> tuple[int | None, Any, str | None]:  # fmt: skip
    """The settings a resumed run keeps: an option left out takes the run's value; one given
    with another value than the run's is refused, naming it."""
    saved = checkpoint.get("settings")
    if init is not None:
        raise UserError(
            f"--init {init}: {out_dir} continues from its checkpoint; leave --init out to resume"
        )
    if saved is None:  # a checkpoint from before settings were kept: the options as given
        return limit, data_dir, mirror
    if limit is not None and limit != saved.get("limit"):
        was = f"--limit {saved['limit']}" if saved.get("limit") is not None else "no --limit"
        raise UserError(
            f"--limit {limit}: {out_dir} was started with {was}; a resumed run keeps the settings "
            "it started with: leave --limit out"
        )
    if saved.get("processes", 1) != world:
        raise UserError(
            f"{out_dir} was trained by {saved.get('processes', 1)} processes, this is {world}; "
            f"resume it with --gpus {saved.get('processes', 1)} (or as many torchrun processes)"
        )
    return (
        saved.get("limit"),
        data_dir if data_dir is not None else saved.get("data_dir"),
        mirror if mirror is not None else saved.get("mirror"),
    )


def _calibrate(
    model: QuantNet, arrays: list[np.ndarray], prep: InputPreparer, data: Data, dev, loss: Loss
) -> dict[str, Any]:
    """Fit the LFC read-out offsets on the validation split (calibrate.py) into ``model``'s
    last beta; the accuracies before and after, as the board reads them out."""
    evaluator = _Evaluator(model, prep, data, dev)
    _, val_before, _ = evaluator.evaluate("validation", loss)
    _, test_before, _ = evaluator.evaluate("test", loss)
    logits, labels = evaluator.predict("validation")
    # the last layer's logit moves in steps of gamma * inv_std (its sum is an integer)
    steps = (arrays[-3].astype(np.float64) * arrays[-1].astype(np.float64))[: logits.shape[1]]
    offsets = readout_offsets(logits, labels, steps)
    calibrated = [a.copy() for a in arrays]
    beta = calibrated[-4]  # the last layer's (beta, gamma, mean, inv_std)
    beta[: len(offsets)] = (beta[: len(offsets)].astype(np.float64) + offsets).astype(beta.dtype)
    model.load_arrays(calibrated, "read-out calibration")
    _, val_after, _ = evaluator.evaluate("validation", loss)
    _, test_after, _ = evaluator.evaluate("test", loss)
    return {
        "offsets": [round(float(o), 6) for o in offsets],
        "validation_before": val_before,
        "validation_after": val_after,
        "test_before": test_before,
        "test_after": test_after,
    }


def train_epoch(
    net: torch.nn.Module,
    model: QuantNet,
    optimizer: torch.optim.Optimizer,
    codes: torch.Tensor,
    labels: torch.Tensor,
    order: np.ndarray,
    batch_size: int,
    loss: Loss,
    network: str,
    dev: torch.device,
    rank: int = 0,
    world: int = 1,
    tick: Callable[[], object] = lambda: None,
) -> tuple[float, int]:
    """One pass over the training images in ``order``: forward, loss, backward, Adam step,
    latent weights clipped to [-1, 1]. Returns the summed loss and the images seen."""
    net.train()
    total, seen = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = torch.from_numpy(order[start : start + batch_size][rank::world]).to(codes.device)
        x = InputPreparer.values(codes[index].to(dev, non_blocking=True), network)
        y = labels[index].to(dev, non_blocking=True)
        value = loss(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        model.clip_weights()
        total += float(value.detach()) * len(index)
        seen += len(index)
        tick()
    return total, seen


def build_optimizer(model: QuantNet, lr: float, weight_lr_scale: str) -> torch.optim.Adam:
    """Adam over all parameters; each binarized weight tensor's steps scaled by upstream's
    Glorot factor sqrt((fan_in + fan_out) / 1.5) (or 1)."""
    quantized = model.quantized_weights()
    ids = {id(w) for w, _, _ in quantized}
    groups = [
        {
            "params": [w],
            "scale": math.sqrt((fan_in + fan_out) / 1.5) if weight_lr_scale == "glorot" else 1.0,
        }
        for w, fan_in, fan_out in quantized
    ]
    groups.append({"params": [p for p in model.parameters() if id(p) not in ids], "scale": 1.0})
    try:  # fused: one kernel per step (CPU from torch 2.4, CUDA); the same algorithm otherwise
        optimizer = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["scale"]
    return optimizer


class _Evaluator:
    """Accuracy and loss of a model on the validation and test splits, in large batches."""

    def __init__(self, model: QuantNet, prep: InputPreparer, data: Data, dev: torch.device) -> None:
        self.model = model
        self.dev = dev
        self.network = prep.spec.network
        self.splits = {
            "validation": (prep.compact(data.validation.images), data.validation.labels)
            if data.validation
            else None,
            "test": (prep.compact(data.test.images), data.test.labels),
        }

    @torch.no_grad()
    def predict(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        codes, labels = self.splits[split]
        was = self.model.training
        self.model.eval()
        logits = []
        for start in range(0, len(labels), 2000):
            x = InputPreparer.values(codes[start : start + 2000].to(self.dev), self.network)
            logits.append(self.model(x).float().cpu())
        self.model.train(was)
        return torch.cat(logits).numpy(), labels

    def evaluate(self, split: str, loss: Loss) -> tuple[float | None, float | None, float | None]:
        """Loss, accuracy as the overlay reads the output out, and the logits' argmax accuracy.

        An LFC overlay outputs one bit per class, (logit >= 0) with exact thresholds, and the
        host takes the highest set bit (class 0 if none): that is the accuracy the board gets,
        and what model selection uses. A CNV overlay outputs scores: the argmax.
        """
        if self.splits[split] is None:
            return None, None, None
        logits, labels = self.predict(split)
        value = float(loss(torch.from_numpy(logits), torch.from_numpy(labels)))
        argmax = float((logits.argmax(1) == labels).mean() * 100)
        if self.network != "lfc":
            return value, argmax, argmax
        board = lfc_class((logits >= 0).astype(np.int64), logits.shape[1])
        return value, float((board == labels).mean() * 100), argmax


def _average_buffers(model: QuantNet, world: int) -> None:
    """Batch-norm running statistics, averaged over the processes: every rank then holds the
    same model (the parameters already agree: their gradients are averaged every step)."""
    for buffer in model.buffers():
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        buffer.div_(world)


def _write_weights(path: Path, arrays: list[np.ndarray]) -> None:
    with atomic_file(path, "wb") as f:
        np.savez(f, *arrays)


def _save_checkpoint(
    out_dir: Path, model, optimizer, epoch: int, best, metrics, recipe: Recipe, wall: float,
    settings: dict[str, Any],
) -> None:  # fmt: skip
    state = {
        "format": "bnntool-checkpoint-1",
        "recipe": recipe.to_dict(),
        "settings": settings,
        "epoch": epoch,
        "wall_seconds": wall,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "best": best,
        "metrics": metrics,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(out_dir / CHECKPOINT, buffer.getvalue())


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A run folder's checkpoint, or a one-line error saying why it cannot be resumed."""
    run_dir = path.parent
    if not path.is_file():
        raise UserError(
            f"{run_dir} is not a bnntool run folder (no {CHECKPOINT}); nothing to resume"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise UserError(
            f"{path} is not a readable checkpoint ({reason}); it is damaged (e.g. a copy cut "
            f"short): restore it from a backup, or start a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != "bnntool-checkpoint-1":
        raise UserError(f"{path} is not a bnntool checkpoint")
    return state


def _load_checkpoint(out_dir: Path, recipe: Recipe) -> dict[str, Any]:
    path = out_dir / CHECKPOINT
    state = read_checkpoint(path)
    # keys added to recipes since the checkpoint was written compare at their defaults; the
    # recipe's name, description and file path do not decide the result
    saved = _recipe_of(state, path).identity()
    wanted = recipe.identity()
    if saved != wanted:
        diff = sorted(k for k in {**saved, **wanted} if saved.get(k) != wanted.get(k))
        raise UserError(
            f"{out_dir} was made by another recipe ({state['recipe'].get('name')}; differs in "
            f"{', '.join(diff)}); resume it with the recipe it was started with"
        )
    return state


def saved_recipe(run_dir: Path) -> Recipe:
    """The recipe (with overrides) a run folder was started with."""
    path = Path(run_dir) / CHECKPOINT
    return _recipe_of(read_checkpoint(path), path)


def _recipe_of(state: dict[str, Any], path: Path) -> Recipe:
    raw = {k: v for k, v in state["recipe"].items() if v is not None}
    source = raw.pop("source", "")
    return recipe_from_dict(raw, source or str(path))


def _write_metrics(path: Path, metrics: list[dict[str, Any]]) -> None:
    with atomic_file(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in metrics:
            writer.writerow({k: ("" if v is None else v) for k, v in tidy(row).items()})


def _write_rank_digest(out_dir: Path, rank: int, model: QuantNet) -> None:
    """Each process records a digest of its final weights: all ranks must agree."""
    digest = hashlib.sha256()
    for array in model.to_arrays():
        digest.update(array.tobytes())
    folder = out_dir / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{rank}.sha256").write_text(digest.hexdigest() + "\n")


def _write_run_json(
    out_dir: Path,
    recipe: Recipe,
    base_spec,
    spec,
    data: Data,
    result: RunResult,
    dev,
    world: int,
    settings: dict[str, Any],
    resumed: bool,
) -> None:
    content = {
        "kind": "bnntool-run",
        "bnntool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe.to_dict(),
        "overlay": spec.name,
        "overlay_spec": base_spec.to_json(),
        "input_encoding": recipe.encoding().to_dict() if spec.network == "lfc" else None,
        "image_preparation": recipe.preparation.to_dict(),
        "split": data.split,
        "dataset": recipe.dataset,
        "classes": list(data.classes),
        "limit": settings["limit"],
        "settings": settings,
        "device": str(dev),
        "processes": world,
        "seed": recipe.training.seed,
        "epochs_run": result.epochs,
        "best_epoch": result.best_epoch,
        "validation_accuracy": result.validation_accuracy,
        "test_accuracy": result.test_accuracy,
        "test_accuracy_means": "the board's read-out (highest set class bit)"
        if spec.network == "lfc"
        else "the top score (argmax), as the overlay reads it out",
        "readout_calibration": result.readout_calibration,
        "wall_seconds": round(result.seconds, 1),
        "resumed": resumed,
        "weights_sha256": sha256_file(out_dir / WEIGHTS),
        "versions": {
            "bnntool": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    write_json(out_dir / RUN_JSON, content)


def _plots(
    out_dir: Path,
    metrics: list[dict[str, Any]],
    data: Data,
    predictions: tuple[np.ndarray, np.ndarray],
    network: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bnntool.plots import confusion_figure

    epochs = [m["epoch"] for m in metrics]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [m["train_loss"] for m in metrics], label="train")
    if metrics and metrics[0]["validation_loss"] is not None:
        ax1.plot(epochs, [m["validation_loss"] for m in metrics], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    if metrics and metrics[0]["validation_accuracy"] is not None:
        ax2.plot(epochs, [m["validation_accuracy"] for m in metrics], label="validation")
    if network == "lfc":
        ax2.plot(epochs, [m["test_accuracy"] for m in metrics], label="test, board read-out")
        ax2.plot(
            epochs,
            [m["test_accuracy_argmax"] for m in metrics],
            label="test, trained model's argmax",
            linestyle="--",
        )
    else:
        ax2.plot(epochs, [m["test_accuracy"] for m in metrics], label="test (top score)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.tight_layout()
    _save(fig, out_dir / "curves.png")
    logits, labels = predictions
    n = len(data.classes)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, logits.argmax(1)), 1)
    accuracy = float((logits.argmax(1) == labels).mean() * 100)
    fig = confusion_figure(
        matrix,
        list(data.classes),
        f"{data.name} test (trained model, argmax): {accuracy:.2f}%",
        "predicted by the trained model",
    )
    _save(fig, out_dir / "confusion.png")


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_file(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
