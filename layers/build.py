"""Build the Lambda layer: runtime dependencies as manylinux wheels for the target runtime, plus ``dcmms``.

    .venv/bin/python -m layers.build            # into layers/build/python/, then prints the unzipped size

No Docker: pip resolves and installs binary wheels for the Lambda platform (``--platform manylinux2014_aarch64
--only-binary=:all: --python-version 3.12 --implementation cp``), whatever machine runs the build.
The dependencies are pyproject.toml's ``[project].dependencies`` minus boto3 and botocore — the Lambda
runtime ships both, and anything only they need (s3transfer, urllib3, ...) is left out as well — plus
Powertools' ``tracer`` extra, because the stacks turn X-Ray tracing on (``DCMMS_TRACING``). A stamp of the
pinned roots lets a rebuild with unchanged inputs skip pip (and the network); ``dcmms`` is copied afresh
every time.
Fails if the unzipped layer exceeds Lambda's 250 MB limit (which also counts the function's own code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "layers" / "build"
SITE_DIR = BUILD_DIR / "python"  # Lambda puts /opt/python on sys.path
STAMP = BUILD_DIR / "layer.json"
SHARED_PACKAGE = REPO_ROOT / "shared" / "dcmms"
FUNCTIONS_DIR = REPO_ROOT / "functions"

PYTHON_VERSION = "3.12"  # cdk.functions.RUNTIME is PYTHON_3_12
# cdk.functions.ARCHITECTURE is ARM_64. The python3.12 runtime is Amazon Linux 2023 (glibc 2.34), so wheels
# for glibc 2.17 (manylinux2014) and 2.28 both run; psycopg-binary 3.3 ships only the latter for aarch64.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
LAMBDA_LIMIT_BYTES = 250 * 1024 * 1024  # unzipped: function code and all its layers together
# Provided by the Lambda runtime: not shipped (nor whatever only they depend on).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})
# Extras the deployed functions need beyond pyproject's list.
EXTRA_EXTRAS = {"aws-lambda-powertools": {"tracer"}}
_DROP = ("__pycache__", "*.pyc", "bin")


def target_environment(python_version: str = PYTHON_VERSION, platforms: tuple[str, ...] = PLATFORMS) -> dict[str, str]:
    """PEP 508 marker values of the Lambda runtime, to evaluate dependencies' markers against."""
    machine = "aarch64" if "aarch64" in platforms[0] else "x86_64"
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
    }


def root_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[Requirement]:
    """pyproject's runtime dependencies, minus what the runtime provides, with the deployed extras added."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    roots = []
    for line in deps:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name in RUNTIME_PROVIDED:
            continue
        req.extras |= EXTRA_EXTRAS.get(name, set())
        roots.append(req)
    return roots


def closure(
    roots: Iterable[Requirement],
    resolved: Mapping[str, tuple[str, list[str]]],
    environment: Mapping[str, str],
    excluded: frozenset[str] = RUNTIME_PROVIDED,
) -> dict[str, str]:
    """name -> version of everything reachable from ``roots`` without passing through ``excluded``.

    ``resolved`` is pip's resolution (name -> (version, Requires-Dist)); markers, extras included, are
    evaluated for the target runtime, so a dependency that only boto3/botocore pull in is not shipped.
    """
    out: dict[str, str] = {}
    queue = [(canonicalize_name(r.name), set(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        key = (name, frozenset(extras))
        if name in excluded or key in seen or name not in resolved:
            continue
        seen.add(key)
        version, requires = resolved[name]
        out[name] = version
        for line in requires:
            req = Requirement(line)
            if req.marker is not None:
                wanted = extras or {""}
                if not any(Marker(str(req.marker)).evaluate({**environment, "extra": e}) for e in wanted):
                    continue
            queue.append((canonicalize_name(req.name), set(req.extras)))
    return out


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def _platform_args(python_version: str, platforms: tuple[str, ...]) -> list[str]:
    return [
        *(arg for p in platforms for arg in ("--platform", p)),
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
    ]


def resolve(
    roots: list[Requirement], python_version: str, platforms: tuple[str, ...]
) -> dict[str, tuple[str, list[str]]]:
    """pip's resolution of ``roots`` for the target platform (``--dry-run --report``: nothing installed)."""
    with tempfile.TemporaryDirectory(prefix="dcmms-layer-") as tmp:
        report = Path(tmp) / "report.json"
        _pip(
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--target",
            str(Path(tmp) / "target"),
            "--report",
            str(report),
            *_platform_args(python_version, platforms),
            *map(str, roots),
        )
        items = json.loads(report.read_text())["install"]
    return {
        canonicalize_name(i["metadata"]["name"]): (i["metadata"]["version"], i["metadata"].get("requires_dist", []))
        for i in items
    }


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _prune(site: Path) -> None:
    """Byte-code caches and console scripts: Lambda compiles on import and runs no scripts."""
    for pattern in _DROP:
        for found in list(site.rglob(pattern)):
            if found.is_dir():
                shutil.rmtree(found, ignore_errors=True)
            elif found.exists():
                found.unlink()


