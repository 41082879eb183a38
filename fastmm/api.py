"""The public library: every rule of the domain is enforced here, for Python users and the CLI alike.

    import fastmm
    s = fastmm.search((3, 3, 3), rank=23, ring="ZT", time_limit=60)   # verified, or raises
    fastmm.save(s, "laderman-like.json"); t = fastmm.load("laderman-like.json")
    assert fastmm.verify(t)                  # a Verdict, truthy exactly when valid
    print(fastmm.export(t, to="latex"))
    C = fastmm.matmul(A, B, levels=2)        # Strassen through generated C, BLAS leaves

Rules that live here and nowhere else: the search size limit, the proven lower bounds, finite
positive time limits, the method choice (`auto`), hiding the shape's own catalogue entry,
distinct schemes, ring labels, and "verified before it is returned or written".
Importing this module is cheap (no torch, no sympy, no numba).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fastmm import __version__
from fastmm.arguments import (
    SEED_LIMIT,
    SEED_LIMIT_TEXT,
    check_rank,
    check_seed,
    check_shape,
    check_time_limit,
    flag,
    impossible_rank,
    integer,
    parse_time_limit,
    path_arg,
    plain_number,
    positive_int,
    ring_arg,
    scheme_arg,
    shown,
)
from fastmm.errors import (
    EXIT_FAILED,
    FastmmError,
    InputError,
    SearchFailed,
    SearchInterrupted,
    StartError,
    VerificationError,
)
from fastmm.scheme import Scheme, naive_scheme, ring_serves, scheme_serves
from fastmm.validate import MAX_COEFFICIENTS

if TYPE_CHECKING:
    from fastmm.search.checkpoint import Checkpoint

CATALOG_MAX_DIM = 64  # catalog() and catalog_scheme() look up shapes up to this size
MAX_WORKERS = 4096
EXPORT_FORMATS = ("text", "markdown", "latex", "slp", "c", "numpy", "torch",
                  "alphatensor", "perminov", "fast-matmul", "exp", "maple")
SYMMETRIES = ("c3", "c3j", "t2")  # c3j: C3 × X -> JXJ (six-fold); t2: (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ) for ⟨n,m,n⟩

Shape = tuple[int, int, int]


# -- reading, writing, checking -------------------------------------------------------------------

def load(path: str | os.PathLike) -> Scheme:
    """Read a fastmm scheme file strictly (SchemeFormatError names the bad field). Not verified:
    call `verify` (every command that uses a loaded scheme does), or `load_verified`. The file's
    own "verified" record is a claim anyone can write, so the scheme returned has none."""
    from fastmm.io import load_scheme

    scheme = load_scheme(path_arg(path, "load"))
    return scheme if scheme.verified is None else scheme.with_meta(verified=None)


def load_verified(path: str | os.PathLike, sympy: bool = False) -> Scheme:
    """`load`, then `verify`: InputError naming the file when it cannot be read or is not valid
    (for files a command builds on: `--start`, `combine`). A file that is read but fails
    verification exits 1 on the command line, as every command's verification failure does."""
    sympy = flag(sympy, "load_verified", "sympy")
    scheme = load(path)
    verdict = verify(scheme, sympy=sympy)
    if not verdict.ok:
        raise InputError(f"{os.fspath(path)}: {scheme.label()} fails verification: "
                         f"{verdict.lines()[0]}", exit_code=EXIT_FAILED)
    if scheme.ring != "Z2" and scheme.coefficient_ring != scheme.ring:  # e.g. integers labelled Q:
        scheme = scheme.with_meta(ring=scheme.coefficient_ring)  # the ring `verify` and `save` name
    return scheme.with_meta(verified=verdict.record())  # this check's record (its ring: the smallest)


def verify(scheme: Scheme, sympy: bool = True):
    """Exact Brent equations (and a sympy proof unless sympy=False) in the ring the scheme claims.

    Returns a `fastmm.verify.Verdict`: truthy exactly when the scheme is valid and its ring label
    holds its coefficients; `.lines()` says what is wrong, `.ring` is the smallest valid ring
    ('' when the verdict fails, a ring label its coefficients do not fit included).
    """
    from fastmm.verify import verify as check

    return check(scheme_arg(scheme, "verify"), use_sympy=flag(sympy, "verify", "sympy"))


def verified(scheme: Scheme, sympy: bool = True) -> Scheme:
    """The scheme with its "verified" record filled in; VerificationError if it is not valid."""
    from fastmm.verify import verified_copy

    return verified_copy(scheme_arg(scheme, "verified"), use_sympy=flag(sympy, "verified", "sympy"))


def save(scheme: Scheme, path: str | os.PathLike, sympy: bool = False) -> Path:
    """Verify, then write atomically (a failing scheme is never written). Returns the path.

    `path` follows the rules of the command line's output files (fastmm.paths.check_output_path,
    as `fastmm search --out`): its directory must exist already (it is not created; "~" is not
    expanded), and a name that could never be a regular file is an InputError before any work.
    """
    from fastmm.io import check_writable, dumps
    from fastmm.paths import check_output_path, write_atomic

    scheme_arg(scheme, "save")
    sympy = flag(sympy, "save", "sympy")
    target = Path(path_arg(path, "save"))
    check_output_path(path, "save")  # the name as given: Path() drops a trailing separator
    check_writable(scheme)  # before the (long) verification of a huge scheme
    checked = verified(scheme, sympy=sympy)
    write_atomic(target, dumps(checked))  # never makes missing directories (io.save_scheme does)
    return target


# -- search ---------------------------------------------------------------------------------------

def methods() -> tuple[str, ...]:
    """Search methods by name (`auto` chooses among them)."""
    from fastmm.search.base import METHODS

    return ("auto", *METHODS)


# Square shapes where `auto` runs the C3-symmetric walk, and the highest rank it is chosen for:
# pools never got ⟨5,5,5⟩ below 100 (they reach 100 in minutes, sooner than the C3 walk), while
# the C3 walk reached 93, 96 and 99 (326 s to 900 s). Pools stay the choice for n = 3, 4
# (Laderman, Strassen⊗Strassen at once) and 6 (Strassen⊗Laderman = 161 at once; the C3 walk
# from scratch stayed above 180).
SYMMETRIC_AUTO_RANKS = {5: 99}


def choose_method(shape: Shape, rank: int, ring: str, symmetry: str | None = None) -> str:
    """What `method="auto"` runs: symmetric walks for c3 / c3j and for ⟨5,5,5⟩ below rank 100, flip for
    tiny shapes and Z2, numerical ALS over Q, pools otherwise."""
    from fastmm.search.base import METHODS, SearchTask
    from fastmm.search.pool import choose_method as pool_choice

    if symmetry in SYMMETRIES:
        return "symmetric"
    if ring == "Q":
        return "als" if "als" in METHODS else "pool"
    if len(set(shape)) == 1 and rank <= SYMMETRIC_AUTO_RANKS.get(shape[0], 0):
        return "symmetric"
    return pool_choice(SearchTask(*shape, rank, ring))


SAVE_FITTED = "option save_fitted (--save-fitted)"


