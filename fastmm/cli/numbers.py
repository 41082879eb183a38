"""Numbers typed on the command line, read as scheme files read them: ASCII digits only.

Python's int() and float() (and so click's INT and FLOAT) also take other scripts' digits
('٣' is 3) and digit-group underscores ('1_0' is 10): a shape, seed or index typed so was used
as some other number without a word. INT and FLOAT refuse such text, then convert as click does.
"""

from __future__ import annotations

from typing import Any

import click

from fastmm.arguments import plain_number_text
from fastmm.validate import MAX_NUMBER_CHARS


class _Plain(click.ParamType):
    def __init__(self, base: click.ParamType, kind: str):
        self.base, self.kind = base, kind
        self.name = base.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not plain_number_text(value):
            shown = value if len(value) <= 30 else value[:30] + "..."
            self.fail(f"{shown!r} is not a valid {self.kind} (ASCII digits, no '_', at most "
                      f"{MAX_NUMBER_CHARS} characters)", param, ctx)
        return self.base.convert(value, param, ctx)


INT = _Plain(click.INT, "integer")
FLOAT = _Plain(click.FLOAT, "number")
