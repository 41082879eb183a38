"""Which process-group backend a torchrun training joins, and the runs that are refused up front."""

import pytest

from fastmm.errors import InputError
from fastmm.nn.distributed import choose_backend, init_distributed


@pytest.mark.parametrize("device, local, gpus, asked, backend", [
    ("cpu", 2, 0, "", "gloo"),
    ("cuda", 2, 2, "", "nccl"),
    ("cuda", 1, 1, "", "nccl"),
    ("cuda", 2, 1, "gloo", "gloo"),  # two ranks share one GPU through gloo
    ("cpu", 4, 0, "gloo", "gloo"),
])
def test_backend_by_device_and_override(device, local, gpus, asked, backend):
    assert choose_backend(device, local, gpus, asked) == backend


@pytest.mark.parametrize("device, local, gpus, asked, message", [
    ("cuda", 2, 1, "", "nccl needs one GPU per process: 2 processes on this node, 1 GPU(s)"),
    ("cuda", 3, 2, "nccl", "start at most 2"),
    ("cpu", 2, 0, "nccl", "FASTMM_DIST_BACKEND=nccl needs --device cuda"),
    ("cpu", 2, 0, "mpi", "FASTMM_DIST_BACKEND must be one of nccl, gloo, not 'mpi'"),
    ("cuda", 1, 0, "gloo", "no CUDA device is available"),
])
def test_refused_in_one_line(device, local, gpus, asked, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose_backend(device, local, gpus, asked)


def test_init_refuses_a_bad_backend_before_joining(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("FASTMM_DIST_BACKEND", "nccl")
    with pytest.raises(InputError, match="needs --device cuda"):
        init_distributed("cpu")


def test_single_process_joins_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    d = init_distributed("cpu")
    assert (d.rank, d.world, d.main, d.device.type) == (0, 1, True, "cpu")
    assert d.sum([1.0, 2.5]) == [1.0, 2.5]
