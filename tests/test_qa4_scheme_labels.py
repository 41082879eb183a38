"""Ring labels say what was verified; a scheme's record, arrays and metadata stay its own (QA round 4).

A "Z2" label means "valid modulo 2 only": it is refused on a file exact over the integers and
not taken from a foreign file whose coefficients are exact as written; `fastmm show` names the
ring the scheme verified in; error locations index the JSON as it is (0-based); `with_meta`
drops a "verified" record that no longer describes the scheme.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.errors import SchemeError, SchemeFormatError
from fastmm.export.formats import export_foreign, import_scheme
from fastmm.io import dumps, load_scheme, loads, save_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import verified_copy
from tests.hostile.contract import assert_clean, run_cli


def _relabelled(scheme: Scheme, ring: str) -> dict:
    """The scheme's file with only its "ring" field edited by hand."""
    data = json.loads(dumps(verified_copy(scheme, use_sympy=False)))
    data["ring"] = ring
    return data


def _file(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# -- 1. a Z2 label on a 0/1 scheme exact over the integers -------------------------------------


def test_a_z2_label_on_the_naive_scheme_is_refused_naming_its_true_ring(tmp_path):
    path = _file(tmp_path, "naive-z2.json", _relabelled(naive_scheme(2, 2, 2), "Z2"))
    with pytest.raises(SchemeFormatError, match='ring "Z2" claims validity modulo 2 only, but the scheme '
                                                'as written is exact over ZT: label it "ZT"$'):
        load_scheme(path)
    r = run_cli("verify", path)
    assert_clean(r, allowed=(2,))
    assert 'label it "ZT"' in r.err and "valid modulo 2 only" not in r.out


def test_a_z2_file_valid_modulo_2_only_still_loads(tmp_path):
    data = _relabelled(strassen(), "Z2")  # Strassen without its signs: valid modulo 2 only
    data["Wa"] = [[abs(x) for x in row] for row in data["Wa"]]
    data["Wc"] = [[abs(x) for x in row] for row in data["Wc"]]
    s = load_scheme(_file(tmp_path, "strassen-z2.json", data))
    assert s.ring == "Z2" and fastmm.verify(s, sympy=False).ok


def _naive_with_one_sign(scheme_dict: dict) -> dict:
    """A Z2-labelled naive ⟨2,2,2⟩ file with one sign: inexact as written, exact once reduced."""
    scheme_dict["Wa"][0][0] = -1
    return scheme_dict


def test_a_z2_label_whose_reduction_is_exact_over_zt_is_refused(tmp_path):
    # the label keeps the 0/1 reduction, which is exact over ZT: "modulo 2 only" is untrue of it
    # (verify said "valid modulo 2 only" while export and save wrote it as ZT; QA-96)
    path = _file(tmp_path, "signed-z2.json", _naive_with_one_sign(_relabelled(naive_scheme(2, 2, 2), "Z2")))
    with pytest.raises(SchemeFormatError, match=r'reduced modulo 2 .* is exact over ZT: label it "ZT" '
                                                r"with those 0/1 coefficients$"):
        load_scheme(path)
    for command in (("verify", path), ("show", path), ("export", path, "--to", "numpy")):
        r = run_cli(*command)
        assert_clean(r, allowed=(2,))
        assert "valid modulo 2 only" not in r.out


def test_a_signed_perminov_z2_file_whose_reduction_is_exact_is_imported_as_that_reduction(tmp_path):
    data = json.loads(export_foreign(naive_scheme(2, 2, 2), "perminov"))
    data["z2"] = True
    data["u"][0][0] = -1
    s = import_scheme(_file(tmp_path, "p.json", data), "perminov")
    assert s.ring == "ZT" and s == naive_scheme(2, 2, 2) and s.Wa.min() == 0
    assert "reduced modulo 2" in s.provenance["note"]
    assert fastmm.verify(s, sympy=False).ring == "ZT"


def test_a_z2_labelled_scheme_exact_over_the_integers_is_written_with_its_true_ring(tmp_path):
    """fastmm never writes a file it then refuses: the label in the file is the true one."""
    z2 = naive_scheme(2, 2, 2).with_meta(ring="Z2")
    save_scheme(verified_copy(z2, use_sympy=False), tmp_path / "n.json")
    back = load_scheme(tmp_path / "n.json")
    assert back.ring == "ZT" and back.verified["ring"] == "ZT" and back.verified["ok"] is True


def test_a_z2_search_still_writes_a_file_that_loads(tmp_path):
    out = tmp_path / "z2.json"
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--ring", "Z2", "--seed", "1", "--no-sympy",
                "-q", "--out", out)
    assert r.rc == 0, r.err
    s = load_scheme(out)
    assert s.ring == "Z2" and s.rank == 7 and fastmm.verify(s, sympy=False).ok


