"""A Scheme cannot be changed once built, shares nothing, and what fastmm writes it can read back.

Schemes are immutable (attributes cannot be assigned, coefficient arrays are read-only) and own
their arrays, provenance and verified record, so no cache, copy or caller can change a checked
scheme behind its back. Every scheme file fastmm writes (fastmm.io.dumps) obeys the reader's
bounds, or nothing is written.
"""

import copy
import pickle
from fractions import Fraction

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SchemeError
from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.validate import MAX_JSON_DEPTH

# -- the catalogue hands out a new scheme on every call ------------------------------------------


def test_catalog_scheme_is_not_changed_by_what_a_caller_does_with_an_earlier_one():
    s = fastmm.catalog_scheme((3, 3, 3))
    s.provenance["x"] = 1
    s.verified["ok"] = False
    t = fastmm.catalog_scheme((3, 3, 3))
    assert t is not s
    assert "x" not in t.provenance and t.verified["ok"] is True
    assert t.shape == (3, 3, 3) and t.rank == 23 and fastmm.verify(t, sympy=False).ok


def test_catalog_scheme_coefficients_cannot_be_zeroed_in_place():
    s = fastmm.catalog_scheme((3, 3, 3))
    with pytest.raises(ValueError, match="read-only"):
        s.Wa[:] = 0
    assert np.count_nonzero(fastmm.catalog_scheme((3, 3, 3)).Wa) == np.count_nonzero(s.Wa) > 0
    assert fastmm.verify(fastmm.catalog_scheme((3, 3, 3)), sympy=False).ok


# -- copies share nothing --------------------------------------------------------------------


def test_with_meta_copies_provenance_and_verified_all_the_way_down():
    s = strassen().with_meta(provenance={"run": {"seeds": [1, 2]}}, verified={"ok": True, "at": {"t": 1}})
    t = s.with_meta()
    t.verified["ok"] = False
    t.verified["at"]["t"] = 2
    t.provenance["run"]["seeds"].append(3)
    assert s.verified == {"ok": True, "at": {"t": 1}}
    assert s.provenance == {"run": {"seeds": [1, 2]}}


def test_the_constructor_keeps_copies_of_the_callers_dicts_and_arrays():
    ref = strassen()
    wa = np.array(ref.Wa)
    prov = {"seeds": [1]}
    s = Scheme(2, 2, 2, wa, ref.Wb, ref.Wc, provenance=prov)
    wa[0, 0] = 5
    prov["seeds"].append(2)
    assert s.Wa[0, 0] == ref.Wa[0, 0] == 1 and s.provenance == {"seeds": [1]}
    assert wa.flags.writeable  # the caller's array is left writable


# -- a scheme cannot be changed after it is built ------------------------------------------------


@pytest.mark.parametrize("name, value", [("Wa", np.array([[0.1]])), ("Wb", np.array([[10.0]])),
                                         ("Wa", [[1]]), ("n", 3), ("ring", "Q"), ("provenance", {}),
                                         ("verified", None), ("extra", 1)])
def test_assigning_an_attribute_is_refused(name, value):
    s = Scheme(1, 1, 1, [[1]], [[1]], [[1]], ring="Z")
    with pytest.raises(AttributeError, match=rf"cannot be changed after it is built \(setting '{name}'\).*"
                                             rf"with_meta\({name}=\.\.\.\)"):
        setattr(s, name, value)
    assert s.Wa.tolist() == [[1]] and s.n == 1 and s.ring == "Z" and fastmm.verify(s).ok


def test_deleting_an_attribute_is_refused():
    s = strassen()
    with pytest.raises(AttributeError, match="deleting 'Wa'"):
        del s.Wa
    assert fastmm.verify(s).ok


def test_changing_the_shape_of_strassen_is_refused():
    s = strassen()
    with pytest.raises(AttributeError):
        s.n = 3
    assert s.shape == (2, 2, 2) and fastmm.verify(s).ok


