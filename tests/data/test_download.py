"""http_download against a real HTTP server on loopback: resume, retry, errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bnntool.data.download import RetryPolicy, TransferFailed, http_download
from bnntool.errors import DownloadError
from tests.data.fakes import FAST

BODY = bytes(range(256)) * 400  # 102 400 bytes


def test_plain_download(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY)
    part = tmp_path / "f.part"
    http_download(url, part, size=len(BODY), policy=FAST, label="f")
    assert part.read_bytes() == BODY
    assert http_server.requests == [("/f.bin", None)]


def test_cut_transfer_resumes_with_range(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY, cut_after=30_000, cut_times=1)
    part = tmp_path / "f.part"
    http_download(url, part, size=len(BODY), policy=FAST, label="f")
    assert part.read_bytes() == BODY
    assert http_server.requests == [("/f.bin", None), ("/f.bin", "bytes=30000-")]


def test_server_without_range_support_restarts(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY, cut_after=30_000, cut_times=1, honour_range=False)
    part = tmp_path / "f.part"
    http_download(url, part, size=len(BODY), policy=FAST, label="f")
    assert part.read_bytes() == BODY
    assert len(http_server.requests) == 2


def test_unknown_length_download(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY)
    part = tmp_path / "f.part"
    http_download(url, part, size=None, policy=FAST, label="f")
    assert part.read_bytes() == BODY


def test_partial_file_from_an_earlier_run_is_resumed(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY)
    part = tmp_path / "f.part"
    part.write_bytes(BODY[:50_000])
    http_download(url, part, size=len(BODY), policy=FAST, label="f")
    assert part.read_bytes() == BODY
    assert http_server.requests == [("/f.bin", "bytes=50000-")]


def test_complete_partial_file_needs_no_request(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY)
    part = tmp_path / "f.part"
    part.write_bytes(BODY)
    http_download(url, part, size=len(BODY), policy=FAST, label="f")
    assert http_server.requests == []


def test_retries_transient_http_errors(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY, fail_times=2, fail_status=503)
    delays: list[float] = []
    policy = RetryPolicy(attempts=4, backoff_s=0.01, timeout_s=5, sleep=delays.append)
    http_download(url, tmp_path / "f.part", size=len(BODY), policy=policy, label="f")
    assert (tmp_path / "f.part").read_bytes() == BODY
    assert len(http_server.requests) == 3
    assert delays == [0.01, 0.02]  # exponential back-off


def test_gives_up_after_the_last_attempt(http_server, tmp_path: Path) -> None:
    url = http_server.serve("/f.bin", BODY, fail_times=10, fail_status=503)
    with pytest.raises(TransferFailed, match=r"after 4 attempts \(HTTP 503"):
        http_download(url, tmp_path / "f.part", size=len(BODY), policy=FAST, label="f")
    assert len(http_server.requests) == 4


def test_not_found_is_not_retried(http_server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        http_download(
            f"{http_server.url}/missing", tmp_path / "p", size=None, policy=FAST, label="m"
        )
    assert not isinstance(info.value, TransferFailed)
    assert len(http_server.requests) == 1


def test_refused_connection_names_the_mirror_option(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransferFailed, match="--mirror"):
        http_download(
            f"http://127.0.0.1:{port}/f", tmp_path / "p", size=None, policy=FAST, label="f"
        )


def test_unresolvable_host_fails_at_once(tmp_path: Path) -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=5, backoff_s=1, sleep=delays.append)
    with pytest.raises(DownloadError, match=r"does not resolve.*--mirror"):
        http_download(
            "http://no-such-host.invalid/f", tmp_path / "p", size=None, policy=policy, label="f"
        )
    assert delays == []
