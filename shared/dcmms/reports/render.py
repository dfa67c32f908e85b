"""One ``Document`` as a PDF, a CSV or an XLSX workbook (``render(doc, "pdf" | "csv" | "xlsx")``).

Choices, and why:

* **PDF with ReportLab's platypus**, A4 portrait: a header block (tenant, title, subtitle, period, when it was
  generated), the key figures as a grid of cards, then the sections in the document's order. Tables repeat
  their header row on every page they span, right-align numbers, stripe rows, wrap long text in a
  ``Paragraph`` (only the cells that need it: a plain string is much cheaper to lay out) and size columns
  from their content to the frame's width, stepping the font down from 8 pt when a table is too wide. Charts are ReportLab's own vector graphics (``reportlab.graphics``), so
  the layer needs no matplotlib/numpy (docs/decisions.md). Every value is printed by
  ``document.format_value``, so a test can find a figure in the PDF's text by formatting it the same way.
  The footer's "Page N of M" needs the page count before any page is written, hence the two-pass canvas
  (``_numbered_canvas``: pages are kept until ``save`` and stamped then). Built-in Helvetica: no font file
  to ship, text extractable, and its WinAnsi encoding covers "–", "·" and "…". Anything outside WinAnsi
  (e.g. CJK site names) would need an embedded TrueType font.
* **CSV** is one table (``Document.primary_table()``), as a machine reads it: headers are column keys with
  the unit appended (``energy_mwh``), numbers at full precision without separators, percents as ratios,
  ISO 8601 dates and UTC datetimes with "Z", ``None`` empty, UTF-8 without BOM, the csv module's default
  dialect. Text cells that a spreadsheet would run as a formula (starting with = + - @ tab or CR) get a
  leading apostrophe (OWASP "CSV injection"); numbers never do. A document without a table exports its
  figures as ``label,value,unit`` rows.
* **XLSX with openpyxl in write-only mode** (rows streamed to the zip, styles and number formats kept via
  ``WriteOnlyCell``): a "Summary" sheet with the header block and the figures, then one sheet per table
  with a bold header row (units in it), the header frozen, an autofilter, number formats following each
  column's kind and digits, and widths from the content. Values stay numbers (a percent is its ratio with a
  ``0.0%`` format, as many decimals as the column's digits) so the workbook computes; datetimes are written as naive UTC (Excel has no time zones)
  and the header says "(UTC)". Text starting with "=" is stored as text, never as a formula. Charts are not
  written to the workbook: its tables hold the same numbers, and a spreadsheet user charts them as they
  like.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.textlabels import Label
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, HRFlowable, KeepTogether, Paragraph, SimpleDocTemplate, TableStyle
from reportlab.platypus import Table as PdfTable

from dcmms.reports.document import Chart, Column, ColumnKind, Document, Figure, Table, format_value

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "Rendered",
    "csv_header",
    "number_format",
    "render",
    "render_csv",
    "render_pdf",
    "render_xlsx",
    "sheet_title",
]

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMATS = tuple(CONTENT_TYPES)


@dataclass(frozen=True)
class Rendered:
    """A rendered report: the file's bytes, its MIME type and its file-name extension (no dot)."""

    body: bytes
    content_type: str
    extension: str


def render(doc: Document, fmt: str) -> Rendered:
    """``doc`` as ``fmt`` ("pdf", "csv" or "xlsx"); ValueError for any other format."""
    renderers: dict[str, Callable[[Document], bytes]] = {"pdf": render_pdf, "csv": render_csv, "xlsx": render_xlsx}
    renderer = renderers.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return Rendered(body=renderer(doc), content_type=CONTENT_TYPES[fmt], extension=fmt)


_NUMERIC_KINDS = frozenset({"int", "number", "percent", "money"})


def _utc(value: datetime) -> datetime:
    """Aware datetimes in UTC; a naive one is taken to be UTC already (the contract says aware)."""
    return value.astimezone(UTC) if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def _header_title(column: Column) -> str:
    return f"{column.title} ({column.unit})" if column.unit else column.title


# --------------------------------------------------------------------------------------------------- PDF

