"""`fastmm search N M P --rank R`: parse, call fastmm.api.search_distinct, print and save.

Every rule (limits, bounds, rings, methods, verification) lives in fastmm.api; this command
only checks where it will write before the work starts, shows progress and writes results.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from fastmm.cli import cli
from fastmm.cli.progress import SearchProgress
from fastmm.errors import EXIT_FAILED, InputError, SearchFailed, StartError


def default_path(n: int, m: int, p: int, rank: int, ring: str, directory: Path = Path(".")) -> Path:
    """`2x2x2-rank7-ZT.json`: the base of a default name (fastmm.paths.write_new takes it, or
    `...-2.json` etc., atomically, so an existing file is never overwritten)."""
    return directory / f"{n}x{m}x{p}-rank{rank}-{ring}.json"


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


def _method_names() -> list[str]:
    from fastmm.api import methods

    return list(methods())


class _Writer:
    """Writes each verified scheme as soon as it exists: to --out, or a fresh default name.

    A write that fails (full disk, a path that became a directory) saves the scheme to a
    fallback file in the working directory or the temporary directory and says where.
    """

    def __init__(self, out: str | None, distinct: int):
        from fastmm.paths import check_output_path

        if out is not None and not out.strip():
            raise InputError("--out: the file name is empty")
        self.out = check_output_path(out) if out is not None else None
        self.distinct = distinct
        if self.out is not None:  # --distinct K: FILE-2 ... FILE-K are written too; check them now
            for k in range(2, distinct + 1):
                check_output_path(self.sibling(k))
        self.written: list[Path] = []
        self.problems: list[str] = []  # writes that went to a rescue file

    def sibling(self, k: int) -> Path:
        """--distinct's k-th file beside --out's FILE: FILE-k (k ≥ 2)."""
        return self.out.with_name(f"{self.out.stem}-{k}{self.out.suffix}")

    def target(self, scheme) -> Path | None:
        """--out's file (--distinct: FILE, then FILE-2, FILE-3... beside it); None: a default name."""
        if self.out is None:
            return None
        k = len(self.written)
        return self.out if k == 0 else self.sibling(k + 1)

    def __call__(self, scheme, new_in: Path | None = None) -> Path:
        """Write atomically (to --out, or a default name that is free, in `new_in` or here); if
        that fails, to a rescue file, and remember why (one error line)."""
        from fastmm.io import dumps
        from fastmm.paths import OutputError, rescue, scheme_stem, write_atomic, write_new

        target = None if new_in is not None else self.target(scheme)
        try:
            if target is None:
                n, m, p = scheme.shape
                path = write_new(default_path(n, m, p, scheme.rank, scheme.ring, new_in or Path(".")),
                                 dumps(scheme))
            else:
                write_atomic(target, dumps(scheme))
                path = target
        except OutputError as exc:
            path = rescue(dumps(scheme), scheme_stem(scheme))
            self.problems.append(f"{exc}; the {scheme.label()} scheme was saved to {path} instead")
        self.written.append(path)
        return path


OWN_FLAGS = {"minimize": "--minimize", "device": "--device", "engine": "--engine", "batch": "--batch",
             "save_fitted": "--save-fitted", "start": "--start", "starts": "--resume",
             "checkpoint_dir": "--resume"}