def save_fitted_folder(folder) -> str:
    """The --save-fitted folder, absolute (cluster workers write it from their own working
    directories), or one InputError: checked before the search, not after it has fitted points
    it cannot keep. The folder itself is made when the first point is written, not its parents."""
    if isinstance(folder, bool) or not isinstance(folder, (str, os.PathLike)):
        raise InputError(f"{SAVE_FITTED} is a directory name (a str or path), got {shown(folder)}")
    folder = Path(os.fspath(path_arg(folder, SAVE_FITTED)))
    try:
        if not str(folder).strip() or folder.exists() and not folder.is_dir():
            raise InputError(f"{SAVE_FITTED} {str(folder)!r}: not a directory")
        if folder.is_symlink() and not folder.exists():
            raise InputError(f"{SAVE_FITTED} {str(folder)!r}: a dangling symlink")
        parent = folder.absolute().parent
        if not folder.exists() and not parent.is_dir():
            what = "is not a folder" if parent.exists() else "does not exist"
            raise InputError(f"{SAVE_FITTED}: {str(parent)!r} {what}")
        where = folder if folder.exists() else parent
        tempfile.TemporaryFile(dir=where).close()
    except OSError as exc:  # a name too long, a folder that cannot be written
        raise InputError(f"{SAVE_FITTED} {str(folder)!r}: cannot write there "
                         f"({exc.strerror or exc})") from None
    return str(folder.absolute())


class SearchRequest:
    """A checked search request: every argument validated, the method resolved. `time_limit` may
    be the command line's --time-limit text (parse_time_limit); `search` takes numbers only."""

    def __init__(self, shape, rank, ring="ZT", method="auto", seed=0, time_limit=300.0, workers=1,
                 scheduler=None, symmetry=None, options=None):
        from fastmm.catalog import check_catalog_dir
        from fastmm.search.base import METHODS, SEARCH_RINGS, check_walk_options

        self.shape = check_shape(shape)
        ring = ring_arg(ring, "search")
        rings = SEARCH_RINGS + (("Q",) if "als" in METHODS else ())
        if ring not in rings:
            raise InputError(f"unknown ring {ring!r} for a search (choose from {', '.join(rings)})")
        self.ring = ring
        self.rank = check_rank(self.shape, rank, ring)
        self.seed = check_seed(seed)
        self.time_limit = (parse_time_limit(time_limit) if isinstance(time_limit, str)
                           else check_time_limit(time_limit))
        self.workers = positive_int(workers, "workers", MAX_WORKERS)
        if scheduler is not None:
            scheduler = check_scheduler(scheduler)
        self.scheduler = scheduler
        if symmetry == "none":  # the CLI's default, and a natural way to say "no symmetry"
            symmetry = None
        if symmetry is not None and (not isinstance(symmetry, str) or symmetry not in SYMMETRIES):
            raise InputError(f"unknown symmetry {shown(symmetry)} (choose from {', '.join(SYMMETRIES)})")
        if symmetry == "t2":
            from fastmm.search.transpose_symmetric import check_shape as t2_shape

            t2_shape(self.shape)
        elif symmetry is not None and len(set(self.shape)) != 1:
            from fastmm.search.symmetric import t2_hint

            raise InputError(f"symmetry={symmetry!r} (--symmetry {symmetry}) needs a square shape ⟨n,n,n⟩, "
                             f"got ⟨{self.shape[0]},{self.shape[1]},{self.shape[2]}⟩" + t2_hint(self.shape))
        self.symmetry = symmetry
        known = methods()
        if not isinstance(method, str) or method not in known:
            raise InputError(f"unknown method {shown(method)} (choose from {', '.join(known)})")
        if options is not None and not isinstance(options, dict):
            raise InputError(f"options must be a dict of option name -> value, got {type(options).__name__}")
        bad_names = [k for k in options or {} if not isinstance(k, str)]
        if bad_names:
            raise InputError(f"option names are strings, got {shown(bad_names[0])}")
        if method == "auto" and ring == "Q" and options and "start" in options:  # QA-134: "not 'flip'"
            raise InputError("ring Q is searched by the numerical methods only (method 'als' or 'spn'), "
                             "which start from random points, not from a start scheme (--start)")
        if method == "auto" and options and "start" in options:  # a walk from the given start
            method = "symmetric" if symmetry is not None else (
                "pool" if choose_method(self.shape, self.rank, ring) == "pool" else "flip")
        self.method = method if method != "auto" else choose_method(self.shape, self.rank, ring, symmetry)
        if symmetry is not None and self.method != "symmetric":
            raise InputError(f"symmetry={symmetry!r} (--symmetry {symmetry}) runs the symmetric flip graph: "
                             f"use method 'symmetric' or 'auto', not {self.method!r}")
        if ring == "Q" and self.method not in ("als", "spn"):
            raise InputError(f"ring Q is searched by the numerical methods only (method 'als' or 'spn'), "
                             f"not {self.method!r}")
        # numpy numbers (np.int64(4), np.float32(0.05)) are taken as the Python numbers they are
        self.options = {k: plain_number(v) for k, v in (options or {}).items()}
        if self.method == "symmetric":  # one name for the group: --symmetry, --option group or c3
            group = self.options.get("group")
            if group is not None and (not isinstance(group, str) or group not in SYMMETRIES):
                raise InputError(f"option group must be one of {', '.join(SYMMETRIES)}, got {shown(group)}")
            if symmetry is not None and group is not None and group != symmetry:
                raise InputError(f"option group={group!r} contradicts symmetry={symmetry!r} "
                                 f"(--symmetry {symmetry}): give one of them")
            self.symmetry = symmetry or group or "c3"
            self.options["group"] = self.symmetry
        minimize = self.options.get("minimize", "none")
        minimize = "none" if minimize is None else minimize
        if not isinstance(minimize, str) or minimize not in ("none", "additions"):
            raise InputError(f"option minimize (--minimize) must be 'none' or 'additions', "
                             f"got {shown(minimize)}")
        if minimize == "additions" and self.method in ("als", "spn"):
            raise InputError(f"minimize='additions' (--minimize additions) walks the flip graph at the rank "
                             f"found: it runs with the walk methods (flip, pool, ternary, symmetric), "
                             f"not {self.method}")
        if "engine" in self.options and self.method != "spn":
            raise InputError(f"option engine (--engine) chooses how method 'spn' trains; the {self.method} "
                             f"method has no engines")
        numerical_only = [k for k in ("batch", "save_fitted") if k in self.options]
        if numerical_only and self.method not in ("als", "spn"):
            name = numerical_only[0]
            raise InputError(f"option {name} (--{name.replace('_', '-')}) is for the numerical methods "
                             f"(method 'als' or 'spn'), not {self.method}")
        if "batch" in self.options:
            self.options["batch"] = positive_int(self.options["batch"], "option batch (--batch)", 1_000_000)
        if "save_fitted" in self.options:
            self.options["save_fitted"] = save_fitted_folder(self.options["save_fitted"])
        device = self.options.get("device")
        if device is not None:  # cpu or cuda, in any case (as rings are)
            if not isinstance(device, str) or device.lower() not in ("cpu", "cuda"):
                raise InputError(f"device (--device) must be cpu or cuda, got {shown(device)}")
            device = self.options["device"] = device.lower()
        if device not in (None, "cpu") and self.method not in ("als", "spn"):
            raise InputError(f"device={device!r} (--device {device}) runs the numerical methods "
                             f"(method 'als' or 'spn'); the {self.method} method walks on the CPU")
        if "start" in self.options:
            self.options["start"] = check_start(self.options["start"], self.shape, self.method,
                                                 self.options.get("group"))
        check_walk_options(self.method, self.options, self.shape)
        # the search reads the catalogue (starts, its own entry): a FASTMM_CATALOG that is not a
        # folder is refused now, before any work, as every command refuses it
        check_catalog_dir()

    def task(self, seed: int, time_limit: float):
        from fastmm.search.base import SearchTask

        return SearchTask(*self.shape, self.rank, self.ring, seed, time_limit, dict(self.options))


