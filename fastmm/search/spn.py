"""`--method spn`: learn an exact scheme as a ternary sum-product network (StrassenNets).

The SPN vec(C) = Wc·((Wa·vec A) ⊙ (Wb·vec B)) is trained by gradient descent to multiply
matrices, then forced onto {-1, 0, 1} and checked exactly. Two engines run it:

* ``engine="batched"`` (the default; `fastmm search --engine batched`): many restarts at once as
  one tensor program in fastmm.search.numerical, with Adam and the settings in BATCHED_ADAM
  (faster on every shape measured, and the one that finds ⟨2,3,4;20⟩; also on a GPU).
* ``engine="single"`` (`--engine single`): one restart at a time, the paper's recipe below,
  with its TWN quantizer and straight-through fine-tuning.

One restart of the single engine runs four stages:

1. **fit** — Adam on the full-precision SPN until it multiplies (loss ≲ 1e-8).
   The default loss is the *exact tensor loss* ‖Σ_t Wa[t]⊗Wb[t]⊗Wc[:,t] − T‖²: for A, B with
   i.i.d. standard Gaussian entries, E‖SPN(A,B) − vec(AB)‖² equals it exactly (the cross
   moments E[a a' b b'] are Kronecker deltas), so it is the paper's random-product objective
   without sampling noise. ``options={"loss": "sampled"}`` trains on Gaussian random products
   as in the paper instead, `samples` of them per step (slower; the noise vanishes at an exact
   solution).
2. **sparsify** — the same loss plus a slowly growing L1 penalty λ·Σ|W|. A converged
   continuous fit sits at a generic point of its symmetry orbit (GL_n×GL_m×GL_p and term
   scalings), far from any ternary scheme; quantizing it directly essentially never works
   (REFERENCES §3). The L1 term walks it along the orbit towards a sparse point.
3. **rescale** — every ``check_every`` steps each term is rescaled so that
   max|Wa[t]| = max|Wb[t]| = 1, Wc[:, t] absorbing the scales, and rounded; if the rounded
   scheme verifies exactly the restart is done.
4. **ternary fine-tune** — when the rescaled weights are near ternary but rounding is not yet
   exact, the paper's quantizer takes over: TWN ternarization (Δ = 0.7·mean|W|) in the forward
   pass with a straight-through gradient, on a copy, for ``ste_steps`` steps; the quantized
   Q(W) (α folded away) is checked exactly after every ``check_every`` steps.

A restart that does not verify is followed by a new initialisation drawn from (seed, restart).
Results are in {-1, 0, 1} and valid over Z (ring "ZT"); for task.ring "Z2" the rounded scheme
is reduced and verified modulo 2 (a scheme valid over Z is valid modulo 2, and a rounding
that is only right modulo 2 is accepted there). Terms with a zero factor are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from fastmm import __version__
from fastmm.errors import InputError
from fastmm.scheme import Scheme
from fastmm.search.base import Progress, Reporter, SearchClock, SearchOutcome, SearchTask, StopFlag
from fastmm.spn import Mode, SumProduct, twn_quantize
from fastmm.verify import target_tensor

POLL_EVERY = 10  # steps between looks at the clock and the stop flag (a step is well under 1 ms)


@dataclass(frozen=True)
class SPNConfig:
    """The knobs of the SPN search; `task.options` may override any of them by name."""

    loss: str = "tensor"  # "tensor" (exact expected loss) or "sampled" (Gaussian products)
    samples: int = 64  # random products per step when loss == "sampled"
    lr: float = 0.02  # Adam learning rate for the fit and sparsify stages
    init_std: float = 0.5  # standard deviation of the initial weights
    fit_steps: int = 6000  # most fit steps per restart
    fit_l2: float = 1e-3  # weight decay during the fit: keeps away from border-rank drift
    fit_tol: float = 1e-4  # fit loss at which sparsification starts
    fit_fail: float = 1e-2  # a fit still above this after fit_steps is abandoned
    l1_start: float = 1e-4  # initial L1 weight λ
    l1_growth: float = 1.003  # λ multiplies by this every step
    l1_steps: int = 4000  # most sparsify steps per restart
    check_every: int = 50  # steps between rescale/round/verify checks
    near: float = 0.3  # rescaled weights within this of integers count as near ternary
    ste_steps: int = 300  # ternary (TWN + straight-through) fine-tune steps per try
    ste_lr: float = 0.01  # learning rate of the ternary fine-tune
    max_restarts: int = 0  # 0 = unlimited (until found, time limit or stop)

    @classmethod
    def from_options(cls, options: dict) -> SPNConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"unknown spn option(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        from fastmm.search.numerical_options import LEAST, typed_option

        cfg = cls(**{f.name: typed_option("spn", f.name, f.default, options[f.name], LEAST.get(f.name, 0))
                     for f in fields(cls) if f.name in options})
        if cfg.loss not in ("tensor", "sampled"):
            raise InputError(f"spn option loss must be 'tensor' or 'sampled', not {cfg.loss!r}")
        return cfg


# -- small tensor helpers -----------------------------------------------------------------


def spn_tensor(wa: torch.Tensor, wb: torch.Tensor, wc: torch.Tensor) -> torch.Tensor:
    """Σ_t Wa[t] ⊗ Wb[t] ⊗ Wc[:, t], in the layout of `fastmm.verify.target_tensor`."""
    return torch.einsum("ta,tb,ct->abc", wa, wb, wc)


def rescaled(wa: torch.Tensor, wb: torch.Tensor, wc: torch.Tensor):
    """Scale each term so max|Wa[t]| = max|Wb[t]| = 1; Wc[:, t] absorbs the scales.

    The represented tensor is unchanged (a term with an all-zero factor is left as it is).
    """
    sa = wa.abs().amax(dim=1)
    sb = wb.abs().amax(dim=1)
    sa = torch.where(sa > 0, sa, torch.ones_like(sa))
    sb = torch.where(sb > 0, sb, torch.ones_like(sb))
    return wa / sa[:, None], wb / sb[:, None], wc * (sa * sb)[None, :]


def _round_ternary(w: torch.Tensor) -> np.ndarray:
    return w.detach().round().clamp(-1, 1).to(torch.int64).numpy()


def _is_exact(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray, target: np.ndarray,
              modulus: int | None) -> bool:
    got = np.einsum("ta,tb,ct->abc", wa, wb, wc)
    if modulus:
        return bool(np.array_equal(got % modulus, target % modulus))
    return bool(np.array_equal(got, target))


def _drop_zero_terms(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray):
    keep = wa.any(axis=1) & wb.any(axis=1) & wc.any(axis=0)
    return wa[keep], wb[keep], wc[:, keep]


# -- the search ---------------------------------------------------------------------------


class _Clock(SearchClock):
    """The search clock, holding the steps, restarts and stage it reports."""

    def __init__(self, task: SearchTask, report: Reporter, should_stop: StopFlag):
        super().__init__(task, report, should_stop)
        self.steps = 0
        self.restarts = 0
        self.stage = "fit"

    def poll(self) -> bool:  # type: ignore[override]
        """Report now and then; True when the search must end."""
        return super().poll(self.steps, self.restarts, self.stage)


class _Restart:
    """One initialisation and its fit → sparsify → rescale → ternary fine-tune pipeline."""

    def __init__(self, task: SearchTask, cfg: SPNConfig, clock: _Clock, seed: int):
        self.task, self.cfg, self.clock = task, cfg, clock
        n, m, p = task.shape
        torch.manual_seed(seed)
        self.model = SumProduct(n, m, p, task.rank, init_std=cfg.init_std).double()
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.target = target_tensor(n, m, p)
        self.T = torch.tensor(self.target, dtype=torch.float64)
        self.modulus = 2 if task.ring == "Z2" else None
        self.found: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.found_stage = ""

    # losses ---------------------------------------------------------------------------
    def loss(self, model: SumProduct) -> torch.Tensor:
        if self.cfg.loss == "tensor":
            return ((spn_tensor(*model.weights()) - self.T) ** 2).sum()
        n, m, p = self.task.shape
        a = torch.randn(self.cfg.samples, n, m, generator=self.gen, dtype=torch.float64)
        b = torch.randn(self.cfg.samples, m, p, generator=self.gen, dtype=torch.float64)
        want = (a @ b).reshape(self.cfg.samples, n * p)
        got = model(a.reshape(self.cfg.samples, n * m), b.reshape(self.cfg.samples, m * p))
        return ((got - want) ** 2).sum(dim=1).mean()

    def exact_loss(self, model: SumProduct) -> float:
        with torch.no_grad():
            return float(((spn_tensor(*model.weights()) - self.T) ** 2).sum())

    # candidates -----------------------------------------------------------------------
    def accept(self, wa: np.ndarray, wb: np.ndarray, wc: np.ndarray, stage: str) -> bool:
        if _is_exact(wa, wb, wc, self.target, self.modulus):
            self.found = (wa, wb, wc)
            self.found_stage = stage
            return True
        return False

    # stages ---------------------------------------------------------------------------
    def run(self) -> bool:
        """True when an exact ternary scheme was found; False to restart (or stop)."""
        cfg, clock, model = self.cfg, self.clock, self.model
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        clock.stage = "fit"
        fitted = False
        for step in range(1, cfg.fit_steps + 1):
            opt.zero_grad()
            decay = sum((w * w).sum() for w in (model.Wa, model.Wb, model.Wc))
            (self.loss(model) + cfg.fit_l2 * decay).backward()
            opt.step()
            clock.steps += 1
            if step % POLL_EVERY == 0 and clock.poll():  # the clock, whatever check_every is
                return False
            if step % cfg.check_every == 0:
                if self.exact_loss(model) < cfg.fit_tol:
                    fitted = True
                    break
        if not fitted and self.exact_loss(model) > cfg.fit_fail:
            return False

        clock.stage = "sparsify"
        lam = cfg.l1_start
        for step in range(1, cfg.l1_steps + 1):
            opt.zero_grad()
            penalty = model.Wa.abs().sum() + model.Wb.abs().sum() + model.Wc.abs().sum()
            (self.loss(model) + lam * penalty).backward()
            opt.step()
            lam *= cfg.l1_growth
            clock.steps += 1
            if step % POLL_EVERY == 0 and clock.poll():
                return False
            if step % cfg.check_every == 0:
                if self.check(model):
                    return True
        return False

    def check(self, model: SumProduct) -> bool:
        """Rescale and round; if near ternary but not exact, try the ternary fine-tune."""
        with torch.no_grad():
            wa, wb, wc = rescaled(model.Wa, model.Wb, model.Wc)
        if self.accept(_round_ternary(wa), _round_ternary(wb), _round_ternary(wc), "round"):
            return True
        dist = max(float((w - w.round()).abs().max()) for w in (wa, wb, wc))
        if dist > self.cfg.near or self.cfg.ste_steps <= 0:
            return False
        return self.ternary_finetune(wa, wb, wc)

    def ternary_finetune(self, wa: torch.Tensor, wb: torch.Tensor, wc: torch.Tensor) -> bool:
        """The paper's stage 2: TWN-quantized forward pass, straight-through gradient."""
        cfg, clock = self.cfg, self.clock
        n, m, p = self.task.shape
        ste = SumProduct(n, m, p, self.task.rank).double()
        with torch.no_grad():
            ste.Wa.copy_(wa)
            ste.Wb.copy_(wb)
            ste.Wc.copy_(wc)
        ste.mode = Mode.TERNARY
        opt = torch.optim.Adam(ste.parameters(), lr=cfg.ste_lr)
        prev = clock.stage
        clock.stage = "ternary"
        try:
            for step in range(1, cfg.ste_steps + 1):
                opt.zero_grad()
                self.loss(ste).backward()
                opt.step()
                clock.steps += 1
                if step % cfg.check_every == 0:
                    q = [twn_quantize(w)[0].to(torch.int64).numpy()
                         for w in (ste.Wa, ste.Wb, ste.Wc)]
                    if self.accept(*q, "ternary"):
                        return True
                if step % POLL_EVERY == 0 and clock.poll():
                    return False
        finally:
            clock.stage = prev
        return False