_PAGE_W, _PAGE_H = A4
_MARGIN_X = 14 * mm
_MARGIN_TOP = 15 * mm
_MARGIN_BOTTOM = 18 * mm
_FRAME_PAD = 6.0  # platypus' Frame pads its content by 6 pt on each side
_FRAME_W = _PAGE_W - 2 * (_MARGIN_X + _FRAME_PAD)

_INK = colors.HexColor("#1F2933")
_MUTED = colors.HexColor("#5F6B7A")
_ACCENT = colors.HexColor("#1F4E79")
_RULE = colors.HexColor("#CBD2DA")
_GRID = colors.HexColor("#E3E7EC")
_ZEBRA = colors.HexColor("#F2F5F8")
_CARD = colors.HexColor("#F2F5F8")
_UP = colors.HexColor("#1A7F37")
_DOWN = colors.HexColor("#C0392B")
_SERIES = [colors.HexColor(c) for c in ("#2E6DB4", "#F28E2B", "#3BA272", "#8E6BBF", "#E15759", "#76B7B2")]

_FONT = "Helvetica"
_BOLD = "Helvetica-Bold"
_ITALIC = "Helvetica-Oblique"
_CELL_SIZES = (8.0, 7.5, 7.0, 6.5)
_MIN_CELL_SIZE = 4.5
_CELL_PAD = 3.5


def _style(name: str, **kw: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": _FONT, "fontSize": 9, "leading": 11.5, "textColor": _INK}
    base.update(kw)
    return ParagraphStyle(name, **base)


_S_TENANT = _style("tenant", fontName=_BOLD, fontSize=9, leading=12, textColor=_ACCENT)
_S_TITLE = _style("title", fontName=_BOLD, fontSize=19, leading=23, spaceBefore=1)
_S_SUBTITLE = _style("subtitle", fontSize=11, leading=14, textColor=_MUTED, spaceBefore=1)
_S_META = _style("meta", fontSize=8.5, leading=11, textColor=_MUTED, spaceBefore=4)
_S_H2 = _style("h2", fontName=_BOLD, fontSize=11.5, leading=14, textColor=_ACCENT, spaceBefore=12, spaceAfter=5)
_S_NOTE = _style("note", fontName=_ITALIC, fontSize=8, leading=10, textColor=_MUTED, spaceBefore=4)
_S_EMPTY = _style("empty", fontName=_ITALIC, fontSize=9, leading=11, textColor=_MUTED)
_S_FIG_LABEL = _style("fig_label", fontSize=7.5, leading=9.5, textColor=_MUTED)
_S_FIG_VALUE = _style("fig_value", fontName=_BOLD, fontSize=14, leading=18, spaceBefore=1)
_S_FIG_DELTA = _style("fig_delta", fontSize=7.5, leading=9.5)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    """Text as the PDF can show it: control characters dropped (Helvetica would draw them as boxes)."""
    return _CONTROL.sub("", text)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(_clean(text)), style)


def render_pdf(doc: Document) -> bytes:
    """The report as an A4 portrait PDF."""
    buf = io.BytesIO()
    template = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=doc.title,
        author=doc.tenant_name,
        subject=f"{doc.title} · {doc.period}",
        creator="dCMMS",
    )
    story: list[Any] = _pdf_header(doc)
    if doc.figures:
        story.append(_pdf_figures(doc.figures))
    for section in doc.sections:
        story.extend(_pdf_table(section) if isinstance(section, Table) else _pdf_chart(section))
    footer = f"{doc.tenant_name} · {doc.title} · {doc.period}"
    template.build(story, canvasmaker=_numbered_canvas(footer))
    return buf.getvalue()


def _pdf_header(doc: Document) -> list[Any]:
    out: list[Any] = [_p(doc.tenant_name, _S_TENANT), _p(doc.title, _S_TITLE)]
    if doc.subtitle:
        out.append(_p(doc.subtitle, _S_SUBTITLE))
    generated = format_value(doc.generated_at, "datetime")
    out.append(
        Paragraph(
            f"<b>{escape(_clean(doc.period))}</b>&nbsp;&nbsp;·&nbsp;&nbsp;Generated {escape(generated)}",
            _S_META,
        )
    )
    out.append(HRFlowable(width="100%", thickness=1.2, color=_ACCENT, spaceBefore=8, spaceAfter=10))
    return out


