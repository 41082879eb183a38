"""`fastmm search N M P --rank R`: parse, call fastmm.api.search_distinct, print and save.

Every rule (limits, bounds, rings, methods, verification) lives in fastmm.api; this command
only checks where it will write before the work starts, shows progress and writes results.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click

from fastmm.arguments import positive_int
from fastmm.cli import cli, command_line
from fastmm.cli.numbers import INT, UpperChoice
from fastmm.cli.progress import SearchProgress
from fastmm.cli.terminal import file_name, printable
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
    elif v.get("sympy", "").startswith("skipped: "):
        how += f"; sympy proof {v['sympy']}"
    click.echo(f"verified: {how}")


def _method_names() -> list[str]:
    from fastmm.api import methods

    return list(methods())


class _Writer:
    """Writes each verified scheme as soon as it exists: to --out, or a fresh default name.

    A write that fails (full disk, a path that became a directory) saves the scheme to a
    fallback file in the working directory or the temporary directory and says where.
    `keep` writes a scheme the search is still improving (--minimize additions) to the file
    the final one will replace.
    """

    def __init__(self, out: str | None, distinct: int, inputs: tuple[str, ...] = ()):
        from fastmm.paths import check_output_path

        if out is not None and not out.strip():
            raise InputError("--out: the file name is empty")
        self.out = check_output_path(out, inputs=inputs) if out is not None else None
        self.distinct = distinct
        if self.out is not None:  # --distinct K: FILE-2 ... FILE-K are written too; check them now
            for k in range(2, distinct + 1):
                sibling = check_output_path(self.sibling(k), inputs=inputs)
                if sibling.is_symlink() or sibling.exists():  # --out is replaced; these are not
                    given = Path(out)
                    shown = sibling if given.is_symlink() else given.with_name(sibling.name)
                    files = "FILE-2" if distinct == 2 else f"FILE-2 ... FILE-{distinct}"
                    raise InputError(f"--out {file_name(out, sys.stderr)}: {file_name(shown, sys.stderr)} "
                                     f"exists, and --distinct {distinct} writes {files} beside FILE "
                                     "without ever replacing them; move it away or give another --out")
        self.written: list[Path] = []
        self.problems: list[str] = []  # writes that went to a rescue file
        self.kept: Path | None = None  # where `keep` wrote the scheme still being improved

    def targets(self) -> list[Path]:
        """Every file --out names (FILE, and FILE-2 ... FILE-K with --distinct K)."""
        if self.out is None:
            return []
        return [self.out] + [self.sibling(k) for k in range(2, self.distinct + 1)]

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
        path = self._write(scheme, new_in)
        self.kept = None
        self.written.append(path)
        return path

    def keep(self, scheme) -> Path:
        """Write a scheme the search goes on improving: where the final one will go (the same
        file each time); a failed write is only remembered when the final write fails too."""
        path = self._write(scheme, None, quiet=True)
        self.kept = path if path is not None else self.kept
        return path

    def _write(self, scheme, new_in: Path | None, quiet: bool = False) -> Path | None:
        from fastmm.io import dumps
        from fastmm.paths import OutputError, rescue, scheme_stem, write_atomic, write_new

        target = None if new_in is not None else (self.kept or self.target(scheme))
        try:
            if target is None:
                n, m, p = scheme.shape
                return write_new(default_path(n, m, p, scheme.rank, scheme.ring, new_in or Path(".")),
                                 dumps(scheme))
            # --distinct's FILE-2 ... FILE-K were free when the search started: never replace one
            # that appeared since
            write_atomic(target, dumps(scheme), exclusive=target in self.targets()[1:])
            return target
        except (OutputError, FileExistsError) as exc:
            if quiet:
                return None
            if isinstance(exc, FileExistsError):
                exc = f"{file_name(target, sys.stderr)} appeared during the search and was not replaced"
            path = rescue(dumps(scheme), scheme_stem(scheme))
            self.problems.append(f"{exc}; the {scheme.label()} scheme was saved to "
                                 f"{file_name(path, sys.stderr)} instead")
            return path


OWN_FLAGS = {"minimize": "--minimize", "device": "--device", "engine": "--engine", "batch": "--batch",
             "save_fitted": "--save-fitted", "start": "--start", "starts": "--resume",
             "checkpoint_dir": "--resume"}


# library argument -> the flag that sets it, where the library's checks name the argument
# (arguments.positive_int: "workers = 4097 is above the limit of 4096")
ARGUMENT_FLAGS = {"workers": "--workers"}


def reworded(exc: InputError, flags: dict[str, str] = ARGUMENT_FLAGS) -> None:
    """Raise `exc` again in the command line's words: its list of known options (--option), and
    an argument it names first as the flag the user typed (`flags`: argument -> flag)."""
    message = _argument_flag_named(_own_flags_named(str(exc)), flags)
    if message == str(exc):
        raise exc
    raise InputError(message) from None


def _argument_flag_named(message: str, flags: dict[str, str]) -> str:
    """The library's "workers = 4097 is above ..." and "workers must be ..." (the checks of
    fastmm.arguments) as "--workers 4097 is above ..." and "--workers must be ..."."""
    for name, option in flags.items():
        if message.startswith(f"{name} = "):
            return f"{option} {message[len(name) + 3:]}"
        if message.startswith(f"{name} must "):
            return option + message[len(name):]
    return message


def _own_flags_named(message: str) -> str:
    """The library's "unknown ... option(s): x (known: a, b, ...)" for the command line: the names
    with a flag of their own (which --option refuses) are named as those flags."""
    match = re.search(r"\(known: ([^)]*)\)", message)
    if match is None:
        return message
    names = [x.strip() for x in match.group(1).split(",")]
    flags = sorted({OWN_FLAGS[x] for x in names if x in OWN_FLAGS})
    known = ", ".join(x for x in names if x not in OWN_FLAGS)
    shown = f"(known: {known}" + (f"; and the flags {', '.join(flags)}" if flags else "") + ")"
    return message[:match.start()] + shown + message[match.end():]


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
@click.argument("n", type=INT)
@click.argument("m", type=INT)
@click.argument("p", type=INT)
@click.option("--rank", "-r", type=INT, required=True, help="Number of multiplications wanted.")
@click.option("--method", default="auto", show_default=True, metavar="NAME",
              help="auto, flip (walks from the naive scheme), pool (walks from sums, products and "
                   "projections of catalogued schemes, pools per rank), ternary (walks over ZT), "
                   "symmetric (C3- or transpose-symmetric walks: --symmetry), spn (the StrassenNets method), "
                   "als (numerical ALS with rounding); auto picks one (symmetric for ⟨5,5,5⟩ below 100).")
@click.option("--ring", type=UpperChoice(["ZT", "Z", "Z2", "Q"]), default="ZT",
              show_default=True,
              help="ZT: coefficients in {-1,0,1}; Z: integers; Z2: modulo 2 only; Q: rationals "
                   "(numerical methods).")
@click.option("--symmetry", type=click.Choice(["none", "c3", "c3j", "t2"]), default="none", show_default=True,
              help="c3: only schemes invariant under (A,B,C) -> (B,C,A) (square shapes); c3j: also under "
                   "X -> JXJ, J the exchange matrix (orbits of six: Moosbauer-Poole's ⟨6,6,6;153⟩); "
                   "t2: under the transpose (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ) (shapes with two equal sizes). The walks "
                   "are symmetric modulo 2; a result lifted by Hensel lifting and frames need not be.")
@click.option("--seed", type=INT, default=0, show_default=True)
@click.option("--time-limit", type=str, default="300", show_default=True, metavar="SECONDS",
              help="Seconds before giving up, counted from the start (starting the workers included).")
@click.option("--workers", type=INT, default=1, show_default=True,
              help="Independent seeds run in parallel processes (or cluster jobs).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds on a dask.distributed cluster.")
@click.option("--resume", default=None, metavar="DIR",
              help="Checkpoint directory: continue the search saved there (created if new).")
@click.option("--start", "start_file", default=None, metavar="FILE",
              help="Walk from this scheme (a verified scheme file of the shape or a permutation of it) "
                   "instead of the naive one or the catalogue's constructions: --method flip, pool, "
                   "ternary or symmetric (auto walks as for the shape; symmetric with --symmetry).")
@click.option("--device", default=None, metavar="DEV", help="Numerical methods: cpu or cuda.")
@click.option("--batch", type=INT, default=None, metavar="N",
              help="Numerical methods: restarts held at once (default 64; thousands on a GPU).")
@click.option("--save-fitted", default=None, metavar="DIR",
              help="Numerical methods: keep every fitted float point here (.npz) for `fastmm finish`.")
@click.option("--option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="A method option (repeatable), e.g. --option fit_steps=3000 for als or "
                   "--option pool_size=16 for pool; values are read as JSON where they parse. "
                   "A name the method does not know is refused with the list of known ones.")
@click.option("--engine", type=click.Choice(["batched", "single"]), default=None,
              help="--method spn: batched (many restarts at once, Adam; the default) or single "
                   "(one restart at a time, the paper's recipe with TWN fine-tuning).")
@click.option("--out", "-o", default=None, metavar="FILE",
              help="Where to write the scheme, replacing an existing file (default: NxMxP-rankR-RING.json, "
                   "never overwritten); "
                   "with --distinct K the others go to FILE-2, ..., FILE-K beside it, which must not "
                   "exist (they are never overwritten).")
@click.option("--distinct", type=INT, default=1, show_default=True,
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
    if device is not None:  # "" too: the library says what a device is
        options["device"] = device
    if engine:
        options["engine"] = engine
    if batch is not None:
        options["batch"] = batch
    if save_fitted is not None:
        folder = Path(save_fitted)
        if not save_fitted or (folder.exists() and not folder.is_dir()):
            raise InputError(f"--save-fitted: {save_fitted!r} is not a folder")
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
    except InputError as exc:
        reworded(exc)
    # before _Writer checks FILE-2 ... FILE-K: a K of 10^9 took forever there
    distinct = positive_int(distinct, "the number of distinct schemes", api.MAX_DISTINCT)
    writer = _Writer(out, distinct, inputs=(start_file,) if start_file is not None else ())
    _refuse_folder_as_output(writer, resume=resume, save_fitted=save_fitted)
    checkpoint = _open_checkpoint(resume, req, writer)  # the library keeps it while the search runs
    if checkpoint is not None:
        first = checkpoint.first_seed(seed)  # no fresh seed left: refused now, before any line is shown
        if not quiet and checkpoint.resumed:
            state = checkpoint.describe(start_given=start_file is not None)
            click.echo(f"resuming {file_name(resume, sys.stderr)}: {state}", err=True)
        if checkpoint.resumed and first != seed and click.get_current_context().get_parameter_source(
                "seed") == click.core.ParameterSource.COMMANDLINE:  # said with -q too: typed, not used
            click.echo(f"note: --seed {seed} is not used: the search goes on with the directory's next "
                       f"fresh seed, {first} (the result records it)", err=True)
    cores = os.cpu_count() or 1
    if req.scheduler is None and req.workers > cores:
        click.echo(f"warning: --workers {req.workers} is more than the {cores} CPU cores here: the "
                   "workers share them, and starting them counts against --time-limit", err=True)
    if req.scheduler is not None:  # dask logs a scheduler lost mid-search as pages of tracebacks;
        import logging  # the search itself reports it in one line

        logging.getLogger("distributed").setLevel(logging.CRITICAL)
    command = command_line()
    known = best_known_rank((n, m, p), ring)
    if known is not None and rank < known and not quiet and sys.stderr.isatty():
        click.echo(f"note: rank {rank} is below the best known {ring} rank {known} for this "
                   "shape; expect the search to run to its time limit", err=True)
    from fastmm.search.runner import StopSignals

    with StopSignals() as signals, SearchProgress(rank, quiet) as progress:
        hooks = _Hooks((n, m, p), rank, writer, checkpoint, progress, signals, command)
        try:
            api.search_distinct((n, m, p), rank, distinct, ring=ring, method=req.method, seed=seed,
                                time_limit=req.time_limit, workers=req.workers,
                                scheduler=req.scheduler, symmetry=sym, sympy=not no_sympy,
                                options=req.options, on_progress=hooks, command=command,
                                on_found=hooks.found, resume=checkpoint)
        except SearchFailed as exc:
            with signals.shield():
                return hooks.failed(exc)
        except InputError as exc:  # the numerical methods read their options when they start
            reworded(exc)
        except KeyboardInterrupt:  # a signal between two searches (comparing, verifying)
            with signals.shield():
                return hooks.interrupted(distinct)
        with signals.shield():
            return hooks.finished()


def _refuse_folder_as_output(writer: _Writer, **folders: str | None) -> None:
    """InputError when --out names the --resume or --save-fitted folder, which the search is
    about to make (an existing one is refused as a directory already)."""
    from fastmm.paths import resolve_target

    for option, folder in folders.items():
        if not folder or (os.path.lexists(folder) and not os.path.isdir(folder)):
            continue  # not a folder: its own check says so
        where = resolve_target(folder)
        for path in writer.targets():
            if resolve_target(path) == where:
                flag = "--" + option.replace("_", "-")
                raise InputError(f"--out {file_name(path, sys.stderr)}: that is the {flag} folder; "
                                 "give a file name")


def _open_checkpoint(resume: str | None, req, writer: _Writer):
    """--resume DIR checked (and locked) for this request, or None; nothing is written yet."""
    if resume is None:
        return None
    from fastmm.search.checkpoint import open_for_search

    checkpoint = open_for_search(resume, req)
    for path in writer.targets():
        if checkpoint.owns(path):
            checkpoint.close()
            raise InputError(f"--out {file_name(path, sys.stderr)}: that is a file of the --resume "
                             f"directory {file_name(resume, sys.stderr)}, which the search "
                             "overwrites; give another file name")
    return checkpoint


class _Hooks:
    """What the search calls back while it runs: progress reports (shown), schemes found
    (written, then printed) and schemes still being improved (--minimize additions: written at
    once, replaced as they improve). Then the summary of the outcome. The checkpoint itself
    (seeds, progress, best.json, status) is the library's to keep (api.search_distinct's resume)."""

    def __init__(self, shape, rank: int, writer: _Writer, checkpoint, progress, signals, command: str):
        self.shape, self.rank, self.writer, self.checkpoint = shape, rank, writer, checkpoint
        self.progress, self.signals, self.command = progress, signals, command
        self.stdout_error: str | None = None  # printing failed (a full disk behind stdout)
        self.reader_left = False  # stdout's reader left (`| head -1`): the files still all get written
        self.kept: tuple[int, int] | None = None  # (rank, additions) of the scheme `keep` wrote

    def __call__(self, worker: int, progress) -> None:
        self.progress.update(worker, progress)
        if progress.scheme is not None:
            self.keep(progress.scheme)

    def keep(self, scheme) -> None:
        """A scheme at the target rank that the search goes on improving: verified, then
        written to --out (or its default name), replacing the previous one unless that one is
        better (lower rank, or fewer additions: another worker's)."""
        from fastmm import api
        from fastmm.errors import VerificationError
        from fastmm.export.slp import count_additions

        prov = {**scheme.provenance, "method": scheme.provenance.get("method"),
                "status": "still minimizing additions when written", "command": self.command}
        try:
            checked = api.verified(scheme.with_meta(provenance=prov), sympy=False)
        except VerificationError:  # never written; the search's own check will say more
            return
        score = (checked.rank, int(count_additions(checked)))
        if self.kept is not None and score > self.kept:
            return
        self.kept = score
        with self.signals.shield():
            self.writer.keep(checked)

    def found(self, scheme) -> None:
        with self.signals.shield():
            path = self.writer(scheme)
            n, m, p = self.shape
            prov = scheme.provenance
            head = (f"⟨{n},{m},{p};{scheme.rank}⟩ found by {prov.get('method')} in "
                    f"{prov.get('seconds', 0):.2f} s (seed {prov.get('seed')})")
            if prov.get("resumed_from") is not None:  # the --resume directory held it already
                how = ", ".join(f"{word} {prov[key]}" for word, key in (("by", "method"), ("seed", "seed"))
                                if isinstance(prov.get(key), str | int))
                head = (f"⟨{n},{m},{p};{scheme.rank}⟩ was found already: saved in "
                        f"{file_name(prov['resumed_from'], sys.stdout)}"
                        + (f" ({printable(how)})" if how else ""))
            if prov.get("method") == "naive":
                head = (f"rank {self.rank} ≥ n·m·p = {n * m * p}: the naive algorithm "
                        f"⟨{n},{m},{p};{n * m * p}⟩ needs no search")
            with self.progress.paused():
                self._print(lambda: (_print_scheme(scheme, head),
                                     click.echo(f"written: {file_name(path, sys.stdout)}")))

    def _print(self, show) -> None:
        """Print on stdout; a failure is remembered and the search goes on: the files are what
        matters. A reader that left (`| head -1` with --distinct K) is no error, but the command
        ends with the shell's SIGPIPE status once every file is written."""
        if self.stdout_error is not None or self.reader_left:
            return
        try:
            show()
        except BrokenPipeError:
            self.reader_left = True
            _stdout_to_devnull()
        except OSError as exc:
            self.stdout_error = exc.strerror or str(exc)
            _stdout_to_devnull()

    def _stdout_failed(self) -> str:
        written = ", ".join(file_name(x, sys.stderr) for x in self.writer.written)
        return (f"writing to stdout failed ({self.stdout_error})"
                + (f"; the scheme files were written: {written}" if written else ""))

    def finished(self) -> int:
        self.progress.close()
        if self.checkpoint is not None:
            if self.checkpoint.write_error:  # the scheme was written; only the checkpoint lags
                click.echo(f"warning: the checkpoint in {file_name(self.checkpoint.directory, sys.stderr)} "
                           f"was not fully updated: {self.checkpoint.write_error}", err=True)
        if self.signals.signum is not None:
            click.echo("note: interrupted; the schemes were found and written before it", err=True)
        problems = self.writer.problems + ([self._stdout_failed()] if self.stdout_error else [])
        if problems:
            click.echo(f"error: {'; '.join(problems)}", err=True)
            return EXIT_FAILED
        if self.reader_left:
            from fastmm.cli import SIGPIPE_EXIT  # defined after the commands are registered

            return SIGPIPE_EXIT
        return 0

    def failed(self, exc: SearchFailed) -> int:
        self.progress.close()
        writer = self.writer
        msg = str(exc)
        if exc.best is not None:
            directory = writer.out.parent if writer.out is not None else Path(".")
            path = writer(exc.best, new_in=directory)
            if not writer.problems:
                msg += f" (saved to {file_name(path, sys.stderr)})"
        msg += self._checkpoint_note(exc.mod2)
        msg += self._mod2_note(exc.mod2)
        if getattr(exc, "found", None) and writer.written and exc.best is None:
            msg += f"; written: {', '.join(file_name(x, sys.stderr) for x in writer.written)}"
        if writer.problems:
            msg += "; " + "; ".join(writer.problems)
        if self.stdout_error:
            msg += "; " + self._stdout_failed()
        click.echo(f"error: {msg}", err=True)
        if self.signals.signum is not None:
            return self.signals.exit_code
        return exc.exit_code if exc.exit_code else EXIT_FAILED

    def interrupted(self, count: int) -> int:
        """A signal outside the walks themselves: say what was found and written, as a search
        that the signal stopped does."""
        self.progress.close()
        n, m, p = self.shape
        k = len(self.writer.written)
        msg = (f"found {k} of {count} inequivalent ⟨{n},{m},{p};{self.rank}⟩ schemes before the interrupt"
               if count > 1 else f"no ⟨{n},{m},{p}⟩ scheme of rank {self.rank} before the interrupt")
        if self.writer.written:
            msg += f"; written: {', '.join(file_name(x, sys.stderr) for x in self.writer.written)}"
        msg += self._checkpoint_note()
        click.echo(f"error: {msg}", err=True)
        return self.signals.exit_code

    def _mod2_note(self, low) -> str:
        """A scheme valid modulo 2 only below the best valid one (the library's `.mod2`): written
        beside the best-so-far file, unless the checkpoint already keeps one as low."""
        kept = self.checkpoint.gf2_low() if self.checkpoint is not None else None
        if low is None or (kept is not None and kept[0] <= low.rank):
            return ""
        writer = self.writer
        problems = len(writer.problems)
        path = writer(low, new_in=writer.out.parent if writer.out is not None else Path("."))
        if len(writer.problems) > problems:
            return ""  # the closing line names the rescue file
        return f"; the modulo-2 scheme is in {file_name(path, sys.stderr)} (fastmm lift tries harder)"

    def _checkpoint_note(self, mod2=None) -> str:
        """The closing line's word on the checkpoint (its status is the library's to set);
        `mod2`: the GF(2) scheme the library's message has already named, if any."""
        from fastmm.search.checkpoint import GF2_PREFIX

        checkpoint = self.checkpoint
        if checkpoint is None or not checkpoint.written:
            return ""
        note = (f"; --resume {file_name(checkpoint.directory, sys.stderr)} continues"
                if checkpoint.has_fresh_seed() else
                f"; the checkpoint in {file_name(checkpoint.directory, sys.stderr)} has no fresh seed left")
        low = checkpoint.gf2_low()
        others = len(list(checkpoint.directory.glob(f"{GF2_PREFIX}*.json"))) - 1 if low is not None else 0
        more = f", and {others} more of other seeds" if others > 0 else ""
        if low is not None and mod2 is not None and mod2.rank == low[0]:
            note += f" (it keeps the modulo-2 scheme: {file_name(low[1], sys.stderr)}{more})"
        elif low is not None:
            note += (f" (it keeps a scheme of rank {low[0]} valid modulo 2 only, which the search did "
                     f"not lift: {file_name(low[1], sys.stderr)}{more})")
        if checkpoint.write_error:
            note += f" (but the checkpoint was not fully updated: {checkpoint.write_error})"
        return note


def _stdout_to_devnull() -> None:
    """stdout failed (a full disk): later output and the flush at exit go nowhere, quietly."""
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    except OSError:
        pass
