"""QA round 2 of the Python API: help() shows the functions, one rule for numbers, shapes, time
limits and ring names, library errors instead of bare Python ones, JSON-safe provenance, and
messages that read right from Python as well as from the command line."""

import inspect
import json
import pydoc

import numpy as np
import pytest

import fastmm
from fastmm import api
from fastmm.errors import InputError

S = fastmm.strassen()


# -- help() and dir() ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["search", "export", "verify", "catalog"])
def test_help_of_a_callable_module_shows_the_function_first(name):
    module = getattr(fastmm, name)
    func = getattr(api, name)
    doc = module.__doc__
    assert doc is not None and doc.startswith(f"{name}(")
    first_param = next(iter(inspect.signature(func).parameters))
    assert doc.splitlines()[0].startswith(f"{name}({first_param}")
    assert inspect.getdoc(func).splitlines()[0] in doc
    text = pydoc.render_doc(module, renderer=pydoc.plaintext)
    assert text.index(inspect.getdoc(func).splitlines()[0]) < text.index("PACKAGE CONTENTS" if name in (
        "search", "export") else "FUNCTIONS")


def test_help_of_search_names_its_parameters_then_the_package():
    doc = fastmm.search.__doc__
    assert "time_limit: float = 300.0" in doc.splitlines()[0]
    assert "'Sequence" not in doc.splitlines()[0]  # annotations as written, not quoted strings
    verify_doc = fastmm.verify.__doc__
    assert verify_doc.index("Exact Brent equations") < verify_doc.index("The module fastmm.verify:")


def test_dir_lists_the_lazy_exports():
    import fastmm.nn

    assert {"SPNConv2d", "SPNLinear", "strassenify", "build_model"} <= set(dir(fastmm.nn))
    assert {"search", "import_scheme", "Scheme", "matmul"} <= set(dir(fastmm))


