"""The flip-graph formats, exp and maple: real published files, round trips, conventions, refusals."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fastmm.errors import InputError, SchemeFormatError, VerificationError
from fastmm.export.flips import (
    MAX_DEPTH,
    MAX_LINE_CHARS,
    Z2_LINE,
    exp_scheme,
    exp_text,
    maple_scheme,
    maple_text,
)
from fastmm.export.formats import FORMATS, export_foreign, import_scheme, read_foreign
from fastmm.io import load_scheme, save_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import brent_report
from tests.export.schemes import dead_product_schemes, mixed_234, rational_strassen
from tests.hostile.contract import assert_clean, changed, run_cli, snapshot

FOREIGN = Path(__file__).resolve().parents[1] / "data" / "foreign"
MOOSBAUER_222 = FOREIGN / "00bc2f83230b.exp"  # jakobmoosbauer/flips: a GF(2) flip-graph vertex
KAUERS_EXP = FOREIGN / "k108391c6c35ad0c4.exp"  # mkauers/matrix-multiplication 257/: ⟨2,5,7;55⟩ over Q
KAUERS_M = FOREIGN / "k108391c6c35ad0c4.m"  # the same scheme as a Maple list
PERMINOV_455 = FOREIGN / "455_73.m"  # dronperminov/FastMatrixMultiplication: Yamato-Arai, modulo 2
CATALOG = sorted((Path(__file__).resolve().parents[2] / "fastmm" / "data" / "catalog").glob("*.json"))
WRITERS = {"exp": (exp_text, exp_scheme), "maple": (maple_text, maple_scheme)}

# Strassen by hand, the third factor indexed by Cᵀ: c_ki is the coefficient of C[i][k], so
# M2 = (A21 + A22)·B11, which C21 adds and C22 subtracts, ends in (c12 - c22)
STRASSEN_EXP = """(a11 + a22)*(b11 + b22)*(c11 + c22)
(a21 + a22)*(b11)*(c12 - c22)
(a11)*(b12 - b22)*(c21 + c22)
(a22)*(-b11 + b21)*(c11 + c12)
(a11 + a12)*(b22)*(-c11 + c21)
(-a11 + a21)*(b11 + b12)*(c22)
(a12 - a22)*(b21 + b22)*(c11)
"""


def _exp(tmp_path: Path, text: str | bytes, name: str = "s.exp") -> Path:
    f = tmp_path / name
    f.write_bytes(text) if isinstance(text, bytes) else f.write_text(text)
    return f


# -- the published files --------------------------------------------------------------------


def test_moosbauer_rank_8_vertex_is_valid_modulo_2_only(tmp_path: Path) -> None:
    """The flips repository's ⟨2,2,2;8⟩ vertices are GF(2) schemes (no signs): over the integers
    the import fails and says --z2; with it the file is a Z2 scheme. Read with C not transposed,
    it is not even valid modulo 2: the Cᵀ convention is the right one."""
    with pytest.raises(VerificationError, match=r"fails verification: .* re-run with --z2"):
        import_scheme(MOOSBAUER_222, "exp")
    s = import_scheme(MOOSBAUER_222, "exp", z2=True)
    assert (s.shape, s.rank, s.ring, s.verified["ok"]) == ((2, 2, 2), 8, "Z2", True)
    raw = read_foreign(MOOSBAUER_222, "exp")
    wc = raw.Wc.reshape(2, 2, 8).transpose(1, 0, 2).reshape(4, 8)  # C row-major instead
    assert not brent_report(Scheme(2, 2, 2, raw.Wa, raw.Wb, wc), 2).ok


def test_kauers_exp_is_a_rational_257_scheme_read_with_c_transposed() -> None:
    s = import_scheme(KAUERS_EXP, "exp")
    assert (s.shape, s.rank, s.ring, s.verified["ok"]) == ((2, 5, 7), 55, "Q", True)
    # line 1: (-a22 + a23 - a25)*(...)*(-c51 - c52 + c61 + c62): c_ki -> Wc[i·p+k]
    assert s.Wa[0].tolist() == [0, 0, 0, 0, 0, 0, -1, 1, 0, -1]
    assert {(i, k): int(s.Wc[i * 7 + k, 0]) for i in range(2) for k in range(7) if s.Wc[i * 7 + k, 0]} == {
        (0, 4): -1, (1, 4): -1, (0, 5): 1, (1, 5): 1}
    # line 7: (3*(2*a11 - ...))*(...)*(-6*c11 + ...)/9: the 3 stays in A, the /9 goes into C
    assert s.Wa[6].tolist()[:3] == [6, -6, -3] and s.Wc[0, 6] == Fraction(-6, 9)
    # nothing is guessed: the same file with c_ik instead of c_ki fits no shape and is refused
    swapped = re.sub(r"c(\d)(\d)", r"c\2\1", KAUERS_EXP.read_text())
    with pytest.raises(SchemeFormatError, match=r"line 2: c27 is outside the shape: it needs n ≥ 7 .* n = 2"):
        exp_scheme(swapped, "swapped.exp")


def test_kauers_exp_is_written_back_byte_for_byte() -> None:
    s = import_scheme(KAUERS_EXP, "exp")
    assert exp_text(s).encode() == KAUERS_EXP.read_bytes()
    z2 = import_scheme(MOOSBAUER_222, "exp", z2=True)
    assert exp_text(z2) == Z2_LINE + "\n" + MOOSBAUER_222.read_text()


def test_kauers_exp_and_maple_files_hold_the_same_products() -> None:
    """Wa is identical; the .m keeps fractions in 15 products' B factors (1/3, 1/5), the .exp
    writes those integral and moves the number into C: the same rank-one products, each B
    scaled by λ and its C column by 1/λ, and nothing else differs."""
    e, m = import_scheme(KAUERS_EXP, "exp"), import_scheme(KAUERS_M, "maple")
    assert (m.shape, m.rank, m.ring, m.verified["ok"]) == ((2, 5, 7), 55, "Q", True)
    assert e.Wa.tolist() == m.Wa.tolist()
    scales = []
    for t in range(55):
        j = next(j for j, x in enumerate(m.Wb[t]) if x)
        lam = Fraction(e.Wb[t][j]) / Fraction(m.Wb[t][j])
        assert [Fraction(x) for x in e.Wb[t]] == [lam * Fraction(x) for x in m.Wb[t]]
        assert [Fraction(x) for x in e.Wc[:, t]] == [Fraction(x) / lam for x in m.Wc[:, t]]
        scales.append(lam)
    assert sorted(set(scales)) == [1, 3, 5] and sum(x != 1 for x in scales) == 15
    assert maple_scheme(maple_text(m), "back.m") == m


def test_perminov_yamato_arai_455_is_valid_modulo_2_only(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="re-run with --z2"):
        import_scheme(PERMINOV_455, "maple")
    s = import_scheme(PERMINOV_455, "maple", z2=True)
    assert (s.shape, s.rank, s.ring, s.verified["ok"]) == ((4, 5, 5), 73, "Z2", True)
    assert s.Wa[0].tolist() == [0] * 5 + [1, 1, 1, 0, 1] * 3  # {{0, 0, 0, 0, 0}, {1, 1, 1, 0, 1}, ...}
    back = maple_text(s)
    assert back.startswith(Z2_LINE + "\n") and maple_scheme(back, "back.m") == s  # the marker: no --z2


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_catalogue_schemes_round_trip(path: Path, fmt: str) -> None:
    """Every shipped scheme, the Q ⟨2,4,5;32⟩ (fractions in A, B and C) and the Z2 ones included,
    reads back identical, ring and all."""
    write, read = WRITERS[fmt]
    s = load_scheme(path)
    back = read(write(s), f"{path.stem}.{fmt}")
    assert back == s and back.ring == s.ring


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("name", ["rational_strassen", "laderman", "mixed_234", "kron_rect",
                                  *sorted(dead_product_schemes())])
def test_round_trip_through_import_is_identical(tmp_path: Path, fmt: str, name: str) -> None:
    schemes = {"rational_strassen": rational_strassen, "laderman": laderman, "mixed_234": mixed_234,
               "kron_rect": lambda: strassen().kron(naive_scheme(1, 2, 3)), **{
                   k: (lambda v=v: v) for k, v in dead_product_schemes().items()}}
    s = schemes[name]()
    f = _exp(tmp_path, export_foreign(s, fmt), f"s.{fmt}")
    back = import_scheme(f, fmt)
    assert back == s and back.verified["ok"] is True and back.provenance["from"] == fmt


def test_the_writer_uses_kauers_layout_for_fractions() -> None:
    lines = exp_text(rational_strassen()).splitlines()
    assert lines[0] == "(2*(a11 + a22))*(b11 + b22)*(c11 + c22)/2"  # A = 2(a11 + a22), C = (·)/2
    assert lines[2] == "(a11)*((b12 - b22)/3)*(3*c21 + 3*c22)"  # a fraction in B stays in B
    assert lines[1] == "(a21 + a22)*(b11)*(c12 - c22)"
    assert "(0)*(b11 + b12)*(c11 + c22)" in exp_text(dead_product_schemes()["zero_left"])


def test_maple_layout_is_a_list_of_a_b_and_c_transposed() -> None:
    text = maple_text(naive_scheme(1, 1, 2))  # a11·b11 -> C[0][0] (c11), a11·b12 -> C[0][1] (c21)
    assert text == "{{{{1}}, {{1, 0}}, {{1}, {0}}},\n {{{1}}, {{0, 1}}, {{0}, {1}}}}\n"
    assert maple_scheme(text, "x.m") == naive_scheme(1, 1, 2)


def test_exp_cannot_name_a_dimension_beyond_9_but_maple_can() -> None:
    s = naive_scheme(1, 1, 10)
    with pytest.raises(InputError, match=r"⟨1,1,10;10⟩: the exp format names entries by single digits"):
        export_foreign(s, "exp")
    assert maple_scheme(export_foreign(s, "maple"), "x.m") == s


# -- conventions and the parser on hand-made files -------------------------------------------


def test_hand_written_strassen_with_c_transposed(tmp_path: Path) -> None:
    assert import_scheme(_exp(tmp_path, STRASSEN_EXP), "exp") == strassen()
    swapped = re.sub(r"c(\d)(\d)", r"c\2\1", STRASSEN_EXP)  # C row-major: wrong
    with pytest.raises(VerificationError, match="C12"):
        import_scheme(_exp(tmp_path, swapped), "exp")


@pytest.mark.parametrize("line, a, b, c", [
    ("(a11)*(b11)*(c11)", 1, 1, 1),
    ("3*(a11)*(b11)*(c11)", 3, 1, 1),  # a number times one form belongs to it
    ("(a11)*(b11)*(c11)*3", 1, 1, 3),  # a number times the product goes into C
    ("-(-(a11))*(b11)*(c11)/4", 1, 1, Fraction(1, 4)),
    ("(2*a11/3)*(-b11)*(c11)", Fraction(2, 3), -1, 1),
    ("a11*b11*2*-c11/2", 1, 1, -1),
    ("(a11 - a11 + a11)*(+b11)*((6*c11)/(2*3))", 1, 1, 1),
    ("(0)*(b11)*(c11)", 0, 1, 1),  # a dead product: the zero factor kept as zero, the others as written
])
def test_a_line_is_one_product_with_the_leftover_number_in_c(line, a, b, c) -> None:
    s = exp_scheme("(a11)*(b11)*(c11)\n" + line, "x.exp")
    assert (s.Wa[1, 0], s.Wb[1, 0], s.Wc[0, 1]) == (a, b, c)


def test_comments_and_blank_lines_are_skipped_and_the_z2_line_is_the_claim() -> None:
    z2 = Scheme(2, 2, 2, strassen().Wa % 2, strassen().Wb % 2, strassen().Wc % 2, ring="Z2")
    text = exp_text(z2)
    assert text.startswith(Z2_LINE + "\n")
    assert exp_scheme(text.replace("\n", "\n\n# a comment\n", 2), "x.exp") == z2
    assert exp_scheme(text.split("\n", 1)[1], "x.exp").ring == "ZT"  # without the line: as written
    # the claim on a scheme exact over the integers as written: kept, with a note (as "z2": true)
    s = exp_scheme(Z2_LINE + "\n" + STRASSEN_EXP, "x.exp")
    assert s == strassen() and "claims validity modulo 2 only" in s.provenance["note"]


def test_the_formats_refuse_the_alphatensor_options(tmp_path: Path) -> None:
    assert {"exp", "maple"} <= set(FORMATS)
    with pytest.raises(InputError, match="applies to --from alphatensor only"):
        import_scheme(_exp(tmp_path, STRASSEN_EXP), "exp", key="2,2,2")


# -- hostile files: one line, exit 2 (exit 1 for a scheme that fails), never a traceback ------


def _tampered_kauers() -> str:
    text = KAUERS_EXP.read_text()
    assert "(-a21 + a22)*(-b13 + b14 - b43 + b44)" in text
    return text.replace("(-a21 + a22)*(-b13 + b14 - b43 + b44)", "(-a21 + a22)*(-b13 + 2*b14 - b43 + b44)")


def _tampered_kauers_m() -> str:
    text = KAUERS_M.read_text()
    assert text.count("{{3, 3, 0, 0, 0, 0, 0}") == 1  # product 2's B
    return text.replace("{{3, 3, 0, 0, 0, 0, 0}", "{{3, 2, 0, 0, 0, 0, 0}")


EXP_REFUSALS = {
    "two_a_forms": ("(a11)*(a12)*(b11)*(c11)\n", r"s\.exp line 1: a product of two linear forms in the a's"),
    "c_outside": (STRASSEN_EXP + "(a11)*(b11)*(c31)\n",
                  r"s\.exp line 8: c31 is outside the shape: it needs p ≥ 3 .* the b's give p = 2"),
    "three_digits": ("(a111)*(b11)*(c11)\n", r"line 1: 'a111': the indices are single digits 1\.\.9"),
    "zero_index": ("(a10)*(b11)*(c11)\n", r"line 1: 'a10': the indices are single digits 1\.\.9"),
    "unclosed": ("(a11*(b11)*(c11)\n", r"line 1: unbalanced parentheses: '\(' at column 1 is never closed"),
    "closes_nothing": ("(a11))*(b11)*(c11)\n",
                       r"line 1: unbalanced parentheses: '\)' at column 6 closes nothing"),
    "nested_1e6": ("(" * 10**6 + "a11" + ")" * 10**6 + "*(b11)*(c11)\n",
                   f"line 1: longer than {MAX_LINE_CHARS:,} characters"),
    "nested_deep": ("(" * 40 + "a11" + ")" * 40 + "*(b11)*(c11)\n",
                    f"line 1: parentheses nested more than {MAX_DEPTH} deep"),
    "huge_integer": ("(" + "9" * 5000 + "*a11)*(b11)*(c11)\n",
                     r"line 1: number '9{30}\.\.\.' is longer than 64"),
    "beyond_bound": ("(4611686018427387904*a11)*(b11)*(c11)\n",
                     r"line 1: coefficient .* beyond the supported bound"),
    "overflow_by_product": ("(2147483648*2147483648*a11)*(b11)*(c11)\n", "beyond the supported bound"),
    "unknown_letter": ("(a11)*(b11)*(d11)\n", r"line 1: unknown variable 'd11'"),
    "division_by_variable": ("(a11)*(b11)*(c11)/a22\n", "line 1: a division by a variable"),
    "division_by_zero": ("(a11)*(b11)*(c11)/(2 - 2)\n", "line 1: a division by zero"),
    "affine": ("(a11 + 1)*(b11)*(c11)\n", "line 1: a number added to a linear form"),
    "sum_of_products": ("(a11)*(b11)*(c11) + (a12)*(b21)*(c11)\n", "line 1: a sum of products"),
    "missing_c": ("(a11)*(b11)\n",
                  r"line 1: not a product of a form in a's, one in b's and one in c's \(no c's\)"),
    "power": ("(a11)^2*(b11)*(c11)\n", r"line 1: unexpected '\^' at column 6"),
    "ends_early": ("(a11)*(b11)*\n", r"line 1: the line ends where a number, a variable or '\(' was"),
    "empty": ("", r"s\.exp: no products"),
    "only_comments": ("# nothing\n\n", r"s\.exp: no products"),
    "non_utf8": (b"(a11)*(b11)*(c11)\n\xff\xfe\n", r"s\.exp: not a UTF-8 text file"),
}


@pytest.mark.parametrize("case", sorted(EXP_REFUSALS))
def test_hostile_exp_files_are_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, message = EXP_REFUSALS[case]
    f = _exp(tmp_path, text)
    out = tmp_path / "out.json"
    r = run_cli("import", f, "--from", "exp", "-o", out)
    assert_clean(r, allowed=(2,))
    assert re.search(message, r.err), r.err
    assert not out.exists()


MAPLE_REFUSALS = {
    "ragged": ("{{{{1, 0}, {1}}, {{1}, {1}}, {{1}}}}",
               r"product 1: its A has rows of different lengths \[1, 2\]"),
    "no_shape": ("{{{{1}}, {{1, 0}, {0, 1}}, {{1}}}}",
                 r"product 1: A is 1×1, B 2×2 and C 1×1: they fit no shape"),
    "inconsistent": ("{{{{1}}, {{1}}, {{1}}}, {{{1, 0}}, {{1}, {0}}, {{1}}}}",
                     r"product 2 is of ⟨1,2,1⟩ .* product 1 of ⟨1,1,1⟩"),
    "two_matrices": ("{{{{1}}, {{1}}}}", r"product 1 is not a list of three matrices"),
    "unclosed": ("{{{{1}}, {{1}}, {{1}}}", r"line 1: the file ends inside a list \(1 '\{' never closed\)"),
    "too_deep": ("{{{{{1}}}}}", r"line 1: lists nested more than 4 deep"),
    "missing_comma": ("{{{{1 1}}, {{1}}, {{1}}}}", r"line 1: a ',' is missing before a number"),
    "trailing_comma": ("{{{{1,}}, {{1}}, {{1}}}}", r"line 1: ',' before '\}'"),
    "junk": ("{{{{1}}, {{x}}, {{1}}}}", r"line 1: unexpected 'x'"),
    "eval_bait": ('{{{{1}}, {{1}}, {{system("rm")}}}}', r"line 1: unexpected 's'"),
    "division_by_zero": ("{{{{1/0}}, {{1}}, {{1}}}}", r"line 1: coefficient '1/0' divides by zero"),
    "huge_integer": ("\n{{{{" + "7" * 10**6 + "}}, {{1}}, {{1}}}}",
                     r"line 2: number '7{30}\.\.\.' is longer than 64"),
    "after_the_end": ("{{{{1}}, {{1}}, {{1}}}} {1}", r"line 1: '\{' after the list has ended"),
    "empty": ("", r"s\.m: no list"),
    "no_products": ("{}", r"s\.m: the list holds no products"),
    "non_utf8": (b"{{{{1}}, {{1}}, {{\xff}}}}", r"s\.m: not a UTF-8 text file"),
}


@pytest.mark.parametrize("case", sorted(MAPLE_REFUSALS))
def test_hostile_maple_files_are_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, message = MAPLE_REFUSALS[case]
    f = _exp(tmp_path, text, "s.m")
    r = run_cli("import", f, "--from", "maple")
    assert_clean(r, allowed=(2,))
    assert re.search(message, r.err), r.err


@pytest.mark.parametrize("fmt, path, tampered", [  # one B coefficient of one product changed
    ("exp", "bad.exp", _tampered_kauers),
    ("maple", "bad.m", _tampered_kauers_m),
])
def test_a_tampered_coefficient_fails_verification_exit_1_and_writes_nothing(tmp_path: Path, fmt, path,
                                                                             tampered) -> None:
    f = _exp(tmp_path, tampered(), path)
    out = tmp_path / "out.json"
    before = snapshot(tmp_path)
    r = run_cli("import", f, "--from", fmt, "-o", out)
    assert_clean(r, allowed=(1,))
    assert "fails verification" in r.err and "C" in r.err
    assert not out.exists() and changed(before, snapshot(tmp_path)) == set()


# -- the command line and the library, end to end --------------------------------------------


def test_import_and_export_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "257.json"
    r = run_cli("import", KAUERS_EXP, "--from", "exp", "-o", out)
    assert_clean(r, allowed=(0,))
    assert "⟨2,5,7;55⟩" in r.err and load_scheme(out) == import_scheme(KAUERS_EXP, "exp")
    m = tmp_path / "257.m"
    r = run_cli("export", out, "--to", "maple", "-o", m)
    assert_clean(r, allowed=(0,))
    assert m.read_text() == maple_text(load_scheme(out))
    assert import_scheme(m, "maple") == load_scheme(out)
    r = run_cli("export", out, "--to", "exp")  # stdout: Kauers's file again
    assert r.rc == 0 and r.out == KAUERS_EXP.read_text()


def test_import_z2_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "222.json"
    r = run_cli("import", MOOSBAUER_222, "--from", "exp", "-o", out)
    assert_clean(r, allowed=(1,))
    assert "re-run with --z2" in r.err and not out.exists()
    r = run_cli("import", MOOSBAUER_222, "--from", "exp", "--z2", "-o", out)
    assert_clean(r, allowed=(0,))
    assert load_scheme(out).ring == "Z2"


def test_the_library_paths(tmp_path: Path) -> None:
    import fastmm

    s = fastmm.import_scheme(KAUERS_M, "maple")
    assert s.label() == "⟨2,5,7;55⟩" and s.ring == "Q"
    assert fastmm.export(s, to="maple") == maple_text(s)
    src = tmp_path / "s.json"
    save_scheme(laderman(), src)
    assert exp_scheme(fastmm.export(fastmm.load(src), to="exp"), "l.exp") == laderman()


def test_every_foreign_format_is_offered_everywhere() -> None:
    from fastmm.api import EXPORT_FORMATS
    from fastmm.cli.export import FOREIGN_FORMATS

    assert FOREIGN_FORMATS == FORMATS
    assert set(FORMATS) <= set(EXPORT_FORMATS)


def test_dense_large_files_are_read_quickly() -> None:
    """A ⟨6,6,6;160⟩ of dense products (27,000 coefficients) parses within the hostile time bound."""
    import time

    rng = np.random.default_rng(0)

    def form(letter: str) -> str:
        return " + ".join(f"{int(rng.integers(1, 9))}*{letter}{i}{j}" for i in range(1, 7)
                          for j in range(1, 7))

    text = "\n".join(f"({form('a')})*({form('b')})*({form('c')})/7" for _ in range(160))
    t0 = time.monotonic()
    s = exp_scheme(text, "big.exp")
    assert s.label() == "⟨6,6,6;160⟩" and time.monotonic() - t0 < 5
    assert exp_scheme(exp_text(s), "again.exp") == s and maple_scheme(maple_text(s), "big.m") == s
    with pytest.raises(SchemeFormatError, match="numbers, variables, signs and parentheses"):
        exp_scheme("\n".join([text] * 8), "eight.exp")


# -- fuzzing: any edit of a real file is read, or refused in one line -------------------------

EDIT_CHARS = "()+-*/,{} 0123456789abcdx#\n\t^é"


@pytest.mark.parametrize("fmt, path", [("exp", MOOSBAUER_222), ("maple", KAUERS_M)])
def test_edited_files_are_imported_or_refused_cleanly(tmp_path: Path, fmt: str, path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    original = path.read_text()

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(edits=st.lists(st.tuples(st.integers(0, len(original)), st.integers(0, 3),
                                    st.text(EDIT_CHARS, max_size=3)), min_size=1, max_size=3))
    def check(edits) -> None:
        text = original
        for at, cut, insert in edits:
            text = text[:at] + insert + text[at + cut:]
        f = _exp(tmp_path, text, f"edited.{fmt}")
        assert_clean(run_cli("import", f, "--from", fmt, "--z2"))

    check()


def test_exp_refuses_what_would_not_read_back_and_maple_takes_it(tmp_path):
    """A valid ⟨1,1,2;2⟩ over Q whose C factor λ/5, −λ/7 (λ = 2^61 − 1) is 7λ, −5λ over 35 when made
    integral: past the bound the reader checks, so exp export wrote a file its import refused."""
    lam = 2**61 - 1
    wa = np.array([[Fraction(1)], [Fraction(1)]], dtype=object)
    wb = np.array([[Fraction(5, lam), Fraction(0)], [Fraction(5), Fraction(7)]], dtype=object)
    wc = np.array([[Fraction(lam, 5), Fraction(0)], [Fraction(-lam, 7), Fraction(1, 7)]], dtype=object)
    s = Scheme(1, 1, 2, wa, wb, wc)
    assert brent_report(s).ok
    with pytest.raises(InputError, match=r"would not read back .*use --to maple$"):
        export_foreign(s, "exp")
    (tmp_path / "m.m").write_text(export_foreign(s, "maple"))
    back = import_scheme(tmp_path / "m.m", "maple")
    assert np.array_equal(back.Wb, s.Wb) and np.array_equal(back.Wc, s.Wc)
    save_scheme(s.with_meta(ring="Q"), tmp_path / "big.json")
    (tmp_path / "big.exp").write_text("kept\n")
    r = run_cli("export", tmp_path / "big.json", "--to", "exp", "-o", tmp_path / "big.exp")
    assert r.rc == 2 and "use --to maple" in r.err and r.err.count("\n") == 1
    assert (tmp_path / "big.exp").read_text() == "kept\n"


def test_maple_takes_spaces_after_a_sign(tmp_path):
    (tmp_path / "s.m").write_text("{{{{1}}, {{- 1 / 2}}, {{-2}}}}\n")
    s = import_scheme(tmp_path / "s.m", "maple")
    assert s.shape == (1, 1, 1) and s.Wb[0][0] == Fraction(-1, 2) and s.Wc[0][0] == -2


def test_moosbauers_lifted_555_rank_93_in_mathematica_style_imports_over_z():
    """symmetric-flips writes products by juxtaposition: (..) (..) (..), 2 b31, a33 b33 c33,
    -(a13 (..) (..))."""
    s = import_scheme(FOREIGN / "555m93_lifted.txt", "exp")
    assert s.shape == (5, 5, 5) and s.rank == 93 and s.ring == "Z"
    assert brent_report(s).ok
    assert exp_scheme("(a11 + a22) (b11 + b22) (c11 + c22)").rank == 1
    assert exp_scheme("2 a11 b11 c11").Wa[0][0] == 2  # the number goes with the form it multiplies
    with pytest.raises(SchemeFormatError, match="two linear forms in the a's"):
        exp_scheme("a11 a12 b11 c11")


@pytest.mark.parametrize("name, fmt", [("00bc2f83230b.exp", "exp"), ("k108391c6c35ad0c4.exp", "exp"),
                                       ("k108391c6c35ad0c4.m", "maple"), ("455_73.m", "maple"),
                                       ("555m93_lifted.txt", "exp")])
def test_import_tells_the_format_from_the_content(name, fmt, tmp_path):
    import fastmm
    from fastmm.export.formats import guess_format

    assert guess_format(FOREIGN / name) == fmt
    z2 = name in ("00bc2f83230b.exp", "455_73.m")
    told = fastmm.import_scheme(FOREIGN / name, z2=z2)  # fmt defaults to "auto"
    named = fastmm.import_scheme(FOREIGN / name, fmt, z2=z2)
    assert np.array_equal(told.Wa, named.Wa) and np.array_equal(told.Wc, named.Wc)
    r = run_cli("import", FOREIGN / name, *(["--z2"] if z2 else []), "-o", tmp_path / "s.json")
    assert r.rc == 0 and f"as {fmt} (told from its content" in r.err
    assert load_scheme(tmp_path / "s.json").rank == named.rank


def test_auto_tells_fastmms_own_fast_matmul_file_whose_first_row_holds_a_third(tmp_path):
    """QA-136: fastmm writes 1/3 as `3i`; the guess took only plain numbers, so fastmm's own
    export of a Q scheme was 'cannot tell which tool's format it is in'."""
    import fastmm
    from fastmm.export.formats import guess_format

    s = strassen()
    wa, wc = s.Wa.astype(object), s.Wc.astype(object)
    wa[0] = np.array([Fraction(x, 3) for x in wa[0]], dtype=object)
    wc[:, 0] = wc[:, 0] * 3
    third = Scheme(2, 2, 2, wa, s.Wb.astype(object), wc)
    f = tmp_path / "third.fm"
    f.write_text(export_foreign(third, "fast-matmul"))
    assert re.search(r"^3i ", f.read_text(), re.M)
    assert guess_format(f) == "fast-matmul"
    back = fastmm.import_scheme(f)
    assert back.ring == "Q" and np.array_equal(back.Wa, third.Wa) and np.array_equal(back.Wc, third.Wc)


