"""The benchmark scripts refuse bad arguments the project's way: one line `error: ...` on stderr,
exit 2, no traceback, before any work (nothing written, nothing searched); and additions.py
writes where --out says, never into results/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
TMP = "{tmp}"  # replaced by the test's tmp_path

BAD = [
    ("additions.py", ["--seconds", "-1", "--out", f"{TMP}/add"]),
    ("additions.py", ["--seeds", "0", "--out", f"{TMP}/add"]),
    ("additions.py", ["--out", f"{TMP}/file/add"]),  # under a regular file
    ("blas_vs_strassen.py", ["--sizes", "abc", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--sizes", "0", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--sizes", "-5", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--repeat", "0", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--outputs", "bogus", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--dtypes", "float16", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--levels", "-1", "--out", f"{TMP}/b"]),
    ("blas_vs_strassen.py", ["--sizes", "64", "--repeat", "1", "--out", f"{TMP}/file/b"]),
    ("lift_yield.py", ["2,2,2:x", "--out", f"{TMP}/l.md"]),
    ("lift_yield.py", ["2,2,2:7", "--seeds", "-1", "--out", f"{TMP}/l.md"]),
    ("numerical_components.py", ["2,2,2", "--out", f"{TMP}/n.md"]),
    ("numerical_throughput.py", ["--shapes", "2,2", "--out", f"{TMP}/nt"]),
    ("numerical_throughput.py", ["--batch", "0", "--out", f"{TMP}/nt"]),
    ("pool_walks.py", ["--shapes", "2,2,2"]),
    ("spn_rate.py", ["--shape", "2,2,2", "--out", f"{TMP}/s"]),
    ("spn_rate.py", ["--seeds", "0", "--out", f"{TMP}/s"]),
    ("coverage_table.py", ["--shapes", "2,2", "--out", f"{TMP}/c"]),
    ("walk_drops.py", ["2,2", "--out", f"{TMP}/w.md"]),
    ("walk_drops.py", ["2,2,2", "--steps", "0", "--out", f"{TMP}/w.md"]),
    ("frontier.py", ["--shapes", "2,2", "--work", f"{TMP}/work"]),
    ("frontier.py", ["--shapes", "3,2,2", "--work", f"{TMP}/work"]),  # no best-known rank tabulated
    ("ternary_speed.py", ["--steps", "-5"]),
    ("nn_speed.py", ["--reps", "0", "--out", f"{TMP}/nn"]),
    ("nn_speed.py", ["--model", "bogus", "--out", f"{TMP}/nn"]),
    ("search_speed.py", ["--seeds", "-1"]),
    ("finish_points.py", ["/nonexistent_dir", "--out", f"{TMP}/fp"]),
    ("rescue_share.py", ["--shapes", "2,2,2:0", "--out", f"{TMP}/r.md"]),
    ("train_sweep.py", ["--grid", "/nonexistent.json", "--runs-dir", f"{TMP}/runs",
                        "--results", f"{TMP}/sw"]),
    ("fit_rate.py", ["--seeds", "-1", "--out", f"{TMP}/fr"]),
    ("numerical_search.py", ["--case", "als-222", "--case", "bogus", "--out", f"{TMP}/ns"]),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: (size, mtime in ns)."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def results_untouched():
    before = snapshot(RESULTS)
    yield
    assert snapshot(RESULTS) == before, "a benchmark script wrote into results/"


def run(script: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("script", "args"), BAD, ids=[f"{s}:{' '.join(a)}" for s, a in BAD])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, results_untouched, script, args):
    (tmp_path / "file").write_text("a regular file\n")
    proc = run(script, [a.replace(TMP, str(tmp_path)) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""  # refused before any work
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


def test_a_blas_output_under_a_file_is_named_before_the_benchmark(tmp_path):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "b"
    proc = run("blas_vs_strassen.py", ["--sizes", "64", "--repeat", "1", "--out", str(out)])
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: --out {out}.md: ")
    assert "not a directory" in proc.stderr


def test_the_shared_parsers():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_common as bc
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert bc.positive_int("2e7") == 20_000_000 and bc.nonnegative_int("0") == 0
    assert bc.case_arg("2,3,4:20") == ((2, 3, 4), 20) and bc.shape_arg("3x3x4") == (3, 3, 4)
    assert bc.number_list(bc.positive_int)("1024,2048") == [1024, 2048]
    for parse, text in ((bc.positive_int, "0"), (bc.positive_int, "1.5"), (bc.positive_int, "1_0"),
                        (bc.positive_int, "٣"), (bc.nonnegative_int, "-1"), (bc.positive_float, "nan"),
                        (bc.positive_float, "0"), (bc.shape_arg, "2,2"), (bc.shape_arg, "2,2,0"),
                        (bc.case_arg, "2,2,2"), (bc.case_arg, "2,2,2:0"), (bc.case_arg, "2,2,2:7:8"),
                        (bc.number_list(bc.positive_int), ""), (bc.choice_list(("a", "b")), "a,c")):
        with pytest.raises(ValueError, match=repr(text).replace("\\", "\\\\")):
            parse(text)


def test_additions_writes_where_out_says(tmp_path, results_untouched):
    out = tmp_path / "new" / "additions"  # a missing folder is made, as before
    proc = run("additions.py", ["--seconds", "1", "--seeds", "1", "--out", str(out)], timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [r["scheme"] for r in rows[:3]] == ["Strassen", "Strassen–Winograd (expanded)", "Laderman"]
    assert sum(r["scheme"] == "minimize seed 0" for r in rows) == 2  # ⟨2,2,2;7⟩ and ⟨3,3,3;23⟩
    assert "python benchmarks/additions.py --seconds 1 --seeds 1" in out.with_suffix(".md").read_text()
