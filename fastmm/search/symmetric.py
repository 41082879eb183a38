"""`--method symmetric` (`--symmetry c3`): C3-symmetric flip-graph walks for ⟨n,n,n⟩.

After Moosbauer & Poole (2025, arXiv:2502.04514): with the third factor transposed, the
tensor of ⟨n,n,n⟩ is invariant under the rotation (x, y, z) -> (z, x, y), and so is a scheme
made of fixed cubes x⊗x⊗x and orbits of three rotated terms. Walking only among such schemes
searches a space about three times smaller; a flip changes three terms at once. The walk is
symmetric_kernels.py (numba, or the same code in plain Python) and csrc/symwalk.c (C, loaded
by flip_c.py), the same walk step for step; this module builds the start, runs restarts and
time limits, and lifts results to ZT / Z with lift.py (a lifted scheme need not stay
symmetric; the runner verifies every result exactly).

Start: the cubes are x_g = Σ_{i in g} E_ii for groups g of the diagonal (paired i, n+1−i as
in the paper; their number fixes the rank modulo 3), and T − Σ x_g⊗x_g⊗x_g over GF(2) is
split into its elementary orbits.

Walk schedule (as in the paper's runs): a plus transition after `plateau` flips without a
change of rank, allowed up to the start rank, and a restart after `restart_steps` flips without
a new lowest rank. With these, 1 in ~6 runs of ⟨5,5,5⟩ reached rank 93 over GF(2) in tests
here, where plus transitions capped near the target (and a transition that a reduction undid at
once) kept every run above 99.

Another start: `start`, a scheme whose reduction modulo 2 is C3-symmetric (every restart walks
from it instead of the naive split). Kronecker products of symmetric schemes are symmetric, so
e.g. a symmetric ⟨2,2,2;7⟩ ⊗ a symmetric ⟨3,3,3;23⟩ starts ⟨6,6,6⟩ at 161 instead of 220. Its
fixed terms x⊗x⊗x (any x, not only diagonal sums) become the cubes.

`group` "c3j" (`--symmetry c3j`) adds the central symmetry X -> JXJ (J the exchange matrix) to
the rotation, as Moosbauer & Poole did for ⟨6,6,6;153⟩: orbits of six terms
(the same kernels with `orbit` 6: symmetric_kernels.py and csrc/symwalk.c built with ORBIT 6),
rank = cubes + 6k, and the cubes as a set must be J-invariant (the default groupings are;
cubes that are not are refused; `cubes="consecutive"` is the authors' 6×6 grouping).
Measured here: ⟨4,4,4;49⟩ over ZT in 0.3 s (`fastmm search 4 4 4 --rank 49 --symmetry c3j`).

Options (task.options): group ("c3" | "c3j"), backend ("c" | "numba" | "python"; default: C
where a compiler or a library built before is at hand, else numba, else plain Python), plateau,
plus_limit (default: the start rank), restart_steps, chunk, lift_every, cubes (a number of cube
groups, a grouping named in base.CUBE_GROUPINGS, or explicit 0-based index groups such as
[[0,1],[2,3],[4,5]]),
start (a Scheme, above); checkpoint_dir and starts (from `--resume`: each new best is saved
there, saved schemes are the best to beat, and without `start` the walks go on from the lowest
saved scheme that splits into the group's orbits).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastmm.errors import InputError
from fastmm.scheme import Scheme, naive_scheme, ring_serves, scheme_serves
from fastmm.search import flip_c, flip_py
from fastmm.search.base import (
    CUBES_FORM,
    Progress,
    Reporter,
    SearchOutcome,
    SearchTask,
    StopFlag,
    check_walk_sizes,
    cube_count_error,
    cubes_option_ok,
    resumed_start,
    saved_schemes,
    valid_rank_note,
)
from fastmm.search.checkpoint import BestSaver, save_pool
from fastmm.search.lift import lift
from fastmm.search.terms import Terms, gf2_tensor_ok, to_scheme, transpose_bits
from fastmm.search.terms import to_terms as scheme_terms

MAX_N = 7  # n² bits in an int64 factor
# flips without a change of rank before a plus transition; for 5 and 6 the authors' settings
# (50,000 and 500,000 counted per term: / 3 per orbit flip; their 6 ran with 6-fold symmetry)
PLATEAU = {5: 16_667, 6: 83_333}


def named_groups(n: int, name: str) -> list[list[int]]:
    """The diagonal groupings by name (CUBE_GROUPINGS): the paper's pairs (i, n−1−i) with the
    middle index alone, consecutive pairs (0,1), (2,3), ... as Moosbauer–Poole's ⟨6,6,6;153⟩ run
    file, one index per cube, or all of them in one cube."""
    return {"pairs": [[i, n - 1 - i] for i in range(n // 2)] + ([[n // 2]] if n % 2 else []),
            "consecutive": [list(range(i, min(i + 2, n))) for i in range(0, n, 2)],
            "singles": [[i] for i in range(n)],
            "one": [list(range(n))]}[name]


def explicit_groups(n: int, groups: list) -> list[list[int]]:
    """`cubes` given as index groups (0-based diagonal indices): a partition of 0..n−1."""
    flat = [i for g in groups for i in g]
    if any(i < 0 or i >= n for i in flat):
        raise InputError(f"cubes: diagonal indices of ⟨{n},{n},{n}⟩ run from 0 to {n - 1}; got {groups!r}")
    if len(set(flat)) != len(flat):
        raise InputError(f"cubes: an index appears in two groups: {groups!r}")
    if len(flat) != n:  # E_ii⊗E_ii⊗E_ii is fixed by the rotation: it must lie in a cube
        raise InputError(f"cubes: the groups must cover every diagonal index 0..{n - 1}, got {groups!r}")
    return [sorted(g) for g in groups]


def cube_groups(n: int, target: int, count: object = None, orbit: int = 3) -> list[list[int]]:
    """Groups of diagonal indices for the fixed cubes. The rank is (number of groups) modulo
    `orbit` (3, or 6 for c3j), so by default the first of these whose count fits the target is
    used: the paper's pairs (i, n−1−i), one cube per index, the pairs with one pair split, the
    pairs with two groups merged, one group. `count` asks for that many groups (singles merged
    from the end), a grouping by name (CUBE_GROUPINGS) or explicit groups such as [[0,1],[2,3],[4,5]];
    these are used as given, whatever rank they allow (the walk stops at the first rank ≤ target)."""
    if count is not None:
        if not cubes_option_ok(count):
            raise InputError(f"cubes {CUBES_FORM}; got {count!r}")
        if isinstance(count, str):
            return named_groups(n, count)
        if not isinstance(count, int):
            return explicit_groups(n, count)
        why = cube_count_error(n, count)
        if why is not None:  # more groups than indices: was run as n singles without a word
            raise InputError(why)
        groups = [[i] for i in range(n)]
        while len(groups) > count:
            a = groups.pop()
            groups[-1] = groups[-1] + a
        return groups
    pairs = named_groups(n, "pairs")
    options = [pairs, named_groups(n, "singles")]
    if n >= 2:
        options.append([[pairs[0][0]], [pairs[0][1]]] + pairs[1:])
    if len(pairs) >= 2:
        options.append([pairs[0] + pairs[1]] + pairs[2:])
    options.append(named_groups(n, "one"))
    for groups in options:
        if (len(groups) - target) % orbit == 0:
            return [sorted(g) for g in groups]
    raise InputError(f"no cube grouping of ⟨{n},{n},{n}⟩ gives a rank ≡ {target} (mod {orbit})")


def _rotations(t: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    a, b, c = t
    return [(a, b, c), (c, a, b), (b, c, a)]


def start(n: int, groups: list[list[int]]) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(orbit representatives, cubes) of T − Σ cubes over GF(2), transposed third factor."""
    acc: set[tuple[int, int, int]] = set()

    def toggle(t: tuple[int, int, int]) -> None:
        acc.symmetric_difference_update({t})

    for i in range(n):
        for j in range(n):
            for k in range(n):
                toggle((1 << (i * n + j), 1 << (j * n + k), 1 << (k * n + i)))
    cubes = []
    for g in groups:
        cubes.append(sum(1 << (i * n + i) for i in g))
        for u in g:
            for v in g:
                for w in g:
                    toggle((1 << (u * n + u), 1 << (v * n + v), 1 << (w * n + w)))
    reps = []
    seen: set[tuple[int, int, int]] = set()
    for t in sorted(acc):
        if t in seen:
            continue
        rots = _rotations(t)
        if not all(r in acc for r in rots) or t[0] == t[1] == t[2]:
            raise AssertionError("the start does not split into orbits")  # a bug, not input
        seen.update(rots)
        reps.append(t)
    return reps, cubes


