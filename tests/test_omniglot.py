"""Omniglot: the loader on the real small zips and on zips built here in the official layout, the drawer splits, the
open-set task (labels, reward, final info) in the single and the vector env, and clear errors for bad input."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import cv2
import gymnasium as gym
import numpy as np
import pytest

from conftest import require_dataset
from ram_env.data import omniglot
from ram_env.data.omniglot import ALPHABETS, DRAWER_SPLITS, load_omniglot
from ram_env.errors import ChecksumError, DatasetNotFoundError

SMALL_ALPHABETS = [
    "Balinese",
    "Early_Aramaic",
    "Greek",
    "Japanese_(katakana)",
    "Korean",
    "Latin",
    "Sanskrit",
    "Tagalog",
]


@pytest.fixture(scope="module")
def real_root() -> Path:
    """The data root holding the two real small zips (skip, or fail under RAM_ENV_REQUIRE_DATA=1, without them)."""
    require_dataset("omniglot")
    from ram_env.data import resolve_data_dir

    return resolve_data_dir()


def _png(alphabet: int, character: int, drawer: int) -> bytes:
    """A 105x105 1-bit drawing, strokes dark on white as Omniglot's: a bar placed by its three numbers."""
    image = np.full((105, 105), 255, np.uint8)
    image[5 + 2 * drawer : 9 + 2 * drawer, 3 * (alphabet % 30) : 3 * (alphabet % 30) + 10 + character] = 0
    return cv2.imencode(".png", image)[1].tobytes()


def build_zip(path: Path, top: str, alphabets: tuple[str, ...], characters: int = 2) -> str:
    """An Omniglot zip in the official layout ``<top>/<alphabet>/characterNN/<id>_<drawer>.png``; returns its MD5."""
    with zipfile.ZipFile(path, "w") as archive:
        for a, alphabet in enumerate(alphabets):
            for c in range(characters):
                folder = f"{top}/{alphabet}/character{c + 1:02d}"
                for d in range(1, 21):
                    archive.writestr(f"{folder}/{a * 100 + c:04d}_{d:02d}.png", _png(a, c, d))
    return omniglot.md5(path.read_bytes())


