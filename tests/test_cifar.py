"""CIFAR-10 and image folders: the real lossy JPEG archive, the binary format, the decoded cache, the env.

The real-data tests read ``$RAM_ENV_DATA/cifar10-jpeg/cifar10-jpeg.tar.gz`` (decoded once, then cached in
the per-user cache like any user's run). Everything else uses small synthetic archives, batches and PNG
folders in ``tmp_path`` with a fresh cache folder, and no test reaches the network.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
from pathlib import Path

import cv2
import gymnasium as gym
import numpy as np
import pytest

from ram_env import data
from ram_env.data import cifar10

REAL = Path(os.environ.get("RAM_ENV_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
REAL_ARCHIVE = REAL / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
needs_real = pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"{REAL_ARCHIVE} not found (set RAM_ENV_DATA)")


# -------------------------------------------------------------------------------------------- helpers
def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _add(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
    assert ok
    return buf.tobytes()


def _images(rng: np.random.Generator, n: int, h: int = 4, w: int = 5) -> np.ndarray:
    return rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _write_archive(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            _add(tar, name, content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Official binary records: 1 label byte, then the R, G and B planes (32 rows of 32)."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def _fail_decode(*args, **kwargs):
    raise AssertionError("cv2.imdecode called: the decoded cache was not used")


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network; loads from temporary folders are dropped from the process cache after each test."""
    monkeypatch.setattr(data, "CIFAR10_MIRRORS", (_closed_port_url(),))
    yield
    for key in [key for key in data._CACHE if key[0] != REAL.resolve()]:
        del data._CACHE[key]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty per-user cache folder for the decoded arrays."""
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    return xdg / "ram_env" / "decoded"


@pytest.fixture
def synthetic_cifar(monkeypatch):
    """Random CIFAR-shaped parts with 8 records a batch (40 train, 8 test) and a 4-image val split."""
    monkeypatch.setattr(cifar10, "CIFAR10_RECORDS_PER_BATCH", 8)
    monkeypatch.setattr(data, "CIFAR10_NUM_VAL", 4)
    rng = np.random.default_rng(0)
    x, y = _images(rng, 48, 32, 32), rng.integers(0, 10, 48)
    batches = {f"data_batch_{i + 1}.bin": _batch_bytes(x[8 * i : 8 * i + 8], y[8 * i : 8 * i + 8]) for i in range(5)}
    batches["test_batch.bin"] = _batch_bytes(x[40:], y[40:])
    return x, y, batches


# ------------------------------------------------------------------------------------ the real archive
@needs_real
def test_real_jpeg_archive_splits():
    splits = {split: data.load_split("cifar10", split, data_dir=REAL, download=False) for split in data.SPLITS}
    sizes = {"train": 45_000, "val": 5_000, "trainval": 50_000, "test": 10_000}
    for split, (images, labels) in splits.items():
        assert images.shape == (sizes[split], 32, 32, 3) and images.dtype == np.uint8
        assert labels.shape == (sizes[split],) and labels.dtype == np.int64
        assert not images.flags.writeable and not labels.flags.writeable
        with pytest.raises(ValueError):
            images[0, 0, 0, 0] = 1
        again = data.load_split("cifar10", split, data_dir=REAL, download=False)
        assert again[0] is images and again[1] is labels
    all_x, all_y = splits["trainval"]
    for split, start in (("train", 0), ("val", 45_000)):
        x, y = splits[split]
        assert np.shares_memory(x, all_x) and x.ctypes.data == all_x[start:].ctypes.data
        assert np.shares_memory(y, all_y)
    # Round-robin order: every class is equally present in train, val and test.
    assert np.bincount(all_y).tolist() == [5_000] * 10
    assert np.bincount(splits["train"][1]).tolist() == [4_500] * 10
    assert np.bincount(splits["val"][1]).tolist() == [500] * 10
    assert np.bincount(splits["test"][1]).tolist() == [1_000] * 10
    assert all_y[:20].tolist() == list(range(10)) * 2
    assert list(data.class_names("cifar10")) == CLASSES == sorted(CLASSES)
    assert data.CIFAR10_CLASSES == tuple(CLASSES)
    assert "lossy JPEG" in data.dataset_source("cifar10", "val", data_dir=REAL)
    assert "official IDX" in data.dataset_source("mnist", "test", data_dir=REAL)
    # Channel means of CIFAR-10 (R > G > B, about 125, 123, 114): the arrays are RGB, not BGR.
    means = all_x[::7].reshape(-1, 3).mean(0)  # every 7th: all classes (every 10th would be one class)
    np.testing.assert_allclose(means, [125.3, 123.0, 113.9], atol=1.5)


@needs_real
def test_real_images_are_the_archive_members_in_rgb():
    images, labels = data.load_split("cifar10", "trainval", data_dir=REAL, download=False)
    test_images, _ = data.load_split("cifar10", "test", data_dir=REAL, download=False)
    with tarfile.open(REAL_ARCHIVE, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for split, array, index in (("train", images, 0), ("train", images, 23_457), ("test", test_images, 9_999)):
            class_name, rank = CLASSES[index % 10], index // 10
            name = sorted(n for n in members if n.startswith(f"{split}/{class_name}/"))[rank]
            raw = tar.extractfile(members[name]).read()
            bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            np.testing.assert_array_equal(array[index], bgr[..., ::-1], err_msg=name)
            np.testing.assert_array_equal(array[index].mean((0, 1)), bgr.mean((0, 1))[::-1])
            if split == "train":
                assert labels[index] == index % 10


# --------------------------------------------------------------------------- the env on a CIFAR image
def _reference_glimpse(image: np.ndarray, x: float, y: float, g: int, k: int) -> np.ndarray:
    """Slow per-pixel retina for an (H, W, C) image: (scale, channel, row, col) order, 0 outside."""
    h, w, c = image.shape
    cx, cy = int(np.floor((x + 1) / 2 * w)), int(np.floor((y + 1) / 2 * h))
    out = []
    for s in range(k):
        b, side = 2**s, g * 2**s
        top, left = cy - side // 2, cx - side // 2
        for ch in range(c):
            for r in range(g):
                for col in range(g):
                    total = 0
                    for i in range(top + r * b, top + (r + 1) * b):
                        for j in range(left + col * b, left + (col + 1) * b):
                            if 0 <= i < h and 0 <= j < w:
                                total += int(image[i, j, ch])
                    out.append(np.float32(total) / np.float32(b * b * 255))
    return np.array(out, dtype=np.float32)


@needs_real
@pytest.mark.parametrize(
    ("kwargs", "location"), [({}, (0.3, -0.6)), ({"glimpse_size": 6, "num_scales": 2}, (0.9, -1.0))]
)
def test_env_glimpse_keeps_colour(kwargs, location):
    env = gym.make("GlimpseCIFAR10-v0", split="val", initial_location=list(location), **kwargs)
    obs, _ = env.reset(seed=0, options={"index": 123})
    g, k = kwargs.get("glimpse_size", 8), kwargs.get("num_scales", 1)
    assert obs["glimpse"].shape == (k * 3 * g * g,)
    image = data.load_split("cifar10", "val")[0][123]
    expected = _reference_glimpse(image, *location, g, k)
    np.testing.assert_array_equal(obs["glimpse"], expected)
    assert np.abs(expected.reshape(k, 3, g, g)[:, 0] - expected.reshape(k, 3, g, g)[:, 2]).max() > 0  # not grey


# -------------------------------------------------------------------------------- the binary format
def test_binary_batches_parsed(tmp_path, synthetic_cifar):
    x, y, batches = synthetic_cifar
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, content in batches.items():
        (folder / name).write_bytes(content)
    (tmp_path / "cifar10-jpeg").mkdir()  # a JPEG folder too: the official files win
    xs, ys = data.load_split("cifar10", "trainval", data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(xs, x[:40])
    np.testing.assert_array_equal(ys, y[:40])
    assert xs.shape == (40, 32, 32, 3) and ys.dtype == np.int64 and not xs.flags.writeable
    xv, yv = data.load_split("cifar10", "val", data_dir=tmp_path)
    np.testing.assert_array_equal(xv, x[36:40])
    xt, yt = data.load_split("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(xt, x[40:])
    np.testing.assert_array_equal(yt, y[40:])
    assert "official binary batches" in data.dataset_source("cifar10", data_dir=tmp_path)


def test_binary_batch_errors(synthetic_cifar):
    x, y, batches = synthetic_cifar
    good = batches["test_batch.bin"]
    with pytest.raises(ValueError, match=r"exactly 8 records of 3073 bytes") as info:
        cifar10.parse_batch("b.bin", good[:-1])
    assert "b.bin" in str(info.value)
    bad = bytearray(good)
    bad[3 * 3073] = 10
    with pytest.raises(ValueError, match="record 3 has label 10"):
        cifar10.parse_batch("b.bin", bytes(bad))


def _binary_archive(path: Path, batches: dict[str, bytes]) -> str:
    files = {f"cifar-10-batches-bin/{name}": content for name, content in batches.items()}
    files["cifar-10-batches-bin/batches.meta.txt"] = "\n".join(CLASSES).encode()
    _write_archive(path, files)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_binary_archive_read_without_extracting_and_md5_checked(tmp_path, synthetic_cifar, monkeypatch):
    x, y, batches = synthetic_cifar
    archive = tmp_path / "cifar10" / cifar10.CIFAR10_ARCHIVE
    archive.parent.mkdir()
    md5 = _binary_archive(archive, batches)
    with pytest.raises(data.ChecksumError) as info:  # not the published archive
        data.load_split("cifar10", "test", data_dir=tmp_path)
    message = str(info.value)
    assert str(archive) in message and md5 in message and "c32a1d4ab5d03f1284b67883e8d87530" in message
    monkeypatch.setattr(cifar10, "CIFAR10_ARCHIVE_MD5", md5)
    xt, yt = data.load_split("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(xt, x[40:])
    np.testing.assert_array_equal(data.load_split("cifar10", "train", data_dir=tmp_path)[1], y[:36])
    assert _files(tmp_path / "cifar10") == [cifar10.CIFAR10_ARCHIVE]  # nothing extracted
    assert "binary archive (MD5-verified)" in data.dataset_source("cifar10", data_dir=tmp_path)


@pytest.fixture
def serve():
    servers = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def start(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_binary_download(tmp_path, synthetic_cifar, monkeypatch, serve):
    x, _, batches = synthetic_cifar
    site = tmp_path / "site"
    site.mkdir()
    md5 = _binary_archive(site / cifar10.CIFAR10_ARCHIVE, batches)
    monkeypatch.setattr(cifar10, "CIFAR10_ARCHIVE_MD5", md5)
    closed, url = _closed_port_url(), serve(site)
    monkeypatch.setattr(data, "CIFAR10_MIRRORS", (closed, url))
    root = tmp_path / "root"
    with pytest.raises(data.DatasetNotFoundError):
        data.load_split("cifar10", "test", data_dir=root, download=False)
    xt, _ = data.load_split("cifar10", "test", data_dir=root)
    np.testing.assert_array_equal(xt, x[40:])
    assert _files(root) == ["cifar10", f"cifar10/{cifar10.CIFAR10_ARCHIVE}"]  # no temporary file left


def test_binary_download_failure_leaves_nothing(tmp_path, synthetic_cifar, monkeypatch, serve):
    site = tmp_path / "site"
    site.mkdir()
    (site / cifar10.CIFAR10_ARCHIVE).write_bytes(b"not the archive")
    url = serve(site)
    monkeypatch.setattr(data, "CIFAR10_MIRRORS", (url,))
    root = tmp_path / "root"
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("cifar10", "val", data_dir=root)
    message = str(info.value)
    assert f"{url}{cifar10.CIFAR10_ARCHIVE}: ChecksumError" in message and str(root / "cifar10") in message
    assert _files(root / "cifar10") == []


def test_not_found_message(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CIFAR10_MIRRORS", ("https://www.cs.toronto.edu/~kriz/",))  # download=False below
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_split("cifar10", "train", data_dir=tmp_path, download=False)
    message = str(info.value)
    for expected in (
        str(tmp_path / "cifar10"),
        str(tmp_path / "cifar10-jpeg"),
        "cifar-10-binary.tar.gz",
        "data_batch_1.bin",
        "test_batch.bin",
        "cifar10-jpeg.tar.gz",
        "train/<class>/*.jpg",
        "RAM_ENV_DATA",
        "data_dir=",
        "download=True",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    ):
        assert expected in message, expected
    assert _files(tmp_path) == []


# ------------------------------------------------------------------------- the JPEG source (synthetic)
def _cifar_like_archive(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An image-folder archive of CIFAR-10's layout: 2 train and 1 test PNG (lossless) a class."""
    x = {"train": _images(rng, 20, 32, 32), "test": _images(rng, 10, 32, 32)}
    files = {}
    for split, images in x.items():
        for i, image in enumerate(images):  # round-robin order: image i is class i % 10, rank i // 10
            files[f"{split}/{CLASSES[i % 10]}/{i // 10:04d}.png"] = _png(image)
    _write_archive(path, dict(reversed(files.items())))  # archive order does not matter
    return x