START_METHODS = ("flip", "pool", "ternary", "symmetric")


def check_start(scheme, shape: tuple[int, int, int], method: str, group: str | None = None) -> Scheme:
    """The scheme a walk starts from, checked: a verified Scheme of `shape` (or of a permutation of
    it, turned into `shape`), integral for the GF(2) walks, ternary for the ternary walk; StartError
    (an InputError) if not."""
    if method not in START_METHODS:
        raise StartError(f"a start scheme (--start) is walked from by the methods "
                         f"{', '.join(START_METHODS)}; the {method} method builds its own starts")
    if not isinstance(scheme, Scheme):
        raise StartError(f"the start scheme must be a fastmm Scheme, not {type(scheme).__name__}")
    if sorted(scheme.shape) != sorted(shape):
        raise StartError(f"the start scheme {scheme.label()} does not fit ⟨{shape[0]},{shape[1]},{shape[2]}⟩")
    scheme = scheme.permuted(shape)
    verdict = verify(scheme, sympy=False)
    if not verdict.ok:
        raise StartError(f"the start scheme {scheme.label()} fails verification: {verdict.lines()[0]}")
    if not scheme.is_integral:
        raise StartError(f"the start scheme {scheme.label()} has fractions: the walks need integer "
                         f"coefficients")
    if method == "ternary" and verdict.ring != "ZT":
        raise StartError(f"the ternary walk starts from a ZT scheme; {scheme.label()} is {verdict.ring}")
    if method == "symmetric":
        from fastmm.search.symmetric import pair_central, split_scheme

        try:
            if group == "t2":
                from fastmm.search.transpose_symmetric import split_scheme as t2_split
                from fastmm.search.transpose_symmetric import walk_shape

                t2_split(scheme.permuted(walk_shape(shape) or shape))  # σ-symmetric modulo 2
                return scheme
            split = split_scheme(scheme)  # InputError unless it is C3-symmetric modulo 2
            if group == "c3j":
                pair_central(shape[0], split)  # and symmetric under X -> JXJ in orbits of six
        except InputError as exc:
            raise StartError(str(exc)) from None
    return scheme


COMBINE_OPS = ("kron", "sum", "project", "permute")
# rank × (nm + mp + np) of a result: what a scheme file may hold (fastmm.validate), so that
# every combination written can be read back
COMBINE_MAX_ENTRIES = MAX_COEFFICIENTS


def combine(op: str, *schemes: Scheme, axis: str | None = None, index: int | None = None,
            shape: Sequence[int] | None = None, sympy: bool = True) -> Scheme:
    """A new scheme from verified ones, verified before it is returned: "kron" (Kronecker product
    of two), "sum" (direct sum of two along `axis` n, m or p), "project" (drop `index` of `axis`,
    the meta flip graph's move down) or "permute" (the equivalent scheme of a permuted `shape`).
    Products of C3-symmetric schemes stay C3-symmetric (and six-fold ones six-fold): starts for
    `--symmetry c3` (c3j) walks. A result made from a scheme valid modulo 2 only (ring Z2) whose
    coefficients are exact over the integers is returned with that ring (ZT or Z), verified there,
    as a scheme file holds it; otherwise it stays Z2, verified modulo 2."""
    from fastmm.errors import SchemeError
    from fastmm.io import MAX_DIM, exact_as_written
    from fastmm.validate import MAX_BRENT_WORK

    sympy = flag(sympy, "combine", "sympy")  # before the work, not when its result is verified
    arity = {"kron": 2, "sum": 2, "project": 1, "permute": 1}
    if not isinstance(op, str) or op not in arity:
        raise InputError(f"unknown combination {shown(op)} (choose from {', '.join(COMBINE_OPS)})")
    if len(schemes) != arity[op]:
        raise InputError(f"{op} takes {arity[op]} scheme(s), got {len(schemes)}")
    for s in schemes:
        if not isinstance(s, Scheme):
            raise InputError(f"{op} takes fastmm Schemes, not {type(s).__name__}")
        verdict = verify(s, sympy=False)
        if not verdict.ok:
            raise InputError(f"{s.label()} fails verification: {verdict.lines()[0]}")
    if len(schemes) == 2 and {s.ring for s in schemes} & {"Z2"} and not all(s.is_integral for s in schemes):
        raise InputError(f"{op}: a Z2 scheme combines with integer schemes only, not with one that "
                         "has fractions (its result would be valid modulo 2 only, where 1/2 has no meaning)")
    wants_axis = op in ("sum", "project")
    if wants_axis and (not isinstance(axis, str) or axis not in ("n", "m", "p")):
        got = "--axis on the command line" if axis is None else f"got {shown(axis)}"
        raise InputError(f"{op} needs an axis: n, m or p ({got})")
    if not wants_axis and axis is not None:
        raise InputError(f"{op} takes no axis")
    if (op == "project") != (index is not None):
        raise InputError("an index is for project only, and project needs one" if index is not None
                         else "project needs the index to drop (0-based)")
    if index is not None:
        index = integer(index, "the index to drop", "a whole number ≥ 0")
        if index < 0:
            raise InputError(f"the index to drop must be a whole number ≥ 0, got {index}")
    if (op == "permute") != (shape is not None):
        raise InputError("a shape is for permute only" if shape is not None else
                         "permute needs the target shape")
    first = schemes[0]
    if op == "kron":
        dims = [a * b for a, b in zip(first.shape, schemes[1].shape, strict=True)]
        rank = first.rank * schemes[1].rank
    else:
        dims, rank = list(first.shape), sum(s.rank for s in schemes)
        if op == "sum":
            k = "nmp".index(axis)
            dims[k] = first.shape[k] + schemes[1].shape[k]
    n, m, p = dims
    if max(dims) > MAX_DIM:
        raise InputError(f"the {op} would be ⟨{n},{m},{p};{rank}⟩: beyond {MAX_DIM} per dimension")
    if rank * (n * m + m * p + n * p) > COMBINE_MAX_ENTRIES:
        raise InputError(f"the {op} would be ⟨{n},{m},{p};{rank}⟩ with {rank * (n * m + m * p + n * p):,} "
                         f"coefficients, more than a scheme file holds ({COMBINE_MAX_ENTRIES:,})")
    work = (n * m) * (m * p) * (n * p) * rank  # a scheme file holds only what can be verified
    if work > MAX_BRENT_WORK:
        raise InputError(f"the {op} would be ⟨{n},{m},{p};{rank}⟩, too large to verify "
                         f"((nm)(mp)(np)·r = {work:,} > {MAX_BRENT_WORK:,})")
    try:
        if op == "kron":
            out = first.kron(schemes[1])
        elif op == "sum":
            out = first.direct_sum(schemes[1], axis)
        elif op == "project":
            out = first.project(axis, index)
        else:
            out = first.permuted(check_shape(shape, MAX_DIM, f"{MAX_DIM} per dimension, the most a scheme "
                                                            "file holds"))
    except SchemeError as exc:
        raise InputError(str(exc)) from None
    if out.ring == "Z2":  # a projection or product of GF(2) schemes can be exact over the integers
        exact = exact_as_written(*out.shape, out.Wa, out.Wb, out.Wc)
        if exact is not None:
            out = out.with_meta(ring=exact)
    prov: dict = {"derived": op, "from": [s.label() for s in schemes]}  # JSON: plain str and int only
    if axis is not None:
        prov["axis"] = str(axis)
    if index is not None:
        prov["index"] = index  # an int (integer), never the caller's np.int64
    return verified(out.with_meta(provenance=prov), sympy=sympy)


