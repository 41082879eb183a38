"""AlphaTensor, Perminov and fast-matmul formats: conventions, round trips, refusals."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fastmm.cli import main
from fastmm.errors import InputError, SchemeFormatError, VerificationError
from fastmm.export.formats import (
    PICKLE_REFUSAL,
    alphatensor_arrays,
    export_foreign,
    fast_matmul_scheme,
    fast_matmul_text,
    import_scheme,
    perminov_text,
)
from fastmm.io import load_scheme, save_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import verify
from tests.export.schemes import dead_product_schemes, mixed_234, rational_strassen, winograd


def _dyadic() -> Scheme:
    """Strassen with product 1 scaled by 4 on the left and 1/4 in C (ring Q, float-exact)."""
    s = strassen()
    wa = s.Wa.astype(object)
    wc = s.Wc.astype(object)
    wa[0] = wa[0] * 4
    wc[:, 0] = np.array([Fraction(int(x), 4) for x in wc[:, 0]], dtype=object)
    return Scheme(2, 2, 2, wa, s.Wb, wc)


def _z2() -> Scheme:
    s = strassen()
    return Scheme(2, 2, 2, s.Wa, s.Wb, s.Wc, ring="Z2")


ROUND_TRIP = {
    "strassen": strassen,
    "laderman": laderman,
    "winograd": winograd,
    "mixed_234": mixed_234,
    "dyadic": _dyadic,
    "kron_rect": lambda: strassen().kron(naive_scheme(1, 2, 3)),
    "dead_zero_left": lambda: dead_product_schemes()["zero_left"],
    "dead_unused": lambda: dead_product_schemes()["rect_unused"],
}
SUFFIX = {"alphatensor": ".npz", "perminov": ".json", "fast-matmul": ".txt"}


def _write(tmp_path: Path, scheme: Scheme, fmt: str) -> Path:
    payload = export_foreign(scheme, fmt)
    f = tmp_path / f"scheme{SUFFIX[fmt]}"
    if isinstance(payload, bytes):
        f.write_bytes(payload)
    else:
        f.write_text(payload)
    return f


@pytest.mark.parametrize("fmt", sorted(SUFFIX))
@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_round_trip_is_identical(tmp_path: Path, fmt: str, name: str) -> None:
    s = ROUND_TRIP[name]()
    back = import_scheme(_write(tmp_path, s, fmt), fmt)
    assert back == s
    assert back.verified["ok"] is True and back.provenance["from"] == fmt


def test_z2_round_trip_through_perminov(tmp_path: Path) -> None:
    f = _write(tmp_path, _z2(), "perminov")
    assert json.loads(f.read_text())["z2"] is True
    back = import_scheme(f, "perminov")
    assert back == _z2() and back.ring == "Z2"


# -- conventions on hand-made files -------------------------------------------------------


def test_z2_scheme_is_refused_by_the_formats_without_a_modulo_2_marker() -> None:
    """AlphaTensor and fast-matmul files have no way to say "modulo 2 only": refused (exit 2),
    never written as factors that read back as a wrong algorithm over the reals."""
    for fmt in ("alphatensor", "fast-matmul"):
        with pytest.raises(InputError, match="valid modulo 2 only") as info:
            export_foreign(_z2(), fmt)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="use --to perminov"):
        alphatensor_arrays(_z2())


def test_alphatensor_convention_third_factor_is_c_transposed(tmp_path: Path) -> None:
    n, m, p = 2, 3, 4
    s = mixed_234()
    arr = alphatensor_arrays(s)
    t = np.einsum("ir,jr,kr->ijk", arr["u"], arr["v"], arr["w"])
    want = np.zeros((n * m, m * p, p * n), dtype=np.int64)
    for i in range(n):
        for j in range(m):
            for k in range(p):
                want[i * m + j, j * p + k, k * n + i] = 1
    assert np.array_equal(t, want)
    np.savez(tmp_path / "plain.npz", u=arr["u"], v=arr["v"], w=arr["w"])  # no shape: inferred
    assert import_scheme(tmp_path / "plain.npz", "alphatensor") == s


def test_perminov_hand_written_file(tmp_path: Path) -> None:
    # Strassen, written out by hand with w indexed by Cᵀ: (c11, c21, c12, c22)
    data = {
        "n": [2, 2, 2], "m": 7, "z2": False,
        "u": [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0],
              [-1, 0, 1, 0], [0, 1, 0, -1]],
        "v": [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, 0, 0, 1],
              [1, 1, 0, 0], [0, 0, 1, 1]],
        "w": [[1, 0, 0, 1], [0, 1, 0, -1], [0, 0, 1, 1], [1, 1, 0, 0], [-1, 0, 1, 0],
              [0, 0, 0, 1], [1, 0, 0, 0]],
    }
    f = tmp_path / "p.json"
    f.write_text(json.dumps(data))
    assert import_scheme(f, "perminov") == strassen()
    data2 = {"dimension": [2, 2, 2], **{k: data[k] for k in "uvw"}}
    f.write_text(json.dumps(data2))
    assert import_scheme(f, "perminov") == strassen()
    # read with C row-major instead, the same file is wrong: the convention matters
    data3 = dict(data, w=[[row[0], row[2], row[1], row[3]] for row in data["w"]])
    f.write_text(json.dumps(data3))
    with pytest.raises(VerificationError, match="C12"):
        import_scheme(f, "perminov")


def test_perminov_rank_mismatch_is_refused(tmp_path: Path) -> None:
    text = perminov_text(strassen()).replace('"m": 7', '"m": 8')
    f = tmp_path / "p.json"
    f.write_text(text)
    with pytest.raises(SchemeFormatError, match="rank 8 but u has 7 rows"):
        import_scheme(f, "perminov")


@pytest.mark.parametrize("rank, shown", [('"7"', '"7"'), ("7.0", "7.0"), ("null", "null"), ("true", "true")])
def test_perminov_rank_that_is_not_an_integer_says_so(tmp_path: Path, rank, shown) -> None:
    """It said '"m" says rank "7" but u has 7 rows' (and took 7.0 and null)."""
    f = tmp_path / "p.json"
    f.write_text(perminov_text(strassen()).replace('"m": 7', f'"m": {rank}'))
    message = f'p\\.json: "m" \\(the rank\\) must be an integer, got {shown}'
    with pytest.raises(SchemeFormatError, match=message):
        import_scheme(f, "perminov")


@pytest.mark.parametrize("key, cut, message", [
    ("multiplications", 1, '"multiplications" lists 6 formulas but u, v, w give 7'),
    ("elements", 1, '"elements" lists 3 formulas but u, v, w give 4'),
    ("elements", None, '"elements" must be a list of formulas'),
])
def test_perminov_text_fields_that_contradict_the_data_are_refused(tmp_path: Path, key, cut,
                                                                     message) -> None:
    data = json.loads(perminov_text(strassen()))
    data[key] = data[key][:-cut] if cut else [1, 2, 3, 4]
    f = tmp_path / "p.json"
    f.write_text(json.dumps(data))
    with pytest.raises(SchemeFormatError, match=re.escape(message)):
        import_scheme(f, "perminov")
    del data[key]  # the formulas are optional: u, v, w are the data
    f.write_text(json.dumps(data))
    assert import_scheme(f, "perminov") == strassen()


def test_fast_matmul_hand_written_file(tmp_path: Path) -> None:
    # Strassen: U rows A11 A12 A21 A22, V rows B.., W rows C11 C12 C21 C22 (row-major)
    text = """# strassen, written by hand
