"""Omniglot (Lake et al. 2015, MIT licence) from its official zips, and the splits and open-set task built on it.

Why this file exists: Omniglot comes as four zips of PNG files (``<set>/<alphabet>/characterNN/<id>_<drawer>.png``,
105x105, 1-bit, strokes dark on white, 20 drawers a character) in the ``python/`` folder of the official repository
(:data:`OMNIGLOT_URL`). This module reads them *in memory* (never extracted), checks each against its published MD5
(and sha256 where one is published), decodes them once into ``uint8 (N, 105, 105)`` arrays with the strokes at 255
and the background at 0 (inverted, "as in MNIST": the retina then sees strokes as 1.0), keeps those arrays in the
decoded-array cache shared with the image folders (:mod:`ram_env.data.image_folder`, keyed by the zip's MD5), and
downloads a missing zip (``download=True``) from the official repository, atomically and verified.

The character set (``alphabets=``) is a named set of :data:`ALPHABET_SETS` or a list of alphabet names; which zip
each alphabet is read from is fixed by :func:`zips_of` (never by which files happen to be on disk), and the small
subsets hold the same drawings as the full background set. Classes are the characters of the chosen alphabets,
sorted by (alphabet, character folder). Splits are by **drawer** (the ``_NN`` of the file name, 01-20):
:data:`DRAWER_SPLITS`, so the test images are drawn by drawer numbers never shown in training. Within a split, images
are ordered drawer by drawer, each drawer's images in class order, so any prefix is balanced over the classes.

The open set (:func:`load_omniglot` with ``unknown_alphabets``/``unseen_alphabets``): the characters of the *known*
alphabets are the classes ``0 ... K-1``; every image of an *unknown* alphabet (shown in training) or an *unseen*
alphabet (only in ``val``/``test``, never in ``train``/``trainval``) has the label ``K``, the unknown class.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pathlib
import threading
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ram_env.atomic import remove_stale_temporaries
from ram_env.data.downloads import download_file, from_mirrors, md5, unwritable_folder
from ram_env.data.image_folder import _cache_load, _cache_save
from ram_env.errors import ChecksumError, DatasetNotFoundError

__all__ = [
    "ALPHABETS",
    "ALPHABET_SETS",
    "DRAWER_SPLITS",
    "OMNIGLOT_FOLDER",
    "OMNIGLOT_IMAGE_SIZE",
    "OMNIGLOT_URL",
    "OMNIGLOT_ZIPS",
    "OmniglotSplit",
    "choose_open_set",
    "load_omniglot",
    "read_zip",
    "resolve_alphabets",
    "zips_of",
]

OMNIGLOT_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
"""The official repository's ``python/`` folder, where every zip of :data:`OMNIGLOT_ZIPS` is published."""
OMNIGLOT_FOLDER = "omniglot"
"""The subfolder of the data root that holds the zips."""
OMNIGLOT_IMAGE_SIZE = 105
OMNIGLOT_DRAWERS = 20


@dataclass(frozen=True)
class _Zip:
    name: str
    md5: str
    sha256: str | None  # where one is published


OMNIGLOT_ZIPS: dict[str, _Zip] = {
    "background": _Zip("images_background.zip", "68d2efa1b9178cc56df9314c21c6e718", None),
    "evaluation": _Zip("images_evaluation.zip", "6b91aef0f799c5bb55b94e3f2daec811", None),
    "small1": _Zip(
        "images_background_small1.zip",
        "e704a628b5459e08445c13499850abc4",
        "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
    ),
    "small2": _Zip(
        "images_background_small2.zip",
        "b75a71a51d3b13f821f212756fe481fd",
        "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
    ),
}
"""zip key -> its file name and published digests (read at call time, so tests may substitute zips they build)."""

