"""`bnntool pipeline`: fetch, train, convert and verify in one command, resumable.

Without ``--weights`` it trains the dataset's recipe (``fashion-mnist`` -> fashion-mnist-lfcW1A1)
into ``<out>/run``; an interrupted training is resumed from its checkpoint.

Each stage writes into the output folder and is skipped on a later run when its outputs are
there and record the same inputs (the manifest of the parameter folder names the source .npz
by sha256 and the threshold mode; the verification report names the folder's manifest).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bnntool.artifacts import MANIFEST, changed_files, read_manifest, sha256_file, write_json
from bnntool.convert import convert, run_encoding
from bnntool.data import check_fetched, fetch, get_dataset
from bnntool.data.locations import resolve_data_dir
from bnntool.encoding import encoded_spec
from bnntool.errors import Interrupted, UserError
from bnntool.overlay import OverlaySpec, load_overlay
from bnntool.train.recipe import recipe_from_dict
from bnntool.verify import VerifyReport, judge, verify

DEFAULT_OVERLAY = {
    "mnist": "lfcW1A1",
    "fashion-mnist": "lfcW1A1",
    "cifar-10": "cnvW1A1",
    "gtsrb": "cnvW1A1",
}


@dataclass
class StageResult:
    stage: str
    status: str  # "done" or "skipped" (already up to date)
    detail: str


@dataclass
class PipelineResult:
    out_dir: Path
    dataset: str
    overlay: str
    weights: Path
    params: Path
    stages: list[StageResult] = field(default_factory=list)
    verify: VerifyReport | None = None


def run_pipeline(
    dataset: str,
    *,
    overlay: str | None = None,
    recipe: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    thresholds: str = "exact",
    epochs: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    limit: int | None = None,
    train_limit: int | None = None,
    min_accuracy: float | None = None,
    min_agreement: float | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> PipelineResult:
    """Fetch, train (unless ``weights`` are given), convert and verify; see the module doc."""
    info = get_dataset(dataset)
    chosen = None
    if weights is not None:
        training_only = {
            "--recipe": recipe,
            "--epochs": epochs,
            "--seed": seed,
            "--train-limit": train_limit,
            "--device": device,
        }
        given = [option for option, value in training_only.items() if value is not None]
        if given:
            named = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
            raise UserError(
                f"{named} set the training, and --weights {weights} skips it; "
                "leave out --weights to train, or the training options to convert those weights"
            )
    else:
        from bnntool.train import load_recipe

        name = recipe or (f"{info.name}-{overlay}" if overlay else info.name)
        chosen = load_recipe(name).with_overrides(epochs=epochs, seed=seed)
        if chosen.dataset != info.name:
            raise UserError(f"recipe {chosen.name} trains on {chosen.dataset}, not {info.name}")
        overlay = chosen.overlay
    spec: OverlaySpec = load_overlay(overlay or DEFAULT_OVERLAY[info.name])
    out = Path(out_dir) if out_dir else Path(f"bnntool-{info.name}-{spec.name}")
    run_dir = out / "run"
    weights_path = Path(weights) if weights is not None else run_dir / "weights.npz"
    if weights is not None and not weights_path.is_file():
        raise UserError(f"weights file {weights_path} does not exist")
    result = PipelineResult(out, info.name, spec.name, weights_path, out / "params")
    total = 3 if chosen is None else 4
    step = 1

    log(f"[{step}/{total}] fetch {info.name}")
    folder = resolve_data_dir(data_dir) / info.name
    if all((folder / f.name).is_file() for f in info.files):
        check_fetched(info.name, data_dir)
        result.stages.append(StageResult("fetch", "skipped", f"{folder} (checked)"))
    else:
        fetched = fetch(info.name, data_dir, mirror, log=log)
        result.stages.append(StageResult("fetch", "done", str(fetched.directory)))
    if chosen is not None:
        step += 1
        log(f"[{step}/{total}] train {chosen.name} ({chosen.training.epochs} epochs)")
        try:
            stage = _train_stage(
                chosen, run_dir, device or "auto", data_dir, mirror, train_limit, log
            )
        except Interrupted as e:
            raise Interrupted(f"{e}; or run the same bnntool pipeline command again") from None
        result.stages.append(stage)

    step += 1
    log(f"[{step}/{total}] convert {weights_path} for {spec.name}")
    result.stages.append(
        _convert_stage(spec, weights_path, result.params, list(info.classes), thresholds)
    )

    step += 1
    log(f"[{step}/{total}] verify on {info.name} test")
    report_path = out / "verify.json"
    result.verify, stage = _verify_stage(
        result.params, info.name, weights_path, limit, data_dir, report_path
    )
    result.stages.append(stage)
    result.verify.gates = judge(result.verify, min_accuracy, min_agreement)
    return result


def _train_stage(recipe, run_dir: Path, device: str, data_dir, mirror, limit, log) -> StageResult:
    from bnntool.train import train
    from bnntool.train.loop import CHECKPOINT, RUN_JSON

    if (run_dir / RUN_JSON).is_file():
        done = _run_json(run_dir / RUN_JSON)
        try:
            same = (
                recipe_from_dict(
                    {k: v for k, v in done["recipe"].items() if v is not None and k != "source"},
                    str(run_dir / RUN_JSON),
                ).identity()
                == recipe.identity()
            )
        except (KeyError, TypeError, AttributeError, UserError):
            same = False
        if same and done.get("limit") == limit:
            return StageResult(
                "train", "skipped", f"{run_dir} is trained ({done['test_accuracy']:.2f}% test)"
            )
        what = "recipe" if not same else f"--train-limit (it used {done.get('limit')})"
        raise UserError(
            f"{run_dir} holds a finished run of another {what}; choose another --out, or give "
            "the options it was made with"
        )
    resume = (run_dir / CHECKPOINT).is_file()
    trained = train(
        recipe,
        run_dir,
        device=device,
        limit=limit,
        data_dir=data_dir,
        mirror=mirror,
        resume=resume,
        log=log,
    )
    what = "resumed" if resume else "done"
    return StageResult(
        "train", what, f"best epoch {trained.best_epoch}, {trained.test_accuracy:.2f}% test"
    )


def _convert_stage(
    spec: OverlaySpec, weights: Path, params: Path, classes: list[str], thresholds: str
) -> StageResult:
    manifest = read_manifest(params) if params.is_dir() else None
    digest = sha256_file(weights)
    effective = encoded_spec(spec, run_encoding(weights))
    if (
        manifest is not None
        and manifest.get("source", {}).get("sha256") == digest
        and manifest.get("thresholds") == thresholds
        and manifest.get("overlay_spec") == effective.to_json()
        and manifest.get("classes") == classes
        and not changed_files(params, manifest)  # an edited folder is converted again
    ):
        return StageResult("convert", "skipped", f"{params} is up to date")
    converted = convert(weights, spec, params, classes=classes, thresholds=thresholds, force=True)
    return StageResult(
        "convert", "done", f"{converted.files} files, {converted.thresholds} thresholds"
    )


def _verify_stage(
    params: Path, dataset: str, weights: Path, limit: int | None, data_dir, report: Path
) -> tuple[VerifyReport, StageResult]:
    params_digest = sha256_file(params / MANIFEST)
    stamp = report.with_name("verify.inputs.json")
    inputs = {
        "params_manifest": params_digest,
        "weights": sha256_file(weights),
        "limit": limit,
        "dataset": dataset,
    }
    if report.is_file() and stamp.is_file() and _run_json(stamp) == inputs:
        saved = _run_json(report)
        return _report_from_json(saved), StageResult("verify", "skipped", f"{report} is up to date")
    result = verify(params, dataset, against=weights, limit=limit, data_dir=data_dir, report=report)
    write_json(stamp, inputs)
    return result, StageResult("verify", "done", f"{result.images} images")


def _run_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path} is not readable JSON ({e}); remove it to redo that stage"
        ) from None
    if not isinstance(value, dict):
        raise UserError(f"{path} is not a bnntool record; remove it to redo that stage")
    return value


def _report_from_json(saved: dict) -> VerifyReport:
    from bnntool.verify import Agreement

    against = saved.pop("against", None)
    report = VerifyReport(**saved)
    report.against = Agreement(**against) if against else None
    return report
