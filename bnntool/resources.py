"""Find the user-editable folders that ship with bnntool.

``training/`` (recipes), ``finnthesizer/`` (overlay specs), ``hls/`` and ``vivado/`` (hardware
sources) live at the top level of the repository. In a wheel they are packed as
``bnntool/_shipped/<kind>``; in a source checkout or editable install they are found next to the
``bnntool`` package. This module is the only place that knows both locations.

It imports only the standard library, so ``python -m bnntool.resources training`` lists the
shipped files even where bnntool's dependencies are not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

KINDS = ("training", "finnthesizer", "hls", "vivado")

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """Return the folder of one kind of shipped resource (``training``, ``finnthesizer``, ...)."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
    for candidate in (_PACKAGE_DIR / "_shipped" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"bnntool's {kind}/ folder is missing from this installation ({_PACKAGE_DIR}); "
        "reinstall bnntool"
    )


def list_shipped(kind: str, suffix: str = ".toml") -> list[Path]:
    """Return the shipped files of ``kind`` whose names end in ``suffix``, sorted by name."""
    return sorted(p for p in shipped_dir(kind).iterdir() if p.is_file() and p.name.endswith(suffix))


def _main(argv: list[str]) -> int:
    kind = argv[0] if argv else "training"
    suffix = argv[1] if len(argv) > 1 else ".toml"
    print(shipped_dir(kind))
    for path in list_shipped(kind, suffix):
        print(path.name)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
