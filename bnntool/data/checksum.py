"""Checksums of dataset files: the publisher's, or the decompressed content's for gzip files."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from bnntool.data.catalog import RemoteFile

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one file against its catalog entry."""

    ok: bool
    how: str  # "official": publisher's checksum; "content": same decompressed content; "" if not ok
    md5: str


def file_digests(path: Path) -> tuple[str, str]:
    """MD5 and SHA-256 of a file, in one pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def gzip_content_md5(path: Path) -> str | None:
    """MD5 of a gzip file's decompressed content, or None if it is not a complete gzip file."""
    md5 = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                md5.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return md5.hexdigest()


def verify(path: Path, remote: RemoteFile) -> Verdict:
    """Check ``path`` against ``remote``'s published checksums.

    A file passes if its MD5 (and SHA-256, where published) match, or, for gzip files with a
    known content checksum, if its decompressed content matches (repackaged copies such as
    Debian's differ only in the gzip header).
    """
    md5, sha = file_digests(path)
    if md5 == remote.md5 and (remote.sha256 is None or sha == remote.sha256):
        return Verdict(True, "official", md5)
    if remote.content_md5 is not None and gzip_content_md5(path) == remote.content_md5:
        return Verdict(True, "content", md5)
    return Verdict(False, "", md5)
