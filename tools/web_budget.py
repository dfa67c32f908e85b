"""The web app's size budgets, measured on its production build (web/dist), gzipped.

Standard library only. What a first visit downloads before the app runs is the *initial* set: the scripts and
stylesheets that web/dist/index.html references directly (``<script src>``, ``<link rel=stylesheet>``,
``<link rel=modulepreload>``) and, transitively, the chunks those scripts import statically. Every other
JavaScript chunk is *lazy* (a route or a chart, fetched by a dynamic ``import()`` when first needed).

    budget (issue 18)             the spec's (performance-and-scalability)
    initial JS     <=  50 KB gz     200 KB gz
    CSS (all)      <=  20 KB gz      50 KB gz
    each lazy JS   <= 100 KB gz     100 KB gz

    python3 tools/web_budget.py [web/dist]    # prints the table; exit 1 over budget, 2 without a build

Each file is gzipped on its own at zlib's level 6 (what servers and Vite's report use); 1 KB = 1,000 bytes.
``make test`` runs it through tests/browser/test_budgets.py.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"
KB = 1000
GZIP_LEVEL = 6

# (what, budget in KB gz, the spec's in KB gz)
BUDGETS = {
    "initial_js": ("initial JS", 50, 200),
    "css": ("CSS", 20, 50),
    "lazy_chunk": ("largest lazy JS chunk", 100, 100),
}

# Static imports and re-exports in an ES module as bundlers write them, minified or not:
#   import{a as b}from"./x.js"   import"./x.js"   import*as m from"./x.js"   export{a}from"./x.js"   export*from"./x.js"
# A dynamic import("./x.js") has a parenthesis after `import` and is not matched: that chunk is lazy.
_STATIC_IMPORT = re.compile(
    r"""(?<![\w$.])(?:import|export)\s*(?:[\w$*{][^;"'()]*?\bfrom\s*)?["']([^"']+\.m?js)["']""",
)


class _Entries(HTMLParser):
    """The scripts, stylesheets and module preloads that an HTML page references."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "script" and values.get("src"):
            self.refs.append(values["src"])
        elif tag == "link" and values.get("href"):
            rel = set(values.get("rel", "").lower().split())
            if rel & {"stylesheet", "modulepreload"}:
                self.refs.append(values["href"])


@dataclass(frozen=True)
class Asset:
    path: str  # relative to dist, POSIX
    raw: int
    gz: int

    @property
    def kind(self) -> str:
        return "css" if self.path.endswith(".css") else "js"


@dataclass
class Report:
    dist: Path
    initial: list[Asset] = field(default_factory=list)  # JS and CSS the first visit needs
    lazy: list[Asset] = field(default_factory=list)  # every other JS chunk
    css: list[Asset] = field(default_factory=list)  # every stylesheet, initial or not

    @property
    def initial_js(self) -> int:
        return sum(a.gz for a in self.initial if a.kind == "js")

    @property
    def css_gz(self) -> int:
        return sum(a.gz for a in self.css)

    @property
    def largest_lazy(self) -> Asset | None:
        return max(self.lazy, key=lambda a: a.gz, default=None)

    def measured(self) -> dict[str, int]:
        largest = self.largest_lazy
        return {"initial_js": self.initial_js, "css": self.css_gz, "lazy_chunk": largest.gz if largest else 0}

    def over_budget(self) -> list[str]:
        """One line per budget exceeded (every lazy chunk over its budget is named)."""
        measured = self.measured()
        over = []
        for key in ("initial_js", "css"):
            what, budget, _ = BUDGETS[key]
            if measured[key] > budget * KB:
                over.append(f"{what} is {measured[key] / KB:.1f} KB gz, over its budget of {budget} KB gz")
        _, lazy_budget, _ = BUDGETS["lazy_chunk"]
        for chunk in self.lazy:
            if chunk.gz > lazy_budget * KB:
                over.append(
                    f"lazy chunk {chunk.path} is {chunk.gz / KB:.1f} KB gz, over its budget of {lazy_budget} KB gz"
                )
        return over

    def table(self) -> str:
        measured = self.measured()
        largest = self.largest_lazy
        n_js = sum(1 for a in self.initial if a.kind == "js")
        counts = {
            "initial_js": f"{n_js} file{'s' * (n_js != 1)}",
            "css": f"{len(self.css)} file{'s' * (len(self.css) != 1)}",
            "lazy_chunk": f"{largest.path} of {len(self.lazy)}" if largest else "no lazy chunks",
        }
        rows = [("", "KB gz", "budget", "spec", "")]
        for key, (what, budget, spec) in BUDGETS.items():
            status = "OVER" if measured[key] > budget * KB else "ok"
            rows.append((f"{what} ({counts[key]})", f"{measured[key] / KB:.1f}", str(budget), str(spec), status))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [f"web budgets: {self.dist} (each file gzipped at level {GZIP_LEVEL}; 1 KB = 1,000 bytes)"]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(width) if i == 0 else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                ).rstrip()
            )
        lines.append("  files:")
        for label, assets in (("initial", self.initial), ("lazy", self.lazy)):
            for a in sorted(assets, key=lambda a: -a.gz):
                lines.append(f"    {label:<8}{a.path:<48}{a.raw / KB:>9.1f} KB{a.gz / KB:>9.1f} KB gz")
        for a in sorted((a for a in self.css if a not in self.initial), key=lambda a: -a.gz):
            lines.append(f"    {'lazy':<8}{a.path:<48}{a.raw / KB:>9.1f} KB{a.gz / KB:>9.1f} KB gz")
        return "\n".join(lines)


class NoBuild(Exception):
    """web/dist (or its index.html) is missing: there is nothing to measure."""


def _gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=GZIP_LEVEL, mtime=0))


def _local(ref: str, base: PurePosixPath, dist: Path) -> str | None:
    """The file in dist a reference points at (relative to ``base``, the referring file's folder), or None for
    an external URL or a file that is not in the build."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("data:"):
        return None
    path = parts.path
    target = PurePosixPath(path.lstrip("/")) if path.startswith("/") else base / path
    normal: list[str] = []
    for part in target.parts:
        if part == "..":
            if normal:
                normal.pop()
        elif part not in (".", ""):
            normal.append(part)
    # The app may be built for a base path (e.g. /app/): try the longest suffix that exists in dist.
    for start in range(len(normal)):
        candidate = "/".join(normal[start:])
        if candidate and (dist / candidate).is_file():
            return candidate
    return None


def static_imports(source: str) -> Iterable[str]:
    return _STATIC_IMPORT.findall(source)


def measure(dist: Path = DIST) -> Report:
    index = dist / "index.html"
    if not index.is_file():
        raise NoBuild(f"{index} is missing: build the web app first (make web, or npm --prefix web run build)")
    parser = _Entries()
    parser.feed(index.read_text(encoding="utf-8"))
    initial: list[str] = []
    queue = [p for p in (_local(ref, PurePosixPath("."), dist) for ref in parser.refs) if p]
    while queue:
        rel = queue.pop(0)
        if rel in initial:
            continue
        initial.append(rel)
        if rel.endswith((".js", ".mjs")):
            source = (dist / rel).read_text(encoding="utf-8", errors="replace")
            base = PurePosixPath(rel).parent
            queue.extend(p for p in (_local(ref, base, dist) for ref in static_imports(source)) if p)
    assets = {
        p.relative_to(dist).as_posix(): p
        for p in sorted(dist.rglob("*"))
        if p.is_file()
        and p.suffix in (".js", ".mjs", ".css")
        and not any(part.startswith(".") for part in p.relative_to(dist).parts)
    }
    sized = {rel: Asset(rel, path.stat().st_size, _gzip_size(path)) for rel, path in assets.items()}
    report = Report(dist)
    report.initial = [sized[rel] for rel in initial if rel in sized]
    report.lazy = [a for rel, a in sized.items() if a.kind == "js" and rel not in initial]
    report.css = [a for a in sized.values() if a.kind == "css"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", nargs="?", type=Path, default=DIST, help="the production build (default: web/dist)")
    args = parser.parse_args(argv)
    try:
        report = measure(args.dist)
    except NoBuild as exc:
        print(f"web budgets: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    over = report.over_budget()
    for line in over:
        print(f"web budgets: {line}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