_SMALL1 = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")
_SMALL2 = ("Greek", "Japanese_(katakana)", "Latin", "Sanskrit", "Tagalog")
_BACKGROUND = (
    "Alphabet_of_the_Magi", "Anglo-Saxon_Futhorc", "Arcadian", "Armenian", "Asomtavruli_(Georgian)", "Balinese",
    "Bengali", "Blackfoot_(Canadian_Aboriginal_Syllabics)", "Braille", "Burmese_(Myanmar)", "Cyrillic",
    "Early_Aramaic", "Futurama", "Grantha", "Greek", "Gujarati", "Hebrew", "Inuktitut_(Canadian_Aboriginal_Syllabics)",
    "Japanese_(hiragana)", "Japanese_(katakana)", "Korean", "Latin", "Malay_(Jawi_-_Arabic)", "Mkhedruli_(Georgian)",
    "N_Ko", "Ojibwe_(Canadian_Aboriginal_Syllabics)", "Sanskrit", "Syriac_(Estrangelo)", "Tagalog", "Tifinagh",
)  # fmt: skip
_EVALUATION = (
    "Angelic", "Atemayar_Qelisayer", "Atlantean", "Aurek-Besh", "Avesta", "Ge_ez", "Glagolitic", "Gurmukhi",
    "Kannada", "Keble", "Malayalam", "Manipuri", "Mongolian", "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Sylheti",
    "Syriac_(Serto)", "Tengwar", "Tibetan", "ULOG",
)  # fmt: skip

ALPHABETS: dict[str, tuple[str, ...]] = {
    "background": _BACKGROUND,
    "evaluation": _EVALUATION,
    "small1": _SMALL1,
    "small2": _SMALL2,
}
"""zip key -> the alphabets it holds (the published lists; a zip that does not hold them is refused)."""

ALPHABET_SETS: dict[str, tuple[str, ...]] = {
    "background": ("background",),
    "evaluation": ("evaluation",),
    "all": ("background", "evaluation"),
    "small1": ("small1",),
    "small2": ("small2",),
    "small": ("small1", "small2"),
}
"""The named character sets of ``alphabets=`` -> the zips whose alphabets they are (``"small"``: 8 alphabets, 242
characters; ``"background"``: 30, 964; ``"evaluation"``: 20, 659; ``"all"``: 50, 1,623)."""

DRAWER_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(1, 13)),
    "val": tuple(range(13, 17)),
    "trainval": tuple(range(1, 17)),
    "test": tuple(range(17, 21)),
}
"""split -> the drawer numbers (the ``_NN`` of ``<id>_NN.png``) whose images form it: 12 / 4 / 4 of the 20."""

UNKNOWN = "unknown"
"""The name of the open set's extra class."""


# ------------------------------------------------------------------------------------------- alphabets
def resolve_alphabets(alphabets: str | Sequence[str]) -> tuple[str, ...]:
    """The sorted alphabet names of a named set or a list; ``ValueError`` naming what is accepted otherwise."""
    every = sorted({a for names in ALPHABETS.values() for a in names})
    if isinstance(alphabets, str):
        if alphabets not in ALPHABET_SETS:
            raise ValueError(
                f"alphabets must be one of the named sets {sorted(ALPHABET_SETS)} or a list of alphabet names; "
                f"got {alphabets!r}"
            )
        return tuple(sorted({a for key in ALPHABET_SETS[alphabets] for a in ALPHABETS[key]}))
    if not isinstance(alphabets, Sequence) or not all(isinstance(a, str) for a in alphabets):
        raise ValueError(f"alphabets must be a named set {sorted(ALPHABET_SETS)} or a list of names, got {alphabets!r}")
    if not alphabets:
        raise ValueError(f"alphabets is empty: name at least one alphabet, or a named set {sorted(ALPHABET_SETS)}")
    unknown = sorted(set(alphabets) - set(every))
    if unknown:
        raise ValueError(f"unknown Omniglot alphabet(s) {unknown}; the alphabets are {every}")
    if len(set(alphabets)) != len(alphabets):
        raise ValueError(f"alphabets lists a name twice: {list(alphabets)}")
    return tuple(sorted(alphabets))


def zips_of(alphabets: Sequence[str], named_set: str | None = None) -> dict[str, str]:
    """alphabet -> the zip key it is read from: a named set's own zips (in :data:`ALPHABET_SETS` order); for a list, the
    first of small1, small2, background, evaluation that holds the alphabet.

    A fixed rule, so the same names read the same drawings on every machine (the small subsets hold the background
    set's files, byte for byte)."""
    order = ALPHABET_SETS[named_set] if named_set is not None else ("small1", "small2", "background", "evaluation")
    return {a: next(key for key in order if a in ALPHABETS[key]) for a in alphabets}


