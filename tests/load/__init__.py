"""Load tests (spec §10.2) with Locust, scaled down by a factor for a small machine: ``python -m tests.load``."""
