"""The command line for the core: verify, show, search's input checks; one line, exit codes."""

import json
import subprocess
import sys

import pytest

from fastmm.io import dumps
from fastmm.reference import laderman, strassen


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_verify_valid_files(tmp_path):
    (tmp_path / "s.json").write_text(dumps(strassen()))
    (tmp_path / "l.json").write_text(dumps(laderman()))
    r = run("verify", str(tmp_path / "s.json"), str(tmp_path / "l.json"))
    assert r.returncode == 0, r.stderr
    assert "⟨2,2,2;7⟩ valid over ZT" in r.stdout and "⟨3,3,3;23⟩ valid over ZT" in r.stdout
    assert "sympy proof" in r.stdout


def test_verify_names_failing_entries_and_exits_1(tmp_path):
    d = json.loads(dumps(strassen()))
    d["Wc"][1][2] = 0
    (tmp_path / "bad.json").write_text(json.dumps(d))
    r = run("verify", str(tmp_path / "bad.json"))
    assert r.returncode == 1
    assert "C12: missing a11*b12" in r.stdout and "C12: extra a11*b22" in r.stdout
    assert "Traceback" not in r.stderr


def test_verify_summary_counts_invalid_and_unreadable_files(tmp_path):
    d = json.loads(dumps(strassen()))
    d["Wc"][1][2] = 0
    (tmp_path / "bad.json").write_text(json.dumps(d))
    (tmp_path / "good.json").write_text(dumps(strassen()))
    (tmp_path / "empty.json").write_text("")
    r = run("verify", *(str(tmp_path / f) for f in ("good.json", "bad.json", "empty.json")))
    assert r.returncode == 2  # an unreadable file is a usage error, the worst of the three
    assert r.stderr.splitlines()[-1] == ("error: 2 of 3 scheme files failed verification "
                                         "(1 invalid, 1 unreadable)")


def test_verify_rejects_wrong_ring_claim(tmp_path):
    d = json.loads(dumps(strassen()))
    d["Wa"][0] = [2, 0, 0, 2]  # M1 doubled ...
    for row in d["Wc"]:
        row[0] = "1/2" if row[0] == 1 else ("-1/2" if row[0] == -1 else 0)  # ... and halved
    (tmp_path / "q.json").write_text(json.dumps(d))
    r = run("verify", str(tmp_path / "q.json"))
    assert r.returncode == 1
    assert "declares ring ZT but its coefficients need Q" in r.stdout
    d["ring"] = "Q"
    (tmp_path / "q.json").write_text(json.dumps(d))
    r = run("verify", str(tmp_path / "q.json"))
    assert r.returncode == 0 and "valid over Q" in r.stdout


