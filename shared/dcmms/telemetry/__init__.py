"""Telemetry: storage of time series readings (``pgstore`` for plain PostgreSQL).

Submodules are imported by their users, so importing the package pulls in no database driver.
"""
