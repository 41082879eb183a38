"""`fastmm search N M P --rank R`: find an exact scheme, verify it, print and save it."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from fastmm import __version__
from fastmm.cli import cli
from fastmm.cli.progress import SearchProgress
from fastmm.errors import EXIT_FAILED, FastmmError, InputError

SEARCH_MAX_DIM = 8  # n·m, m·p and n·p fit in one 64-bit word in the flip-graph kernels


def check_request(n: int, m: int, p: int, rank: int) -> None:
    """Reject impossible or unsupported requests before any work (InputError / FastmmError)."""
    from fastmm.known_ranks import proven_lower_bound

    for name, value in (("N", n), ("M", m), ("P", p)):
        if value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value}")
        if value > SEARCH_MAX_DIM:
            raise InputError(f"{name} = {value} is beyond the search limit of {SEARCH_MAX_DIM} "
                             "per dimension (use products and sums of smaller schemes)")
    if rank <= 0:
        raise InputError(f"--rank must be a positive integer, got {rank}")
    bound, why = proven_lower_bound((n, m, p))
    if rank < bound:
        raise FastmmError(f"no ⟨{n},{m},{p}⟩ scheme of rank {rank} exists: rank ≥ {bound} "
                          f"is proven ({why}); no search was run")


def default_path(n: int, m: int, p: int, rank: int, ring: str, directory: Path = Path(".")) -> Path:
    """`2x2x2-rank7-ZT.json`, or `...-2.json` etc. so an existing file is never overwritten."""
    base = directory / f"{n}x{m}x{p}-rank{rank}-{ring}.json"
    path, k = base, 2
    while path.exists():
        path = base.with_name(f"{base.stem}-{k}.json")
        k += 1
    return path


def _save(scheme, out: str | None, use_sympy: bool, provenance: dict) -> tuple[Path, object]:
    from fastmm.io import save_scheme
    from fastmm.verify import verified_copy

    scheme = scheme.with_meta(provenance={**scheme.provenance, **provenance})
    checked = verified_copy(scheme, use_sympy=use_sympy)
    n, m, p = checked.shape
    path = Path(out) if out else default_path(n, m, p, checked.rank, checked.ring)
    save_scheme(checked, path)
    return path, checked


def _print_scheme(scheme, header: str) -> None:
    from fastmm.formulas import formula_text
    from fastmm.scheme import RING_NAMES

    click.echo(header)
    click.echo(formula_text(scheme))
    click.echo(f"ring: {scheme.ring} ({RING_NAMES[scheme.ring]})")
    v = scheme.verified or {}
    how = v.get("brent", "")
    if v.get("sympy", "").startswith("proved"):
        how += "; sympy proof of every C entry"
    click.echo(f"verified: {how}")


def _ring_ok(scheme, ring: str) -> bool:
    order = {"ZT": 0, "Z": 1, "Q": 2}
    if ring == "Z2":
        return True  # any valid integer scheme is valid modulo 2
    return scheme.ring in order and order[scheme.ring] <= order[ring]


@cli.command()
@click.argument("n", type=int)
@click.argument("m", type=int)
@click.argument("p", type=int)
@click.option("--rank", "-r", type=int, required=True, help="Number of multiplications wanted.")
@click.option("--method", type=click.Choice(["auto", "flip", "pool", "spn", "ternary"]), default="auto",
              show_default=True,
              help="flip: flip-graph walks from the naive scheme; pool: walks from sums, products and "
                   "the catalogue, pools per rank; spn: the StrassenNets SGD method; ternary: "
                   "flip-graph walks directly over ZT, no lifting; auto: flip for tiny shapes and "
                   "--ring Z2, pool otherwise.")
@click.option("--ring", type=click.Choice(["ZT", "Z", "Z2"], case_sensitive=False), default="ZT",
              show_default=True, help="ZT: coefficients in {-1,0,1}; Z: integers; Z2: modulo 2 only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-limit", type=float, default=300.0, show_default=True,
              help="Seconds before giving up (each worker).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Independent seeds run in parallel processes (or cluster jobs).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds on a dask.distributed cluster.")
@click.option("--out", "-o", default=None, metavar="FILE",
              help="Where to write the scheme (default: NxMxP-rankR-RING.json, never overwritten).")
@click.option("--distinct", type=int, default=1, show_default=True,
              help="Collect this many pairwise inequivalent schemes.")
@click.option("--minimize", type=click.Choice(["none", "additions"]), default="none",
              show_default=True, help="Keep walking at the target rank to reduce additions.")
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def search(n: int, m: int, p: int, rank: int, method: str, ring: str, seed: int,
           time_limit: float, workers: int, scheduler: str | None, out: str | None,
           distinct: int, minimize: str, no_sympy: bool, quiet: bool) -> int:
    """Find an exact scheme for ⟨N,M,P⟩ with RANK multiplications."""
    from fastmm.known_ranks import best_known_rank
    from fastmm.scheme import naive_scheme
    from fastmm.search.base import SearchTask
    from fastmm.search.runner import run_search

    ring = ring.upper()
    check_request(n, m, p, rank)
    if time_limit <= 0:
        raise InputError(f"--time-limit must be positive, got {time_limit}")
    if workers <= 0:
        raise InputError(f"--workers must be a positive integer, got {workers}")
    if distinct <= 0:
        raise InputError(f"--distinct must be a positive integer, got {distinct}")
    if distinct > 1 and sorted((n, m, p)) == [2, 2, 2] and rank == 7:
        raise FastmmError("every ⟨2,2,2;7⟩ scheme is equivalent to Strassen's (de Groote 1978): "
                          "there is only one up to equivalence")
    command = "fastmm " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    use_sympy = not no_sympy
    if rank >= n * m * p and minimize == "none":
        scheme = naive_scheme(n, m, p)
        path, checked = _save(scheme, out, use_sympy,
                              {"method": "naive", "version": __version__, "command": command})
        _print_scheme(checked, f"rank {rank} ≥ n·m·p = {n * m * p}: the naive algorithm "
                               f"⟨{n},{m},{p};{n * m * p}⟩ needs no search")
        click.echo(f"written: {path}")
        return 0

    known = best_known_rank((n, m, p), ring)
    if known is not None and rank < known and not quiet:
        click.echo(f"note: rank {rank} is below the best known {ring} rank {known} for this "
                   "shape; expect the search to run to its time limit", err=True)
    if method == "auto":
        from fastmm.search.pool import choose_method

        chosen = choose_method(SearchTask(n, m, p, rank, ring))
    else:
        chosen = method
    options: dict = {"minimize": minimize} if minimize != "none" else {}
    if chosen == "pool":
        from fastmm.catalog import best_catalog_rank

        have = best_catalog_rank((n, m, p), ring)
        if have is not None and have <= rank:
            # the shape's own entry would answer at once: search without it, so the result is found
            options["exclude_catalog_shapes"] = [(n, m, p)]
            if not quiet:
                click.echo(f"note: the catalogue already holds a rank-{have} scheme for this shape "
                           "(`fastmm catalog`); searching without it", err=True)
    found: list = []
    attempt = 0
    t0 = time.monotonic()
    summary = None
    while len(found) < distinct:
        task = SearchTask(n, m, p, rank, ring, seed + attempt * workers,
                          time_limit - (time.monotonic() - t0), options)
        if task.time_limit <= 0:
            break
        with SearchProgress(rank, quiet) as progress:
            summary = run_search(task, chosen, workers, scheduler, progress.update)
        for failure in summary.failures:
            click.echo(f"warning: {failure}", err=True)
        outcome = summary.outcome
        attempt += 1
        if outcome.scheme is None:
            break
        scheme = outcome.scheme
        if not _ring_ok(scheme, ring) and ring != "Z2":
            raise FastmmError(f"internal error: {chosen} returned a {scheme.ring} scheme for ring {ring}")
        prov = {"method": chosen, "seed": outcome.seed, "seconds": round(outcome.seconds, 3),
                "steps": outcome.steps, "restarts": outcome.restarts, "version": __version__,
                "command": command}
        if distinct > 1:
            from fastmm.equivalence import dedupe

            if len(dedupe(found + [scheme])) == len(found):
                continue  # equivalent to one we have
        path, checked = _save(scheme, out if distinct == 1 else None, use_sympy, prov)
        found.append(checked)
        _print_scheme(checked, f"⟨{n},{m},{p};{checked.rank}⟩ found by {chosen} in "
                               f"{outcome.seconds:.2f} s (seed {outcome.seed})")
        click.echo(f"written: {path}")
        if summary.interrupted:
            break
    if found:
        if len(found) < distinct:
            click.echo(f"found {len(found)} of {distinct} inequivalent schemes before stopping",
                       err=True)
            return EXIT_FAILED
        return 0
    return _report_failure(summary, n, m, p, rank, ring, known, time_limit, out, use_sympy, command)


def _report_failure(summary, n, m, p, rank, ring, known, time_limit, out, use_sympy, command) -> int:
    best = summary.outcome.best if summary else None
    why = "before the interrupt" if summary and summary.interrupted else f"within {time_limit:g} s"
    msg = f"no ⟨{n},{m},{p}⟩ scheme of rank {rank} over {ring} {why}"
    if best is not None and best.rank < n * m * p:
        target = Path(out).parent if out else Path(".")
        prov = {"method": "best-so-far", "seed": summary.outcome.seed, "version": __version__,
                "command": command}
        path, _ = _save(best, str(default_path(n, m, p, best.rank, best.ring, target)),
                        use_sympy, prov)
        msg += f"; best rank reached {best.rank} (saved to {path})"
    elif best is not None:
        msg += f"; best rank reached {best.rank}"
    if known is not None:
        msg += f"; best known {ring} rank for this shape: {known}"
    click.echo(f"error: {msg}", err=True)
    return 130 if summary and summary.interrupted else EXIT_FAILED

