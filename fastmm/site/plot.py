"""Rank against n·m·p as inline SVG, drawn here (no plotting library, nothing to download).

Each site scheme shown in the table is a point (a filled circle for ZT/Z/Q, an outlined square
for Z2, drawn under the circles so that a Z2 scheme next to a ternary one of the same shape leaves
both visible) that links to its page; `plotted` names them, for the caption. Its colour says
whether it is at or behind the record, or that its shape has no tabulated record. The best-known ranks
over ZT are joined by a line, the naive rank n·m·p is dashed. Coordinates are rounded to 0.1 so
the output is the same on every machine.
"""

from __future__ import annotations

from fastmm.site.html import Html, el
from fastmm.site.sources import SiteScheme
from fastmm.site.table import RankRow

WIDTH, HEIGHT = 880, 440
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 16, 44


def _nice_step(span: float) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if span / step <= 8:
            return step
    return 1000 * int(span // 8000 + 1)


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _points(rows: list[RankRow]) -> list[RankRow]:
    """The row each plotted scheme is drawn for: its first row, one point per scheme."""
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.item is not None and r.item.slug not in seen:
            seen.add(r.item.slug)
            out.append(r)
    return out


def plotted(rows: list[RankRow]) -> list[SiteScheme]:
    """The schemes the plot shows: those the table shows (the best one for each shape and ring)."""
    return [r.item for r in _points(rows)]  # type: ignore[misc]


def rank_plot(rows: list[RankRow], link: str = "schemes/{slug}.html") -> Html:
    """The plot as an <svg> element; `link` turns a scheme's slug into its page's address."""
    top = max((r.naive for r in rows), default=8)
    step = _nice_step(top)
    top = step * -(-top // step)

    def x(v: float) -> str:
        return _fmt(_LEFT + v / top * (WIDTH - _LEFT - _RIGHT))

    def y(v: float) -> str:
        return _fmt(HEIGHT - _BOTTOM - v / top * (HEIGHT - _TOP - _BOTTOM))

    parts: list[Html] = [el("title", "Rank against n·m·p")]
    for t in range(0, top + 1, step):
        parts.append(el("line", x1=x(t), y1=y(0), x2=x(t), y2=y(top), class_="grid"))
        parts.append(el("line", x1=x(0), y1=y(t), x2=x(top), y2=y(t), class_="grid"))
        parts.append(el("text", str(t), x=x(t), y=_fmt(HEIGHT - _BOTTOM + 16), class_="tick x"))
        parts.append(el("text", str(t), x=_fmt(_LEFT - 6), y=_fmt(float(y(t)) + 4), class_="tick y"))
    parts.append(el("text", "n·m·p (naive rank)", x=x(top / 2), y=_fmt(HEIGHT - 8), class_="label x"))
    parts.append(el("text", "rank", x="14", y=y(top / 2), class_="label y",
                    transform=f"rotate(-90 14 {y(top / 2)})"))
    parts.append(el("line", x1=x(0), y1=y(0), x2=x(top), y2=y(top), class_="naive"))
    best = sorted({(r.naive, r.best) for r in rows if r.ring == "ZT" and r.best is not None})
    if best:
        points = " ".join(f"{x(a)},{y(b)}" for a, b in best)
        parts.append(el("polyline", points=points, class_="best"))
    squares: list[Html] = []  # modulo 2 only: drawn first, under the circles
    circles: list[Html] = []
    for r in _points(rows):
        assert r.item is not None
        s = r.item.scheme
        n, m, p = r.shape
        known = "none tabulated" if r.best is None else r.best  # not "None"
        tip = f"⟨{n},{m},{p};{s.rank}⟩ over {s.ring}: {r.status} (best known {known}, naive {r.naive})"
        kind = "none" if r.gap is None else "at" if r.gap <= 0 else "behind"  # none: no record tabulated
        if s.ring == "Z2":
            mark = el("rect", x=_fmt(float(x(r.naive)) - 4), y=_fmt(float(y(s.rank)) - 4),
                      width="8", height="8", class_=f"pt z2 {kind}")
        else:
            mark = el("circle", cx=x(r.naive), cy=y(s.rank), r="3.5", class_=f"pt {kind}")
        (squares if s.ring == "Z2" else circles).append(
            el("a", el("title", tip), mark, href=link.format(slug=r.item.slug)))
    parts += squares + circles
    lx, ly = WIDTH - _RIGHT - 190, HEIGHT - _BOTTOM - 110  # bottom right: below the lines
    legend = [
        el("line", x1=str(lx), y1=str(ly), x2=str(lx + 26), y2=str(ly), class_="best"),
        el("text", "best known (ZT)", x=str(lx + 32), y=str(ly + 4), class_="legend"),
        el("line", x1=str(lx), y1=str(ly + 18), x2=str(lx + 26), y2=str(ly + 18), class_="naive"),
        el("text", "naive n·m·p", x=str(lx + 32), y=str(ly + 22), class_="legend"),
        el("circle", cx=str(lx + 13), cy=str(ly + 36), r="3.5", class_="pt at"),
        el("text", "at record", x=str(lx + 32), y=str(ly + 40), class_="legend"),
        el("circle", cx=str(lx + 13), cy=str(ly + 54), r="3.5", class_="pt behind"),
        el("text", "behind the record", x=str(lx + 32), y=str(ly + 58), class_="legend"),
        el("rect", x=str(lx + 9), y=str(ly + 68), width="8", height="8", class_="pt z2 at"),
        el("text", "valid modulo 2 only", x=str(lx + 32), y=str(ly + 76), class_="legend"),
    ]
    if any(r.gap is None for r in _points(rows)):  # a shape without a tabulated record is not "behind"
        legend += [el("circle", cx=str(lx + 13), cy=str(ly + 90), r="3.5", class_="pt none"),
                   el("text", "no record tabulated", x=str(lx + 32), y=str(ly + 94), class_="legend")]
    return el("svg", *parts, el("g", *legend), xmlns="http://www.w3.org/2000/svg",
              viewBox=f"0 0 {WIDTH} {HEIGHT}", width=str(WIDTH), height=str(HEIGHT),
              role="img", class_="plot")