def _delta_text(delta: float) -> tuple[str, colors.Color]:
    pct = round(delta * 100, 1)
    if pct > 0:
        return f"+{pct:,.1f}% vs previous", _UP
    if pct < 0:
        return f"-{abs(pct):,.1f}% vs previous", _DOWN
    return "0.0% vs previous", _MUTED


def _pdf_figures(figures: Sequence[Figure]) -> PdfTable:
    per_row = min(4, len(figures))
    cards: list[list[Any]] = []
    for f in figures:
        value = f"<font name='{_BOLD}'>{escape(format_value(f.value, f.kind, f.digits))}</font>"
        if f.unit:
            value += f"<font size='9' color='{_MUTED.hexval()}'>&nbsp;{escape(f.unit)}</font>"
        card: list[Any] = [_p(f.label, _S_FIG_LABEL), Paragraph(value, _S_FIG_VALUE)]
        if f.delta is not None:
            text, colour = _delta_text(f.delta)
            card.append(Paragraph(f"<font color='{colour.hexval()}'>{escape(text)}</font>", _S_FIG_DELTA))
        cards.append(card)
    # Cards in the even columns and rows; the odd ones are empty gutters.
    gap = 6.0
    card_w = (_FRAME_W - gap * (per_row - 1)) / per_row
    rows: list[list[Any]] = []
    for start in range(0, len(cards), per_row):
        if rows:
            rows.append([[] for _ in range(2 * per_row - 1)])
        row: list[Any] = []
        for card in cards[start : start + per_row]:
            row += [card, []]
        rows.append((row + [[]] * (2 * per_row))[: 2 * per_row - 1])
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
    ]
    for i in range(len(figures)):
        r, c = divmod(i, per_row)
        cell = (2 * c, 2 * r)
        commands += [("BACKGROUND", cell, cell, _CARD), ("LINEBEFORE", cell, cell, 2.5, _ACCENT)]
    widths = [card_w if i % 2 == 0 else gap for i in range(2 * per_row - 1)]
    heights = [None if i % 2 == 0 else gap for i in range(len(rows))]
    grid = PdfTable(rows, colWidths=widths, rowHeights=heights, hAlign="LEFT")
    grid.setStyle(TableStyle(commands))
    return grid


@functools.lru_cache
def _cell_styles(size: float) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    """Body cell, header cell and right-aligned header cell styles at a font size."""
    leading = round(size * 1.2, 1)
    head = _style(f"head{size}", fontName=_BOLD, fontSize=size, leading=leading, textColor=colors.white)
    head_r = _style(f"head_r{size}", fontName=_BOLD, fontSize=size, leading=leading, textColor=colors.white)
    head_r.alignment = TA_RIGHT
    return _style(f"cell{size}", fontSize=size, leading=leading), head, head_r


def _column_widths(
    columns: Sequence[Column], headers: Sequence[str], texts: Sequence[Sequence[str]]
) -> tuple[list[float], float]:
    """Column widths and the font size: numbers and dates never wrap, headers wrap between words, text wraps
    anywhere (``_fit``). A table whose minimum widths exceed the frame steps its font down (8 to 6.5 pt, and
    in proportion below that, to 4.5 pt, rather than let numbers overlap). Widths scale with the font size,
    so they are measured once at 1 pt."""
    pad = 2 * _CELL_PAD + 1
    natural_1pt: list[float] = []
    minimum_1pt: list[float] = []
    for i, column in enumerate(columns):
        content = max((stringWidth(row[i], _FONT, 1) for row in texts), default=0.0)
        word = max((stringWidth(w, _BOLD, 1) for w in headers[i].split()), default=0.0)
        natural_1pt.append(max(content, stringWidth(headers[i], _BOLD, 1)))
        minimum_1pt.append(min(natural_1pt[-1], max(word, 8.5)) if column.kind == "text" else max(content, word))
    room = _FRAME_W - pad * len(columns)
    need = sum(minimum_1pt)
    size = next((s for s in _CELL_SIZES if s * need <= room), None)
    if size is None:
        size = max(_MIN_CELL_SIZE, math.floor(10 * room / need) / 10)
    natural = [size * w + pad for w in natural_1pt]
    minimum = [size * w + pad for w in minimum_1pt]
    return _fit(natural, minimum, [c.kind == "text" for c in columns], _FRAME_W), size


