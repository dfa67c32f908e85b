"""Build the Lambda layers: runtime dependencies as manylinux wheels for the target runtime, plus ``dcmms``.

    .venv/bin/python -m layers.build            # layers/build/python/ and layers/build-<extra>/python/, then sizes

No Docker: pip resolves and installs binary wheels for the Lambda platform (``--platform manylinux2014_aarch64
--only-binary=:all: --python-version 3.12 --implementation cp``), whatever machine runs the build.
The dependencies are pyproject.toml's ``[project].dependencies`` minus boto3 and botocore — the Lambda
runtime ships both, and anything only they need (s3transfer, urllib3, ...) is left out as well — plus
Powertools' ``tracer`` extra, because the stacks turn X-Ray tracing on (``DCMMS_TRACING``). A stamp of the
pinned roots lets a rebuild with unchanged inputs skip pip (and the network); ``dcmms`` is copied afresh
every time.

Beside that base layer, one layer per extra of pyproject's that a catalogue function names as its ``layer``
(``reports``: ReportLab and openpyxl) in ``layers/build-<extra>/python/``: the extra's closure for the same
platform, resolved against the base layer's exact pins, MINUS every package the base layer already ships (and
boto3/botocore). A function with such a layer gets both, base first (cdk/functions.py); Lambda extracts them
into the same /opt, so a package in both would be two copies with the later one's files winning. The extra's
stamp also records the base pins, so a changed base layer rebuilds it.
Fails if a function's unzipped layers and code together exceed Lambda's 250 MB limit: the base layer with the
function code, and each extra's layer with the base layer and the function code.
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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_LAYER = "base"  # dcmms.catalogue.FunctionSpec.layer of the functions that need nothing more
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


def layer_build_dir(layer: str) -> Path:
    """Where a layer is built: layers/build/ for the base layer, layers/build-<extra>/ for an extra's."""
    return BUILD_DIR if layer == BASE_LAYER else BUILD_DIR.with_name(f"build-{layer}")


def layer_stamp(layer: str) -> Path:
    """Written once the layer is complete (its inputs and packages); absent: not built."""
    return layer_build_dir(layer) / "layer.json"


def extra_layers() -> tuple[str, ...]:
    """The extras' layers the catalogue's functions use, in name order."""
    from dcmms.catalogue import FUNCTIONS

    return tuple(sorted({f.layer for f in FUNCTIONS} - {BASE_LAYER}))


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


def extra_requirements(extra: str, pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[Requirement]:
    """The roots of an extra's layer: pyproject's ``[project.optional-dependencies].<extra>``, minus what the
    runtime provides."""
    extras = tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {})
    if extra not in extras:
        raise SystemExit(f"a catalogue function uses layer {extra!r}, which pyproject.toml has no extra for")
    roots = [Requirement(line) for line in extras[extra]]
    return [r for r in roots if canonicalize_name(r.name) not in RUNTIME_PROVIDED]


def extra_packages(
    roots: Iterable[Requirement],
    resolved: Mapping[str, tuple[str, list[str]]],
    environment: Mapping[str, str],
    base_packages: Iterable[str],
) -> dict[str, str]:
    """What an extra's layer ships: the closure of its roots (through base packages too, so that an extra of a
    base package the base layer did not request is not lost), minus the base layer's packages."""
    shipped_by_base = {canonicalize_name(name) for name in base_packages}
    found = closure(roots, resolved, environment)
    return {name: version for name, version in found.items() if name not in shipped_by_base}


def _pin_names(pins: Iterable[str]) -> list[str]:
    return [canonicalize_name(pin.split("==", 1)[0]) for pin in pins]


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


def _install(
    site: Path,
    stamp: Path,
    inputs: str,
    force: bool,
    python_version: str,
    platforms: tuple[str, ...],
    packages: Callable[[], dict[str, str]],
) -> list[str]:
    """The pinned packages in ``site`` (``packages()`` resolves them): reinstalled when the inputs changed,
    else the previous build's pins (no pip, no network)."""
    previous = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if not force and previous.get("inputs") == inputs and site.is_dir():
        return list(previous.get("packages", []))
    stamp.unlink(missing_ok=True)
    pins = sorted(f"{name}=={version}" for name, version in packages().items())
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    if pins:
        _pip(
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            *_platform_args(python_version, platforms),
            *pins,
        )
    _prune(site)
    return pins