def parse_method_options(pairs: tuple[str, ...]) -> dict:
    """--option KEY=VALUE pairs as a dict: values read as JSON where they parse, else strings.
    Names with a flag of their own are refused."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise InputError(f"--option wants KEY=VALUE, got {pair!r}")
        if key in OWN_FLAGS:
            raise InputError(f"--option {key}: use {OWN_FLAGS[key]} instead")
        if key in out:
            raise InputError(f"--option {key} given twice")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@cli.command()
@click.argument("n", type=int)
@click.argument("m", type=int)
@click.argument("p", type=int)
@click.option("--rank", "-r", type=int, required=True, help="Number of multiplications wanted.")
@click.option("--method", default="auto", show_default=True, metavar="NAME",
              help="auto, flip (walks from the naive scheme), pool (walks from sums, products and "
                   "projections of catalogued schemes, pools per rank), ternary (walks over ZT), "
                   "symmetric (C3-symmetric walks, square shapes), spn (the StrassenNets method), "
                   "als (numerical ALS with rounding); auto picks one (symmetric for ⟨5,5,5⟩ below 100).")
@click.option("--ring", type=click.Choice(["ZT", "Z", "Z2", "Q"], case_sensitive=False), default="ZT",
              show_default=True,
              help="ZT: coefficients in {-1,0,1}; Z: integers; Z2: modulo 2 only; Q: rationals "
                   "(numerical methods).")
@click.option("--symmetry", type=click.Choice(["none", "c3", "c3j"]), default="none", show_default=True,
              help="c3: only schemes invariant under (A,B,C) -> (B,C,A) (square shapes); c3j: also under "
                   "X -> JXJ, J the exchange matrix (orbits of six: Moosbauer-Poole's ⟨6,6,6;153⟩).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-limit", type=str, default="300", show_default=True, metavar="SECONDS",
              help="Seconds before giving up (each worker).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Independent seeds run in parallel processes (or cluster jobs).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds on a dask.distributed cluster.")
@click.option("--resume", default=None, metavar="DIR",
              help="Checkpoint directory: continue the search saved there (created if new).")
@click.option("--start", "start_file", default=None, metavar="FILE",
              help="Walk from this scheme (a verified scheme file of the shape or a permutation of it) "
                   "instead of the naive one or the catalogue's constructions: --method flip, pool, "
                   "ternary or symmetric (auto walks as for the shape; symmetric with --symmetry c3 or c3j).")
@click.option("--device", default=None, metavar="DEV", help="Numerical methods: cpu or cuda.")
@click.option("--batch", type=int, default=None, metavar="N",
              help="Numerical methods: restarts held at once (default 64; thousands on a GPU).")
@click.option("--save-fitted", default=None, metavar="DIR",
              help="Numerical methods: keep every fitted float point here (.npz) for `fastmm finish`.")
@click.option("--option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="A method option (repeatable), e.g. --option ridge_steps=1500 for als or "
                   "--option pool_size=16 for pool; values are read as JSON where they parse. "
                   "A name the method does not know is refused with the list of known ones.")
@click.option("--engine", type=click.Choice(["batched", "single"]), default=None,
              help="--method spn: batched (many restarts at once, Adam; the default) or single "
                   "(one restart at a time, the paper's recipe with TWN fine-tuning).")
@click.option("--out", "-o", default=None, metavar="FILE",
              help="Where to write the scheme (default: NxMxP-rankR-RING.json, never overwritten); "
                   "with --distinct K the others go to FILE-2, ..., FILE-K beside it.")
@click.option("--distinct", type=int, default=1, show_default=True,
              help="Collect this many pairwise inequivalent schemes.")
@click.option("--minimize", type=click.Choice(["none", "additions"]), default="none",
              show_default=True,
              help="Then walk the flip graph at the rank found until --time-limit, "
                   "keeping the scheme with the fewest additions (walk methods).")
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def search(n: int, m: int, p: int, rank: int, method: str, ring: str, symmetry: str, seed: int,
           time_limit: str, workers: int, scheduler: str | None, resume: str | None,
           start_file: str | None, device: str | None, batch: int | None, save_fitted: str | None,
           method_options: tuple[str, ...], engine: str | None, out: str | None, distinct: int,
           minimize: str, no_sympy: bool, quiet: bool) -> int:
    """Find an exact scheme for ⟨N,M,P⟩ with RANK multiplications."""
    from fastmm import api
    from fastmm.known_ranks import best_known_rank

    ring = ring.upper()
    options: dict = parse_method_options(method_options)
    if minimize != "none":
        options["minimize"] = minimize
    if device:
        options["device"] = device
    if engine:
        options["engine"] = engine
    if batch is not None:
        options["batch"] = batch
    if save_fitted is not None:
        folder = Path(save_fitted)
        if not save_fitted or (folder.exists() and not folder.is_dir()):
            raise InputError(f"--save-fitted: {save_fitted!r} is not a folder")
        if not folder.exists() and not folder.absolute().parent.is_dir():  # like --out: no folders made
            raise InputError(f"--save-fitted: the folder {str(folder.absolute().parent)!r} does not exist")
        options["save_fitted"] = save_fitted
    if start_file is not None:
        options["start"] = api.load_verified(start_file)
    sym = None if symmetry == "none" else symmetry
    # every argument is checked before anything is written or started
    try:
        req = api.SearchRequest((n, m, p), rank, ring, method, seed, time_limit, workers, scheduler, sym,
                                options)
    except StartError as exc:  # a start that does not fit: name its file
        raise InputError(f"{start_file}: {exc}") from None
    writer = _Writer(out, distinct)
    checkpoint = None
    if resume is not None and not resume.strip():
        raise InputError("--resume: the directory name is empty")
    if resume and req.method in ("als", "spn"):  # nothing of theirs to keep: restarts are independent
        raise InputError(f"--resume works with the walk methods (flip, pool, ternary, symmetric), not "
                         f"--method {req.method}: its restarts keep no state; run it again with another "
                         "--seed")
    if resume:
        from fastmm.search.checkpoint import Checkpoint

        checkpoint = Checkpoint.open(resume, req)
        req.options.update(checkpoint.task_options())
        seed = checkpoint.next_seed(seed)
        if not quiet and checkpoint.resumed:
            click.echo(f"resuming {resume}: {checkpoint.describe()}", err=True)
    command = "fastmm " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    known = best_known_rank((n, m, p), ring)
    if known is not None and rank < known and not quiet and sys.stderr.isatty():
        click.echo(f"note: rank {rank} is below the best known {ring} rank {known} for this "
                   "shape; expect the search to run to its time limit", err=True)

    def found(scheme) -> None:
        path = writer(scheme)
        if checkpoint is not None:
            checkpoint.record_best(scheme)
        prov = scheme.provenance
        head = (f"⟨{n},{m},{p};{scheme.rank}⟩ found by {prov.get('method')} in "
                f"{prov.get('seconds', 0):.2f} s (seed {prov.get('seed')})")
        if prov.get("method") == "naive":
            head = (f"rank {rank} ≥ n·m·p = {n * m * p}: the naive algorithm "
                    f"⟨{n},{m},{p};{n * m * p}⟩ needs no search")
        _print_scheme(scheme, head)
        click.echo(f"written: {path}")

    try:
        with SearchProgress(rank, quiet) as progress:
            on_progress = progress.update
            if checkpoint is not None:
                on_progress = checkpoint.progress_hook(progress.update)
            api.search_distinct((n, m, p), rank, distinct, ring=ring, method=req.method, seed=seed,
                                time_limit=req.time_limit, workers=req.workers,
                                scheduler=req.scheduler, symmetry=sym, sympy=not no_sympy,
                                options=req.options, on_progress=on_progress, command=command,
                                on_found=found)
    except SearchFailed as exc:
        return _report_failure(exc, writer, checkpoint)
    if checkpoint is not None:
        checkpoint.finish(seed + workers)
        if checkpoint.write_error:  # the scheme was written; only the checkpoint lags behind
            click.echo(f"warning: the checkpoint in {resume} was not fully updated: "
                       f"{checkpoint.write_error}", err=True)
    if writer.problems:
        click.echo(f"error: {'; '.join(writer.problems)}", err=True)
        return EXIT_FAILED
    return 0


def _report_failure(exc: SearchFailed, writer: _Writer, checkpoint) -> int:
    msg = str(exc)
    if exc.best is not None:
        if checkpoint is not None:
            checkpoint.record_best(exc.best)
        directory = writer.out.parent if writer.out is not None else Path(".")
        path = writer(exc.best, new_in=directory)
        if not writer.problems:
            msg += f" (saved to {path})"
    if checkpoint is not None:
        checkpoint.finish(None)
        msg += f"; --resume {checkpoint.directory} continues"
        if checkpoint.write_error:
            msg += f" (but the checkpoint was not fully updated: {checkpoint.write_error})"
    if getattr(exc, "found", None) and writer.written and exc.best is None:
        msg += f"; written: {', '.join(map(str, writer.written))}"
    if writer.problems:
        msg += "; " + "; ".join(writer.problems)
    click.echo(f"error: {msg}", err=True)
    return exc.exit_code if exc.exit_code else EXIT_FAILED
