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
import sys
import zipfile
from pathlib import Path

import bnntool

PACKAGE = Path(bnntool.__file__).resolve().parent
ROOTS = ("bnntool.board.runtime", "bnntool.board.pl", "bnntool.board.agent")
BOARD_PACKAGES = {"numpy", "pynq"}
# Imported lazily by bundled modules on paths the runtime never takes (image files, TOML specs).
HOST_ONLY = {"PIL", "tomli", "tomllib"}
FORBIDDEN = {"torch", "click", "paramiko", "matplotlib", "tqdm"}
MAIN = "import sys\nfrom bnntool.board.runtime import main\nsys.exit(main())\n"
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
