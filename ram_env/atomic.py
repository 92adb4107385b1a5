"""Atomic file writes, the one implementation every writer in the project uses.

A file is written to a temporary name in its own folder and renamed onto its path only when complete,
so a reader (or a ``kill -9`` in the middle) never sees half a file and an old file is never lost to a
failed write. Files end up readable by everyone (``mkstemp`` alone would leave them 0600).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILE_MODE", "atomic_path"]

FILE_MODE = 0o644
"""Permissions of every file written through :func:`atomic_path`."""


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's, for a rename in it) data to disk, where the platform allows it."""
    with contextlib.suppress(OSError):  # e.g. folders cannot be opened on Windows
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it is renamed onto ``path``.

    >>> with atomic_path("out.json") as tmp:       # doctest: +SKIP
    ...     tmp.write_text("{}")

    On any exception the temporary file is removed and ``path`` is left as it was. The temporary
    name keeps ``path``'s suffix, so writers that choose a format by extension still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".part{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        _fsync(tmp)  # the data is on disk before the name points at it (a crash of the machine, not only
        os.replace(tmp, path)  # of the process, leaves the old file or the new one)
        _fsync(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
