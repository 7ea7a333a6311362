"""The tools a build needs: Vivado HLS and Vivado (found and version-checked), and finn-hlslib
(given with --hlslib, or a cached git checkout at the pinned commit)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from bnntool.errors import UserError
from bnntool.hw.sources import HLSLIB_COMMIT

# finn-hlslib at the pinned commit was ported to Vivado HLS 2019.2; Vivado HLS ends with 2020.1
# (later releases ship Vitis HLS, which these sources are not written for).
SUPPORTED_VERSIONS = ("2019.2", "2020.1")
HLSLIB_URL = "https://github.com/Xilinx/finn-hlslib.git"
HLSLIB_MARKER = "bnn-library.h"
_VERSION = re.compile(r"\bv(\d{4}\.\d)\b")


class ToolError(UserError):
    """A tool that is missing, unsupported or unobtainable."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str


def find_tool(name: str, vivado_dir: Path | None) -> Path:
    """``name`` (vivado_hls or vivado) from --vivado-dir, then $XILINX_VIVADO, then PATH."""
    places: list[Path] = []
    if vivado_dir is not None:
        places += [vivado_dir / "bin", vivado_dir]
    for var in (
        ("XILINX_VIVADO", "XILINX_VIVADO_HLS") if name == "vivado_hls" else ("XILINX_VIVADO",)
    ):
        if os.environ.get(var):
            places.append(Path(os.environ[var]) / "bin")
    for place in places:
        candidate = place / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if vivado_dir is None:
        found = shutil.which(name)
        if found:
            return Path(found)
    where = f"in {vivado_dir} or its bin/" if vivado_dir is not None else "on PATH"
    raise ToolError(
        f"{name} not found {where}: install Vivado {' or '.join(SUPPORTED_VERSIONS)} (with "
        "Vivado HLS) and run 'source <Xilinx>/Vivado/<version>/settings64.sh', or give "
        "--vivado-dir <Xilinx>/Vivado/<version>"
    )


def tool_version(path: Path) -> str:
    """The release (e.g. "2019.2") that ``path -version`` prints."""
    try:
        proc = subprocess.run(
            [str(path), "-version"], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolError(f"cannot run {path} -version: {e}") from None
    match = _VERSION.search(proc.stdout + proc.stderr)
    if not match:
        raise ToolError(f"{path} -version printed no version (exit status {proc.returncode})")
    return match.group(1)


def get_tool(name: str, vivado_dir: Path | None) -> Tool:
    """Find ``name`` and refuse a version the generated sources are not made for."""
    path = find_tool(name, vivado_dir)
    version = tool_version(path)
    if version not in SUPPORTED_VERSIONS:
        raise ToolError(
            f"{name} {version} ({path}) is not supported; supported versions: "
            f"{', '.join(SUPPORTED_VERSIONS)}"
        )
    return Tool(name, path, version)


def hlslib_cache() -> Path:
    return Path(platformdirs.user_cache_dir("bnntool")) / f"finn-hlslib-{HLSLIB_COMMIT[:12]}"


def check_hlslib(path: Path) -> Path:
    if not (path / HLSLIB_MARKER).is_file():
        raise ToolError(
            f"--hlslib {path} is not a finn-hlslib checkout (no {HLSLIB_MARKER}); clone "
            f"{HLSLIB_URL} and check out commit {HLSLIB_COMMIT}"
        )
    return path.resolve()


def get_hlslib(option: Path | None, *, fetch: bool = True) -> Path:
    """finn-hlslib: ``option``, else the cached checkout, cloned at the pinned commit if absent
    (only when ``fetch``; a dry run names the cache without filling it)."""
    if option is not None:
        return check_hlslib(option)
    cache = hlslib_cache()
    if (cache / HLSLIB_MARKER).is_file() or not fetch:
        return cache
    url = os.environ.get("BNNTOOL_HLSLIB_URL", HLSLIB_URL)
    git = shutil.which("git")
    if git is None:
        raise ToolError(
            f"git is not installed, so finn-hlslib cannot be fetched; install git or give "
            f"--hlslib DIR (a checkout of {HLSLIB_URL} at commit {HLSLIB_COMMIT})"
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".finn-hlslib.", dir=cache.parent))
    try:
        for args in (
            ["clone", "--quiet", url, str(tmp / "repo")],
            ["-C", str(tmp / "repo"), "checkout", "--quiet", HLSLIB_COMMIT],
        ):
            proc = subprocess.run(
                [git, *args], capture_output=True, text=True, timeout=600, check=False
            )
            if proc.returncode:
                reason = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
                raise ToolError(
                    f"cannot get finn-hlslib {HLSLIB_COMMIT[:12]} from {url} ({reason}); "
                    f"offline? give --hlslib DIR, a checkout of {HLSLIB_URL} at commit "
                    f"{HLSLIB_COMMIT}"
                )
        os.replace(tmp / "repo", cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check_hlslib(cache)