def choose_open_set(
    alphabets: tuple[str, ...], unknown: int | Sequence[str], unseen: int | Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(known, unknown, unseen) alphabets of an open-set task over ``alphabets`` (sorted names).

    An integer ``n`` takes alphabets in name order: ``unseen`` the first ones, then ``unknown`` the next ones of those
    left (the reference implementation holds out the first two by name); a list names them. At least one alphabet
    must stay known, and no alphabet may be both unknown and unseen.
    """

    def pick(value: int | Sequence[str], free: list[str], what: str) -> tuple[str, ...]:
        if isinstance(value, bool) or not isinstance(value, int | Sequence) or isinstance(value, str):
            raise ValueError(f"{what} must be a number of alphabets or a list of alphabet names, got {value!r}")
        if isinstance(value, int):
            if not 0 <= value < len(free):
                raise ValueError(
                    f"{what}={value}: must be in [0, {len(free)}) so that at least one alphabet of {free} stays known"
                )
            return tuple(free[:value])
        wrong = sorted(set(value) - set(free))
        if wrong:
            raise ValueError(f"{what} {wrong} are not among the alphabets still free to choose: {free}")
        return tuple(sorted(value))

    unseen_set = pick(unseen, list(alphabets), "unseen_alphabets")
    unknown_set = pick(unknown, [a for a in alphabets if a not in unseen_set], "unknown_alphabets")
    known = tuple(a for a in alphabets if a not in unseen_set and a not in unknown_set)
    if not known:
        raise ValueError(f"no known alphabet left of {list(alphabets)}: unknown and unseen alphabets take them all")
    return known, unknown_set, unseen_set


# ------------------------------------------------------------------------------------------------- zips
def read_zip(path: pathlib.Path, key: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Images of one official zip, ``uint8 (C * 20, 105, 105)`` inverted (strokes 255), and its ``C`` character names
    ``"<alphabet>/<characterNN>"`` sorted; image ``i`` is drawer ``i % 20 + 1`` of character ``i // 20``.

    Checks the whole file's MD5 (and sha256, where published) first; then every character must hold exactly the
    drawers 01-20 as 105x105 PNGs, and the zip exactly the alphabets published for it. Decoded once: later calls read
    the decoded-array cache (keyed by the MD5).
    """
    spec = OMNIGLOT_ZIPS[key]
    content = path.read_bytes()
    actual = md5(content)
    if actual != spec.md5:
        raise ChecksumError(
            f"{path}: MD5 {actual}, expected {spec.md5} (the file is corrupted, truncated or not the published "
            f"{spec.name}; delete it to fetch it again from {OMNIGLOT_URL})"
        )
    if spec.sha256 is not None:
        sha = hashlib.sha256(content).hexdigest()
        if sha != spec.sha256:
            raise ChecksumError(f"{path}: sha256 {sha}, expected {spec.sha256} (not the published {spec.name})")
    cache_key = f"omniglot {spec.md5} inverted"
    hit = _cache_load(cache_key)
    size = (OMNIGLOT_IMAGE_SIZE, OMNIGLOT_IMAGE_SIZE)
    if hit is not None and hit[0].shape == (OMNIGLOT_DRAWERS * len(hit[2]), *size):
        return hit[0], hit[2]
    images, characters = _decode(path, content, key)
    labels = np.repeat(np.arange(len(characters), dtype=np.int64), OMNIGLOT_DRAWERS)
    _cache_save(cache_key, images, labels, characters)
    images.flags.writeable = False
    return images, characters


def _decode(path: pathlib.Path, content: bytes, key: str) -> tuple[np.ndarray, tuple[str, ...]]:
    import cv2  # here, so that MNIST users never pay for importing OpenCV

    files: dict[str, dict[int, str]] = {}  # "<alphabet>/<character>" -> drawer -> member name
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable zip archive: {exc}") from exc
    for name in names:
        parts = name.split("/")
        if name.endswith("/") or not name.lower().endswith(".png"):
            continue
        stem = parts[-1][:-4]
        if len(parts) != 4 or "_" not in stem or not stem.rsplit("_", 1)[1].isdigit():
            raise ValueError(f"{path}: member {name!r} is not <set>/<alphabet>/<character>/<id>_<drawer>.png")
        drawer = int(stem.rsplit("_", 1)[1])
        drawers = files.setdefault(f"{parts[1]}/{parts[2]}", {})
        if drawer in drawers:
            raise ValueError(f"{path}: {drawers[drawer]!r} and {name!r} are both drawer {drawer} of one character")
        drawers[drawer] = name
    found = sorted({c.split("/")[0] for c in files})
    if found != sorted(ALPHABETS[key]):
        raise ValueError(
            f"{path}: holds the alphabets {found}; the published {OMNIGLOT_ZIPS[key].name} holds "
            f"{sorted(ALPHABETS[key])}"
        )
    characters = tuple(sorted(files))
    images = np.empty((len(characters) * OMNIGLOT_DRAWERS, OMNIGLOT_IMAGE_SIZE, OMNIGLOT_IMAGE_SIZE), np.uint8)
    for c, character in enumerate(characters):
        drawers = files[character]
        if sorted(drawers) != list(range(1, OMNIGLOT_DRAWERS + 1)):
            raise ValueError(f"{path}: {character} has the drawers {sorted(drawers)}, expected 1 ... 20 once each")
        for d in range(OMNIGLOT_DRAWERS):
            member = drawers[d + 1]
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"{path}: member {member!r} cannot be read: {exc}") from exc
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if image is None or image.shape != (OMNIGLOT_IMAGE_SIZE, OMNIGLOT_IMAGE_SIZE):
                got = "not a decodable image" if image is None else f"shape {image.shape}"
                raise ValueError(f"{path}: member {member!r} is {got}, expected a 105x105 PNG")
            np.subtract(255, image, out=images[c * OMNIGLOT_DRAWERS + d])  # strokes bright, background 0
    return images, characters


