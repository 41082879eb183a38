"""Callable modules: `fastmm.verify(s)`, `fastmm.export(s, to=...)`, `fastmm.catalog()` and
`fastmm.search(shape, rank)` are the public API, and also the names of modules. Importing a
submodule rebinds the package's attribute to the module, so each of these is made callable:
calling it calls the API function of the same name in fastmm.api, and `from fastmm.verify
import ...` still works. `help(fastmm.search)` and `fastmm.search.__doc__` show the function's
signature and docstring first, then the module's own docstring.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types


def _api_function(api_name: str):
    return getattr(importlib.import_module("fastmm.api"), api_name)


class _Written(str):
    """An annotation shown as written (fastmm.api postpones its annotations: they are strings)."""

    def __repr__(self) -> str:
        return str(self)


def _signature(func) -> inspect.Signature:
    def written(annotation):
        return _Written(annotation) if isinstance(annotation, str) else annotation

    sig = inspect.signature(func)
    params = [p.replace(annotation=written(p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=written(sig.return_annotation))


def function_doc(api_name: str, module_name: str, module_doc: str | None) -> str:
    """The API function's signature and docstring, then the module's docstring (if any)."""
    func = _api_function(api_name)
    head = f"{api_name}{_signature(func)}\n\n{inspect.getdoc(func) or ''}".rstrip()
    if not module_doc:
        return head
    return f"{head}\n\nThe module {module_name}:\n\n{inspect.cleandoc(module_doc)}"


def module_named(module_name: str) -> types.ModuleType:
    """The (callable) module `module_name`: how a pickled `fastmm.verify` comes back, e.g. in a
    process pool's worker (importing fastmm makes the modules callable first)."""
    importlib.import_module("fastmm")
    return importlib.import_module(module_name)


def make_callable(module_name: str, api_name: str) -> None:
    """Calling module `module_name` calls fastmm.api.<api_name> (same arguments, same result)."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return _api_function(api_name)(*args, **kwargs)

        def __reduce__(self):  # pickled by name, as functions are
            return module_named, (self.__name__,)

        @property
        def __signature__(self):  # inspect.signature(fastmm.search): the API function's
            return inspect.signature(_api_function(api_name))

        @property
        def __doc__(self):  # help(fastmm.search): the function first (built on first use:
            # fastmm.api is imported only when asked)
            return function_doc(api_name, self.__name__, self.__dict__.get("__doc__"))

        @__doc__.setter
        def __doc__(self, value):
            self.__dict__["__doc__"] = value

    sys.modules[module_name].__class__ = _CallableModule
