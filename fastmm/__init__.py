"""fastmm: find, prove, export and train fast matrix-multiplication schemes.

The public API (see README, "Python"):

    load, load_verified, save, verify, verified, search, search_distinct, finish, lift, export,
    import_scheme, catalog, catalog_scheme, matmul, combine, Scheme, naive_scheme, strassen,
    laderman, and the errors FastmmError, InputError, SchemeFormatError, SchemeError,
    VerificationError, SearchFailed, SearchInterrupted, OutputError, OutOfMemoryError.  fastmm.nn holds the
    StrassenNets layers and models (needs torch).

search, verify, export and catalog are modules made callable (help lists them as modules):
help(fastmm.search) and the others show the function and its arguments.

Names are loaded on first use, so `import fastmm` stays cheap.
"""

__version__ = "0.2.0"

_API = {
    "load": "fastmm.api", "load_verified": "fastmm.api", "save": "fastmm.api", "verified": "fastmm.api",
    "search_distinct": "fastmm.api", "finish": "fastmm.api", "lift": "fastmm.api",
    "import_scheme": "fastmm.api", "catalog_scheme": "fastmm.api",
    "matmul": "fastmm.multiply", "combine": "fastmm.api",
    "Scheme": "fastmm.scheme", "naive_scheme": "fastmm.scheme",
    "strassen": "fastmm.reference", "laderman": "fastmm.reference",
    "FastmmError": "fastmm.errors", "InputError": "fastmm.errors",
    "SchemeFormatError": "fastmm.errors", "SchemeError": "fastmm.errors",
    "VerificationError": "fastmm.errors", "SearchFailed": "fastmm.errors",
    "SearchInterrupted": "fastmm.errors", "OutputError": "fastmm.paths",
    "OutOfMemoryError": "fastmm.errors",
}

# verify, export, catalog and search are modules made callable (fastmm/_callable.py): calling one calls
# the fastmm.api function of the same name, and importing its submodules keeps working
_CALLABLE_MODULES = ("verify", "export", "catalog", "search")

__all__ = ["__version__", *_API, *_CALLABLE_MODULES]


def __getattr__(name: str):
    if name in _CALLABLE_MODULES:
        import importlib

        return importlib.import_module(f"fastmm.{name}")
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastmm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
