"""benchmarks/walk_drops.py: do flip walks lower the rank from a start? (real walks, small shapes)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "walk_drops.py"


def test_naive_2x2x2_drops_to_strassen_rank_and_the_table_is_written(tmp_path):
    out = tmp_path / "res" / "drops.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "2,2,2", "--steps", "20000", "--walks", "3",
                           "--constructions", "0", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ⟨2,2,2⟩")]
    # every walk from the naive 8 reaches 7 (Strassen) and none goes lower (7 is proven optimal)
    assert rows == ["| ⟨2,2,2⟩ | naive⟨2,2,2⟩ | 8 | 3/3 | 7 | 7×3 | " + rows[0].split(" | ")[-1]]
    assert "python benchmarks/walk_drops.py 2,2,2 --steps 20000 --walks 3" in out.read_text()


def test_a_start_at_the_proven_bound_never_drops():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from walk_drops import walk_lows
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from fastmm.catalog import load_catalog_scheme
    from fastmm.search.terms import to_terms

    strassen = to_terms(load_catalog_scheme((2, 2, 2)))
    lows = walk_lows(strassen, steps=50_000, walks=2, plus=2, plateau=1_000, backend="python", seed=1)
    assert lows == [7, 7]