def test_jpeg_source_archive_checked_and_cached(tmp_path, monkeypatch, fresh_cache):
    archive = tmp_path / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    archive.parent.mkdir()
    x = _cifar_like_archive(archive, np.random.default_rng(1))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(data.ChecksumError) as info:
        data.load_split("cifar10", "test", data_dir=tmp_path)
    assert sha in str(info.value) and cifar10.CIFAR10_JPEG_SHA256 in str(info.value) and str(archive) in str(info.value)
    monkeypatch.setattr(cifar10, "CIFAR10_JPEG_SHA256", sha)
    monkeypatch.setitem(cifar10.CIFAR10_SIZES, "train", 20)
    monkeypatch.setitem(cifar10.CIFAR10_SIZES, "test", 10)
    monkeypatch.setattr(data, "CIFAR10_NUM_VAL", 10)
    xs, ys = data.load_split("cifar10", "trainval", data_dir=tmp_path)
    np.testing.assert_array_equal(xs, x["train"])
    assert ys.tolist() == list(range(10)) * 2
    np.testing.assert_array_equal(data.load_split("cifar10", "test", data_dir=tmp_path)[0], x["test"])
    assert len(list(fresh_cache.glob("*/images.npy"))) == 2  # train and test decoded once, cached
    # A new process (emptied process cache) reads the .npy files and decodes nothing.
    data._CACHE.clear()
    monkeypatch.setattr(cv2, "imdecode", _fail_decode)
    xv, yv = data.load_split("cifar10", "val", data_dir=tmp_path)
    np.testing.assert_array_equal(xv, x["train"][10:])
    assert not xv.flags.writeable and not yv.flags.writeable
    assert "lossy JPEG" in data.dataset_source("cifar10", data_dir=tmp_path)