def _fit(natural: list[float], minimum: list[float], text: list[bool], frame: float) -> list[float]:
    """Narrower than the frame: each column widens up to 30 %, then the text columns take the rest (all
    columns do when there is no text column). Wider: the other columns go to their minimum first (a header
    wrapping costs one line, a text cell wrapping costs a line on every row), the text columns share what is
    left with the widest cut first (a common cap), and the other columns take back any surplus."""
    total = sum(natural)
    if total <= frame:
        widths = [n * min(1.3, frame / total) for n in natural]
        extra = frame - sum(widths)
        grow = [w if t else 0.0 for w, t in zip(widths, text, strict=True)] if any(text) else widths
        return [w + extra * g / sum(grow) for w, g in zip(widths, grow, strict=True)]
    if sum(minimum) >= frame:
        return [m * frame / sum(minimum) for m in minimum]
    budget = frame - sum(m for m, t in zip(minimum, text, strict=True) if not t)
    text_natural = sum(n for n, t in zip(natural, text, strict=True) if t)
    if text_natural <= budget:  # the text fits: the other columns share the surplus, in proportion to their cut
        surplus = budget - text_natural
        cut = sum(n - m for n, m, t in zip(natural, minimum, text, strict=True) if not t)
        return [n if t else m + (n - m) * surplus / cut for n, m, t in zip(natural, minimum, text, strict=True)]
    lo, hi = 0.0, max(n for n, t in zip(natural, text, strict=True) if t)
    for _ in range(40):  # the cap c with sum(clamp(c, min, natural)) == budget, by bisection
        cap = (lo + hi) / 2
        used = sum(min(n, max(m, cap)) for n, m, t in zip(natural, minimum, text, strict=True) if t)
        lo, hi = (cap, hi) if used < budget else (lo, cap)
    return [min(n, max(m, lo)) if t else m for n, m, t in zip(natural, minimum, text, strict=True)]


def _pdf_table(table: Table) -> list[Any]:
    heading = _p(table.title, _S_H2)
    if not table.rows or not table.columns:
        out: list[Any] = [KeepTogether([heading, _p("No rows", _S_EMPTY)])]
        if table.note:
            out.append(_p(table.note, _S_NOTE))
        return out
    columns = list(table.columns)
    headers = [_header_title(c) for c in columns]
    texts = [[_clean(format_value(row.get(c.key), c.kind, c.digits)) for c in columns] for row in table.rows]
    widths, size = _column_widths(columns, headers, texts)
    s_cell, s_head, s_head_r = _cell_styles(size)
    fits = [w - 2 * _CELL_PAD - 1 for w in widths]
    data: list[list[Any]] = [
        [_p(h, s_head_r if c.kind in _NUMERIC_KINDS else s_head) for h, c in zip(headers, columns, strict=True)]
    ]
    for row in texts:
        data.append(
            [
                _p(text, s_cell) if c.kind == "text" and stringWidth(text, _FONT, size) > fit else text
                for text, c, fit in zip(row, columns, fits, strict=True)
            ]
        )
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), _FONT, size, s_cell.leading),
        ("TEXTCOLOR", (0, 1), (-1, -1), _INK),
        ("BACKGROUND", (0, 0), (-1, 0), _ACCENT),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ZEBRA]),
        ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
        ("VALIGN", (0, 1), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 2.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6),
        ("TOPPADDING", (0, 0), (-1, 0), 4),
        ("BOTTOMPADDING", (0, 0), (-1, 0), 4),
        ("LINEBELOW", (0, -1), (-1, -1), 0.6, _RULE),
    ]
    for i, c in enumerate(columns):
        if c.kind in _NUMERIC_KINDS:
            commands.append(("ALIGN", (i, 1), (i, -1), "RIGHT"))
    grid = PdfTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(TableStyle(commands))
    # A table starts on a new page unless its heading, header row and a few rows fit here, then flows over
    # the pages (a keepWithNext heading moved even the 250-row test table whole to page 2).
    out = [CondPageBreak(90), heading, grid]
    if table.note:
        out.append(_p(table.note, _S_NOTE))
    return out