def check_scheduler(address: str) -> str:
    """tcp://HOST:PORT (or HOST:PORT) with a port in range; checked before any connection."""
    if not isinstance(address, str):
        raise InputError(f"the scheduler (--scheduler) is an address tcp://HOST:PORT, got {shown(address)}")
    text = address.strip()
    rest = text[len("tcp://"):] if text.startswith("tcp://") else text
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise InputError(f"the scheduler (--scheduler) must look like tcp://HOST:PORT, got {address!r}")
    return f"tcp://{host}:{int(port)}"


def search(shape: Sequence[int], rank: int, *, ring: str = "ZT", method: str = "auto", seed: int = 0,
           time_limit: float = 300.0, workers: int = 1, scheduler: str | None = None,
           symmetry: str | None = None, sympy: bool = True, use_own_catalog_entry: bool = False,
           options: dict | None = None, on_progress: Callable | None = None,
           command: str = "", resume: str | os.PathLike | Checkpoint | None = None) -> Scheme:
    """Find a scheme for `shape` with at most `rank` multiplications, verified before it is returned.

    `symmetry` "c3" or "c3j" (square shapes) restricts the walk to schemes invariant under the
    rotation (A,B,Cᵀ) -> (Cᵀ,A,B), and for c3j also under X -> JXJ (fastmm.search.symmetric);
    "t2" (two equal sizes) to schemes invariant under the transpose (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ)
    (fastmm.search.transpose_symmetric).
    `resume` (a directory; the walk methods) checkpoints the search there as `fastmm search
    --resume DIR` does, and a later call with the same directory continues from what it saved,
    with fresh seeds (`seed` is then used only for a new directory).
    `on_progress(worker, progress)` is called with the worker's index (0 .. workers-1) and a
    fastmm.search.base.Progress (rank reached, steps, restarts, elapsed seconds, note) a few
    times a second.
    Raises InputError for a request that cannot be searched (shape beyond 8, rank below a proven
    bound, nan time limit, a checkpoint of another search...), SearchFailed when the time runs out
    (its `.best` is the lowest-rank verified scheme reached, or None; `.mod2` a lower one valid
    modulo 2 only that the walks could not lift, ring Z2, or None) and SearchInterrupted on Ctrl-C.
    """
    found = search_distinct(shape, rank, count=1, ring=ring, method=method, seed=seed,
                            time_limit=time_limit, workers=workers, scheduler=scheduler,
                            symmetry=symmetry, sympy=sympy,
                            use_own_catalog_entry=use_own_catalog_entry, options=options,
                            on_progress=on_progress, command=command, resume=resume)
    return found[0]


def _note_symmetric_start(req: SearchRequest) -> None:
    """Warn when a C3 (c3j) walk's --start, or the naive start's cube grouping given as
    `--option cubes`, fixes cubes whose count rules out the target rank: its ranks are ≡ cubes
    (mod 3, or 6), so it must go lower than asked (without `cubes` the naive start picks a
    grouping that fits the target: symmetric.cube_groups)."""
    start = req.options.get("start")
    if req.method != "symmetric" or req.symmetry not in ("c3", "c3j"):
        return
    from fastmm.search.symmetric import cube_groups, pair_central, split_scheme
    from fastmm.search.symmetric import start as naive_split

    orbit = 6 if req.symmetry == "c3j" else 3
    if isinstance(start, Scheme):
        try:
            cubes = len(split_scheme(start)[1])
        except InputError:  # not a symmetric start: the search says so
            return
        if start.rank <= req.rank:
            return
        what = (f"the start {start.label()} has {cubes} fixed cube(s), so a --symmetry {req.symmetry} "
                "walk from it")
    elif start is None and req.options.get("cubes") is not None:  # QA-134: cubes=4 for a c3j 49
        try:
            groups = cube_groups(req.shape[0], req.rank, req.options["cubes"], orbit)
            if orbit == 6:  # its groups must pair under X -> JXJ
                pair_central(req.shape[0], naive_split(req.shape[0], groups))
        except InputError:  # the search says what is wrong with it
            return
        cubes = len(groups)
        what = (f"cubes={req.options['cubes']!r} makes {cubes} fixed cube group(s), so a --symmetry "
                f"{req.symmetry} walk")
    else:
        return
    if (cubes - req.rank) % orbit:
        first = req.rank - (req.rank - cubes) % orbit
        _warn_caller(f"{what} reaches only ranks ≡ {cubes % orbit} (mod {orbit}): the first at or below "
                     f"{req.rank} is {first}")


def _note_python_walk(req: SearchRequest) -> None:
    """Warn when a flip-graph walk of the request cannot run compiled: its C and numba walks keep
    a factor in one 64-bit word, so a shape with an 8×8 factor (64 entries) walks in plain Python."""
    from fastmm.search.flip import MAX_BITS_NUMBA, factor_entries

    n, m, p = req.shape
    entries = factor_entries(req.shape)
    if entries > MAX_BITS_NUMBA and req.method in ("flip", "pool", "ternary"):  # symmetric: n ≤ 7
        _warn_caller(f"⟨{n},{m},{p}⟩ has a factor of {entries} entries, past the {MAX_BITS_NUMBA} the "
                     "compiled walks hold: it walks in plain Python, hundreds of times slower")


def _warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """A warning that names the first caller outside fastmm (search and search_distinct are one
    and two calls deep, and the callable module's wrapper may sit between)."""
    import sys
    import warnings

    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "fastmm":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


MAX_DISTINCT = 1000  # schemes one search_distinct (--distinct K) asks for


