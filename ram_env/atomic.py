"""Atomic file writes, the one implementation every writer in the project uses.

A file is written to a temporary name in its own folder and renamed onto its path only when complete,
so a reader (or a ``kill -9`` in the middle) never sees half a file and an old file is never lost to a
failed write. Files end up readable by everyone (``mkstemp`` alone would leave them 0600). A process killed
mid-write leaves its temporary ``.<name>.<random>.part<suffix>`` behind; the next write into that folder (and the
next load of a dataset folder) removes such orphans once they are :data:`STALE_AFTER` seconds old.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILE_MODE", "STALE_AFTER", "atomic_path", "remove_stale_temporaries"]

FILE_MODE = 0o644
"""Permissions of every file written through :func:`atomic_path`."""

STALE_AFTER = 600.0
"""Seconds after its last write when a temporary file of :func:`atomic_path` counts as an orphan of a killed process.
A live writer writes at least every :data:`ram_env.data.downloads.DOWNLOAD_TIMEOUT` (60 s) seconds or gives up."""

# ".<name>.<8 characters of mkstemp>.part<the name's suffix>", what atomic_path names its temporary files
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.part(?P<suffix>\.[^.]*)?$")


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left in ``folder`` (not below it) when its process was killed,
    those not written for ``older_than`` seconds; returns what was removed. Other files are never touched, and
    a folder that is missing or cannot be written is left as it is."""
    removed = []
    with contextlib.suppress(OSError):
        now = time.time()
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if not match or Path(match["name"]).suffix != (match["suffix"] or "") or not entry.is_file(
                follow_symlinks=False
            ):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


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
    remove_stale_temporaries(path.parent)
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
