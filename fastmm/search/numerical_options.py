"""The numerical search's options (NumConfig, shared by `--method als` and `spn`'s batched engine)
and the checks every request passes before a tensor is allocated: option types and ranges, the
shape and rank, the ring, the device and the memory a batch needs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

import torch

from fastmm.arguments import impossible_rank
from fastmm.errors import InputError
from fastmm.search.base import SearchTask
from fastmm.validate import MAX_SECONDS

MAX_DIM = 8  # the searches' per-dimension limit (as the flip-graph kernels)


@dataclass(frozen=True)
class NumConfig:
    """Knobs of the numerical search; `task.options` may override any of them by name."""

    optimizer: str = "als"  # fit with "als" or "adam"
    simplify: str = "grid"  # "grid": pull to the grid (rescale every step); "l1": Adam + growing L1
    simplify_optimizer: str = ""  # grid: "als" or "adam" for the pull; "" = the fit's optimizer
    batch: int = 64  # restarts held at once
    device: str = "cpu"  # "cpu" or "cuda"
    init_std: float = 0.5  # Gaussian initialisation
    damping: float = 0.1  # ALS: Levenberg–Marquardt weight μ towards the previous factor
    ridge: float = 1e-2  # weight α of α‖X‖² during the first ridge_steps (keeps norms bounded)
    ridge_steps: int = 600  # then α = 0 and the fit converges fast (or the restart is replaced)
    ridge_fail: float = 0.1  # a restart above this residual when the ridge ends is replaced
    lr: float = 0.02  # adam: learning rate
    simplify_lr: float = 0.0  # adam: learning rate while simplifying (0 = lr)
    clip: float = 1.0  # adam: per-restart gradient-norm clip
    lr_scale: float = 0.1  # adam: the step is lr·clamp(√residual / lr_scale, lr_min, 1)
    lr_min: float = 1.0  # adam: 1 = a constant lr; below 1 the step shrinks near a solution
    fit_tol: float = 1e-6  # residual at which a restart starts simplifying
    fit_steps: int = 1200  # steps allowed to reach fit_tol
    redraw: int = 4  # times a restart stuck while fitting re-draws some terms before it is replaced
    redraw_share: float = 0.67  # the share of its terms (at random) it re-draws each time
    refit: int = 0  # ZT / Z: times a fitted restart that neither the frames nor the pull to the
    #                 grid made ternary re-draws some terms and fits again before it is given up
    #                 (most such fits lie where no ternary scheme is: numerical_components.py)
    pull_start: float = 1e-4  # initial weight λ of the L1 term / the pull towards the grid
    pull_growth: float = 1.02  # λ multiplies by this every simplify step (l1: 1.003 works)
    pull_max: float = 1.0
    blowup: float = 0.5  # a simplifying restart whose residual exceeds this is replaced
    simplify_steps: int = 600  # steps allowed to reach an exact point (l1: 3000)
    check_every: int = 10  # steps between rounding attempts and phase changes (l1: 50)
    denominator: int = 0  # grid 1/d of the pull; 0 = 1 (integers pull best, even for Q)
    denominators: tuple = ()  # grids tried when rounding; () = by ring ((1,) or (1, 2, 4))
    bound: float = 0.0  # largest |coefficient| of the grid; 0 = by ring (1 ZT, 2 Z/Q)
    frames: bool = True  # on a fit, polish it and try the frames of fastmm.search.frames first;
    #                      false skips the polish and `finish` too (--save-fitted then keeps points
    #                      at fit_tol; `fastmm finish` polishes them first)
    polish_steps: int = 1000  # at most this many ALS sweeps (no ridge) to residual 1e-26 first
    frame_start: bool = True  # if no frame verifies, the pull starts from the most integral one
    newton_steps: int = 6  # Gauss–Newton steps after the polish (0 = none)
    newton_max_vars: int = 1500  # only where rank·(nm + mp + np) is at most this (dense Jacobian)
    max_restarts: int = 0  # 0 = until found, time limit or stop
    collect: bool = False  # measure: run the first `batch` restarts each to its end, no replacing
    threads: int = 1  # torch CPU threads
    save_fitted: str = ""  # a directory: every fitted restart's polished factors go there (.npz)
    finish: float = -1.0  # seconds of fastmm.search.exactify per fitted point the frames did not
    #                       finish; 0 = never, -1 = by ring (120 s for Q, none for ZT / Z / Z2)

    @classmethod
    def from_options(cls, options: dict, method: str = "als") -> NumConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown {method} option(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        opts = {f.name: typed_option(method, f.name, f.default, options[f.name], LEAST.get(f.name, 0))
                for f in fields(cls) if f.name in options}
        cfg = cls(**opts)
        if cfg.optimizer not in ("als", "adam"):
            raise InputError(f"optimizer must be 'als' or 'adam', not {cfg.optimizer!r}")
        if cfg.simplify_optimizer not in ("", "als", "adam"):
            raise InputError(f"simplify_optimizer must be 'als' or 'adam', not {cfg.simplify_optimizer!r}")
        if cfg.simplify not in ("l1", "grid"):
            raise InputError(f"simplify must be 'l1' or 'grid', not {cfg.simplify!r}")
        if cfg.ridge_steps >= cfg.fit_steps:  # every restart would be given up inside its ridge
            raise InputError(f"{method} option ridge_steps ({cfg.ridge_steps}) must be below fit_steps "
                             f"({cfg.fit_steps}), the sweeps a restart has to fit: raise fit_steps too, "
                             f"e.g. --option fit_steps={2 * cfg.ridge_steps}")
        if -1 < cfg.finish < 0:  # -1 is the "by ring" sentinel, not a number of seconds
            raise InputError(f"{method} option finish is -1 (by ring) or seconds >= 0, got {cfg.finish:g}")
        if not 0 < cfg.redraw_share <= 1:  # counts and ranges: typed_option with LEAST
            raise InputError(f"{method} option redraw_share in (0, 1] is required, got {cfg.redraw_share}")
        return cfg

    def grid(self, ring: str) -> tuple[int, tuple[int, ...], float]:
        """(pull denominator, rounding denominators, bound) for the searched ring."""
        rational = ring == "Q"
        d = self.denominator or 1
        ds = self.denominators or ((1, 2, 4) if rational else (1,))
        bound = self.bound or (1.0 if ring in ("ZT", "Z2") else 2.0)
        return d, ds, bound


# the least value of a numerical option (NumConfig, SPNConfig) where it is not 0
LEAST = {"finish": -1, "check_every": 1, "threads": 1, "fit_steps": 1, "batch": 1, "samples": 1}
# the most a numerical option may be (and `batch`: bounded by memory, memory_needed). Every float
# option has a bound: ridge=1e39 ended in "internal error: RuntimeError: value cannot be converted
# to type float without overflow" (a Python float where torch takes float32). Thresholds on a
# residual or a distance (1e30: "never", as fit_tol=1e30 or blowup=1e9 in tests), seconds
# (finish: as a time limit), and MOST_FLOAT for the rest: rates, weights, scales and factors
MOST = {"threads": 1024, "newton_steps": 100,
        "samples": 100_000,  # spn's random products per step: a tensor of samples·(nm + mp + np)
        "finish": MAX_SECONDS,
        **dict.fromkeys(("fit_tol", "blowup", "ridge_fail", "fit_fail", "near"), 1e30)}
MOST_FLOAT = 1e6
# options at which no restart can ever succeed when 0: an all-zero start, a residual that must
# reach exactly 0, Adam steps of size 0 (lr_scale divides)
POSITIVE = {"init_std", "fit_tol", "lr", "lr_scale", "clip"}  # clip 0: every Adam step is 0


def memory_needed(shape: tuple[int, int, int], rank: int, batch: int) -> int:
    """Bytes the batch's float64 tensors take, roughly: per restart the Brent tensor and its
    einsum intermediate, and the factors with their optimiser and ALS companions."""
    n, m, p = shape
    a, b, c = n * m, m * p, n * p
    per_restart = 4 * a * b * c + rank * max(a * b, b * c, a * c) + 10 * rank * (a + b + c) + 3 * rank**2
    return 8 * batch * per_restart


def memory_available(device: str) -> int | None:
    """Bytes of the device's memory (the host's RAM for the CPU); None when unknown."""
    try:
        if device == "cuda":  # without a GPU, pick_device says so
            if not torch.cuda.is_available():
                return None
            return int(torch.cuda.get_device_properties(0).total_memory)
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


def typed_option(method: str, name: str, default, value, least: float = 0):
    """`value` as the type of the option's default (a number at least `least`), or one
    InputError naming the option."""
    def bad(kind: str) -> InputError:
        got = repr(value)
        if len(got) > 40:
            got = f"{got[:30]}... ({len(got)} characters)"
        return InputError(f"{method} option {name} must be {kind}, got {got}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int | float):
        # an int of any size is a number (math.isfinite overflows on one past a float's range)
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise bad("a number")
        if value < least:
            raise bad(f"at least {least:g}")
        if name in POSITIVE and value <= 0:
            raise bad("above 0")
        most = MOST.get(name, MOST_FLOAT if isinstance(default, float) else None)
        if most is not None and value > most:
            raise bad(f"at most {most:g}")
        if isinstance(default, int):
            if value != int(value) or value >= 2**62:
                raise bad("a whole number below 2^62")
            return int(value)
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(value, str) or not isinstance(value, list | tuple):  # denominators
        raise bad("a list of whole numbers")
    return tuple(typed_option(method, name, 1, d, 1) for d in value)


def check_task(task: SearchTask, method: str, rings: tuple[str, ...]) -> None:
    """One clear InputError for a request no search can serve."""
    for name, value in zip("NMP", task.shape, strict=True):
        if not 1 <= value <= MAX_DIM:
            raise InputError(f"{name} = {value} is outside the search limit 1..{MAX_DIM}")
    why = impossible_rank(task.shape, task.rank, task.ring)
    if why is not None:
        raise InputError(why)
    if task.ring not in rings:
        raise InputError(f"--method {method} searches rings {', '.join(rings)}, not {task.ring!r}")


def pick_device(name: str) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA GPU is available to PyTorch here "
                             "(torch.cuda.is_available() is False); use --device cpu")
        return torch.device("cuda")
    if name != "cpu":
        raise InputError(f"--device must be cpu or cuda, not {name!r}")
    return torch.device("cpu")
