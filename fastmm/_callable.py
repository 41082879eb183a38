"""Callable modules: `fastmm.verify(s)`, `fastmm.export(s, to=...)`, `fastmm.catalog()` and
`fastmm.search(shape, rank)` are the public API, and also the names of modules. Importing a
submodule rebinds the package's attribute to the module, so each of these is made callable:
calling it calls the API function of the same name in fastmm.api, and `from fastmm.verify
import ...` still works.
"""

from __future__ import annotations

import importlib
import sys
import types


def make_callable(module_name: str, api_name: str) -> None:
    """Calling module `module_name` calls fastmm.api.<api_name> (same arguments, same result)."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module("fastmm.api"), api_name)(*args, **kwargs)

        @property
        def __signature__(self):  # inspect.signature(fastmm.search): the API function's
            import inspect

            return inspect.signature(getattr(importlib.import_module("fastmm.api"), api_name))

    sys.modules[module_name].__class__ = _CallableModule
