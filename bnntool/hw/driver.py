"""``bnntool build``: sources from the spec for a tool release, then the release's HLS tool and
Vivado, resumable step by step; or the C simulation alone (``--stage csim``), with the HLS tool
when one is installed and with g++ otherwise.

Build folder layout::

    DIR/build.json          what is built (overlay spec, board) and which steps finished
    DIR/src/hls/            config.h, top.cpp, tb.cpp, hls-syn.tcl, hls-csim.tcl
    DIR/src/vivado/         make-project.tcl, ps.tcl (the board's PS) and constraints
    DIR/hls/                the HLS tool's working folder (IP in hls-proj/sol1/impl/ip)
    DIR/csim/<generation>/  the g++ C simulation executable and its compile log
    DIR/vivado/             Vivado's project, procsys.tcl and reports/
    DIR/logs/               hls.log, vivado.log: each tool's full output
    DIR/report.json         timing and utilisation (and the HLS estimates, the planner's)
    DIR/bitstream/          <overlay>-<board>.bit/.hwh/.tcl and manifest.json
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bnntool.artifacts import output_folder, write_manifest
from bnntool.errors import UserError
from bnntool.hw.boards import Board, get_board
from bnntool.hw.csim import (
    CsimError,
    describe,
    find_ap_types,
    parse_output,
    result_from_output,
    simulate,
)
from bnntool.hw.csim import as_json as csim_json
from bnntool.hw.plan import Estimate, check_fits
from bnntool.hw.releases import DEFAULT_RELEASE, Release, get_release
from bnntool.hw.reports import parse_hls, parse_timing, parse_utilization
from bnntool.hw.sources import (
    HLS_PROJECT,
    VIVADO_PROJECT,
    Csim,
    SourceTree,
    copy_file,
    write_sources,
    write_text,
)
from bnntool.hw.tools import (
    HLSLIB_MARKER,
    HLSLIB_URL,
    Tool,
    ToolError,
    find_tool,
    get_hlslib,
    get_tool,
    tool_version,
)
from bnntool.overlay import OverlaySpec, overlay_of

STATE = "build.json"
STAGES = {
    "csim": ("csim",),
    "hls": ("hls",),
    "bitstream": ("vivado", "collect"),
    "all": ("hls", "vivado", "collect"),
}
_BAD_LINE = re.compile(r"^\s*(ERROR|CRITICAL WARNING)\b")


class BuildError(UserError):
    """A build step that failed: the tool's error lines, or a result that is not usable."""


@dataclass(frozen=True)
class Command:
    step: str
    cwd: Path
    argv: list[str]
    log: Path

    def shell(self) -> str:
        return f"cd {shlex.quote(str(self.cwd))} && {shlex.join(self.argv)}"


@dataclass
class StepResult:
    step: str
    status: str  # "ran", "skipped" (finished before: resumed past it) or "planned" (dry run)
    seconds: float = 0.0
    log: Path | None = None


@dataclass
class BuildResult:
    build_dir: Path
    overlay: str
    board: str
    stage: str
    dry_run: bool
    commands: list[str]
    steps: list[StepResult]
    estimate: dict[str, Any]
    release: str = DEFAULT_RELEASE
    generation: str = "current"
    tools: dict[str, str] = field(default_factory=dict)
    csim: dict[str, Any] | None = None
    report: Path | None = None
    bitstream_dir: Path | None = None
    timing: dict[str, Any] | None = None
    utilization: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# State of a build folder


def _read_state(
    build_dir: Path, spec: OverlaySpec, board: Board, release: Release
) -> dict[str, Any]:
    path = build_dir / STATE
    fresh = {
        "overlay": spec.name,
        "board": board.name,
        "release": release.version,
        "spec": spec.to_json(),
        "done": {},
    }
    if not build_dir.exists():
        return fresh
    if not build_dir.is_dir():
        raise UserError(f"--out {build_dir} is a file, not a folder")
    if not path.is_file():
        if any(build_dir.iterdir()):
            raise UserError(
                f"--out {build_dir} exists and is not a bnntool build folder (no {STATE}); "
                "choose another --out"
            )
        return fresh
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path} is not readable ({e}); remove {build_dir} and build again"
        ) from None
    if state.get("spec") != spec.to_json() or state.get("board") != board.name:
        raise UserError(
            f"{build_dir} holds the build of overlay {state.get('overlay')} for "
            f"{state.get('board')}, not {spec.name} for {board.name}; choose another --out or "
            "remove it"
        )
    if state.get("release", "2019.2") != release.version:
        raise UserError(
            f"{build_dir} holds a build for Vivado {state.get('release', '2019.2')}, not "
            f"{release.version}; choose another --out, or give --vivado-version "
            f"{state.get('release', '2019.2')}"
        )
    state.setdefault("done", {})
    return state


