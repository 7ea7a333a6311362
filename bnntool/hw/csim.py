"""The C simulation of the generated HLS without an HLS tool: g++ compiles ``top.cpp`` and
``tb.cpp`` against finn-hlslib and the ap_types headers, and the test bench classifies one image
of a parameter folder. The executable is kept in the build folder and rebuilt only when its
inputs change, so classifying more images costs one compile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnntool.errors import UserError
from bnntool.hw.releases import Generation
from bnntool.hw.sources import Csim, SourceTree, write_text
from bnntool.resources import shipped_dir

AP_TYPES_HINT = (
    "the hls4ml wheel ships them: 'pip download --no-deps hls4ml==1.3.0', unzip its "
    "hls4ml/templates/vivado/ap_types folder and give it with --ap-types"
)
# hls::stream's C model reports these when a stream is read empty or destroyed holding data:
# a width or word-count mismatch in the dataflow chain, even where the class comes out right
_STREAM_FAULTS = ("read while empty", "leftover data")
_SCORE = re.compile(r"^score (\d+): (-?\d+)$", re.M)
_CLASS = re.compile(r"^class (\d+), expected (\d+): (PASS|FAIL)$", re.M)
_WORD = re.compile(r"^output word (0x[0-9a-f]+)$", re.M)


class CsimError(UserError):
    """A C simulation that cannot run or did not classify as expected."""


@dataclass
class CsimResult:
    simulator: str  # "g++" or the HLS tool that ran it
    predicted: int | None
    expected: int
    passed: bool
    scores: list[int] | None
    output_word: str | None
    compile_seconds: float
    run_seconds: float
    log: Path


def find_ap_types(option: Path | None) -> Path:
    """The ap_types folder: --ap-types, else $BNNTOOL_AP_TYPES; one-line error otherwise."""
    path = option or (
        Path(os.environ["BNNTOOL_AP_TYPES"]) if os.environ.get("BNNTOOL_AP_TYPES") else None
    )
    if path is None:
        raise CsimError(f"the C simulation with g++ needs the ap_types headers; {AP_TYPES_HINT}")
    missing = [h for h in ("ap_int.h", "hls_stream.h") if not (path / h).is_file()]
    if missing:
        raise CsimError(
            f"--ap-types {path} has no {' or '.join(missing)}: not an ap_types folder; "
            f"{AP_TYPES_HINT}"
        )
    return path.resolve()


def parse_output(text: str) -> tuple[int | None, int | None, list[int] | None, str | None]:
    """(predicted class, expected class, scores, output word) from the test bench's output."""
    match = _CLASS.search(text)
    scores = [int(v) for _, v in _SCORE.findall(text)] or None
    word = _WORD.search(text)
    predicted = int(match.group(1)) if match else None
    expected = int(match.group(2)) if match else None
    return predicted, expected, scores, word.group(1) if word else None


def describe(result: CsimResult) -> str:
    seen = "no class" if result.predicted is None else f"class {result.predicted}"
    detail = ""
    if result.scores is not None:
        detail = "; scores " + " ".join(f"{i}:{s}" for i, s in enumerate(result.scores))
    elif result.output_word is not None:
        detail = f"; output word {result.output_word}"
    return f"{seen}, expected {result.expected}{detail}"


