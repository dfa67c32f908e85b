"""tools/bootstrap.py: what is missing -> what gets installed, how, or the one line that says why not."""

from __future__ import annotations

import pytest

from tools import bootstrap
from tools.bootstrap import Prerequisite, decide

REDIS = Prerequisite("redis-server 7", "redis-server", frozenset({"run", "test"}), "cache", frozenset({"run"}))
PG = Prerequisite("PostgreSQL", "postgresql", frozenset({"run", "test"}), "store", frozenset({"run"}))
NODE = Prerequisite("Node.js 18+", "nodejs", frozenset({"test"}), "cdk")
PROMTOOL = Prerequisite("promtool", "prometheus", frozenset({"test"}), "rules")


def test_nothing_missing_installs_nothing() -> None:
    decision = decide("test", [], apt_get=True, root=True, sudo=False)
    assert (decision.command, decision.messages, decision.fatal) == (None, (), False)


def test_root_with_apt_installs_exactly_the_missing_packages_once() -> None:
    decision = decide("test", [PROMTOOL, REDIS, NODE], apt_get=True, root=True, sudo=False)
    assert decision.command is not None and decision.command[0] == "env"
    line = decision.command[-1]
    assert line.startswith("apt-get update -qq && apt-get install -y -qq --no-install-recommends ")
    assert line.split("--no-install-recommends ")[1].split() == ["nodejs", "prometheus", "redis-server"]
    assert "DEBIAN_FRONTEND=noninteractive" in decision.command
    assert not decision.fatal
    assert "nodejs prometheus redis-server" in decision.messages[0]


def test_a_user_with_sudo_installs_through_sudo() -> None:
    decision = decide("test", [PG], apt_get=True, root=False, sudo=True)
    assert decision.command is not None and decision.command[0] == "sudo"
    assert decision.command[-1].endswith("--no-install-recommends postgresql")


def test_run_does_not_install_what_only_the_tests_need() -> None:
    decision = decide("run", [NODE, PROMTOOL], apt_get=True, root=True, sudo=False)
    assert (decision.command, decision.fatal) == (None, False)
    decision = decide("run", [NODE, REDIS], apt_get=True, root=True, sudo=False)
    assert decision.command is not None and decision.command[-1].endswith("redis-server")


@pytest.mark.parametrize(
    ("apt_get", "root", "sudo", "why"),
    [
        (False, True, False, "no apt-get here"),
        (True, False, False, "not root and no sudo"),
    ],
)
def test_without_a_way_to_install_tests_fail_with_one_line_naming_the_packages(apt_get, root, sudo, why) -> None:
    decision = decide("test", [REDIS, PROMTOOL], apt_get=apt_get, root=root, sudo=sudo)
    assert decision.command is None and decision.fatal
    (line,) = decision.messages
    assert "\n" not in line and why in line
    assert "redis-server 7, promtool" in line and "prometheus redis-server" in line


def test_run_starts_on_the_bundled_servers_when_it_cannot_install_them() -> None:
    decision = decide("run", [REDIS, PG], apt_get=False, root=False, sudo=False)
    assert decision.command is None and not decision.fatal
    assert "pip-bundled" in decision.messages[0]


def test_check_only_reports_and_installs_nothing() -> None:
    decision = decide("test", [PROMTOOL], apt_get=True, root=True, sudo=False, check_only=True)
    assert decision.command is None and decision.fatal
    assert "tools/bootstrap.py --for test" in decision.messages[0]


def test_the_catalogue_covers_every_program_the_harness_starts() -> None:
    names = {p.debian_package for p, _probe in bootstrap.PREREQUISITES}
    assert names == {
        "redis-server",
        "postgresql",
        "openjdk-17-jre-headless",
        "nodejs",
        "npm",
        "prometheus",
        "poppler-utils",
        "chromium",
    }
    for prerequisite, probe in bootstrap.PREREQUISITES:
        assert prerequisite.needed_by <= {"run", "test"} and callable(probe)
        assert prerequisite.fallback_for <= prerequisite.needed_by


def test_missing_prerequisites_asks_every_probe() -> None:
    catalogue = [(REDIS, lambda: True), (PROMTOOL, lambda: False), (NODE, lambda: False)]
    assert bootstrap.missing_prerequisites(catalogue) == [PROMTOOL, NODE]


def test_an_old_python_is_named() -> None:
    assert bootstrap.python_problem((3, 12, 1)) is None
    assert "needs Python 3.11+, this is 3.10.4" in (bootstrap.python_problem((3, 10, 4)) or "")
