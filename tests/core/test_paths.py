"""fastmm.paths.write_new: default names are taken atomically, so concurrent writers never
overwrite each other (a check-then-write loop lost files when six searches ran at once)."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastmm.paths import OutputError, write_new


def test_write_new_takes_the_first_free_name(tmp_path):
    base = tmp_path / "s.json"
    assert write_new(base, "a") == base
    assert write_new(base, "b") == tmp_path / "s-2.json"
    (tmp_path / "s-3.json").mkdir()  # a folder in the way is skipped, not an error
    assert write_new(base, "c") == tmp_path / "s-4.json"
    assert [p.read_text() for p in (base, tmp_path / "s-2.json", tmp_path / "s-4.json")] == ["a", "b", "c"]


def test_concurrent_writers_each_get_their_own_file(tmp_path):
    base = tmp_path / "s.json"
    with ThreadPoolExecutor(16) as pool:
        paths = list(pool.map(lambda k: write_new(base, f"writer {k}"), range(64)))
    assert len(set(paths)) == 64
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == sorted(f"writer {k}" for k in range(64))


def test_concurrent_searches_keep_every_scheme(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7",
                               "--seed", str(k), "--no-sympy", "-q"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    written = sorted(line.removeprefix("written: ").rsplit("/", 1)[-1] for out, _ in outs
                     for line in out.splitlines()
                     if line.startswith("written: "))
    assert len(set(written)) == 6 and sorted(p.name for p in tmp_path.iterdir()) == written


def test_write_new_into_a_missing_folder_is_one_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write"):
        write_new(tmp_path / "missing" / "s.json", "a")