def test_import_scheme_states_its_keywords():
    params = inspect.signature(fastmm.import_scheme).parameters
    assert [p for p in params] == ["path", "fmt", "allow_pickle", "key", "z2"]
    assert params["z2"].default is False and params["z2"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        fastmm.import_scheme("nothing.txt", "perminov", foo="x")
    with pytest.raises(InputError, match="z2 must be True or False, got 'yes' \\(str\\)"):
        fastmm.import_scheme("nothing.txt", "perminov", z2="yes")


# -- one rule for numbers --------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: fastmm.search((True, True, True), 1, time_limit=5), "N must be a positive integer, got True"),
    (lambda: fastmm.search((1, 1, 1), True, time_limit=5), "the rank must be a positive integer, got True"),
    (lambda: fastmm.catalog(True), "max_dim must be a positive integer, got True (bool)"),
    (lambda: fastmm.search_distinct((2, 2, 3), 11, count=True, time_limit=5), "distinct schemes must be"),
    (lambda: fastmm.search((2, 2, 2), 7, workers=True, time_limit=5), "workers must be a positive integer"),
    (lambda: fastmm.search((2, 2, 2), "7", time_limit=5), "the rank must be a positive integer, got '7'"),
    (lambda: fastmm.search((2, 2, 2), 7.0, time_limit=5), "got 7.0 (float)"),
    (lambda: fastmm.search(("2", "2", "2"), 7, time_limit=5), "N must be a positive integer, got '2' (str)"),
    (lambda: fastmm.search((2, 2, 2), 7, time_limit="5"), "must be a number of seconds, got '5' (str)"),
    (lambda: fastmm.search((2, 2, 2), 7, time_limit=True), "a number of seconds, got True (bool)"),
    (lambda: fastmm.search({2, 3, 4}, 20, time_limit=5), "in a tuple or list, got {2, 3, 4} (set)"),
    (lambda: fastmm.search({2: 1, 3: 1, 4: 1}, 20, time_limit=5), "got {2: 1, 3: 1, 4: 1} (dict)"),
    (lambda: fastmm.search("222", 7, time_limit=5), "a shape is three positive integers"),
    (lambda: fastmm.search((2, 2, 2), 7, seed=True, time_limit=5), "the seed must be an integer"),
    (lambda: fastmm.search((2, 2, 2), 7, seed=2**62, time_limit=5), "in [0, 2^62), got 4611686018427387904"),
    (lambda: fastmm.lift(S, seed=-1), "the seed must be an integer in [0, 2^62), got -1"),
    (lambda: fastmm.lift(S, seed=1.0), "the seed must be an integer in [0, 2^62), got 1.0 (float)"),
    (lambda: fastmm.lift(S, tries="3"), "the number of tries must be a positive integer"),
    (lambda: fastmm.finish("x.json", frames=2.0), "frames must be a positive integer, got 2.0 (float)"),
    (lambda: fastmm.combine("project", S, axis="n", index=True), "the index to drop must be a whole number"),
    (lambda: fastmm.combine("project", S, axis="n", index=1.0), "the index to drop must be a whole number"),
    (lambda: fastmm.combine("permute", S, shape={2}), "in a tuple or list, got {2} (set)"),
    (lambda: fastmm.catalog_scheme(("2", 2, 2)), "N must be a positive integer, got '2' (str)"),
    (lambda: fastmm.search((2, 2, 2), 7, method="als", ring="Q", options={"batch": 8.0}),
     "option batch (--batch) must be a positive integer, got 8.0 (float)"),
])
def test_numbers_follow_one_rule(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_numpy_integers_and_reals_are_numbers_everywhere():
    s = fastmm.search(np.array([2, 2, 2]), np.int64(7), seed=np.int64(3), time_limit=np.float64(60),
                      workers=np.int32(1), sympy=False)
    assert s.rank == 7 and s.provenance["seed"] == 3 and type(s.provenance["seed"]) is int
    assert fastmm.lift(S, seed=np.int64(3)) == S  # valid over ZT already: returned as it is
    assert fastmm.catalog_scheme([np.int64(2), 2, np.uint8(2)]).rank == 7


def test_ring_names_are_case_insensitive_in_finish(tmp_path):
    missing = tmp_path / "points.json"
    with pytest.raises(InputError) as err:  # the ring is fine: the file is what is missing
        fastmm.finish(missing, ring="q")
    assert "ring must be" not in str(err.value) and "no such file" in str(err.value)
    with pytest.raises(InputError, match="unknown ring 'R'"):
        fastmm.finish(missing, ring="R")
    with pytest.raises(InputError, match="ring must be Q, Z or ZT, not 'Z2'"):
        fastmm.finish(missing, ring="z2")


def test_a_shape_that_is_no_flat_sequence_is_refused_on_one_line():
    with pytest.raises(InputError) as err:
        fastmm.search(np.ones((3, 3), dtype=int), 7)
    assert "\n" not in str(err.value) and "(ndarray)" in str(err.value)


def test_the_command_line_text_of_a_time_limit_still_reads():
    assert api.SearchRequest((2, 2, 2), 7, time_limit="5").time_limit == 5.0
    with pytest.raises(InputError, match="finite positive number of seconds"):
        api.SearchRequest((2, 2, 2), 7, time_limit="nan")
    with pytest.raises(InputError, match="number of seconds, got 'soon'"):
        api.SearchRequest((2, 2, 2), 7, time_limit="soon")


# -- library errors, not bare Python ones ----------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: fastmm.combine(["kron"], S), "unknown combination ['kron'] (list)"),
    (lambda: fastmm.combine("sum", S, S, axis=["n"]), "sum needs an axis: n, m or p (got ['n'] (list))"),
    (lambda: fastmm.search((2, 2, 2), 7, method="als", ring="Q", options={"save_fitted": 5}),
     "option save_fitted (--save-fitted) is a directory name (a str or path), got 5"),
    (lambda: fastmm.search((2, 2, 2), 7, method=["flip"]), "unknown method ['flip'] (list)"),
    (lambda: fastmm.search((2, 2, 2), 7, symmetry=["c3"]), "unknown symmetry ['c3'] (list)"),
    (lambda: fastmm.search((2, 2, 2), 7, options={"minimize": ["additions"]}), "got ['additions'] (list)"),
    (lambda: fastmm.search((2, 2, 2), 7, options={1: 2}), "option names are strings, got 1"),
    (lambda: fastmm.search((2, 2, 2), 7, scheduler=5), "is an address tcp://HOST:PORT, got 5"),
    (lambda: fastmm.search((2, 2, 2), 7, command=np.int64(1)), "command is the text of the command"),
])
def test_wrong_types_get_a_library_error(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value)


# -- provenance stays JSON ---------------------------------------------------------------------------

