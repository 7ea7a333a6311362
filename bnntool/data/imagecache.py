"""The cache of decoded image folders: the prepared images of a list of files, so that a folder
of tens of thousands of pictures is decoded once.

An entry is keyed by a sha256 of every file's path, size and modification time, the preparation
and the image shape: a changed folder (a file added, removed, replaced or touched) or another
preparation is read again. Entries live outside the user's folder, in bnntool's cache directory
(``$XDG_CACHE_HOME/bnntool/images`` on Linux, ``$BNNTOOL_CACHE_DIR`` if set), are written
atomically, and only the newest few are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from bnntool.artifacts import atomic_file
from bnntool.errors import UserError
from bnntool.preparation import Preparation

if TYPE_CHECKING:
    from bnntool.data.folder import Decoded, Listing

CACHE_ENV = "BNNTOOL_CACHE_DIR"
FORMAT = 1
KEEP = 8  # entries kept (the newest used)


def cache_dir() -> Path:
    """``$BNNTOOL_CACHE_DIR/images``, else the user's cache directory's ``bnntool/images``
    (platformdirs: ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux)."""
    env = os.environ.get(CACHE_ENV)
    base = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("bnntool"))
    return base / "images"


def key(listing: Listing, shape: tuple[int, ...], preparation: Preparation) -> str:
    content = {
        "format": FORMAT,
        "shape": list(shape),
        "preparation": preparation.to_dict(),
        "files": [
            [name, int(label), size, mtime]
            for name, label, (size, mtime) in zip(
                listing.files, listing.labels.tolist(), listing.stats, strict=True
            )
        ],
    }
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _path(digest: str) -> Path:
    return cache_dir() / f"{digest}.npz"


def load(digest: str, count: int, shape: tuple[int, ...]) -> tuple | None:
    """(images, kept, skipped) of a cached entry, or None (none, or a damaged one)."""
    path = _path(digest)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            images, kept = z["images"], z["kept"]
            skipped = [tuple(s) for s in json.loads(z["skipped"].tobytes().decode())]
        if images.shape[1:] != tuple(shape) or len(images) != len(kept):
            return None
        if len(kept) + len(skipped) != count:
            return None
        os.utime(path)  # the newest used are kept
    except Exception:  # a damaged entry (cut short, written by another version): read again
        return None
    return images, kept, skipped


def store(digest: str, decoded: Decoded, log: Callable[[str], None] | None = None) -> None:
    """Write an entry (atomically); a cache that cannot be written is said, not an error."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(_path(digest), "wb") as f:
            np.savez(
                f,
                images=decoded.images,
                kept=decoded.kept,
                skipped=np.frombuffer(
                    json.dumps(decoded.skipped, ensure_ascii=False).encode(), dtype=np.uint8
                ),
            )
    except (OSError, UserError) as e:
        if log:
            log(f"note: the decoded images were not cached ({e}); they are read again next time")
        return
    _prune(folder)


def _prune(folder: Path) -> None:
    """Remove all but the newest :data:`KEEP` entries (only files of bnntool's own naming)."""
    entries = []
    for p in folder.glob("*.npz"):
        if len(p.stem) == 64 and all(c in "0123456789abcdef" for c in p.stem):
            with contextlib.suppress(OSError):
                entries.append((p.stat().st_mtime_ns, p))
    for _, p in sorted(entries, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            p.unlink()
