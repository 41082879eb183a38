"""QA round 28: matmul refuses ragged matrices with one InputError line and takes empty `out`
arrays as numpy.matmul does; save follows the command line's output-path rules; save, lift and
combine check their sympy flag first, under their own names."""

from __future__ import annotations

import numpy as np
import pytest

import fastmm
from fastmm import api
from fastmm.errors import InputError
from fastmm.export import build
from fastmm.scheme import Scheme
from tests import test_multiply_qa

RAGGED = [[1.0, 2.0], [3.0]]
path = test_multiply_qa.path  # the fixture: each test with and without the C compiler


# -- 1. ragged matrices -----------------------------------------------------------------------------

@pytest.mark.parametrize("A, B, name", [(RAGGED, np.eye(2), "A"), (np.eye(2), RAGGED, "B")])
def test_a_ragged_matrix_is_one_input_error_naming_it(A, B, name):
    with pytest.raises(InputError) as exc:
        fastmm.matmul(A, B)
    assert str(exc.value) == f"matmul: {name} is not a rectangular matrix (ragged rows)"


def test_a_ragged_out_is_refused_as_not_an_array():
    with pytest.raises(InputError) as exc:
        fastmm.matmul(np.eye(2), np.eye(2), out=RAGGED)
    assert str(exc.value) == "out must be a 2x2 float64 array, got list"


def test_the_compiled_function_refuses_ragged_operands_too(path):
    if path == "numpy":
        pytest.skip("the compiled function needs a C compiler")
    fn = build.c_function(fastmm.strassen(), 1, "float64")
    with pytest.raises(InputError) as exc:
        fn(np.eye(2), RAGGED)
    assert str(exc.value) == "B is not a rectangular matrix (ragged rows)"


# -- 2. empty products into out ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.float16])
@pytest.mark.parametrize("M, K, N", [(0, 4, 3), (4, 3, 0), (0, 0, 0), (0, 3, 0)])
def test_an_empty_out_is_taken_as_numpy_takes_it(path, dtype, M, K, N):
    A, B = np.ones((M, K), dtype), np.ones((K, N), dtype)
    out = np.empty((M, N), dtype)
    expected = np.matmul(A, B, out=np.empty((M, N), dtype))  # numpy accepts it
    C = fastmm.matmul(A, B, out=out)
    assert C is out and C.shape == expected.shape == (M, N)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.float16])
def test_a_product_over_an_empty_inner_dimension_writes_zeros_into_out(path, dtype):
    out = np.full((4, 3), 7, dtype)
    C = fastmm.matmul(np.ones((4, 0), dtype), np.ones((0, 3), dtype), out=out)
    assert C is out and C.tolist() == [[0, 0, 0]] * 4


def test_an_empty_read_only_out_is_still_refused():
    out = np.empty((0, 3))
    out.flags.writeable = False
    with pytest.raises(InputError, match="^out must be writeable"):
        fastmm.matmul(np.ones((0, 4)), np.ones((4, 3)), out=out)


# -- 3. save's output path --------------------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("   ", "save: the file name is empty"),
    ("~/x.json", "save ~/x.json: directory {cwd}/~ does not exist (\"~\" is not expanded here: "
                 "give the home directory's path)"),
    ("missing/x.json", "save missing/x.json: directory {cwd}/missing does not exist"),
    ("sub/", "save sub/: is a directory, expected a file name"),
])
def test_save_refuses_what_the_command_line_refuses_and_writes_nothing(tmp_path, monkeypatch, name,
                                                                       message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError) as exc:
        fastmm.save(fastmm.strassen(), name)
    assert str(exc.value) == message.format(cwd=tmp_path.resolve())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    assert list((tmp_path / "sub").iterdir()) == []


def test_save_writes_into_an_existing_directory_and_returns_the_name_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    written = fastmm.save(fastmm.strassen(), "d/s.json")
    assert str(written) == "d/s.json" and fastmm.load(tmp_path / "d" / "s.json") == fastmm.strassen()


# -- 4. the sympy flag, first and under the function's own name --------------------------------------

def test_save_checks_sympy_before_the_path_and_names_itself(tmp_path):
    with pytest.raises(InputError) as exc:
        fastmm.save(fastmm.strassen(), tmp_path / "no-such-dir" / "s.json", sympy="no")
    assert str(exc.value) == "save: sympy must be True or False, got 'no' (str)"


def test_lift_names_itself_for_a_bad_sympy_flag():
    with pytest.raises(InputError) as exc:
        fastmm.lift(fastmm.strassen(), sympy="no")
    assert str(exc.value) == "lift: sympy must be True or False, got 'no' (str)"


def test_combine_checks_sympy_before_building_anything(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the Kronecker product was built")

    monkeypatch.setattr(Scheme, "kron", never)
    with pytest.raises(InputError) as exc:
        fastmm.combine("kron", fastmm.strassen(), fastmm.strassen(), sympy=1)
    assert str(exc.value) == "combine: sympy must be True or False, got 1"


def test_load_verified_names_itself_for_a_bad_sympy_flag(tmp_path):
    path = fastmm.save(fastmm.strassen(), tmp_path / "s.json")
    with pytest.raises(InputError) as exc:
        api.load_verified(path, sympy="yes")
    assert str(exc.value) == "load_verified: sympy must be True or False, got 'yes' (str)"