@pytest.mark.parametrize("name", ["Wa", "Wb", "Wc"])
def test_coefficient_arrays_are_read_only(name):
    s = strassen()
    with pytest.raises(ValueError, match="read-only"):
        getattr(s, name)[0, 0] += 1
    with pytest.raises(ValueError, match="read-only"):
        getattr(s, name).reshape(-1)[0] = 7  # a view of it is read-only too
    assert fastmm.verify(s).ok


def test_fraction_and_z2_schemes_are_read_only_too():
    q = Scheme(1, 1, 1, [["1/2"]], [[2]], [[1]])
    z2 = strassen().with_meta(ring="Z2")
    assert q.ring == "Q" and z2.ring == "Z2"
    for w in (q.Wa, z2.Wa, z2.Wc):
        with pytest.raises(ValueError, match="read-only"):
            w[0, 0] = 0


def test_a_changed_scheme_is_built_from_a_copy_with_with_meta():
    s = strassen()
    wc = np.array(s.Wc)
    wc[1, 2] = 0
    broken = s.with_meta(Wc=wc)
    assert fastmm.verify(broken).lines() == ["C12: missing a11*b12", "C12: extra a11*b22"]
    assert fastmm.verify(s).ok


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy, copy.copy],
                         ids=["pickle", "deepcopy", "copy"])
def test_pickled_and_copied_schemes_are_equal_and_read_only(clone):
    s = strassen()
    t = clone(pickle.dumps(s)) if clone is pickle.loads else clone(s)
    assert t == s and t.provenance == s.provenance and t.provenance is not s.provenance
    with pytest.raises(ValueError, match="read-only"):
        t.Wa[0, 0] = 0
    with pytest.raises(AttributeError):
        t.ring = "Q"


# -- provenance and verified are dicts ---------------------------------------------------------


def test_provenance_none_means_empty():
    ref = strassen()
    s = Scheme(2, 2, 2, ref.Wa, ref.Wb, ref.Wc, provenance=None)
    assert s.provenance == {}
    assert fastmm.verified(s).verified["ok"] is True
    assert '"provenance": {}' in dumps(s)


@pytest.mark.parametrize("key, value, kind", [("provenance", [1, 2], "list"), ("provenance", "x", "str"),
                                              ("verified", True, "bool"), ("verified", [("ok", 1)], "list")])
def test_metadata_that_is_not_a_dict_is_refused(key, value, kind):
    ref = strassen()
    with pytest.raises(SchemeError, match=f"^{key} must be a dict, got {kind}$"):
        Scheme(2, 2, 2, ref.Wa, ref.Wb, ref.Wc, **{key: value})


def test_numpy_values_in_provenance_become_python_numbers(tmp_path):
    s = strassen().with_meta(provenance={"seed": np.int64(3), "seconds": np.float64(0.5),
                                         "ok": np.bool_(True), "sizes": np.array([2, 3])})
    assert s.provenance == {"seed": 3, "seconds": 0.5, "ok": True, "sizes": [2, 3]}
    assert [type(s.provenance[k]) for k in ("seed", "seconds", "ok")] == [int, float, bool]
    fastmm.save(s, tmp_path / "s.json")
    assert fastmm.load(tmp_path / "s.json").provenance == s.provenance


# -- save writes only what load reads ----------------------------------------------------------


