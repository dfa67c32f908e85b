"""A report as data: a title, the tenant, the period, when it was made, key figures, then sections (tables and
charts) in reading order. The renderers (``dcmms.reports.render``) turn one ``Document`` into a PDF, a CSV or an
XLSX workbook, so every format carries the same figures.

Values are plain Python: ``None`` is "no figure" (shown as an en dash in PDF, empty in CSV/XLSX), numbers are
``int``/``float`` in the column's unit (ratios 0..1 for ``percent`` columns, shown x100 with a % in the PDF),
``datetime`` aware, ``date`` plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

ColumnKind = Literal["text", "int", "number", "percent", "money", "date", "datetime"]


@dataclass(frozen=True)
class Column:
    key: str  # the row dict's key; also the CSV header's stem
    title: str  # the PDF's and the workbook's header
    kind: ColumnKind = "text"
    unit: str | None = None  # "MWh", "h", "EUR" ...: CSV headers read "<key>_<unit>" lower-cased, e.g. energy_mwh
    digits: int = 2  # decimals shown for number/percent/money in the PDF (CSV/XLSX keep full precision)


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    note: str | None = None  # a line under the table (e.g. "open work older than 30 days: 12")
    # The table CSV exports: a report's CSV is exactly one table, the one marked primary (else the first).
    primary: bool = False


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Chart:
    """A bar chart over ``categories`` (one group of bars per category, one bar per series) or a line chart
    (one line per series, ``categories`` as the x labels, shown thinned when there are many)."""

    title: str
    kind: Literal["bar", "line"]
    categories: Sequence[str]
    series: Sequence[Series]
    unit: str | None = None  # the value axis' label


@dataclass(frozen=True)
class Figure:
    """A headline number, e.g. Energy 412.3 MWh (+4.1% vs previous month)."""

    label: str
    value: Any
    kind: ColumnKind = "number"
    unit: str | None = None
    digits: int = 2
    # The change against the comparison period as a ratio (0.041 = +4.1 %); None: no comparison shown.
    delta: float | None = None


@dataclass(frozen=True)
class Document:
    type: str  # the report type, e.g. "fleet-monthly"
    title: str  # e.g. "Fleet monthly report"
    tenant_name: str
    period: str  # e.g. "November 2026" or "2026-11-01 – 2026-11-30"
    generated_at: datetime
    subtitle: str | None = None  # e.g. the site's name and timezone
    figures: Sequence[Figure] = ()
    sections: Sequence[Table | Chart] = field(default_factory=list)

    def primary_table(self) -> Table | None:
        tables = [s for s in self.sections if isinstance(s, Table)]
        return next((t for t in tables if t.primary), tables[0] if tables else None)


def format_value(value: Any, kind: ColumnKind, digits: int = 2) -> str:
    """How the PDF shows a value (and how tests find a figure in its text): thousands separated, ratios as
    percent, missing as an en dash."""
    if value is None:
        return "–"
    if kind == "percent":
        return f"{float(value) * 100:,.{digits}f}%"
    if kind in ("number", "money"):
        return f"{float(value):,.{digits}f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value.utcoffset() is not None else str(value)
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)
