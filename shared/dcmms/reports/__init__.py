"""Reports: what a report says (``document``: figures, tables and charts, independent of any file format),
and how it is written as PDF, CSV and XLSX (``render``). The report libraries (ReportLab, openpyxl) are imported
only here, and only by the ``reports`` function, whose layer carries them (pyproject's ``reports`` extra); the
API never imports this package (an import contract in pyproject.toml)."""
