"""The batched numerical search behind `--method als` (and `spn` with engine=batched): many
restarts as one float64 tensor program, then rounding and exact finishing.

A batch of B restarts holds factors U (B×r×nm), V (B×r×mp), W (B×r×np) — W[z, t] is column t
of Wc — and every step updates all of them at once, on CPU or a GPU (`device`). The loss is
the exact tensor residual ‖Σ_t U[t]⊗V[t]⊗W[t] − T‖² (T the ⟨n,m,p⟩ tensor; it equals the
expected loss on Gaussian random products, so no random matrices are needed).

Each restart runs two phases:

* **fit** — ``als``: each factor solved exactly given the other two (the residual is quadratic
  in it) with Levenberg–Marquardt damping μ‖X − X_old‖²; ``adam``: gradient steps with
  per-restart clipping. A ridge α‖X‖² during the first `ridge_steps` keeps the factors from
  drifting to border-rank approximations (measured on ⟨2,3,3;15⟩: without it the median restart
  sat at residual 1.0 and 1 in 128 fitted; with α = 0.01 for 600 sweeps, then α = 0, 62 in 128
  fitted). A restart above `ridge_fail` when the ridge ends, or not below `fit_tol` after
  `fit_steps`, is stuck: it re-draws `redraw_share` of its terms at random and fits again from
  there (ridge included), at most `redraw` times, then it is replaced. Measured on ⟨2,3,3;15⟩
  (10 seeds × 64 restarts, fit only): 45% of restarts fit without re-draws, 94% with 4 re-draws
  of 10 of the 15 terms, at the same cost per fit (656 against 680 fits per million sweeps;
  ⟨2,3,4;20⟩ 265 against 269): a stuck restart keeps a third of itself and costs what a fresh
  one would, so it is not a faster search, but one restart is now a reliable unit of work.
* **frames** — a fitted restart is first polished (ALS without ridge towards residual 1e-26, then a
  few Gauss–Newton steps where the dense Jacobian is small: ALS can crawl there) and moved
  along its GL orbit to the frames its own rank-one directions suggest (fastmm.search.frames),
  where it is rounded and verified; measured on ⟨2,3,3;15⟩ this about triples the verified
  schemes per restart. If no frame verifies, simplifying starts from the framed point with the
  most grid entries (`frame_start`).
* **simplify** — move the fitted point along its orbit to simple values: ``grid`` pulls every
  entry towards the nearest grid value (multiples of 1/d, |x| ≤ bound; 0 included, so it also
  sparsifies) with a growing weight λ‖X − R(X_old)‖² in the same optimiser, rescaling the terms
  to max|U[t]| = max|V[t]| = 1 (W absorbs the scales) every step; ``l1`` is the StrassenNets
  recipe: Adam with a slowly growing L1 penalty, rescaled every `check_every` steps. A restart
  whose residual blows up, or that finds nothing in `simplify_steps`, is replaced.

Every `check_every` steps the simplifying restarts are rounded (fastmm.search.rounding) on each
grid 1/d of `denominators`: all three factors snapped, and U, V snapped with W re-solved (float
least squares as a filter, then exactly over Q). A candidate is verified exactly before it is
accepted; a rounding that fails is counted (`roundings_failed`) and the search goes on.

Length: about 650 lines: the fit, simplify and round stages share the batch state and are read
in order; the options and request checks live in numerical_options.py, the exact side in
rounding.py, frames.py and exactify.py.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from fastmm import __version__
from fastmm.errors import FastmmError, InputError
from fastmm.paths import write_new
from fastmm.scheme import Scheme
from fastmm.search.base import Progress, Reporter, SearchClock, SearchOutcome, SearchTask, StopFlag
from fastmm.search.frames import balance, framed_points, on_integers
from fastmm.search.numerical_options import (
    NumConfig,
    check_task,
    memory_available,
    memory_needed,
    pick_device,
)
from fastmm.search.rounding import exact_factor, exact_scheme, float_residual, to_fractions
from fastmm.verify import target_tensor

FIT, SIMPLIFY, DONE = 0, 1, 2  # DONE: finished in collect mode (found or given up)
# float64 entries of the largest intermediate one group of restarts computes at once (the Brent
# tensor and its product u⊗v: restarts × (rank + np) × nm·mp). One step of ⟨8,8,8;340⟩'s 64
# restarts took 4-12 s in one piece, so `--time-limit 3` ended after 5-15 s; in groups the
# search looks at the clock between them (⟨8,8,8;340⟩: 2 restarts a group; up to ⟨4,4,4⟩ a
# batch of 64 is one group, ⟨5,5,5;93⟩ 56 + 8: the same steps, bit for bit, measured as fast).
GROUP_ENTRIES = 2**22
# the dense Gauss–Newton Jacobian's entries per restart (rows nm·mp·np × variables) at most
NEWTON_MAX_ENTRIES = 2**24


class OutOfTime(Exception):
    """Raised between two groups of restarts (Batch.groups) when the search must end."""


# -- the tensor algebra of ⟨n,m,p⟩ --------------------------------------------------------


class Brent:
    """Residuals and ALS updates for ⟨n,m,p⟩ on batched factors (B×r×dim), using T's structure.

    T[(i,j),(j,k),(i,k)] = 1, so the contractions with T are small einsums, never dense.
    """

    def __init__(self, n: int, m: int, p: int, device: torch.device):
        self.n, self.m, self.p = n, m, p
        self.T = torch.tensor(target_tensor(n, m, p), dtype=torch.float64, device=device)

    def tensor(self, u: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        z, r, a = u.shape
        uv = (u[:, :, :, None] * v[:, :, None, :]).reshape(z, r, -1)
        return torch.bmm(uv.transpose(1, 2), w).reshape(z, a, v.shape[2], w.shape[2])

    def residual(self, u: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """‖Σ_t U[t]⊗V[t]⊗W[t] − T‖² per restart (B,)."""
        return ((self.tensor(u, v, w) - self.T) ** 2).sum(dim=(1, 2, 3))

    def mttkrp(self, which: int, u, v, w) -> torch.Tensor:
        """Σ over the other two indices of T·(other factors): the right-hand side of ALS."""
        z, r = u.shape[:2]
        n, m, p = self.n, self.m, self.p
        a, b, c = u.reshape(z, r, n, m), v.reshape(z, r, m, p), w.reshape(z, r, n, p)
        if which == 0:
            return torch.einsum("ztjk,ztik->ztij", b, c).reshape(z, r, n * m)
        if which == 1:
            return torch.einsum("ztij,ztik->ztjk", a, c).reshape(z, r, m * p)
        return torch.einsum("ztij,ztjk->ztik", a, b).reshape(z, r, n * p)


def gauss_newton(brent: Brent, x: list[torch.Tensor], steps: int, damping: float = 1e-12
                 ) -> list[torch.Tensor]:
    """A few damped Gauss–Newton steps on all three factors at once (quadratic convergence near
    an exact fit, where ALS converges linearly and sometimes very slowly). Dense Jacobian:
    only for small problems and a few restarts at a time."""
    u, v, w = x
    z, r = u.shape[:2]
    dims = (u.shape[2], v.shape[2], w.shape[2])
    eyes = [torch.eye(d, dtype=u.dtype, device=u.device) for d in dims]
    target = brent.T.reshape(-1)
    for _ in range(steps):
        res = brent.tensor(u, v, w).reshape(z, -1) - target
        ju = torch.einsum("ztb,ztc,ad->zabctd", v, w, eyes[0])
        jv = torch.einsum("zta,ztc,bd->zabctd", u, w, eyes[1])
        jw = torch.einsum("zta,ztb,cd->zabctd", u, v, eyes[2])
        rows = res.shape[1]
        jac = torch.cat([ju.reshape(z, rows, -1), jv.reshape(z, rows, -1), jw.reshape(z, rows, -1)], 2)
        jtj = jac.transpose(1, 2) @ jac
        jtj = jtj + damping * torch.eye(jtj.shape[1], dtype=u.dtype, device=u.device)
        step = torch.linalg.solve(jtj, (jac.transpose(1, 2) @ res[..., None]))[..., 0]
        a, b = r * dims[0], r * (dims[0] + dims[1])
        new = [u - step[:, :a].reshape(u.shape), v - step[:, a:b].reshape(v.shape),
               w - step[:, b:].reshape(w.shape)]
        better = brent.residual(*new) < (res ** 2).sum(dim=1)
        u, v, w = (torch.where(better[:, None, None], n_, o) for n_, o in zip(new, (u, v, w), strict=True))
    return [u, v, w]


def gram(x: torch.Tensor) -> torch.Tensor:
    return torch.bmm(x, x.transpose(1, 2))


def snap_t(x: torch.Tensor, d: int, bound: float) -> torch.Tensor:
    return torch.clamp(torch.round(x * d) / d, -bound, bound)


def rescale_terms(u, v, w):
    """max|U[t]| = max|V[t]| = 1 for every term; W absorbs the scales (tensor unchanged)."""
    su = u.abs().amax(dim=2, keepdim=True)
    sv = v.abs().amax(dim=2, keepdim=True)
    su = torch.where(su > 1e-12, su, torch.ones_like(su))
    sv = torch.where(sv > 1e-12, sv, torch.ones_like(sv))
    return u / su, v / sv, w * (su * sv)


# -- the search ---------------------------------------------------------------------------


@dataclass
class Counters:
    steps: int = 0  # optimiser steps, summed over the batch (one per restart per step)
    restarts: int = 0  # initialisations drawn
    replaced: int = 0  # restarts that stalled and were replaced (finished without a scheme)
    fitted: int = 0  # restarts that reached fit_tol
    candidates: int = 0  # roundings whose float residual vanished (sent to the exact check)
    roundings_failed: int = 0  # exact checks that failed (never written)
    other_ring: int = 0  # exact schemes over Q found by a ZT / Z search (not returned)
    short_by_one: int = 0  # given up while fitting with a rank-one residual (see one_short)
    redrawn: int = 0  # times a stuck restart re-drew some of its terms (see NumConfig.redraw)
    refitted: int = 0  # times a restart whose fit did not round re-drew terms (NumConfig.refit)
    found: int = 0


class Batch:
    """B restarts of one search: factors, per-restart phase and pull, and their replacement."""

    def __init__(self, task: SearchTask, cfg: NumConfig, device: torch.device, gen: torch.Generator,
                 expired: StopFlag | None = None):
        self.task, self.cfg, self.device, self.gen = task, cfg, device, gen
        n, m, p = task.shape
        self.brent = Brent(n, m, p, device)
        self.dims = (n * m, m * p, n * p)
        z, r = cfg.batch, task.rank
        # restarts computed at once (GROUP_ENTRIES); `expired` is looked at between two groups
        self.group = max(1, GROUP_ENTRIES // ((r + n * p) * n * m * m * p))
        self.expired = expired
        self.factors = [torch.zeros(z, r, d, dtype=torch.float64, device=device) for d in self.dims]
        self.phase = torch.zeros(z, dtype=torch.long, device=device)
        self.age = torch.zeros(z, dtype=torch.long, device=device)  # steps in the current phase
        self.pull = torch.zeros(z, dtype=torch.float64, device=device)
        self.restart_id = torch.zeros(z, dtype=torch.long, device=device)
        self.redraws = torch.zeros(z, dtype=torch.long, device=device)  # per restart, so far
        self.refits = torch.zeros(z, dtype=torch.long, device=device)  # per restart, so far
        self.moments = [(torch.zeros_like(f), torch.zeros_like(f)) for f in self.factors]
        self.adam_t = torch.zeros(z, dtype=torch.float64, device=device)
        self.eye = torch.eye(r, dtype=torch.float64, device=device)
        self.next_id = 0
        self.reinit(torch.ones(z, dtype=torch.bool, device=device))

    def reinit(self, mask: torch.Tensor) -> int:
        k = int(mask.sum())
        if k == 0:
            return 0
        r = self.task.rank
        for f, d in zip(self.factors, self.dims, strict=True):
            fresh = torch.randn(k, r, d, generator=self.gen, dtype=torch.float64) * self.cfg.init_std
            f[mask] = fresh.to(self.device)
        self.reset_adam(mask)
        self.phase[mask] = FIT
        self.age[mask] = 0
        self.pull[mask] = 0
        ids = torch.arange(self.next_id, self.next_id + k, device=self.device)
        self.restart_id[mask] = ids
        self.redraws[mask] = 0
        self.refits[mask] = 0
        self.next_id += k
        return k

    def redraw(self, mask: torch.Tensor, refit: bool = False) -> int:
        """Re-draw `redraw_share` of the terms of each restart in `mask` (chosen at random) and
        fit again from there; the rest of the restart is kept. Counted as a re-draw of a stuck
        restart, or with `refit` as a refit of a fitted one."""
        r = self.task.rank
        k = max(1, min(r, round(self.cfg.redraw_share * r)))
        idx = torch.nonzero(mask).flatten().tolist()
        for z in idx:
            terms = torch.randperm(r, generator=self.gen)[:k].to(self.device)
            for f in self.factors:
                fresh = torch.randn(k, f.shape[2], generator=self.gen, dtype=torch.float64)
                f[z, terms] = fresh.to(self.device) * self.cfg.init_std
        self.reset_adam(mask)
        self.age[mask] = 0
        self.pull[mask] = 0
        self.phase[mask] = FIT
        (self.refits if refit else self.redraws)[mask] += 1
        return len(idx)

    def groups(self, count: int):
        """slice objects covering range(count), `group` at a time; between two of them OutOfTime
        if the search must end (a search that ends has no use for the rest)."""
        for start in range(0, count, self.group):
            if start and self.expired is not None and self.expired():
                raise OutOfTime
            yield slice(start, start + self.group)

    def residual_of(self, u: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Brent.residual in groups of restarts."""
        if u.shape[0] <= self.group:
            return self.brent.residual(u, v, w)
        return torch.cat([self.brent.residual(u[g], v[g], w[g]) for g in self.groups(u.shape[0])])

    def reset_adam(self, mask: torch.Tensor) -> None:
        for m1, m2 in self.moments:
            m1[mask] = 0
            m2[mask] = 0
        self.adam_t[mask] = 0

    # one optimiser step for the restarts in idx ------------------------------------------
    def step(self, idx: torch.Tensor, optimizer: str, penalty: str, d: int, bound: float) -> None:
        """One step of `optimizer` ("als" / "adam") for the restarts `idx` (1-D indices);
        penalty: "none" (fit, with the early ridge), "grid" (pull to the grid) or "l1". In groups
        of restarts (each restart's step is its own)."""
        for g in self.groups(idx.numel()):
            self._step(idx[g], optimizer, penalty, d, bound)

    def _step(self, idx: torch.Tensor, optimizer: str, penalty: str, d: int, bound: float) -> None:
        if idx.numel() == 0:
            return
        x = [f[idx] for f in self.factors]
        ridge = torch.where(self.age[idx] < self.cfg.ridge_steps, self.cfg.ridge, 0.0) \
            if penalty == "none" else torch.zeros(idx.numel(), dtype=torch.float64, device=self.device)
        lam = self.pull[idx]
        if optimizer == "als":
            new = self._als(x, ridge, lam if penalty == "grid" else torch.zeros_like(lam), d, bound)
        else:
            new = self._adam(idx, x, ridge, lam, penalty, d, bound)
        for f, v in zip(self.factors, new, strict=True):
            f[idx] = v

    def _als(self, x: list[torch.Tensor], ridge, lam, d: int, bound: float) -> list[torch.Tensor]:
        mu = self.cfg.damping
        ridge, lam = ridge[:, None, None], lam[:, None, None]
        for which in range(3):
            others = [x[i] for i in range(3) if i != which]
            g = gram(others[0]) * gram(others[1])
            rhs = self.brent.mttkrp(which, *x) + mu * x[which] + lam * snap_t(x[which], d, bound)
            x[which] = torch.linalg.solve(g + (mu + lam + ridge) * self.eye, rhs)
        return x

    def _adam(self, idx, x: list[torch.Tensor], ridge, lam, penalty: str, d: int,
              bound: float) -> list[torch.Tensor]:
        params = [f.detach().requires_grad_(True) for f in x]
        res = self.brent.residual(*params)
        loss = res + ridge * sum((f ** 2).sum(dim=(1, 2)) for f in params)
        if penalty == "l1":
            loss = loss + lam * sum(f.abs().sum(dim=(1, 2)) for f in params)
        elif penalty == "grid":
            loss = loss + lam * sum(((f - snap_t(f.detach(), d, bound)) ** 2).sum(dim=(1, 2))
                                    for f in params)
        grads = torch.autograd.grad(loss.sum(), params)
        norm = torch.sqrt(sum((g ** 2).sum(dim=(1, 2)) for g in grads))
        scale = torch.clamp(self.cfg.clip / (norm + 1e-30), max=1.0)[:, None, None]
        t = self.adam_t[idx] + 1
        self.adam_t[idx] = t
        b1, b2, eps = 0.9, 0.999, 1e-8
        c1 = (1 - b1 ** t)[:, None, None]
        c2 = (1 - b2 ** t)[:, None, None]
        # Adam's steps have length ~lr whatever the gradient, so near a solution it circles at a
        # residual set by lr (⟨2,3,4;20⟩, lr 0.05: every restart stalled near 1e-2). The step
        # shrinks with the restart's residual instead: lr·clamp(√res / lr_scale, lr_min, 1).
        # (While simplifying the pull moves the point on purpose: the full lr.)
        lr = (self.cfg.simplify_lr or self.cfg.lr) if penalty != "none" else self.cfg.lr * torch.clamp(
            torch.sqrt(res.detach()) / self.cfg.lr_scale, min=self.cfg.lr_min, max=1.0)[:, None, None]
        out = []
        for which, (f, g) in enumerate(zip(x, grads, strict=True)):
            m1, m2 = self.moments[which]
            g = g * scale
            a = m1[idx] * b1 + (1 - b1) * g
            b = m2[idx] * b2 + (1 - b2) * g * g
            m1[idx], m2[idx] = a, b
            out.append(f - lr * (a / c1) / (torch.sqrt(b / c2) + eps))
        return out

    def rescale(self, mask: torch.Tensor) -> None:
        if not mask.any():
            return
        new = rescale_terms(*(f[mask] for f in self.factors))
        for f, v in zip(self.factors, new, strict=True):
            f[mask] = v

    def residual(self) -> torch.Tensor:
        return self.residual_of(*self.factors)


