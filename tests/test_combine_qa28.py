"""QA 28: combining schemes valid modulo 2 only. A result whose coefficients are exact over the
integers is returned, reported and written with that ring (the library decides, the command
prints it); a result valid modulo 2 only is said to be so on the command's line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fastmm
from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.scheme import Scheme


def mod2_strassen() -> Scheme:
    """Strassen with one sign of A's sixth multiplication flipped: valid modulo 2 only."""
    s = strassen()
    wa = s.Wa.copy()
    assert wa[5, 0] == -1
    wa[5, 0] = 1
    return Scheme(2, 2, 2, wa, s.Wb, s.Wc, ring="Z2")


@pytest.fixture
def pm1() -> Scheme:
    """⟨1,2,2;4⟩ valid modulo 2 only: the mod-2 Strassen without A's first row."""
    out = fastmm.combine("project", mod2_strassen(), axis="n", index=0, sympy=False)
    assert (out.label(), out.ring) == ("⟨1,2,2;4⟩", "Z2")
    assert not fastmm.verify(out.with_meta(ring="Z"), sympy=False)  # not exact over the integers
    return out


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_a_projection_exact_over_zt_is_returned_over_zt(pm1):
    out = fastmm.combine("project", pm1, axis="m", index=0, sympy=False)
    assert (out.label(), out.ring) == ("⟨1,1,2;2⟩", "ZT")
    assert out.verified["ring"] == "ZT" and out.verified["ok"] is True
    assert out.verified["brent"] == "exact integer Brent equations"
    assert out.provenance == {"derived": "project", "from": ["⟨1,2,2;4⟩"], "axis": "m", "index": 0}


def test_a_result_valid_modulo_2_only_stays_z2(pm1):
    out = fastmm.combine("permute", pm1, shape=(2, 1, 2), sympy=False)
    assert (out.label(), out.ring) == ("⟨2,1,2;4⟩", "Z2")
    assert out.verified["ring"] == "Z2" and out.verified["brent"] == "Brent equations modulo 2"


def test_the_command_says_and_writes_the_ring_the_library_returns(tmp_path, pm1):
    (tmp_path / "pm1.json").write_text(dumps(pm1))
    r = run("combine", "project", "pm1.json", "--axis", "m", "--index", "0", "-o", "pm2.json", "--no-sympy",
            cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr == f"wrote {tmp_path / 'pm2.json'} (⟨1,1,2;2⟩, ring ZT, verified)\n"
    saved = json.loads((tmp_path / "pm2.json").read_text())
    assert (saved["ring"], saved["verified"]["ring"]) == ("ZT", "ZT")


def test_the_command_says_a_z2_result_is_valid_modulo_2_only(tmp_path, pm1):
    (tmp_path / "pm1.json").write_text(dumps(pm1))
    r = run("combine", "permute", "pm1.json", "--shape", "2,1,2", "-o", "pm3.json", "--no-sympy",
            cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr == (f"wrote {tmp_path / 'pm3.json'} (⟨2,1,2;4⟩, "
                        "ring Z2: GF(2) — valid modulo 2 only, verified modulo 2)\n")
    saved = json.loads((tmp_path / "pm3.json").read_text())
    assert (saved["ring"], saved["verified"]["ring"]) == ("Z2", "Z2")


def test_import_of_a_modulo_2_scheme_says_valid_modulo_2_only(tmp_path):
    from fastmm.export.formats import export_foreign

    (tmp_path / "m.json").write_text(export_foreign(mod2_strassen(), "perminov"))
    r = run("import", "m.json", "--from", "perminov", "-o", "out.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.endswith("(⟨2,2,2;7⟩, ring Z2: GF(2) — valid modulo 2 only, verified modulo 2)\n")
    assert json.loads((tmp_path / "out.json").read_text())["ring"] == "Z2"
