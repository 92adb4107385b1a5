"""DistributedDataParallel over the episode objective: two gloo processes on real MNIST stay in sync."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from agents.ram import RAM, EpisodeObjective, RAMConfig
from ram_train.distributed import exit_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import gymnasium as gym

    import ram_env  # noqa: F401

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    dist.init_process_group("gloo")
    torch.manual_seed(0)  # the same initial weights on both ranks (DDP also broadcasts rank 0's)
    torch.set_num_threads(1)
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=8, split="train", autoreset_mode="disabled", num_glimpses=3)
    model = RAM(RAMConfig.from_env(envs, core_hidden=32, glimpse_hidden=16, glimpse_features=32))
    objective = torch.nn.parallel.DistributedDataParallel(EpisodeObjective(model))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(3):
        index = torch.arange(8) + 8 * rank + 100 * step  # each rank its own images and seed stream
        losses = objective(envs, index, 1, seed=step * world + rank)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    torch.save({"same": all(torch.equal(gathered[0], g) for g in gathered), "loss": float(losses["loss"])},
               f"{out}/rank{rank}.pt")
    exit_process()  # as the trainer ends: gloo's threads cannot abort an exiting interpreter (seen: SIGABRT)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_on_different_images_keep_identical_parameters(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert all(r["same"] for r in results)
    # The ranks saw different images, so their local losses differ: they synchronised, not duplicated.
    assert results[0]["loss"] != results[1]["loss"]