def restart_seed(seed: int, restart: int) -> int:
    """A 63-bit torch seed for restart `restart` of search seed `seed` (stable across runs)."""
    return int(np.random.SeedSequence([seed, restart]).generate_state(1, dtype=np.uint64)[0] >> 1)


# The batched engine's Adam settings (fastmm.search.numerical): Adam whose step shrinks with
# the residual near a solution (lr_min; with a constant lr no ⟨2,3,4;20⟩ restart ever fitted:
# all circled near residual 1e-2), a ridge released after 400 steps (restarts stuck near the
# zero point, about half of them, are replaced then), then Adam pulling every entry to the
# ternary grid with a growing weight (the L1 recipe fitted restarts but never rounded), with
# smaller steps than the fit's (simplify_lr 0.01: ⟨2,3,4;20⟩ in 4 of 6 searches within 120 s,
# 2 of 6 with the fit's lr 0.05, whose fitted restarts almost never reached a rounding).
BATCHED_ADAM = {"optimizer": "adam", "lr": 0.05, "lr_min": 0.001, "ridge": 1e-3, "ridge_steps": 400,
                "fit_steps": 6000, "fit_tol": 1e-5, "ridge_fail": 0.5, "simplify": "grid",
                "pull_growth": 1.01, "check_every": 10, "simplify_steps": 2000,
                "simplify_lr": 0.01}


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    """Search for a ternary scheme of rank task.rank by SPN training; see the module docstring.

    ``options={"engine": "batched", ...}`` (the default) runs the same loss with Adam over a
    batch of restarts in fastmm.search.numerical (any of its options may follow; device
    included); ``{"engine": "single", ...}`` runs the per-restart recipe (SPNConfig options).
    """
    from dataclasses import replace

    opts = dict(task.options)
    engine = opts.pop("engine", "batched")
    if engine not in ("single", "batched"):
        raise InputError(f"spn option engine must be 'single' or 'batched', not {engine!r}")
    if engine == "single" and opts.get("device", "cpu") != "cpu":
        raise InputError("--engine single trains on the CPU only: use --engine batched with --device cuda")
    if engine == "batched":
        from fastmm.search.numerical import run_numerical

        if opts.get("optimizer", "adam") != "adam":  # the result would be recorded as spn
            raise InputError(f"--method spn fits with Adam (the paper's optimiser), not "
                             f"{opts['optimizer']!r}: use --method als for alternating least squares")

        return run_numerical(replace(task, options=opts), report, should_stop, "spn", BATCHED_ADAM)
    opts.pop("device", None)
    batched_only = [k for k in ("batch", "save_fitted") if k in opts]
    if batched_only:  # the single engine holds one restart and saves no fitted points
        flag = "--" + batched_only[0].replace("_", "-")
        raise InputError(f"{flag} is for --engine batched; --engine single trains one restart at a time")
    task = replace(task, options=opts)
    if task.rank < 1:
        raise InputError(f"rank must be at least 1, got {task.rank}")
    if task.ring not in ("ZT", "Z", "Z2"):
        raise InputError(f"--method spn searches rings ZT, Z and Z2 (Q with engine=batched), "
                         f"not {task.ring!r}")
    cfg = SPNConfig.from_options(dict(task.options))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clock = _Clock(task, report, should_stop)
    try:
        while clock.stopped is None and not clock.poll():
            if cfg.max_restarts and clock.restarts >= cfg.max_restarts:
                clock.stopped = "restarts"
                break
            attempt = _Restart(task, cfg, clock, restart_seed(task.seed, clock.restarts))
            ok = attempt.run()
            clock.restarts += 1
            if ok:
                return _outcome(task, cfg, clock, attempt)
    finally:
        torch.set_num_threads(threads)
    return SearchOutcome(scheme=None, best=None, steps=clock.steps, restarts=clock.restarts,
                         seconds=clock.elapsed, stopped=_stopped_word(clock.stopped),
                         seed=task.seed)


def _stopped_word(why: str | None) -> str:
    return why if why in ("stopped", "restarts") else "time"


def _outcome(task: SearchTask, cfg: SPNConfig, clock: _Clock, attempt: _Restart) -> SearchOutcome:
    assert attempt.found is not None
    wa, wb, wc = _drop_zero_terms(*attempt.found)
    ring = "Z2" if task.ring == "Z2" else "ZT"
    scheme = Scheme(task.n, task.m, task.p, wa, wb, wc, ring=ring, provenance={
        "method": "spn",
        "seed": task.seed,
        "restart": clock.restarts - 1,
        "stage": attempt.found_stage,
        "loss": cfg.loss,
        "steps": clock.steps,
        "seconds": round(clock.elapsed, 3),
        "version": __version__,
    })
    clock.stage = "found"
    clock.report(Progress(rank=scheme.rank, steps=clock.steps, restarts=clock.restarts,
                          elapsed=clock.elapsed, note="found"))
    return SearchOutcome(scheme=scheme, best=scheme, steps=clock.steps, restarts=clock.restarts,
                         seconds=clock.elapsed, stopped="found", seed=task.seed)
