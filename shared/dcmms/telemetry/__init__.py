"""Telemetry: the record format and its validation (``records``), the metric catalogue
(``catalogue``) and the PostgreSQL time-series store (``postgres``).

Submodules are imported by their users, so importing the package pulls in no database driver.
"""
