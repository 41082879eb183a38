"""DistributedDataParallel set-up for `fastmm.nn.train`: one process per rank under torchrun.

Started with WORLD_SIZE > 1 (torchrun), training joins a process group — gloo on CPU,
nccl on CUDA, FASTMM_DIST_BACKEND overrides — and wraps the model in DistributedDataParallel;
otherwise everything here is a no-op for the single process. `Dist` is what the loop needs to
know: this rank, the world size, the device, and a sum over ranks for the epoch's metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from fastmm.errors import InputError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # init_distributed made the process group (close() ends it)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """End the process group this training made, once every rank is done with it: a rank
        that exits with gloo's connections still open can be aborted (SIGABRT) by the other
        rank closing its side first."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def wrap(self, model: nn.Module, find_unused: bool = False) -> nn.Module:
        """The model as the training step calls it: DDP-wrapped when there are several ranks.
        `find_unused`: some trainable parameters take no part in this stage's loss (TTQ's scales
        in stage full); frozen ones (SPN's Wb, Wc) have requires_grad False and need not say so."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=find_unused,
        )

    def share_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics). DDP copies them only at
        the start of a forward pass, so after the last step each rank holds its own batch's."""
        if self.world == 1:
            return
        with torch.no_grad():
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)


BACKENDS = ("nccl", "gloo")


def choose_backend(device: str, local_world: int, gpus: int, asked: str = "") -> str:
    """The process-group backend: FASTMM_DIST_BACKEND if set, else nccl on CUDA, gloo on CPU.

    NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), deep inside the first
    collective; a run with more local processes than GPUs is refused here instead, in one line
    that says what works (gloo also reduces CUDA tensors, through the host)."""
    if asked and asked not in BACKENDS:
        raise InputError(f"FASTMM_DIST_BACKEND must be one of {', '.join(BACKENDS)}, not {asked!r}")
    backend = asked or ("nccl" if device == "cuda" else "gloo")
    if backend == "nccl" and device != "cuda":
        raise InputError("FASTMM_DIST_BACKEND=nccl needs --device cuda")
    if device == "cuda" and gpus < 1:
        raise InputError("--device cuda: no CUDA device is available")
    if backend == "nccl" and local_world > gpus:
        raise InputError(f"nccl needs one GPU per process: {local_world} processes on this node, "
                         f"{gpus} GPU(s); start at most {gpus} (torchrun --nproc_per_node) or set "
                         "FASTMM_DIST_BACKEND=gloo")
    return backend


def launch_rank() -> int:
    """This process's rank as torchrun announces it (RANK; 0 without torchrun), known before the
    process group is joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    return int(os.environ.get("RANK", "0"))


def init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, torch.device(device))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    backend = choose_backend(device, local_world, gpus, os.environ.get("FASTMM_DIST_BACKEND", ""))
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend)
    if device == "cuda":
        index = local % gpus  # gloo may share one GPU between ranks; nccl was checked above
        torch.cuda.set_device(index)
        return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cuda", index), owns)
    return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cpu"), owns)
