"""`fastmm bench FILE --size N`: time generated code against numpy.matmul (torch.matmul for --impl
torch) and measure its error."""

from __future__ import annotations

import json
import os

import click

from fastmm.cli import cli
from fastmm.cli.numbers import INT
from fastmm.errors import FastmmError, InputError


def _sizes(text: str) -> list[int]:
    from fastmm.bench import MAX_SIZE  # here: numpy is imported by what runs a command, not by --help

    shown = text if len(text) <= 40 else text[:40] + "..."
    parts = [x.strip() for x in text.split(",") if x.strip()]
    if len(parts) > 64 or any(len(x) > 6 or not x.isascii() or not x.isdigit() for x in parts):
        raise InputError(f"--sizes must be a comma-separated list of at most 64 sizes in "
                         f"1..{MAX_SIZE}, got {shown!r}")
    sizes = [int(x) for x in parts]
    if not sizes or min(sizes) < 1:
        raise InputError(f"--sizes must list positive integers, got {shown!r}")
    return sizes


@cli.command()
@click.argument("file")
@click.option("--size", type=INT, default=None, help="N: multiply N×N by N×N (default 1024).")
@click.option("--levels", type=INT, default=1, show_default=True, help="Recursion levels of the scheme.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--impl", type=click.Choice(["c", "numpy", "torch"]), default="c", show_default=True,
              help="Generated code to time: compiled C (BLAS leaves), NumPy or PyTorch.")
@click.option("--repeat", type=INT, default=5, show_default=True, help="Interleaved timing pairs.")
@click.option("--cutoff", type=INT, default=64, show_default=True,
              help="Blocks smaller than this in any dimension go straight to the BLAS.")
@click.option("--seed", type=INT, default=0, show_default=True)
@click.option("--output", type=click.Choice(["fresh", "reuse"]), default="fresh", show_default=True,
              help="fresh: each call returns a new array (its page faults are timed); reuse (--impl c): "
                   "both sides write into arrays allocated before timing (out=).")
@click.option("--plot", "plot", default=None, metavar="FILE.png", help="Plot speed ratio against size.")
@click.option("--sizes", default=None, help="Sizes for --plot, e.g. 512,1024,2048.")
@click.option("--json", "json_out", default=None, metavar="FILE",
              help="Also write the results as JSON (atomically; an existing file is replaced).")
def bench(file: str, size: int | None, levels: int, dtype: str, impl: str, repeat: int, cutoff: int,
          seed: int, output: str, plot: str | None, sizes: str | None, json_out: str | None) -> int:
    """Time a scheme's generated code against numpy.matmul (torch.matmul with --impl torch; the
    same BLAS); print ratio and error.

    The ratio is the median over interleaved pairs of matmul time / generated time (>1: faster).
    The error is max|C - C_ref| / (max|A| max|B|) against a long double (float64) or float64
    (float32) reference, next to the bound (k0^2 + Q k0) E^L u from the stability factor E.
    """
    from fastmm.bench import bench as run_bench
    from fastmm.bench import check_bench_arguments, describe, effective_levels, plot_speedups
    from fastmm.io import load_scheme
    from fastmm.paths import check_output_path, write_atomic

    if sizes is not None:
        todo = _sizes(sizes)
        if size is not None and size not in todo:
            todo.append(size)
    else:
        todo = [size if size is not None else 1024]
    if min(todo) < 1:
        raise InputError(f"--size must be a positive integer, got {min(todo)}")
    check_bench_arguments(max(todo), [levels], dtype, impl, repeat, cutoff, output, seed)
    targets = {}
    for option, path in (("--plot", plot), ("--json", json_out)):
        if path:
            targets[option] = check_output_path(path, option, inputs=(file,))
    if len(targets) == 2 and targets["--plot"] == targets["--json"]:
        raise InputError(f"--plot and --json name the same file {plot}: the plot would be lost")
    scheme = load_scheme(file)
    if plot is None and sizes is not None and len(todo) > 1:
        click.echo("note: --sizes without --plot: timing every size anyway", err=True)
    results = []
    for n in sorted(todo):
        applied = effective_levels(scheme.shape, n, levels, cutoff)  # timed and reported as what runs
        r = run_bench(scheme, n, levels=applied, dtype=dtype, impl=impl, repeat=repeat, seed=seed,
                      cutoff=cutoff, output=output)
        if applied < levels:
            why = ("a ⟨1,1,1⟩ level never makes a block smaller, so one at most" if scheme.shape == (1, 1, 1)
                   and applied == 1 else
                   f"a level needs blocks of at least --cutoff {cutoff} in every dimension")
            click.echo(f"note: size {n}: {applied} of the {levels} level(s) asked apply ({why})", err=True)
        results.append(r)
        for line in describe(r):
            click.echo(line)
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5:
        click.echo(f"warning: load average {load:.1f} on {cores} cores: other work shared the CPU, "
                   "so these timings are noisy", err=True)
    if plot:
        plot_speedups(results, plot)
        click.echo(f"plot written to {plot}")
    if json_out:
        write_atomic(json_out, json.dumps([r.to_dict() for r in results], indent=2, allow_nan=False) + "\n")
        click.echo(f"results written to {json_out}")
    broken = [r.shape[0] for r in results if not r.finite]
    if broken:
        raise FastmmError(f"the generated code's result is not finite at size {', '.join(map(str, broken))} "
                          f"({dtype} overflows in this scheme): no speed reported there")
    return 0
