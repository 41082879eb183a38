"""QA-29: the library as a hostile caller uses it (one test per problem found)."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SchemeFormatError
from fastmm.export.formats import fast_matmul_text, load_fast_matmul


def test_setting_dtype_or_shape_on_a_handed_out_array_leaves_the_scheme_as_it_was():
    s = fastmm.verified(fastmm.laderman())
    view = s.Wa
    view.dtype = np.uint64  # reinterprets this view only
    shaped = s.Wb
    shaped.shape = (shaped.size,)
    assert s.Wa.dtype == np.int64 and s.Wb.shape == (23, 9)
    assert s.ring == "ZT" and bool(fastmm.verify(s, sympy=False))
    with pytest.raises(ValueError):
        s.Wc.setflags(write=True)


def test_levels_that_cannot_shrink_a_block_do_not_recurse_forever():
    one = fastmm.naive_scheme(1, 1, 1)
    a = np.arange(64 * 64, dtype=float).reshape(64, 64) % 7
    assert np.array_equal(fastmm.matmul(a, a, scheme=one, levels=200_000), a @ a)
    ai = a.astype(np.int64)
    assert np.array_equal(fastmm.matmul(ai, ai, scheme=one, levels=5_000), ai @ ai)
    b = ai[:37, :53] - 3
    c = ai[:53, :29] - 3
    assert np.array_equal(fastmm.matmul(b, c, levels=10**9, cutoff=0), b @ c)
    assert np.array_equal(fastmm.matmul(b, c, scheme=fastmm.naive_scheme(1, 1, 2), levels=10**9, cutoff=0),
                          b @ c)


def test_fast_matmul_round_trips_long_decimals(tmp_path):
    s = fastmm.Scheme(1, 1, 1, [[2**41]], [[1]], [[Fraction(1, 2**41)]])
    text = fast_matmul_text(s)
    assert "0.00000000000045474735088646411895751953125" in text
    path = tmp_path / "s.txt"
    path.write_text(text)
    back = load_fast_matmul(path)
    assert back == s and bool(fastmm.verify(back, sympy=False))


def test_decimals_past_any_bounded_fraction_are_still_refused(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1\n#\n1\n#\n1e-70\n")
    with pytest.raises(SchemeFormatError, match="beyond the supported bound"):
        load_fast_matmul(path)


@pytest.mark.parametrize("function", [fastmm.verify, fastmm.export, fastmm.catalog, fastmm.search])
def test_the_callable_modules_pickle_by_name(function):
    assert pickle.loads(pickle.dumps(function)) is function


def test_verify_runs_in_a_process_pool():
    with ProcessPoolExecutor(2) as pool:
        verdicts = list(pool.map(fastmm.verify, [fastmm.strassen(), fastmm.laderman()]))
    assert [bool(v) for v in verdicts] == [True, True]


def test_a_rank_0_scheme_counts_one_pass_against_the_verification_limit():
    n = 300
    s = fastmm.Scheme(n, 1, n, np.zeros((0, n), int), np.zeros((0, n), int), np.zeros((n * n, 0), int))
    with pytest.raises(InputError, match="too large to verify"):
        fastmm.verify(s, sympy=False)
    small = fastmm.Scheme(2, 1, 2, np.zeros((0, 2), int), np.zeros((0, 2), int), np.zeros((4, 0), int))
    assert not fastmm.verify(small, sympy=False)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64])
def test_generated_numpy_code_wraps_big_coefficients_as_integer_products_do(dtype):
    s = fastmm.Scheme(1, 1, 1, [[2**40 + 1], [-(2**40)], [301], [-301]], [[1]] * 4, [[1, 1, 1, 1]])
    assert bool(fastmm.verify(s, sympy=False))
    namespace: dict = {}
    exec(fastmm.export(s, to="numpy"), namespace)  # our own generated code
    a = np.array([[3, 100]], dtype)
    b = np.array([[5], [1]], dtype)
    assert np.array_equal(namespace["matmul"](a, b, levels=1, leaf=1), a @ b)


def test_torch_tensors_numpy_cannot_read_are_one_input_error():
    torch = pytest.importorskip("torch")
    for x in (torch.ones(4, 4, dtype=torch.bfloat16), torch.ones(4, 4, requires_grad=True)):
        with pytest.raises(InputError, match="cannot be read as a numpy array"):
            fastmm.matmul(x, np.ones((4, 4)))