def search_distinct(shape: Sequence[int], rank: int, count: int = 1, *, ring: str = "ZT",
                    method: str = "auto", seed: int = 0, time_limit: float = 300.0, workers: int = 1,
                    scheduler: str | None = None, symmetry: str | None = None, sympy: bool = True,
                    use_own_catalog_entry: bool = False, options: dict | None = None,
                    on_progress: Callable | None = None, command: str = "",
                    on_found: Callable[[Scheme], None] | None = None,
                    resume: str | os.PathLike | Checkpoint | None = None) -> list[Scheme]:
    """Like `search`, but collect `count` pairwise inequivalent schemes (each verified).

    `on_found(scheme)` is called with each verified scheme as soon as it exists, so a caller
    can write it before the search goes on. Raises SearchFailed when fewer than `count` were
    found (`.found` holds those that were).
    """
    time_limit = check_time_limit(time_limit)  # a number here (SearchRequest also reads the CLI's text)
    sympy = flag(sympy, "search", "sympy")  # before the search, not when its scheme is verified
    use_own_catalog_entry = flag(use_own_catalog_entry, "search", "use_own_catalog_entry")
    for own in ("checkpoint_dir", "starts"):  # what resume= puts there, checked and locked
        if isinstance(options, dict) and own in options:
            raise InputError(f"options: {own} is set by resume=DIR (--resume DIR), not given")
    if not isinstance(command, str):  # it goes into the scheme's provenance, which is JSON
        raise InputError(f"command is the text of the command that asked, got {shown(command)}")
    for name, call in (("on_progress", on_progress), ("on_found", on_found)):
        if call is not None and not callable(call):  # before the search starts, not in its first report
            raise InputError(f"{name} must be a function (or None), got {shown(call)}")
    req = SearchRequest(shape, rank, ring, method, seed, time_limit, workers, scheduler, symmetry, options)
    count = positive_int(count, "the number of distinct schemes", MAX_DISTINCT)
    if count > 1 and req.options.get("minimize") == "additions":
        raise InputError("minimize='additions' (--minimize additions) spends the whole time limit polishing "
                         "one scheme: run it with count=1 (without --distinct)")
    n, m, p = req.shape
    if count > 1 and sorted(req.shape) == [2, 2, 2] and req.rank == 7:
        raise InputError("every ⟨2,2,2;7⟩ scheme is equivalent to Strassen's (de Groote 1978): "
                        "there is only one up to equivalence")
    if req.rank >= n * m * p and count > 1:
        raise InputError(f"{count} distinct schemes (--distinct {count}) need a rank below {n * m * p} = "
                         f"n·m·p for ⟨{n},{m},{p}⟩: at that rank fastmm answers with the naive scheme only")
    if req.rank >= n * m * p and not req.options.get("minimize"):
        if resume is not None:  # checked as the command line checks it (QA-130: anything passed)
            opened = _resume_opened(resume, req)
            if opened is not resume:
                opened.close()  # nothing was written
        naive = naive_scheme(n, m, p).with_meta(provenance={
            "method": "naive", "version": __version__, "command": command})
        checked = verified(naive, sympy)
        if on_found:
            on_found(checked)
        return [checked]
    _note_python_walk(req)
    _note_symmetric_start(req)
    if req.method == "pool" and not use_own_catalog_entry:
        from fastmm.catalog import best_catalog_rank

        have = best_catalog_rank(req.shape, req.ring)
        if have is not None and have <= req.rank:
            # the shape's own entry would answer at once: search without it, so it is *found*
            req.options.setdefault("exclude_catalog_shapes", [req.shape])
    if resume is None:
        _check_worker_seeds(req)
        return _search_runs(req, count, sympy, command, on_progress, on_found)
    from fastmm.search.checkpoint import Checkpoint, Watched

    given = isinstance(resume, Checkpoint)  # the command line's, opened to say what it resumes
    checkpoint = _resume_opened(resume, req)
    if given:
        checkpoint.check_for(req)
    try:
        req.options.update(checkpoint.task_options())
        already: list[Scheme] = []
        done = _saved_answer(req)
        if done is not None:  # the first answer; --distinct walks on for the others
            already.append(verified(done.with_meta(provenance={
                **done.provenance, "resumed_from": str(checkpoint.saved_in(done))}), sympy))
            if on_found:
                on_found(already[0])
            if count == 1:
                checkpoint.finish("found")
                return already
        req.seed = checkpoint.first_seed(req.seed)
        _check_worker_seeds(req, checkpoint if checkpoint.resumed else None)

        def kept(scheme: Scheme) -> None:  # in best.json before the search goes on
            checkpoint.record_best(scheme, same_rank=True)
            if on_found:
                on_found(scheme)

        try:
            found = _search_runs(req, count, sympy, command, Watched(checkpoint, on_progress), kept,
                                 checkpoint, already)
        except SearchFailed as exc:
            if exc.best is not None:
                checkpoint.record_best(exc.best, same_rank=True)
            checkpoint.finish("interrupted" if isinstance(exc, SearchInterrupted) else "stopped")
            raise
        except BaseException as exc:  # a signal, a callback that raised, a scheduler out of reach
            # a request a method refused once its seeds were reserved leaves DIR as it was
            if not (isinstance(exc, InputError) and checkpoint.undo()):
                checkpoint.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped")
            raise
        checkpoint.finish("found")
        return found
    finally:
        if not given:  # the command line says it in its own words
            checkpoint.close()
            if checkpoint.write_error:
                _warn_caller(f"the checkpoint in {checkpoint.directory} was not fully updated: "
                             f"{checkpoint.write_error}", RuntimeWarning)


def _resume_opened(resume: object, req: SearchRequest) -> Checkpoint:
    """`resume` as a Checkpoint: the command line's, opened already, or the directory opened and
    locked for `req` (nothing is written yet); InputError where it is no directory it could resume."""
    from fastmm.search.checkpoint import Checkpoint, open_for_search

    if isinstance(resume, Checkpoint):
        return resume
    if not isinstance(resume, str | os.PathLike):
        raise InputError(f"resume is a directory name, got {shown(resume)}")
    return open_for_search(resume, req)


def _saved_answer(req: SearchRequest) -> Scheme | None:
    """The lowest scheme a --resume directory saved that already answers the request (its shape,
    a rank at or below the target, valid in the ring, of the walk's symmetry): the answer of a
    resumed search that is done, and the first of --distinct's, whatever the method (QA-130: pools
    answered with it, flip walks looked for another one and, failing, said a worse rank than the
    directory held). None with --start or --minimize, which walk on from elsewhere."""
    if req.options.get("start") is not None or req.options.get("minimize"):
        return None
    answers = [s for s in req.options.get("starts", ()) if isinstance(s, Scheme) and s.shape == req.shape
               and s.rank <= req.rank and scheme_serves(s, req.ring) and _of_symmetry(s, req.symmetry)]
    return min(answers, key=lambda s: s.rank, default=None)


def _of_symmetry(scheme: Scheme, symmetry: str | None) -> bool:
    """Can `scheme` be a result of a walk of `symmetry` (None: any scheme)? One such walk made
    (its provenance says so: a Hensel lift and frames need not keep the symmetry), or one that
    splits into the walk's orbits modulo 2."""
    if symmetry is None or scheme.provenance.get("symmetry") == symmetry:
        return True
    if symmetry == "t2":
        from fastmm.search import transpose_symmetric as t2

        shape = t2.walk_shape(scheme.shape)
        return shape is not None and t2.splits(scheme, shape)
    from fastmm.search.symmetric import splits

    return splits(scheme, 6 if symmetry == "c3j" else 3)


def _check_worker_seeds(req: SearchRequest, resumed: Checkpoint | None = None) -> None:
    """Worker i walks seed + i: every one must be a seed (below SEED_LIMIT), as `seed` is. On a
    resume the seeds are the checkpoint's next fresh ones, not the user's."""
    if req.seed + req.workers > SEED_LIMIT:
        if resumed is not None:
            left = SEED_LIMIT - req.seed
            raise InputError(f"--resume {resumed.directory}: only {left} fresh seed(s) are left below "
                             f"{SEED_LIMIT_TEXT} for {req.workers} workers; use --workers {left} or a new "
                             "directory")
        raise InputError(f"the seeds of {req.workers} workers, {req.seed} .. {req.seed + req.workers - 1}, "
                         f"must be below {SEED_LIMIT_TEXT}: give a smaller seed")