def one_short(batch: Batch, mask: torch.Tensor, ratio: float = 0.1) -> torch.Tensor:
    """Which restarts in `mask` stalled with T − fit (numerically) of rank one: a scheme of rank
    r + 1 with one product missing. Most restarts that never fit end this way (⟨2,3,3;15⟩, seed 0:
    24 of the 25 given up in a batch of 64; ⟨2,4,5;32⟩: the closest restarts, at residual 1.00). Counted so
    that a user sees why a search fails (counted when a restart is given up, after its re-draws);
    re-drawing 3 of its 15 terms rescues about a quarter per try, two thirds of them most
    (NumConfig.redraw), and penalising the extra term away leads back to the same point."""
    out = torch.zeros_like(mask)
    finite = torch.stack([torch.isfinite(f).all(dim=(1, 2)) for f in batch.factors]).all(dim=0)
    idx = torch.nonzero(mask & finite).flatten()
    for g in batch.groups(idx.numel()):
        E = batch.brent.T - batch.brent.tensor(*(f[idx[g]] for f in batch.factors))
        sv = torch.linalg.svdvals(E.reshape(E.shape[0], E.shape[1], -1))
        out[idx[g]] = sv[:, 1] < ratio * sv[:, 0]
    return out


class NumericalSearch:
    """The loop: step, move restarts between phases, round, replace the stalled ones."""

    def __init__(self, task: SearchTask, cfg: NumConfig, method: str,
                 report: Reporter, should_stop: StopFlag):
        self.task, self.cfg, self.method = task, cfg, method
        self.report, self.should_stop = report, should_stop
        self.device = pick_device(cfg.device)
        self.gen = torch.Generator().manual_seed(int(task.seed))
        self.pull_d, self.round_ds, self.bound = cfg.grid(task.ring)
        self.count = Counters()
        self.clock = SearchClock(task, report, should_stop)
        self.found: Scheme | None = None
        self.collected: list[Scheme] = []  # collect mode: one verified scheme per successful restart
        self.save_error: str | None = None  # the first --save-fitted write that failed (then none is tried)
        self.tried: set = set()

    @property
    def elapsed(self) -> float:
        return self.clock.elapsed

    @property
    def stopped(self) -> str | None:
        return self.clock.stopped

    def poll(self) -> bool:
        c = self.count
        return self.clock.poll(c.steps, c.restarts, f"{self.method}: {c.fitted} fitted, "
                               f"{c.candidates} roundings tried, {c.roundings_failed} failed, "
                               f"{c.redrawn} re-draws, {c.short_by_one} given up one product short")

    def run(self) -> SearchOutcome:
        cfg = self.cfg
        if cfg.max_restarts and cfg.max_restarts < cfg.batch:  # never draw more than allowed
            cfg = self.cfg = replace(cfg, batch=cfg.max_restarts)
        batch = Batch(self.task, cfg, self.device, self.gen, self.clock.expired)
        self.count.restarts = cfg.batch
        step = 0
        try:
            while not self.poll():
                self.advance(batch)
                step += 1
                if step % cfg.check_every:
                    continue
                if self.check(batch):
                    return self.outcome()
                if cfg.collect and bool((batch.phase == DONE).all()):
                    self.clock.stopped = "restarts"
                    break
                if cfg.max_restarts and bool((batch.phase == DONE).all()):  # every allowed restart ended
                    self.clock.stopped = "restarts"
                    break
        except OutOfTime:  # the time limit or a stop, between two groups of restarts
            self.poll()  # the last report, as the loop's own poll gives it
        return self.outcome()

    def advance(self, batch: Batch) -> None:
        """One step of every restart: fitting ones by the fit optimiser, the others simplify."""
        cfg = self.cfg
        fitting = batch.phase == FIT
        simplifying = batch.phase == SIMPLIFY
        fit_idx = torch.nonzero(fitting).flatten()
        simp_idx = torch.nonzero(simplifying).flatten()
        batch.step(fit_idx, cfg.optimizer, "none", self.pull_d, self.bound)
        if cfg.simplify == "l1":
            batch.step(simp_idx, "adam", "l1", self.pull_d, self.bound)
        else:
            batch.step(simp_idx, cfg.simplify_optimizer or cfg.optimizer, "grid", self.pull_d,
                       self.bound)
            batch.rescale(simplifying)
        batch.age += 1
        self.count.steps += fit_idx.numel() + simp_idx.numel()
        batch.pull = torch.where(simplifying, torch.clamp(batch.pull * cfg.pull_growth,
                                                          max=cfg.pull_max), batch.pull)

    def check(self, batch: Batch) -> bool:
        """Phase changes, rounding attempts and replacements; True when a scheme is found."""
        cfg = self.cfg
        res = batch.residual()
        bad = ~torch.isfinite(res)
        fitting = batch.phase == FIT
        ready = fitting & (res < cfg.fit_tol)
        if ready.any():
            self.count.fitted += int(ready.sum())
            if cfg.frames and self.try_frames(batch, ready):
                return True
            if cfg.save_fitted and not cfg.frames:  # with frames, frame_restart saves the polished point
                for z in torch.nonzero(ready).flatten().tolist():
                    self.save_point([f[z].cpu().numpy() for f in batch.factors], int(batch.restart_id[z]))
            ready &= batch.phase == FIT  # collect mode: restarts that verified are DONE
            batch.phase[ready] = SIMPLIFY
            batch.age[ready] = 0
            batch.pull[ready] = cfg.pull_start
            batch.reset_adam(ready)  # a fresh Adam start for the new objective
        simplifying = (batch.phase == SIMPLIFY) & ~ready
        if simplifying.any() and self.try_rounding(batch, simplifying):
            return True
        stalled = bad | (fitting & ~ready & (batch.age >= cfg.fit_steps))
        ridge_end = (batch.age >= cfg.ridge_steps) & (batch.age < cfg.ridge_steps + cfg.check_every)
        stalled |= fitting & ridge_end & (res > cfg.ridge_fail)
        stalled |= simplifying & ((res > cfg.blowup) | (batch.age >= cfg.simplify_steps))
        stalled &= batch.phase != DONE
        again = stalled & fitting & ~bad & (batch.redraws < cfg.redraw)
        self.count.redrawn += batch.redraw(again)
        stalled &= ~again
        if cfg.refit and self.task.ring in ("ZT", "Z"):  # neither frames nor the pull made it ternary
            again = stalled & simplifying & ~bad & (batch.refits < cfg.refit)
            self.count.refitted += batch.redraw(again, refit=True)
            stalled &= ~again
        self.count.short_by_one += int(one_short(batch, stalled & fitting).sum())
        if cfg.collect:
            batch.phase[stalled] = DONE
            self.count.replaced += int(stalled.sum())  # given up (finished without a scheme)
            return False
        if cfg.max_restarts:  # past max_restarts a stalled restart is not replaced: it has ended
            room = max(cfg.max_restarts - self.count.restarts, 0)
            idx = torch.nonzero(stalled).flatten()[room:]
            stalled[idx] = False
            batch.phase[idx] = DONE
        fresh = batch.reinit(stalled)
        self.count.restarts += fresh
        self.count.replaced += fresh
        return False

    def try_frames(self, batch: Batch, mask: torch.Tensor) -> bool:
        """Polish the newly fitted restarts, move each to the frames of its rank-one directions
        (fastmm.search.frames) and round there; if none verifies and `frame_start` is set, the
        restart goes on from the framed point with the most grid entries."""
        idx = torch.nonzero(mask).flatten()
        zero = torch.zeros(idx.numel(), dtype=torch.float64, device=self.device)
        for sweep in range(1, self.cfg.polish_steps + 1):
            new = batch._als([f[idx] for f in batch.factors], zero, zero, self.pull_d, self.bound)
            for f, v in zip(batch.factors, new, strict=True):
                f[idx] = v
            self.count.steps += idx.numel()
            if self.clock.expired():  # a sweep of many big restarts takes a while: every one
                break
            if sweep % 25 == 0 and bool((batch.residual_of(*new) < 1e-26).all()):
                break
        variables = self.task.rank * sum(batch.dims)
        rows = batch.brent.T.numel()
        if variables <= self.cfg.newton_max_vars and rows * variables <= NEWTON_MAX_ENTRIES:
            # ALS can crawl: finish with Gauss–Newton (a dense Jacobian: rows × variables)
            new = gauss_newton(batch.brent, [f[idx] for f in batch.factors], self.cfg.newton_steps)
            for f, v in zip(batch.factors, new, strict=True):
                f[idx] = torch.where(torch.isfinite(v), v, f[idx])
        grids = sorted({1, *self.round_ds} | ({2} if self.task.ring != "Z2" else set()))
        restarts = idx.tolist()
        for k, z in enumerate(restarts):  # each restart's frames take up to seconds: the clock between them
            if self.clock.expired():
                self.keep_fitted(batch, z)  # out of time for its frames, but the point is kept
                continue
            if self.frame_restart(batch, z, grids):
                if self.cfg.save_fitted:  # every fitted point is kept, not only the one that verified
                    for rest in restarts[k + 1:]:
                        self.keep_fitted(batch, rest)
                return True
        return False

    def keep_fitted(self, batch: Batch, z: int) -> list[np.ndarray] | None:
        """Restart z's fitted point, saved under --save-fitted; None when it is not finite."""
        point = [f[z].cpu().numpy() for f in batch.factors]
        if not np.all(np.isfinite(point[0])):
            return None
        if self.cfg.save_fitted:
            self.save_point(point, int(batch.restart_id[z]))
        return point

    def frame_restart(self, batch: Batch, z: int, grids: list[int]) -> bool:
        """Round restart z in each frame on each grid; True when the search should stop."""
        point = self.keep_fitted(batch, z)
        if point is None:
            return False
        best, most = None, -1
        for framed in framed_points(*point, self.task.shape):
            if self.clock.expired():
                return False
            for d in grids:
                # halves too: a scaled ternary scheme has them, and balancing rescales it
                snapped = [np.clip(np.round(x * d) / d, -4, 4) for x in framed]
                if d == 1:
                    close = sum(int((np.abs(x - s) < 1e-6).sum()) for x, s in zip(framed, snapped,
                                                                                  strict=True))
                    if close > most:
                        best, most = framed, close
                if max(np.abs(x - s).max() for x, s in zip(framed, snapped, strict=True)) > 0.05:
                    continue
                if float_residual(self.task.shape, *snapped) > 1e-9:
                    continue  # not exact: no need for the exact check
                if not self.in_ring(snapped):
                    snapped = self.balanced_floats(snapped)
                    if snapped is None:
                        self.count.other_ring += 1  # exact over Q, not a scaled ternary scheme
                        continue
                facs = [to_fractions(x, d) for x in snapped]
                if self.accept(self.task.shape, facs, batch, z, f"frame + round 1/{d}"):
                    return True
                if batch.phase[z] == DONE:  # collect mode: this restart is finished
                    return False
        if self.try_finish(batch, z, point):
            return True
        if self.cfg.frame_start and best is not None and max(np.abs(x).max() for x in best) < 1e3:
            for f, x in zip(batch.factors, best, strict=True):
                f[z] = torch.from_numpy(np.ascontiguousarray(x)).to(f)
        return False

    def try_finish(self, batch: Batch, z: int, point: list[np.ndarray]) -> bool:
        """fastmm.search.exactify on a fitted point the frames left inexact (ring Q by default:
        where fits are rare and each one is worth minutes)."""
        budget = self.cfg.finish if self.cfg.finish >= 0 else (120.0 if self.task.ring == "Q" else 0.0)
        if self.task.time_limit is not None:
            budget = min(budget, max(self.task.time_limit - self.elapsed, 0.0))
        if budget <= 0 or batch.phase[z] == DONE:
            return False
        from fastmm.search.exactify import MAX_JACOBIAN, Point, finish_point, jacobian_size

        if jacobian_size(self.task.shape, self.task.rank) > MAX_JACOBIAN:
            return False

        scheme = finish_point(Point(self.task.shape, *point), self.task.ring, time_limit=budget,
                              stop=self.should_stop)
        if scheme is None:
            return False
        how = scheme.provenance.get("rounding", "frames + fix and repair")
        return self.accept(self.task.shape, [scheme.Wa, scheme.Wb, scheme.Wc.T], batch, z, how)

    def save_point(self, point: list[np.ndarray], restart: int) -> None:
        """Keep a fitted (not yet exact) point, written atomically, for later exact work
        (`fastmm finish`: what failed to round here may finish there)."""
        n, m, p = self.task.shape
        name = f"{n}x{m}x{p}-r{self.task.rank}-seed{self.task.seed}-restart{restart}.npz"
        buffer = io.BytesIO()
        np.savez(buffer, u=point[0], v=point[1], w=point[2], residual=float_residual(self.task.shape, *point),
                 shape=np.array(self.task.shape))
        if self.save_error is not None:
            return
        folder = Path(self.cfg.save_fitted)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_new(folder / name, buffer.getvalue())  # -2, -3...: an earlier run's points are kept
        except (OSError, FastmmError) as exc:  # a side output: it never costs the search its result
            self.save_error = str(exc) if isinstance(exc, FastmmError) else f"{folder}: {exc.strerror or exc}"
            print(f"warning: --save-fitted stopped ({self.save_error}); the search goes on without "
                  "keeping fitted points", file=sys.stderr)

    def try_rounding(self, batch: Batch, mask: torch.Tensor) -> bool:
        """Snap the simplifying restarts; send the ones whose float residual vanishes to the
        exact check (all three snapped, or U and V snapped with W re-solved)."""
        shape = self.task.shape
        batch.rescale(mask)
        u, v, w = batch.factors
        for d in self.round_ds:
            su, sv, sw = (snap_t(x, d, self.bound) for x in (u, v, w))
            res = batch.residual_of(su, sv, sw)
            for z in torch.nonzero(mask & (res < 1e-9)).flatten().tolist():
                if batch.phase[z] == DONE:
                    continue
                facs = [to_fractions(x[z].cpu().numpy(), d) for x in (su, sv, sw)]
                if self.accept(shape, facs, batch, z, f"round 1/{d}"):
                    return True
            # U, V on the grid, W free: least squares as a filter, then exactly over Q
            res_w = self.resolve_residual(batch, su, sv, w)
            for z in torch.nonzero(mask & (res_w < 1e-8) & (res >= 1e-9)).flatten().tolist():
                if batch.phase[z] == DONE:
                    continue
                key = (d, su[z].cpu().numpy().tobytes(), sv[z].cpu().numpy().tobytes())
                if key in self.tried:  # the same U, V were re-solved before: nothing new
                    continue
                self.tried.add(key)
                fixed = [to_fractions(x[z].cpu().numpy(), d) for x in (su, sv)]
                facs = exact_factor(shape, [fixed[0], fixed[1], w[z].cpu().numpy()], 2,
                                    guess_denominator=d)
                if facs is None:
                    self.count.candidates += 1
                    self.count.roundings_failed += 1
                    continue
                if self.accept(shape, facs, batch, z, f"round 1/{d} + exact W"):
                    return True
        return False

    def resolve_residual(self, batch: Batch, su, sv, w) -> torch.Tensor:
        """Least-squares residual of the Brent equations in W with U, V fixed (per restart; in
        groups of restarts)."""
        if su.shape[0] > batch.group:
            return torch.cat([self.resolve_residual(batch, su[g], sv[g], w[g])
                              for g in batch.groups(su.shape[0])])
        z, r = su.shape[:2]
        k = (su[:, :, :, None] * sv[:, :, None, :]).reshape(z, r, -1).transpose(1, 2)
        rhs = batch.brent.T.reshape(-1, batch.brent.T.shape[2]).expand(z, -1, -1)
        g = torch.bmm(k.transpose(1, 2), k) + 1e-12 * torch.eye(r, dtype=k.dtype, device=k.device)
        x = torch.linalg.solve(g, torch.bmm(k.transpose(1, 2), rhs))
        return ((torch.bmm(k, x) - rhs) ** 2).sum(dim=(1, 2))

    def accept(self, shape, facs, batch: Batch, z: int, how: str) -> bool:
        self.count.candidates += 1
        prov = {"method": self.method, "seed": self.task.seed, "optimizer": self.cfg.optimizer,
                "restart": int(batch.restart_id[z]), "rounding": how,
                "steps": self.count.steps, "seconds": round(self.elapsed, 3), "version": __version__}
        scheme = exact_scheme(shape, *facs, ring=self.task.ring, provenance=prov)
        if scheme is None and self.task.ring in ("ZT", "Z"):
            if exact_scheme(shape, *facs, ring="Q", provenance=prov) is None:
                self.count.roundings_failed += 1
                return False
            scheme = self.balanced(shape, facs, prov)  # valid over Q: a scaled ternary scheme?
            if scheme is None:
                self.count.other_ring += 1  # valid, but over Q: not what was asked
                return False
        if scheme is None:
            self.count.roundings_failed += 1
            return False
        self.count.found += 1
        if self.cfg.collect:  # measurement: keep it, finish this restart, go on with the others
            self.collected.append(scheme)
            batch.phase[z] = DONE
            self.found = self.found or scheme
            return False
        self.found = scheme
        return True

    def in_ring(self, factors: list[np.ndarray]) -> bool:
        """Float factors whose coefficients the searched ring holds (Q / Z2: any here)."""
        if self.task.ring not in ("ZT", "Z"):
            return True
        integral = all(np.array_equal(x, np.round(x)) for x in factors)
        return integral and (self.task.ring == "Z" or max(np.abs(x).max() for x in factors) <= 1)

    def balanced_floats(self, factors: list[np.ndarray]) -> list[np.ndarray] | None:
        """frames.balance, rounded: the factors as ±1/0 if a diagonal rescaling makes them so."""
        moved = balance(*factors, self.task.shape)
        return None if moved is None else on_integers(moved)

    def balanced(self, shape, facs, prov: dict) -> Scheme | None:
        """The exact Q scheme `facs` rescaled by diagonal changes of basis (frames.balance) to
        one over the searched ring, or None."""
        ints = self.balanced_floats([np.asarray(f, dtype=np.float64) for f in facs])
        if ints is None:
            return None
        prov = {**prov, "rounding": prov["rounding"] + " + diagonal balance"}
        return exact_scheme(shape, *(to_fractions(i, 1) for i in ints), ring=self.task.ring,
                            provenance=prov)

    def outcome(self) -> SearchOutcome:
        c = self.count
        if self.found is not None:
            self.report(Progress(rank=self.found.rank, steps=c.steps, restarts=c.restarts,
                                 elapsed=self.elapsed, note="found"))
        stopped = "found" if self.found else (self.stopped if self.stopped in ("stopped", "restarts")
                                              else "time")
        out = SearchOutcome(scheme=self.found, best=self.found, steps=c.steps, restarts=c.restarts,
                            seconds=self.elapsed, stopped=stopped, seed=self.task.seed)
        out.counters = c  # type: ignore[attr-defined]  # for benchmarks: fitted, roundings, ...
        out.collected = list(self.collected)  # type: ignore[attr-defined]  # collect mode: every scheme
        return out


def run_numerical(task: SearchTask, report: Reporter, should_stop: StopFlag, method: str,
                  defaults: dict | None = None) -> SearchOutcome:
    """Run the batched search for `task` (see the module docstring)."""
    check_task(task, method, ("ZT", "Z", "Q", "Z2"))
    cfg = NumConfig.from_options({**(defaults or {}), **task.options}, method)
    need, have = memory_needed(task.shape, task.rank, cfg.batch), memory_available(cfg.device)
    if have is not None and need > have // 2:
        n, m, p = task.shape
        raise InputError(f"--batch {cfg.batch} for ⟨{n},{m},{p};{task.rank}⟩ needs about "
                         f"{need / 2**30:,.1f} GiB for its tensors; this {cfg.device.upper()} has "
                         f"{have / 2**30:,.1f} GiB: use a smaller --batch")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    try:
        return NumericalSearch(task, cfg, method, report, should_stop).run()
    finally:
        torch.set_num_threads(threads)
