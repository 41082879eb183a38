"""Additions before and after shared subexpressions, and what `--minimize additions` reaches.

    python benchmarks/additions.py [--seconds 20] [--seeds 3] [--out results/additions]

Writes <out>.md and <out>.json (default results/additions.md and .json). Counts come from
fastmm.export.slp.count_additions (greedy CSE over Wa, Wb and Wc) on reference schemes,
on the schemes fastmm found (results/schemes), and on the schemes returned by
`fastmm search N M P --rank R --minimize additions` run in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import ArgumentParser, check_outputs, positive_float, positive_int

from fastmm import __version__
from fastmm.export.slp import count_additions
from fastmm.io import atomic_write_text, load_scheme
from fastmm.metrics import plain_additions
from fastmm.reference import laderman, strassen, winograd

ROOT = Path(__file__).resolve().parents[1]


def row(name: str, scheme, how: str, note: str = "") -> dict:
    r = {"scheme": name, "shape": list(scheme.shape), "rank": scheme.rank, "how": how,
         "plain": plain_additions(scheme), "shared": count_additions(scheme, cse=True)}
    if note:
        r["note"] = note
    return r


def made_by(provenance: dict) -> str:
    """What a shipped scheme's command needs beside it to be read right today: the version that
    ran it when it is not this one, and the method when the command leaves it to the default
    (0.1.0's default was flip, today's auto picks pool for most shapes)."""
    parts = []
    if provenance.get("version") and provenance["version"] != __version__:
        parts.append(f"fastmm {provenance['version']}")
    command, method = provenance.get("command", ""), provenance.get("method")
    if method and command.startswith("fastmm search") and "--method" not in command:
        parts.append(f"method {method}")
    if provenance.get("backend") and parts:
        parts.append(f"{provenance['backend']} walk")
    return ", ".join(parts)


def minimized(shape: tuple[int, int, int], rank: int, seconds: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.json"
        cmd = ["fastmm", "search", *map(str, shape), "--rank", str(rank), "--minimize", "additions",
               "--time-limit", str(seconds), "--seed", str(seed), "-q", "--no-sympy", "-o", str(out)]
        proc = subprocess.run([sys.executable, "-m", "fastmm", *cmd[1:]], capture_output=True,
                              text=True, cwd=tmp)
        if proc.returncode != 0:
            return {"scheme": f"minimize seed {seed}", "command": " ".join(cmd), "error": proc.stderr.strip()}
        r = row(f"minimize seed {seed}", load_scheme(out), " ".join(cmd[:-2]))
        r["command"] = " ".join(cmd[:-2])
        return r


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=positive_float, default=20.0, help="time limit of each minimize run")
    ap.add_argument("--seeds", type=positive_int, default=3, help="minimize runs per shape")
    ap.add_argument("--out", default=str(ROOT / "results" / "additions"),
                    help="output path without extension (default results/additions)")
    args = ap.parse_args(argv)
    check_outputs(ap, args.out, (".md", ".json"))
    out = Path(args.out)
    rows = [
        row("Strassen", strassen(), "fastmm.reference"),
        row("Strassen–Winograd (expanded)", winograd(), "fastmm.reference"),
        row("Laderman", laderman(), "fastmm.reference"),
        row("Strassen⊗Strassen", strassen().kron(strassen()), "Scheme.kron"),
    ]
    for path in sorted((ROOT / "results" / "schemes").glob("*.json")):
        s = load_scheme(path)
        rows.append(row(path.name, s, s.provenance.get("command", ""), made_by(s.provenance)))
    for shape, rank in (((2, 2, 2), 7), ((3, 3, 3), 23)):
        for seed in range(args.seeds):
            r = minimized(shape, rank, args.seconds, seed)
            r["shape"], r["rank"] = list(shape), rank
            rows.append(r)
            print(r, flush=True)
    load = os.getloadavg()
    lines = [
        "# Additions: plain and with shared subexpressions",
        "",
        f"Command: `python benchmarks/additions.py --seconds {args.seconds:g} --seeds {args.seeds}` "
        f"(load average {load[0]:.1f} at the end). Counts are binary additions/subtractions of one "
        "recursion level; 'shared' is fastmm's greedy common-subexpression elimination "
        "(`fastmm show`, `fastmm export --to slp`). A shipped scheme's command is the one recorded in "
        "its file; in brackets, the version that ran it where it is not this one and the method its "
        "command left to the default (today's `--method auto` picks another walk, so add `--method "
        "flip` to reproduce those; the walks have changed since 0.1.0, so a rerun may find another "
        "scheme of the rank).",
        "",
        "| scheme | shape;rank | plain | shared | how |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        shape = "⟨{},{},{};{}⟩".format(*r["shape"], r["rank"])
        if "error" in r:
            lines.append(f"| {r['scheme']} | {shape} | – | – | failed: {r['error']} |")
        else:
            note = f" ({r['note']})" if r.get("note") else ""
            lines.append(f"| {r['scheme']} | {shape} | {r['plain']} | {r['shared']} | `{r['how']}`{note} |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
