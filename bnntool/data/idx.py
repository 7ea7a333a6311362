"""IDX files (MNIST, Fashion-MNIST and the board's test images), gzipped or not."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bnntool.errors import FormatError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed if it is gzip (by content, not by name)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise FormatError(
            f"{path} is a truncated gzip file; delete it and fetch it again"
        ) from None
    except (OSError, zlib.error) as e:
        raise FormatError(
            f"{path} is not a valid gzip file ({e}); delete it and fetch it again"
        ) from None


def read_idx(path: Path, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file into an array of its declared type and shape.

    The header is checked against ``expect_magic`` and the data length against the declared
    dimensions, so a wrong file or a cut one gives a clear error instead of garbage.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise FormatError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if expect_magic is not None and magic != expect_magic:
        raise FormatError(
            f"{path} has magic number 0x{magic:08x}, expected 0x{expect_magic:08x}; "
            "it is not the IDX file this should be"
        )
    if data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        raise FormatError(f"{path} has magic number 0x{magic:08x}, which is not an IDX header")
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FormatError(f"{path} is cut inside its IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise FormatError(
            f"{path} declares {' x '.join(map(str, dims))} values ({expected:,} bytes) but holds "
            f"{len(data) - header:,} bytes of data; the file is damaged"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx_images(path: Path) -> np.ndarray:
    """Images of an idx3 file, N x rows x cols uint8."""
    return np.ascontiguousarray(read_idx(path, IMAGES_MAGIC))


def read_idx_labels(path: Path, num_classes: int | None = None) -> np.ndarray:
    """Labels of an idx1 file, int64; checked against ``num_classes`` if given."""
    labels = read_idx(path, LABELS_MAGIC).astype(np.int64)
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise FormatError(
            f"{path} has label {int(labels.max())}, but the dataset has {num_classes} classes"
        )
    return labels