def _search_runs(req: SearchRequest, count: int, sympy: bool, command: str,
                 on_progress: Callable | None, on_found: Callable[[Scheme], None] | None,
                 checkpoint: Checkpoint | None = None, already: list[Scheme] | None = None) -> list[Scheme]:
    """Runs of the search (fresh seeds each) until `count` inequivalent verified schemes
    (`checkpoint`: the resumed one, whose kept GF(2) scheme a failure hands out too; `already`:
    the one it saved that answers the search, counted first)."""
    from fastmm.search.runner import run_search

    found: list[Scheme] = list(already or ())
    t0 = time.monotonic()
    attempt = 0
    summary = None
    why = ""  # why the attempts stopped short, when it is not the time limit
    while len(found) < count:
        left = req.time_limit - (time.monotonic() - t0)
        if left <= 0:
            break
        if req.seed + (attempt + 1) * req.workers > SEED_LIMIT:
            last = req.seed + attempt * req.workers - 1
            why = f"no fresh seed left below {SEED_LIMIT_TEXT} after seed {last}"
            break
        task = req.task(req.seed + attempt * req.workers, left)
        summary = run_search(task, req.method, req.workers, req.scheduler, on_progress)
        for failure in summary.failures:  # a worker or cluster job that died: the others went on
            _warn_caller(failure, RuntimeWarning)
        attempt += 1
        outcome = summary.outcome
        if outcome.scheme is None:
            break
        scheme = outcome.scheme
        if not scheme_serves(scheme, req.ring):
            raise FastmmError(f"internal error: {req.method} returned a {scheme.coefficient_ring} "
                              f"scheme for ring {req.ring}")
        prov = {**scheme.provenance, "method": req.method, "seed": outcome.seed,
                "seconds": round(outcome.seconds, 3), "steps": outcome.steps,
                "restarts": outcome.restarts, "version": __version__, "command": command}
        if req.symmetry:
            prov["symmetry"] = req.symmetry
        if count > 1:
            same = _equivalent_to_one_found(found, scheme, deadline=t0 + req.time_limit)
            if same is None:  # undecided at the time limit: not counted
                break
            if same:
                if outcome.steps == 0 and not _walk_from_elsewhere(req):
                    why = ("every attempt returns its start, which already has the rank "
                           "(a --start or a saved scheme): walk from elsewhere")
                    break
                continue
        checked, cut = _verified_interruptible(scheme.with_meta(provenance=prov), sympy)
        found.append(checked)
        if on_found:
            on_found(checked)
        if cut:
            err = SearchInterrupted(f"interrupted during the sympy proof of the {checked.label()} scheme "
                                    "found; it was verified by the exact Brent equations instead")
            err.found = found  # type: ignore[attr-defined]
            raise err
        if summary.interrupted:
            break
    if len(found) >= count:
        return found
    raise _failure(req, summary, found, sympy, command, count, checkpoint, why)


def _equivalent_to_one_found(found: list[Scheme], scheme: Scheme, deadline: float) -> bool | None:
    """Is `scheme` equivalent to one of `found`? None when the comparison could not be settled
    before `deadline` (the search's time limit); a comparison that runs out of search nodes
    counts as inequivalent, as in equivalence.dedupe."""
    from fastmm.equivalence import equivalent, invariants

    inv = invariants(scheme)
    for other in found:
        if invariants(other) != inv:
            continue
        verdict = equivalent(other, scheme, deadline=deadline)
        if verdict.status == "equivalent":
            return True
        if verdict.status == "unknown" and time.monotonic() > deadline:
            return None
    return False


def _walk_from_elsewhere(req: SearchRequest) -> bool:
    """After an attempt whose start already had the rank (it came back unchanged, 0 steps): let
    the next attempts of `--distinct` start where they have to walk: without the schemes a
    --resume directory saved, then (pools) without the catalogue's constructions, from the naive
    scheme. False when there is no such choice left (a --start)."""
    if "start" in req.options:
        return False
    if req.options.get("starts"):
        req.options["starts"] = []
        return True
    if req.method == "pool" and req.options.get("constructions", True):
        req.options["constructions"] = False
        return True
    return False


def _verified_interruptible(scheme: Scheme, sympy: bool) -> tuple[Scheme, bool]:
    """verified(scheme); a Ctrl-C during the sympy proof falls back to the exact Brent check, so
    a scheme that was found is never lost. Returns (verified scheme, whether it was cut short)."""
    try:
        return verified(scheme, sympy), False
    except KeyboardInterrupt:
        return verified(scheme, sympy=False), True


def _failure(req: SearchRequest, summary, found: list[Scheme], sympy: bool, command: str,
             count: int = 1, checkpoint: Checkpoint | None = None, stopped: str = "") -> SearchFailed:
    from fastmm.known_ranks import best_known_rank

    n, m, p = req.shape
    interrupted = bool(summary and summary.interrupted)
    outcome = summary.outcome if summary else None
    if interrupted:
        why = "before the interrupt"
    elif stopped:
        why = f"({stopped})"
    elif outcome is not None and outcome.stopped == "restarts":
        why = f"in {outcome.restarts} restart(s) (its max_restarts)"
    else:
        why = f"within {req.time_limit:g} s"
    if found:
        msg = f"found {len(found)} of {count} inequivalent ⟨{n},{m},{p};{req.rank}⟩ schemes {why}"
    else:
        msg = f"no ⟨{n},{m},{p}⟩ scheme of rank {req.rank} over {req.ring} {why}"
    best = summary.outcome.best if summary else None
    start = req.options.get("start")
    start_rank = start.rank if isinstance(start, Scheme) else None
    # nothing at or above what was found, the naive scheme or the start (a copy of it is no news)
    floor = min((s.rank for s in found), default=max(n * m * p, start_rank or 0))
    checked = None
    if best is not None and best.rank < floor:
        prov = {**best.provenance, "method": "best-so-far", "search_method": req.method,
                "seed": summary.outcome.seed, "version": __version__, "command": command}
        try:
            checked, _ = _verified_interruptible(best.with_meta(provenance=prov), sympy)
        except VerificationError:
            checked = None  # never hand out what does not verify
    if checked is not None:
        msg += f"; best rank reached {checked.rank}"
    elif start_rank is not None and not found:  # stopped before the walk went below its start
        msg += f"; best rank reached {start_rank} (the start's)"
    mod2 = _mod2_low(req, summary, checked, command, checkpoint)
    if mod2 is not None and mod2.rank >= floor:
        mod2 = None
    if mod2 is not None:
        msg += f"; rank {mod2.rank} valid modulo 2 only, which did not lift"
    known = best_known_rank(req.shape, req.ring)
    if known is not None:
        msg += f"; best known {req.ring} rank for this shape: {known}"
    cls = SearchInterrupted if interrupted else SearchFailed
    err = cls(msg, best=checked, outcome=summary.outcome if summary else None, mod2=mod2)
    err.found = found  # type: ignore[attr-defined]
    return err