def _axis_formatter(values: Sequence[float]) -> Callable[[float], str]:
    span = max(values) - min(0.0, min(values))
    digits = 0 if span >= 10 else 1 if span >= 1 else 2
    return lambda v: f"{v:,.{digits}f}"


def _unit_label(chart: Chart, x: float, y: float) -> Label:
    label = Label()
    label.setOrigin(x, y)
    label.angle = 90
    label.boxAnchor = "n"
    label.fontName = _FONT
    label.fontSize = 8
    label.fillColor = _MUTED
    label.setText(chart.unit or "")
    return label


def _legend(chart: Chart, right: float, top: float) -> Legend:
    legend = Legend()
    legend.x = right
    legend.y = top
    legend.alignment = "right"
    legend.boxAnchor = "ne"
    legend.columnMaximum = 1
    legend.fontName = _FONT
    legend.fontSize = 8
    legend.fillColor = _INK
    legend.dx = legend.dy = 7
    legend.dxTextSpace = 4
    legend.deltax = 10
    legend.autoXPadding = 12
    legend.strokeWidth = 0
    legend.strokeColor = None
    legend.colorNamePairs = [(_SERIES[i % len(_SERIES)], s.name) for i, s in enumerate(chart.series)]
    return legend


def _style_value_axis(axis: Any, values: Sequence[float]) -> None:
    low, high = min(values), max(values)
    if low >= 0:
        axis.valueMin = 0.0  # bars and levels from zero; below zero the axis finds its own round minimum
    if high <= max(low, 0.0):
        axis.valueMax = max(low, 0.0) + 1
    axis.labelTextFormat = _axis_formatter(values)
    axis.labels.fontName = _FONT
    axis.labels.fontSize = 7.5
    axis.labels.fillColor = _MUTED
    axis.strokeColor = None
    axis.visibleTicks = False
    axis.visibleGrid = True
    axis.gridStrokeColor = _GRID
    axis.gridStrokeWidth = 0.5
    axis.maximumTicks = 6
    axis.rangeRound = "both"  # the end gridlines are labelled round numbers beyond the values


_CHART_H = 190.0
_PLOT_LEFT = 54.0  # room for the unit label and the value axis' labels
_PLOT_RIGHT = 6.0
_LEGEND_ROOM = 20.0


def _pdf_chart(chart: Chart) -> list[Any]:
    heading = _p(chart.title, _S_H2)
    values = [v for s in chart.series for v in s.values if v is not None and math.isfinite(v)]
    if not values or not chart.categories:
        return [KeepTogether([heading, _p("No data", _S_EMPTY)])]
    drawing = _bar_chart(chart, values) if chart.kind == "bar" else _line_chart(chart, values)
    return [KeepTogether([heading, drawing])]