1 0 1 0 1 -1 0
0 0 0 0 1 0 1
0 1 0 0 0 1 0
1 1 0 1 0 0 -1
#
1 1 0 -1 0 1 0
0 0 1 0 0 1 0
0 0 0 1 0 0 1
1 0 -1 0 1 0 1
#
1 0 0 1 -1 0 1
0 0 1 0 1 0 0
0 1 0 1 0 0 0
1 -1 1 0 0 1 0
"""
    f = tmp_path / "strassen"
    f.write_text(text)
    assert import_scheme(f, "fast-matmul") == strassen()


def test_fast_matmul_writes_exact_decimals(tmp_path: Path) -> None:
    text = fast_matmul_text(_dyadic())
    assert "0.25" in text and "/" not in text
    # fast-matmul's parser (codegen/gen.py) reads floats and 'Ni' = 1/N, never p/q
    text = fast_matmul_text(rational_strassen())
    assert "/" not in text and "3i" in text.split()
    f = _write(tmp_path, rational_strassen(), "fast-matmul")
    assert import_scheme(f, "fast-matmul") == rational_strassen()


def test_fast_matmul_refuses_a_coefficient_it_cannot_write() -> None:
    """2/3 is neither a decimal nor 1/N: one line naming the scheme."""
    s = rational_strassen()  # B-factor of product 3 holds thirds, its C column a 3
    wb = s.Wb.astype(object)
    wb[2] = wb[2] * 2
    wc = s.Wc.astype(object)
    wc[:, 2] = np.array([Fraction(x, 2) for x in wc[:, 2]], dtype=object)
    twothirds = Scheme(2, 2, 2, s.Wa, wb, wc)
    assert verify(twothirds).ok
    with pytest.raises(InputError, match=r"^⟨2,2,2;7⟩: coefficient -?2/3 cannot be written in the "
                                         r"fast-matmul format"):
        fast_matmul_text(twothirds)


def _first_coefficient_replaced(token: str) -> str:
    lines = fast_matmul_text(strassen()).splitlines()
    row = lines[1].split()
    lines[1] = " ".join([token, *row[1:]])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("token, value", [("3i", Fraction(1, 3)), ("-3i", Fraction(-1, 3)),
                                          ("2i2", Fraction(1, 4)), ("-2i2", Fraction(-1, 4)),
                                          ("0.5i", 2), ("-0.125", Fraction(-1, 8))])
def test_fast_matmul_reads_its_inverse_and_power_forms(token, value) -> None:
    """'Ni' (1/N) and a trailing power digit, as fast-matmul's own parse_coeff reads them."""
    assert fast_matmul_scheme(_first_coefficient_replaced(token), "fm").Wa[0, 0] == value


