"""The report renderers on a fleet-monthly-like document: PDF text (figures, cells, footer, repeated header),
page 1 rasterised to PNG (copied to reports/test-artifacts/ for a person to look at), CSV and XLSX contents."""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader

from dcmms.reports.document import Chart, Column, Document, Figure, Series, Table, format_value
from dcmms.reports.render import Rendered, csv_header, render, render_csv, render_pdf, render_xlsx, sheet_title

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
GENERATED_AT = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

FIGURES = [
    Figure("Energy produced", 41234.567, "number", "MWh", 1, delta=0.041),
    Figure("Performance ratio", 0.8123, "percent", None, 1, delta=-0.012),
    Figure("Availability", 0.97345, "percent", None, 2, delta=0.003),
    Figure("Lost energy", 1203.4, "number", "MWh", 1, delta=-0.153),
    Figure("Revenue", 3456789.123, "money", "EUR", 0, delta=0.052),
    Figure("Open work orders", 128, "int", None, delta=0.08),
    Figure("MTTR", 6.42, "number", "h", 1, delta=-0.1),
    Figure("Alerts raised", 1912, "int", None, delta=0.0),
]

SITE_COLUMNS = [
    Column("site", "Site"),
    Column("capacity_mwp", "Capacity", "number", "MWp", 1),
    Column("energy", "Energy", "number", "MWh", 1),
    Column("pr", "PR", "percent", digits=1),
    Column("availability", "Availability", "percent", digits=2),
    Column("revenue", "Revenue", "money", "EUR", 2),
    Column("open_wo", "Open WOs", "int"),
    Column("last_inspection", "Last inspection", "date"),
    Column("last_alert", "Last alert", "datetime"),
    Column("remarks", "Remarks"),
]
REMARKS = [
    None,
    "Inverter INV-07 tripped twice on grid over-voltage; utility notified.",
    "Tracker row 12 stuck at 15° west since 14 Nov; motor controller replacement ordered, awaiting parts.",
    "",
    "Vegetation management done.",
]


def _site_rows() -> list[dict[str, Any]]:
    rng = random.Random(15)
    rows = []
    for i in range(250):
        capacity = round(rng.uniform(4, 180), 1)
        rows.append(
            {
                "site": f"{rng.choice(['Solar', 'Wind'])} Park {chr(65 + i % 26)}{i:03d}",
                "capacity_mwp": capacity,
                "energy": None if i % 37 == 5 else capacity * rng.uniform(60, 140),
                "pr": None if i % 41 == 7 else rng.uniform(0.7, 0.9),
                "availability": rng.uniform(0.9, 1.0),
                "revenue": capacity * rng.uniform(4000, 9000),
                "open_wo": rng.randint(0, 25),
                "last_inspection": date(2026, 11, 1) + timedelta(days=rng.randint(0, 29)),
                "last_alert": None if i % 9 == 0 else GENERATED_AT - timedelta(minutes=rng.randint(60, 40000)),
                "remarks": REMARKS[i % len(REMARKS)],
            }
        )
    rows[3]["site"] = "Solar Park Ærø & <Nord>"  # markup and non-ASCII survive
    return rows


MONTHS = ["Dec 2025"] + [
    f"{m} 2026" for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov")
]


def _document(**overrides: Any) -> Document:
    rng = random.Random(7)
    hours = [(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=h)) for h in range(720)]
    solar = [max(0.0, 900 * (1 - abs(h.hour - 12.5) / 6.5)) * rng.uniform(0.6, 1.0) for h in hours]
    wind = [None if 300 <= i < 320 else 150 + 120 * rng.random() for i in range(720)]  # a gap: no readings
    fields: dict[str, Any] = {
        "type": "fleet-monthly",
        "title": "Fleet monthly report",
        "tenant_name": "Nordwind Renewables GmbH",
        "period": "November 2026",
        "generated_at": GENERATED_AT,
        "subtitle": "250 sites · 11.4 GWp solar and wind · Europe/Berlin",
        "figures": FIGURES,
        "sections": [
            Table(
                "Sites", SITE_COLUMNS, _site_rows(), note="Sites without a reading for the month show –.", primary=True
            ),
            Chart(
                "Energy by month",
                "bar",
                MONTHS,
                [
                    Series("Actual", [3100 + 250 * i for i in range(11)] + [None]),
                    Series("Expected", [3300 + 240 * i for i in range(12)]),
                ],
                unit="MWh",
            ),
            Chart(
                "Fleet power, hourly",
                "line",
                [h.strftime("%Y-%m-%d %H:%M") for h in hours],
                [Series("Solar", solar), Series("Wind", wind)],
                unit="MW",
            ),
            Table(
                "Work orders by priority",
                [
                    Column("priority", "Priority"),
                    Column("open", "Open", "int"),
                    Column("overdue", "Overdue", "percent", digits=1),
                ],
                [
                    {"priority": p, "open": n, "overdue": o}
                    for p, n, o in [("P1", 4, 0.25), ("P2", 31, 0.129), ("P3", 93, None)]
                ],
                note="Overdue: open past the due date.",
            ),
        ],
    }
    fields.update(overrides)
    return Document(**fields)


