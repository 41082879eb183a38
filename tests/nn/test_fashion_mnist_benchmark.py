"""benchmarks/fashion_mnist.py end to end on generated IDX files: runs, KD teacher, table, plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.nn.test_data import write_idx_dataset

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "fashion_mnist.py"


def bench(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"), "--width", "0.25",
           "--train-subset", "32", "--batch-size", "16", "--runs-dir", str(tmp_path / "runs"),
           "--results", str(tmp_path / "results"), "--only", "st-r2-p2-kd", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_table_from_real_runs_with_the_default_schedule(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=48, n_test=20)
    done = bench(tmp_path, "--epochs", "1,1")
    assert done.returncode == 0, done.stderr
    table = json.loads((tmp_path / "results" / "table.json").read_text())
    rows = {row["name"]: row for row in table["runs"]}
    assert set(rows) == {"fp", "st-r2-p2-kd"}
    st = rows["st-r2-p2-kd"]
    assert set(st["acc_by_stage"]) == {"ternary", "finetune"}  # the default: ternary from the start
    assert st["epochs"] == [1, 1]
    assert "--kd-teacher" in st["command"] and "fp/last.pt" in st["command"]
    assert "--kd-lambda 0.3 --kd-temp 4" in st["command"] and "--lr 0.1,0.001" in st["command"]
    fp = rows["fp"]
    assert fp["epochs"] == [2] and "--stages full --epochs 2" in fp["command"]
    assert st["mults"] < 0.05 * fp["mults"]  # r=2c_out, p=2 at width 0.25: 4% (1.1% at width 1)
    assert (tmp_path / "results" / "accuracy_vs_mults.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "results" / "table.md").read_text()
    assert "stages ternary,finetune with epochs 1,1 and lr 0.1,0.001" in md

    # the same runs directory refuses a different configuration instead of mixing runs
    other = bench(tmp_path, "--epochs", "2,1")
    assert other.returncode != 0
    assert "was made by another command" in other.stderr


def test_paper_stages_on_request(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=48, n_test=20)
    done = bench(tmp_path, "--stages", "full,ternary,finetune", "--epochs", "1,1,1",
                 "--lr", "0.1,0.01,0.001")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads((tmp_path / "results" / "table.json").read_text())["runs"]}
    assert set(rows["st-r2-p2-kd"]["acc_by_stage"]) == {"full", "ternary", "finetune"}
    assert rows["fp"]["epochs"] == [3]


def test_new_rows_merge_into_an_existing_table_and_seeds_summarize(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=48, n_test=20)
    results = tmp_path / "results"
    assert bench(tmp_path, "--epochs", "1,1").returncode == 0  # fp and st-r2-p2-kd
    done = bench(tmp_path, "--epochs", "1,1", "--runs-dir", str(tmp_path / "runs2"), "--only", "twn,ttq",
                 "--merge")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads((results / "table.json").read_text())["runs"]}
    assert list(rows) == ["fp", "st-r2-p2-kd", "twn", "ttq"]  # plan order
    assert rows["fp"]["reused"] and rows["st-r2-p2-kd"]["reused"]
    assert "reused" not in rows["twn"] and rows["twn"]["quant"] == "twn"
    assert "--quant ttq --lr 0.1,0.001 --stages ternary,finetune --epochs 1,1" in rows["ttq"]["command"]
    assert rows["twn"]["mults"] == rows["fp"]["mults"]  # the paper's convention for TWN
    assert rows["twn"]["mults_factored"] < rows["twn"]["mults"] / 10
    assert rows["twn"]["size_bits"] < rows["fp"]["size_bits"] / 5
    md = (results / "table.md").read_text()
    assert "| full precision † | no |" in md and "| TWN | no |" in md and "# † reused" in md
    for name in ("accuracy_vs_mults.png", "accuracy_vs_size.png"):
        assert (results / name).read_bytes()[:4] == b"\x89PNG"

    # a table made with other settings is not merged into
    other = bench(tmp_path, "--epochs", "2,1", "--runs-dir", str(tmp_path / "runs3"), "--only", "twn",
                  "--merge")
    assert other.returncode != 0 and "made with other settings (epochs_st)" in other.stderr

    # a second seed, then mean ± spread over the two
    seed1 = tmp_path / "results1"
    done = bench(tmp_path, "--epochs", "1,1", "--seed", "1", "--runs-dir", str(tmp_path / "runs_s1"),
                 "--results", str(seed1), "--only", "twn")
    assert done.returncode == 0, done.stderr
    summary = tmp_path / "seeds"
    done = subprocess.run([sys.executable, str(SCRIPT), "--summarize", str(results), str(seed1),
                           "--results", str(summary)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    seeds = {row["name"]: row for row in json.loads((summary / "seeds.json").read_text())["runs"]}
    accs = [rows["twn"]["test_acc"], json.loads((seed1 / "table.json").read_text())["runs"][0]["test_acc"]]
    assert seeds["twn"]["seeds"] == [0, 1] and seeds["twn"]["accs"] == accs
    assert seeds["twn"]["test_acc"] == sum(accs) / 2
    assert seeds["twn"]["acc_spread"] == (max(accs) - min(accs)) / 2
    assert seeds["fp"]["seeds"] == [0] and seeds["fp"]["acc_spread"] is None
    assert (summary / "accuracy_vs_mults.png").exists()
    assert "| TWN | no | 2 |" in (summary / "seeds.md").read_text()
