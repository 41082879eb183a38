"""Numbers typed on the command line, read as scheme files read them: ASCII digits only.

Python's int() and float() (and so click's INT and FLOAT) also take other scripts' digits
('٣' is 3) and digit-group underscores ('1_0' is 10): a shape, seed or index typed so was used
as some other number without a word. INT and FLOAT refuse such text, then convert as click does.
UpperChoice takes the field's upper-case names (the rings ZT, Z, Z2, Q) in any case and shows
them as the field writes them.
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


class UpperChoice(click.Choice):
    """A choice of upper-case names typed in any case ("zt" is ZT), shown upper-case: click 8.2+
    shows a case-insensitive choice casefolded in --help and its errors ([zt|z|z2|q] beside the
    default ZT)."""

    def __init__(self, choices: tuple[str, ...] | list[str]):
        super().__init__(choices, case_sensitive=False)

    def normalize_choice(self, choice: Any, ctx: click.Context | None) -> str:
        return super().normalize_choice(choice, ctx).upper()