@pytest.fixture(scope="module")
def doc() -> Document:
    return _document()


@pytest.fixture(scope="module")
def pdf(doc: Document) -> bytes:
    return render_pdf(doc)


@pytest.fixture(scope="module")
def pages(pdf: bytes) -> list[str]:
    """Each page's text, whitespace runs as one space (a wrapped header or cell breaks its line)."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_pdf_carries_the_header_figures_and_cells(pdf: bytes, pages: list[str], doc: Document) -> None:
    assert pdf.startswith(b"%PDF")
    text = "\n".join(pages)
    for needle in (doc.title, doc.tenant_name, doc.period, doc.subtitle, "Generated 2026-12-01 06:00 UTC"):
        assert needle in pages[0]
    for f in FIGURES:
        assert format_value(f.value, f.kind, f.digits) in pages[0], f.label
    assert "+4.1% vs previous" in pages[0] and "-15.3% vs previous" in pages[0]
    table = doc.sections[0]
    assert isinstance(table, Table)
    for row in (table.rows[0], table.rows[249]):
        assert row["site"] in text
        assert format_value(row["revenue"], "money", 2) in text
        assert format_value(row["availability"], "percent", 2) in text
    assert "Solar Park Ærø & <Nord>" in text
    assert "Energy by month" in text and "Fleet power, hourly" in text and "Jun 2026" in text
    assert "Sites without a reading for the month show –." in text


def test_pdf_pages_are_numbered_and_repeat_the_header_row(pages: list[str], doc: Document) -> None:
    n = len(pages)
    assert n > 1
    assert f"Page 1 of {n}" in pages[0] and f"Page {n} of {n}" in pages[-1]
    footer = f"{doc.tenant_name} · {doc.title} · {doc.period}"
    assert all(footer in p for p in pages)
    table = doc.sections[0]
    assert isinstance(table, Table)
    assert "Energy (MWh)" in pages[0] and table.rows[0]["site"] in pages[0]  # the table starts on page 1
    assert table.rows[0]["site"] not in pages[1]
    assert "Energy (MWh)" in pages[1] and "Revenue (EUR)" in pages[1]  # and its header row is again on page 2


def test_pdf_empty_table_says_no_rows() -> None:
    empty = _document(
        figures=[], sections=[Table("Overdue work orders", [Column("id", "Work order")], [], note="None overdue.")]
    )
    text = " ".join(PdfReader(io.BytesIO(render_pdf(empty))).pages[0].extract_text().split())
    assert "Overdue work orders" in text and "No rows" in text and "None overdue." in text
    assert "Page 1 of 1" in text


def test_pdf_page_one_rasterises(pdf: bytes, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm (poppler-utils) is not installed: it is needed to rasterise the PDF")
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(tmp_path / "report.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
        timeout=60,
    )
    png = tmp_path / "page.png"
    assert png.exists() and png.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, ARTIFACTS / "report-page-1.png")


def _csv(doc: Document) -> list[list[str]]:
    body = render_csv(doc)
    assert not body.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in body
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def test_csv_is_the_primary_table_at_full_precision(doc: Document) -> None:
    rows = _csv(doc)
    assert rows[0] == [
        "site", "capacity_mwp", "energy_mwh", "pr", "availability", "revenue_eur", "open_wo",
        "last_inspection", "last_alert", "remarks",
    ]  # fmt: skip
    assert len(rows) == 251
    table = doc.sections[0]
    assert isinstance(table, Table)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert float(first["pr"]) == table.rows[0]["pr"] and 0 < float(first["pr"]) < 1  # ratio, full precision
    assert first["revenue_eur"] == repr(table.rows[0]["revenue"]) and "," not in first["revenue_eur"]
    assert first["last_inspection"] == table.rows[0]["last_inspection"].isoformat()
    by_site = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    r5, r9 = table.rows[5], table.rows[10]
    assert by_site[r5["site"]]["energy_mwh"] == ""  # None
    assert by_site[r9["site"]]["last_alert"] == r9["last_alert"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_site[table.rows[0]["site"]]["last_alert"] == ""


def test_csv_headers_and_formula_text() -> None:
    assert csv_header(Column("energy", "Energy", "number", "MWh")) == "energy_mwh"
    assert csv_header(Column("energy_mwh", "Energy", "number", "MWh")) == "energy_mwh"
    assert csv_header(Column("yield", "Yield", "number", "kWh/kWp")) == "yield_kwh_kwp"
    assert csv_header(Column("pr", "PR", "percent", "%")) == "pr"
    table = Table(
        "t", [Column("note", "Note"), Column("delta", "Delta", "number")], [{"note": "=HYPERLINK(1)", "delta": -1.5}]
    )
    rows = _csv(_document(sections=[table]))
    assert rows[1] == ["'=HYPERLINK(1)", "-1.5"]


def test_csv_without_a_table_lists_the_figures() -> None:
    rows = _csv(_document(sections=[]))
    assert rows[0] == ["label", "value", "unit"]
    assert rows[1] == ["Energy produced", "41234.567", "MWh"]
    assert rows[2] == ["Performance ratio", "0.8123", ""]
    assert len(rows) == 1 + len(FIGURES)


def test_xlsx_sheets_formats_and_summary(doc: Document) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(doc)))
    assert wb.sheetnames == ["Summary", "Sites", "Work orders by priority"]
    ws = wb["Sites"]
    header = [c.value for c in ws[1]]
    assert header[:6] == ["Site", "Capacity (MWp)", "Energy (MWh)", "PR", "Availability", "Revenue (EUR)"]
    assert header[8] == "Last alert (UTC)"
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:J251"
    assert ws.max_row >= 251
    table = doc.sections[0]
    assert isinstance(table, Table)
    pr, revenue = ws.cell(2, 4), ws.cell(2, 6)
    assert pr.value == pytest.approx(table.rows[0]["pr"]) and pr.number_format == "0.0%"
    assert revenue.value == pytest.approx(table.rows[0]["revenue"]) and revenue.number_format == "#,##0.00"
    assert ws.cell(2, 7).number_format == "#,##0"
    assert ws.cell(2, 8).number_format == "yyyy-mm-dd"
    alert = ws.cell(3, 9)
    assert alert.number_format == "yyyy-mm-dd hh:mm"
    assert alert.value == table.rows[1]["last_alert"].replace(tzinfo=None)
    assert ws.cell(7, 3).value is None  # row 5's energy is None
    assert ws.column_dimensions["J"].width > ws.column_dimensions["D"].width

    summary = wb["Summary"]
    cells = {row[0]: row[1:] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert "Fleet monthly report" in cells and cells["Tenant"][0] == "Nordwind Renewables GmbH"
    assert cells["Period"][0] == "November 2026"
    assert cells["Generated at (UTC)"][0] == GENERATED_AT.replace(tzinfo=None)
    for f in FIGURES:
        assert cells[f.label][0] == pytest.approx(f.value)
        assert cells[f.label][1] == f.unit
        assert cells[f.label][2] == (pytest.approx(f.delta) if f.delta is not None else None)
    pr_row = next(r for r in summary.iter_rows() if r[0].value == "Performance ratio")
    assert pr_row[1].number_format == "0.0%" and pr_row[3].number_format == "+0.0%;-0.0%;0.0%"


def test_sheet_titles_are_valid_and_unique() -> None:
    taken = {"summary"}
    assert sheet_title("Summary", taken) == "Summary (2)"
    assert sheet_title("Open/closed: [north]*?", taken) == "Open closed north"
    long = "Availability and performance by site and month"
    first, second = sheet_title(long, taken), sheet_title(long, taken)
    assert len(first) <= 31 and len(second) <= 31 and first.lower() != second.lower()
    assert second.endswith("(2)")


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("pdf", "application/pdf"), ("csv", "text/csv"), ("xlsx", "spreadsheetml")]
)
def test_render_dispatches(fmt: str, content_type: str) -> None:
    small = _document(sections=[_document().sections[3]])
    out = render(small, fmt)
    assert isinstance(out, Rendered) and out.extension == fmt and content_type in out.content_type and out.body


def test_render_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError, match="docx"):
        render(_document(), "docx")
