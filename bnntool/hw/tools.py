"""The tools a build needs: Vivado and the release's HLS front end (found and version-checked),
and finn-hlslib at the commit of the release's generation (given with --hlslib, or a cached git
checkout)."""

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
from bnntool.hw.releases import RELEASES, Generation, Release

HLSLIB_URL = "https://github.com/Xilinx/finn-hlslib.git"
HLSLIB_MARKER = "bnn-library.h"
# finn-hlslib 8b7f5f5 has fclayer.h (StreamingFCLayer_Batch); the current generation dropped it
_LEGACY_ONLY = "fclayer.h"
_VERSION = re.compile(r"\bv(\d{4}\.\d)\b")
_PATH_VERSION = re.compile(r"(?<!\d)(\d{4}\.\d)(?!\d)")


class ToolError(UserError):
    """A tool that is missing, unsupported or unobtainable."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str


def _install_hint(name: str, release: Release | None) -> str:
    if name == "vivado" or release is None:
        return (
            "install Vivado (supported releases: "
            f"{', '.join(RELEASES)}) and run 'source <Xilinx>/Vivado/<release>/settings64.sh', or "
            "give --vivado-dir <Xilinx>/Vivado/<release>"
        )
    where = "Vivado" if name == "vivado_hls" else "Vitis (or Vitis HLS)"
    return (
        f"{name} comes with {where} {release.version}: source its settings64.sh, or give "
        f"--vivado-dir <Xilinx>/Vivado/{release.version} with it installed beside Vivado"
    )


def _places(name: str, vivado_dir: Path | None, release: Release | None) -> list[Path]:
    """Folders that may hold ``name``: --vivado-dir and the installs beside it, then the
    variables that the release's settings64.sh sets."""
    places: list[Path] = []
    if vivado_dir is not None:
        places += [vivado_dir / "bin", vivado_dir]
        if name != "vivado":
            # <X>/Vivado/<ver> beside <X>/Vitis_HLS/<ver> and <X>/Vitis/<ver> (up to 2024.2), or
            # <X>/<ver>/Vivado beside <X>/<ver>/Vitis (2025.1 on)
            for install in ("Vitis_HLS", "Vitis"):
                places.append(vivado_dir.parent.parent / install / vivado_dir.name / "bin")
                places.append(vivado_dir.parent / install / "bin")
    env = ("XILINX_VIVADO",) if name == "vivado" else (release.hls_env if release else ())
    for var in env:
        if os.environ.get(var):
            places.append(Path(os.environ[var]) / "bin")
    return places


def find_tool(name: str, vivado_dir: Path | None, release: Release | None = None) -> Path:
    """``name`` (vivado, vivado_hls, vitis_hls or vitis-run) from --vivado-dir and the installs
    beside it, then the release's variables, then PATH."""
    for place in _places(name, vivado_dir, release):
        candidate = place / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if vivado_dir is None:
        found = shutil.which(name)
        if found:
            return Path(found)
    where = f"in or beside {vivado_dir}" if vivado_dir is not None else "on PATH"
    raise ToolError(f"{name} not found {where}: {_install_hint(name, release)}")


def tool_version(path: Path) -> str:
    """The release (e.g. "2019.2") of a tool. vivado, vivado_hls and vitis_hls print it with
    ``-version``; vitis-run's release is read from its install path (<X>/Vitis/2024.2/bin or
    <X>/2025.1/Vitis/bin), as it has no such option in every release."""
    if path.name == "vitis-run":
        found = _PATH_VERSION.findall(str(path.resolve()))
        if not found:
            raise ToolError(
                f"cannot tell the release of {path}: its path names none (expected an install "
                "such as <Xilinx>/Vitis/2024.2/bin/vitis-run); give --vivado-dir"
            )
        return found[-1]
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


def get_tool(name: str, vivado_dir: Path | None, release: Release | None = None) -> Tool:
    """Find ``name``; refuse a release the generated sources are not made for, or one other than
    ``release`` when given."""
    path = find_tool(name, vivado_dir, release)
    version = tool_version(path)
    if release is None and version not in RELEASES:
        raise ToolError(
            f"{name} {version} ({path}) is not supported; supported releases: {', '.join(RELEASES)}"
        )
    if release is not None and version != release.version:
        raise ToolError(
            f"{name} at {path} is release {version}, but this build is for {release.version}; "
            f"put {name} {release.version} first on PATH or give --vivado-dir (or build for "
            f"{version} with --vivado-version {version})"
        )
    return Tool(name, path, version)


def hlslib_cache(generation: Generation) -> Path:
    commit = generation.hlslib_commit
    return Path(platformdirs.user_cache_dir("bnntool")) / f"finn-hlslib-{commit[:12]}"


def check_hlslib(path: Path, generation: Generation) -> Path:
    """A finn-hlslib checkout of ``generation``'s line; one-line errors otherwise."""
    commit = generation.hlslib_commit
    if not (path / HLSLIB_MARKER).is_file():
        raise ToolError(
            f"--hlslib {path} is not a finn-hlslib checkout (no {HLSLIB_MARKER}); clone "
            f"{HLSLIB_URL} and check out commit {commit}"
        )
    legacy = (path / _LEGACY_ONLY).is_file()
    if legacy != (generation.name == "legacy"):
        kind = "an older finn-hlslib (it has" if legacy else "a newer finn-hlslib (it lacks"
        raise ToolError(
            f"--hlslib {path} is {kind} {_LEGACY_ONLY}) than the {generation.name} sources need; "
            f"check out commit {commit[:12]} of {HLSLIB_URL}"
        )
    return path.resolve()


def get_hlslib(option: Path | None, generation: Generation, *, fetch: bool = True) -> Path:
    """finn-hlslib: ``option``, else the cached checkout, cloned at the generation's commit if
    absent (only when ``fetch``; a dry run names the cache without filling it)."""
    if option is not None:
        return check_hlslib(option, generation)
    commit = generation.hlslib_commit
    cache = hlslib_cache(generation)
    if (cache / HLSLIB_MARKER).is_file() or not fetch:
        return cache
    url = os.environ.get("BNNTOOL_HLSLIB_URL", HLSLIB_URL)
    git = shutil.which("git")
    if git is None:
        raise ToolError(
            f"git is not installed, so finn-hlslib cannot be fetched; install git or give "
            f"--hlslib DIR (a checkout of {HLSLIB_URL} at commit {commit})"
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".finn-hlslib.", dir=cache.parent))
    try:
        for args in (
            ["clone", "--quiet", url, str(tmp / "repo")],
            ["-C", str(tmp / "repo"), "checkout", "--quiet", commit],
        ):
            proc = subprocess.run(
                [git, *args], capture_output=True, text=True, timeout=600, check=False
            )
            if proc.returncode:
                reason = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
                raise ToolError(
                    f"cannot get finn-hlslib {commit[:12]} from {url} ({reason}); "
                    f"offline? give --hlslib DIR, a checkout of {HLSLIB_URL} at commit {commit}"
                )
        os.replace(tmp / "repo", cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check_hlslib(cache, generation)
