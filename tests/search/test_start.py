"""`--start FILE` / options={"start": scheme}: walks from a given scheme, checked before anything runs."""

import json
import subprocess
import sys

import pytest

from fastmm import api
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_flip_walks_from_the_start_given_in_a_file(tmp_path):
    (tmp_path / "s.json").write_text(dumps(naive_scheme(3, 3, 4)))
    r = run("search", "3", "4", "3", "--rank", "33", "--start", "s.json", "--method", "flip", "--seed", "1",
            "--no-sympy",
            "-q", "-o", "out.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "out.json").read_text())
    prov = saved["provenance"]
    assert saved["shape"] == [3, 4, 3] and saved["rank"] <= 33
    assert prov["method"] == "flip"
    assert prov["start"] == "⟨3,4,3;36⟩"  # the ⟨3,3,4⟩ start, turned into the asked shape
    assert "--start s.json" in prov["command"]


def test_pool_walks_from_the_given_start_only():
    start = naive_scheme(3, 3, 3)
    req = api.SearchRequest((3, 3, 3), 23, time_limit=5, options={"start": start})
    assert req.method == "pool"  # auto with a start: the method auto picks for the shape, a walk
    found = api.search((3, 3, 3), 25, method="pool", seed=2, time_limit=60, sympy=False,
                       options={"start": start})
    assert found.rank <= 25 and api.verify(found, sympy=False)
    assert found.provenance["start"] == "⟨3,3,3;27⟩" and "catalog" not in found.provenance


def test_symmetric_walk_from_a_kronecker_product_of_symmetric_schemes():
    s = strassen()  # C3-symmetric: one cube and two orbits
    found = api.search((4, 4, 4), 49, method="symmetric", time_limit=30, sympy=False,
                       options={"start": s.kron(s)})
    assert found.rank == 49 and api.verify(found, sympy=False)
    assert found.provenance["start"] == "⟨4,4,4;49⟩" and found.provenance["start_cubes"] == 1


def _tampered_laderman() -> Scheme:
    s = laderman()
    wa = s.Wa.copy()
    wa[3, 4] = 1 - wa[3, 4]
    return Scheme(3, 3, 3, wa, s.Wb, s.Wc)


def _with_halves() -> Scheme:
    from fractions import Fraction

    s = strassen()
    wa, wc = s.Wa.astype(object), s.Wc.astype(object)
    wa[0] = wa[0] * 2
    wc[:, 0] = [Fraction(int(x), 2) for x in wc[:, 0]]
    return Scheme(2, 2, 2, wa, s.Wb, wc)


@pytest.mark.parametrize("start,shape,method,message", [
    (_tampered_laderman(), (3, 3, 3), "flip", "fails verification"),
    (laderman(), (3, 3, 3), "als", "the als method builds its own starts"),
    (laderman(), (3, 3, 3), "symmetric", "not C3-symmetric modulo 2"),
    (laderman(), (3, 3, 4), "flip", "does not fit ⟨3,3,4⟩"),
    (_with_halves(), (2, 2, 2), "flip", "has fractions"),
    ("laderman.json", (3, 3, 3), "flip", "must be a fastmm Scheme, not str"),
])
def test_bad_starts_are_refused_before_the_search(start, shape, method, message):
    with pytest.raises(InputError, match=message):
        api.SearchRequest(shape, 23, method=method, time_limit=5, options={"start": start})


def test_bad_start_files_exit_in_one_line_and_write_nothing(tmp_path):
    """Exit 2 for bad usage, 1 for a start file that fails verification (as README's exit codes
    and every other command reading a scheme have it)."""
    (tmp_path / "t.json").write_text(dumps(_tampered_laderman()))
    (tmp_path / "l.json").write_text(dumps(laderman()))
    for args, message, code in [(["--start", "t.json"], "fails verification", 1),
                                (["--start", "l.json", "--symmetry", "c3"], "not C3-symmetric", 2),
                                (["--start", "l.json", "--method", "als", "--ring", "Q"],
                                 "builds its own starts", 2),
                                (["--start", "missing.json"], "no such file", 2),
                                (["--option", "start=l.json"], "use --start instead", 2)]:
        r = run("search", "3", "3", "3", "--rank", "23", *args, "-o", "out.json", cwd=tmp_path)
        assert r.returncode == code, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and message in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "out.json").exists()


def test_a_start_and_a_checkpoint_go_together(tmp_path):
    (tmp_path / "l.json").write_text(dumps(laderman()))
    r = run("search", "3", "3", "3", "--rank", "23", "--start", "l.json", "--method", "flip",
            "--resume", "ck", "--no-sympy", "-q", "-o", "out.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    assert saved["method"] == "flip" and saved["best_rank"] == 23 and saved["status"] == "found"
    assert json.loads((tmp_path / "out.json").read_text())["provenance"]["start"] == "⟨3,3,3;23⟩"


def _strassen_mod_2() -> Scheme:
    """Strassen with every -1 made +1: valid modulo 2, not over the integers."""
    s = strassen()
    return Scheme(2, 2, 2, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")


@pytest.mark.parametrize("method", ["pool", "flip"])
def test_a_gf2_start_at_the_rank_asked_is_not_returned_for_ring_zt(method):
    start = _strassen_mod_2()
    assert api.verify(start, sympy=False).ring == "Z2"
    assert not api.verify(start.with_meta(ring="ZT"), sympy=False)
    found = api.search((2, 2, 2), 7, ring="ZT", method=method, seed=1, time_limit=60, sympy=False,
                       options={"start": start})
    assert found.ring == "ZT" and api.verify(found, sympy=False).ring == "ZT"
    assert not (found.Wa == start.Wa).all() or not (found.Wc == start.Wc).all()  # lifted: signs appear
