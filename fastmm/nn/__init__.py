"""StrassenNets in PyTorch: SPN layers, the TWN/TTQ baselines, ResNets, conversion and counting.

Names are imported lazily so that `import fastmm.nn.<module>` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SPNLinear": "fastmm.nn.layers",
    "SPNConv2d": "fastmm.nn.layers",
    "set_mode": "fastmm.nn.layers",
    "to_exact": "fastmm.nn.layers",
    "strassenify": "fastmm.nn.convert",
    "TWNConv2d": "fastmm.nn.ternary",
    "TTQConv2d": "fastmm.nn.ternary",
    "ternarize": "fastmm.nn.ternary",
    "build_model": "fastmm.nn.models",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fastmm.nn' has no attribute {name!r}")


def __dir__() -> list[str]:  # dir(fastmm.nn) and tab completion list the lazy exports
    return sorted(__all__)