def _zip_path(root: pathlib.Path, key: str, download: bool) -> pathlib.Path:
    """The zip ``key`` under ``root/omniglot``, downloaded first when missing and ``download``; else not-found."""
    folder = root / OMNIGLOT_FOLDER
    spec = OMNIGLOT_ZIPS[key]
    path = folder / spec.name
    if path.is_file():
        return path
    remove_stale_temporaries(folder)
    attempts: list[str] = []
    if download:
        blocked = unwritable_folder(folder)
        if blocked is not None:
            attempts.append(f"not attempted: {blocked} is not writable")
        else:
            fetch = functools.partial(download_file, folder=folder, name=spec.name, expected_md5=spec.md5)
            if from_mirrors((OMNIGLOT_URL,), spec.name, fetch, attempts):
                return path
    lines = [f"Omniglot not found: {path} is missing (the official {spec.name}, MD5 {spec.md5})."]
    if attempts:
        lines.append("Download attempts:\n  " + "\n  ".join(attempts))
    lines.append(
        f"To provide it: download {OMNIGLOT_URL}{spec.name} into {folder} (as it is: it is read without extracting), "
        "or set $RAM_ENV_DATA (or pass data_dir=) to a folder with an omniglot/ subfolder holding it"
        + ("; or pass download=True to fetch it." if not download else "; or retry where the site is reachable.")
    )
    raise DatasetNotFoundError("\n".join(lines))


# ------------------------------------------------------------------------------------------ the splits
@dataclass(frozen=True)
class OmniglotSplit:
    """One split of an Omniglot task, every array read-only."""

    images: np.ndarray  # uint8 (N, 105, 105), strokes 255
    labels: np.ndarray  # int64 (N,): the character's class; in an open set, len(class_names) - 1 = unknown
    class_names: tuple[str, ...]  # "<alphabet>/<characterNN>", in an open set then "unknown"
    unknown_class: int | None  # the open set's unknown class, else None
    unseen: np.ndarray | None  # bool (N,): the image's alphabet is never shown in train/trainval (open set only)
    known: tuple[str, ...]  # the alphabets whose characters are classes
    unknown: tuple[str, ...]  # open set: alphabets labelled unknown in every split
    unseen_alphabets: tuple[str, ...]  # open set: alphabets labelled unknown, only in val/test


_ZIPS: dict[tuple[pathlib.Path, str], tuple[np.ndarray, tuple[str, ...]]] = {}
_SPLITS: dict[tuple, OmniglotSplit] = {}
_LOCK = threading.Lock()