def test_jpeg_source_wrong_classes(tmp_path, monkeypatch, fresh_cache):
    folder = tmp_path / "cifar10-jpeg"
    rng = np.random.default_rng(2)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            (folder / split / name).mkdir(parents=True)
            (folder / split / name / "0.png").write_bytes(_png(_images(rng, 1, 32, 32)[0]))
    with pytest.raises(ValueError, match=r"class folders \['cat', 'dog'\], expected CIFAR-10's"):
        data.load_split("cifar10", "test", data_dir=tmp_path)


# -------------------------------------------------------------------------------------- path traversal
@pytest.mark.parametrize("bad", ["train/cat/../../../evil.png", "../evil.png", "/tmp/ram_env_evil.png", "link"])
def test_archive_members_never_leave_the_archive(tmp_path, fresh_cache, bad):
    archive = tmp_path / "inside" / "data.tar.gz"
    archive.parent.mkdir()
    png = _png(_images(np.random.default_rng(3), 1)[0])
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "train/cat/0.png", png)
        if bad == "link":
            info = tarfile.TarInfo("train/cat/1.png")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            _add(tar, bad, png)
    with pytest.raises(ValueError, match="link or special file" if bad == "link" else "unsafe member path"):
        data.load_image_folder(archive, "train")
    assert _files(tmp_path) == ["inside", "inside/data.tar.gz"]
    assert not Path("/tmp/ram_env_evil.png").exists()