@pytest.fixture
def built_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with both full zips built here (the real ones cannot be had), their digests substituted."""
    folder = tmp_path / "omniglot"
    folder.mkdir()
    for key, top in (("background", "images_background"), ("evaluation", "images_evaluation")):
        digest = build_zip(folder / f"{top}.zip", top, ALPHABETS[key])
        monkeypatch.setitem(omniglot.OMNIGLOT_ZIPS, key, omniglot._Zip(f"{top}.zip", digest, None))
    return tmp_path


# ------------------------------------------------------------------------------------------ the real small set
def test_small_set_splits_by_drawer(real_root: Path) -> None:
    splits = {split: load_omniglot(split) for split in DRAWER_SPLITS}
    assert {s: len(v.labels) for s, v in splits.items()} == {"train": 2904, "val": 968, "trainval": 3872, "test": 968}
    test = splits["test"]
    assert len(test.class_names) == 242 and test.unknown_class is None and test.unseen is None
    assert sorted({name.split("/")[0] for name in test.class_names}) == SMALL_ALPHABETS
    assert test.images.dtype == np.uint8 and test.images.shape[1:] == (105, 105) and not test.images.flags.writeable
    assert set(np.unique(test.images)) == {0, 255} and test.images.mean() < 0.2 * 255  # strokes bright on black
    # Drawer-major order: image i of a split is drawer DRAWER_SPLITS[split][i // 242] of class i % 242.
    np.testing.assert_array_equal(test.labels, np.tile(np.arange(242), 4))
    with zipfile.ZipFile(real_root / "omniglot" / "images_background_small2.zip") as archive:
        name = next(
            n
            for n in archive.namelist()
            if n.startswith("images_background_small2/Tagalog/character03/") and n.endswith(".png")
        )
        member = name.rsplit("_", 1)[0] + "_18.png"
        raw = cv2.imdecode(np.frombuffer(archive.read(member), np.uint8), cv2.IMREAD_GRAYSCALE)
    k = test.class_names.index("Tagalog/character03")
    np.testing.assert_array_equal(test.images[242 + k], 255 - raw)  # test's second drawer is drawer 18
    # trainval is train then val; no image of a test drawer is in them.
    np.testing.assert_array_equal(splits["trainval"].images[:2904], splits["train"].images)
    np.testing.assert_array_equal(splits["trainval"].images[2904:], splits["val"].images)
    assert load_omniglot("test") is test  # loaded once per process


def test_open_set_defaults_on_the_small_set(real_root: Path) -> None:
    train = load_omniglot("train", "small", unknown_alphabets=2, unseen_alphabets=2)
    test = load_omniglot("test", "small", unknown_alphabets=2, unseen_alphabets=2)
    assert train.unseen_alphabets == ("Balinese", "Early_Aramaic")  # the first two by name: never in training
    assert train.unknown == ("Greek", "Japanese_(katakana)")  # the next two: "unknown" in training
    assert train.known == ("Korean", "Latin", "Sanskrit", "Tagalog")
    assert train.unknown_class == 125 and test.class_names[-1] == "unknown" and len(test.class_names) == 126
    assert not train.unseen.any() and len(train.labels) == 12 * (125 + 24 + 47)
    assert int((train.labels == 125).sum()) == 12 * (24 + 47)
    assert int(test.unseen.sum()) == 4 * (24 + 22) and bool((test.labels[test.unseen] == 125).all())
    assert int((test.labels == 125).sum()) == 4 * (24 + 22 + 24 + 47)
    named = load_omniglot(
        "test",
        "small",
        unknown_alphabets=["Greek", "Japanese_(katakana)"],
        unseen_alphabets=["Balinese", "Early_Aramaic"],
    )
    np.testing.assert_array_equal(named.labels, test.labels)
    np.testing.assert_array_equal(named.images, test.images)


def test_open_set_reward_and_final_info_single_and_vector(real_root: Path) -> None:
    env = gym.make("GlimpseOmniglotOpenSet-v0", split="test")
    cfg = env.unwrapped.config
    unknown = cfg.unknown_class
    known_i = int(np.flatnonzero(cfg.labels < unknown)[3])
    seen_i = int(np.flatnonzero((cfg.labels == unknown) & ~cfg.unseen)[0])
    unseen_i = int(np.flatnonzero(cfg.unseen)[0])
    label = int(cfg.labels[known_i])
    cases = [  # (image, class named, reward, is_unknown, is_unseen)
        (known_i, label, 1.0, False, False),
        (known_i, (label + 1) % unknown, 0.0, False, False),
        (known_i, unknown, 0.0, False, False),  # a known character called unknown: wrong, not penalised
        (seen_i, unknown, 1.0, True, False),
        (seen_i, 0, -1.0, True, False),
        (unseen_i, unknown, 1.0, True, True),
        (unseen_i, 5, -1.0, True, True),
    ]
    actions = np.full((len(cases), 2 + unknown + 1), -1.0, np.float32)
    for j, (_, named, *_rest) in enumerate(cases):
        actions[j, 2 + named] = 1.0
    for j, (index, named, reward, is_unknown, is_unseen) in enumerate(cases):
        env.reset(options={"index": index})
        for _ in range(cfg.num_glimpses):
            _, r, _, _, info = env.step(actions[j])
        assert r == reward and info["prediction"] == named
        assert info["is_unknown"].item() is is_unknown and info["is_unseen"].item() is is_unseen
    envs = gym.make_vec("GlimpseOmniglotOpenSet-v0", num_envs=len(cases), split="test")
    envs.reset(options={"index": np.array([c[0] for c in cases])})
    for _ in range(envs.num_glimpses):
        _, reward, _, _, info = envs.step(actions)
    assert reward.tolist() == [c[2] for c in cases]
    assert info["is_unknown"].tolist() == [c[3] for c in cases] and info["is_unseen"].tolist() == [c[4] for c in cases]
    assert info["_is_unknown"].all() and info["_is_unseen"].all()


def test_ids_and_alphabets_kwarg(real_root: Path) -> None:
    closed = gym.make("GlimpseOmniglot-v0")
    assert closed.action_space.shape == (2 + 242,) and closed.observation_space["glimpse"].shape == (4 * 12 * 12,)
    two = gym.make("GlimpseOmniglot-v0", alphabets=["Latin", "Greek"], split="val")
    assert two.action_space.shape == (2 + 50,) and two.unwrapped.config.num_images == 4 * 50
    assert gym.make("GlimpseOmniglot-v0", alphabets="small1").action_space.shape == (2 + 136,)
    obs, _ = gym.make("GlimpseOmniglot-v0", split="val", initial_location="center").reset(options={"index": 0})
    assert obs["glimpse"].max() == 1.0  # a stroke under the centre's largest scale, at full brightness


# ---------------------------------------------------------------------------------------- the full zips, built
def test_full_zips_built_in_the_official_layout(built_root: Path) -> None:
    every = load_omniglot("test", "all", data_dir=built_root, download=False)
    assert len(every.class_names) == 2 * 50 and len(every.labels) == 4 * 100
    assert sorted({n.split("/")[0] for n in every.class_names}) == sorted(
        ALPHABETS["background"] + ALPHABETS["evaluation"]
    )
    pair = load_omniglot("val", ["Bengali", "Angelic"], data_dir=built_root, download=False)
    assert pair.class_names == (
        "Angelic/character01",
        "Angelic/character02",
        "Bengali/character01",
        "Bengali/character02",
    )
    a = ALPHABETS["background"].index("Bengali")
    expected = 255 - cv2.imdecode(np.frombuffer(_png(a, 1, 14), np.uint8), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(pair.images[4 + 3], expected)  # val's second drawer (14), class Bengali/02
    env = gym.make(
        "GlimpseOmniglotOpenSet-v0", alphabets="evaluation", split="test", data_dir=built_root, download=False
    )
    cfg = env.unwrapped.config
    assert cfg.unknown_class == 2 * 16 and int(cfg.unseen.sum()) == 4 * 2 * 2


def test_decoded_zips_are_cached(built_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = built_root / "omniglot" / "images_evaluation.zip"
    images, characters = omniglot.read_zip(path, "evaluation")
    monkeypatch.setattr(omniglot, "_decode", lambda *a: pytest.fail("decoded again despite the cache"))
    cached, names = omniglot.read_zip(path, "evaluation")
    assert names == characters and np.array_equal(cached, images) and isinstance(cached.base, np.memmap)


def test_missing_zip_is_downloaded_from_the_official_folder(
    built_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(omniglot, "OMNIGLOT_URL", (built_root / "omniglot").as_uri() + "/")  # stands for the site
    fresh = tmp_path / "fresh"
    split = load_omniglot("train", "evaluation", data_dir=fresh, download=True)
    assert (fresh / "omniglot" / "images_evaluation.zip").is_file() and len(split.labels) == 12 * 40
    monkeypatch.setattr(omniglot, "OMNIGLOT_URL", (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(DatasetNotFoundError, match="Download attempts") as error:
        load_omniglot("train", "background", data_dir=tmp_path / "other", download=True)
    assert "images_background.zip" in str(error.value) and "retry" in str(error.value)


# ------------------------------------------------------------------------------------------------- bad input
def test_bad_alphabets_name_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="unknown Omniglot alphabet") as error:
        gym.make("GlimpseOmniglot-v0", alphabets=["Latin", "Klingon"])
    assert "Klingon" in str(error.value) and "Tifinagh" in str(error.value)
    with pytest.raises(ValueError, match="named sets") as error:
        gym.make("GlimpseOmniglot-v0", alphabets="tiny")
    assert "'small'" in str(error.value) and "'evaluation'" in str(error.value)
    with pytest.raises(ValueError, match="alphabets is empty"):
        gym.make("GlimpseOmniglot-v0", alphabets=[])
    with pytest.raises(ValueError, match="stays known"):
        gym.make("GlimpseOmniglotOpenSet-v0", alphabets=["Latin", "Greek"], unseen_alphabets=1, unknown_alphabets=1)
    with pytest.raises(ValueError, match="not among the alphabets still free"):
        gym.make("GlimpseOmniglotOpenSet-v0", unseen_alphabets=["Latin"], unknown_alphabets=["Latin"])
    with pytest.raises(ValueError, match="dataset='omniglot' only"):
        gym.make("GlimpseMNIST-v0", alphabets="small")


def test_missing_and_corrupted_zips(tmp_path: Path, real_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        gym.make("GlimpseOmniglot-v0", data_dir=tmp_path, download=False)
    message = str(error.value)
    assert "images_background_small1.zip" in message and omniglot.OMNIGLOT_URL in message and "download=True" in message
    folder = tmp_path / "omniglot"
    folder.mkdir()
    real = (real_root / "omniglot" / "images_background_small1.zip").read_bytes()
    (folder / "images_background_small1.zip").write_bytes(real[: len(real) // 2])  # truncated
    with pytest.raises(ChecksumError, match="MD5 .* expected e704a628b5459e08445c13499850abc4"):
        load_omniglot("test", "small1", data_dir=tmp_path, download=False)
    # A zip whose digest is trusted but whose content is not Omniglot's layout: a ValueError that says what is wrong.
    bad = folder / "images_background_small1.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("images_background_small1/Latin/character01/0001_01.png", _png(0, 0, 1))
    monkeypatch.setitem(omniglot.OMNIGLOT_ZIPS, "small1", omniglot._Zip(bad.name, omniglot.md5(bad.read_bytes()), None))
    with pytest.raises(ValueError, match="holds the alphabets"):
        load_omniglot("test", "small1", data_dir=tmp_path, download=False)
    bad.write_bytes(b"not a zip at all")
    monkeypatch.setitem(omniglot.OMNIGLOT_ZIPS, "small1", omniglot._Zip(bad.name, omniglot.md5(bad.read_bytes()), None))
    with pytest.raises(ValueError, match="not a readable zip"):
        load_omniglot("val", "small1", data_dir=tmp_path, download=False)


def test_a_policy_warns_when_its_alphabets_change(real_root):
    """The shipped Omniglot policy classifies the characters of its alphabets: other alphabets are other images."""
    from agents.ram import RAMPolicy

    policy = RAMPolicy.from_pretrained("omniglot-6g")
    with pytest.warns(UserWarning, match="alphabets="):
        policy.make_env(alphabets=["Greek", "Latin"], split="val")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = policy.make_env(split="val")  # the alphabets it was trained on: no warning
    assert env.unwrapped.config.num_classes == 242