def _inputs(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def build(
    python_version: str = PYTHON_VERSION, platforms: tuple[str, ...] = PLATFORMS, force: bool = False
) -> dict[str, dict[str, object]]:
    """Build the base layer and every extra's layer the catalogue uses; layer name -> its summary (the stamp)."""
    environment = target_environment(python_version, platforms)
    roots = root_requirements()
    # What the install depends on: the pinned roots and the target. Unchanged -> no pip, no network.
    base_inputs = _inputs(python_version, list(platforms), sorted(map(str, roots)))

    def base_packages() -> dict[str, str]:
        return closure(roots, resolve(roots, python_version, platforms), environment)

    base_dir = layer_build_dir(BASE_LAYER)
    site = base_dir / "python"
    base_pins = _install(site, layer_stamp(BASE_LAYER), base_inputs, force, python_version, platforms, base_packages)
    dcmms = site / "dcmms"
    shutil.rmtree(dcmms, ignore_errors=True)
    shutil.copytree(SHARED_PACKAGE, dcmms, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    function_bytes = directory_size(FUNCTIONS_DIR)
    base_bytes = directory_size(site)
    summaries: dict[str, dict[str, object]] = {
        BASE_LAYER: {
            "inputs": base_inputs,
            "python_version": python_version,
            "platforms": list(platforms),
            "packages": base_pins,
            "layer_bytes": base_bytes,
            "function_bytes": function_bytes,
            "total_bytes": base_bytes + function_bytes,
        }
    }
    for extra in extra_layers():
        extra_roots = extra_requirements(extra)
        # The base layer's exact pins constrain the resolution: what the extra shares with it is what it ships.
        inputs = _inputs(python_version, list(platforms), sorted(map(str, extra_roots)), base_pins)

        def packages(extra_roots: list[Requirement] = extra_roots) -> dict[str, str]:
            resolved = resolve([*map(Requirement, base_pins), *extra_roots], python_version, platforms)
            return extra_packages(extra_roots, resolved, environment, _pin_names(base_pins))

        build_dir = layer_build_dir(extra)
        pins = _install(build_dir / "python", layer_stamp(extra), inputs, force, python_version, platforms, packages)
        # layers/build-<extra>/ is no `build/` directory for .gitignore: it ignores itself, as tool caches do.
        (build_dir / ".gitignore").write_text("*\n")
        layer_bytes = directory_size(build_dir / "python")
        summaries[extra] = {
            "inputs": inputs,
            "python_version": python_version,
            "platforms": list(platforms),
            "packages": pins,
            "layer_bytes": layer_bytes,
            "base_bytes": base_bytes,
            "function_bytes": function_bytes,
            "total_bytes": base_bytes + layer_bytes + function_bytes,
        }
    for name, summary in summaries.items():
        total = int(summary["total_bytes"])  # type: ignore[call-overload]
        if total > LAMBDA_LIMIT_BYTES:
            parts = "base layer + function code" if name == BASE_LAYER else f"base layer + {name} layer + function code"
            raise SystemExit(
                f"{parts}: {total / 2**20:.1f} MB exceeds Lambda's {LAMBDA_LIMIT_BYTES / 2**20:.0f} MB unzipped limit"
            )
    # Stamped only once every combination fits: an oversized layer is never taken for a built one.
    for name, summary in summaries.items():
        layer_stamp(name).write_text(json.dumps(summary, indent=2) + "\n")
    return summaries


def describe(name: str, summary: Mapping[str, object]) -> str:
    """One line of ``main``'s report for a layer."""
    mb = 2**20
    where = layer_build_dir(name).relative_to(REPO_ROOT)
    packages = len(summary["packages"])  # type: ignore[arg-type]
    layer = int(summary["layer_bytes"]) / mb  # type: ignore[call-overload]
    total = int(summary["total_bytes"]) / mb  # type: ignore[call-overload]
    if name == BASE_LAYER:
        what = f"{packages} packages + dcmms for CPython {summary['python_version']} {'/'.join(summary['platforms'])}"  # type: ignore[arg-type]
        counted = "with the function code"
    else:
        what = f"{packages} packages of the '{name}' extra not in the base layer"
        counted = "with the base layer and the function code"
    return f"layer {where}: {what}; unzipped {layer:.1f} MB, {total:.1f} MB {counted} of Lambda's 250 MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    parser.add_argument("--platform", action="append", help=f"wheel platform tag (repeatable; default {PLATFORMS})")
    parser.add_argument("--force", action="store_true", help="reinstall even if the resolved set is unchanged")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        parser.error("--python-version is major.minor, e.g. 3.12")
    summaries = build(args.python_version, tuple(args.platform or PLATFORMS), args.force)
    for name, summary in summaries.items():
        print(describe(name, summary))


if __name__ == "__main__":
    main()
