"""Image folders (``<split>/<class>/<image>``), as folders or tar archives: your own dataset for the envs.

Why this file exists: :func:`load_image_folder` is the public way to use any labelled images with the
envs, and CIFAR-10's JPEG copy (:mod:`ram_env.data.cifar10`) is read the same way. Archives are read member by
member, never extracted (unsafe member paths and links are refused). Images are ordered round-robin over
the classes, so any tail slice is balanced. Decoding tens of thousands of JPEGs takes seconds, so decoded
splits are kept as ``.npy`` files in ``$XDG_CACHE_HOME/ram_env/decoded`` (``~/.cache/ram_env/decoded``),
keyed by the source's digest, and memory-mapped read-only by every later process, after a check of the sha256 they
were written with (a corrupted or swapped cache is decoded again).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tarfile
import zlib

import numpy as np

from ram_env.data.downloads import install, sha256_file
from ram_env.errors import DatasetNotFoundError

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder", "load_splits"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""File name endings (any case) that :func:`load_image_folder` decodes; other files are ignored."""


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
    and modification times of its files; later calls memory-map them after checking the sha256 they were written
    with (a corrupted or swapped cache is decoded again and replaced). An unwritable cache is skipped.

    Use the result with any env: ``gym.make("GlimpseMNIST-v0", images=images, labels=labels)``.
    """
    source = pathlib.Path(path).expanduser().resolve()
    if not source.exists():
        raise DatasetNotFoundError(f"image folder {source} does not exist (expected <split>/<class>/<images>)")
    splits, classes = load_splits(source, (split,), grayscale=grayscale, cache=cache)
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


def load_splits(
    source: pathlib.Path,
    splits: tuple[str, ...],
    grayscale: bool,
    cache: bool = True,
    digest: str | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """``{split: (images, labels)}`` and the class names of an image folder or archive, via the .npy cache."""
    mode = "gray" if grayscale else "rgb"
    if _is_archive(source):
        digest = digest or sha256_file(source)
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
_CACHE_DIGEST = "content.sha256"
"""Written last: the sha256 of the key and the three arrays, checked on every load (a mismatch is a miss)."""


def _content_digest(key: str, images: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> str:
    """sha256 of what a cache folder holds, key included (so another key's files, copied in, do not match)."""
    digest = hashlib.sha256(f"{key}\n{images.dtype.str} {images.shape}\n".encode())
    for array in (classes, labels, images):
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _cache_load(key: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """The cached (images, labels, classes) for ``key``, images memory-mapped read-only; None on a miss.

    A miss is also a folder whose arrays are not what its digest says (corrupted, swapped, half-replaced, or written
    before digests were kept): the caller decodes the split again and overwrites it.
    """
    folder = _decoded_cache_dir(key)
    try:
        classes = np.load(folder / "classes.npy", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
        recorded = (folder / _CACHE_DIGEST).read_text().strip()
    except (OSError, ValueError, EOFError):
        return None  # missing or unreadable: decode again (and overwrite)
    if (
        classes.dtype.kind != "U" or classes.ndim != 1
        or labels.dtype != np.int64 or images.dtype != np.uint8 or images.ndim not in (3, 4)
        or labels.shape != (len(images),) or (len(labels) and not 0 <= labels.min() <= labels.max() < len(classes))
    ):
        return None
    if recorded != _content_digest(key, images, labels, classes):
        return None
    labels.flags.writeable = False
    return images, labels, tuple(str(c) for c in classes)


def _cache_save(key: str, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> None:
    """Write the three .npy files, each atomically, then their digest (same key, same content: writers may race
    safely; a reader that sees one writer's arrays with another's digest only decodes again)."""
    folder = _decoded_cache_dir(key)
    arrays = dict(zip(_CACHE_FILES, (np.array(classes, dtype=str), labels, images)))
    digest = _content_digest(key, images, labels, arrays["classes.npy"])
    try:
        for name, array in arrays.items():
            install(folder, name, lambda out, a=array: np.save(out, a, allow_pickle=False))
        install(folder, _CACHE_DIGEST, lambda out: out.write(f"{digest}\n".encode()))
    except OSError:
        pass  # an unwritable cache only costs decoding again next time
