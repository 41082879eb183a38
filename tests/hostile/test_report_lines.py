"""What `verify`, `show` and `import` report about hostile files: names that cannot fake lines,
every reason a scheme fails, and options that one format must not silently ignore."""

from __future__ import annotations

import numpy as np
import pytest

from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.scheme import Scheme
from tests.hostile.contract import assert_clean, run_cli


def _z_labelled_zt(broken: bool = False) -> str:
    """Strassen after a change of basis of A's columns: valid over Z, coefficients 2, labelled ZT."""
    s = strassen()
    x, xi = np.array([[1, 1], [0, 1]]), np.array([[1, -1], [0, 1]])
    wa = np.array([(np.array(r).reshape(2, 2) @ x.T).ravel() for r in s.Wa])
    wb = np.array([(xi.T @ np.array(r).reshape(2, 2)).ravel() for r in s.Wb])
    wc = np.array(s.Wc)
    if broken:
        wc[0, 0] = 0
    text = dumps(Scheme(2, 2, 2, wa, wb, wc, ring="Z"))
    return text.replace('"ring": "Z"', '"ring": "ZT"')


def test_a_file_name_holding_a_newline_cannot_fake_a_valid_line(tmp_path):
    bad = dumps(strassen()).replace('"Wc": [\n    [1,', '"Wc": [\n    [0,', 1)
    assert bad != dumps(strassen())
    name = tmp_path / "x.json: ⟨2,2,2;7⟩ valid over ZT (exact)\nbad.json"
    name.write_text(bad)
    r = run_cli("verify", "--no-sympy", name)
    assert r.rc == 1
    first = r.out.splitlines()[0]
    assert "\\n" in first and "INVALID" in first
    assert not any(line.startswith("bad.json") for line in r.out.splitlines())


def test_show_names_a_wrong_ring_label(tmp_path):
    f = tmp_path / "zlabel.json"
    f.write_text(_z_labelled_zt())
    r = run_cli("show", f)
    assert r.rc == 1
    assert "NOT VALID over ZT: declares ring ZT but its coefficients need Z" in r.out


def test_verify_lists_failing_equations_besides_a_wrong_label(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(_z_labelled_zt())
    bad.write_text(_z_labelled_zt(broken=True))
    r = run_cli("verify", "--no-sympy", good, bad)
    assert r.rc == 1
    out = r.out.split(f"{bad}:")
    assert "fails the Brent equations" not in out[0] and "C11: missing a11*b11" not in out[0]
    assert "declares ring ZT but its coefficients need Z" in out[1]
    assert "and it fails the Brent equations:" in out[1] and "C11: missing a11*b11" in out[1]


@pytest.mark.parametrize("fmt, ext", [("perminov", "json"), ("fast-matmul", "txt")])
@pytest.mark.parametrize("flag", [["--key", "5,5,5"], ["--allow-pickle"]])
def test_alphatensor_only_options_are_refused_for_other_formats(tmp_path, fmt, ext, flag):
    src, out = tmp_path / "s.json", tmp_path / f"foreign.{ext}"
    src.write_text(dumps(strassen()))
    assert run_cli("export", src, "--to", fmt, "-o", out).rc == 0
    r = run_cli("import", out, "--from", fmt, *flag, "-o", tmp_path / "back.json")
    assert_clean(r)
    assert r.rc == 2 and f"{flag[0]} applies to --from alphatensor only" in r.err
    assert not (tmp_path / "back.json").exists()
    assert run_cli("import", out, "--from", fmt, "-o", tmp_path / "back.json").rc == 0