def splits(scheme: Scheme, orbit: int) -> bool:
    """Can `scheme` start a walk of this group (C3-symmetric modulo 2; for c3j, J-paired too)?"""
    n = scheme.shape[0]
    if not scheme.is_integral or len(set(scheme.shape)) != 1:
        return False
    try:
        split = split_scheme(scheme)
        if orbit == 6:
            pair_central(n, split)
    except InputError:
        return False
    return True


def split_scheme(scheme: Scheme) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(orbit representatives, cubes) of a scheme that is C3-symmetric modulo 2, in the walk's
    layout (third factor transposed). Terms equal modulo 2 cancel in pairs. InputError if the
    scheme is not square, not integral, or not invariant under the rotation."""
    n = scheme.shape[0]
    if len(set(scheme.shape)) != 1:
        raise InputError(f"a symmetric start must be square ⟨n,n,n⟩, got {scheme.label()}")
    try:
        A, B, C = scheme_terms(scheme)
    except ValueError as exc:
        raise InputError(f"the symmetric start {scheme.label()}: {exc}") from None
    acc: set[tuple[int, int, int]] = set()
    for a, b, c in zip(A, B, C, strict=True):
        acc.symmetric_difference_update({(a, b, transpose_mask(c, n))})
    cubes = sorted(t[0] for t in acc if t[0] == t[1] == t[2])
    reps: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for t in sorted(acc):
        if t in seen or t[0] == t[1] == t[2]:
            continue
        rots = _rotations(t)
        if not all(r in acc for r in rots):
            raise InputError(f"the start {scheme.label()} is not C3-symmetric modulo 2 (a term's "
                             "rotation (A,B,Cᵀ) -> (Cᵀ,A,B) is not in the scheme)")
        seen.update(rots)
        reps.append(t)
    return reps, cubes


def c3_symmetry(scheme: Scheme) -> str | None:
    """A square integral scheme's C3 symmetry modulo 2 in words ("yes modulo 2 (c cubes + k
    orbits of 3)", with "; with X -> JXJ: k/2 orbits of 6" when it can also start `--symmetry
    c3j` walks, or "no"): whether it can start `--symmetry c3` walks. None when the question does
    not apply (not square, or fractions)."""
    if len(set(scheme.shape)) != 1 or not scheme.is_integral:
        return None
    try:
        reps, cubes = split_scheme(scheme)
    except InputError:
        return "no"
    plural = "" if len(cubes) == 1 else "s"
    try:
        six = len(pair_central(scheme.shape[0], (reps, cubes))[0])
        also = f"; with X -> JXJ: {six} orbit{'' if six == 1 else 's'} of 6"
    except InputError:
        also = ""
    return f"yes modulo 2 ({len(cubes)} cube{plural} + {len(reps)} orbits of 3{also})"


def transpose_mask(x: int, n: int) -> int:
    return transpose_bits(x, n, n)


def central(x: int, n: int) -> int:
    """J·x·J for a row-major n×n bit mask (J the exchange matrix): the n² bits reversed."""
    return int(format(x, f"0{n * n}b")[::-1], 2)


def pair_central(n: int, split: tuple[list[tuple[int, int, int]], list[int]]
                 ) -> tuple[list[tuple[int, int, int]], list[int]]:
    """C3 orbits paired by J into orbits of six (one representative each), for `group="c3j"`.
    InputError unless the cubes as a set and the orbits are J-invariant with no orbit its own image."""
    reps, cubes = split
    if sorted(central(x, n) for x in cubes) != sorted(cubes):
        raise InputError("the cubes are not invariant under X -> JXJ (J the exchange matrix): "
                         "not a start for --symmetry c3j")
    orbit_of = {rot: rep for rep in reps for rot in _rotations(rep)}
    out: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for rep in reps:
        if rep in seen:
            continue
        image = orbit_of.get(tuple(central(x, n) for x in rep))
        if image is None or image == rep:
            raise InputError("the start is not symmetric under X -> JXJ in orbits of six (an orbit's "
                             "image is missing or is the orbit itself): not a start for --symmetry c3j")
        seen.update((rep, image))
        out.append(rep)
    return out, cubes


def to_terms(n: int, F: np.ndarray, k: int, cubes: list[int]) -> Terms:
    """Scheme-layout GF(2) terms (third factor C row-major) of the first k slots of F and the cubes."""
    A, B, C = [], [], []
    for t in range(k):
        A.append(int(F[0, t]))
        B.append(int(F[1, t]))
        C.append(transpose_mask(int(F[2, t]), n))
    for x in cubes:
        A.append(x)
        B.append(x)
        C.append(transpose_mask(x, n))
    return A, B, C


_NUMBA_WALKS: list = []  # the numba walk, once loaded and warmed up


def _c_loader(orbit: int):
    return flip_c.load_symmetric6 if orbit == 6 else flip_c.load_symmetric


def choose_backend(choice: str | None, orbit: int = 3) -> str:
    """options["backend"] checked, else the fastest walk that loads: C (the walk of `orbit`: 3
    or 6), numba, plain Python."""
    from fastmm.search.flip import check_backend, numba_available

    load_c = _c_loader(orbit)
    if choice is not None:
        return check_backend(choice, load_c)
    if load_c() is not None:
        return "c"
    return "numba" if numba_available() else "python"


def _kernel(backend: str, orbit: int = 3):
    """The walk of `backend` for orbits of `orbit` (3 or 6): a flip_c kernel for "c", else the
    numba walk of symmetric_kernels (loaded and warmed up) or its plain-Python function."""
    if backend == "c":
        c = _c_loader(orbit)()
        if c is None:
            what = "six-fold " if orbit == 6 else ""
            raise InputError(f"the C {what}symmetric walk is not available (it needs a C compiler)")
        return c
    from fastmm.search import symmetric_kernels as kernels

    if backend == "python":
        return kernels.walk.py_func
    if not _NUMBA_WALKS:
        from fastmm.search.flip import warm_numba

        F = np.zeros((3, 12), dtype=np.int64)
        st = np.array([0, 0, 0, 99, 4], dtype=np.int64)
        warm_numba(lambda: kernels.walk(F, np.zeros(2, dtype=np.int64), st, np.zeros(1, dtype=np.uint64),
                                        1, 0, 10, 0, 0, orbit))
        _NUMBA_WALKS.append(kernels.walk)
    return _NUMBA_WALKS[0]


class ArrayWalker(ABC):
    """What the symmetric walkers share: a walk in pieces that looks at `stop` between them,
    and snapshots of the arrays a walk changes in place (`_state()`); subclasses give `rank`
    and `_walk(steps, target, plateau, plus_limit)`."""

    stop: StopFlag | None = None  # None: one call (Ctrl-C and the time limit wait for it)
    backend: str
    F: np.ndarray

    @abstractmethod
    def _state(self) -> tuple[np.ndarray, ...]:
        """The arrays a walk changes in place."""

    def snapshot(self) -> tuple[np.ndarray, ...]:
        return tuple(a.copy() for a in self._state())

    def restore(self, saved: tuple[np.ndarray, ...]) -> None:
        """Back to a snapshot, in place (the C walk holds the arrays' addresses); the random
        stream goes on, so the walk takes another way."""
        for array, copy in zip(self._state(), saved, strict=True):
            np.copyto(array, copy)

    def walk(self, steps: int, target: int, plateau: int, plus_limit: int) -> int:
        """Up to `steps` steps (stopping at rank <= target); with `stop` set, in pieces of
        flip.walk_piece steps, looking at `stop` between them (the same walk step for step)."""
        if self.stop is None:
            return self._walk(steps, target, plateau, plus_limit)
        from fastmm.search.flip import walk_in_pieces, walk_piece

        return walk_in_pieces(lambda k: self._walk(k, target, plateau, plus_limit), steps,
                              walk_piece(self.backend, self.F.shape[1]),
                              lambda: self.rank <= target or self.stop())


class SymWalker(ArrayWalker):
    """One symmetric walk from the start of `n` (orbit representatives and cubes); `orbit` 3
    (c3) or 6 (c3j: `split` holds one representative per orbit of six)."""

    def __init__(self, n: int, split: tuple[list[tuple[int, int, int]], list[int]], seed: int,
                 backend: str, plus_limit: int, orbit: int = 3):
        reps, cubes = split
        self.n = n
        self.orbit = orbit
        self.cubes = list(cubes)
        k = len(reps)
        cap = orbit * (max(k, plus_limit // orbit) + 4)
        self.F = np.zeros((3, cap), dtype=np.int64)
        for o, rep in enumerate(reps):
            for q, rot in enumerate(_rotations(rep)):
                self.F[:, orbit * o + q] = rot
            if orbit == 6:
                for q, rot in enumerate(_rotations(tuple(central(x, n) for x in rep))):
                    self.F[:, 6 * o + 3 + q] = rot
        self.E = np.zeros(n + cap, dtype=np.int64)
        rank = len(cubes) + orbit * k
        self.st = np.array([k, 0, 0, rank, n * n], dtype=np.int64)
        self.rng = np.array([flip_py.seed_state(seed)], dtype=np.uint64)
        self.backend = backend
        self.kernel = _kernel(backend, orbit)
        # looked at between pieces of a long walk (the time limit, Ctrl-C): a compiled call of
        # --option chunk=10**12 steps ran for hours, deaf to both; None: one call
        self.stop: StopFlag | None = None
        if backend == "c":  # the arrays never move: their addresses are taken once
            self._c_args = (self.F.ctypes.data, cap, self.E.ctypes.data, self.st.ctypes.data,
                            self.rng.ctypes.data)

    @property
    def rank(self) -> int:
        return len(self.cubes) + int(self.st[1]) + self.orbit * int(self.st[0])

    def _state(self) -> tuple[np.ndarray, ...]:
        return self.F, self.E, self.st

    def _walk(self, steps: int, target: int, plateau: int, plus_limit: int) -> int:
        if self.backend == "c":
            return self.kernel.walk(*self._c_args, steps, target, plateau, plus_limit, len(self.cubes))
        return int(self.kernel(self.F, self.E, self.st, self.rng, steps, target, plateau, plus_limit,
                               len(self.cubes), self.orbit))

    def terms(self) -> Terms:
        extra = [int(x) for x in self.E[: int(self.st[1])]]
        return to_terms(self.n, self.F, self.orbit * int(self.st[0]), self.cubes + extra)


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    """Restarted symmetric walks until a scheme of rank <= task.rank lifts to task.ring."""
    t0 = time.perf_counter()
    opts = task.options
    group = opts.get("group") or "c3"
    if group not in ("c3", "c3j", "t2"):
        raise InputError(f"the symmetric walk's group is c3, c3j or t2, not {group!r}")
    if task.ring not in ("ZT", "Z", "Z2"):
        raise InputError(f"the symmetric method searches over ZT, Z or Z2, not {task.ring!r}")
    walks = _t2_walks(task) if group == "t2" else _c3_walks(task, group)
    return _run_walks(task, report, should_stop, walks, t0)


@dataclass
class _Walks:
    """What _run_walks needs of a group."""

    wshape: tuple[int, int, int]  # the shape walked (t2: the rotation ⟨a,b,a⟩ of the task's)
    make: Callable[[int, int], ArrayWalker]  # (seed, plus_limit option) -> a walker from the start
    backend: str
    plateau: int  # default flips without a change of rank before a plus transition
    plus_extra: int  # plus transitions may go this far above a walk's start rank
    frames: bool  # over ZT, lift with Hensel lifting and frames too
    prov: dict
    note: Callable[[ArrayWalker], str]  # the progress line's note


def t2_hint(shape: tuple[int, int, int]) -> str:
    """"; --symmetry t2 walks it" for a non-square shape that reads ⟨a,b,a⟩ in some rotation."""
    from fastmm.search.transpose_symmetric import walk_shape

    return "; it reads ⟨a,b,a⟩: --symmetry t2 walks it" if walk_shape(tuple(shape)) is not None else ""


def _c3_walks(task: SearchTask, group: str) -> _Walks:
    n, m, p = task.shape
    if not n == m == p:
        raise InputError(f"the symmetric flip graph needs a square shape ⟨n,n,n⟩, got ⟨{n},{m},{p}⟩"
                         + t2_hint(task.shape))
    if n > MAX_N or n < 2:
        raise InputError(f"the symmetric walk supports 2 ≤ n ≤ {MAX_N}, got n = {n}")
    opts = task.options
    shape = (n, n, n)
    check_walk_sizes("symmetric", opts, shape)  # before any array is allocated
    orbit = 6 if group == "c3j" else 3
    backend = choose_backend(opts.get("backend") or None, orbit)
    given = opts.get("start")
    # --resume: the walks go on from the lowest saved scheme that splits into orbits (as a user's
    # start would); cubes then come with it
    resumed = resumed_start(task, lambda s: splits(s, orbit)) if given is None else None
    if given is not None:
        if not isinstance(given, Scheme) or given.shape != shape:
            raise InputError(f"the start scheme must be a Scheme of shape {shape}")
        if not given.is_integral or not gf2_tensor_ok(shape, scheme_terms(given)):
            raise InputError(f"the start scheme {given.label()} is not valid modulo 2")
        if opts.get("cubes") is not None:
            raise InputError("cubes applies to the naive start; a start scheme brings its own cubes")
    if given is not None or resumed is not None:
        split = split_scheme(given if given is not None else resumed)
        groups = []
    else:
        groups = cube_groups(n, task.rank, opts.get("cubes"), orbit)
        split = start(n, groups)
    if orbit == 6:
        split = pair_central(n, split)
    prov = {"method": "symmetric", "symmetry": group, "cubes": [list(map(int, g)) for g in groups],
            "backend": backend, "seed": task.seed}
    if given is not None:
        prov.update(start=given.label(), start_cubes=len(split[1]))
    elif resumed is not None:
        prov.update(start=f"{resumed.label()} saved in the --resume directory", start_cubes=len(split[1]))
    cubes = len(split[1])
    return _Walks(shape, lambda seed, plus: SymWalker(n, split, seed, backend, plus, orbit), backend,
                  PLATEAU.get(n, 5 * n**5), 0, False, prov,
                  lambda w: f"symmetric walk at {w.rank}, {cubes} cubes ({backend})")


def _t2_walks(task: SearchTask) -> _Walks:
    from fastmm.search import transpose_symmetric as t2

    opts = task.options
    wshape = t2.check_shape(task.shape)
    if opts.get("cubes") is not None:
        raise InputError("cubes applies to --symmetry c3 and c3j; t2 starts from its own fixed terms")
    check_walk_sizes("symmetric", opts, task.shape)
    backend = t2.choose_backend(opts.get("backend") or None)
    given = opts.get("start")
    resumed = resumed_start(task, lambda s: t2.splits(s, wshape)) if given is None else None
    if given is not None and not isinstance(given, Scheme):
        raise InputError(f"the start scheme must be a Scheme of shape {task.shape}")
    split = t2.start_split(task.shape, wshape, given if given is not None else resumed)
    n, m, _ = wshape
    prov = {"method": "symmetric", "symmetry": "t2", "walk_shape": list(wshape), "backend": backend,
            "seed": task.seed}
    if given is not None:
        prov.update(start=given.label())
    elif resumed is not None:
        prov.update(start=f"{resumed.label()} saved in the --resume directory")
    return _Walks(wshape, lambda seed, plus: t2.T2Walker(n, m, split, seed, backend, plus), backend,
                  t2.PLATEAU, t2.PLUS_EXTRA, True, prov,
                  lambda w: f"t2 walk at {w.rank}, {w.fixed} fixed, as ⟨{n},{m},{n}⟩ ({backend})")


def _run_walks(task: SearchTask, report: Reporter, should_stop: StopFlag, walks: _Walks,
               t0: float) -> SearchOutcome:
    """The restart loop shared by the groups: walk, lift what reaches the target, keep the best."""
    opts = task.options
    shape = tuple(task.shape)
    wshape = walks.wshape
    given = opts.get("start")

    def in_task_shape(s: Scheme) -> Scheme:
        return s if s.shape == shape else s.permuted(shape)

    def lifted(terms: Terms, seed: int) -> tuple[Scheme, str] | None:
        if task.ring == "Z2":
            return in_task_shape(to_scheme(wshape, terms)), "gf2"
        frames = walks.frames and task.ring == "ZT"  # Hensel lifting and frames: slow, so stoppable
        got = lift(wshape, terms, task.ring, seed=seed, frames=frames, stop=should_stop if frames else None)
        return (in_task_shape(got[0]), got[1]) if got is not None else None

    plateau = int(opts.get("plateau", walks.plateau))
    restart_steps = int(opts.get("restart_steps", 2_000 * plateau))
    fast = walks.backend != "python"
    chunk = int(opts.get("chunk", 200_000 if fast else 2_000))
    lift_every = int(opts.get("lift_every", 20_000 if fast else 500))
    steps = restarts = 0
    # the best scheme valid in the ring: `--resume`'s saved ones (verified on reading), the start
    # when it is valid in the ring, else the naive scheme, so that a progress report never shows
    # a rank valid only modulo 2 as the rank reached (valid_rank_note puts that in the note)
    # (saved ones that already meet the target are left aside, as the walks' starts leave them:
    # resumed after it was found, the search looks for a new scheme, and one it does not find is
    # not reported as one "reached" (helper-65: "no scheme of rank 52 ... best rank reached 52"))
    valid = saved_schemes(task, lambda x: scheme_serves(x, task.ring))
    if task.ring != "Z2":
        if given is not None and given.ring != "Z2" and ring_serves(given.coefficient_ring, task.ring):
            valid.append(in_task_shape(given))
        valid.append(naive_scheme(*shape))
    best: Scheme | None = min(valid, key=lambda x: x.rank) if valid else None
    ckpt_dir = opts.get("checkpoint_dir")
    last_report = 0.0
    prov = walks.prov

    def keep(scheme: Scheme) -> None:
        """A lifted scheme below the best: the best now (saved, so that a kill keeps it)."""
        nonlocal best
        if best is None or scheme.rank < best.rank:
            best = scheme
            if ckpt_dir:
                save_pool(ckpt_dir, task.seed, [best])

    # over ZT / Z, the lowest GF(2) scheme below `best` that did not lift is kept (DIR/gf2-seedS.json
    # with --resume, and the outcome's mod2), as the flip walks keep theirs
    gf2_saver = BestSaver(ckpt_dir, task.seed, gf2=True)
    record = None  # the lowest rank walked to over all restarts

    def outcome(found: Scheme | None) -> SearchOutcome:
        info = dict(prov, steps=steps, restarts=restarts, seconds=round(time.perf_counter() - t0, 3))
        gf2_saver.settle(best.rank if best is not None and found is None else 0)
        gf2_saver.close()
        return SearchOutcome(scheme=found.with_meta(provenance=info) if found is not None else None,
                             best=best.with_meta(provenance=info) if found is None and best else None,
                             steps=steps, restarts=restarts, seconds=time.perf_counter() - t0,
                             stopped="found" if found is not None else "stopped", seed=task.seed,
                             mod2=gf2_saver.low(best) if found is None else None)

    plus_opt = int(opts.get("plus_limit", 0))  # 0: each walk's start rank (+ the group's extra)
    # liftable (over ZT / Z): the walk stops at every reduction and lifts it; one that does not
    # lift sends it back to the last scheme that did (the t2 walks' lows modulo 2 mostly do not)
    liftable = bool(opts.get("liftable", False)) and task.ring != "Z2"
    while True:
        walker = walks.make(task.seed * 1_000_003 + restarts, plus_opt)
        walker.stop = should_stop
        kept = walker.snapshot() if liftable else None  # the start: taken to lift
        plus_limit = plus_opt or walker.rank + walks.plus_extra
        low, since_low = walker.rank, 0
        while since_low < restart_steps:
            if should_stop():
                return outcome(None)
            r = walker.rank
            if r <= task.rank:
                terms = walker.terms()
                if not gf2_tensor_ok(wshape, terms):
                    raise AssertionError("symmetric walk left the tensor")  # a bug, not input
                got = lifted(terms, task.seed * 7919 + steps)
                if got is not None:
                    prov["lift"] = got[1]
                    return outcome(got[0])
                if record is None or r < record:
                    record = r
                    gf2_saver.offer(in_task_shape(to_scheme(wshape, terms)))
                done = walker.walk(lift_every, r - 1, plateau, plus_limit)  # flips keep the rank
            else:
                done = walker.walk(chunk, r - 1 if liftable else task.rank, plateau, plus_limit)
            steps += done
            since_low += done
            if liftable and walker.rank < r:
                got = lifted(walker.terms(), task.seed + steps)
                if got is None:
                    walker.restore(kept)
                else:
                    kept = walker.snapshot()
                    keep(got[0])
            if walker.rank < low:
                low, since_low = walker.rank, 0
                if not liftable and (best is None or low < best.rank):
                    got = lifted(walker.terms(), task.seed + steps)
                    if got is not None:
                        keep(got[0])
                    elif record is None or low < record:
                        record = low
                        gf2_saver.offer(in_task_shape(to_scheme(wshape, walker.terms())))
            gf2_saver.settle(best.rank if best is not None else None)
            gf2_saver.flush()
            now = time.perf_counter()
            if now - last_report >= 0.25:
                last_report = now
                shown, note = valid_rank_note(best.rank if best is not None else None, low,
                                              walks.note(walker))
                report(Progress(rank=shown, steps=steps, restarts=restarts, elapsed=now - t0,
                                note=note))
        restarts += 1