def _refused_and_untouched(scheme, tmp_path, message):
    """save raises InputError(message) and leaves the existing file as it was, and makes none."""
    old = tmp_path / "old.json"
    old.write_text("earlier contents")
    with pytest.raises(InputError, match=message):
        fastmm.save(scheme, old)
    assert old.read_text() == "earlier contents"
    with pytest.raises(InputError, match=message):
        fastmm.save(scheme, tmp_path / "new.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def _coefficient_scheme(c):
    """⟨1,1,1;2⟩ with products c·a·b and a·b summed as 1·(c·ab) + (1 − c)·ab = ab: valid for any c."""
    return Scheme(1, 1, 1, [[c], [1]], [[1], [1]], [[1, 1 - c]])


def test_coefficient_beyond_the_readers_bound_is_not_written(tmp_path):
    s = _coefficient_scheme(2**70)
    assert fastmm.verify(s).ok
    _refused_and_untouched(s, tmp_path, r"^cannot write ⟨1,1,1;2⟩: Wa\[0\]\[0\] = 1180591620717411303424 "
                                        r"is beyond the bound of scheme files \(numerator and denominator "
                                        r"below 2\^62\)$")


def test_int64_coefficient_of_2_to_the_62_is_not_written_but_one_less_is(tmp_path):
    _refused_and_untouched(_coefficient_scheme(2**62), tmp_path, r"Wa\[0\]\[0\] = 4611686018427387904 ")
    s = _coefficient_scheme(2**62 - 1)
    fastmm.save(s, tmp_path / "edge.json")
    assert fastmm.load(tmp_path / "edge.json") == s


def test_fraction_with_a_big_denominator_is_not_written(tmp_path):
    s = _coefficient_scheme(Fraction(1, 2**62))
    assert s.ring == "Q"
    _refused_and_untouched(s, tmp_path, r"Wa\[0\]\[0\] = 1/4611686018427387904 is beyond the bound")


def test_dimension_beyond_the_readers_limit_is_not_written(tmp_path):
    _refused_and_untouched(naive_scheme(65, 1, 1), tmp_path,
                           r"^cannot write ⟨65,1,1;65⟩: n = 65 exceeds the limit of 64 of scheme files$")
    fastmm.save(naive_scheme(1, 1, 64), tmp_path / "p64.json")
    assert fastmm.load(tmp_path / "p64.json") == naive_scheme(1, 1, 64)


def test_every_writer_of_scheme_text_applies_the_readers_limits():
    with pytest.raises(InputError, match="p = 65 exceeds"):
        dumps(naive_scheme(1, 1, 65))


@pytest.mark.parametrize("value, message", [
    (float("nan"), r"provenance\['x'\] is nan, not a finite number"),
    (float("-inf"), r"provenance\['x'\] is -inf, not a finite number"),
    (10**40, r"provenance\['x'\] is an integer of more than 40 digits"),
    ([1, {"y": {1, 2}}], r"provenance\['x'\]\[1\]\['y'\] is of type set, which a JSON file cannot hold"),
    (object(), r"provenance\['x'\] is of type object, which a JSON file cannot hold"),
    ({3: "three"}, r"provenance\['x'\] has the key 3 of type int; JSON keys are strings"),
])
def test_provenance_json_cannot_hold_is_not_written(tmp_path, value, message):
    s = strassen().with_meta(provenance={"x": value})
    _refused_and_untouched(s, tmp_path, "^cannot write ⟨2,2,2;7⟩: " + message + "$")


def test_provenance_integers_of_40_digits_are_written_and_read_back(tmp_path):
    s = strassen().with_meta(provenance={"x": -(10**40 - 1)})
    fastmm.save(s, tmp_path / "s.json")
    assert fastmm.load(tmp_path / "s.json").provenance == {"x": -(10**40 - 1)}


def _nested(levels):
    value = 0
    for _ in range(levels):
        value = [value]
    return value


def test_provenance_nested_to_the_readers_depth_is_written_and_one_more_level_is_not(tmp_path):
    deepest = MAX_JSON_DEPTH - 2  # the file's object and provenance are the first two levels
    s = strassen().with_meta(provenance={"x": _nested(deepest)})
    fastmm.save(s, tmp_path / "s.json")
    assert fastmm.load(tmp_path / "s.json").provenance == s.provenance
    (tmp_path / "s.json").unlink()
    _refused_and_untouched(strassen().with_meta(provenance={"x": _nested(deepest + 1)}), tmp_path,
                           f"is nested more than {MAX_JSON_DEPTH} levels deep$")


# -- the record of a failing verdict ---------------------------------------------------------


def test_record_of_a_failing_verdict():
    s = strassen()
    rec = fastmm.verify(s.with_meta(Wa=s.Wa * 2), sympy=False).record()
    assert {k: rec[k] for k in ("ok", "ring", "brent", "sympy")} == {
        "ok": False, "ring": "", "brent": "exact Brent equations", "sympy": "skipped"}
    assert rec["problems"] == [
        "declares ring ZT but its coefficients need Z",
        "C11: a11*b11 has coefficient 2, expected 1",
        "C11: a12*b21 has coefficient 2, expected 1",
        "C12: a11*b12 has coefficient 2, expected 1",
        "C12: a12*b22 has coefficient 2, expected 1",
        "C21: a21*b11 has coefficient 2, expected 1",
        "... and 3 more wrong coefficients",
    ]


def test_record_of_a_failing_verdict_says_the_sympy_proof_failed():
    s = strassen()
    wc = np.array(s.Wc)
    wc[1, 2] = 0
    rec = fastmm.verify(s.with_meta(Wc=wc)).record()
    assert rec["sympy"] == "failed: 2 wrong coefficient(s)"
    assert rec["problems"] == ["C12: missing a11*b12", "C12: extra a11*b22"]


def test_record_of_a_failing_z2_verdict_names_the_check_modulo_2():
    s = strassen()
    wc = np.array(s.Wc)
    wc[1, 2] = 0
    rec = fastmm.verify(s.with_meta(Wc=wc, ring="Z2"), sympy=False).record()
    assert (rec["ok"], rec["ring"], rec["brent"]) == (False, "", "Brent equations modulo 2")


def test_a_scheme_pickled_by_the_dataclass_version_still_loads_checked_and_read_only():
    """Before Scheme was immutable it was a dataclass: its pickles restore an attribute dict."""
    import fastmm.scheme as fs

    s = fastmm.strassen()

    class Scheme:  # the old layout: a plain instance __dict__
        pass

    old = Scheme()
    old.__dict__.update({k: (np.array(getattr(s, k)) if k.startswith("W") else getattr(s, k))
                         for k in ("n", "m", "p", "Wa", "Wb", "Wc", "ring", "provenance", "verified")})
    Scheme.__module__, Scheme.__qualname__ = "fastmm.scheme", "Scheme"
    real, fs.Scheme = fs.Scheme, Scheme
    try:
        data = pickle.dumps(old, protocol=4)
    finally:
        fs.Scheme = real
    back = pickle.loads(data)
    assert isinstance(back, real) and back == s and back.provenance == s.provenance
    with pytest.raises(ValueError):
        back.Wa[0, 0] = 5
    old.__dict__["Wa"] = np.ones((7, 3), dtype=np.int64)  # inconsistent: refused, not loaded
    fs.Scheme = Scheme
    try:
        bad = pickle.dumps(old, protocol=4)
    finally:
        fs.Scheme = real
    with pytest.raises(SchemeError):
        pickle.loads(bad)


# -- a file's own "verified" record is a claim, not a check ----------------------------------------


def test_load_drops_the_files_verified_claim_and_load_verified_records_its_own_check(tmp_path):
    import json

    path = tmp_path / "s.json"
    fastmm.save(strassen(), path)
    data = json.loads(path.read_text())
    data["Wa"][0][0] += 1  # tampered: no longer a scheme, yet its record still says ok
    data["verified"]["at"] = "1999-01-01T00:00:00Z"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert fastmm.load(bad).verified is None
    assert not fastmm.verify(fastmm.load(bad), sympy=False)
    good = json.loads(path.read_text())
    good["verified"]["at"] = "1999-01-01T00:00:00Z"
    path.write_text(json.dumps(good))
    checked = fastmm.load_verified(path)
    assert checked.verified["ok"] is True and checked.verified["at"] != "1999-01-01T00:00:00Z"
