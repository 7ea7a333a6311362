"""Running bnntool's board-side code over SSH: the agent script and the runtime zipapp."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from bnntool.board.transport import BoardError, Connection, quote

# PYNQ 3 installs pynq into a virtual environment that non-login shells do not activate.
PYNQ_PYTHON = "/usr/local/share/pynq-venv/bin/python3"
_CHOOSE_PYTHON = f"PY=python3; if [ -x {PYNQ_PYTHON} ]; then PY={PYNQ_PYTHON}; fi; "
DEFAULT_ROOT = "bnntool"  # below the board user's home
RUNTIME_NAME = "bnntool-board.pyz"
SETUP_NEEDED = 4  # exit status of a runtime command when the runtime is missing or not ours
SETUP_MARK = "bnntool-board: setup-needed: "


@cache
def agent_source() -> str:
    return resources.files("bnntool.board").joinpath("agent.py").read_text()


def agent_command(command: str, args: dict[str, Any]) -> str:
    """The remote command line that runs the agent's ``command`` with ``args``."""
    return _CHOOSE_PYTHON + 'exec "$PY" -c ' + quote(agent_source(), command, json.dumps(args))


def runtime_command(root: str, *args: str, sha256: str | None = None) -> str:
    """The remote command line that runs the board runtime (installed by ``board setup``). With
    ``sha256``, a runtime whose recorded sha256 differs (another bnntool's) is not run: the
    command exits with :data:`SETUP_NEEDED` and a ``setup-needed: stale`` line, as it does with
    ``missing`` when there is none."""
    path = f"{root}/{RUNTIME_NAME}"
    stale = ""
    if sha256 is not None:
        stale = (
            f'if [ "$(cat {quote(path + ".sha256")} 2>/dev/null)" != {quote(sha256)} ]; then '
            f'echo "{SETUP_MARK}stale" >&2; exit {SETUP_NEEDED}; fi; '
        )
    return (
        "cd && "
        + _CHOOSE_PYTHON
        + f'if [ ! -f {quote(path)} ]; then echo "{SETUP_MARK}missing" >&2; '
        + f"exit {SETUP_NEEDED}; fi; "
        + stale
        + 'exec "$PY" '
        + quote(path, *args)
    )


def setup_needed(status: int, stderr: bytes) -> str | None:
    """``missing`` or ``stale`` when a runtime command found no runtime of this bnntool."""
    if status != SETUP_NEEDED:
        return None
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith(SETUP_MARK):
            return line[len(SETUP_MARK) :].strip()
    return None


def check(conn: Connection, status: int, stderr: bytes, what: str) -> None:
    """Turn a failed remote command into a one-line :class:`BoardError` naming the host."""
    if status == 0:
        return
    reason = setup_needed(status, stderr)
    if reason is not None:
        raise BoardError(
            f"{conn.target.name}: the board runtime is {reason} "
            f"({'none installed' if reason == 'missing' else 'another bnntool version'}); "
            "run bnntool board setup first"
        )
    lines = [x for x in stderr.decode(errors="replace").splitlines() if x.strip()]
    for line in reversed(lines):
        if line.startswith("bnntool-board: error: "):
            raise BoardError(f"{conn.target.name}: {line.split(': error: ', 1)[1]}")
    if status == 127:
        raise BoardError(f"{conn.target.name}: python3 is not installed on the board")
    last = lines[-1] if lines else f"exit status {status}"
    raise BoardError(f"{conn.target.name}: {what} failed on the board: {last}")


def call_agent(
    conn: Connection,
    command: str,
    args: dict[str, Any],
    *,
    stdin: bytes | None = None,
    chunks: Any = None,
    raw: bool = False,
) -> Any:
    """Run an agent command; its JSON result (or raw stdout bytes with ``raw``)."""
    status, out, err = conn.run(agent_command(command, args), stdin, chunks=chunks)
    check(conn, status, err, command)
    if raw:
        return out
    try:
        return json.loads(out.decode())
    except ValueError:
        raise BoardError(
            f"{conn.target.name}: the board's answer to {command} was not readable"
        ) from None