def build(
    python_version: str = PYTHON_VERSION, platforms: tuple[str, ...] = PLATFORMS, force: bool = False
) -> dict[str, object]:
    roots = root_requirements()
    # What the install depends on: the pinned roots and the target. Unchanged -> no pip, no network.
    inputs = hashlib.sha256(json.dumps([python_version, list(platforms), sorted(map(str, roots))]).encode()).hexdigest()
    previous = json.loads(STAMP.read_text()) if STAMP.is_file() else {}
    pins: list[str] = previous.get("packages", [])
    if force or previous.get("inputs") != inputs or not SITE_DIR.is_dir():
        STAMP.unlink(missing_ok=True)
        resolved = resolve(roots, python_version, platforms)
        packages = closure(roots, resolved, target_environment(python_version, platforms))
        pins = sorted(f"{name}=={version}" for name, version in packages.items())
        shutil.rmtree(SITE_DIR, ignore_errors=True)
        SITE_DIR.mkdir(parents=True)
        _pip(
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(SITE_DIR),
            *_platform_args(python_version, platforms),
            *pins,
        )
        _prune(SITE_DIR)
    dcmms = SITE_DIR / "dcmms"
    shutil.rmtree(dcmms, ignore_errors=True)
    shutil.copytree(SHARED_PACKAGE, dcmms, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    layer_bytes = directory_size(BUILD_DIR)
    function_bytes = directory_size(FUNCTIONS_DIR)
    summary: dict[str, object] = {
        "inputs": inputs,
        "python_version": python_version,
        "platforms": list(platforms),
        "packages": pins,
        "layer_bytes": layer_bytes,
        "function_bytes": function_bytes,
    }
    if layer_bytes + function_bytes > LAMBDA_LIMIT_BYTES:
        raise SystemExit(
            f"layer {layer_bytes / 2**20:.1f} MB + function code {function_bytes / 2**20:.1f} MB exceeds "
            f"Lambda's {LAMBDA_LIMIT_BYTES / 2**20:.0f} MB unzipped limit"
        )
    STAMP.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    parser.add_argument("--platform", action="append", help=f"wheel platform tag (repeatable; default {PLATFORMS})")
    parser.add_argument("--force", action="store_true", help="reinstall even if the resolved set is unchanged")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        parser.error("--python-version is major.minor, e.g. 3.12")
    summary = build(args.python_version, tuple(args.platform or PLATFORMS), args.force)
    print(
        f"layer {SITE_DIR.parent.relative_to(REPO_ROOT)}: {len(summary['packages'])} packages + dcmms for CPython "  # type: ignore[arg-type]
        f"{summary['python_version']} {'/'.join(summary['platforms'])}; unzipped {summary['layer_bytes'] / 2**20:.1f} MB "  # type: ignore[operator]
        f"(+ functions {summary['function_bytes'] / 2**10:.0f} KB) of Lambda's 250 MB"  # type: ignore[operator]
    )


if __name__ == "__main__":
    main()
