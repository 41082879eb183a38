"""QA round 4: limits on what one input may cost (memory for long JSON strings, time for large
schemes held in memory), exit codes of combine, and messages of malformed arrays."""

from __future__ import annotations

import json
import signal
import time
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SchemeFormatError
from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.validate import MAX_BRENT_WORK, json_depth, load_json
from fastmm.verify import MAX_LISTED, brent_report, brent_tensor, sympy_problems, target_tensor
from tests.hostile.contract import assert_clean, run_cli

# -- JSON nesting is measured in linear time and small memory ----------------------------------


def _strassen_with_note(note: str) -> str:
    d = json.loads(dumps(strassen()))
    d["provenance"]["note"] = note
    return json.dumps(d)


def test_one_long_string_costs_little_memory():
    # the backtracking regex that skipped strings took about 550 MiB for these 4 million characters
    text = _strassen_with_note("x" * 4_000_000)
    tracemalloc.start()
    try:
        loaded = load_json(text, "big.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(loaded["provenance"]["note"]) == 4_000_000
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_one_long_string_of_escapes_costs_little_memory():
    text = '{"note": "' + '\\"' * 2_000_000 + '"}'
    tracemalloc.start()
    try:
        depth = json_depth(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert depth == 1
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(("text", "depth"), [
    ('[1, [2, [3]]]', 3),
    ('{"a": "[[[[", "b": [{}]}', 3),  # brackets inside a string do not count
    ('["\\"[[[", [1]]', 2),  # an escaped quote does not end the string
    ('["x\\\\", [[1]]]', 3),  # a string that ends in a backslash (escaped) still ends
    ('["x\\\\\\"[[", 1]', 1),  # backslash, backslash, backslash, quote: the quote is escaped
    ('["⟨é\\u27e8", {"k⟩": [[]]}]', 4),  # multi-byte characters
    ('"[[["', 0),
    ('', 0),
    ('[]]][[', 1),
])
def test_json_depth_counts_brackets_outside_strings_only(text, depth):
    assert json_depth(text) == depth
    for chunk in (1, 2, 3, 5):  # the same where chunks split escapes, quotes and characters
        assert json_depth(text, chunk) == depth, chunk


def test_json_depth_across_chunks_matches_parsing():
    def depth_of(obj) -> int:
        if isinstance(obj, list):
            return 1 + max((depth_of(x) for x in obj), default=0)
        if isinstance(obj, dict):
            return 1 + max((depth_of(x) for x in obj.values()), default=0)
        return 0

    obj = {"s\\\"[": ["\\", "\"{", [["]]]\\\\", {"é⟨": [[[]]]}]], "\\\\\\\"[["]}
    for ensure_ascii in (True, False):
        text = json.dumps(obj, ensure_ascii=ensure_ascii)
        for chunk in (1, 2, 3, 4, 7, 1 << 20):
            assert json_depth(text, chunk) == depth_of(obj) == 8


def test_deep_nesting_is_still_refused_after_a_long_string():
    text = '["' + "x" * 3_000_000 + '", ' + "[" * 40 + "]" * 40 + "]"
    with pytest.raises(SchemeFormatError, match="nested 41 levels"):
        load_json(text, "deep.json")


# -- schemes held in memory: the file layer's bound, and work that follows the nonzeros ---------


@pytest.mark.parametrize("call", [
    lambda s: fastmm.verify(s, sympy=False),
    lambda s: fastmm.verified(s, sympy=False),
    lambda s: fastmm.export(s, to="text"),
    lambda s: fastmm.matmul(np.ones((24, 24)), np.ones((24, 24)), scheme=s),
    lambda s: brent_report(s),
    lambda s: sympy_problems(s),
])
def test_a_scheme_beyond_the_brent_work_limit_is_refused_at_once(call):
    s = naive_scheme(20, 20, 20)  # 400^3 · 8000 = 5.1·10^11 > 2^31: over 60 s before, Ctrl-C ignored
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"⟨20,20,20;8000⟩ is too large to verify.*512,000,000,000 "
                                         r"is beyond the limit of 2,147,483,648"):
        call(s)
    assert time.monotonic() - t0 < 2


def test_the_limit_is_the_one_scheme_files_have():
    assert (11 * 11) ** 3 * 11**3 > MAX_BRENT_WORK >= 100**3 * 1000
    with pytest.raises(InputError, match="⟨11,11,11;1331⟩"):
        fastmm.verify(naive_scheme(11, 11, 11), sympy=False)
    assert fastmm.verify(naive_scheme(10, 10, 10), sympy=False)


def test_a_naive_scheme_verifies_quickly():
    # the dense check multiplied 10^9 entries (2.3 s); it now multiplies 1000 small products
    s = naive_scheme(10, 10, 10)
    t0 = time.monotonic()
    assert brent_report(s).ok
    assert time.monotonic() - t0 < 1.0


def _random_scheme(rng, kind: str) -> Scheme:
    n, m, p = (int(x) for x in rng.integers(1, 4, 3))
    r = int(rng.integers(0, 10))

    def mat(rows: int, cols: int) -> np.ndarray:
        if kind == "ternary":
            return rng.integers(-1, 2, (rows, cols))
        if kind == "big":  # products beyond int64: Python integers
            return rng.integers(-2**40, 2**40, (rows, cols)) * rng.integers(0, 2, (rows, cols))
        out = np.empty(rows * cols, dtype=object)
        out[:] = [Fraction(int(rng.integers(-3, 4)), int(rng.integers(1, 4))) for _ in range(rows * cols)]
        return out.reshape(rows, cols)

    return Scheme(n, m, p, mat(r, n * m), mat(r, m * p), mat(n * p, r))


@pytest.mark.parametrize("kind", ["ternary", "big", "fractions"])
def test_the_check_finds_what_the_dense_tensor_shows(kind):
    rng = np.random.default_rng(4)
    for _ in range(60):
        s = _random_scheme(rng, kind)
        for modulus in ((None, 2) if kind == "ternary" else (None,)):
            n, m, p = s.shape
            dense = brent_tensor(s, modulus)
            want = target_tensor(n, m, p)
            report = brent_report(s, modulus)
            assert len(report.problems) + report.unlisted == int((dense != want).sum())
            for d in report.problems:
                (i2, k2), (i, j), (j2, k) = d.c, d.a, d.b
                assert Fraction(d.got) == Fraction(dense[i * m + j, j2 * p + k, i2 * p + k2])
                assert d.expected == want[i * m + j, j2 * p + k, i2 * p + k2]


def test_valid_schemes_with_fractions_and_big_coefficients_verify():
    s = strassen()
    wa, wc = np.array(s.Wa, dtype=object), np.array(s.Wc, dtype=object)
    wa[1] = wa[1] * 2**40
    wc[:, 1] = [Fraction(int(x), 2**40) for x in wc[:, 1]]
    scaled = s.with_meta(Wa=wa, Wc=wc, ring="Q")
    assert fastmm.verify(scaled, sympy=False) and fastmm.verify(scaled, sympy=False).ring == "Q"
    wc[0, 0] = wc[0, 0] + Fraction(1, 5)
    lines = fastmm.verify(s.with_meta(Wa=wa, Wc=wc, ring="Q"), sympy=False).lines()
    assert lines[0] == "C11: a11*b11 has coefficient 6/5, expected 1"


def test_a_report_lists_at_most_max_listed_and_counts_the_rest():
    rng = np.random.default_rng(5)
    s = Scheme(5, 5, 5, rng.integers(-1, 2, (40, 25)), rng.integers(-1, 2, (40, 25)),
               rng.integers(-1, 2, (25, 40)))
    wrong = int((brent_tensor(s) != target_tensor(5, 5, 5)).sum())
    report = brent_report(s)
    assert wrong > MAX_LISTED and len(report.problems) == MAX_LISTED
    assert report.unlisted == wrong - MAX_LISTED
    assert report.lines()[-1] == f"... and {wrong - 20} more wrong coefficients"


def test_ctrl_c_gets_through_a_long_verification():
    # dense, at the work limit: one einsum held the interpreter for its whole length before
    rng = np.random.default_rng(6)
    r = MAX_BRENT_WORK // 6**6
    s = Scheme(6, 6, 6, rng.integers(-1, 2, (r, 36)), rng.integers(-1, 2, (r, 36)),
               rng.integers(-1, 2, (36, r)))

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            brent_report(s)
        assert time.monotonic() - t0 < 1.5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


# -- combine: a file that fails verification is exit 1, as for verify, show and export ---------


def _bad_strassen(path) -> str:
    d = json.loads(dumps(strassen()))
    d["Wa"][0][0] = 0
    path.write_text(json.dumps(d))
    return str(path)


def test_combine_exits_1_for_an_input_that_fails_verification(tmp_path):
    bad, good = _bad_strassen(tmp_path / "bad.json"), tmp_path / "s222.json"
    good.write_text(dumps(strassen()))
    for command in ("verify", "show"):
        assert run_cli(command, bad).rc == 1
    r = run_cli("combine", "kron", bad, str(good), "-o", str(tmp_path / "k.json"))
    assert_clean(r, allowed=(1,))
    assert "bad.json: ⟨2,2,2;7⟩ fails verification: C11: missing a11*b11" in r.err
    assert not (tmp_path / "k.json").exists()


def test_combine_exits_2_for_an_unreadable_input(tmp_path):
    good = tmp_path / "s222.json"
    good.write_text(dumps(strassen()))
    (tmp_path / "broken.json").write_text("{")
    for name in ("missing.json", "broken.json"):
        r = run_cli("combine", "kron", str(good), str(tmp_path / name), "-o", str(tmp_path / "k.json"))
        assert_clean(r, allowed=(2,))
    assert run_cli("combine", "kron", str(good), str(good), "-o", str(tmp_path / "k.json")).rc == 0


# -- malformed npy headers: one line saying so, never Python's object reprs or a traceback -------


def _npy_with_header(header: bytes) -> bytes:
    header = header + b" " * (118 - len(header)) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 24


@pytest.mark.parametrize("shape", [b"foo(3,)", b"(3,   ", b"[[[[[[["])
def test_a_malformed_npy_header_is_named_as_such(tmp_path, shape):
    # foo(3,): "malformed node or string on line 1: <ast.Call object at 0x...>";
    # an unclosed bracket: tokenize's TokenError, an internal error
    path = tmp_path / "bad.npy"
    path.write_bytes(_npy_with_header(b"{'descr': '<i8', 'fortran_order': False, 'shape': " + shape + b", }"))
    r = run_cli("import", str(path), "--from", "alphatensor")
    assert_clean(r, allowed=(2,))
    assert r.err == f"error: {path}: not a readable npy array (its header is not a valid npy header)\n"


def test_an_unknown_npy_version_is_named():
    from fastmm.validate import read_npy

    data = b"\x93NUMPY\x09\x00" + _npy_with_header(b"{}")[8:]
    with pytest.raises(SchemeFormatError, match=r"^x.npy: not a readable npy array \(unknown npy "
                                                r"version 9.0\)$"):
        read_npy(data, "x.npy", False, "no pickles")
