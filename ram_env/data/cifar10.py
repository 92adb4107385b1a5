"""CIFAR-10 as it is distributed: the official binary batches (archived or extracted) and the known JPEG copy.

Why this file exists: the binary format (records of 1 label byte + 3,072 pixel bytes, channel by channel,
row by row, 10,000 records per batch, six batches in ``cifar-10-batches-bin/``) and the checks that can be
made on it are CIFAR-10's own; raw bytes are read, nothing is unpickled. The archive's members are read
straight from the tar, never extracted. The lossy JPEG image-folder copy is read with
:mod:`ram_env.data.image_folder` and checked against CIFAR-10's classes and sizes. Which of these sources a
split comes from, and the download, are decided in :mod:`ram_env.data`.
"""

from __future__ import annotations

import io
import pathlib
import tarfile
import zlib

import numpy as np

from ram_env.data.downloads import md5, sha256_file
from ram_env.data.image_folder import load_splits
from ram_env.errors import ChecksumError

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_ARCHIVE_MD5",
    "CIFAR10_BATCHES",
    "CIFAR10_BATCH_DIR",
    "CIFAR10_CLASSES",
    "CIFAR10_JPEG_ARCHIVE",
    "CIFAR10_JPEG_SHA256",
    "CIFAR10_RECORDS_PER_BATCH",
    "CIFAR10_SIZES",
    "load_jpeg_folder",
    "parse_batch",
    "read_archive",
    "read_batches",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in label order (the official order, which is also the sorted folder names)."""

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on the CIFAR page; 170,052,171 bytes
CIFAR10_BATCH_DIR = "cifar-10-batches-bin"
CIFAR10_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR10_RECORDS_PER_BATCH = 10_000
CIFAR10_JPEG_ARCHIVE = "cifar10-jpeg.tar.gz"
CIFAR10_JPEG_SHA256 = "58c58e3af3ec7ed2054f439f35ad3c83dc1ab019f4af6037f60612ea098c8fa1"
"""sha256 of the known lossy JPEG image-folder archive of CIFAR-10 (50,000 train + 10,000 test JPEGs)."""
_CIFAR10_RECORD = 1 + 3 * 32 * 32
CIFAR10_SIZES = {"train": 50_000, "test": 10_000}
"""Images in each part (``train`` then ``test``): what the JPEG folder must hold."""


# ------------------------------------------------------------------------------------------- binary format
def parse_batch(where: str, content: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 32, 32, 3)`` and labels ``int64 (N,)`` from one binary batch of N records.

    A record is 1 label byte (0-9) then 3,072 pixel bytes: the red, green and blue planes, each 32 rows
    of 32. A batch holds exactly :data:`CIFAR10_RECORDS_PER_BATCH` records.
    """
    expected = CIFAR10_RECORDS_PER_BATCH * _CIFAR10_RECORD
    if len(content) != expected:
        raise ValueError(
            f"{where}: {len(content)} bytes; a CIFAR-10 batch is exactly {CIFAR10_RECORDS_PER_BATCH} records "
            f"of {_CIFAR10_RECORD} bytes (1 label + 3x32x32 pixels) = {expected} bytes"
        )
    records = np.frombuffer(content, dtype=np.uint8).reshape(CIFAR10_RECORDS_PER_BATCH, _CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(f"{where}: record {bad} has label {int(labels[bad])}; CIFAR-10 labels are 0-9")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _parts(batches: dict[str, bytes], where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": ...}`` from the batch files' bytes, read-only."""
    parts = {}
    for part, names in CIFAR10_BATCHES.items():
        read = [parse_batch(f"{where}/{name}", batches[name]) for name in names]
        images = np.ascontiguousarray(np.concatenate([x for x, _ in read]))
        labels = np.concatenate([y for _, y in read])
        images.flags.writeable = False
        labels.flags.writeable = False
        parts[part] = (images, labels)
    return parts


def read_batches(folder: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both parts from the extracted batch files in ``folder`` (only their sizes and labels can be checked)."""
    names = [name for names in CIFAR10_BATCHES.values() for name in names]
    return _parts({name: (folder / name).read_bytes() for name in names}, str(folder))


def read_archive(path: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both parts from the binary archive: MD5 of the whole file, then its six batches read from the tar."""
    content = path.read_bytes()
    actual = md5(content)
    if actual != CIFAR10_ARCHIVE_MD5:
        raise ChecksumError(
            f"{path}: MD5 {actual}, expected {CIFAR10_ARCHIVE_MD5} (the file is corrupted, truncated or not "
            "the published version; delete it to fetch it again)"
        )
    wanted = {f"{CIFAR10_BATCH_DIR}/{name}": name for names in CIFAR10_BATCHES.values() for name in names}
    batches: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r|gz") as archive:
            for member in archive:  # streamed: one pass, nothing written to disk
                name = wanted.get(member.name.removeprefix("./"))
                if name is not None and member.isreg():
                    batches[name] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable tar.gz archive: {exc}") from exc
    missing = [member for member, name in wanted.items() if name not in batches]
    if missing:
        raise ValueError(f"{path}: the archive lacks {', '.join(missing)}")
    return _parts(batches, f"{path}:{CIFAR10_BATCH_DIR}")


# ------------------------------------------------------------------------------------------ lossy JPEG copy
def load_jpeg_folder(folder: pathlib.Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Both parts from the lossy JPEG image folder (archive preferred: it is checksummed)."""
    archive = folder / CIFAR10_JPEG_ARCHIVE
    digest = None
    if archive.is_file():
        source, digest = archive, sha256_file(archive)
        if digest != CIFAR10_JPEG_SHA256:
            raise ChecksumError(
                f"{archive}: sha256 {digest}, expected {CIFAR10_JPEG_SHA256} (corrupted or not the known archive; "
                "to use another image-folder copy of CIFAR-10, extract it as train/<class>/ and test/<class>/ "
                f"in {folder} instead)"
            )
    else:
        source = folder
    splits, classes = load_splits(source, tuple(CIFAR10_SIZES), grayscale=False, digest=digest)
    if classes != CIFAR10_CLASSES:
        raise ValueError(f"{source}: class folders {list(classes)}, expected CIFAR-10's {list(CIFAR10_CLASSES)}")
    for part, (images, _) in splits.items():
        if images.shape != (CIFAR10_SIZES[part], 32, 32, 3):
            raise ValueError(
                f"{source}: {part} images have shape {images.shape}, expected ({CIFAR10_SIZES[part]}, 32, 32, 3)"
            )
    what = "archive (sha256-verified)" if digest else "folder"
    return splits, (
        f"CIFAR-10 (lossy JPEG re-encoding, not the official images: figures on it approximate CIFAR-10 ones): "
        f"the image {what} {source}"
    )
