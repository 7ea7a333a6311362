"""What every command shares: --json, --mirror, --data-dir, JSON output, messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from bnntool.artifacts import tidy


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(value: Any) -> None:
    """Write one JSON document to stdout (what ``--json`` promises scripts)."""
    click.echo(json.dumps(tidy(_jsonable(value)), indent=2, ensure_ascii=False))


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def log(message: str) -> None:
    click.echo(message, err=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON document on stdout for scripts."
)
mirror_option = click.option(
    "--mirror",
    envvar="BNNTOOL_MIRROR",
    show_envvar=True,
    metavar="DIR|URL",
    help="Fetch datasets from this folder or URL prefix, laid out as <dataset>/<official file "
    "name>, instead of the official URLs.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BNNTOOL_DATA_DIR",
    show_envvar=True,
    help="Where datasets are kept (default: ~/.cache/bnntool/datasets).",
)
dataset_option = click.option(
    "--dataset",
    required=True,
    help="Dataset name (mnist, fashion-mnist, ...) or image folder (its pictures prepared and "
    "split as the params folder's run recorded).",
)
split_option = click.option(
    "--split",
    type=click.Choice(["test", "train", "all"]),
    default="test",
    show_default=True,
    help="all: every image of an image folder.",
)
