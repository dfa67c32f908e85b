"""Builds the Lambda dependency layer (see build.py)."""
