"""benchmarks/numerical_search.py and numerical_throughput.py: device/option naming, merging runs
made elsewhere (the GPU machine), bad merge files; and the search's save_fitted option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmm.search.base import SearchTask
from fastmm.search.rounding import float_residual
from fastmm.search.runner import run_search

ROOT = Path(__file__).resolve().parents[2]


def bench(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_case_names_say_device_and_options():
    ns = bench("numerical_search")
    assert ns.case_key("als-233", {}) == "als-233"
    assert ns.case_key("als-233", {"device": "cpu"}) == "als-233"
    assert ns.case_key("als-233", {"device": "cuda", "batch": 1024}) == "als-233@cuda,batch=1024"
    assert ns.parse_options(["batch=1024", "frames=false", "note=x=y"]) == {
        "batch": 1024, "frames": False, "note": "x=y"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        ns.parse_options(["batch"])


def test_a_real_search_is_stored_then_merged_into_another_table(tmp_path):
    here, there = tmp_path / "here" / "ns", tmp_path / "there" / "ns"
    proc = run("numerical_search.py", "--case", "als-222", "--seeds", "2", "--time-limit", "30",
               "--option", "batch=32", "--out", str(there))
    assert proc.returncode == 0, proc.stderr
    cases = json.loads(there.with_suffix(".json").read_text())["cases"]
    case = cases["als-222,batch=32"]
    assert case["success_per_search"] == "2/2" and case["options"]["batch"] == 32
    assert all(r["restart_sweeps"] > 0 and r["restart_sweeps_per_second"] > 0 for r in case["runs"])
    proc = run("numerical_search.py", "--merge", str(there.with_suffix(".json")), "--out", str(here))
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(here.with_suffix(".json").read_text())["cases"]) == ["als-222,batch=32"]
    assert "| als-222,batch=32 | ⟨2,2,2;7⟩ | ZT | 2/2 |" in here.with_suffix(".md").read_text()


def test_cpu_and_gpu_cases_are_set_side_by_side():
    ns = bench("numerical_search")
    row = {"success_per_search": "1/1", "median_restarts_per_second": 5.0,
           "median_restart_sweeps_per_second": 10.0, "median_seconds_to_verified": 1.0,
           "runs": [{"fitted": 3}], "time_limit": 20}
    lines = ns.cpu_against_gpu({"als-233": row, "als-233@cuda,batch=1024": row, "als-222": row})
    body = [line for line in lines if line.startswith("| als")]
    assert [line.split(" | ")[:2] for line in body] == [["| als-233", "CPU"],
                                                        ["| als-233@cuda,batch=1024", "GPU"]]
    assert ns.cpu_against_gpu({"als-233": row}) == []


@pytest.mark.parametrize("script", ["numerical_search.py", "numerical_throughput.py"])
def test_a_bad_merge_file_is_one_line(tmp_path, script):
    bad = tmp_path / "bad.json"
    for text in ("", "[1, 2]", '{"other": {}}'):
        bad.write_text(text)
        proc = run(script, "--merge", str(bad), "--out", str(tmp_path / "out"))
        assert proc.returncode == 2
        assert "not a results file of this benchmark" in proc.stderr.splitlines()[-1]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_throughput_rows_and_the_best_of_each_table(tmp_path):
    out = tmp_path / "tp"
    proc = run("numerical_throughput.py", "--device", "cpu", "--threads", "1", "--batch", "8", "16",
               "--shapes", "2,2,2:7", "--optimizer", "als", "--seconds", "0.2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert sorted(rows) == ["cpu|1|2,2,2:7|als|16", "cpu|1|2,2,2:7|als|8"]
    assert all(r["steps"] >= 5 and r["restart_sweeps_per_second"] > 0 for r in rows.values())
    tp = bench("numerical_throughput")
    gpu = {**rows["cpu|1|2,2,2:7|als|16"], "device": "cuda", "threads": 0,
           "restart_sweeps_per_second": 10 * max(r["restart_sweeps_per_second"] for r in rows.values())}
    table = tp.best_of_each([*rows.values(), gpu])
    assert table[-1].startswith("| ⟨2,2,2;7⟩ | als |") and table[-1].endswith(" 10× |")


def test_save_fitted_keeps_every_fitted_point(tmp_path):
    task = SearchTask(2, 2, 2, rank=7, ring="ZT", seed=3, time_limit=30,
                      options={"save_fitted": str(tmp_path / "fitted"), "batch": 16})
    summary = run_search(task, "als", workers=1)
    assert summary.outcome.scheme is not None
    files = sorted((tmp_path / "fitted").glob("*.npz"))
    assert files and all(f.name.startswith("2x2x2-r7-seed3-restart") for f in files)
    assert not list((tmp_path / "fitted").glob(".*tmp"))
    for f in files:
        point = np.load(f)
        assert point["u"].shape == (7, 4) and point["w"].shape == (7, 4)
        assert float_residual((2, 2, 2), point["u"], point["v"], point["w"]) < 1e-20
        assert float(point["residual"]) < 1e-20


def test_shipped_fitted_points_are_what_they_claim():
    """results/numerical_points: float rank-32 decompositions of ⟨2,4,5⟩ from the GPU run."""
    doc = json.loads((ROOT / "results" / "numerical_points" / "2x4x5-r32-fitted.json").read_text())
    assert doc["shape"] == [2, 4, 5] and doc["rank"] == 32 and len(doc["points"]) == 12
    for point in doc["points"]:
        u, v, w = (np.array(point[k]) for k in ("Wa", "Wb", "WcT"))
        assert u.shape == (32, 8) and v.shape == (32, 20) and w.shape == (32, 10)
        assert float_residual((2, 4, 5), u, v, w) < 1e-25
        assert point["residual"] < 1e-25


def test_finish_points_tabulates_each_point(tmp_path):
    from fastmm.reference import strassen

    s = strassen()
    good = [np.array(x, dtype=float) for x in (s.Wa, s.Wb, s.Wc.T)]
    rng = np.random.default_rng(0)
    doc = {"shape": [2, 2, 2], "points": [
        {"Wa": good[0].tolist(), "Wb": good[1].tolist(), "WcT": good[2].tolist()},
        {k: rng.standard_normal((7, 4)).tolist() for k in ("Wa", "Wb", "WcT")}]}  # random: no scheme near
    points = tmp_path / "points.json"
    points.write_text(json.dumps(doc))
    out = tmp_path / "fp"
    proc = run("finish_points.py", str(points), "--time-limit", "20", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["point"], r["found"]) for r in rows] == [(1, True), (2, False)]
    assert rows[0]["ring"] == "ZT" and rows[0]["coefficients"] == "-1 0 1"
    assert "**1 of 2 points finished" in out.with_suffix(".md").read_text()


def test_components_kind_counts_factor_ranks():
    from fastmm.reference import strassen
    from fastmm.scheme import naive_scheme

    nc = bench("numerical_components")
    assert nc.kind(strassen()) == "6×(1,1,1) 1×(2,2,2)"  # only M1 = (A11+A22)(B11+B22) has rank 2
    assert nc.kind(naive_scheme(2, 2, 3)) == "12×(1,1,1)"


def test_components_collect_mode_hands_back_every_verified_scheme():
    nc = bench("numerical_components")
    found, counts = nc.als_schemes((2, 2, 2), 7, 0, 60.0, {"batch": 4})
    assert counts["restarts"] == 4 and 1 <= len(found) <= 4
    assert all(s.rank == 7 and s.shape == (2, 2, 2) for s in found)