# -- 2. foreign files that claim modulo 2 only -------------------------------------------------


def _perminov_z2(tmp_path: Path, scheme: Scheme, name: str) -> Path:
    data = json.loads(export_foreign(scheme, "perminov"))
    data["z2"] = True
    return _file(tmp_path, name, data)


def test_a_signed_perminov_z2_file_exact_over_zt_keeps_its_signs(tmp_path, capsys):
    s = import_scheme(_perminov_z2(tmp_path, laderman(), "laderman.json"), "perminov")
    assert s.ring == "ZT" and s == laderman() and s.Wa.min() == -1
    assert 'claims validity modulo 2 only' in s.provenance["note"]
    assert capsys.readouterr().err == ""  # the library prints nothing; `fastmm import` says it once


def test_a_zero_one_perminov_z2_file_exact_over_z_is_relabelled(tmp_path):
    s = import_scheme(_perminov_z2(tmp_path, naive_scheme(2, 2, 3), "naive.json"), "perminov")
    assert s.ring == "ZT" and s == naive_scheme(2, 2, 3)


def test_a_perminov_z2_file_not_exact_as_written_is_taken_modulo_2(tmp_path):
    data = json.loads(export_foreign(strassen(), "perminov"))
    data["z2"] = True
    data["u"][0] = [-x for x in data["u"][0]]
    data["u"][1] = [-x for x in data["u"][1]]  # the same modulo 2; over Z, M1 and M2 change sign
    s = import_scheme(_file(tmp_path, "p.json", data), "perminov")
    assert s.ring == "Z2" and s.Wa.min() == 0 and "note" not in s.provenance


@pytest.mark.parametrize("fmt,suffix", [("fast-matmul", ".txt"), ("alphatensor", ".npz")])
def test_the_z2_option_on_a_scheme_exact_as_written_keeps_it(tmp_path, fmt, suffix):
    path = tmp_path / f"strassen{suffix}"
    payload = export_foreign(strassen(), fmt)
    path.write_bytes(payload) if isinstance(payload, bytes) else path.write_text(payload)
    out = tmp_path / "out.json"
    r = run_cli("import", path, "--from", fmt, "--z2", "-o", out)
    assert_clean(r, allowed=(0,))
    assert r.err.startswith(f"note: {path}: imported over ZT, not as Z2: the z2 option (--z2)")
    back = load_scheme(out)
    assert back.ring == "ZT" and back == strassen() and "--z2" in back.provenance["note"]


# -- 3. show names the ring it verified in -----------------------------------------------------


def test_show_names_the_verified_ring_and_the_wider_label(tmp_path):
    path = _file(tmp_path, "strassen-q.json", _relabelled(strassen(), "Q"))
    r = run_cli("show", path)
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert "ring: ZT (ternary integers {-1, 0, 1}; the file says Q)" in lines
    assert "ring: Q" not in r.out
    assert run_cli("verify", "--no-sympy", path).out.startswith(f"{path}: ⟨2,2,2;7⟩ valid over ZT")


def test_show_compares_with_the_catalogue_over_the_verified_ring(tmp_path, monkeypatch):
    (tmp_path / "empty-catalogue").mkdir()  # a missing one is refused (exit 2), as by every command
    monkeypatch.setenv("FASTMM_CATALOG", str(tmp_path / "empty-catalogue"))
    path = _file(tmp_path, "strassen-q.json", _relabelled(strassen(), "Q"))
    r = run_cli("show", path)
    assert "equivalence: no catalogued ⟨2,2,2;7⟩ scheme over ZT to compare with" in r.out.splitlines()


# -- 4. the site lists a scheme under the ring it verified in ------------------------------------


def test_the_site_lists_a_q_labelled_ternary_scheme_under_zt_with_its_own_check(tmp_path):
    from fastmm.site.sources import collect_schemes

    (tmp_path / "catalogue").mkdir()
    data = _relabelled(strassen(), "Q")
    items, _ = collect_schemes(tmp_path / "catalogue", [_file(tmp_path, "strassen-q.json", data)])
    assert [item.scheme.ring for item in items] == ["ZT"]
    # the record of the site's own check (the file's is a claim): in the ring it is listed under
    assert items[0].scheme.verified["ring"] == "ZT" and items[0].scheme.verified["ok"] is True


# -- 5. error locations are 0-based, as the JSON is indexed -------------------------------------


def test_a_bad_coefficient_is_located_as_the_json_indexes_it(tmp_path):
    data = json.loads(dumps(strassen()))
    data["Wa"][2][3] = "x"
    with pytest.raises(SchemeFormatError, match=r"Wa\[2\]\[3\]: coefficient 'x' is not an integer"):
        loads(json.dumps(data))
    data = json.loads(dumps(strassen()))
    data["Wb"][4] = data["Wb"][4][:3]
    with pytest.raises(SchemeFormatError, match=r"Wb\[4\] has 3 entries, expected 4"):
        loads(json.dumps(data))