def _bar_chart(chart: Chart, values: Sequence[float]) -> Drawing:
    n = len(chart.categories)
    plot_w = _FRAME_W - _PLOT_LEFT - _PLOT_RIGHT
    label_size = 7.5
    widest = max(stringWidth(c, _FONT, label_size) for c in chart.categories)
    rotate = widest > plot_w / n - 6
    # Too many categories even rotated: label every k-th only.
    step = max(1, math.ceil(n * (label_size + 3) / plot_w)) if rotate else 1
    bottom = (min(widest, 90.0) * 0.71 + 12) if rotate else 16.0
    height = _CHART_H + (bottom - 16.0)
    drawing = Drawing(_FRAME_W, height)
    bc = VerticalBarChart()
    bc.x, bc.y = _PLOT_LEFT, bottom
    bc.width, bc.height = plot_w, height - bottom - _LEGEND_ROOM
    bc.data = [[_finite(v) for v in list(s.values)[:n]] + [None] * max(0, n - len(s.values)) for s in chart.series]
    bc.strokeColor = None
    bc.barSpacing = 1
    bc.groupSpacing = 6 if len(chart.series) > 1 else 4
    for i in range(len(chart.series)):
        bc.bars[i].fillColor = _SERIES[i % len(_SERIES)]
        bc.bars[i].strokeColor = None
    axis = bc.categoryAxis
    axis.categoryNames = [c if i % step == 0 else "" for i, c in enumerate(chart.categories)]
    axis.labels.fontName = _FONT
    axis.labels.fontSize = label_size
    axis.labels.fillColor = _INK
    axis.strokeColor = _RULE
    axis.visibleTicks = False
    axis.labelAxisMode = "low"  # under the plot, not on the zero line, when there are negative values
    if rotate:
        axis.labels.angle = 45
        axis.labels.boxAnchor = "ne"
        axis.labels.dx, axis.labels.dy = 2, -3
    else:
        axis.labels.boxAnchor = "n"
        axis.labels.dy = -4
    _style_value_axis(bc.valueAxis, values)
    return _placed(drawing, bc, chart, height)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The (index, value) points of a series split at its gaps: a line is not drawn across a None."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        value = _finite(v)
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, float(value)))
    if current:
        runs.append(current)
    return runs