@pytest.mark.parametrize("token", ["x", "-x", "i", "0i", "2x2"])
def test_fast_matmul_parameters_and_zero_inverses_are_refused(token) -> None:
    with pytest.raises(SchemeFormatError, match="is not a number|divides by zero|is a parameter"):
        fast_matmul_scheme(_first_coefficient_replaced(token), "fm")


def test_fast_matmul_rejects_non_numbers(tmp_path: Path) -> None:
    f = tmp_path / "bad"
    f.write_text(fast_matmul_text(strassen()).replace("-1", "__import__('os')", 1))
    with pytest.raises(SchemeFormatError, match="is not a number"):
        import_scheme(f, "fast-matmul")


# -- AlphaTensor pickle handling ------------------------------------------------------------


def _published_style_npz(path: Path) -> None:
    """Like factorizations_r.npz: key 'n,m,p' -> object array [u, v, w] of different shapes."""
    s = mixed_234()
    arr = alphatensor_arrays(s)
    triple = np.empty(3, dtype=object)
    triple[:] = [arr["u"], arr["v"], arr["w"]]
    sq = alphatensor_arrays(strassen())
    np.savez(path, **{"2,3,4": triple, "2,2,2": np.stack([sq["u"], sq["v"], sq["w"]])})


def test_pickle_is_refused_without_flag(tmp_path: Path) -> None:
    f = tmp_path / "factorizations_r.npz"
    _published_style_npz(f)
    with pytest.raises(InputError, match="--allow-pickle"):
        import_scheme(f, "alphatensor", key="2,3,4")
    # a numeric entry of the same file needs no pickle
    assert import_scheme(f, "alphatensor", key="2,2,2") == strassen()


