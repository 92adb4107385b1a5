"""The CUDA path: the native vector env, training and the shipped policies on a GPU agree with the CPU.

Skipped where there is no CUDA device (CI has none). On a GPU machine: ``pytest tests/test_cuda.py``; ids whose
dataset is not on that machine can be left out with ``-k``. Everything random in ``val`` and ``test`` is a fixed
function of the image (``ram_env.canvas``), and the retina sums integers, so the same actions must give the same
glimpses on both devices; only float rounding in the network may move a borderline prediction.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from agents.ram import RAMPolicy, evaluate
from conftest import ENV_IDS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train" / "ram_agent.py"
TINY = ["--batch-size", "16", "--num-samples", "2", "--val-every", "2", "--val-images", "200", "--val-samples", "2",
        "--test-images", "500", "--test-samples", "2", "--checkpoint-every", "2", "--log-every", "1", "--seed", "3",
        "--no-progress-bar", "--device", "cuda"]


def run_script(*args: object, module: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, *(module or []), *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_on_cuda_gives_the_cpu_glimpses_rewards_and_labels(env_id: str) -> None:
    n = 300
    cpu = gym.make_vec(env_id, num_envs=n, split="val", autoreset_mode="disabled")
    gpu = gym.make_vec(env_id, num_envs=n, split="val", autoreset_mode="disabled", device="cuda")
    index = (torch.arange(n) * 37) % cpu.num_images
    (obs_c, info_c), (obs_g, info_g) = cpu.reset(seed=1, options={"index": index}), gpu.reset(
        seed=2, options={"index": index.cuda()})  # seeds do not matter in val
    actions = torch.rand(cpu.num_glimpses, n, cpu.action_space.shape[1], generator=torch.Generator().manual_seed(0))
    for t in range(cpu.num_glimpses + 1):
        assert obs_g["glimpse"].device.type == "cuda"
        torch.testing.assert_close(obs_g["glimpse"].cpu(), obs_c["glimpse"], rtol=0, atol=1e-6, msg=f"step {t}")
        assert torch.equal(obs_g["location"].cpu(), obs_c["location"]), f"step {t}"
        assert torch.equal(info_g["index"].cpu(), info_c["index"])
        if t == cpu.num_glimpses:
            break
        action = actions[t] * 2 - 1
        obs_c, reward_c, term_c, _, info_c = cpu.step(action)
        obs_g, reward_g, term_g, _, info_g = gpu.step(action.cuda())
        assert torch.equal(reward_g.cpu(), reward_c) and torch.equal(term_g.cpu(), term_c)
    assert torch.equal(info_g["label"].cpu(), info_c["label"])


def test_training_on_cuda_resumes_and_its_policy_scores_the_same_on_cpu(tmp_path: Path) -> None:
    first = run_script(SCRIPT, "--preset", "mnist-2g", *TINY, "--max-steps", "4", "--output-dir", tmp_path,
                       "--name", "gpu")
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_script(SCRIPT, "--preset", "mnist-2g", *TINY, "--max-steps", "6", "--output-dir", tmp_path,
                       "--name", "gpu", "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    run = tmp_path / "gpu"
    results = json.loads((run / "test_results.json").read_text())
    assert results["steps"] == 6 and results["hardware"].startswith("GPU ")
    assert torch.load(run / "latest_state.pt", weights_only=True, map_location="cpu")["step"] == 6
    # The same file, scored on CPU by the same function: the deterministic figure repeats to within a
    # borderline image or two (float rounding differs between the devices; the glimpses do not).
    policy = RAMPolicy.load(run / "best.pt", device="cpu")
    envs = gym.make_vec(policy.env_id, num_envs=100, split="test", autoreset_mode="disabled", **policy.env_kwargs)
    on_cpu = evaluate(policy.model, envs, num_images=500, monte_carlo=False)
    assert abs(on_cpu["error_deterministic"] - results["test_error_deterministic"]) <= 2 / 500


def test_bfloat16_training_on_cuda(tmp_path: Path) -> None:
    proc = run_script(SCRIPT, "--preset", "mnist-6g", *TINY, "--max-steps", "3", "--precision", "bfloat16",
                      "--output-dir", tmp_path, "--name", "bf16")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "bf16" / "test_results.json").read_text())
    assert 0 <= results["test_error_deterministic"] <= 1 and 0 <= results["test_error_mc"] <= 1


def test_torchrun_on_the_gpus_uses_nccl(tmp_path: Path) -> None:
    nproc = min(2, torch.cuda.device_count())  # nccl takes one GPU per process
    proc = run_script("--standalone", "--nproc_per_node", nproc, SCRIPT, "--preset", "mnist-2g", *TINY,
                      "--max-steps", "4", "--output-dir", tmp_path, "--name", "ddp",
                      module=["-m", "torch.distributed.run"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "ddp" / "test_results.json").read_text())["processes"] == nproc


def test_shipped_policy_on_cuda_classifies_as_on_cpu() -> None:
    path = ROOT / "agents" / "pretrained" / "mnist-6g.pt"
    errors = {}
    for device in ("cpu", "cuda"):
        policy = RAMPolicy.load(path, device=device)
        assert policy.device.type == device
        envs = gym.make_vec(policy.env_id, num_envs=500, split="test", autoreset_mode="disabled", device=device,
                            **policy.env_kwargs)
        errors[device] = evaluate(policy.model, envs, num_images=1000, monte_carlo=False)["error_deterministic"]
    assert abs(errors["cuda"] - errors["cpu"]) <= 2 / 1000, errors
    # predict() on a CUDA policy takes the numpy observations of an ordinary (CPU) env and gives numpy actions.
    policy = RAMPolicy.load(path, device="cuda")
    env = policy.make_env(split="test")
    obs, _ = env.reset(seed=0)
    action, state = policy.predict(obs, deterministic=True)
    assert env.action_space.contains(action) and state is not None
