"""Regression tests of issue 39: no silent wrong results, one copy of the data, no lost logs, untrusted files
kept in their place. Every test here reproduces a defect a probe of bad inputs and faults found, on real data."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

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
    from ram_env import downloads
    from ram_env.data import DatasetNotFoundError

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
