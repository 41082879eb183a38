"""Training checkpoints: written atomically, read with `torch.load(weights_only=True)` only.

A checkpoint is a dict of tensors and plain values (dicts, lists, str, numbers, None):
model, optimizer and scheduler state, the stage and epoch reached, RNG states and the
run's arguments. Writing goes to a temporary file in the same directory and is then
renamed over the old checkpoint (os.replace), so a kill at any moment leaves either the
old or the new checkpoint, never a torn one.

Reading one back is checked the same way for every command (`fastmm count`, `evaluate`,
`train --resume`, a KD teacher): `state_dict_of` finds the weights, `fit_state_dict` loads
them only into a model whose names, shapes and dtypes they fit, and `require` names the
fields a use needs; anything else is one InputError line naming the file.
"""

from __future__ import annotations

import errno
import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastmm.errors import InputError

FORMAT = "fastmm.nn.checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (temporary file + fsync + os.replace)."""
    import io

    from fastmm.nn.reporting import write_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    # a fresh temporary name (mkstemp, exclusive): a link planted at a guessable name is never
    # written through
    write_atomically(path, buffer.getvalue())


# fields a training checkpoint may hold, and the type each must have when present
_FIELDS: dict[str, tuple[type, ...]] = {
    "args": (dict,), "model": (dict,), "optimizer": (dict,), "scheduler": (dict,),
    "stage": (int,), "stage_name": (str,), "epoch": (int,), "global_epoch": (int,),
    "rng": (dict,), "metrics": (dict, type(None)), "num_classes": (int,), "in_channels": (int,),
    "image_shape": (list,),
}
_NOT_A_CHECKPOINT = "not a PyTorch checkpoint (damaged, truncated, or another kind of file)"


def safe_torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """torch.load(weights_only=True) of a regular file, every failure one InputError line naming
    the file: never torch's advice to load with weights_only=False (which runs code from it)."""
    import stat
    import warnings

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {path} is a directory, expected a file")
    if not stat.S_ISREG(mode):
        raise InputError(f"{what} {path} is not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols on stderr
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise InputError(f"cannot read {what} {path}: it claims more memory than there is") from None
    except Exception as exc:  # torch raises many kinds for damaged or foreign files
        raise InputError(f"cannot read {what} {path}: {_why(exc)}") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (weights only: no code is unpickled).

    Whatever is wrong with the file is one InputError line naming it (see safe_torch_load);
    the fields the training code reads must have their types."""
    path = Path(path)
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path} is not a fastmm training checkpoint")
    if state.get("version") != VERSION:
        raise InputError(f"checkpoint {path} has version {state.get('version')!r}; this fastmm "
                         f"reads version {VERSION}")
    for key, types in _FIELDS.items():
        value = state.get(key)
        if key in state and (not isinstance(value, types) or isinstance(value, bool)):
            raise InputError(f"checkpoint {path}: field {key!r} has the wrong type "
                             f"({type(value).__name__})")
    shape = state.get("image_shape")
    if shape is not None and (len(shape) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise InputError(f"checkpoint {path}: field 'image_shape' is not 3 positive integers")
    return state


def require(state: dict[str, Any], fields: tuple[str, ...], path: str | Path, purpose: str) -> None:
    """Refuse a checkpoint without the fields `purpose` ("evaluate it", ...) needs."""
    missing = [repr(f) for f in fields if f not in state]
    if missing:
        raise InputError(f"checkpoint {path} lacks {', '.join(missing)}: cannot {purpose}")


_WRAPPERS = ("_orig_mod.", "module.")  # torch.compile / DataParallel prefixes


def state_dict_of(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of a loaded checkpoint: its 'model' entry, or the object itself when it
    is a plain state_dict; wrapper prefixes are dropped. InputError if there are none."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise InputError(f"checkpoint {path} holds no state_dict (expected a 'model' entry)")
    state = {}
    for key, value in obj.items():
        for prefix in _WRAPPERS:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state


def _listed(label: str, keys: list[str]) -> str:
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"{label}: {', '.join(keys[:3])}{more}"


def _misfits(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `state` from loading into a model whose state_dict is `own` (empty: it fits)."""
    common = [k for k in own if k in state]
    kinds = {k: (own[k].is_floating_point(), state[k].is_floating_point()) for k in common}
    groups = (
        ("no data (meta or non-CPU tensors)", [k for k in state if state[k].device.type != "cpu"]),
        ("missing", [k for k in own if k not in state]),
        ("unexpected", [k for k in state if k not in own]),
        ("wrong shape", [k for k in common if tuple(own[k].shape) != tuple(state[k].shape)]),
        ("wrong dtype or layout", [k for k in common if kinds[k][0] != kinds[k][1] or state[k].is_complex()
                         or state[k].layout != torch.strided]),
    )
    parts = [_listed(label, keys) for label, keys in groups if keys]
    if not parts:
        bad = [k for k in common if kinds[k][1] and not bool(torch.isfinite(state[k]).all())]
        if bad:
            parts.append(_listed("NaN or infinity in", bad))
        # a BatchNorm variance below zero makes every output NaN (the square root of it)
        negative = [k for k in common if k.endswith("running_var") and kinds[k][1]
                    and bool((state[k] < 0).any())]
        if negative:
            parts.append(_listed("a negative BatchNorm variance in", negative))
    return parts


def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str,
                   assign: bool = True) -> None:
    """Load `state` into `model` or raise one InputError saying what does not fit `what`.

    The names and shapes must match and floating-point entries be finite floats (converted to the
    model's dtype). With `assign` (a model built on the meta device) the tensors become the
    model's; otherwise they are copied into its parameters and buffers."""
    own = model.state_dict()
    parts = _misfits(own, state)
    if parts:
        raise InputError(f"checkpoint {path} does not fit {what}; " + "; ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, assign=assign)


# the errors of reading a file itself; any other OSError of torch.load is about what the file holds
# (a truncated zip archive gives EINVAL when torch seeks past its end)
_IO_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.ELOOP, errno.EISDIR,
                        errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENXIO})


def _why(exc: Exception) -> str:
    """One short reason for a failed torch.load, without torch's advice to unpickle code."""
    if isinstance(exc, OSError) and exc.strerror and exc.errno in _IO_ERRNOS:
        return exc.strerror
    if type(exc).__name__ == "UnpicklingError" and "unsupported global" in str(exc).lower():
        # a readable torch file that holds more than tensors and plain values (QA-131: it was
        # called damaged or another kind of file)
        return ("it holds objects other than tensors and plain values, which fastmm does not load "
                "(loading them could run code from the file)")
    return _NOT_A_CHECKPOINT


def rng_state() -> dict[str, Any]:
    """The RNG states of torch (CPU and CUDA) and Python's `random`, as plain values."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