def _mod2_low(req: SearchRequest, summary, best: Scheme | None, command: str,
              checkpoint: Checkpoint | None) -> Scheme | None:
    """The lowest scheme valid modulo 2 only that the walks kept below `best` (they found no
    lift of it), labelled Z2 and verified modulo 2, or the one a resumed checkpoint keeps
    (DIR/gf2-seedS.json: the walks went on from it); None when there is none."""
    lows = [o for o in (summary.outcomes if summary else []) if o.mod2 is not None]
    low = min(lows, key=lambda o: o.mod2.rank, default=None)
    kept = checkpoint.gf2_low() if checkpoint is not None else None
    if kept is not None and (low is None or kept[0] <= low.mod2.rank):
        if best is not None and kept[0] >= best.rank:
            return None
        try:  # as it is on disk: verified modulo 2, with the seed and status the walk wrote
            return load_verified(kept[1])
        except FastmmError:
            return None
    if low is None or (best is not None and low.mod2.rank >= best.rank):
        return None
    prov = {**low.mod2.provenance, "method": "gf2-low", "search_method": req.method, "seed": low.seed,
            "seconds": round(low.seconds, 3), "status": "the lowest GF(2) rank walked to; the search's "
            "lift found no scheme over its ring reducing to it (fastmm lift may try harder)",
            "version": __version__, "command": command}
    try:
        return verified(low.mod2.with_meta(ring="Z2", provenance=prov), sympy=False)
    except VerificationError:
        return None  # never hand out what does not verify


# -- export, catalogue, multiplication ------------------------------------------------------------

def finish(path: str | os.PathLike, *, ring: str = "Q", point: int | None = None, frames: int = 4,
           trials: int = 2, max_denominator: int = 64, time_limit: float = 600.0, sympy: bool = True,
           progress: Callable[[str], None] | None = None, stop: Callable[[], bool] | None = None) -> Scheme:
    """An exact scheme from fitted floating-point points (`fastmm search --save-fitted DIR` of
    the numerical search, or results/numerical_points/*.json): frames, fix and repair, rational
    reconstruction (fastmm.search.exactify). The scheme is verified (a sympy proof too unless
    sympy=False) before it is returned; SearchFailed when no point finishes in time, saying how
    many were tried, SearchInterrupted when stop() became true first. A point whose rank is below
    a proven lower bound for its shape is an InputError before any work.
    `point` (1-based) picks one point of a file that holds several."""
    from fastmm.search.exactify import FinishReport, finish_point, load_points

    ring = ring_arg(ring, "finish", ("Q", "Z", "ZT"))
    if ring not in ("Q", "Z", "ZT"):
        raise InputError(f"finish: ring must be Q, Z or ZT, not {ring!r}")
    for name, fn in (("progress", progress), ("stop", stop)):
        if fn is not None and not callable(fn):
            kind = "of one str" if name == "progress" else "of no arguments returning a bool"
            raise InputError(f"finish: {name} must be a function {kind}, got {shown(fn)}")
    limit = check_time_limit(time_limit)
    sympy = flag(sympy, "finish", "sympy")  # before the work, not when its scheme is verified
    frames = positive_int(frames, "frames", 50)
    trials = positive_int(trials, "trials", 50)
    max_denominator = positive_int(max_denominator, "max_denominator", 10**6)
    path = path_arg(path, "finish")
    where = os.fspath(path)
    points = load_points(path)
    total, numbers = len(points), list(range(1, len(points) + 1))
    if point is not None:
        k = positive_int(point, "point")
        if k > len(points):
            raise InputError(f"point {k}: {where} holds {len(points)} point(s)")
        points, numbers = [points[k - 1]], [k]
    for k, pt in zip(numbers, points, strict=True):
        why = impossible_rank(pt.shape, pt.rank, ring)
        if why is not None:
            raise InputError(f"{where}, point {k}: {why}; nothing was tried")
    report = FinishReport()
    deadline = time.monotonic() + limit
    tried = 0
    for k, pt in zip(numbers, points, strict=True):
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop()):
            report.stopped = report.stopped or ("a stop request" if left > 0 else "the time limit")
            break
        if progress:
            progress(f"point {k} of {total}: ⟨{','.join(map(str, pt.shape))};{pt.rank}⟩")
        tried += 1
        found = finish_point(pt, ring, frames=frames, trials=trials, max_denominator=max_denominator,
                             time_limit=left, report=report, progress=progress, stop=stop)
        if found is not None:
            prov = {"method": "finish", **found.provenance, "points_file": where, "point": k,
                    **({"fitted_by": pt.source} if pt.source else {}), "version": __version__}
            checked, cut = _verified_interruptible(found.with_meta(provenance=prov), sympy)
            if cut:  # as in search: a scheme that was found is handed out, never lost
                err = SearchInterrupted(f"interrupted during the sympy proof of the {checked.label()} scheme "
                                        "finished; it was verified by the exact Brent equations instead")
                err.found = [checked]  # type: ignore[attr-defined]
                raise err
            return checked
        if report.stopped:
            break
    counts = (f"{report.frames} frame orders tried, {report.isolated} isolated, {report.rational} rational, "
              f"{report.failed} failed the exact check, {report.other_ring} exact only over a larger ring "
              f"than {ring}")
    if point is not None:
        of = f"point {numbers[0]} of {where}"
    elif report.stopped is None:
        of = f"{total} point(s) of {where}"
    else:
        of = f"{tried} of {total} point(s) of {where}"
    if report.stopped is None:
        raise SearchFailed(f"no exact scheme from {of} ({counts})")
    if report.stopped == "a stop request":
        raise SearchInterrupted(f"no exact scheme from {of} before the interrupt ({counts})")
    detail = f": {report.detail}" if report.detail else ""
    raise SearchFailed(f"no exact scheme from {of} before the time limit ({limit:g} s){detail} ({counts})")