def _write_state(build_dir: Path, state: dict[str, Any]) -> None:
    write_text(build_dir / STATE, json.dumps(state, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Running one tool


class _Status:
    """A live one-line status on a terminal: step, elapsed time, the tool's latest line."""

    def __init__(self, step: str, stream: TextIO) -> None:
        self.step = step
        self.stream = stream
        self.live = stream.isatty()
        self.start = time.monotonic()
        self.shown = 0.0

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.start)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def update(self, line: str) -> None:
        now = time.monotonic()
        if not self.live or now - self.shown < 0.25:
            return
        self.shown = now
        text = f"[{self.step} {self.elapsed()}] {line.strip()}"[:110]
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run_logged(command: Command, status_stream: TextIO | None = None) -> float:
    """Run ``command`` with its whole output in its log; stop at the first ERROR or CRITICAL
    WARNING line and raise with those lines quoted. Returns the seconds it took."""
    command.log.parent.mkdir(parents=True, exist_ok=True)
    command.cwd.mkdir(parents=True, exist_ok=True)
    status = _Status(command.step, status_stream or sys.stderr)
    bad: list[str] = []
    try:
        with open(command.log, "w") as log:
            log.write(f"# {command.shell()}\n")
            proc = subprocess.Popen(
                command.argv,
                cwd=command.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                status.update(line)
                if _BAD_LINE.match(line):
                    bad.append(line.strip())
                    if len(bad) >= 3:
                        break
                elif bad:
                    break  # quote the first error and the ones right after it
            if bad:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            else:
                proc.wait()
    except OSError as e:
        raise BuildError(f"cannot run {command.argv[0]}: {e.strerror or e}") from None
    finally:
        status.close()
    if bad:
        raise BuildError(f"{command.step} failed ({command.log}): " + " | ".join(bad))
    if proc.returncode:
        raise BuildError(
            f"{command.step} failed: {command.argv[0]} exited with status {proc.returncode}; "
            f"see {command.log}"
        )
    return time.monotonic() - status.start


# ---------------------------------------------------------------------------------------------
# The build


def _ip_dir(build_dir: Path) -> Path:
    return build_dir / "hls" / HLS_PROJECT / "sol1" / "impl" / "ip"


def _hls_finished(build_dir: Path) -> bool:
    return (_ip_dir(build_dir) / "component.xml").is_file()


def _vivado_outputs(build_dir: Path) -> dict[str, Path | None]:
    vdir = build_dir / "vivado"
    runs = vdir / VIVADO_PROJECT / f"{VIVADO_PROJECT}.runs" / "impl_1"
    bits = sorted(runs.glob("*.bit")) if runs.is_dir() else []
    hwh = sorted(vdir.rglob("procsys.hwh")) if vdir.is_dir() else []
    tcl = vdir / "procsys.tcl"
    return {
        "bit": bits[0] if bits else None,
        "hwh": hwh[0] if hwh else None,
        "tcl": tcl if tcl.is_file() else None,
        "timing": vdir / "reports" / "timing.rpt",
        "utilization": vdir / "reports" / "utilization.rpt",
    }


def _vivado_finished(build_dir: Path) -> bool:
    out = _vivado_outputs(build_dir)
    return all(p is not None and p.is_file() for p in out.values())


def _estimate_json(est: Estimate) -> dict[str, Any]:
    return {
        "luts": est.luts,
        "bram_tiles": est.bram_tiles,
        "cycles_per_image": est.cycles,
        "fps": round(est.fps, 1),
        "clock_mhz": est.clock_mhz,
        "layers": [asdict(ly) for ly in est.layers],
    }


def _report(build_dir: Path, spec: OverlaySpec, board: Board, est: Estimate) -> dict[str, Any]:
    report: dict[str, Any] = {
        "overlay": spec.name,
        "board": board.name,
        "part": board.part,
        "clock_mhz": board.fabric_mhz,
        "estimate": _estimate_json(est),
    }
    rpt = build_dir / "hls" / HLS_PROJECT / "sol1" / "syn" / "report" / "BlackBoxJam_csynth.rpt"
    if rpt.is_file():
        report["hls"] = parse_hls(rpt.read_text(errors="replace"))
    out = _vivado_outputs(build_dir)
    timing, util = out["timing"], out["utilization"]
    if timing is not None and timing.is_file() and util is not None and util.is_file():
        try:
            report["timing"] = parse_timing(timing.read_text(errors="replace"))
            report["utilization"] = parse_utilization(util.read_text(errors="replace"))
        except ValueError as e:
            raise BuildError(f"cannot read Vivado's reports in {timing.parent}: {e}") from None
    return report


def _collect(
    build_dir: Path,
    spec: OverlaySpec,
    board: Board,
    release: Release,
    tools: dict[str, str],
    report: dict[str, Any],
) -> Path:
    out = _vivado_outputs(build_dir)
    for kind in ("bit", "hwh", "tcl"):
        if out[kind] is None:
            raise BuildError(
                f"Vivado finished, but its .{kind} is missing under {build_dir / 'vivado'}; "
                "see logs/vivado.log"
            )
    dest = build_dir / "bitstream"
    stem = f"{spec.name}-{board.name}"
    with output_folder(dest, force=True) as tmp:
        for kind in ("bit", "hwh", "tcl"):
            src = out[kind]
            assert src is not None
            copy_file(src, tmp / f"{stem}.{kind}")
        write_manifest(
            tmp,
            {
                "kind": "bitstream",
                "overlay": spec.name,
                "overlay_spec": spec.to_json(),
                "board": board.name,
                "part": board.part,
                "clock_mhz": board.fabric_mhz,
                "ip_base": f"0x{board.ip_base:08X}",
                "tools": tools,
                "release": release.version,
                "finn_hlslib_commit": release.generation.hlslib_commit,
                "timing": report.get("timing"),
            },
        )
    return dest


def _run_csim(
    tree: SourceTree,
    command: Command | None,
    hlslib: Path,
    ap_types: Path | None,
    release: Release,
    csim: Csim,
    build_dir: Path,
    log: Callable[[str], None],
    status_stream: TextIO | None,
) -> dict[str, Any]:
    """The C simulation alone: the HLS tool's (``command``) when installed, else g++'s."""
    if command is not None:
        log(f"csim: {command.shell()}  (log: {command.log})")
        try:
            seconds = run_logged(command, status_stream)
        except BuildError:
            text = command.log.read_text(errors="replace") if command.log.is_file() else ""
            predicted, _, _, _ = parse_output(text)
            if predicted is None or predicted == csim.expected:
                raise  # the tool failed before or after the test bench's verdict
            seconds = 0.0
        text = command.log.read_text(errors="replace")
        res = result_from_output(text, Path(command.argv[0]).name, csim, 0.0, seconds, command.log)
    else:
        assert ap_types is not None
        res = simulate(tree, hlslib, ap_types, release.generation, csim, build_dir)
        log(
            f"csim: g++ ({res.compile_seconds:.1f} s compile, {res.run_seconds:.1f} s run; "
            f"log: {res.log})"
        )
    doc = csim_json(res)
    doc["summary"] = describe(res)
    return doc


def choose_release(
    vivado_version: str | None, vivado_dir: Path | None, needed: bool, log: Callable[[str], None]
) -> tuple[Release, Tool | None]:
    """The release to build for: --vivado-version, else the installed Vivado's; without either
    (a dry run, or the C simulation with g++) the default release. Returns Vivado too when it
    was found."""
    if vivado_version is not None:
        return get_release(vivado_version), None
    try:
        path = find_tool("vivado", vivado_dir)
    except ToolError:
        if needed:
            raise
        log(
            f"no Vivado found and no --vivado-version: sources for Vivado {DEFAULT_RELEASE} "
            f"({get_release(DEFAULT_RELEASE).generation.name} generation)"
        )
        return get_release(DEFAULT_RELEASE), None
    version = tool_version(path)
    return get_release(version), Tool("vivado", path, version)


def _hls_tool_or_none(release: Release, vivado_dir: Path | None) -> Tool | None:
    """The release's HLS tool when it is installed (the C simulation falls back to g++)."""
    try:
        find_tool(release.hls_tool, vivado_dir, release)
    except ToolError:
        return None
    return get_tool(release.hls_tool, vivado_dir, release)


def run_build(
    overlay: str | Path,
    board_name: str,
    build_dir: Path,
    *,
    stage: str = "all",
    hlslib: Path | None = None,
    vivado_dir: Path | None = None,
    vivado_version: str | None = None,
    ap_types: Path | None = None,
    jobs: int | None = None,
    dry_run: bool = False,
    csim: Csim | None = None,
    log: Callable[[str], None] = lambda _: None,
    status_stream: TextIO | None = None,
) -> BuildResult:
    """Build ``overlay`` for ``board_name`` in ``build_dir`` up to ``stage`` (see module doc)."""
    if stage not in STAGES:
        raise UserError(f"unknown stage {stage!r}; use {', '.join(STAGES)}")
    if stage == "csim" and csim is None:
        raise UserError(
            "--stage csim needs --csim-params, --csim-image and --csim-class (the parameter "
            "folder, an image file and its class)"
        )
    board = get_board(board_name)
    spec = overlay_of(overlay)  # a name, a spec file, or a params or run folder
    est = check_fits(spec, board)
    if board.name not in spec.boards:
        log(
            f"overlay {spec.name} lists {', '.join(spec.boards) or 'no boards'}; built for "
            f"{board.name} because the planner's estimate fits it"
        )
    steps = STAGES[stage]
    needs_vivado = not dry_run and any(s in ("hls", "vivado") for s in steps)
    release, vivado = choose_release(vivado_version, vivado_dir, needs_vivado, log)
    generation = release.generation
    build_dir = Path(build_dir).resolve()
    state = _read_state(build_dir, spec, board, release)

    tools: dict[str, Tool] = {}
    commands_tools: dict[str, str] = {}
    tool_of = {"hls": release.hls_tool, "vivado": "vivado"}
    for step in steps:
        if step == "csim":
            hls_tool = None if dry_run else _hls_tool_or_none(release, vivado_dir)
            if hls_tool is not None:
                tools[step] = hls_tool
                commands_tools[step] = str(hls_tool.path)
            continue
        if step not in tool_of:
            continue
        name = tool_of[step]
        if dry_run:
            try:
                commands_tools[step] = str(get_tool(name, vivado_dir, release).path)
            except UserError:
                commands_tools[step] = name
        elif name == "vivado" and vivado is not None:
            tools[step] = vivado
            commands_tools[step] = str(vivado.path)
        else:
            tools[step] = get_tool(name, vivado_dir, release)
            commands_tools[step] = str(tools[step].path)
    with_tool = "csim" in tools
    fetch = not dry_run and ("hls" in steps or "csim" in steps)
    hlslib_dir = get_hlslib(hlslib, generation, fetch=fetch)
    ap_types_dir = None
    if "csim" in steps and not with_tool and not dry_run:
        ap_types_dir = find_ap_types(ap_types)

    build_dir.mkdir(parents=True, exist_ok=True)
    _write_state(build_dir, state)
    tree = write_sources(spec, board, build_dir, hlslib_dir, jobs or board.jobs, csim, release)
    logs = build_dir / "logs"
    hls_tool = commands_tools.get("hls", release.hls_tool)
    commands = {
        "hls": Command(
            "hls",
            build_dir / "hls",
            release.hls_argv(hls_tool, str(tree.hls_script)),
            logs / "hls.log",
        ),
        "vivado": Command(
            "vivado",
            build_dir / "vivado",
            [
                commands_tools.get("vivado", "vivado"),
                "-mode",
                "batch",
                "-notrace",
                "-nojournal",
                "-source",
                str(tree.vivado_script),
            ],
            logs / "vivado.log",
        ),
    }
    if with_tool:
        commands["csim"] = Command(
            "csim",
            build_dir / "hls",
            release.hls_argv(commands_tools["csim"], str(tree.csim_script)),
            logs / "csim.log",
        )
    planned = [commands[s].shell() for s in steps if s in commands]
    if "csim" in steps and not with_tool:
        planned.append(f"g++ -std={generation.cxx_std} ... top.cpp tb.cpp (C simulation)")
    uses_hlslib = "hls" in steps or "csim" in steps
    if dry_run and uses_hlslib and not (hlslib_dir / HLSLIB_MARKER).is_file():
        where = shlex.quote(str(hlslib_dir))
        clone = f"git clone {HLSLIB_URL} {where}"
        checkout = f"git -C {where} checkout {generation.hlslib_commit}"
        planned.insert(0, f"{clone} && {checkout}")
    result = BuildResult(
        build_dir=build_dir,
        overlay=spec.name,
        board=board.name,
        stage=stage,
        dry_run=dry_run,
        commands=planned,
        steps=[],
        estimate=_estimate_json(est),
        release=release.version,
        generation=generation.name,
    )
    if dry_run:
        result.steps = [StepResult(s, "planned") for s in steps]
        return result

    versions = {t.name: t.version for t in tools.values()}
    state["tools"] = {**state.get("tools", {}), **versions}
    result.tools = state["tools"]
    if stage == "csim":
        assert csim is not None
        result.csim = _run_csim(
            tree, commands.get("csim"), hlslib_dir, ap_types_dir, release, csim, build_dir, log,
            status_stream,
        )  # fmt: skip
        seconds = result.csim["compile_seconds"] + result.csim["run_seconds"]
        result.steps.append(StepResult("csim", "ran", seconds, Path(result.csim["log"])))
        _write_state(build_dir, state)
        if not result.csim["passed"]:
            raise CsimError(
                f"C simulation of {spec.name} ({result.csim['simulator']}, Vivado "
                f"{release.version} sources): {result.csim['summary']}; see {result.csim['log']}"
            )
        return result
    if "hls" not in steps and not _hls_finished(build_dir):
        raise UserError(
            f"{build_dir} has no finished HLS step (IP in {_ip_dir(build_dir)}); build with "
            "--stage hls or --stage all first"
        )
    for step in steps:
        finished = {"hls": _hls_finished, "vivado": _vivado_finished}.get(step)
        if step in state["done"] and (finished is None or finished(build_dir)):
            log(f"{step}: finished in an earlier run, skipped")
            step_log = commands[step].log if step in commands else None
            result.steps.append(StepResult(step, "skipped", 0.0, step_log))
            continue
        started = time.monotonic()
        if step == "collect":
            report = _report(build_dir, spec, board, est)
            write_text(build_dir / "report.json", json.dumps(report, indent=2) + "\n")
            result.report = build_dir / "report.json"
            result.timing, result.utilization = report.get("timing"), report.get("utilization")
            timing = report.get("timing")
            if timing is None:
                raise BuildError(f"Vivado wrote no timing report; see {logs / 'vivado.log'}")
            if not timing["met"]:
                raise BuildError(
                    f"timing not met at {board.fabric_mhz:g} MHz: worst negative slack "
                    f"{timing['wns_ns']:.3f} ns (total {timing['tns_ns']:.3f} ns); see "
                    f"{build_dir / 'vivado' / 'reports' / 'timing.rpt'}; report in "
                    f"{result.report}; fold the overlay less or relax the clock"
                )
            result.bitstream_dir = _collect(build_dir, spec, board, release, result.tools, report)
            seconds = time.monotonic() - started
            result.steps.append(StepResult(step, "ran", seconds))
        else:
            command = commands[step]
            log(f"{step}: {command.shell()}  (log: {command.log})")
            seconds = run_logged(command, status_stream)
            log(f"{step}: finished in {seconds:.0f} s")
            result.steps.append(StepResult(step, "ran", seconds, command.log))
            if step == "hls":
                report = _report(build_dir, spec, board, est)
                write_text(build_dir / "report.json", json.dumps(report, indent=2) + "\n")
                result.report = build_dir / "report.json"
        state["done"][step] = {"seconds": round(seconds, 1), "finished": time.time()}
        _write_state(build_dir, state)
    if result.bitstream_dir is None and (build_dir / "bitstream" / "manifest.json").is_file():
        result.bitstream_dir = build_dir / "bitstream"
    if result.report is None and (build_dir / "report.json").is_file():
        result.report = build_dir / "report.json"
        previous = json.loads(result.report.read_text())
        result.timing, result.utilization = previous.get("timing"), previous.get("utilization")
    return result
