"""Exporting schemes: one straight-line program (slp), then emitters.

slp      build_slp / count_additions: the shared intermediate form (greedy CSE)
text     plain text, Markdown, LaTeX formulas; the program as text
pycode   NumPy / PyTorch modules and in-process callables
formats  AlphaTensor npz, Perminov JSON, fast-matmul text (import + export)
c, build C code and its build/load helpers: the generator emits only what depends on the scheme
         (kernel, addition passes, one level); cplan checks coefficients and plans the passes;
runtime/ fastmm_runtime.{h,c}, the hand-written scheme-independent C (BLAS calls, workspace,
         threads, recursion), compiled once per compiler and cached

Submodules are imported on demand so `import fastmm.export` stays cheap.
"""


# `fastmm.export(...)` is the public API function (fastmm.api.export); see fastmm/_callable.py.
from fastmm._callable import make_callable  # noqa: E402

make_callable(__name__, "export")
