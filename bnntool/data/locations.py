"""Where dataset files live: the data directory (cache) and the optional mirror."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "BNNTOOL_DATA_DIR"
MIRROR_ENV = "BNNTOOL_MIRROR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``explicit`` (``--data-dir``), else ``$BNNTOOL_DATA_DIR``, else the
    user's cache directory (``~/.cache/bnntool/datasets`` on Linux). Each dataset is a
    sub-folder holding its files under their official names."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("bnntool")) / "datasets"


def resolve_mirror(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """The mirror: ``explicit`` (``--mirror``), else ``$BNNTOOL_MIRROR``, else None (official URLs).

    A mirror is a URL prefix (``https://host/path``) or a local folder laid out like the data
    directory: ``<mirror>/<dataset>/<official file name>``.
    """
    value = os.fspath(explicit) if explicit else os.environ.get(MIRROR_ENV)
    return value or None


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))
