"""Board commands meeting the wrong server or the wrong key: one line, before anything else."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import bnntool, one_line_error


@pytest.fixture
def http_port() -> Iterator[int]:
    """A real HTTP server on loopback (what answers when --port names a web server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", [["board", "info"], ["board", "setup"]])
def test_a_server_that_answers_http(http_port: int, tmp_path: Path, command: list[str]) -> None:
    # case 10: paramiko's own traceback was printed before the one-line error
    result = bnntool(
        *command, "--host", "127.0.0.1", "--port", http_port, "--accept-new-host-key",
        cwd=tmp_path,
    )  # fmt: skip
    message = one_line_error(result)
    assert f"127.0.0.1:{http_port} answers, but not as an SSH server" in message
    assert "--port" in message


@pytest.fixture
def keypair(tmp_path: Path) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is missing (CI installs openssh)")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_a_public_key_as_identity(keypair: Path, run_cli) -> None:
    # smaller: a public key given as --identity was answered "check --host, --port"
    message = one_line_error(
        run_cli("board", "info", "--host", "127.0.0.1", "--identity", f"{keypair}.pub")
    )
    assert f"--identity {keypair}.pub is a public key" in message
    assert f"--identity {keypair}" in message.split("e.g.")[1]


def test_a_file_that_is_no_key_as_identity(tmp_path: Path, run_cli) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    message = one_line_error(run_cli("board", "info", "--host", "127.0.0.1", "--identity", notes))
    assert f"--identity {notes} is not a private key file" in message