def test_a_bad_perminov_coefficient_is_located_0_based(tmp_path):
    data = json.loads(export_foreign(strassen(), "perminov"))
    data["w"][5][3] = "x"
    with pytest.raises(SchemeFormatError, match=r"w\[5\]\[3\]: coefficient 'x'"):
        import_scheme(_file(tmp_path, "p.json", data), "perminov")


# -- 6. with_meta keeps "verified" only while it describes the scheme --------------------------


def test_with_meta_drops_the_record_when_the_coefficients_change():
    s = verified_copy(strassen(), use_sympy=False)
    assert s.verified["ok"] is True
    assert s.with_meta(Wc=np.zeros_like(s.Wc)).verified is None
    assert s.with_meta(ring="Z2").verified is None
    assert s.with_meta(ring="Q").verified is None


def test_with_meta_keeps_the_record_for_provenance_and_the_same_ring():
    s = verified_copy(strassen(), use_sympy=False)
    assert s.with_meta(provenance={"seed": 1}).verified == s.verified
    assert s.with_meta(ring="ZT").verified == s.verified
    assert s.with_meta(Wa=np.array(s.Wa)).verified == s.verified  # the same values
    assert s.with_meta(verified={"ok": False}).verified == {"ok": False}


def test_catalog_scheme_over_z2_carries_a_z2_record():
    s = fastmm.catalog_scheme((3, 3, 3), "Z2")
    assert s.ring == "Z2"
    assert s.verified["ring"] == "Z2" and s.verified["brent"] == "Brent equations modulo 2"


# -- 7. the arrays cannot be made writable again -----------------------------------------------


@pytest.mark.parametrize("make", [strassen, lambda: Scheme(1, 1, 1, [["1/2"]], [[2]], [[1]])],
                         ids=["int64", "fractions"])
def test_setflags_cannot_make_a_schemes_array_writable(make):
    s = make()
    for name in ("Wa", "Wb", "Wc"):
        with pytest.raises(ValueError, match="WRITEABLE"):
            getattr(s, name).setflags(write=True)
    assert fastmm.verify(s, sympy=False).ok


def test_the_base_of_an_integer_array_cannot_be_made_writable_either():
    s = strassen()
    with pytest.raises(ValueError):
        np.asarray(s.Wa.base).setflags(write=True)


@pytest.mark.parametrize("clone", [lambda s: pickle.loads(pickle.dumps(s)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_a_copied_scheme_stays_equal_and_read_only(clone):
    s = clone(strassen())
    assert s == strassen()
    with pytest.raises(ValueError, match="WRITEABLE"):
        s.Wc.setflags(write=True)


# -- 8. ring case, self-referencing provenance, kron of a non-scheme ---------------------------


def test_a_ring_label_in_any_case_is_stored_upper_case():
    s = strassen()
    assert Scheme(2, 2, 2, s.Wa, s.Wb, s.Wc, ring="zt").ring == "ZT"
    assert s.with_meta(ring="z2").ring == "Z2"
    with pytest.raises(SchemeError, match="unknown ring 'r'"):
        Scheme(2, 2, 2, s.Wa, s.Wb, s.Wc, ring="r")


def test_a_self_referencing_provenance_is_refused_with_one_line():
    loop: dict = {"method": "hand"}
    loop["self"] = loop
    with pytest.raises(SchemeError, match="provenance contains itself"):
        strassen().with_meta(provenance=loop)
    shared = {"x": 1}  # the same dict twice is not a cycle
    assert strassen().with_meta(provenance={"a": shared, "b": [shared]}).provenance["b"] == [{"x": 1}]


def test_kron_and_direct_sum_name_a_wrong_operand():
    with pytest.raises(SchemeError, match="kron needs another fastmm Scheme, got int"):
        strassen().kron(3)
    with pytest.raises(SchemeError, match="direct_sum needs another fastmm Scheme, got str"):
        strassen().direct_sum("strassen")


# -- messages about foreign files ---------------------------------------------------------------


def test_an_npz_missing_a_factor_says_which(tmp_path):
    path = tmp_path / "uv.npz"
    np.savez(path, u=np.zeros((4, 7), int), v=np.zeros((4, 7), int))
    with pytest.raises(SchemeFormatError, match=r"holds the factor arrays u, v but not w"):
        import_scheme(path, "alphatensor")


def test_a_json_boolean_dimension_is_named_as_json_spells_it(tmp_path):
    data = json.loads(export_foreign(strassen(), "perminov"))
    data["n"] = [2, 2, True]
    with pytest.raises(SchemeFormatError, match=r"dimension true is not an integer"):
        import_scheme(_file(tmp_path, "p.json", data), "perminov")