def lift(scheme: Scheme, ring: str = "ZT", *, seed: int = 0, tries: int = 32, sympy: bool = True,
         time_limit: float | None = None) -> Scheme:
    """A scheme over `ring` ("ZT" or "Z") that reduces to `scheme` modulo 2, verified before it
    is returned (a GF(2) scheme from a flip-graph tool made valid over the integers).

    `scheme` must be valid modulo 2 (labelled Z2, or integral: its reduction is lifted; terms
    that vanish modulo 2 are dropped). Sign lifting gives ZT schemes (up to `tries` points of the
    mod-4 sign system), Hensel lifting Z ones; for ZT, a scheme without a sign lift is also
    Hensel-lifted and moved by changes of basis towards ternary coefficients (provenance lift
    "hensel + frames": a ZT scheme of the same rank that does not reduce to the input modulo 2);
    a scheme valid over Z is first moved that way itself (lift "frames").
    A scheme already valid over `ring` comes back as it is. FastmmError (exit 1) when nothing
    is found, saying whether no ternary lift exists. `time_limit` (seconds) stops the sign tries
    and the changes of basis when it has passed (SearchFailed).
    """
    from fastmm.search.flip import reduce_terms
    from fastmm.search.lift import LiftNotes, frame_to_ternary, no_lift_reason
    from fastmm.search.lift import lift as lift_terms
    from fastmm.search.terms import to_terms
    from fastmm.verify import verify as check

    scheme_arg(scheme, "lift")
    sympy = flag(sympy, "lift", "sympy")  # before the work, not when its result is verified
    given_ring = ring
    try:
        ring = ring_arg(ring, "lift")
    except InputError:
        ring = None
    if ring not in ("ZT", "Z"):
        raise InputError(f"lifting goes from GF(2) to ZT or Z, not {shown(given_ring)}")
    tries = positive_int(tries, "the number of tries", upper=1_000_000)
    seed = check_seed(seed)
    deadline = None if time_limit is None else time.monotonic() + check_time_limit(time_limit)

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    valid_already = scheme.ring != "Z2" and ring_serves(scheme.coefficient_ring, ring)
    if valid_already and check(scheme, use_sympy=False).ok:
        return verified(scheme, sympy=sympy)
    if not scheme.is_integral:
        raise InputError(f"{scheme.label()} has fractions: it has no reduction modulo 2 to lift")
    mod2 = check(scheme.with_meta(ring="Z2"), use_sympy=False)
    if not mod2.ok:
        raise VerificationError(f"{scheme.label()} is not a scheme modulo 2, so there is nothing to lift: "
                                + "; ".join(mod2.report.lines(False, limit=3)))
    got = None
    if ring == "ZT" and scheme.ring != "Z2" and check(scheme.with_meta(ring="Z"), use_sympy=False).ok:
        framed = frame_to_ternary(scheme.shape, scheme.Wa, scheme.Wb, scheme.Wc,  # Z: a basis change?
                                  stop=out_of_time)
        got = (framed, "frames") if framed is not None else None
    terms = reduce_terms(to_terms(scheme))
    notes = LiftNotes()
    got = got or lift_terms(scheme.shape, terms, ring, seed=seed, tries=tries, frames=True, stop=out_of_time,
                            notes=notes)
    if got is None and out_of_time():
        raise SearchFailed(f"no {ring} lift of {scheme.label()} found within {time_limit:g} s "
                           "(stopped at the time limit)")
    if got is None:
        raise FastmmError(f"no {ring} lift of {scheme.label()} found: "
                          + no_lift_reason(notes, ring, tries))
    lifted, how = got
    source = scheme.ring
    if source != "Z2" and not check(scheme, use_sympy=False).ok:  # its label does not hold
        exact_ring = scheme.coefficient_ring if scheme.coefficient_ring != scheme.ring else ""
        if exact_ring and check(scheme.with_meta(ring=exact_ring), use_sympy=False).ok:
            source = f"{exact_ring} (labelled {scheme.ring}, which its coefficients do not fit)"
        else:
            source = f"Z2 (labelled {scheme.ring}, valid modulo 2 only)"
    prov = {"method": "lift", "lift": how, "lifted_from": f"{scheme.label()} over {source}",
            "seed": seed, "version": __version__}
    return verified(lifted.with_meta(provenance=prov), sympy=sympy)


def export(scheme: Scheme, to: str = "text", *, cse: bool = True, ascii_only: bool = False) -> str | bytes:
    """The scheme as formulas, code or another tool's format (bytes for binary formats).

    Code formats share subexpressions (cse) unless the scheme is beyond the size the greedy
    search handles quickly (fastmm.metrics.CSE_WORK_LIMIT). The scheme is verified first (exact
    Brent equations): code is never generated for a scheme that does not multiply matrices.
    """
    if not isinstance(to, str) or to not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {to!r} (choose from {', '.join(EXPORT_FORMATS)})")
    cse, ascii_only = flag(cse, "export", "cse"), flag(ascii_only, "export", "ascii_only")
    scheme = verified(scheme_arg(scheme, "export"), sympy=False)
    if scheme.ring == "Z2":
        from fastmm.io import true_label

        relabelled = true_label(scheme)  # exact over the integers as written: say so, as `save` does
        if relabelled is not scheme:
            scheme = verified(relabelled, sympy=False)
    if cse and to in ("slp", "c", "numpy", "torch"):
        from fastmm.metrics import cse_fits

        cse = cse_fits(scheme)  # beyond its limit the greedy search is too slow
    if to in ("text", "markdown", "latex"):
        from fastmm.export.text import formulas

        return formulas(scheme, to, ascii_only)
    if to == "slp":
        from fastmm.export.text import slp_text

        return slp_text(scheme, cse)
    if to == "numpy":
        from fastmm.export.pycode import numpy_source

        return numpy_source(scheme, cse)
    if to == "torch":
        from fastmm.export.pycode import torch_source

        return torch_source(scheme, cse)
    if to == "c":
        from fastmm.export.c import emit_c

        return emit_c(scheme, cse=cse)
    from fastmm.export.formats import export_foreign

    return export_foreign(scheme, to)


def import_scheme(path: str | os.PathLike, fmt: str = "auto", *, allow_pickle: bool = False,
                  key: str | None = None, z2: bool = False) -> Scheme:
    """Read another tool's file (fmt: "alphatensor", "perminov", "fast-matmul", "exp" or "maple";
    "auto" tells it from the content); verified before it is returned (VerificationError names the
    failing entries).

    `allow_pickle`: an AlphaTensor file of object arrays may be unpickled (only for files you
    trust). `key`: which factorization of an AlphaTensor dict-style npz, e.g. "3,3,3" (its shape).
    `z2`: the file claims validity modulo 2 only: checked modulo 2 and imported with ring Z2,
    unless its coefficients are exact over the integers as written (then that ring, ZT or Z).
    """
    from fastmm.export.formats import import_scheme as read

    if not isinstance(fmt, str):
        raise InputError(f"import_scheme: the format is a name such as 'perminov', not {shown(fmt)}")
    allow_pickle, z2 = flag(allow_pickle, "import_scheme", "allow_pickle"), flag(z2, "import_scheme", "z2")
    if key is not None and not isinstance(key, str):
        raise InputError(f"import_scheme: key must be a str, not {type(key).__name__}")
    return read(path_arg(path, "import_scheme"), fmt, allow_pickle=allow_pickle, key=key, z2=z2)


def catalog(max_dim: int = 6) -> list[dict]:
    """One row per shape n ≤ m ≤ p ≤ max_dim that the best-known table holds (dimensions up to 6)
    or the catalogue holds (status "no record tabulated", best-known ranks None, where the table
    has none): best-known ranks, the catalogue's best verified entry, its ring and its status
    against the record. InputError when FASTMM_CATALOG names a folder that does not exist or is
    not a folder. Each file it skips is reported as a CatalogWarning."""
    from fastmm.catalog import CatalogWarning, catalog_table

    rows, problems = catalog_table(positive_int(max_dim, "max_dim", upper=CATALOG_MAX_DIM))
    for line in problems:  # at the caller's line
        _warn_caller(line, CatalogWarning)
    return rows


def catalog_scheme(shape: Sequence[int], ring: str = "ZT") -> Scheme | None:
    """The catalogue's best verified scheme usable over `ring`, permuted to `shape`, or None."""
    from fastmm.catalog import load_catalog_scheme

    s = check_shape(shape, limit=CATALOG_MAX_DIM, beyond=f"{CATALOG_MAX_DIM} per dimension, the most "
                                                        "catalog_scheme looks up")
    return load_catalog_scheme(s, ring_arg(ring, "catalog_scheme"))
