"""Host resolution, host keys and authentication: every refusal is one line, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bnntool.board.transport import check_name, check_relpath, quote, resolve


def _one_error(r, message: str) -> None:
    assert r.exit_code == 2, r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnntool: error: "), r.stderr
    assert message in lines[0], lines[0]


def test_config_resolution(client, tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("x")
    (client.home / ".ssh" / "config").write_text(
        f"Host pynq\n  HostName 192.168.2.99\n  Port 2222\n  IdentityFile {key}\n"
    )
    t = resolve("pynq")
    assert (t.hostname, t.port, t.user, t.identities) == (
        "192.168.2.99",
        2222,
        "xilinx",
        (str(key),),
    )
    t = resolve("pynq", user="root", port=22)
    assert (t.user, t.port) == ("root", 22)
    assert resolve("10.0.0.5").hostname == "10.0.0.5"


def test_quoting_and_names() -> None:
    assert quote("a b", "it's") == "'a b' 'it'\"'\"'s'"
    assert check_name("road-signs", "x") == "road-signs"
    for bad in ("..", "../x", "a/b", ".hidden", "-rf", ""):
        try:
            check_name(bad, "--as")
        except Exception as e:
            assert "--as" in str(e)
        else:
            raise AssertionError(bad)
    assert check_relpath("bnntool/x", "d") == "bnntool/x"


def test_unknown_host_key_then_trust_on_first_use(run_cli, start_board) -> None:
    board = start_board("pynq", trust=False)
    r = run_cli("board", "info", "--host", "pynq")
    _one_error(r, "unknown host key")
    assert "--accept-new-host-key" in r.stderr
    r = run_cli("board", "info", "--host", "pynq", "--accept-new-host-key", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["root"] == str(board.root)
    assert (
        f"[127.0.0.1]:{board.port}"
        in (client_known := board.home.parent / "client-home" / ".ssh" / "known_hosts").read_text()
    )
    assert client_known.stat().st_mode & 0o077 == 0
    assert run_cli("board", "info", "--host", "pynq").exit_code == 0  # stored


def test_changed_host_key_is_refused(run_cli, start_board, client, _keys: Path) -> None:
    board = start_board("pynq", trust=False)
    other = (_keys / "stranger.pub").read_text().split()
    client.known_hosts.write_text(f"[127.0.0.1]:{board.port} {other[0]} {other[1]}\n")
    for extra in ([], ["--accept-new-host-key"]):
        r = run_cli("board", "info", "--host", "pynq", *extra)
        _one_error(r, "host key changed")
        assert "ssh-keygen -R" in r.stderr


def test_wrong_key(run_cli, start_board, _keys: Path) -> None:
    start_board("pynq")
    r = run_cli("board", "info", "--host", "pynq", "--identity", _keys / "stranger")
    _one_error(r, "authentication as")
    r = run_cli("board", "info", "--host", "pynq", "--identity", _keys / "missing")
    _one_error(r, "--identity")


def test_wrong_password(run_cli, start_board, monkeypatch) -> None:
    board = start_board("pynq")
    monkeypatch.setenv("BOARD_PASSWORD", "not-the-password")
    r = run_cli(
        "board", "info", "--host", "127.0.0.1", "--port", str(board.port),
        "--user", os.environ.get("USER", "root"), "--password-env", "BOARD_PASSWORD",
    )  # fmt: skip
    _one_error(r, "the password from $BOARD_PASSWORD")
    r = run_cli("board", "info", "--host", "pynq", "--password-env", "NOT_SET_ANYWHERE")
    _one_error(r, "--password-env NOT_SET_ANYWHERE")


def test_no_server(run_cli, client) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("board", "info", "--host", "127.0.0.1", "--port", str(port))
    _one_error(r, "cannot connect")