@pytest.mark.parametrize("key", [None, "2x2"])
def test_a_bad_key_names_the_file(tmp_path: Path, key) -> None:
    sq = alphatensor_arrays(strassen())
    f = tmp_path / "one.npz"
    np.savez(f, factorizations=np.stack([sq["u"], sq["v"], sq["w"]]))
    with pytest.raises(InputError, match=r"one\.npz: key '(factorizations|2x2)' is not of the form N,M,P"):
        import_scheme(f, "alphatensor", key=key)


def test_a_key_that_contradicts_a_uvw_npz_is_refused_not_ignored(tmp_path: Path) -> None:
    f = tmp_path / "uvw.npz"
    np.savez(f, **alphatensor_arrays(mixed_234()))
    assert import_scheme(f, "alphatensor", key="2,3,4") == mixed_234()
    with pytest.raises(InputError, match=r"uvw\.npz: holds one factorization .* of ⟨2,3,4⟩; --key 3,3,3"):
        import_scheme(f, "alphatensor", key="3,3,3")
    with pytest.raises(InputError, match="is not of the form N,M,P"):
        import_scheme(f, "alphatensor", key="2x")


@pytest.mark.parametrize("first", ["2,2,2", "2x2x2"])
def test_a_key_picks_the_member_named_so_and_refuses_one_that_names_two(tmp_path: Path, first) -> None:
    # two members whose names give the same shape: the one named exactly is read, in either order
    sq = alphatensor_arrays(strassen())
    good, bad = np.stack([sq["u"], sq["v"], sq["w"]]), np.zeros((3, 4, 7), dtype=np.int64)
    second = "2x2x2" if first == "2,2,2" else "2,2,2"
    f = tmp_path / "two.npz"
    np.savez(f, **{first: bad, second: good})
    assert import_scheme(f, "alphatensor", key=second) == strassen()
    with pytest.raises(VerificationError):
        import_scheme(f, "alphatensor", key=first)
    with pytest.raises(InputError, match=r"two\.npz: 2 factorizations are of the shape '2, 2, 2' .*exactly"):
        import_scheme(f, "alphatensor", key="2, 2, 2")


def test_pickle_allowed_with_flag(tmp_path: Path) -> None:
    f = tmp_path / "factorizations_r.npz"
    _published_style_npz(f)
    assert import_scheme(f, "alphatensor", key="2,3,4", allow_pickle=True) == mixed_234()
    with pytest.raises(InputError, match="choose one with --key"):
        import_scheme(f, "alphatensor", allow_pickle=True)