def _line_chart(chart: Chart, values: Sequence[float]) -> Drawing:
    categories = list(chart.categories)
    n = len(categories)
    plot_w = _FRAME_W - _PLOT_LEFT - _PLOT_RIGHT - 12  # the last x label is centred on the plot's edge
    label_size = 7.5
    widest = max(stringWidth(c, _FONT, label_size) for c in categories)
    slots = max(2, int(plot_w // (widest + 10)))
    step = max(1, math.ceil((n - 1) / (slots - 1))) if n > 1 else 1
    ticks = list(range(0, n, step))
    drawing = Drawing(_FRAME_W, _CHART_H)
    lp = LinePlot()
    lp.x, lp.y = _PLOT_LEFT, 16.0
    lp.width, lp.height = plot_w, _CHART_H - 16.0 - _LEGEND_ROOM
    data: list[list[tuple[int, float]]] = []
    for i, series in enumerate(chart.series):
        for run in _runs(list(series.values)[:n]):
            style = lp.lines[len(data)]
            style.strokeColor = _SERIES[i % len(_SERIES)]
            style.strokeWidth = 1.1
            if len(run) == 1:  # a point between two gaps: a dot, or it would not show
                style.symbol = makeMarker("FilledCircle", size=3, fillColor=style.strokeColor, strokeColor=None)
            data.append(run)
    lp.data = data
    lp.joinedLines = 1
    lp.strokeColor = None
    x = lp.xValueAxis
    x.valueMin, x.valueMax = 0, max(1, n - 1)
    x.valueSteps = ticks
    x.labelTextFormat = lambda v: categories[int(round(v))] if 0 <= round(v) < n else ""
    x.labels.fontName = _FONT
    x.labels.fontSize = label_size
    x.labels.fillColor = _INK
    x.labels.boxAnchor = "n"
    x.labels.dy = -4
    x.strokeColor = _RULE
    x.tickDown = 3
    _style_value_axis(lp.yValueAxis, values)
    return _placed(drawing, lp, chart, _CHART_H)


def _placed(drawing: Drawing, plot: Any, chart: Chart, height: float) -> Drawing:
    """The plot in its drawing, with the value axis' unit beside it and the legend above it."""
    drawing.add(plot)
    if chart.unit:
        drawing.add(_unit_label(chart, 8, plot.y + plot.height / 2))
    drawing.add(_legend(chart, _FRAME_W - _PLOT_RIGHT, height - 2))
    return drawing


def _numbered_canvas(footer: str) -> type[Canvas]:
    """A canvas that holds its pages until ``save`` so each footer can say "Page N of M"."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # ReportLab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                Canvas.showPage(self)
            Canvas.save(self)

        def _footer(self, total: int) -> None:
            right = f"Page {self._pageNumber} of {total}"
            size = 7.5
            left = footer
            room = _FRAME_W - stringWidth(right, _FONT, size) - 24
            if stringWidth(left, _FONT, size) > room:
                while left and stringWidth(left + "…", _FONT, size) > room:
                    left = left[:-1]
                left += "…"
            self.saveState()
            self.setStrokeColor(_RULE)
            self.setLineWidth(0.5)
            x0, x1 = _MARGIN_X + _FRAME_PAD, _PAGE_W - _MARGIN_X - _FRAME_PAD
            self.line(x0, 13 * mm, x1, 13 * mm)
            self.setFont(_FONT, size)
            self.setFillColor(_MUTED)
            self.drawString(x0, 9 * mm, left)
            self.drawRightString(x1, 9 * mm, right)
            self.restoreState()

    return NumberedCanvas


# --------------------------------------------------------------------------------------------------- CSV

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_header(column: Column) -> str:
    """``<key>_<unit>``: the unit lower-cased, runs of other characters than a-z0-9 as one "_", unless the key
    already ends with it (``energy_mwh``) or the unit has no such characters (e.g. "%")."""
    if not column.unit:
        return column.key
    slug = re.sub(r"[^a-z0-9]+", "_", column.unit.lower()).strip("_")
    key = column.key.lower()
    if not slug or key == slug or key.endswith("_" + slug):
        return column.key
    return f"{column.key}_{slug}"


def _csv_value(value: Any, kind: ColumnKind) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if kind not in _NUMERIC_KINDS and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def render_csv(doc: Document) -> bytes:
    """The primary table as CSV (UTF-8, no BOM, CRLF); with no table, the figures as label,value,unit rows."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    table = doc.primary_table()
    if table is None:
        writer.writerow(["label", "value", "unit"])
        for f in doc.figures:
            writer.writerow([_csv_value(f.label, "text"), _csv_value(f.value, f.kind), f.unit or ""])
    else:
        writer.writerow([csv_header(c) for c in table.columns])
        for row in table.rows:
            writer.writerow([_csv_value(row.get(c.key), c.kind) for c in table.columns])
    return buf.getvalue().encode("utf-8")


# -------------------------------------------------------------------------------------------------- XLSX

_XLSX_BOLD = Font(bold=True)
_XLSX_TITLE = Font(bold=True, size=14)
_XLSX_MUTED = Font(color="5F6B7A")
_XLSX_HEAD_FILL = PatternFill("solid", fgColor="DCE6F0")
_XLSX_RIGHT = Alignment(horizontal="right", vertical="bottom", wrap_text=True)
_XLSX_LEFT = Alignment(horizontal="left", vertical="bottom", wrap_text=True)
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_SHEET_BAD_CHARS = re.compile(r"[\[\]:*?/\\]")


def number_format(kind: ColumnKind, digits: int = 2) -> str | None:
    """The Excel number format for a column kind (None: General)."""
    decimals = "." + "0" * digits if digits > 0 else ""
    if kind == "percent":
        return f"0{decimals}%"
    if kind in ("number", "money"):
        return f"#,##0{decimals}"
    if kind == "int":
        return "#,##0"
    if kind == "date":
        return "yyyy-mm-dd"
    if kind == "datetime":
        return _DATETIME_FORMAT
    return None


def _xlsx_value(value: Any, kind: ColumnKind) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value).replace(tzinfo=None)
    if isinstance(value, date | int | float):
        return None if isinstance(value, float) and not math.isfinite(value) else value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _xlsx_cell(ws: Any, value: Any, kind: ColumnKind, digits: int = 2, font: Font | None = None) -> Any:
    cell = WriteOnlyCell(ws, value=_xlsx_value(value, kind))
    if cell.data_type == "f":  # user text that starts with "=" stays text
        cell.data_type = "s"
    if cell.value is not None and (fmt := number_format(kind, digits)) is not None:
        cell.number_format = fmt
    if font is not None:
        cell.font = font
    return cell


def sheet_title(title: str, taken: set[str]) -> str:
    """An Excel sheet name: no []:*?/\\, no leading/trailing apostrophe, at most 31 characters, unique
    (Excel compares them case-insensitively); ``taken`` holds the lower-cased names used so far."""
    base = _SHEET_BAD_CHARS.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title))
    base = re.sub(r"\s+", " ", base).strip().strip("'").strip() or "Table"
    name = base[:31].rstrip()
    n = 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)].rstrip() + suffix
        n += 1
    taken.add(name.lower())
    return name


