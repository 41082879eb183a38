"""Flip-graph search speed: one command, writes results/search_speed.md and .json.

    python benchmarks/search_speed.py [--seeds 10] [--quick] [--symmetric-only]

(a) steps per second of the plain-Python, the C and the numba GF(2) walk, side by side on the
    same walk (⟨3,3,3⟩ from the naive scheme, same seed; the first steps are checked to agree),
    and of the C and the numba walk on a big scheme (the catalogue's ⟨3,4,5;48⟩ modulo 2);
(b) `fastmm search 2 2 2 --rank 7` as a whole process (Python start-up included), 10 seeds,
    with the CLI defaults (sympy proof on) and with --no-sympy;
(c) `fastmm search 3 3 3 --rank 23 --ring ZT` as a whole process over 10 seeds: median,
    max, successes; every written scheme is re-verified here;
(d) where the 3×3×3 time goes: loading each compiled walk, and the search itself in-process;
(e) flips per second of the C and the numba C3-symmetric walk, side by side on the same walk
    (⟨5,5,5⟩ from the default split, ⟨6,6,6⟩ from Strassen ⊗ a symmetric ⟨3,3,3;23⟩), timed in
    alternating chunks so that other load slows both alike; both must end in the same state.
    --symmetric-only runs (e) alone and writes results/symmetric_speed.md and .json instead.
The machine's load average is recorded next to the figures: other work on the same cores
slows every number.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ArgumentParser, positive_int

from fastmm.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def walk_rates(py_seconds: float, fast_seconds: float) -> dict:
    from fastmm.scheme import naive_scheme
    from fastmm.search import flip_c
    from fastmm.search.flip import Walker, load_kernel
    from fastmm.search.terms import to_terms

    t0 = time.perf_counter()
    if flip_c.load() is None:
        raise SystemExit("the C walk is not available here (no C compiler?)")
    c_load = time.perf_counter() - t0  # the library is in the cache: this is its load alone
    t0 = time.perf_counter()
    load_kernel()  # the first numba use in this process: import numba and its cached kernel
    nb_load = time.perf_counter() - t0
    start = to_terms(naive_scheme(3, 3, 3))
    plateau = 20_000
    # the same walk on all three backends: check the first 20,000 steps agree
    walkers = {b: Walker(start, seed=7, backend=b, plus_limit=27) for b in ("python", "c", "numba")}
    for w in walkers.values():
        w.walk(20_000, 0, plateau, 27)
    agree = walkers["python"].terms() == walkers["c"].terms() == walkers["numba"].terms()

    def rate(w: Walker, seconds: float, chunk: int) -> tuple[float, int]:
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            done += w.walk(chunk, 0, plateau, 27)
        return done / (time.perf_counter() - t0), done

    py_rate, py_steps = rate(walkers["python"], py_seconds, 2_000)
    c_rate, c_steps = rate(walkers["c"], fast_seconds, 500_000)
    nb_rate, nb_steps = rate(walkers["numba"], fast_seconds, 500_000)
    return {
        "shape": [3, 3, 3],
        "plateau": plateau,
        "agree_first_20000_steps": agree,
        "python_steps_per_s": round(py_rate),
        "python_steps": py_steps,
        "c_steps_per_s": round(c_rate),
        "c_steps": c_steps,
        "numba_steps_per_s": round(nb_rate),
        "numba_steps": nb_steps,
        "ratio": round(nb_rate / py_rate, 1),
        "ratio_c_python": round(c_rate / py_rate, 1),
        "ratio_c_numba": round(c_rate / nb_rate, 2),
        "c_load_s": round(c_load, 4),
        "kernel_load_s": round(nb_load, 3),
    }


def big_rates(steps: int) -> dict:
    """The C and the numba walk on ⟨3,4,5;48⟩ modulo 2 (48 terms), `steps` steps each, same seed."""
    from fastmm.io import load_scheme
    from fastmm.search.flip import Walker, reduce_terms
    from fastmm.search.terms import to_terms

    path = ROOT / "fastmm" / "data" / "catalog" / "3x4x5-rank48-ZT.json"
    start = reduce_terms(to_terms(load_scheme(path)))
    r0 = len(start[0])
    out: dict = {"scheme": path.name, "gf2_rank": r0, "steps": steps}
    ends = {}
    for backend in ("c", "numba"):
        w = Walker(start, seed=1, backend=backend, plus_limit=r0 + 2)
        t0 = time.perf_counter()
        done = w.walk(steps, 0, 20_000, r0 + 2)
        out[f"{backend}_steps_per_s"] = round(done / (time.perf_counter() - t0))
        ends[backend] = w.terms()
    out["same_walk"] = ends["c"] == ends["numba"]
    out["ratio_c_numba"] = round(out["c_steps_per_s"] / out["numba_steps_per_s"], 2)
    return out


def symmetric_rates(steps: int, chunk: int = 250_000) -> list[dict]:
    """The C and the numba symmetric walks (C3, and C3 × J for `--symmetry c3j`), `steps` flips
    each from the same start and seed."""
    import numpy as np

    from fastmm.api import search
    from fastmm.reference import strassen
    from fastmm.search import flip_c
    from fastmm.search.symmetric import PLATEAU, SymWalker, cube_groups, pair_central, split_scheme, start

    if flip_c.load_symmetric() is None or flip_c.load_symmetric6() is None:
        raise SystemExit("the C symmetric walk is not available here (no C compiler?)")
    s3 = search((3, 3, 3), 23, method="symmetric", seed=0, sympy=False)
    groups = cube_groups(5, 93)
    cubes = ", ".join("+".join(f"E{i + 1}{i + 1}" for i in g) for g in groups)
    groups6 = cube_groups(6, 153, orbit=6)
    cubes6 = ", ".join("+".join(f"E{i + 1}{i + 1}" for i in g) for g in groups6)
    starts = [(5, 3, f"default split (cubes {cubes})", start(5, groups)),
              (6, 3, "Strassen ⊗ symmetric ⟨3,3,3;23⟩", split_scheme(strassen().kron(s3))),
              (6, 6, f"c3j: default split (cubes {cubes6})", pair_central(6, start(6, groups6)))]
    rows = []
    for n, orbit, label, split in starts:
        r0 = len(split[1]) + orbit * len(split[0])
        walkers = {b: SymWalker(n, split, 1, b, r0, orbit) for b in ("c", "numba")}  # numba loaded here
        seconds = dict.fromkeys(walkers, 0.0)
        done = dict.fromkeys(walkers, 0)
        while done["c"] < steps:
            for b, w in walkers.items():
                t0 = time.perf_counter()
                done[b] += w.walk(min(chunk, steps - done[b]), 0, PLATEAU[n], r0)
                seconds[b] += time.perf_counter() - t0
        c, nb = walkers["c"], walkers["numba"]
        same = all(np.array_equal(getattr(c, x), getattr(nb, x)) for x in ("F", "E", "st", "rng"))
        rate = {b: done[b] / seconds[b] for b in walkers}
        rows.append({"shape": [n, n, n], "orbit": orbit, "start": label, "start_rank": r0,
                     "plateau": PLATEAU[n],
                     "steps": done["c"], "end_rank": c.rank, "lowest_rank": int(c.st[3]),
                     "c_flips_per_s": round(rate["c"]), "numba_flips_per_s": round(rate["numba"]),
                     "ratio_c_numba": round(rate["c"] / rate["numba"], 2), "same_state": same})
    return rows


def _symmetric_lines(sym: list[dict]) -> list[str]:
    md = ["| shape | start | start rank | flips each | C flips/s | numba flips/s | C / numba "
          "| same end state |", "|---|---|---|---|---|---|---|---|"]
    for r in sym:
        n = r["shape"][0]
        md.append(f"| ⟨{n},{n},{n}⟩ | {r['start']} | {r['start_rank']} | {r['steps']:,} | "
                  f"{r['c_flips_per_s']:,} | {r['numba_flips_per_s']:,} | **{r['ratio_c_numba']}×** | "
                  f"{r['same_state']} |")
    return md + ["", "Plateau as in `--method symmetric` (plus transitions after that many flips "
                 "without a change of rank), up to the start rank. The C and the numba walk run the "
                 "same walk (same seed) in alternating chunks of 250,000 flips. c3j flips change "
                 "orbits of six terms, the others orbits of three."]


def _print_symmetric(sym: list[dict]) -> None:
    for r in sym:
        n = r["shape"][0]
        print(f"(e) symmetric ⟨{n},{n},{n}⟩ from {r['start_rank']}: C {r['c_flips_per_s']:,} flips/s, "
              f"numba {r['numba_flips_per_s']:,} flips/s, C / numba {r['ratio_c_numba']}x, "
              f"same state={r['same_state']}", flush=True)


def symmetric_only(quick: bool) -> int:
    """(e) alone: results/symmetric_speed.md and .json."""
    load_before = os.getloadavg()
    sym = symmetric_rates(2_000_000 if quick else 10_000_000)
    _print_symmetric(sym)
    load_after = os.getloadavg()
    if not all(r["same_state"] for r in sym):
        print("FAILED: the C and the numba symmetric walks differ", file=sys.stderr)
        return 1
    record = {"command": "python benchmarks/search_speed.py --symmetric-only" + (" --quick" if quick else ""),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_before": [round(x, 2) for x in load_before],
                          "loadavg_after": [round(x, 2) for x in load_after]},
              "symmetric_walk_rates": sym}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    atomic_write_text(out / "symmetric_speed.json", json.dumps(record, indent=2) + "\n")
    md = ["# Symmetric walk speed (C3: `--symmetry c3`; C3 × J: `--symmetry c3j`)", "",
          f"Command: `{record['command']}` ({os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after: other work on the "
          "same cores slows both walks alike).", "", *_symmetric_lines(sym), ""]
    atomic_write_text(out / "symmetric_speed.md", "\n".join(md))
    print(f"wrote {out / 'symmetric_speed.md'} and .json")
    return 0


def cli_runs(args: list[str], seeds: int, workdir: Path, verify_ring: str | None) -> dict:
    from fastmm.io import load_scheme
    from fastmm.verify import verify

    times, ok, found_in, methods, backends, errors = [], 0, [], set(), set(), []
    # as after `pip install`: bytecode cached. Some sandboxes set PYTHONDONTWRITEBYTECODE, which
    # makes every run recompile fastmm (~0.1 s); one untimed run writes the cache first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(["fastmm", *args, "--seed", "0", "--out", str(workdir / "warm.json"), "-q"],
                   capture_output=True, cwd=workdir, env=env)
    for seed in range(seeds):
        out = workdir / f"{'-'.join(args)}-{seed}.json".replace(" ", "")
        cmd = ["fastmm", *args, "--seed", str(seed), "--out", str(out), "-q"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0 and not errors:
            errors.append(((proc.stderr or proc.stdout).strip().splitlines() or ["?"])[-1])
        if proc.returncode == 0 and out.exists():
            s = load_scheme(out)
            v = verify(s, use_sympy=False)
            if v.ok and (
                verify_ring is None or v.ring == verify_ring or (verify_ring == "Z" and v.ring == "ZT")
            ):
                ok += 1
                found_in.append(s.provenance.get("seconds"))
                methods.add(str(s.provenance.get("method")))
                backends.add(str(s.provenance.get("backend")))
    return {
        "command": "fastmm " + shlex.join(args) + " --seed S --out FILE -q",
        "seeds": seeds,
        "successes": ok,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "min_s": round(min(times), 3),
        "times_s": [round(t, 3) for t in times],
        "search_seconds_reported": found_in,
        "methods": sorted(methods),
        "backends": sorted(backends),
        "first_error": errors[0] if errors else None,
    }


def in_process(seeds: int, rates: dict) -> dict:
    """fastmm.search.flip.run on 3x3x3 rank 23 ZT in this process (walk already loaded)."""
    from fastmm.search.base import SearchTask
    from fastmm.search.flip import run
    from fastmm.verify import verify

    times, steps, ok, backends = [], [], 0, set()
    for seed in range(seeds):
        t0 = time.perf_counter()
        out = run(SearchTask(3, 3, 3, 23, "ZT", seed=seed, time_limit=60), lambda p: None,
                  lambda: False)
        times.append(time.perf_counter() - t0)
        steps.append(out.steps)
        if out.scheme is not None:
            backends.add(out.scheme.provenance["backend"])
            v = verify(out.scheme, use_sympy=False)
            ok += int(v.ok and v.ring == "ZT")
    return {"c_load_s": rates["c_load_s"], "kernel_load_s": rates["kernel_load_s"],
            "backends": sorted(backends), "seeds": seeds, "successes": ok,
            "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "median_steps": int(statistics.median(steps)), "times_s": [round(t, 3) for t in times]}


def _line(label: str, r: dict, seeds: int) -> None:
    print(f"{label} {r['command']}: median {r['median_s']} s, max {r['max_s']} s, "
          f"{r['successes']}/{seeds}", flush=True)


def main() -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=positive_int, default=10)
    ap.add_argument("--quick", action="store_true", help="shorter rate measurement")
    ap.add_argument("--symmetric-only", action="store_true",
                    help="only (e), written to results/symmetric_speed.md and .json")
    args = ap.parse_args()
    if args.symmetric_only:
        return symmetric_only(args.quick)

    load_before = os.getloadavg()
    t_py, t_fast = (1.0, 0.5) if args.quick else (4.0, 2.0)
    rates = walk_rates(t_py, t_fast)
    print(f"(a) walk: python {rates['python_steps_per_s']:,} steps/s, C "
          f"{rates['c_steps_per_s']:,} steps/s, numba {rates['numba_steps_per_s']:,} steps/s, "
          f"C / numba {rates['ratio_c_numba']}x, agree={rates['agree_first_20000_steps']}",
          flush=True)
    big = big_rates(5_000_000 if args.quick else 20_000_000)
    print(f"    ⟨3,4,5;48⟩: C {big['c_steps_per_s']:,} steps/s, numba {big['numba_steps_per_s']:,} "
          f"steps/s, C / numba {big['ratio_c_numba']}x, same walk={big['same_walk']}", flush=True)
    big_args = ["search", "3", "3", "3", "--rank", "23", "--ring", "ZT", "--time-limit", "60"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        small = cli_runs(["search", "2", "2", "2", "--rank", "7"], args.seeds, work, "ZT")
        _line("(b)", small, args.seeds)
        small_ns = cli_runs(["search", "2", "2", "2", "--rank", "7", "--no-sympy"], args.seeds,
                            work, "ZT")
        _line("   ", small_ns, args.seeds)
        cube = cli_runs(big_args, args.seeds, work, "ZT")
        _line("(c)", cube, args.seeds)
        cube_ns = cli_runs(big_args + ["--no-sympy"], args.seeds, work, "ZT")
        _line("   ", cube_ns, args.seeds)
    failed = [r for r in (small, small_ns, cube, cube_ns) if r["successes"] == 0]
    if failed:  # a broken install, not a slow search: do not overwrite the results with it
        for r in failed:
            print(f"FAILED: {r['command']}: {r['first_error']}", file=sys.stderr)
        return 1
    method = in_process(args.seeds, rates)
    print(f"(d) in-process flip.run 3x3x3 rank 23 ZT: C walk load {method['c_load_s']} s, numba "
          f"{method['kernel_load_s']} s; search median {method['median_s']} s, max "
          f"{method['max_s']} s", flush=True)
    sym = symmetric_rates(2_000_000 if args.quick else 10_000_000)
    _print_symmetric(sym)
    load_after = os.getloadavg()
    if not all(r["same_state"] for r in sym):
        print("FAILED: the C and the numba symmetric walks differ", file=sys.stderr)
        return 1

    record = {
        "command": "python benchmarks/search_speed.py" + (" --quick" if args.quick else "")
                   + (f" --seeds {args.seeds}" if args.seeds != 10 else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "walk_rates": rates,
        "walk_rates_345_rank48": big,
        "search_222_rank7": small, "search_222_rank7_no_sympy": small_ns,
        "search_333_rank23_ZT": cube, "search_333_rank23_ZT_no_sympy": cube_ns,
        "in_process_333_rank23_ZT": method,
        "symmetric_walk_rates": sym,
    }
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    atomic_write_text(out / "search_speed.json", json.dumps(record, indent=2) + "\n")
    md = [
        "# Flip-graph search speed",
        "",
        f"Command: `{record['command']}` ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after: other work on the same cores slows every figure).",
        "",
        "## (a) GF(2) walk, steps per second (⟨3,3,3⟩ from the naive scheme, same seed)",
        "",
        "| walk | steps/s | steps timed |",
        "|---|---|---|",
        f"| plain Python | {rates['python_steps_per_s']:,} | {rates['python_steps']:,} |",
        f"| C | {rates['c_steps_per_s']:,} | {rates['c_steps']:,} |",
        f"| numba | {rates['numba_steps_per_s']:,} | {rates['numba_steps']:,} |",
        "",
        f"Ratio numba / Python: **{rates['ratio']}×**, C / numba: **{rates['ratio_c_numba']}×**. "
        f"The three walks agree on the first 20,000 steps: {rates['agree_first_20000_steps']}.",
        "",
        f"On a big scheme ({big['scheme']} modulo 2, {big['gf2_rank']} terms, "
        f"{big['steps']:,} steps each): C {big['c_steps_per_s']:,} steps/s, numba "
        f"{big['numba_steps_per_s']:,} steps/s, C / numba **{big['ratio_c_numba']}×**; the two "
        f"end on the same scheme: {big['same_walk']}.",
        "",
        "## (b), (c) whole process (`fastmm` started in a subprocess, Python start-up included)",
        "",
        "| command | method used | walk | seeds | successes | median s | max s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (small, small_ns, cube, cube_ns):
        md.append(f"| `{r['command']}` | {', '.join(r['methods'])} | {', '.join(r['backends'])} | "
                  f"{r['seeds']} | {r['successes']} | {r['median_s']} | {r['max_s']} |")
    md += [
        "",
        "Successes count schemes written, re-read and re-verified exactly (Brent equations over Z)"
        " in the ring asked for. The CLI's default also proves each scheme with sympy (its import"
        " alone is a large part of the default figures); --no-sympy keeps the exact Brent check.",
        "",
        "## (d) where the 3×3×3 time goes (one process, `fastmm.search.flip.run`)",
        "",
        f"Loading the C walk (the library compiled once into the user's cache) takes "
        f"{method['c_load_s']} s once per process, against {method['kernel_load_s']} s for the "
        f"numba kernel (import numba, its typing registry, the cached machine code), which the "
        f"search no longer needs when a C compiler is at hand. The search itself (GF(2) walk "
        f"({', '.join(method['backends'])}) to rank 23, sign lifting, restarts) takes a median "
        f"{method['median_s']} s, max {method['max_s']} s, median {method['median_steps']:,} "
        f"steps, {method['successes']}/{method['seeds']} verified ZT schemes.",
        "",
        "## (e) C3-symmetric walk, flips per second (`--method symmetric`)",
        "",
        *_symmetric_lines(sym),
        "",
    ]
    atomic_write_text(out / "search_speed.md", "\n".join(md))
    print(f"wrote {out / 'search_speed.md'} and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
