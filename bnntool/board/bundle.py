"""The board runtime as one zipapp: :mod:`bnntool.board.runtime` and every bnntool module it
imports, nothing else, so that a board without internet needs only Python and NumPy.

The module set is the closure of bnntool imports found in the sources (module level and inside
functions); every other import must be the standard library or one the board has (NumPy, PYNQ),
or one listed as host-only below, so a stray torch or click import fails the build, not the board.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import sys
import zipfile
from functools import cache
from pathlib import Path

import bnntool
from bnntool.errors import UserError

PACKAGE = Path(bnntool.__file__).resolve().parent
ROOTS = ("bnntool.board.runtime", "bnntool.board.pl", "bnntool.board.agent")
BOARD_PACKAGES = {"numpy", "pynq"}
# Imported lazily by bundled modules on paths the runtime never takes (image files, TOML specs).
HOST_ONLY = {"PIL", "tomli", "tomllib"}
FORBIDDEN = {"torch", "click", "paramiko", "matplotlib", "tqdm"}
# What the bundled code needs: Python 3.10 (zip(strict=True) in bnntool.sim.model and convert) and
# NumPy 1.20 (numpy.lib.stride_tricks.sliding_window_view in bnntool.sim.model; packbits and
# unpackbits with bitorder, 1.17, in bnntool.board.pl).
MIN_PYTHON = (3, 10)
MIN_NUMPY = (1, 20)
NEEDS = f"Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]} and NumPy >= {MIN_NUMPY[0]}.{MIN_NUMPY[1]}"
# The zipapp's __main__ checks them first, in syntax that old Pythons still parse, so that a
# board whose interpreter changed since setup gets one line, not a traceback.
MAIN = f"""import re, sys
def _refuse(found):
    sys.stderr.write("bnntool-board: error: the board runtime needs {NEEDS}; "
                     + sys.executable + " has " + found + "\\n")
    sys.exit(3)
if tuple(sys.version_info[:2]) < {MIN_PYTHON!r}:
    _refuse("Python %d.%d.%d" % tuple(sys.version_info[:3]))
try:
    import numpy
except Exception:
    _refuse("no NumPy")
_v = re.match(r"(\\d+)\\.(\\d+)", str(numpy.__version__))
if not _v or (int(_v.group(1)), int(_v.group(2))) < {MIN_NUMPY!r}:
    _refuse("NumPy " + str(numpy.__version__))
from bnntool.board.runtime import main
sys.exit(main())
"""
_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same zipapp


class BundleError(RuntimeError):
    """A bundled module imports something the board must not need."""


def _source(module: str) -> Path:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            for alias in node.names:  # `from bnntool.x import y` may name a module y
                if base.startswith("bnntool") and _source(f"{base}.{alias.name}").is_file():
                    found.add(f"{base}.{alias.name}")
    return found


def modules() -> list[str]:
    """Every bnntool module the runtime needs (packages' __init__ included)."""
    todo, seen = list(ROOTS), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        for name in _imports(module, _source(module)):
            top = name.split(".")[0]
            if top == "bnntool":
                todo.append(name)
            elif top in FORBIDDEN:
                raise BundleError(f"{module} imports {name}, which the board runtime must not need")
            elif top not in sys.stdlib_module_names | BOARD_PACKAGES | HOST_ONLY | {"__future__"}:
                raise BundleError(f"{module} imports {name}: not standard library, NumPy or PYNQ")
    return sorted(seen)


def build() -> bytes:
    """The zipapp's bytes (``python3 bnntool-board.pyz ...`` runs it)."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for module in modules():
            path = _source(module)
            arcname = path.relative_to(PACKAGE.parent).as_posix()
            z.writestr(zipfile.ZipInfo(arcname, _EPOCH), path.read_bytes())
        z.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), MAIN)
    return buffer.getvalue()


@cache
def built() -> tuple[bytes, str]:
    """The zipapp and its sha256, built once per process (what setup installs and every run on
    a board checks the installed one against)."""
    data = build()
    return data, sha256(data)


def _version(text: str) -> tuple[int, int] | None:
    parts = re.match(r"(\d+)\.(\d+)", text)
    return (int(parts.group(1)), int(parts.group(2))) if parts else None


def check_versions(host: str, python: str, numpy: str | None, executable: str = "") -> None:
    """Refuse (one-line :class:`UserError`) a board Python or NumPy too old for the runtime."""
    where = f"{host}: {executable or 'python3'}"
    py = _version(python)
    if py is None or py < MIN_PYTHON:
        raise UserError(
            f"{where} is Python {python}; the board runtime needs {NEEDS} (a PYNQ 3.x image has "
            "Python 3.10; PYNQ 2.7 and older have 3.8 or less): use a newer image"
        )
    np_version = _version(numpy) if numpy else None
    if np_version is None or np_version < MIN_NUMPY:
        found = f"NumPy {numpy}" if numpy else "no NumPy"
        raise UserError(
            f"{where} (Python {python}) has {found}; the board runtime needs {NEEDS}: install "
            f"NumPy >= {MIN_NUMPY[0]}.{MIN_NUMPY[1]} for that Python on the board"
        )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
