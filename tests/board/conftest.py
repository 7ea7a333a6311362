"""A real OpenSSH sshd on 127.0.0.1 playing the board: its own host key, config and
authorized_keys in a temporary folder, and a board-like home (where bnntool's folder goes). The
"board's" python3 is this test run's Python (through PATH), so the board runtime runs its ``sw``
mode here. The client side gets its own HOME with ~/.ssh/config aliases and known_hosts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


@dataclass
class Board:
    alias: str  # the ~/.ssh/config Host of the client side
    port: int
    home: Path  # the board user's home, as sshd's sessions see it
    host_key: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def root(self) -> Path:
        return self.home / "bnntool"

    def params(self, dataset: str, overlay: str) -> Path:
        return self.root / "params" / dataset / overlay

    def kill_sessions(self) -> None:
        """Kill this sshd's per-connection processes (the network dropping), by their ids."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        for pid in out.split():
            os.kill(int(pid), signal.SIGKILL)


@dataclass
class Client:
    home: Path
    key: Path  # authorized on every board
    boards: list[Board] = field(default_factory=list)

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    def write_config(self) -> None:
        lines = []
        for b in self.boards:
            lines += [
                f"Host {b.alias}",
                "  HostName 127.0.0.1",
                f"  Port {b.port}",
                f"  User {_user()}",
                f"  IdentityFile {self.key}",
                "",
            ]
        (self.home / ".ssh" / "config").write_text("\n".join(lines))

    def trust(self, board: Board) -> None:
        key = board.host_key.with_suffix(".pub").read_text().split()
        with self.known_hosts.open("a") as f:
            f.write(f"[127.0.0.1]:{board.port} {key[0]} {key[1]}\n")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_sshd(
    folder: Path,
    home: Path,
    authorized: str,
    *,
    pythonpath: Path | None = None,
    python: Path | None = None,
    env: dict[str, str] | None = None,
    umask: int | None = None,
) -> tuple[int, subprocess.Popen, Path]:
    """Start ``sshd -D`` on 127.0.0.1 at a free port, its files in ``folder``, sessions with HOME
    ``home`` and this Python (or the interpreter ``python``) first on PATH, ``env`` set and the
    ``umask`` given; returns port, process and host key, once it listens."""
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    folder.mkdir(parents=True)
    home.mkdir(parents=True, exist_ok=True)
    host_key = _keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(authorized)
    port = _free_port()
    bindir = Path(python).parent if python is not None else Path(sys.executable).parent
    settings = [f"HOME={home}", f"PATH={bindir}:/usr/bin:/bin"]
    if pythonpath is not None:
        settings.append(f"PYTHONPATH={pythonpath}")
    settings += [f"{k}={v}" for k, v in (env or {}).items()]
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin yes",
                "MaxStartups 100",
                "MaxSessions 100",
                "LogLevel ERROR",
                f"SetEnv {' '.join(settings)}",
                "",
            ]
        )
    )
    with open(folder / "sshd.log", "wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        )
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return port, process, host_key
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("sshd did not start listening") from None
            time.sleep(0.02)


@pytest.fixture(scope="session")
def _keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
            pytest.fail("OpenSSH's sshd is not installed (CI installs openssh-server)")
        pytest.skip("OpenSSH's sshd is not installed")
    folder = tmp_path_factory.mktemp("keys")
    _keygen(folder / "client")
    _keygen(folder / "stranger")
    return folder


@pytest.fixture
def client(_keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    home = tmp_path / "client-home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    c = Client(home, _keys / "client")
    yield c


@pytest.fixture
def start_board(client: Client, _keys: Path, tmp_path: Path) -> Iterator:
    """Start an sshd board: ``start_board("board1", pythonpath=DIR, env={"BOARD": "Pynq-Z2"})``;
    trusted and in the client's ~/.ssh/config."""
    started: list[Board] = []

    def start(
        alias: str = "board",
        *,
        pythonpath: Path | None = None,
        python: Path | None = None,
        env: dict[str, str] | None = None,
        umask: int | None = None,
        trust: bool = True,
    ) -> Board:
        folder = tmp_path / f"sshd-{alias}"
        home = tmp_path / f"home-{alias}"
        port, process, host_key = launch_sshd(
            folder, home, (_keys / "client.pub").read_text(), pythonpath=pythonpath,
            python=python, env=env, umask=umask,
        )  # fmt: skip
        board = Board(alias, port, home, host_key, process)
        started.append(board)
        client.boards.append(board)
        client.write_config()
        if trust:
            client.trust(board)
        return board

    yield start
    for b in started:
        b.process.terminate()
        try:
            b.process.wait(5)
        except subprocess.TimeoutExpired:
            b.process.kill()