def _fingerprint(parts: list[Path], flags: list[str]) -> str:
    digest = hashlib.sha256(" ".join(flags).encode())
    for part in parts:
        if part.is_dir():
            files = sorted(
                p for p in part.rglob("*") if p.suffix in (".h", ".hpp") and ".git" not in p.parts
            )
        else:
            files = [part]
        for f in files:
            digest.update(str(f).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def compile_csim(
    tree: SourceTree, hlslib: Path, ap_types: Path, generation: Generation, out_dir: Path
) -> tuple[Path, float, Path]:
    """Build (or reuse) the C simulation executable; returns it, the compile seconds (0 when
    reused) and the compile log."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise CsimError(
            "g++ not found: install it (Debian/Ubuntu: apt-get install g++) or run the C "
            "simulation with an HLS tool"
        )
    includes = [hlslib, ap_types]
    if not (ap_types / "ap_axi_sdata.h").is_file():
        includes.append(shipped_dir("hls") / "csim-include")
    flags = [
        f"-std={generation.cxx_std}",
        "-O1",
        "-Wall",
        "-Wno-unknown-pragmas",
        *[f"-I{p}" for p in (*includes, tree.hls_dir)],
    ]
    sources = [tree.hls_dir / "top.cpp", tree.hls_dir / "tb.cpp"]
    out_dir.mkdir(parents=True, exist_ok=True)
    exe, stamp, log = out_dir / "csim", out_dir / "csim.json", out_dir / "compile.log"
    key = _fingerprint([*includes, tree.hls_dir / "config.h", *sources], flags)
    if exe.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return exe, 0.0, log
    started = time.monotonic()
    tmp = out_dir / ".csim.tmp"
    argv = [gxx, *flags, *map(str, sources), "-o", str(tmp)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
    except subprocess.TimeoutExpired:
        raise CsimError(f"g++ took more than 20 minutes on {tree.hls_dir}") from None
    write_text(log, " ".join(argv) + "\n" + done.stderr)
    if done.returncode:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln][:2]
        raise CsimError(
            f"g++ could not compile the C simulation ({log}): " + " | ".join(errors or ["failed"])
        )
    os.replace(tmp, exe)
    write_text(stamp, json.dumps({"key": key}) + "\n")
    return exe, time.monotonic() - started, log


def run_csim(exe: Path, csim: Csim, log: Path) -> tuple[str, float]:
    """Run the test bench on one image; returns its output and the seconds it took."""
    started = time.monotonic()
    args = [str(exe), str(csim.params), str(csim.image), str(csim.expected), str(csim.index)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired:
        raise CsimError(f"the C simulation ran for more than 30 minutes ({exe})") from None
    text = done.stdout + done.stderr
    write_text(log, " ".join(args) + "\n" + text)
    if done.returncode not in (0, 1):  # 1: a class other than the expected one
        last = (text.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise CsimError(f"the C simulation stopped: {last} (see {log})")
    for fault in _STREAM_FAULTS:
        if fault in text:
            raise CsimError(
                f"the C simulation's streams report '{fault}': a width or word-count mismatch "
                f"in the dataflow chain of the generated top.cpp (see {log})"
            )
    return text, time.monotonic() - started


def simulate(
    tree: SourceTree,
    hlslib: Path,
    ap_types: Path,
    generation: Generation,
    csim: Csim,
    build_dir: Path,
) -> CsimResult:
    """Compile (once) and run the C simulation with g++ on ``csim``'s image."""
    exe, compile_seconds, _ = compile_csim(
        tree, hlslib, ap_types, generation, build_dir / "csim" / generation.name
    )
    log = build_dir / "logs" / "csim.log"
    text, run_seconds = run_csim(exe, csim, log)
    return result_from_output(text, "g++", csim, compile_seconds, run_seconds, log)


def result_from_output(
    text: str, simulator: str, csim: Csim, compile_seconds: float, run_seconds: float, log: Path
) -> CsimResult:
    predicted, _, scores, word = parse_output(text)
    return CsimResult(
        simulator=simulator,
        predicted=predicted,
        expected=csim.expected,
        passed=predicted == csim.expected,
        scores=scores,
        output_word=word,
        compile_seconds=round(compile_seconds, 2),
        run_seconds=round(run_seconds, 2),
        log=log,
    )


def as_json(result: CsimResult) -> dict[str, Any]:
    return {
        "simulator": result.simulator,
        "class": result.predicted,
        "expected": result.expected,
        "passed": result.passed,
        "scores": result.scores,
        "output_word": result.output_word,
        "compile_seconds": result.compile_seconds,
        "run_seconds": result.run_seconds,
        "log": str(result.log),
    }
