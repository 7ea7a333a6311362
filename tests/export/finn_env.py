"""FINN's compiler (PyPI finn-plus) in a virtual environment of its own, built once and cached.

finn-plus 1.6.1 needs Python >= 3.11 and pins brevitas 0.13.0, whose setuptools < 70 cannot
share an environment with torch 2.13 (setuptools >= 77); it cannot share bnntool's either (it
pins onnx 1.21 and onnxruntime 1.25). So it gets its own: finn-plus without its dependencies,
then the ones its steps import, pinned as finn-plus pins them, torch as the CPU build bnntool
uses (FINN imports torch for one layer type) and no brevitas (the steps run here never import
it), nor cmake, pybind11 and matplotlib (for its RTL simulator and reports).

The environment goes to ``.cache/finn-plus-1.6.1-<hash>/`` in the repository (git-ignored; a CI
re-run in the same clone reuses it); ``<hash>`` changes with this list. CI builds it before the
tests: ``python tests/export/finn_env.py``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FINN = "finn-plus==1.6.1"
REQUIREMENTS = (
    "qonnx==1.0.0",
    "onnx==1.21.0",
    "onnxruntime==1.25.1",
    "protobuf==5.29.6",
    "numpy>=2.4.6,<2.5.0",
    "bitstring>=4.3.1,<4.4.0",
    "click>=8.1.8,<9.0.0",
    "mashumaro[yaml]>=3.15,<4.0",
    "mip==1.17.0",
    "onnx-ir>=0.1.15",
    "onnx-passes>=0.4.0",
    "onnxoptimizer>=0.4.2,<0.5.0",
    "onnxscript>=0.7.0",
    "pandas>=2.3.1,<2.4.0",
    "psutil",  # imported by finn.transformation.fpgadataflow.simulation_build, not declared
    "pydantic>2.0",
    "pyyaml>=6.0.2,<6.1.0",
    "rich>=13.9.4,<14.0.0",
    "scikit-learn>=1.7.2,<1.8.0",
    "scipy>=1.17.0,<1.18.0",
    "termcolor>=2.5.0,<3.0.0",
)
DONE = ".bnntool-complete"


def torch_pin() -> str:
    """The torch of bnntool's environment (its CPU build is what these machines hold)."""
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


def location() -> Path:
    key = "\n".join((FINN, *REQUIREMENTS, torch_pin())).encode()
    return REPO / ".cache" / f"finn-plus-1.6.1-{hashlib.sha256(key).hexdigest()[:10]}"


def interpreter() -> str:
    """A Python >= 3.11 to build the environment with: this one, or one on the PATH."""
    if sys.version_info >= (3, 11):
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("finn-plus needs Python >= 3.11, and none is on the PATH")


def python() -> Path | None:
    """The environment's python, if it has been built completely."""
    env = location()
    return env / "bin" / "python" if (env / DONE).is_file() else None


def build(log=print) -> Path:
    """Build the environment (if it is not there) and return its python."""
    ready = python()
    if ready:
        return ready
    env = location()
    shutil.rmtree(env, ignore_errors=True)  # a build that did not finish
    started = time.monotonic()
    log(f"building {env.relative_to(REPO)} ({FINN}, {torch_pin()}) ...")
    subprocess.run([interpreter(), "-m", "venv", str(env)], check=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, torch_pin()], check=True)
    subprocess.run([*pip, "--no-deps", FINN], check=True)
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    (env / DONE).write_text("\n".join((FINN, *REQUIREMENTS, torch_pin())) + "\n")
    log(f"built in {time.monotonic() - started:.0f} s")
    return env / "bin" / "python"


if __name__ == "__main__":
    build()
