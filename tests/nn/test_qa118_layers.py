"""QA-118: SPN layers given an unusable device or dtype said so with torch's own RuntimeError,
TypeError or AssertionError; every other constructor argument was already one InputError."""

from __future__ import annotations

import pytest
import torch

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear

BUILD = {"SPNLinear": lambda **kw: SPNLinear(8, 4, **kw), "SPNConv2d": lambda **kw: SPNConv2d(3, 8, 3, **kw)}


@pytest.mark.parametrize("layer", sorted(BUILD))
@pytest.mark.parametrize("kwargs, message", [
    (dict(device="nope"), "cannot be made on device 'nope'"),
    (dict(device=5), "cannot be made on device 5"),
    (dict(dtype=torch.int64), "needs a floating torch dtype (e.g. torch.float32), got torch.int64"),
    (dict(dtype="float64"), "needs a floating torch dtype (e.g. torch.float32), got 'float64'"),
])
def test_an_unusable_device_or_dtype_is_one_input_error(layer, kwargs, message):
    with pytest.raises(InputError) as err:
        BUILD[layer](**kwargs)
    assert str(err.value).startswith(f"{layer} ") and message in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there")
def test_cuda_without_cuda_is_one_input_error():
    with pytest.raises(InputError, match="cannot be made on device 'cuda'"):
        SPNLinear(8, 4, device="cuda")


@pytest.mark.parametrize("layer", sorted(BUILD))
def test_floating_dtypes_and_the_meta_device_still_build(layer):
    for kwargs in (dict(dtype=torch.float64), dict(dtype=torch.bfloat16), dict(device="cpu"),
                   dict(device=torch.device("meta"))):
        built = BUILD[layer](**kwargs)
        assert built.Wb.dtype == kwargs.get("dtype", torch.float32)
        assert built.Wb.device.type == str(kwargs.get("device", "cpu")).split(":")[0]