def test_verify_unreadable_file_exits_2_with_one_line(tmp_path):
    (tmp_path / "t.json").write_text('{"format": "fastmm.scheme", "shape": [2, 2')
    r = run("verify", str(tmp_path / "t.json"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "not valid JSON" in r.stderr


def test_show_prints_figures(tmp_path):
    (tmp_path / "s.json").write_text(dumps(strassen()))
    r = run("show", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "rank 7" in out and "ZT" in out
    assert "M1 = (A11 + A22)·(B11 + B22)" in out and "C11 = M1 + M4 − M5 + M7" in out
    assert "additions: 18 plain" in out and "stability factor E: 12" in out
    assert "6×(1,1,1) + 1×(2,2,2)" in out


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["search", "0", "2", "2", "--rank", "7"], 2, "N must be a positive integer"),
        (["search", "2", "2", "2", "--rank", "0"], 2, "the rank must be a positive integer"),
        (["search", "2", "2", "2", "--rank", "-3"], 2, "the rank must be a positive integer"),
        (["search", "2", "2", "2", "--rank", "6"], 2, "rank ≥ 7 is proven (Winograd 1971)"),
        (["search", "3", "3", "3", "--rank", "18"], 2, "Bläser 2003"),
        (["search", "2", "3", "4", "--rank", "11"], 2, "flattening bound"),
        (["search", "9", "2", "2", "--rank", "30"], 2, "beyond the search limit"),
        (["search", "2", "2", "x", "--rank", "7"], 2, "is not a valid integer"),
        (["search", "2", "2", "2"], 2, "Missing option '--rank'"),
        (["search", "2", "2", "2", "--rank", "7", "--time-limit", "0"], 2, "finite positive number"),
        (["search", "2", "2", "2", "--rank", "7", "--time-limit", "nan"], 2, "finite positive number"),
        (["search", "2", "2", "2", "--rank", "7", "--time-limit", "inf"], 2, "finite positive number"),
        (["search", "2", "2", "3", "--rank", "11", "--symmetry", "c3"], 2, "needs a square shape"),
        (["search", "2", "2", "2", "--rank", "7", "--method", "nope"], 2, "unknown method 'nope'"),
        (["search", "2", "2", "3", "--rank", "11", "--option", "pool_sise=3"], 2,
         "unknown flip option(s): pool_sise (known: "),
        (["search", "3", "3", "3", "--rank", "23", "--option", "plateau"], 2, "--option wants KEY=VALUE"),
        (["search", "3", "3", "3", "--rank", "23", "--option", "batch=8"], 2, "use --batch instead"),
        (["search", "3", "3", "3", "--rank", "23", "--option", "a=1", "--option", "a=2"], 2, "given twice"),
    ],
)
def test_search_bad_input(tmp_path, args, code, message):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_search_rank_at_least_naive_returns_naive_at_once(tmp_path):
    r = run("search", "2", "3", "2", "--rank", "12", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "naive algorithm" in r.stdout
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["2x3x2-rank12-ZT.json"]
    r2 = run("verify", str(files[0]))
    assert r2.returncode == 0
    # a second run never overwrites the first file
    run("search", "2", "3", "2", "--rank", "12", cwd=tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["2x3x2-rank12-ZT-2.json", "2x3x2-rank12-ZT.json"]


def test_search_222_rank7_prints_formulas_and_writes_verified_file(tmp_path):
    r = run("search", "2", "2", "2", "--rank", "7", "--seed", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "M1 = " in r.stdout and "C22 = " in r.stdout
    assert "ring: ZT" in r.stdout and "written: 2x2x2-rank7-ZT.json" in r.stdout
    d = json.loads((tmp_path / "2x2x2-rank7-ZT.json").read_text())
    assert d["verified"]["ok"] is True and d["verified"]["sympy"].startswith("proved")
    assert d["provenance"]["method"] == "flip" and d["provenance"]["seed"] == 3
    assert run("verify", str(tmp_path / "2x2x2-rank7-ZT.json")).returncode == 0
    shown = run("show", str(tmp_path / "2x2x2-rank7-ZT.json")).stdout
    assert "equivalent to catalogued 2x2x2-rank7-ZT.json" in shown


def test_search_z2_is_labelled_modulo_2_everywhere(tmp_path):
    r = run("search", "2", "2", "2", "--rank", "7", "--ring", "Z2", "-o", "z.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "z.json").read_text())
    assert d["ring"] == "Z2"  # a GF(2) walk result is labelled as such, always
    assert "valid modulo 2 only" in r.stdout
    assert "valid modulo 2 only" in run("verify", str(tmp_path / "z.json")).stdout
    assert "valid modulo 2 only" in run("show", str(tmp_path / "z.json")).stdout


def test_search_distinct_collects_inequivalent_schemes(tmp_path):
    r = run("search", "2", "2", "3", "--rank", "11", "--distinct", "2", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["2x2x3-rank11-ZT-2.json", "2x2x3-rank11-ZT.json"]


def test_search_distinct_with_out_writes_file_then_numbered_siblings(tmp_path):
    out = tmp_path / "mine.json"
    r = run("search", "2", "2", "3", "--rank", "11", "--distinct", "2", "--no-sympy", "-o", str(out),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["mine-2.json", "mine.json"]
    for f in tmp_path.iterdir():
        assert run("verify", str(f), "--no-sympy").returncode == 0

def test_search_distinct_falling_short_says_how_many_once(tmp_path):
    # ⟨2,2,3;11⟩ has far more than 2 inequivalent schemes, but not 400 within 2 s
    r = run("search", "2", "2", "3", "--rank", "11", "--distinct", "400", "--time-limit", "2", "-q",
            "--no-sympy", cwd=tmp_path)
    written = sorted(tmp_path.iterdir())
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and 2 <= len(written) < 400
    found = f"error: found {len(written)} of 400 inequivalent ⟨2,2,3;11⟩ schemes within 2 s"
    assert r.stderr.startswith(found)
    assert r.stderr.count("inequivalent") == 1



def test_search_refuses_an_empty_out_name(tmp_path):
    r = run("search", "2", "2", "2", "--rank", "7", "-o", "", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: --out: the file name is empty\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape, rank", [(("1", "1", "1"), "1"), (("2", "2", "2"), "8")])
def test_distinct_at_the_naive_rank_is_refused(tmp_path, shape, rank):
    """At rank >= n·m·p the answer is the naive scheme alone: more than one is never promised."""
    r = run("search", *shape, "--rank", rank, "--distinct", "3", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "(--distinct 3) need a rank below" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_distinct_strassen_is_refused_by_theorem(tmp_path):
    r = run("search", "2", "2", "2", "--rank", "7", "--distinct", "2", cwd=tmp_path)
    assert r.returncode == 2 and "de Groote 1978" in r.stderr  # refused up front: bad input


def test_search_time_limit_reports_best_and_known_rank(tmp_path):
    r = run("search", "3", "3", "3", "--rank", "19", "--time-limit", "2", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1
    assert "no ⟨3,3,3⟩ scheme of rank 19 over ZT within 2 s" in r.stderr
    assert "best known ZT rank for this shape: 23" in r.stderr
    assert "best rank reached" in r.stderr
    saved = sorted(tmp_path.iterdir())
    # the best valid scheme, and a lower one valid modulo 2 only where the walk kept one
    valid = [x for x in saved if not x.name.endswith("-Z2.json")]
    assert len(valid) == 1 and len(saved) <= 2
    assert all(run("verify", "--no-sympy", str(x)).returncode == 0 for x in saved)
    assert (len(saved) == 2) == ("the modulo-2 scheme is in" in r.stderr), r.stderr


def test_ctrl_c_stops_cleanly_and_keeps_the_best_scheme(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "3", "3", "4", "--rank", "28",
                             "--method", "flip", "--no-sympy"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "before the interrupt; best rank reached" in err and "Traceback" not in err
    saved = sorted(tmp_path.iterdir())
    # the best valid scheme, and a lower one valid modulo 2 only where the walk kept one
    valid = [x for x in saved if not x.name.endswith("-Z2.json")]
    assert len(valid) == 1 and len(saved) <= 2
    assert all(run("verify", "--no-sympy", str(x)).returncode == 0 for x in saved)
    assert (len(saved) == 2) == ("the modulo-2 scheme is in" in err), err


def test_missing_optional_dependency_is_one_line(tmp_path):
    # a sitecustomize that hides torch, as on a machine where it is not installed
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    import os

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "fastmm", "count", "--model", "resnet20"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    want = "error: this command needs torch: pip install 'fastmm[nn]' torch==2.13.0 (the CPU build)"
    assert r.stderr.strip() == want


def test_engine_belongs_to_spn_and_chooses_its_engine(tmp_path):
    """--engine with another method is one line and exit 2; with spn each engine records itself."""
    pytest.importorskip("torch")
    bad = run("search", "2", "2", "2", "--rank", "7", "--method", "pool", "--engine", "single",
              cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "--engine" in bad.stderr
    assert not list(tmp_path.iterdir())
    for engine, optimizer in (("batched", "adam"), ("single", None)):
        out = tmp_path / f"{engine}.json"
        done = run("search", "2", "2", "2", "--rank", "7", "--method", "spn", "--engine", engine,
                   "--seed", "1", "--no-sympy", "-q", "--out", str(out))
        assert done.returncode == 0, done.stderr
        prov = json.loads(out.read_text())["provenance"]
        assert prov["method"] == "spn" and prov.get("optimizer") == optimizer


def test_search_option_reaches_the_method_and_the_provenance(tmp_path):
    """--option KEY=VALUE: JSON values (numbers here) go to the method's own options; the
    command that made the scheme, options included, is kept in the file."""
    r = run("search", "2", "2", "3", "--rank", "11", "--method", "flip", "--option", "plateau=3000",
            "--option", "backend=python", "--no-sympy", "-q", "-o", "s.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["provenance"]["backend"] == "python"
    assert "--option plateau=3000" in saved["provenance"]["command"]


def test_show_says_whether_a_square_scheme_is_c3_symmetric(tmp_path):
    from fastmm.scheme import naive_scheme

    for name, scheme, line in [("s", strassen(), "yes modulo 2 (1 cube + 2 orbits of 3"),
                               ("l", laderman(), ": no"), ("n", naive_scheme(2, 2, 3), None)]:
        (tmp_path / f"{name}.json").write_text(dumps(scheme))
        r = run("show", f"{name}.json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        found = [x for x in r.stdout.splitlines() if x.startswith("C3 symmetry")]
        assert (found == []) if line is None else (len(found) == 1 and line in found[0])


def test_distinct_checks_every_sibling_name_before_searching(tmp_path):
    (tmp_path / "x-2.json").mkdir()
    r = run("search", "2", "2", "3", "--rank", "11", "--distinct", "2", "-o", "x.json", "--no-sympy",
            cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "x-2.json: is a directory" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-2.json"]


def test_every_command_that_writes_a_scheme_takes_out_and_o(tmp_path):
    """search, finish and lift spell it --out; combine, export and import --output: each takes both."""
    s7 = tmp_path / "s7.json"
    s7.write_text(dumps(strassen()))
    for flag in ("--out", "--output", "-o"):
        k = tmp_path / f"k{flag}.json"
        r = run("combine", "kron", str(s7), str(s7), flag, str(k), "--no-sympy")
        assert r.returncode == 0 and k.exists(), r.stderr
        t = tmp_path / f"t{flag}.txt"
        r = run("export", str(k), "--to", "perminov", flag, str(t))
        assert r.returncode == 0 and t.exists(), r.stderr
        back = tmp_path / f"b{flag}.json"
        r = run("import", str(t), "--from", "perminov", flag, str(back))
        assert r.returncode == 0 and json.loads(back.read_text())["rank"] == 49, r.stderr