def _xlsx_header(column: Column) -> str:
    if column.kind == "datetime" and not column.unit:
        return f"{column.title} (UTC)"
    return _header_title(column)


def render_xlsx(doc: Document) -> bytes:
    """A workbook: "Summary" (the header block and the figures), then one sheet per table. Charts are not
    written: the tables carry their numbers."""
    wb = Workbook(write_only=True)
    taken = {"summary"}
    _xlsx_summary(wb.create_sheet("Summary"), doc)
    for section in doc.sections:
        if isinstance(section, Table):
            _xlsx_table(wb.create_sheet(sheet_title(section.title, taken)), section)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_summary(ws: Any, doc: Document) -> None:
    for letter, width in zip("ABCD", (34, 20, 12, 22), strict=True):
        ws.column_dimensions[letter].width = width
    ws.append([_xlsx_cell(ws, doc.title, "text", font=_XLSX_TITLE)])
    if doc.subtitle:
        ws.append([_xlsx_cell(ws, doc.subtitle, "text", font=_XLSX_MUTED)])
    ws.append([])
    ws.append([_xlsx_cell(ws, "Tenant", "text", font=_XLSX_BOLD), _xlsx_cell(ws, doc.tenant_name, "text")])
    ws.append([_xlsx_cell(ws, "Period", "text", font=_XLSX_BOLD), _xlsx_cell(ws, doc.period, "text")])
    ws.append(
        [
            _xlsx_cell(ws, "Generated at (UTC)", "text", font=_XLSX_BOLD),
            _xlsx_cell(ws, doc.generated_at, "datetime"),
        ]
    )
    if not doc.figures:
        return
    ws.append([])
    head = ["Figure", "Value", "Unit", "Change vs previous"]
    ws.append([_xlsx_head_cell(ws, h, right=i in (1, 3)) for i, h in enumerate(head)])
    for f in doc.figures:
        delta = WriteOnlyCell(ws, value=f.delta)
        if f.delta is not None:
            delta.number_format = "+0.0%;-0.0%;0.0%"
        ws.append([_xlsx_cell(ws, f.label, "text"), _xlsx_cell(ws, f.value, f.kind, f.digits), f.unit, delta])


def _xlsx_head_cell(ws: Any, text: str, right: bool) -> Any:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = _XLSX_BOLD
    cell.fill = _XLSX_HEAD_FILL
    cell.alignment = _XLSX_RIGHT if right else _XLSX_LEFT
    return cell


def _xlsx_table(ws: Any, table: Table) -> None:
    columns = list(table.columns)
    headers = [_xlsx_header(c) for c in columns]
    # Widths (in characters) from what a reader sees: the PDF's formatting is a close match for Excel's.
    for i, (column, header) in enumerate(zip(columns, headers, strict=True)):
        content = max(
            (len(format_value(row.get(column.key), column.kind, column.digits)) for row in table.rows), default=0
        )
        if column.kind == "datetime":
            content = max(content, 16)
        width = min(max(content, min(len(header), 24), 8) + 2, 60)
        ws.column_dimensions[get_column_letter(i + 1)].width = width
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(table.rows) + 1}"
    ws.append([_xlsx_head_cell(ws, h, right=c.kind in _NUMERIC_KINDS) for h, c in zip(headers, columns, strict=True)])
    for row in table.rows:
        ws.append([_xlsx_cell(ws, row.get(c.key), c.kind, c.digits) for c in columns])
    if table.note:
        ws.append([])
        ws.append([_xlsx_cell(ws, table.note, "text", font=_XLSX_MUTED)])
