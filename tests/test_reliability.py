"""Regression tests of issue 39: no silent wrong results, one copy of the data, no lost logs, untrusted files
kept in their place. Every test here reproduces a defect a probe of bad inputs and faults found, on real data."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import time
import warnings

import gymnasium as gym
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ram_env  # noqa: F401  (registers the ids)
from agents.policy import RAMPolicy
from conftest import ROOT, import_script
from ram_env.data import load_split

PRETRAINED = ROOT / "agents" / "pretrained"


def _right_actions(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """One action per label that names it (score 1 for the label, -1 elsewhere), looking at the centre."""
    actions = -np.ones((len(labels), 2 + num_classes), dtype=np.float32)
    actions[:, :2] = 0.0
    actions[np.arange(len(labels)), 2 + labels] = 1.0
    return actions


def _run_to_end(envs, actions):
    out = None
    for _ in range(envs.num_glimpses):
        out = envs.step(actions)
    return out


# ------------------------------------------------------------------- 1. the vector env never aliases caller memory
@pytest.mark.parametrize("kind", ["numpy", "torch", "list"])
def test_vector_env_keeps_its_own_copy_of_the_index(kind):
    _, labels = load_split("mnist", "val")
    index = np.array([0, 1, 2, 3])
    other = int(np.flatnonzero(labels != labels[0])[0])  # an image of another class than image 0
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, split="val", autoreset_mode="disabled")
    given = {"numpy": index.copy(), "torch": torch.from_numpy(index.copy()), "list": list(index)}[kind]
    _, info = envs.reset(seed=0, options={"index": given})
    given[0] = other  # the caller reuses its array: the running episodes must not notice
    if kind != "list":
        given[1:] = other
    _, reward, terminated, _, info = _run_to_end(envs, _right_actions(labels[index]))
    assert info["index"].tolist() == index.tolist()
    assert info["label"].tolist() == labels[index].tolist()
    assert reward.tolist() == [1.0] * 4 and terminated.all()


def test_vector_env_info_tensors_are_not_its_state():
    _, labels = load_split("mnist", "val")
    index = np.array([4, 5, 6, 7])
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, split="val", autoreset_mode="disabled")
    _, info = envs.reset(seed=0, options={"index": index})
    info["_index"][:] = False  # a caller that reuses the mask and the values it was handed
    info["index"][:] = 0
    actions = _right_actions(labels[index])
    for _ in range(envs.num_glimpses - 1):
        _, _, terminated, truncated, step_info = envs.step(actions)
        assert not terminated.any() and not truncated.any()
        terminated[:] = True  # writing into what a step returned changes nothing either
        step_info["_index"][:] = False
    _, reward, terminated, _, info = envs.step(actions)
    assert terminated.tolist() == [True] * 4
    assert info["_index"].tolist() == [True] * 4 and info["index"].tolist() == index.tolist()
    assert reward.tolist() == [1.0] * 4
    for key in ("_label", "_prediction", "_is_success"):
        info[key][:] = False
    envs.reset(seed=0, options={"index": index})
    _, _, terminated, _, info = _run_to_end(envs, actions)
    assert terminated.all() and info["_label"].all() and info["_is_success"].all()


# ----------------------------------------------------------------------------------- 6. absurd settings refused
@pytest.mark.parametrize("make", ["single", "vector"])
def test_num_scales_whose_patches_overflow_the_sums_are_refused(make):
    build = (lambda **kw: gym.make("GlimpseMNIST-v0", **kw)) if make == "single" else (
        lambda **kw: gym.make_vec("GlimpseMNIST-v0", num_envs=2, **kw))
    for num_scales in (29, 40, 15):  # 29 and up gave negative, infinite or NaN glimpses; 8 * 2**14 > 2**16
        with pytest.raises(ValueError, match="num_scales"):
            build(split="val", num_scales=num_scales)
    env = build(split="val", num_scales=14)  # the largest patch allowed with 8x8 glimpses: 65,536 pixels a side
    obs, _ = env.reset(seed=0, options={"index": 3 if make == "single" else [3, 4]})
    glimpse = np.asarray(obs["glimpse"])
    assert np.isfinite(glimpse).all() and glimpse.min() >= 0.0 and glimpse.max() <= 1.0 and glimpse.max() > 0.0


def test_channels_first_images_are_refused():
    images, labels = load_split("mnist", "val")
    rgb = np.repeat(images[:20, :, :, None], 3, axis=3)  # (N, H, W, 3): channels-last, accepted
    gym.make("GlimpseMNIST-v0", images=rgb, labels=labels[:20])
    with pytest.raises(ValueError, match=r"channels-first .*transpose\(0, 2, 3, 1\)"):
        gym.make("GlimpseMNIST-v0", images=rgb.transpose(0, 3, 1, 2), labels=labels[:20])
    with pytest.raises(ValueError, match="channels-first"):
        gym.make_vec("GlimpseMNIST-v0", num_envs=2, images=rgb.transpose(0, 3, 1, 2), labels=labels[:20])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"download": "no"}, "download must be True or False"),
        ({"download": 0}, "download must be True or False"),
        ({"data_dir": 5}, "data_dir must be a folder path"),
        ({"dataset": ["mnist"]}, "dataset must be one of"),
        ({"split": ["val"]}, "split must be one of"),
        ({"canvas_size": 5000}, "canvas_size must be at most"),
        ({"num_clutter": 10**9, "canvas_size": 60}, "num_clutter must be an integer"),
        ({"glimpse_size": 3000}, "a glimpse must hold at most"),
        ({"num_glimpses": True}, "num_glimpses must be an integer"),
    ],
)
def test_type_slips_and_absurd_sizes_are_refused(kwargs, match):
    for build in (lambda: gym.make("GlimpseMNIST-v0", **kwargs), lambda: gym.make_vec("GlimpseMNIST-v0", 2, **kwargs)):
        with pytest.raises(ValueError, match=match):
            build()


def test_vector_env_check_finite_must_be_a_bool():
    with pytest.raises(ValueError, match="check_finite must be True, False or None"):
        gym.make_vec("GlimpseMNIST-v0", num_envs=2, check_finite="no")


def test_absurd_labels_are_refused():
    images, labels = load_split("mnist", "val")
    with pytest.raises(ValueError, match="labels must lie in"):
        gym.make("GlimpseMNIST-v0", images=images[:10], labels=np.full(10, 10**9))
    with pytest.raises(ValueError, match="num_classes must be an integer"):
        gym.make("GlimpseMNIST-v0", images=images[:10], labels=labels[:10], num_classes=10**9)


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--max-steps", "-1"], "--max-steps must be at least 0"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--val-every", "-1"], "--val-every must be at least 0"),
        (["--log-every", "0"], "--log-every must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--val-samples", "0"], "--val-samples must be at least 1"),
        (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0"),
        (["--dropout", "1"], "--dropout must be a finite number in"),
        (["--location-std", "0"], "--location-std must be a finite number > 0"),
        (["--env-kwargs", '{"reward_mode": "cross_entropy"}'], "--env-kwargs: RAM needs the env's reward_mode="),
    ],
)
def test_trainer_refuses_flags_that_would_do_something_else(flags, match):
    module = import_script("ram_agent")
    with pytest.raises(SystemExit, match=match):
        module.resolve_args(flags)


def test_trainer_refuses_a_batch_larger_than_the_training_split(tmp_path):
    module = import_script("ram_agent")
    with pytest.raises(SystemExit, match="more than the 55000 training images"):
        module.main(["--preset", "mnist-2g", "--batch-size", "60000", "--num-samples", "1", "--output-dir",
                     str(tmp_path), "--name", "big", "--device", "cpu", "--no-progress-bar", "--no-figures"])


def test_evaluator_refuses_absurd_counts():
    module = import_script("evaluate")
    for flags, match in ((["--samples", "0"], "--samples must be at least 1"),
                         (["--images", "-5"], "--images must be at least 0")):
        with pytest.raises(SystemExit, match=match):
            module.main(flags)


def test_policy_on_another_datasets_env_warns():
    policy = RAMPolicy.load(PRETRAINED / "mnist-6g.pt", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        policy.make_env(split="val")  # its own task: no word
        policy.make_env(dataset="mnist", split="val")
    with pytest.warns(UserWarning, match="trained on GlimpseMNIST-v0 with dataset='mnist'"):
        env = policy.make_env(dataset="fashion-mnist", split="val")
    assert env.observation_space == policy.make_env(split="val").observation_space  # same shapes: runs silently


# --------------------------------------------------------------------------------- 7. unclear errors made clear
def test_bfloat16_and_unsigned_actions_are_taken_by_both_envs_alike():
    _, labels = load_split("mnist", "val")
    base = _right_actions(labels[[10]])[0] * 0.5
    base[:2] = (0.25, -0.5)
    variants = [torch.from_numpy(base).to(torch.bfloat16), torch.from_numpy(base).to(torch.float16)]
    ints = np.zeros_like(base)
    ints[2 + labels[10]] = 7
    variants += [ints.astype(dtype) for dtype in (np.uint16, np.uint32, np.uint64, np.int8)]
    variants += [torch.from_numpy(ints.astype(np.int64)).to(dtype) for dtype in (torch.uint16, torch.uint32)]
    for action in variants:
        env = gym.make("GlimpseMNIST-v0", split="val")
        envs = gym.make_vec("GlimpseMNIST-v0", num_envs=1, split="val")
        single, _ = env.reset(seed=0, options={"index": 10})
        batch, _ = envs.reset(seed=0, options={"index": [10]})
        for _ in range(envs.num_glimpses):
            single, reward, terminated, _, _ = env.step(action)
            batch, rewards, _, _, _ = envs.step(action[None])
            np.testing.assert_array_equal(batch["glimpse"][0].numpy(), single["glimpse"])
            np.testing.assert_array_equal(batch["location"][0].numpy(), single["location"])
        assert terminated and reward == float(rewards[0]) == 1.0, action.dtype


@pytest.mark.parametrize("action", [np.zeros(12, bool), np.zeros(12, complex), torch.zeros(12, dtype=torch.bool),
                                    np.array(["0"] * 12)])
def test_non_real_actions_are_refused_by_both_envs_alike(action):
    env = gym.make("GlimpseMNIST-v0", split="val")
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=1, split="val")
    env.reset(seed=0)
    envs.reset(seed=0)
    with pytest.raises(TypeError, match="real numbers"):
        env.step(action)
    with pytest.raises(TypeError, match="real numbers"):
        envs.step(action[None])


def test_empty_and_foreign_policy_files_say_what_is_wrong(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty .0 bytes.: not a RAM policy file"):
        RAMPolicy.load(empty, device="cpu")
    with pytest.raises(ValueError, match="is empty"):
        import_script("evaluate").main(["--checkpoint", str(empty)])
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((PRETRAINED / "mnist-2g.pt").read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated or not a torch file"):
        RAMPolicy.load(truncated, device="cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "ram_policy/1", "config": pathlib.Path("/")}, foreign)
    with pytest.raises(ValueError, match="never unpickled .*PosixPath"):
        RAMPolicy.load(foreign, device="cpu")


def test_resume_from_an_empty_state_file_says_so(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "latest_state.pt").write_bytes(b"")
    module = import_script("ram_agent")
    with pytest.raises(SystemExit, match="--resume: .*is empty"):
        module.main(["--output-dir", str(tmp_path), "--name", "run", "--resume", "--device", "cpu"])


def test_download_into_a_read_only_empty_folder_says_it_is_not_writable(tmp_path, monkeypatch):
    from ram_env.data import DatasetNotFoundError, downloads

    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anyway: make the folder read only as a read-only mount does
        real_access = os.access
        monkeypatch.setattr(downloads.os, "access", lambda path, mode: False if pathlib.Path(path) == folder
                            else real_access(path, mode))
    try:
        for dataset in ("mnist", "fashion-mnist", "cifar10"):
            with pytest.raises(DatasetNotFoundError, match=f"download=True cannot fetch it: {folder} is not writable"):
                load_split(dataset, "test", data_dir=folder, download=True)
        assert list(folder.iterdir()) == []  # nothing was attempted there
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------------------------- 3. no lost logs
TINY_RUN = ["--preset", "mnist-2g", "--max-steps", "2", "--batch-size", "8", "--num-samples", "1", "--val-every", "2",
            "--val-images", "20", "--val-samples", "1", "--test-images", "20", "--test-samples", "1",
            "--checkpoint-every", "1", "--log-every", "1", "--threads", "1", "--device", "cpu", "--no-figures",
            "--no-progress-bar", "--seed", "5"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("runs")
    import_script("ram_agent").main([*TINY_RUN, "--output-dir", str(out), "--name", "run"])
    return out / "run"


def test_resume_rewrites_the_log_atomically(finished_run, monkeypatch):
    module = import_script("ram_agent")
    log = finished_run / "progress.csv"
    before = log.read_bytes()
    assert before.count(b"\n") == 3  # the header and two steps

    class DyingWriter(module.csv.DictWriter):
        def writerows(self, rows):  # the process dies while it rewrites the log it resumes
            self.writerow(next(iter(rows)))
            raise KeyboardInterrupt("killed mid-rewrite")

    monkeypatch.setattr(module.csv, "DictWriter", DyingWriter)
    with pytest.raises(KeyboardInterrupt):
        module.main([*TINY_RUN, "--max-steps", "3", "--output-dir", str(finished_run.parent), "--name", "run",
                     "--resume"])
    assert log.read_bytes() == before
    assert not [p.name for p in finished_run.iterdir() if ".part" in p.name]


def test_a_second_resume_of_a_live_run_is_refused(finished_run):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import contextlib, pathlib, sys, time; sys.path.insert(0, 'train'); import ram_agent; "
         f"held = contextlib.ExitStack(); print(ram_agent.lock_run_dir(pathlib.Path({str(finished_run)!r}), held), "
         "flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "None"  # the live run holds the folder
        log = (finished_run / "progress.csv").read_bytes()
        with pytest.raises(SystemExit, match=f"in use by a live run .pid {holder.pid} .*wait for it to end"):
            import_script("ram_agent").main([*TINY_RUN, "--max-steps", "3", "--output-dir", str(finished_run.parent),
                                             "--name", "run", "--resume"])
        assert (finished_run / "progress.csv").read_bytes() == log
    finally:
        holder.kill()
        holder.wait()
    # The lock goes with the process, however it ended: now the resume runs.
    import_script("ram_agent").main([*TINY_RUN, "--max-steps", "3", "--output-dir", str(finished_run.parent),
                                     "--name", "run", "--resume"])
    assert (finished_run / "progress.csv").read_bytes().count(b"\n") == 4


# ------------------------------------------------------------------------- 5. a policy file is data, not instructions
def _doctored_policy(tmp_path: pathlib.Path, name: str = "doctored.pt", **changes) -> pathlib.Path:
    """mnist-2g.pt with its task changed as a file from elsewhere might have it."""
    payload = torch.load(PRETRAINED / "mnist-2g.pt", map_location="cpu", weights_only=True)
    payload.update(changes)
    path = tmp_path / name
    torch.save(payload, path)
    return path


def test_evaluator_never_creates_folders_or_downloads_where_the_file_says(tmp_path):
    elsewhere = tmp_path / "planted" / "data"
    path = _doctored_policy(tmp_path, env_kwargs={"initial_location": "center", "num_glimpses": 2,
                                                  "data_dir": str(elsewhere), "download": True})
    with pytest.warns(UserWarning, match="ignoring .*data_dir.*never a file's"):
        report = import_script("evaluate").main(["--checkpoint", str(path), "--images", "20", "--samples", "1",
                                                 "--device", "cpu"])
    assert not (tmp_path / "planted").exists()
    assert report["env_kwargs"] == {"initial_location": "center", "num_glimpses": 2} and report["images"] == 20
    with pytest.warns(UserWarning, match="ignoring"):
        assert "data_dir" not in RAMPolicy.load(path, device="cpu").make_env(split="val").unwrapped.spec.kwargs


def test_a_policy_saved_with_a_data_dir_does_not_carry_it(tmp_path):
    policy = RAMPolicy.load(PRETRAINED / "mnist-2g.pt", device="cpu")
    policy.env_kwargs["data_dir"] = os.environ["RAM_ENV_DATA"]
    policy.save(tmp_path / "saved.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "data_dir" not in RAMPolicy.load(tmp_path / "saved.pt", device="cpu").env_kwargs


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"env_id": "CartPole-v1"}, "not a glimpse env"),
        ({"env_id": ["GlimpseMNIST-v0"]}, "not a glimpse env"),
        ({"env_kwargs": {"num_glimpses": 2, "render_mode": "human"}}, r"\[.render_mode.\] are not task settings"),
        ({"env_kwargs": {"device": "cuda", "num_envs": 10**9}}, r"\['device', 'num_envs'\] are not task settings"),
        ({"env_kwargs": [1, 2]}, "env_kwargs must be a dict"),
    ],
)
def test_a_policy_file_naming_another_env_or_foreign_kwargs_is_refused(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        RAMPolicy.load(_doctored_policy(tmp_path, **changes), device="cpu")


def test_env_kwargs_from_a_file_meet_the_users_bounds(tmp_path):
    path = _doctored_policy(tmp_path, env_kwargs={"num_glimpses": 2, "num_scales": 40})
    with pytest.raises(ValueError, match="num_scales"):
        import_script("evaluate").main(["--checkpoint", str(path), "--images", "10", "--samples", "1"])
    path = _doctored_policy(tmp_path, env_kwargs={"num_glimpses": 2, "canvas_size": 10**6})
    with pytest.raises(ValueError, match="canvas_size must be at most"):
        import_script("evaluate").main(["--checkpoint", str(path), "--images", "10", "--samples", "1"])


# -------------------------------------------------------------------------------------------- 4. caches are verified
@pytest.fixture()
def digit_folder(tmp_path, monkeypatch):
    """An image folder of 60 real MNIST digits (train/ and test/, a class folder per digit, PNG), and a fresh
    decoded-image cache."""
    import cv2

    images, labels = load_split("mnist", "test")
    root = tmp_path / "digits"
    for split, rows in (("train", range(0, 40)), ("test", range(40, 60))):
        for i in rows:
            folder = root / split / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(folder / f"{i:03d}.png"), images[i])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


def _cache_folders(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    return sorted((tmp_path / "cache" / "ram_env" / "decoded").iterdir())


def test_a_corrupted_or_swapped_decoded_cache_is_rebuilt(digit_folder, tmp_path, monkeypatch):
    from ram_env.data import image_folder
    from ram_env.data.image_folder import load_image_folder

    images, labels, classes = load_image_folder(digit_folder, "train", grayscale=True)
    (cache,) = _cache_folders(tmp_path)
    assert (cache / "content.sha256").is_file()

    stored = np.load(cache / "images.npy", mmap_mode="r+")  # flip pixels of the cached copy in place
    stored[3, 10:20, 10:20] = 255 - stored[3, 10:20, 10:20]
    stored.flush()
    del stored
    again, again_labels, _ = load_image_folder(digit_folder, "train", grayscale=True)
    np.testing.assert_array_equal(again, images)

    shuffled = np.load(cache / "labels.npy")[::-1].copy()  # the labels of another order
    np.save(cache / "labels.npy", shuffled)
    np.testing.assert_array_equal(load_image_folder(digit_folder, "train", grayscale=True)[1], labels)

    load_image_folder(digit_folder, "test", grayscale=True)  # a second cache folder, then its files moved in
    (other,) = [f for f in _cache_folders(tmp_path) if f != cache]
    for name in ("images.npy", "labels.npy", "classes.npy", "content.sha256"):
        (cache / name).write_bytes((other / name).read_bytes())
    swapped = load_image_folder(digit_folder, "train", grayscale=True)
    np.testing.assert_array_equal(swapped[0], images)
    np.testing.assert_array_equal(swapped[1], labels)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again: the rebuilt cache was not served")

    monkeypatch.setattr(image_folder, "_decode_split", no_decoding)  # the rebuilt cache checks out and is used
    served = load_image_folder(digit_folder, "train", grayscale=True)
    np.testing.assert_array_equal(served[0], images)
    assert served[2] == classes


def test_a_killed_download_leaves_no_orphan_for_long(tmp_path):
    from ram_env.atomic import STALE_AFTER

    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (root / "mnist" / name).write_bytes((pathlib.Path(os.environ["RAM_ENV_DATA"]) / "mnist" / name).read_bytes())
    writer = subprocess.Popen(
        [sys.executable, "-c", "import pathlib, time; from ram_env.data.downloads import install; "
         f"install(pathlib.Path({str(root / 'mnist')!r}), 'train-images-idx3-ubyte.gz', "
         "lambda out: (out.write(b'x' * 4096), out.flush(), print('writing', flush=True), time.sleep(120)))"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.kill()  # kill -9 in the middle of the download
        writer.wait()
    (orphan,) = [p for p in (root / "mnist").iterdir() if ".part" in p.name]
    fresh = root / "mnist" / ".train-labels-idx1-ubyte.gz.abcd1234.part.gz"  # a live download's, say
    fresh.write_bytes(b"y")
    mine = root / "mnist" / "notes.part.txt"
    mine.write_text("a user's file")
    old = time.time() - STALE_AFTER - 60
    os.utime(orphan, (old, old))
    load_split("mnist", "test", data_dir=root, download=False)
    assert not orphan.exists()
    assert fresh.exists() and mine.exists()


# ------------------------------------------------------------------------------------------ 2. one copy of the data
def test_envs_over_one_images_array_share_one_read_only_copy():
    images, labels = load_split("mnist", "val")
    mine = images[:500].copy()  # a user's own, writable array
    envs = [gym.make("GlimpseMNIST-v0", images=mine, labels=labels[:500]).unwrapped for _ in range(4)]
    vector = gym.make_vec("GlimpseMNIST-v0", num_envs=3, images=mine, labels=labels[:500])
    copies = {id(env.config.images) for env in envs} | {id(vector.config.images)}
    assert len(copies) == 1
    shared = envs[0].config.images
    assert not shared.flags.writeable and not np.shares_memory(shared, mine)
    assert np.shares_memory(vector._images.numpy(), shared)  # the vector env's tensor views that one copy
    mine[0] = 255  # the caller changes its array: the envs built before keep what they were given ...
    np.testing.assert_array_equal(shared[0], images[0])
    later = gym.make("GlimpseMNIST-v0", images=mine, labels=labels[:500]).unwrapped  # ... and a new env sees the change
    assert later.config.images is not shared and later.config.images[0].min() == 255


def test_vector_envs_over_a_built_in_dataset_share_it():
    images, _ = load_split("mnist", "train")
    first = gym.make_vec("GlimpseMNIST-v0", num_envs=2)
    second = gym.make_vec("GlimpseMNIST-v0", num_envs=5, split="train")
    assert first._images.data_ptr() == second._images.data_ptr()
    assert np.shares_memory(first._images.numpy(), images)  # greyscale: a view of the loaded split, no copy


def test_memory_grows_by_a_few_mb_per_env_at_most():
    def resident(scenario: str, count: int) -> float:
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--child", scenario,
                              str(count)], capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])["envs_mib"]

    for scenario in ("single-user", "vector-user", "vector-builtin"):  # 94 MB, 94 MB, 43 MB of data
        growth = (resident(scenario, 5) - resident(scenario, 1)) / 4
        assert growth < 5.0, f"{scenario}: {growth:.1f} MiB per extra env"


def test_a_pickled_built_in_env_names_its_data_instead_of_carrying_it():
    env = gym.make("GlimpseMNIST-v0", split="val", initial_location="center").unwrapped
    blob = pickle.dumps(env)
    assert len(blob) < 100_000  # the val split's images are 3.9 MB
    clone = pickle.loads(blob)
    assert clone.config.images is env.config.images  # the same process: the one loaded copy
    first, _ = env.reset(options={"index": 7})
    again, _ = clone.reset(options={"index": 7})
    np.testing.assert_array_equal(first["glimpse"], again["glimpse"])
    images, labels = load_split("mnist", "val")
    mine = gym.make("GlimpseMNIST-v0", images=images[:50].copy(), labels=labels[:50]).unwrapped
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(mine)).config.images, images[:50])  # user data: carried


# --------------------------------------------------------------------- 8. any kwargs and actions: clear error or valid
_POOL = 40  # real MNIST digits the property test builds its envs over (grey, and the same digits as RGB)


def _pool() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    images, labels = load_split("mnist", "val")
    grey, rgb = images[:_POOL], np.repeat(images[:_POOL, :, :, None], 3, axis=3)
    return {
        "grey": (grey, labels[:_POOL]),
        "rgb": (rgb, labels[:_POOL]),
        "channels-first": (rgb.transpose(0, 3, 1, 2), labels[:_POOL]),
        "float": (grey.astype(np.float32), labels[:_POOL]),
        "empty": (grey[:0], labels[:0]),
        "float labels": (grey, labels[:_POOL].astype(np.float64)),
    }


def _some(valid, *invalid):
    """A strategy drawing mostly from ``valid`` and about one time in ten one of the ``invalid`` values."""
    return st.sampled_from(range(10)).flatmap(lambda roll: st.sampled_from(invalid) if roll == 9 else valid)


_KWARGS = st.fixed_dictionaries(
    {"data": _some(st.sampled_from(["grey", "rgb"]), "channels-first", "float", "empty", "float labels")},
    optional={
        "split": _some(st.sampled_from(["train", "val", "trainval", "test"]), "bogus", 3, None),
        "reward_mode": _some(st.sampled_from(["terminal", "cross_entropy"]), "dense", None),
        "num_glimpses": _some(st.integers(1, 5), 0, -1, 2.0, True, "3"),
        "glimpse_size": _some(st.integers(1, 24), 0, -3, 2**17, 8.5, "8"),
        "num_scales": _some(st.integers(1, 16), 0, 29, 40, 1.0),
        "initial_location": _some(
            st.sampled_from(["random", "center"]) | st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=2),
            "corner", 5, [0.5], [0.0, 1.5], [float("nan"), 0.0], [0.0, 0.0, 0.0],
        ),
        "canvas_size": _some(st.none() | st.integers(28, 90), 10, -1, 3000, 10**6, 60.0),
        "num_clutter": _some(st.integers(0, 4), -1, 10**6, 1.5),
        "clutter_size": _some(st.integers(1, 28), 0, 40, "8"),
        "max_shift": _some(st.integers(0, 27), -1, 28, 2.5),
        "horizontal_flip": _some(st.booleans(), "yes", 1, None),
        "max_rotation": _some(st.floats(0, 180), -1.0, 181.0, float("nan"), "10", True),
        "logit_scale": _some(st.floats(0.1, 20), 0.0, -1.0, float("inf"), float("nan"), "5"),
        "download": _some(st.booleans(), "no", 0, None),
        "num_classes": _some(st.none() | st.integers(10, 20), 1, -1, 10**9, 12.0),
    },
)
_ACTION_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                  np.uint32, np.uint64, np.bool_, np.complex64]


@st.composite
def _action(draw, dim: int) -> np.ndarray:
    """One action: mostly of the right shape, any dtype, values from the box, beyond it, huge, or not finite."""
    dtype = np.dtype(draw(st.sampled_from(_ACTION_DTYPES)))
    shape = draw(st.sampled_from([(dim,)] * 6 + [(dim - 1,), (dim + 1,), (1, dim), ()]))
    if dtype.kind == "f":
        big = float(np.finfo(dtype).max)
        values = st.floats(-3.0, 3.0, width=dtype.itemsize * 8) | st.sampled_from([np.nan, np.inf, -np.inf, big, -big])
        return draw(hnp.arrays(dtype, shape, elements=values))
    return draw(hnp.arrays(dtype, shape))


def _check_obs(obs: dict, space) -> None:
    glimpse, location = np.asarray(obs["glimpse"]), np.asarray(obs["location"])
    assert glimpse.dtype == np.float32 and glimpse.shape == space["glimpse"].shape
    assert np.isfinite(glimpse).all() and glimpse.min() >= 0.0 and glimpse.max() <= 1.0
    assert location.dtype == np.float32 and np.isfinite(location).all() and np.abs(location).max() <= 1.0


def _outcome(call, *args, **kwargs):
    """``("ok", call(...))`` or ``("error", exception)`` for a clear ValueError/TypeError; anything else fails."""
    try:
        return "ok", call(*args, **kwargs)
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return "error", error


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kwargs=_KWARGS, data=st.data())
def test_any_kwargs_and_actions_give_a_clear_error_or_valid_bit_identical_episodes(kwargs, data):
    from ram_env.glimpse_env import GlimpseEnv
    from ram_env.vector_env import GlimpseVectorEnv

    kwargs = dict(kwargs)
    kwargs["images"], kwargs["labels"] = _pool()[kwargs.pop("data")]
    single_built, env = _outcome(GlimpseEnv, **kwargs)
    vector_built, envs = _outcome(GlimpseVectorEnv, num_envs=2, **kwargs)
    assert single_built == vector_built, (env, envs)
    event(f"envs: {single_built}" if single_built == "ok" else f"envs: {str(env).split(' must')[0][:30]}")
    if single_built == "error":
        assert type(env) is type(envs), (env, envs)
        return
    space = env.observation_space
    assert envs.single_observation_space == space and envs.single_action_space == env.action_space
    index = data.draw(st.integers(0, env.config.num_images - 1), label="index")
    fixed = env.config.split in ("val", "test")  # train episodes draw from each env's own generator
    obs, _ = env.reset(seed=0, options={"index": index})
    batch, _ = envs.reset(seed=0, options={"index": [index, index]})
    for t in range(env.config.num_glimpses):
        _check_obs(obs, space)
        for j in range(2):
            _check_obs({k: v[j].numpy() for k, v in batch.items()}, space)
            if fixed:
                np.testing.assert_array_equal(batch["glimpse"][j].numpy(), obs["glimpse"])
                np.testing.assert_array_equal(batch["location"][j].numpy(), obs["location"])
        action = data.draw(_action(env.action_space.shape[0]), label=f"action {t}")
        took, result = _outcome(env.step, action)
        vector_took, vector_result = _outcome(envs.step, np.stack([action, action]))
        assert took == vector_took, (action, result, vector_result)
        event(f"action: {took}")
        if took == "error":
            assert type(result) is type(vector_result), (result, vector_result)
            action = np.zeros(env.action_space.shape, np.float32)  # go on with an action both take
            result, vector_result = env.step(action), envs.step(np.stack([action, action]))
        obs, reward, terminated, truncated, info = result
        batch, rewards, terminateds, _, infos = vector_result
        assert np.isfinite(reward) and terminated == bool(terminateds[0]) == bool(terminateds[1])
        assert terminated is (t == env.config.num_glimpses - 1) and truncated is False
        if fixed:
            assert reward == float(rewards[0]) == float(rewards[1])
    _check_obs(obs, space)
    assert int(infos["prediction"][0]) == info["prediction"] and int(infos["label"][0]) == info["label"]
