"""`fastmm bench FILE --size N`: time generated code against numpy.matmul and measure its error."""

from __future__ import annotations

import json
import os

import click

from fastmm.cli import cli
from fastmm.errors import InputError


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--sizes must be a comma-separated list of integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"--sizes must list positive integers, got {text!r}")
    return sizes


@cli.command()
@click.argument("file")
@click.option("--size", type=int, default=None, help="N: multiply N×N by N×N (default 1024).")
@click.option("--levels", type=int, default=1, show_default=True, help="Recursion levels of the scheme.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--impl", type=click.Choice(["c", "numpy", "torch"]), default="c", show_default=True,
              help="Generated code to time: compiled C (BLAS leaves), NumPy or PyTorch.")
@click.option("--repeat", type=int, default=5, show_default=True, help="Interleaved timing pairs.")
@click.option("--cutoff", type=int, default=64, show_default=True,
              help="Blocks smaller than this in any dimension go straight to the BLAS.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", type=click.Choice(["fresh", "reuse"]), default="fresh", show_default=True,
              help="fresh: each call returns a new array (its page faults are timed); reuse (--impl c): "
                   "both sides write into arrays allocated before timing (out=).")
@click.option("--plot", "plot", default=None, metavar="FILE.png", help="Plot speed ratio against size.")
@click.option("--sizes", default=None, help="Sizes for --plot, e.g. 512,1024,2048.")
@click.option("--json", "json_out", default=None, metavar="FILE", help="Also write the results as JSON.")
def bench(file: str, size: int | None, levels: int, dtype: str, impl: str, repeat: int, cutoff: int,
          seed: int, output: str, plot: str | None, sizes: str | None, json_out: str | None) -> int:
    """Time a scheme's generated code against numpy.matmul (same BLAS); print ratio and error.

    The ratio is the median over interleaved pairs of numpy time / generated time (>1: faster).
    The error is max|C - C_ref| / (max|A| max|B|) against a long double (float64) or float64
    (float32) reference, next to the bound (k0^2 + Q k0) E^L u from the stability factor E.
    """
    from fastmm.bench import bench as run_bench
    from fastmm.bench import describe, plot_speedups
    from fastmm.io import atomic_write_text, load_scheme

    scheme = load_scheme(file)
    if sizes is not None:
        todo = _sizes(sizes)
        if size is not None and size not in todo:
            todo.append(size)
    else:
        todo = [size if size is not None else 1024]
    if plot is None and sizes is not None and len(todo) > 1:
        click.echo("note: --sizes without --plot: timing every size anyway", err=True)
    results = []
    for n in sorted(todo):
        r = run_bench(scheme, n, levels=levels, dtype=dtype, impl=impl, repeat=repeat, seed=seed,
                      cutoff=cutoff, output=output)
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
        atomic_write_text(json_out, json.dumps([r.to_dict() for r in results], indent=2) + "\n")
        click.echo(f"results written to {json_out}")
    return 0
