"""The web app's size budgets on its production build (tools/web_budget.py): over budget fails, and so does a
missing build; the measurement itself is checked on small builds made here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import web_budget
from tools.web_budget import NoBuild, measure

from .conftest import DIST

pytestmark = pytest.mark.browser


def test_the_production_build_is_within_its_budgets() -> None:
    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST / 'index.html'} is missing: the web app is not built (make web)", pytrace=False)
    report = measure(DIST)
    table = report.table()
    print(table)
    # something was found to measure: index.html's entry script, at least
    assert any(a.kind == "js" for a in report.initial), f"index.html references no script of the build\n{table}"
    over = report.over_budget()
    assert not over, "\n".join([table, *over])


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


INDEX = (
    '<!doctype html><html><head><script type="module" crossorigin src="/static/assets/index-a1.js"></script>'
    '<link rel="modulepreload" crossorigin href="/static/assets/vendor-b2.js">'
    '<link rel="stylesheet" crossorigin href="/static/assets/index-c3.css"></head><body></body></html>'
)


def test_initial_is_what_index_html_loads_and_its_static_imports(tmp_path: Path) -> None:
    dist = _write(
        tmp_path,
        {
            "index.html": INDEX,
            "assets/index-a1.js": 'import{h as a}from"./vendor-b2.js";import"./shared-d4.js";'
            'const r=()=>import("./route-e5.js");export*from"./reexport-f6.js";',
            "assets/vendor-b2.js": "export const h=1;",
            "assets/shared-d4.js": 'import*as m from"./deep-g7.js";console.log(m);',
            "assets/deep-g7.js": "export const x=2;",
            "assets/reexport-f6.js": "export{};",
            "assets/route-e5.js": 'import{h}from"./vendor-b2.js";const c=()=>import("./chart-h8.js");',
            "assets/chart-h8.js": "export default 3;",
            "assets/index-c3.css": "body{margin:0}",
            "assets/route-e5.css": "a{color:red}",
            "favicon.svg": "<svg/>",
        },
    )
    report = measure(dist)
    assert {a.path for a in report.initial} == {
        "assets/index-a1.js",
        "assets/vendor-b2.js",
        "assets/shared-d4.js",
        "assets/deep-g7.js",
        "assets/reexport-f6.js",
        "assets/index-c3.css",
    }
    assert {a.path for a in report.lazy} == {"assets/route-e5.js", "assets/chart-h8.js"}
    assert {a.path for a in report.css} == {"assets/index-c3.css", "assets/route-e5.css"}
    assert report.over_budget() == []
    assert "initial JS (5 files)" in report.table()


def test_over_budget_names_what_is_over(tmp_path: Path) -> None:
    incompressible = os.urandom(60_000)  # ~60 KB gzipped
    dist = _write(
        tmp_path,
        {
            "index.html": INDEX,
            "assets/index-a1.js": incompressible,
            "assets/vendor-b2.js": "export{};",
            "assets/index-c3.css": os.urandom(25_000),
            "assets/route-e5.js": os.urandom(110_000),
            "assets/small-i9.js": "export{};",
        },
    )
    over = measure(dist).over_budget()
    assert len(over) == 3, over
    assert over[0].startswith("initial JS is 60.") and "budget of 50 KB gz" in over[0]
    assert over[1].startswith("CSS is 25.") and "budget of 20 KB gz" in over[1]
    assert over[2].startswith("lazy chunk assets/route-e5.js is 110.") and "budget of 100 KB gz" in over[2]
    assert web_budget.main([str(dist)]) == 1


def test_no_build_is_an_error_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NoBuild):
        measure(tmp_path / "dist")
    assert web_budget.main([str(tmp_path / "dist")]) == 2
    assert "index.html is missing" in capsys.readouterr().err