def test_auto_tells_perminov_npy_and_fast_matmul_and_refuses_the_rest(tmp_path):
    from fastmm.export.formats import guess_format

    s = strassen()
    (tmp_path / "p.json").write_text(export_foreign(s, "perminov"))
    (tmp_path / "f").write_text(export_foreign(s, "fast-matmul"))
    (tmp_path / "a.npy").write_bytes(export_foreign(s, "alphatensor"))
    save_scheme(s, tmp_path / "own.json")
    (tmp_path / "notes.txt").write_text("a list of my schemes\n")
    assert [guess_format(tmp_path / x) for x in ("p.json", "f", "a.npy")] == \
        ["perminov", "fast-matmul", "alphatensor"]
    with pytest.raises(InputError, match="is a fastmm scheme file already"):
        guess_format(tmp_path / "own.json")
    with pytest.raises(InputError, match=r"cannot tell which tool's format .* --from alphatensor\|perminov"):
        guess_format(tmp_path / "notes.txt")
    r = run_cli("import", tmp_path / "notes.txt", "-o", tmp_path / "n.json")
    assert r.rc == 2 and r.err.count("\n") == 1 and not (tmp_path / "n.json").exists()


def test_auto_keeps_the_readers_errors_and_refuses_pipes(tmp_path):
    """QA-127: a missing file or a folder read as 'cannot tell', and a pipe was read twice."""
    import os

    from fastmm.export.formats import guess_format

    with pytest.raises(SchemeFormatError, match="no such file"):
        guess_format(tmp_path / "missing.exp")
    with pytest.raises(SchemeFormatError, match="is a directory"):
        guess_format(tmp_path)
    fifo = tmp_path / "pipe"  # no writer: it reads as empty at once (a writer thread could be left
    os.mkfifo(fifo)           # blocked on its open, and the test process with it)
    with pytest.raises(InputError, match=r"a pipe that gave no data"):  # not "the file is empty"
        guess_format(fifo)
    read_end, write_end = os.pipe()  # a pipe with data (`<(cat f.exp)`): read once, so not guessed
    os.write(write_end, export_foreign(strassen(), "exp").encode())
    os.close(write_end)
    try:
        with pytest.raises(InputError, match=r"not a regular file \(a pipe\?\).* name it with --from"):
            guess_format(f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)


def test_auto_tells_an_exp_file_whose_first_product_is_dead(tmp_path):
    from fastmm.export.formats import guess_format

    s = strassen()
    dead = Scheme(2, 2, 2, np.vstack([np.zeros((1, 4), dtype=int), s.Wa]),
                  np.vstack([np.ones((1, 4), dtype=int), s.Wb]),
                  np.hstack([np.zeros((4, 1), dtype=int), s.Wc]))
    text = export_foreign(dead, "exp")
    assert text.startswith("(0)*(b11 + b12 + b21 + b22)*(0)\n")
    (tmp_path / "dead.exp").write_text(text)
    assert guess_format(tmp_path / "dead.exp") == "exp"
    (tmp_path / "bj.json").write_text('{{"a": 1}}')  # broken JSON, not a Maple list
    with pytest.raises(SchemeFormatError) as exc:
        load_scheme(tmp_path / "bj.json")
    assert "--from" not in str(exc.value)
