"""benchmarks/train_sweep.py: a grid of real `fastmm train` runs, tabulated per seed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.nn.test_data import write_idx_dataset

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "train_sweep.py"


def sweep(tmp_path: Path, grid: list[dict] | str, *extra: str) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    if not data.exists():
        write_idx_dataset(data, n_train=48, n_test=20)
    grid_path = tmp_path / "grid.json"
    grid_path.write_text(grid if isinstance(grid, str) else json.dumps(grid))
    common = (f"--dataset fashion-mnist --data-dir {data} --model resnet8 --width 0.25 "
              "--batch-size 16 --eval-every 0")
    cmd = [sys.executable, str(SCRIPT), "--grid", str(grid_path), "--common", common,
           "--runs-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "out" / "sweep"), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


GRID = [
    {"name": "dense", "args": "--stages full --epochs 1"},
    {"name": "st", "args": "--r-ratio 1 --stages ternary,finetune --epochs 1,1 --lr 0.1,0.001"},
]


def test_sweep_trains_every_entry_and_seed_and_reuses_finished_runs(tmp_path):
    done = sweep(tmp_path, GRID, "--seeds", "0,1", "--parallel", "2")
    assert done.returncode == 0, done.stderr
    table = json.loads((tmp_path / "out" / "sweep.json").read_text())
    rows = {row["name"]: row for row in table["rows"]}
    assert set(rows) == {"dense", "st"}
    for row in rows.values():
        assert set(row["runs"]) == {"0", "1"}
        accs = [run["test_acc"] for run in row["runs"].values()]
        assert abs(row["mean_acc"] - sum(accs) / 2) < 1e-12
    assert set(rows["st"]["runs"]["0"]["acc_by_stage"]) == {"ternary", "finetune"}
    assert set(rows["dense"]["runs"]["1"]["acc_by_stage"]) == {"full"}
    final = tmp_path / "runs" / "st-s1" / "final.json"
    assert json.loads(final.read_text())["args"]["seed"] == 1
    md = (tmp_path / "out" / "sweep.md").read_text()
    assert "| st | `--r-ratio 1 --stages ternary,finetune" in md

    before = final.stat().st_mtime_ns
    again = sweep(tmp_path, GRID, "--seeds", "0,1")
    assert again.returncode == 0, again.stderr
    assert final.stat().st_mtime_ns == before  # finished runs are not trained again
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["rows"] == table["rows"]


def test_deadline_stops_the_sweep_and_reports_nothing_unfinished(tmp_path):
    done = sweep(tmp_path, GRID, "--deadline", "0")
    assert done.returncode == 0, done.stderr
    assert "deadline" in done.stdout
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())["rows"]
    assert [row["mean_acc"] for row in rows] == [None, None]


def test_a_failing_run_makes_the_sweep_fail_after_reporting_the_rest(tmp_path):
    grid = [GRID[0], {"name": "broken", "args": "--r-ratio -1 --stages full --epochs 1"}]
    done = sweep(tmp_path, grid)
    assert done.returncode == 1
    assert "1 run(s) failed: broken-s0" in done.stderr
    rows = {row["name"]: row for row in json.loads((tmp_path / "out" / "sweep.json").read_text())["rows"]}
    assert rows["dense"]["mean_acc"] is not None and rows["broken"]["mean_acc"] is None


def test_bad_grid_is_one_line(tmp_path):
    done = sweep(tmp_path, '{"name": "not a list"}')
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert "expected a JSON list" in done.stderr