# --------------------------------------------------------------------------------- image-folder loader
def _write_folder(root: Path, layout: dict[str, dict[str, np.ndarray]]) -> None:
    for split, classes in layout.items():
        for class_name, images in classes.items():
            (root / split / class_name).mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(images):
                (root / split / class_name / f"img{i:02d}.png").write_bytes(_png(image))


def test_image_folder_order_labels_and_rgb(tmp_path, fresh_cache):
    rng = np.random.default_rng(4)
    a, b, c = _images(rng, 3), _images(rng, 1), _images(rng, 2)
    _write_folder(tmp_path / "ds", {"train": {"a": a, "b": b, "c": c}, "test": {"a": a[:1], "c": c[:1]}})
    (tmp_path / "ds" / "train" / "a" / "notes.txt").write_text("ignored")
    (tmp_path / "ds" / "train" / "a" / ".hidden.png").write_bytes(b"ignored")
    images, labels, classes = data.load_image_folder(tmp_path / "ds", "train")
    assert classes == ("a", "b", "c") and images.shape == (6, 4, 5, 3) and images.dtype == np.uint8
    # Round-robin: first file of every class, then the second of every class, ...
    assert labels.tolist() == [0, 1, 2, 0, 2, 0] and labels.dtype == np.int64
    np.testing.assert_array_equal(images, np.stack([a[0], b[0], c[0], a[1], c[1], a[2]]))
    assert not images.flags.writeable and not labels.flags.writeable
    # Classes are the union over splits: "c" keeps label 2 in a test split without "b".
    test_images, test_labels, test_classes = data.load_image_folder(tmp_path / "ds", "test")
    assert test_classes == classes and test_labels.tolist() == [0, 2]
    gray, _, _ = data.load_image_folder(tmp_path / "ds", "train", grayscale=True, cache=False)
    assert gray.shape == (6, 4, 5)
    first = (tmp_path / "ds" / "train" / "a" / "img00.png").read_bytes()
    np.testing.assert_array_equal(gray[0], cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_GRAYSCALE))
    # The arrays work as user data for the envs.
    env = gym.make("GlimpseMNIST-v0", images=images, labels=labels, glimpse_size=2)
    assert env.observation_space["glimpse"].shape == (3 * 2 * 2,) and env.action_space.shape == (2 + 3,)


