"""The Prometheus alert rules for container deployments (ops/prometheus): valid, and firing when they should."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is not on PATH: it comes with Debian's `prometheus` package, which .ci/run installs "
            "(locally: apt-get install prometheus)"
        )
    return subprocess.run([promtool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=60)


def test_rules_file_is_valid() -> None:
    result = _promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_alerts_fire_on_synthetic_series_and_stay_silent_on_healthy_ones() -> None:
    result = _promtool("test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    import yaml

    rules = yaml.safe_load((RULES_DIR / "rules.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    tests = yaml.safe_load((RULES_DIR / "rules_test.yml").read_text())["tests"]
    fired = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if a["exp_alerts"]}
    assert alerts == fired
    assert {"HighAPILatency", "HighErrorRate", "CacheHitRateLow", "HighMemoryUsage", "IngestDeadLetters"} <= alerts
