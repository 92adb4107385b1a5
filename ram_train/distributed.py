"""Multi-process training with ``torchrun``: process group, rank roles, batch shards, metric reduction.

The engine is PyTorch's own: ``torch.distributed`` started by ``torchrun`` (which sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous) and ``DistributedDataParallel`` for the
gradients; this module is the thin glue a training script needs around it. Without ``torchrun``
(``WORLD_SIZE`` unset or 1) everything here is a no-op and the script runs as one process.

- gloo on CPU, nccl on CUDA; each process drives the GPU ``LOCAL_RANK`` of its machine.
- Every rank draws the same epoch permutation and takes its own slice of each global batch
  (:meth:`Distributed.shard`), and seeds its env and location noise with its own stream
  (:meth:`Distributed.seed`), so ranks see different images and different paths.
- Metrics are averaged over ranks (:meth:`Distributed.mean`); only rank 0 writes files.
- A process ends by :func:`exit_process`, which leaves the group and exits without finalizing Python.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Distributed", "exit_process", "launched", "setup"]


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    """Where this process computes, and where collectives keep their tensors (nccl needs CUDA ones)."""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, checkpoints and draws figures."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch whose length is a multiple of ``world_size``."""
        per_rank = batch.shape[0] // self.world_size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def seed(self, base: int) -> int:
        """A seed of this rank's own stream, derived from a seed shared by every rank."""
        return base * self.world_size + self.rank

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average scalars over all ranks (identity for one process)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return {k: v / self.world_size for k, v in zip(keys, tensor.tolist())}

    def broadcast(self, value: object) -> object:
        """Rank 0's ``value`` on every rank (a picklable Python object; identity for one process)."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank, so that all ranks take the same branch."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([0 if flag else 1], dtype=torch.int64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)  # gloo and nccl both reduce int64 sums
        return int(tensor.item()) == 0

    def check_in_sync(self, module: torch.nn.Module) -> None:
        """Raise if the replicas' parameters differ across ranks (they never should under DDP)."""
        if not self.enabled:
            return
        local = torch.stack([p.detach().double().sum() for p in module.parameters()])
        gathered = [torch.zeros_like(local) for _ in range(self.world_size)]
        dist.all_gather(gathered, local)
        if not all(torch.equal(gathered[0], g) for g in gathered):
            raise RuntimeError("the ranks' parameters differ: the replicas are out of sync")

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def wrap(self, module: torch.nn.Module, find_unused_parameters: bool = False) -> torch.nn.Module:
        """``DistributedDataParallel(module)`` when distributed, else the module itself.

        ``find_unused_parameters``: some parameters may get no gradient in a step (the location policy of the
        random-location control, the location terms of one-glimpse episodes); DDP must then look for them.
        """
        if not self.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids,
                                                         find_unused_parameters=find_unused_parameters)


def launched() -> bool:
    """Whether ``torchrun`` started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def exit_process(code: int | str | None = 0) -> None:
    """End a ``torchrun`` process as ``sys.exit(code)`` would, but without finalizing Python; return if not launched.

    Why: gloo runs each collective on a worker thread of its own, and that thread drops the collective's tensors
    just after the caller has its result. When this comes after the interpreter began to finalize, the tensors'
    Python objects need the GIL, Python ends the thread inside a C++ destructor, and the process aborts
    ("terminate called without an active exception", SIGABRT): a finished run reported as failed. Joining the
    threads would close the window, but ``destroy_process_group`` cannot: a ``DistributedDataParallel`` keeps
    the group alive, even once deleted. So the process leaves the group, flushes what Python buffered and
    ends with ``os._exit``, which finalizes nothing. Measured with the script of
    ``tests/test_train_distributed.py`` (ranks that exit straight after 50 ``all_gather`` calls; torch 2.13, 2-core
    CPU): 4 processes, 5 launches in 8 aborted by ``sys.exit``, 0 in 8 by this; 2 processes beside other work,
    11 in 20 against 0 in 40. Callers close their own files first; a ``str`` code is printed to stderr and exits
    with 1, as ``SystemExit`` does.
    """
    if not launched():
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    if isinstance(code, str):
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def setup(device: str) -> tuple[Distributed, torch.device]:
    """Join the ``torchrun`` job if there is one; return the rank roles and this process's device.

    ``device`` is the script's ``--device``: "auto" picks CUDA when available. Under torchrun each
    process takes GPU ``LOCAL_RANK`` (nccl); on CPU the processes use gloo.
    """
    wanted = "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    if not launched():
        return Distributed(device=torch.device(wanted)), torch.device(wanted)
    world_size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = torch.device(wanted)
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=target), target