def test_pickle_refusal_on_the_command_line(tmp_path: Path, capsys) -> None:
    f = tmp_path / "factorizations_r.npz"
    _published_style_npz(f)
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exc:
        main(["import", str(f), "--from", "alphatensor", "--key", "2,3,4", "-o", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and PICKLE_REFUSAL in err
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["import", str(f), "--from", "alphatensor", "--key", "2,3,4", "--allow-pickle",
              "-o", str(out)])
    assert exc.value.code == 0
    assert load_scheme(out) == mixed_234()


def test_exported_npz_needs_no_pickle(tmp_path: Path) -> None:
    f = _write(tmp_path, laderman(), "alphatensor")
    with np.load(f, allow_pickle=False) as data:
        assert sorted(data.files) == ["shape", "u", "v", "w"]
        assert all(data[k].dtype != object for k in data.files)


def test_npy_triple(tmp_path: Path) -> None:
    arr = alphatensor_arrays(strassen())
    np.save(tmp_path / "s.npy", np.stack([arr["u"], arr["v"], arr["w"]]))
    assert import_scheme(tmp_path / "s.npy", "alphatensor") == strassen()
    # a key must name the one factorization an npy holds (it was ignored: any key was accepted)
    assert import_scheme(tmp_path / "s.npy", "alphatensor", key="2,2,2") == strassen()
    with pytest.raises(InputError, match=r"s\.npy: holds one factorization \(\[u, v, w\]\), of ⟨2,2,2⟩; "
                                         r"--key 3,3,3 names another shape"):
        import_scheme(tmp_path / "s.npy", "alphatensor", key="3,3,3")
    with pytest.raises(InputError, match=r"s\.npy: key 'abc' is not of the form N,M,P"):
        import_scheme(tmp_path / "s.npy", "alphatensor", key="abc")


def test_alphatensor_factors_without_products_are_bad_input(tmp_path: Path) -> None:
    """Rank 0 is a format error (exit 2), as in the other formats, not a scheme failing verification."""
    f = tmp_path / "zero.npz"
    np.savez(f, u=np.zeros((4, 0), dtype=np.int64), v=np.zeros((4, 0), dtype=np.int64),
             w=np.zeros((4, 0), dtype=np.int64))
    with pytest.raises(SchemeFormatError, match=r"zero\.npz: the factors hold no products \(rank 0\)"):
        import_scheme(f, "alphatensor")


# -- verification on import -----------------------------------------------------------------


def test_import_refuses_wrong_scheme_and_writes_nothing(tmp_path: Path, capsys) -> None:
    text = fast_matmul_text(strassen()).splitlines()
    text[-1] = "1 -1 1 0 0 0 0"  # C22 loses M6
    f = tmp_path / "bad.txt"
    f.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exc:
        main(["import", str(f), "--from", "fast-matmul", "-o", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "C22: missing a21*b12" in err and "Traceback" not in err
    assert not out.exists()


def test_mod2_only_scheme_needs_z2_flag(tmp_path: Path, capsys) -> None:
    arr = alphatensor_arrays(strassen())
    f = tmp_path / "f2.npz"
    np.savez(f, u=arr["u"] % 2, v=arr["v"] % 2, w=arr["w"] % 2)
    with pytest.raises(VerificationError, match="--z2"):
        import_scheme(f, "alphatensor")
    s = import_scheme(f, "alphatensor", z2=True)
    assert s.ring == "Z2" and s == _z2()


def test_import_command_round_trip(tmp_path: Path, capsys) -> None:
    src = tmp_path / "s.json"
    save_scheme(laderman(), src)
    for fmt in ("perminov", "fast-matmul", "alphatensor"):
        exported = tmp_path / f"l{SUFFIX[fmt]}"
        back = tmp_path / f"back-{fmt}.json"
        with pytest.raises(SystemExit) as exc:
            main(["export", str(src), "--to", fmt, "-o", str(exported)])
        assert exc.value.code == 0
        with pytest.raises(SystemExit) as exc:
            main(["import", str(exported), "--from", fmt, "-o", str(back)])
        assert exc.value.code == 0
        assert load_scheme(back) == laderman()


@pytest.mark.parametrize("kw", [{"key": "5,5,5"}, {"allow_pickle": True}])
def test_the_library_refuses_alphatensor_options_for_other_formats(tmp_path: Path, kw) -> None:
    f = tmp_path / "p.json"
    f.write_text(export_foreign(strassen(), "perminov"))
    with pytest.raises(InputError, match="applies to --from alphatensor only"):
        import_scheme(f, "perminov", **kw)


def _eliminated_text(scheme: Scheme, sub_a: list[list[int]], sub_b: list[list[int]],
                     sub_c: list[list[int]] = ()) -> str:
    """fast-matmul's "eliminated" layout (codegen/subexpr_elim.py) of `scheme`, written here by
    the same rule: every product whose A (B) row contains a substitution row exactly, with one
    scale, uses the new variable instead of those entries; every entry of C that sums products
    as a C substitution row does (M_X = Σ_t sub[t]·M_t) uses M_X, a column of W past the rank."""
    def eliminate(rows: np.ndarray, subs: list[list[int]]) -> list[list[int]]:
        rows = rows.astype(int).copy()
        extra = []
        for sub in subs:
            sub = np.array(sub)
            on = sub != 0
            var = [0] * rows.shape[1]
            for r in range(rows.shape[1]):
                ratios = {Fraction(int(x), int(y)) for x, y in zip(rows[on, r], sub[on], strict=True)}
                if len(ratios) == 1 and 0 not in ratios:
                    (k,) = ratios
                    var[r] = int(k)
                    rows[on, r] = 0
            extra.append(var)
        return [list(row) for row in rows] + extra

    def block(rows) -> str:
        return "\n".join(" ".join(str(int(x)) for x in row) for row in rows)

    u = eliminate(scheme.Wa.T, sub_a)
    v = eliminate(scheme.Wb.T, sub_b)
    w = [list(row) for row in np.array(eliminate(scheme.Wc.T, sub_c)).T] if sub_c else scheme.Wc
    text = (f"# Eliminated version of a test scheme\n{block(u)}\n#\n{block(v)}\n#\n{block(w)}\n"
            f"# Substitution information\n{block(sub_a)}\n#\n{block(sub_b)}\n#\n")
    return text + f"{block(sub_c)}\n" if sub_c else text


def test_fast_matmul_eliminated_files_are_read_back_over_the_entries(tmp_path: Path) -> None:
    """Strassen's (A11 + A22) and (B11 + B22), and Laderman's A11 − A21 made new variables, as
    fast-matmul's codegen/algorithms/eliminated/* files write them: read back, they are the
    schemes themselves (a file of that directory, hk323-15-84, imports as ⟨3,2,3;15⟩ too)."""
    for scheme, sub_a, sub_b in ((strassen(), [[1, 0, 0, 1]], [[1, 0, 0, 1]]),
                                 (laderman(), [[1, 0, 0, -1, 0, 0, 0, 0, 0]], [[1, 0, 0, 0, 0, 0, 0, 0, 1]])):
        text = _eliminated_text(scheme, sub_a, sub_b)
        assert len(text.split("#")[1].split()) > scheme.n * scheme.m * scheme.rank  # U grew
        f = tmp_path / "eliminated"
        f.write_text(text)
        assert import_scheme(f, "fast-matmul") == scheme


def test_fast_matmul_substitution_blocks_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    text = _eliminated_text(strassen(), [[1, 0, 0, 1]], [[1, 0, 0, 1]])
    head, subs = text.split("# Substitution information\n")
    for bad, says in ((head + "# Substitution information\n1 0 0 1 0\n#\n1 0 0 1\n#\n",
                       "the substitution block for U does not fit it: U has 5 rows, the block 1 rows of 5"),
                      (head + "# Substitution information\n1 0 0 1\n1 1 0 0\n#\n1 0 0 1\n#\n",
                       "the substitution block for U does not fit it"),
                      (text + "1 1\n#\n1 1\n", "found 7 blocks")):
        f = tmp_path / "bad"
        f.write_text(bad)
        with pytest.raises(SchemeFormatError, match=re.escape(says)):
            import_scheme(f, "fast-matmul")
    wrong = head + "# Substitution information\n1 0 0 -1\n#\n1 0 0 1\n#\n"  # X = A11 − A22: not Strassen
    f = tmp_path / "wrong"
    f.write_text(wrong)
    with pytest.raises(VerificationError):
        import_scheme(f, "fast-matmul")


def test_fast_matmul_eliminated_files_with_shared_products_in_c(tmp_path: Path) -> None:
    """A third substitution block (grey332-15-90 and grey432-20-120 of fast-matmul's eliminated/
    have one) names sums of products that several entries of C share: W has a column for each
    past the rank, and they are written back over the products."""
    s = strassen()
    c11_c21 = [[0, 0, 0, 1, 0, 0, 0]]  # M_X1 = M4, which C11 and C21 both add
    text = _eliminated_text(s, [[1, 0, 0, 1]], [[1, 0, 0, 1]], c11_c21)
    w_rows = text.split("#")[3].strip().splitlines()
    assert all(len(row.split()) == 8 for row in w_rows)  # 7 products + M_X1
    assert sum(int(row.split()[3]) != 0 for row in w_rows) == 0  # M4 only through M_X1
    f = tmp_path / "eliminated-c"
    f.write_text(text)
    assert import_scheme(f, "fast-matmul") == s
    bad = text.rsplit("\n", 2)[0] + "\n0 0 0 1 0 0\n"  # a C block row one coefficient short
    f.write_text(bad)
    with pytest.raises(SchemeFormatError, match="does not fit"):
        import_scheme(f, "fast-matmul")


@pytest.mark.parametrize("token", ["x", "-x", "e2", "xi", "-x2i"])
def test_fast_matmul_parameters_of_approximate_algorithms_are_named(tmp_path: Path, token) -> None:
    text = fast_matmul_text(strassen()).replace("\n1 ", f"\n{token} ", 1)
    f = tmp_path / "approx"
    f.write_text(text)
    with pytest.raises(SchemeFormatError, match="is a parameter, as in fast-matmul's approximate"):
        import_scheme(f, "fast-matmul")


@pytest.mark.parametrize("keep", ["b", "c"])
def test_fast_matmul_empty_substitution_blocks_hold_their_place(tmp_path: Path, keep) -> None:
    """gen.py reads a block of blank lines between '#' lines as an empty block, so B's or C's
    substitutions alone come after blank placeholders (helper-70); they are not read as A's."""
    s = strassen()
    full = _eliminated_text(s, [], [[1, 0, 0, 1]] if keep == "b" else [],
                            [[0, 0, 0, 1, 0, 0, 0]] if keep == "c" else [])
    head, tail = full.split("# Substitution information\n")
    a_block, b_block, *rest = tail.split("#\n")
    assert a_block.strip() == "" and (b_block.strip() == "") == (keep == "c")
    f = tmp_path / f"{keep}-only"
    f.write_text(full)
    assert import_scheme(f, "fast-matmul") == s


def test_fast_matmul_text_of_endless_empty_blocks_is_refused_early():
    # 11 million "#" + blank-line blocks, under the 32 MiB file limit, took a gigabyte and 20 s
    from fastmm.export.formats import MAX_FM_BLOCKS

    with pytest.raises(SchemeFormatError, match=f"more than {MAX_FM_BLOCKS} blocks"):
        fast_matmul_scheme("#\n\n" * (MAX_FM_BLOCKS + 5), "x.fm")
    strassen_text = fast_matmul_text(strassen())
    assert fast_matmul_scheme("#\n\n" * 10 + strassen_text, "y.fm").rank == 7  # blank blocks before U
    # exactly the limit, the last block closed by a '#' line: taken (it was refused, one too early)
    text = strassen_text + "#\n\n" * (MAX_FM_BLOCKS - 3) + "#\n"  # U, V, W and 61 blank blocks
    assert fast_matmul_scheme(text, "z.fm").rank == 7
    with pytest.raises(SchemeFormatError, match="more than"):
        fast_matmul_scheme(text + "\n", "w.fm")  # a line in a 65th block


@pytest.mark.parametrize("fmt, suffix", [("perminov", "json"), ("fast-matmul", "txt"),
                                         ("alphatensor", "npz")])
def test_export_refuses_coefficients_its_reader_refuses(tmp_path: Path, fmt: str, suffix: str) -> None:
    import fastmm

    def scaled(k: int | Fraction) -> Scheme:  # term 0's A factor times k, its C factor over k: exact
        s = strassen()
        wa, wc = s.Wa.astype(object), s.Wc.astype(object)
        wa[0] = [x * k for x in wa[0]]
        wc[:, 0] = [Fraction(x) / k for x in wc[:, 0]]
        return Scheme(2, 2, 2, wa, s.Wb, wc)

    for k in (2**62, Fraction(1, 2**62)):
        with pytest.raises(InputError, match=r"beyond the bound of what fastmm reads back"):
            fastmm.export(scaled(k), to=fmt)
    fits = scaled(2**40)  # within the bound: exported and read back exactly
    path = tmp_path / f"s.{suffix}"
    data = fastmm.export(fits, to=fmt)
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    back = import_scheme(path, fmt)
    assert [back.Wa.tolist(), back.Wb.tolist(), back.Wc.tolist()] == [
        fits.Wa.tolist(), fits.Wb.tolist(), fits.Wc.tolist()]
