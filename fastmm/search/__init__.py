

# `fastmm.search(...)` is the public API function (fastmm.api.search); see fastmm/_callable.py.
from fastmm._callable import make_callable  # noqa: E402

make_callable(__name__, "search")
