"""Progress bars on stderr (shown on a terminal, silent in logs and pipes)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def byte_bar(desc: str, total: int | None, initial: int = 0) -> tqdm:
    """A bar that counts bytes, for downloads and copies."""
    return tqdm(
        desc=desc,
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None,  # only on a terminal
        leave=False,
        dynamic_ncols=True,
    )


def count_bar(desc: str, total: int | None, unit: str = "it") -> tqdm:
    """A bar that counts items (images, batches, files)."""
    return tqdm(
        desc=desc,
        total=total,
        unit=unit,
        file=sys.stderr,
        disable=None,
        leave=False,
        dynamic_ncols=True,
    )
