"""Getting one file: over HTTP(S) with Range resume and retries, or copied from a local folder.

Both write to a partial file chosen by the caller; checksums and renaming are the caller's job
(:mod:`bnntool.data.fetch`). A partial file left by an interrupted transfer is resumed.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bnntool import __version__
from bnntool.errors import DownloadError
from bnntool.progress import byte_bar

_CHUNK = 1 << 16
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, first back-off (doubled each time), socket timeout."""

    attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)


class TransferFailed(DownloadError):
    """Transient failures outlasted every retry; the partial file is worth keeping for a resume."""


class LocalWriteError(Exception):
    """Writing the partial file failed (disk full, read-only): not worth a retry."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(str(error))
        self.path = path
        self.error = error


class _ShortTransfer(Exception):
    """The server closed the connection before the announced length arrived."""


class _Offline(Exception):
    """The host name does not resolve: no network (or a wrong URL); retrying does not help."""


def http_download(
    url: str, part: Path, *, size: int | None, policy: RetryPolicy, label: str
) -> None:
    """Download ``url`` into ``part``, resuming what ``part`` already holds.

    Retries transient failures (connection errors, cut transfers, HTTP 5xx/429) with exponential
    back-off, resuming with an HTTP Range request where the server supports it.
    """
    last_error = "no attempt made"
    for attempt in range(1, policy.attempts + 1):
        try:
            _attempt(url, part, size=size, timeout=policy.timeout_s, label=label)
            return
        except _Offline as e:
            raise DownloadError(
                f"cannot download {url}: host {e} does not resolve (no network?); "
                "fetch from a mirror with --mirror DIR|URL or BNNTOOL_MIRROR"
            ) from None
        except urllib.error.HTTPError as e:
            if e.code not in _RETRY_STATUS:
                raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
            last_error = f"HTTP {e.code} {e.reason}"
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            OSError,
            _ShortTransfer,
        ) as e:
            last_error = _describe(e)
        if attempt < policy.attempts:
            policy.sleep(policy.backoff_s * 2 ** (attempt - 1))
    raise TransferFailed(
        f"cannot download {url} after {policy.attempts} attempts ({last_error}); the partial file "
        "is kept and resumed next time; if this machine is offline, use --mirror DIR|URL or "
        "BNNTOOL_MIRROR"
    )


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return str(e) or type(e).__name__


def _attempt(url: str, part: Path, *, size: int | None, timeout: float, label: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return  # a previous run got every byte; the checksum decides
    if size is not None and have > size:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"bnntool/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # Nothing left to send from that offset: what we have is complete (or wrong, and
            # the checksum will tell). Start over only if the server says the file is larger.
            return
        raise
    except urllib.error.URLError as e:
        if isinstance(e.reason, socket.gaierror):
            raise _Offline(urllib.parse.urlsplit(url).hostname) from None
        raise
    with response:
        start = 0
        if have and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == have:
                start = have
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length is not None else size
        try:
            out = open(part, "r+b" if start else "wb")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise LocalWriteError(part, e) from None
        with out, byte_bar(label, expected, start) as bar:
            out.seek(start)
            out.truncate()
            while chunk := response.read(_CHUNK):
                try:
                    out.write(chunk)
                except OSError as e:
                    raise LocalWriteError(part, e) from None
                bar.update(len(chunk))
            try:
                out.flush()
            except OSError as e:
                raise LocalWriteError(part, e) from None
            got = out.tell()
    if expected is not None and got < expected:
        raise _ShortTransfer(f"connection closed after {got} of {expected} bytes")


def copy_local(source: Path, part: Path, *, label: str) -> None:
    """Copy ``source`` into ``part`` (from a mirror folder or a system package), with progress."""
    try:
        src = open(source, "rb")  # noqa: SIM115 (closed below)
        total = os.fstat(src.fileno()).st_size
    except OSError as e:
        raise DownloadError(f"cannot read {source}: {e.strerror or e}; check the mirror") from None
    try:
        out = open(part, "wb")  # noqa: SIM115 (closed below)
    except OSError as e:
        src.close()
        raise LocalWriteError(part, e) from None
    with src, out, byte_bar(label, total) as bar:
        while True:
            try:
                chunk = src.read(_CHUNK * 16)
            except OSError as e:
                raise DownloadError(
                    f"cannot read {source}: {e.strerror or e}; check the mirror"
                ) from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as e:
                raise LocalWriteError(part, e) from None
            bar.update(len(chunk))