def test_a_numpy_index_is_stored_as_an_int_and_the_result_saves(tmp_path):
    out = fastmm.combine("project", S, axis="n", index=np.int64(1), sympy=False)
    assert out.provenance["index"] == 1 and type(out.provenance["index"]) is int
    fastmm.save(out, tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text())["provenance"]["index"] == 1
    summed = fastmm.combine("sum", S, S, axis=np.str_("n"), sympy=False)
    assert type(summed.provenance["axis"]) is str


# -- messages that fit Python and the command line --------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: fastmm.search_distinct((2, 2, 2), 8, count=2, time_limit=5),
     "2 distinct schemes (--distinct 2) need a rank below 8"),
    (lambda: fastmm.search((2, 2, 3), 11, symmetry="c3", time_limit=5),
     "symmetry='c3' (--symmetry c3) needs a square shape ⟨n,n,n⟩, got ⟨2,2,3⟩"),
    (lambda: fastmm.search((2, 2, 2), 7, method="flip", symmetry="c3", time_limit=5),
     "symmetry='c3' (--symmetry c3) runs the symmetric flip graph: use method 'symmetric' or 'auto'"),
    (lambda: fastmm.search((2, 2, 2), 7, method="flip", options={"batch": 8}),
     "option batch (--batch) is for the numerical methods (method 'als' or 'spn'), not flip"),
    (lambda: fastmm.search((2, 2, 2), 7, method="flip", options={"engine": "single"}),
     "option engine (--engine) chooses how method 'spn' trains"),
    (lambda: fastmm.search_distinct((2, 2, 3), 11, 2, options={"minimize": "additions"}),
     "run it with count=1 (without --distinct)"),
    (lambda: fastmm.search((2, 2, 2), 7, ring="Q", method="flip"),
     "ring Q is searched by the numerical methods only (method 'als' or 'spn'), not 'flip'"),
    (lambda: fastmm.catalog_scheme((65, 1, 1)), "N = 65 is beyond 64 per dimension, the most catalog_scheme"),
    (lambda: fastmm.catalog(65), "max_dim = 65 is above the limit of 64"),
])
def test_messages_name_the_python_argument_and_the_flag(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value)
    assert "search limit" not in str(err.value) or "catalog" not in message


def test_distinct_strassen_schemes_are_refused_up_front_as_bad_input(tmp_path):
    from tests.hostile.contract import assert_clean, run_cli

    with pytest.raises(fastmm.InputError, match="only one up to equivalence"):
        fastmm.search_distinct((2, 2, 2), 7, 2, time_limit=5)
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--distinct", "2", "-o", tmp_path / "s.json")
    assert_clean(r)
    assert r.rc == 2 and not any(tmp_path.iterdir())


def test_numpy_numbers_are_taken_as_method_options():
    s = fastmm.search((2, 2, 3), 11, method="pool", time_limit=60, sympy=False,
                      options={"pool_size": np.int64(4), "plus": np.int32(2)})
    assert s.rank == 11 and fastmm.verify(s, sympy=False)
    with pytest.raises(InputError, match="pool_size must be a whole number"):
        fastmm.search((2, 2, 3), 11, method="pool", time_limit=5, options={"pool_size": np.float64(4.5)})


@pytest.mark.parametrize("value", ["no", 0, None, "False"])
def test_sympy_must_be_a_bool_not_a_truthy_word(value):
    with pytest.raises(InputError, match="sympy must be True or False"):
        fastmm.verify(fastmm.strassen(), sympy=value)
    with pytest.raises(InputError, match="sympy must be True or False"):
        fastmm.save(fastmm.strassen(), "unused.json", sympy=value)
    assert fastmm.verify(fastmm.strassen(), sympy=np.bool_(False))


def test_symmetry_none_means_no_symmetry_as_on_the_command_line():
    s = fastmm.search((2, 2, 2), 7, symmetry="none", time_limit=30, sympy=False)
    assert s.rank == 7 and "symmetry" not in s.provenance


def test_finish_takes_ring_names_in_any_case_and_checks_progress(tmp_path):
    from tests.hostile.contract import run_cli

    points = "results/numerical_points/2x4x5-r32-fitted.json"
    with pytest.raises(InputError, match="progress must be a function"):
        fastmm.finish(points, progress=5)
    r = run_cli("finish", points, "--ring", "zt", "--point", "1", "--time-limit", "1",
                "-o", tmp_path / "f.json")
    assert r.rc in (0, 1) and "invalid choice" not in r.err.lower()
