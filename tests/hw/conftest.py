"""Fixtures of the hardware tests: Xilinx's ap_types headers for the g++ C simulation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def _missing(what: str) -> None:
    if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
        pytest.fail(f"{what} (BNNTOOL_REQUIRE_SHARED=1: the C simulation must run)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def ap_types() -> Path:
    value = os.environ.get("BNNTOOL_AP_TYPES")
    if not value:
        _missing(
            "BNNTOOL_AP_TYPES is not set: it names the ap_types headers "
            "(hls4ml/templates/vivado/ap_types of the hls4ml 1.3.0 wheel; .ci/run unpacks them)"
        )
    path = Path(str(value))
    if not (path / "ap_int.h").is_file() or not (path / "hls_stream.h").is_file():
        _missing(f"BNNTOOL_AP_TYPES={path} has no ap_int.h and hls_stream.h")
    if shutil.which("g++") is None:
        _missing("g++ is not installed")
    return path
