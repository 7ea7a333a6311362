"""Fixtures of the data tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data.fakes import FileServer, start_server


@pytest.fixture
def http_server() -> Iterator[FileServer]:
    """A real HTTP server on 127.0.0.1 (random port) that serves generated files and misbehaves
    on request; stopped after the test."""
    state, httpd = start_server()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
