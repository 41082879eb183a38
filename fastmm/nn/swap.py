"""Replace submodules of a model in place (what strassenify and ternarize both do)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from fastmm.errors import InputError


def refuse_lazy(module: nn.Module, name: str, what: str) -> None:
    """InputError if `module` is a lazy module whose parameters are not initialised yet: its
    sizes (in_channels, in_features) are unknown until it has seen an input."""
    if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
        raise InputError(f"cannot {what} {name}: it is a lazy module with uninitialised parameters; "
                         "run the model once on an input (or initialise it) first")


def replace_children(model: nn.Module, swap: Callable[[str, nn.Module], nn.Module | None]) -> None:
    """For every submodule of `model`: `swap(dotted name, module)` returns its replacement, or
    None to keep it. Every replacement is built before any is put in place, so a `swap` that
    raises leaves the model as it was, not half converted; replacements are not visited."""
    pending: list[tuple[nn.Module, str, nn.Module]] = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            new = swap(f"{parent_name}.{name}" if parent_name else name, child)
            if new is not None:
                pending.append((parent, name, new))
    for parent, name, new in pending:
        setattr(parent, name, new)