def load_omniglot(
    split: str,
    alphabets: str | Sequence[str] = "small",
    unknown_alphabets: int | Sequence[str] = 0,
    unseen_alphabets: int | Sequence[str] = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> OmniglotSplit:
    """One split (``train``/``val``/``trainval``/``test``, by drawer: :data:`DRAWER_SPLITS`) of an Omniglot task.

    ``alphabets`` is a named set of :data:`ALPHABET_SETS` or a list of alphabet names. With ``unknown_alphabets`` or
    ``unseen_alphabets`` (a count or a list, see :func:`choose_open_set`) the task is an open set: the known
    alphabets' characters are the classes, and one more class, ``unknown``, labels every image of the unknown
    alphabets (in every split) and of the unseen ones (in ``val`` and ``test`` only). The zips are read from
    ``<data root>/omniglot/`` (downloaded when missing and ``download``); the result is loaded once per process and
    shared. Raises ``ValueError`` for bad names or counts, :class:`DatasetNotFoundError` for a missing zip that
    cannot be fetched, :class:`ChecksumError` for one that is not the published file.
    """
    from ram_env.data import SPLITS, resolve_data_dir

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    names = resolve_alphabets(alphabets)
    known, unknown, unseen = choose_open_set(names, unknown_alphabets, unseen_alphabets)
    open_set = bool(unknown or unseen)
    root = resolve_data_dir(data_dir)
    source = zips_of(names, alphabets if isinstance(alphabets, str) else None)
    key = (root, split, known, unknown, unseen, open_set, tuple(sorted(source.items())))
    with _LOCK:
        if key not in _SPLITS:
            _SPLITS[key] = _build(root, split, known, unknown, unseen, open_set, source, download)
        return _SPLITS[key]


def _build(
    root: pathlib.Path,
    split: str,
    known: tuple[str, ...],
    unknown: tuple[str, ...],
    unseen: tuple[str, ...],
    open_set: bool,
    source: dict[str, str],
    download: bool,
) -> OmniglotSplit:
    shown = set(known + unknown + (unseen if split not in ("train", "trainval") else ()))
    source = {a: z for a, z in source.items() if a in shown}
    rows: list[np.ndarray] = []  # per character: the indices of its 20 images in its zip's array
    arrays: dict[str, np.ndarray] = {}
    characters: list[tuple[str, str]] = []  # (alphabet, character name)
    for zip_key in sorted(set(source.values())):
        cache_key = (root, zip_key)
        if cache_key not in _ZIPS:
            _ZIPS[cache_key] = read_zip(_zip_path(root, zip_key, download), zip_key)
        images, names = _ZIPS[cache_key]
        arrays[zip_key] = images
        for c, name in enumerate(names):
            alphabet = name.split("/")[0]
            if source.get(alphabet) == zip_key:
                characters.append((alphabet, name))
                rows.append((zip_key, c))
    order = sorted(range(len(characters)), key=lambda i: characters[i][1])
    known_set = set(known)
    class_names = [characters[i][1] for i in order if characters[i][0] in known_set]
    class_of = {name: k for k, name in enumerate(class_names)}
    unknown_class = len(class_names) if open_set else None
    drawers = DRAWER_SPLITS[split]
    picked_images, labels, unseen_mask = [], [], []
    for drawer in drawers:  # drawer-major, classes in order: any prefix is balanced
        for i in order:
            alphabet, name = characters[i]
            zip_key, c = rows[i]
            picked_images.append(c * OMNIGLOT_DRAWERS + drawer - 1)
            labels.append(class_of.get(name, unknown_class))
            unseen_mask.append(alphabet in unseen)
    zip_of_row = [rows[i][0] for _ in drawers for i in order]
    out = np.empty((len(picked_images), OMNIGLOT_IMAGE_SIZE, OMNIGLOT_IMAGE_SIZE), np.uint8)
    for zip_key, images in arrays.items():
        mask = np.array([z == zip_key for z in zip_of_row])
        out[mask] = images[np.asarray(picked_images)[mask]]
    out.flags.writeable = False
    label_array = np.asarray(labels, np.int64)
    label_array.flags.writeable = False
    unseen_array = None
    if open_set:
        unseen_array = np.asarray(unseen_mask, bool)
        unseen_array.flags.writeable = False
        class_names.append(UNKNOWN)
    return OmniglotSplit(out, label_array, tuple(class_names), unknown_class, unseen_array, known, unknown, unseen)
