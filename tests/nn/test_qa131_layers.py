"""QA-131: a kernel_size, stride or width that made an SPN factor too large to allocate, and an
integer input, reached torch as a bare RuntimeError; a torch file holding objects other than
tensors was called damaged or another kind of file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear
from fastmm.nn.checkpoint import safe_torch_load


@pytest.mark.parametrize("build, shape", [
    (lambda: SPNConv2d(2, 3, 10**5), "(3, 2, 100000, 100000)"),
    (lambda: SPNConv2d(2, 3, 3, stride=10**6, tile=2), "(3, 2, 1000003, 1000003)"),
    (lambda: SPNLinear(10**9, 3), "(3, 1000000000)"),
])
def test_a_factor_past_the_weight_limit_is_one_input_error(build, shape):
    with pytest.raises(InputError, match=r"a factor of shape " + shape.replace("(", r"\(").replace(")", r"\)")
                       + r" would hold [\d,]+ weights, above the limit of 2,147,483,648"):
        build()


@pytest.mark.parametrize("layer, x", [
    (lambda: SPNConv2d(2, 3, 3), torch.zeros(1, 2, 5, 5, dtype=torch.long)),
    (lambda: SPNLinear(4, 3), torch.zeros(2, 4, dtype=torch.int32)),
    (lambda: SPNLinear(4, 3), torch.zeros(2, 4, dtype=torch.bool)),
])
def test_an_integer_input_is_one_input_error(layer, x):
    with pytest.raises(InputError, match=f"takes floating-point inputs, as its weights are, got {x.dtype}"):
        layer().eval()(x)


def test_float_inputs_still_work():
    assert SPNConv2d(2, 3, 3).eval()(torch.zeros(1, 2, 5, 5)).shape == (1, 3, 3, 3)
    assert SPNLinear(4, 3).eval()(torch.zeros(2, 4, dtype=torch.float64).float()).shape == (2, 3)


class _Runs:
    """Unpickled, it would run a command (it must never be)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_torch_file_holding_code_is_refused_and_says_so(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "fastmm.train-checkpoint", "x": _Runs(str(marker))}, path)
    with pytest.raises(InputError, match="holds objects other than tensors and plain values, which fastmm "
                       r"does not load \(loading them could run code from the file\)"):
        safe_torch_load(path)
    r = subprocess.run([sys.executable, "-m", "fastmm", "evaluate", str(path)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "holds objects other than tensors" in r.stderr
    assert not marker.exists()


def test_the_meta_device_builds_factors_past_the_limit():
    """QA-133: `fastmm count --model resnet18 --dataset imagenet --r-ratio 64 --tile 8` builds on the
    meta device (nothing is allocated) and was refused by the weight limit."""
    layer = SPNConv2d(256, 512, 3, r_ratio=64, tile=8, device="meta")
    assert layer.Wb.shape == (32768, 256, 10, 10) and layer.Wb.device.type == "meta"
    r = subprocess.run([sys.executable, "-m", "fastmm", "count", "--model", "resnet18", "--dataset",
                        "imagenet", "--r-ratio", "64", "--tile", "8"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("content", [os.urandom(500), b"\x80\x02" + b"garbage" * 20])
def test_a_damaged_file_is_still_called_damaged(tmp_path, content):
    """QA-133: torch wraps every unpickling failure in "Weights only load failed"; only an
    unsupported global means the file holds other objects."""
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"not a PyTorch checkpoint \(damaged, truncated, or another kind"):
        safe_torch_load(path)
