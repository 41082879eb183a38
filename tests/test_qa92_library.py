"""The library's own checks for what the command line used to check alone (helper-92): bench's
sizes and counts, count.compare's arguments, masked arrays, a numpy shape for Scheme.permuted."""

from __future__ import annotations

import numpy as np
import pytest

import fastmm
from fastmm.bench import bench, bench_levels
from fastmm.errors import InputError, SchemeError
from fastmm.reference import strassen

S = strassen()


@pytest.mark.parametrize("args, kw, message", [
    ((S, None), {}, "size is N or"),
    ((S, (2, 2)), {}, "size is N or"),
    ((S, 10**6), {}, "the size must be in 1..65536"),
    ((S, 32), {"repeat": None}, "--repeat must be an integer"),
    ((S, 32), {"repeat": 1.5}, "--repeat must be an integer"),
    ((S, 32), {"cutoff": None}, "--cutoff must be an integer"),
    ((S, 32), {"cutoff": -1}, "--cutoff must be in"),
    ((S, 32), {"levels": 1.0}, "--levels must be an integer"),
    ((S, 32), {"levels": [1, 2]}, "one level count"),
    ((S, 32), {"impl": "fortran"}, "impl must be one of"),
    ((None, 32), {}, "takes a fastmm Scheme"),
])
def test_bench_refuses_bad_arguments_in_one_line_before_any_work(args, kw, message):
    with pytest.raises(InputError, match=message):
        bench(*args, **kw)


def test_bench_levels_wants_a_list_and_takes_numpy_integers():
    with pytest.raises(InputError, match="a non-empty list of level counts"):
        bench_levels(S, 32, 2)
    got = bench_levels(S, np.int64(8), [np.int64(1)], impl="numpy", repeat=np.int64(1), cutoff=np.int64(2))
    assert got[0].shape == (8, 8, 8) and type(got[0].levels) is int and got[0].error < 1e-12


@pytest.mark.parametrize("kw, message", [
    ({"dataset": None}, "a dataset is named by text"),
    ({"image_shape": ()}, "image_shape is"),
    ({"checkpoint": b"/x.pt"}, "checkpoint is a path"),
    ({"state": {"x": 1}}, "state must be a state_dict"),
    ({"state": [1]}, "state must be a state_dict"),
])
def test_count_compare_refuses_bad_arguments(kw, message):
    from fastmm.nn.count import compare

    args = {"model": "resnet18", "dataset": "cifar10", "r_ratio": 2, **kw}
    with pytest.raises(InputError, match=message):
        compare(**args)


def test_count_compare_takes_numpy_integers():
    from fastmm.nn.count import compare

    plain = compare("resnet18", "cifar10", 2)
    got = compare("resnet18", "cifar10", 2, in_channels=np.int64(3), num_classes=np.int64(10),
                  image_shape=np.array([3, 32, 32]))
    assert got == plain


def test_masked_arrays_are_refused_not_read_without_their_mask():
    masked = np.ma.array(S.Wa, mask=np.zeros_like(S.Wa, dtype=bool))
    with pytest.raises(SchemeError, match="masked array"):
        fastmm.Scheme(2, 2, 2, masked, S.Wb, S.Wc)
    with pytest.raises(InputError, match="masked"):
        fastmm.matmul(np.ma.array(np.ones((4, 4))), np.ones((4, 4)))


def test_permuted_takes_a_numpy_shape_as_combine_does():
    assert S.permuted(np.array([2, 2, 2])) == S.permuted((2, 2, 2))


def test_a_scheme_hashes_as_it_compares():
    from fastmm.reference import laderman

    as_objects = fastmm.Scheme(2, 2, 2, S.Wa.astype(object), S.Wb, S.Wc)
    assert as_objects == S and hash(as_objects) == hash(S)
    assert len({S, as_objects, laderman(), S.transpose()}) == 3 - (S.transpose() == S)
    assert {S: 1}[fastmm.strassen()] == 1