def test_image_folder_cache_used_then_invalidated(tmp_path, monkeypatch, fresh_cache):
    rng = np.random.default_rng(5)
    _write_folder(tmp_path / "ds", {"train": {"a": _images(rng, 2), "b": _images(rng, 2)}})
    first = data.load_image_folder(tmp_path / "ds", "train")
    assert len(list(fresh_cache.glob("*/*.npy"))) == 3
    monkeypatch.setattr(cv2, "imdecode", _fail_decode)
    second = data.load_image_folder(tmp_path / "ds", "train")
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    assert not second[0].flags.writeable
    # Changing a file changes the key: it is decoded again (and here the patched decoder fails).
    changed = tmp_path / "ds" / "train" / "b" / "img01.png"
    changed.write_bytes(_png(_images(rng, 1)[0]))
    os.utime(changed, ns=(1, 1))
    with pytest.raises(AssertionError, match="cache was not used"):
        data.load_image_folder(tmp_path / "ds", "train")


def test_image_folder_archive(tmp_path, fresh_cache):
    rng = np.random.default_rng(6)
    x = _images(rng, 3)
    archive = tmp_path / "ds.tgz"
    _write_archive(archive, {"./train/b/1.png": _png(x[2]), "train/a/1.png": _png(x[0]), "train/a/2.png": _png(x[1])})
    images, labels, classes = data.load_image_folder(archive, "train")
    assert classes == ("a", "b") and labels.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(images, x[[0, 2, 1]])


def test_image_folder_errors(tmp_path, fresh_cache):
    rng = np.random.default_rng(7)
    _write_folder(tmp_path / "ds", {"train": {"a": _images(rng, 2), "b": _images(rng, 1)}})
    with pytest.raises(data.DatasetNotFoundError, match=r"no split folder 'test'; found \['train'\]"):
        data.load_image_folder(tmp_path / "ds", "test")
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load_image_folder(tmp_path / "nothing", "train")
    bad = tmp_path / "ds" / "train" / "b" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="cannot be decoded") as info:
        data.load_image_folder(tmp_path / "ds", "train")
    assert str(bad) in str(info.value)
    bad.unlink()
    big = tmp_path / "ds" / "train" / "b" / "img09.png"
    big.write_bytes(_png(_images(rng, 1, 6, 5)[0]))
    with pytest.raises(ValueError, match=r"shape \(6, 5, 3\).*same size") as info:
        data.load_image_folder(tmp_path / "ds", "train")
    assert str(big) in str(info.value)
    assert not fresh_cache.exists()  # nothing cached from failed decodes


def test_class_names():
    assert data.class_names("mnist") == tuple("0123456789")
    assert len(data.class_names("fashion-mnist")) == 10 and data.class_names("fashion-mnist")[9] == "Ankle boot"
    with pytest.raises(ValueError, match="must be one of"):
        data.class_names("svhn")
