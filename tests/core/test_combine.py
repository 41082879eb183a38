"""`fastmm combine` / fastmm.combine: products, sums, projections, permutations, verified."""

import json
import subprocess
import sys

import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("op,schemes,kw,label", [
    ("kron", (strassen(), strassen()), {}, "⟨4,4,4;49⟩"),
    ("kron", (strassen(), laderman()), {}, "⟨6,6,6;161⟩"),
    ("sum", (laderman(), laderman()), {"axis": "n"}, "⟨6,3,3;46⟩"),
    ("sum", (strassen(), naive_scheme(2, 1, 2)), {"axis": "m"}, "⟨2,3,2;11⟩"),
    ("sum", (laderman(), naive_scheme(3, 3, 1)), {"axis": "p"}, "⟨3,3,4;32⟩"),
    ("project", (laderman(),), {"axis": "p", "index": 2}, None),
    ("permute", (naive_scheme(2, 3, 4),), {"shape": (4, 2, 3)}, "⟨4,2,3;24⟩"),
])
def test_combinations_are_verified_schemes(op, schemes, kw, label):
    out = fastmm.combine(op, *schemes, sympy=False, **kw)
    assert fastmm.verify(out, sympy=False) and out.verified
    assert out.provenance["derived"] == op
    if label:
        assert out.label() == label
    else:  # Laderman without C's third column: ⟨3,3,2⟩, the terms that vanish dropped
        assert out.shape == (3, 3, 2) and out.rank < 23


def test_kronecker_products_of_symmetric_schemes_start_symmetric_walks():
    from fastmm.search.symmetric import split_scheme

    s = strassen()
    reps, cubes = split_scheme(fastmm.combine("kron", s, s, sympy=False))
    assert (len(reps), len(cubes)) == (16, 1)


def _tampered() -> Scheme:
    s = laderman()
    wc = s.Wc.copy()
    wc[0, 0] = 1 - wc[0, 0]
    return Scheme(3, 3, 3, s.Wa, s.Wb, wc)


@pytest.mark.parametrize("op,schemes,kw,message", [
    ("kron", (strassen(), _tampered()), {}, "fails verification"),
    ("sum", (strassen(), laderman()), {"axis": "n"}, "cannot join"),
    ("sum", (strassen(), strassen()), {}, "needs an axis"),
    ("project", (strassen(),), {"axis": "p", "index": 2}, "cannot project"),
    ("project", (strassen(),), {"axis": "p", "index": -1}, "whole number"),
    ("project", (strassen(),), {"axis": "p"}, "needs the index"),
    ("permute", (strassen(),), {"shape": (2, 2, 3)}, "not a permutation"),
    ("kron", (laderman(), laderman(), laderman()), {}, "takes 2 scheme"),
    ("kron", (naive_scheme(8, 8, 8), naive_scheme(8, 8, 8)), {}, "more than a scheme file holds"),
    ("kron", (naive_scheme(9, 1, 1), naive_scheme(9, 1, 1)), {}, "beyond 64 per dimension"),
    ("twist", (strassen(),), {}, "unknown combination"),
    ("kron", (strassen(), "laderman.json"), {}, "not str"),
])
def test_bad_combinations_raise_one_input_error(op, schemes, kw, message):
    with pytest.raises(InputError, match=message):
        fastmm.combine(op, *schemes, sympy=False, **kw)


def test_cli_writes_the_verified_result_and_leaves_files_alone_on_errors(tmp_path):
    (tmp_path / "s.json").write_text(dumps(strassen()))
    (tmp_path / "t.json").write_text(dumps(_tampered()))
    r = run("combine", "kron", "s.json", "s.json", "-o", "s4.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "s4.json").read_text())
    assert saved["shape"] == [4, 4, 4] and saved["rank"] == 49 and saved["ring"] == "ZT"
    assert saved["provenance"]["from"] == ["⟨2,2,2;7⟩", "⟨2,2,2;7⟩"]
    before = (tmp_path / "s4.json").read_bytes()
    for args, message, code in [(["kron", "s.json", "t.json"], "fails verification", 1),
                                (["sum", "s.json", "s.json"], "n, m or p (--axis on the command line)", 2),
                                (["permute", "s.json", "--shape", "2,x,2"], "--shape wants N,M,P", 2),
                                (["kron", "s.json", "missing.json"], "no such file", 2)]:
        r = run("combine", *args, "-o", "s4.json", cwd=tmp_path)
        assert r.returncode == code and message in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert (tmp_path / "s4.json").read_bytes() == before


def test_the_command_records_how_to_make_the_scheme_again(tmp_path, capsys):
    """combine's provenance held only the operation and the labels, not the command that made it."""
    from fastmm.cli import main
    from fastmm.io import load_scheme

    (tmp_path / "s.json").write_text(dumps(strassen()))
    out = tmp_path / "k.json"
    with pytest.raises(SystemExit) as exc:
        main(["combine", "kron", str(tmp_path / "s.json"), str(tmp_path / "s.json"), "-o", str(out),
              "--no-sympy"])
    assert exc.value.code == 0
    prov = load_scheme(out).provenance
    s = tmp_path / "s.json"
    assert prov["command"] == f"fastmm combine kron {s} {s} -o {out} --no-sympy"
    assert prov["derived"] == "kron" and prov["from"] == ["⟨2,2,2;7⟩", "⟨2,2,2;7⟩"]
