"""DistributedDataParallel set-up for `fastmm.nn.train`: one process per rank under torchrun.

Started with WORLD_SIZE > 1 (torchrun), training joins a process group — gloo on CPU,
nccl on CUDA — and wraps the model in DistributedDataParallel; otherwise everything here
is a no-op for the single process. `Dist` is what the loop needs to know: this rank, the
world size, the device, and a sum over ranks for the epoch's metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as the training step calls it: DDP-wrapped when there are several ranks."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=False,  # frozen Wb, Wc have requires_grad False
        )


def init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local)
        return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cuda", local))
    return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cpu"))
