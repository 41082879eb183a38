"""Straight-line program (SLP): the one intermediate form every code emitter uses.

A scheme ⟨n,m,p;r⟩ becomes a program in four phases::

    A phase:  temporaries and the r left operands  L_t = Σ c·x   (x: A blocks or A temporaries)
    B phase:  temporaries and the r right operands R_t = Σ c·x   (x: B blocks or B temporaries)
    products: M_t = L_t · R_t                                     (t = 1..r, the recursive calls)
    C phase:  temporaries and the n·p outputs      C_ik = Σ c·x   (x: products M_t or C temporaries)

Every operation is an `Op` ``target = Σ coeff·source`` with exact `Fraction` coefficients
(never text). Names: input blocks ``A11``/``B11``/``M1`` (``A1_12`` when a dimension
exceeds 9, as in fastmm.verify.entry_name), temporaries ``S1..`` (A side), ``T1..``
(B side), ``U1..`` (C side), operands ``L1..``/``R1..``, outputs ``C11..``.
An output whose op is a single source with coefficient 1 is an alias (no work);
`Op.is_alias` tells emitters to use the source directly.

Dead products (``drop_dead=True``, what the code emitters use): a product with an identically
zero left or right operand, or whose column of Wc is all zero, contributes nothing to C. It is
left out before anything else (so it takes no part in sharing either); the remaining products
keep their numbers (M1, M2, M4, …) and `SLP.dropped` names the ones left out. Without it the
program is the scheme as written, dead products included (the addition counts of
`count_additions` are those of the scheme as written).

Sharing (``cse=True``): greedy common-subexpression elimination inside each phase —
repeatedly take the pair of sources with a fixed ratio (x + q·y) that occurs in the most
rows, introduce a temporary for it and substitute, until no pair occurs in two rows.
Before that, each product's sign is normalised (a left or right operand whose nonzero
coefficients are all negative is negated, and the sign moved into the C phase), which
turns negations into subtractions for free.

Cost model (`SLP.additions`): an op with k terms costs k − 1 binary additions/subtractions;
a term whose coefficient is not ±1 costs one multiplication by a constant
(`SLP.scalings`), counted separately. Strassen's scheme costs 18 additions either way;
the Strassen–Winograd form reaches 15 with sharing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fastmm.formulas import linear_combination
from fastmm.scheme import Scheme
from fastmm.validate import exact
from fastmm.verify import entry_name, uses_big_names

Terms = tuple[tuple[str, Fraction], ...]


@dataclass(frozen=True)
class Op:
    """``target = Σ coeff·source`` over earlier names; coefficients are exact and nonzero."""

    target: str
    terms: Terms

    @property
    def additions(self) -> int:
        return max(len(self.terms) - 1, 0)

    @property
    def scalings(self) -> int:
        return sum(1 for _, c in self.terms if abs(c) != 1)

    @property
    def is_alias(self) -> bool:
        return len(self.terms) == 1 and self.terms[0][1] == 1

    @property
    def is_zero(self) -> bool:
        return not self.terms


@dataclass
class Phase:
    """One linear phase: `temps` in evaluation order, then one op per result in `outputs`."""

    inputs: list[str]
    temps: list[Op]
    outputs: list[Op]

    @property
    def ops(self) -> list[Op]:
        return self.temps + self.outputs

    def additions(self) -> int:
        return sum(op.additions for op in self.ops)

    def scalings(self) -> int:
        return sum(op.scalings for op in self.ops)


@dataclass
class SLP:
    """The straight-line program of a scheme (see the module docstring)."""

    shape: tuple[int, int, int]
    rank: int
    ring: str
    a: Phase  # outputs L1..Lr
    b: Phase  # outputs R1..Rr
    c: Phase  # inputs M1..Mr, outputs C blocks row-major
    cse: bool = True
    label: str = field(default="")
    too_big_to_share: bool = False  # sharing was asked for, but the scheme is beyond CSE_WORK_LIMIT
    dropped: list[str] = field(default_factory=list)  # dead products left out (drop_dead=True)

    @property
    def products(self) -> list[tuple[str, str, str]]:
        """(M_t, L_t, R_t) names of the products the program computes (`rank` of them)."""
        return [(self.c.inputs[t], self.a.outputs[t].target, self.b.outputs[t].target)
                for t in range(self.rank)]

    def additions(self) -> int:
        """Binary additions/subtractions of one recursion level (all three phases)."""
        return self.a.additions() + self.b.additions() + self.c.additions()

    def scalings(self) -> int:
        """Multiplications by a constant other than ±1 (counted apart from additions)."""
        return self.a.scalings() + self.b.scalings() + self.c.scalings()

    def evaluate(self, a_blocks: Sequence[Any], b_blocks: Sequence[Any],
                 mul: Callable[[Any, Any], Any] | None = None) -> list[Any]:
        """Run the program on block values (ints, Fractions, arrays); returns the C blocks.

        `mul` multiplies two operands (default ``x * y`` for scalars; pass ``operator.matmul``
        for matrix blocks). This is the reference interpreter the emitters are tested against.
        """
        mul = mul or (lambda x, y: x * y)
        env: dict[str, Any] = dict(zip(self.a.inputs, a_blocks, strict=True))
        env.update(zip(self.b.inputs, b_blocks, strict=True))
        for op in self.a.ops + self.b.ops:
            env[op.target] = _combine(op, env)
        for mt, lt, rt in self.products:
            env[mt] = mul(env[lt], env[rt])
        for op in self.c.ops:
            env[op.target] = _combine(op, env)
        return [env[op.target] for op in self.c.outputs]

    def lines(self, minus: str = "-", times: str = "*") -> list[str]:
        """The program as text, one op per line (aliases shown too)."""
        out = []
        for op in self.a.ops + self.b.ops:
            out.append(f"{op.target} = {terms_text(op.terms, minus, times)}")
        for mt, lt, rt in self.products:
            out.append(f"{mt} = {lt}{times}{rt}")
        for op in self.c.ops:
            out.append(f"{op.target} = {terms_text(op.terms, minus, times)}")
        return out


def _combine(op: Op, env: dict[str, Any]) -> Any:
    if not op.terms:
        return 0
    acc = None
    for name, c in op.terms:
        x = env[name]
        term = x if c == 1 else (-x if c == -1 else x * c)
        acc = term if acc is None else acc + term
    return acc


def terms_text(terms: Terms, minus: str = "-", times: str = "*") -> str:
    """'S1 - A11 + 1/2*A12' — used by text output and by tests."""
    return linear_combination([c for _, c in terms], [name for name, _ in terms], minus, times)


# -- construction --------------------------------------------------------------------------


def _rows(mat: Any, names: list[str]) -> list[dict[str, Fraction]]:
    """Each row of a coefficient matrix as {source: nonzero Fraction}, in column order."""
    out = []
    for row in mat:
        out.append({names[j]: exact(x) for j, x in enumerate(row) if x != 0})
    return out


def _eliminate(rows: list[dict[str, Fraction]], order: dict[str, int], prefix: str,
               integral: bool = False) -> tuple[list[Op], list[dict[str, Fraction]]]:
    """Greedy pairwise CSE. Returns new temporaries and the rewritten rows.

    `order` ranks every source (inputs first, then temporaries in creation order), so a
    pair (x, y) is always taken with x before y and the temporary is x + q·y (coefficient
    of x normalised to 1). Ties are broken deterministically by the smallest key. `integral`:
    only integer q, so that the program of an integer matrix stays integer (3·x + y shared as
    x + y/3 made generated integer code compute in floating point, and round).
    """
    rows = [dict(r) for r in rows]
    temps: list[Op] = []
    pairs = _PairIndex(order, integral)
    for i, row in enumerate(rows):
        srcs = sorted(row, key=order.__getitem__)
        for k, x in enumerate(srcs):
            for y in srcs[k + 1:]:
                pairs.add((x, y, row[y] / row[x]), i)
    while True:
        key = pairs.best()
        if key is None:
            break
        x, y, q = key
        name = f"{prefix}{len(temps) + 1}"
        temps.append(Op(name, ((x, Fraction(1)), (y, q))))
        order[name] = len(order)
        for i in sorted(pairs.rows[key]):
            row = rows[i]
            for z, cz in row.items():  # every pair with x or y goes; the others stay as they are
                for w in (x, y):
                    if z != w:
                        cw = row[w]
                        pairs.remove((z, w, cw / cz) if order[z] < order[w] else (w, z, cz / cw), i)
            cx = row.pop(x)
            row.pop(y)
            for z, cz in row.items():  # the temporary is newest, so it is always second
                pairs.add((z, name, cx / cz), i)
            row[name] = cx
    return temps, rows


class _PairIndex:
    """The rows holding each pair (x, y, q), with the pairs bucketed by how many rows hold them.

    Kept up to date as rows are rewritten, so each step of the greedy elimination touches only
    the rewritten rows' pairs with the two merged sources: an ⟨8,8,8;343⟩ scheme takes seconds.
    """

    def __init__(self, order: dict[str, int], integral: bool = False) -> None:
        self.order = order
        self.integral = integral  # share only x + q·y with q an integer
        self.rows: dict[tuple[str, str, Fraction], set[int]] = {}
        self.by_count: dict[int, set[tuple[str, str, Fraction]]] = {}

    def _move(self, key: tuple[str, str, Fraction], old: int, new: int) -> None:
        if old:
            bucket = self.by_count[old]
            bucket.discard(key)
            if not bucket:
                del self.by_count[old]
        if new:
            self.by_count.setdefault(new, set()).add(key)

    def add(self, key: tuple[str, str, Fraction], row: int) -> None:
        if self.integral and key[2].denominator != 1:
            return
        holders = self.rows.setdefault(key, set())
        if row not in holders:
            holders.add(row)
            self._move(key, len(holders) - 1, len(holders))

    def remove(self, key: tuple[str, str, Fraction], row: int) -> None:
        holders = self.rows.get(key)
        if holders is not None and row in holders:
            holders.discard(row)
            self._move(key, len(holders) + 1, len(holders))
            if not holders:
                del self.rows[key]

    def best(self) -> tuple[str, str, Fraction] | None:
        """The pair in the most rows (ties: smallest ranks, then ratio); None below two rows."""
        if not self.by_count:
            return None
        most = max(self.by_count)
        if most < 2:
            return None
        order = self.order
        return min(self.by_count[most], key=lambda k: (order[k[0]], order[k[1]], k[2]))


def _phase(mat: Any, inputs: list[str], out_names: list[str], prefix: str, cse: bool) -> Phase:
    rows = _rows(mat, inputs)
    order = {name: i for i, name in enumerate(inputs)}
    temps: list[Op] = []
    if cse:
        integral = all(c.denominator == 1 for row in rows for c in row.values())
        temps, rows = _eliminate(rows, order, prefix, integral)
    outputs = [Op(name, tuple(sorted(row.items(), key=lambda kv: order[kv[0]])))
               for name, row in zip(out_names, rows, strict=True)]
    return Phase(inputs=list(inputs), temps=temps, outputs=outputs)


def _normalised(scheme: Scheme) -> tuple[list[list[Fraction]], list[list[Fraction]],
                                          list[list[Fraction]]]:
    """Wa, Wb, Wc as Fractions, with all-negative operand rows negated (sign moved to Wc)."""
    wa = [[exact(x) for x in row] for row in scheme.Wa]
    wb = [[exact(x) for x in row] for row in scheme.Wb]
    wc = [[exact(x) for x in row] for row in scheme.Wc]
    if scheme.ring == "Z2":  # modulo 2 there are no signs to move
        return wa, wb, wc
    for t in range(scheme.rank):
        for w in (wa, wb):
            nz = [x for x in w[t] if x != 0]
            if nz and all(x < 0 for x in nz):
                w[t] = [-x for x in w[t]]
                for row in wc:
                    row[t] = -row[t]
    return wa, wb, wc


def _live_part(scheme: Scheme) -> tuple[Scheme, list[int]]:
    """`scheme` without its dead products (same ring), and the indices of the kept ones."""
    keep = scheme.live_terms()
    if len(keep) == scheme.rank:
        return scheme, keep
    part = Scheme(*scheme.shape, scheme.Wa[keep], scheme.Wb[keep], scheme.Wc[:, keep], ring=scheme.ring)
    return part, keep


def build_slp(scheme: Scheme, cse: bool = True, drop_dead: bool = False) -> SLP:
    """The straight-line program of `scheme`; `cse` turns shared subexpressions into temporaries,
    `drop_dead` leaves out the products that contribute nothing (see the module docstring).

    Beyond fastmm.metrics.CSE_WORK_LIMIT the program is built without sharing whatever `cse`
    says (`too_big_to_share` records it): the greedy search would take minutes and gigabytes, and
    every code builder (export, bench, matmul) comes through here."""
    from fastmm.metrics import cse_fits

    too_big = cse and not cse_fits(scheme)
    cse = cse and not too_big
    label, full = scheme.label(), scheme.rank
    numbers = list(range(full))
    if drop_dead:
        scheme, numbers = _live_part(scheme)
    kept = set(numbers)
    dropped = [f"M{t + 1}" for t in range(full) if t not in kept]
    slp = _build(scheme, cse, [t + 1 for t in numbers])
    slp.label, slp.dropped, slp.too_big_to_share = label, dropped, too_big
    return slp


def sharing_note(slp: SLP) -> str:
    """How the program shares: 'shared subexpressions', 'no sharing', or why none was done."""
    if slp.cse:
        return "shared subexpressions"
    if slp.too_big_to_share:
        return "no sharing: too large for the shared-subexpression search"
    return "no sharing"


def _build(scheme: Scheme, cse: bool, numbers: list[int]) -> SLP:
    """The program of `scheme`, product t named M/L/R{numbers[t]}."""
    n, m, p = scheme.shape
    r = scheme.rank
    big = uses_big_names(scheme)
    a_in = [entry_name("A", i, j, big) for i in range(n) for j in range(m)]
    b_in = [entry_name("B", j, k, big) for j in range(m) for k in range(p)]
    c_out = [entry_name("C", i, k, big) for i in range(n) for k in range(p)]
    m_in = [f"M{t}" for t in numbers]
    l_out, r_out = [f"L{t}" for t in numbers], [f"R{t}" for t in numbers]
    if not cse:
        return SLP(
            shape=(n, m, p), rank=r, ring=scheme.ring,
            a=_phase(scheme.Wa, a_in, l_out, "S", False),
            b=_phase(scheme.Wb, b_in, r_out, "T", False),
            c=_phase(scheme.Wc, m_in, c_out, "U", False),
            cse=False,
        )
    wa, wb, wc = _normalised(scheme)
    a = _phase(wa, a_in, l_out, "S", True)
    b = _phase(wb, b_in, r_out, "T", True)
    if scheme.ring != "Z2":
        # an operand that came out as -x after sharing: use x and move the sign to C
        for phase in (a, b):
            for t, op in enumerate(phase.outputs):
                if op.terms and all(c < 0 for _, c in op.terms):
                    phase.outputs[t] = Op(op.target, tuple((x, -c) for x, c in op.terms))
                    for row in wc:
                        row[t] = -row[t]
    return SLP(shape=(n, m, p), rank=r, ring=scheme.ring, a=a, b=b,
               c=_phase(wc, m_in, c_out, "U", True), cse=True)


def count_additions(scheme: Scheme, cse: bool = True) -> int:
    """Additions/subtractions of one recursion level, with or without shared subexpressions, of
    the products that contribute (dead ones are left out, as in the generated code)."""
    return build_slp(scheme, cse, drop_dead=True).additions()
