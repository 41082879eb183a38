"""Hostile AlphaTensor, Perminov and fast-matmul files: a clean answer, never a wrapped number.

An import that succeeds must have read every number exactly: the scheme it writes is checked
again against the original arrays with Python integers.
"""

from __future__ import annotations

import io
import json
import zipfile
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmm.export.formats import alphatensor_arrays, fast_matmul_text, perminov_text
from fastmm.io import load_scheme
from fastmm.reference import strassen
from tests.hostile.contract import assert_clean, changed, run_cli, snapshot
from tests.hostile.strategies import json_value, number_text

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ARRAYS = alphatensor_arrays(strassen())
DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16",
          "float32", "float64", "bool", "complex64", "longdouble", "U3", "object"]


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npz(arrays: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in arrays.items():
            z.writestr(name + ".npy", data)
    return buf.getvalue()


@st.composite
def hostile_factor(draw, name: str) -> bytes:
    """One npy member: Strassen's factor in a drawn dtype, with a drawn extreme value, or a
    forged header."""
    dtype = draw(st.sampled_from(DTYPES))
    arr = ARRAYS[name]
    if dtype == "object":
        a = np.empty(arr.shape, dtype=object)
        a[...] = arr
    else:
        a = arr.astype(dtype)
    if dtype not in ("bool", "U3", "object") and draw(st.booleans()):
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
        extreme = draw(st.sampled_from([info.max, info.min, 2**31, 2**62, 2**63]))
        try:
            with np.errstate(all="ignore"):
                a.flat[draw(st.integers(0, a.size - 1))] = extreme
        except (OverflowError, ValueError):
            pass
        if np.dtype(dtype).kind in "fc" and draw(st.booleans()):
            a.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    data = _npy(a)
    if draw(st.integers(0, 3)) == 0:  # forge the header's shape
        claimed = draw(st.sampled_from(["(100000000000, 100000)", "(4, 7000)", "(-4, 7)", "(4,)",
                                        "()", "(0, 7)", "(99999999999999999999,)"]))
        data = data.replace(str(arr.shape).encode(), claimed.encode(), 1)
    return data


@st.composite
def hostile_npz(draw) -> bytes:
    members = {k: draw(hostile_factor(k)) for k in ("u", "v", "w")}
    if draw(st.booleans()):
        members["shape"] = _npy(np.array(draw(st.lists(
            st.integers(-(2**63), 2**63 - 1), min_size=0, max_size=4)), dtype=np.int64))
    data = _npz(members)
    cut = draw(st.sampled_from([None, None, None, 10, len(data) // 2, len(data) - 5]))
    return data if cut is None else data[:cut]


def _exact_factors(data: bytes) -> dict[str, list] | None:
    """The factors as Python numbers, read by numpy without any conversion (None: unreadable)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: [[Fraction(int(x)) if isinstance(x, int) else Fraction(x) for x in row]
                        for row in z[k].tolist()] for k in ("u", "v", "w")}
    except Exception:
        return None


def _same_as_file(written, factors) -> bool:
    s = load_scheme(written)
    n, m, p = s.shape
    wc_ct = s.Wc.reshape(n, p, -1).transpose(1, 0, 2).reshape(p * n, -1)
    got = {"u": s.Wa.T.tolist(), "v": s.Wb.T.tolist(), "w": wc_ct.tolist()}
    return all([[Fraction(x) for x in row] for row in got[k]] == factors[k] for k in "uvw")


@SETTINGS
@given(data=hostile_npz(), pickle=st.booleans())
def test_alphatensor_npz(tmp_path, data, pickle):
    f = tmp_path / "f.npz"
    f.write_bytes(data)
    out = tmp_path / "out.json"
    before = snapshot(tmp_path)
    r = run_cli("import", f, "--from", "alphatensor", "-o", out, *(["--allow-pickle"] if pickle else []))
    assert_clean(r)
    assert "--allow-pickle" not in r.err or "Python objects" in r.err
    assert changed(before, snapshot(tmp_path)) <= {str(out)}
    if r.rc == 0:  # verified: then every number was read exactly (no wraparound)
        factors = _exact_factors(data)
        assert factors is None or _same_as_file(out, factors)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400),
                      st.sampled_from([b"PK\x03\x04", b"\x93NUMPY", b"\x80\x04K\x01.", b"{}"])))
def test_alphatensor_random_bytes_never_ask_for_pickle(tmp_path, data):
    f = tmp_path / "f.npz"
    f.write_bytes(data)
    r = run_cli("import", f, "--from", "alphatensor")
    assert_clean(r, allowed=(2,))
    assert "allow-pickle" not in r.err


@st.composite
def hostile_perminov(draw) -> str:
    d = json.loads(perminov_text(strassen()))
    field = draw(st.sampled_from(["n", "m", "z2", "u", "v", "w", "coef", "raw"]))
    if field == "coef":
        key = draw(st.sampled_from("uvw"))
        d[key][draw(st.integers(0, 6))][draw(st.integers(0, 3))] = draw(json_value)
    elif field == "raw":
        return json.dumps(d).replace('"u": [[1', '"u": [[' + draw(st.sampled_from(
            ["1e999999999", "NaN", "Infinity", "9" * 5000, "1.00000000000000000000001", "1e18"])), 1)
    else:
        d[field] = draw(json_value)
    return json.dumps(d)


@SETTINGS
@given(text=hostile_perminov())
def test_perminov_json(tmp_path, text):
    f = tmp_path / "p.json"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    r = run_cli("import", f, "--from", "perminov")
    assert_clean(r)
    if r.rc == 2:
        assert str(f) in r.err


@st.composite
def hostile_fast_matmul(draw) -> str:
    lines = fast_matmul_text(strassen()).splitlines()
    k = draw(st.integers(1, len(lines) - 1))
    toks = lines[k].split()
    if toks:
        toks[draw(st.integers(0, len(toks) - 1))] = draw(number_text).replace("\n", " ") or "x"
    lines[k] = " ".join(toks)
    return "\n".join(lines) + "\n"


@SETTINGS
@given(text=hostile_fast_matmul())
def test_fast_matmul_text(tmp_path, text):
    f = tmp_path / "f.txt"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    r = run_cli("import", f, "--from", "fast-matmul")
    assert_clean(r)
