"""``torchrun`` with two CPU processes (gloo) on real MNIST: sharded training, rank 0 writes, resume."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from agents.ram import RAMPolicy
from ram_train.distributed import exit_process

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "mnist-2g", "--batch-size", "16", "--num-samples", "2", "--val-every", "3", "--val-images", "100",
        "--val-samples", "2", "--test-images", "200", "--test-samples", "2", "--no-progress-bar", "--no-figures"]


def torchrun(*args: str, script: Path = ROOT / "train" / "ram_agent.py", processes: int = 2,
             timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               str(script), *args]
    return subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_train_in_sync_write_once_and_resume(tmp_path: Path) -> None:
    first = torchrun(*TINY, "--max-steps", "6", "--output-dir", str(tmp_path), "--name", "ddp")
    assert first.returncode == 0, first.stdout + first.stderr
    run = tmp_path / "ddp"
    # Rank 0 alone writes: one TensorBoard file, one announcement, one summary.
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert first.stdout.count("run ") == 1 and "x 2 processes" in first.stdout
    summary = json.loads((run / "test_results.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    # The result is an ordinary checkpoint.
    policy = RAMPolicy.load(run / "latest.pt", device="cpu")
    assert policy.env_id == "GlimpseMNIST-v0" and policy.env_kwargs == {"initial_location": "center", "num_glimpses": 2}
    # Ranks checked their replicas at every checkpoint (a mismatch raises); resume continues at step 6.
    again = torchrun(*TINY, "--max-steps", "9", "--output-dir", str(tmp_path), "--name", "ddp", "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed" in again.stdout and again.stdout.count("resumed") == 1
    with open(run / "progress.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [3, 6, 9]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_train_the_random_location_control(tmp_path: Path) -> None:
    """The control's location policy gets no gradient; DDP must not wait for it."""
    run = torchrun(*TINY, "--random-locations", "--max-steps", "3", "--output-dir", str(tmp_path), "--name", "control")
    assert run.returncode == 0, run.stdout + run.stderr
    assert RAMPolicy.load(tmp_path / "control" / "best.pt", device="cpu").config.random_locations


EXIT_STRAIGHT_AFTER_COLLECTIVES = """
import torch, torch.distributed as dist
from ram_train.distributed import exit_process
dist.init_process_group("gloo")
for _ in range(50):
    tensor, gathered = torch.ones(3), [torch.zeros(3) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor)
    del tensor, gathered  # gloo's worker holds the last reference
exit_process()
"""


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_a_rank_that_exits_straight_after_collectives_exits_cleanly(tmp_path: Path) -> None:
    """gloo's worker threads drop the last collective's tensors late; an interpreter already finalizing then
    aborts ("terminate called without an active exception"): 5 launches in 8 of this script by sys.exit."""
    script = tmp_path / "exit_after_collectives.py"
    script.write_text(EXIT_STRAIGHT_AFTER_COLLECTIVES)
    for _ in range(2):  # 4 processes exit each time
        run = torchrun(script=script, processes=4, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr


def test_exit_process_exits_as_system_exit_would_under_torchrun_and_returns_otherwise(monkeypatch) -> None:
    code = "from ram_train.distributed import exit_process; exit_process('stopped at step 3')"
    command = [sys.executable, "-c", code]
    run = subprocess.run(command, cwd=ROOT, env={**os.environ, "WORLD_SIZE": "2"}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and run.stderr == "stopped at step 3\n"
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert exit_process(0) is None  # one process: the caller goes on
