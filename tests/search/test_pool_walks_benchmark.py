"""benchmarks/pool_walks.py: GF(2) and ternary pools side by side, one line per search and a summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_both_walks_search_each_seed_and_the_summary_counts_them():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pool_walks.py"), "--shapes", "2,2,3:11",
                           "--seeds", "2", "--time-limit", "60"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    runs = [json.loads(line) for line in lines[:4]]
    assert [(r["seed"], r["walk"]) for r in runs] == [(0, "gf2"), (0, "ternary"), (1, "gf2"), (1, "ternary")]
    assert all(r["found"] == 11 and r["shape"] == [2, 2, 3] for r in runs)
    assert lines[4].startswith("⟨2,2,3;11⟩ gf2: 2 of 2 within 60 s (")
    assert lines[5].startswith("⟨2,2,3;11⟩ ternary: 2 of 2 within 60 s (")


def test_the_polish_kind_runs_gf2_pools_with_ternary_polish():
    args = ["--shapes", "2,3,3:15", "--seeds", "1", "--time-limit", "60", "--walks", "polish",
            "--polish-steps", "1000"]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pool_walks.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    run = json.loads(lines[0])
    assert (run["seed"], run["walk"], run["found"]) == (0, "polish", 15)
    assert lines[1].startswith("⟨2,3,3;15⟩ polish: 1 of 1 within 60 s (")
