"""The code assets the functions use: the dependency layers and the ``functions/`` package.

No Docker and no bundling: each asset is a directory prepared here and handed to ``Code.from_asset``.

Every function has the base layer, ``layers/build/`` once ``python -m layers.build`` has filled it (third-party
wheels for the Lambda runtime plus ``dcmms``); a function whose catalogue ``layer`` names an extra of pyproject's
(``reports``) also has that extra's layer, ``layers/build-<extra>/`` (only what the base layer does not ship),
after the base one. A layer that has not been built is replaced by a PLACEHOLDER (the base one holds only the
``dcmms`` package, an extra's holds nothing but a note), so that synthesis and the infra tests need neither the
network nor a build; such a template must not be deployed (the functions could not import their
dependencies), and the stack carries a warning saying so. ``make synth`` builds the layers first.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aws_cdk import aws_lambda as lambda_

from cdk.config import REPO_ROOT
from layers.build import BASE_LAYER, extra_layers, layer_build_dir, layer_stamp

SHARED_PACKAGE = REPO_ROOT / "shared" / "dcmms"
FUNCTIONS_PACKAGE = REPO_ROOT / "functions"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
# Build bookkeeping that is no part of a layer (the stamp, the build directory's own .gitignore).
_LAYER_EXCLUDE = ["layer.json", ".gitignore"]

LayerSource = Literal["auto", "built", "placeholder"]


@dataclass(frozen=True)
class CodeAssets:
    layers: Mapping[str, lambda_.Code]  # "base" first, then the extras' layers
    functions: lambda_.Code
    placeholder_layers: frozenset[str]


@dataclass(frozen=True)
class StagedCode:
    """The prepared directories; ``assets()`` wraps them anew for each stack (a Code belongs to one stack)."""

    layer_dirs: Mapping[str, Path]  # layer name -> directory holding python/
    functions_dir: Path
    placeholder_layers: frozenset[str]

    def assets(self) -> CodeAssets:
        return CodeAssets(
            layers={
                name: lambda_.Code.from_asset(str(d), exclude=_LAYER_EXCLUDE) for name, d in self.layer_dirs.items()
            },
            functions=lambda_.Code.from_asset(str(self.functions_dir)),
            placeholder_layers=self.placeholder_layers,
        )


def _fresh_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=_IGNORE)


def _placeholder(staging_dir: Path, name: str) -> Path:
    """PLACEHOLDER layers: the base one holds only dcmms, an extra's a note. Good for synthesis and tests, not
    for deploys."""
    if name == BASE_LAYER:
        layer_dir = staging_dir / "layer-placeholder"
        _fresh_copy(SHARED_PACKAGE, layer_dir / "python" / "dcmms")
        return layer_dir
    layer_dir = staging_dir / f"layer-placeholder-{name}"
    site = layer_dir / "python"
    site.mkdir(parents=True, exist_ok=True)
    (site / "PLACEHOLDER.txt").write_text(
        f"Placeholder of the '{name}' dependency layer: run `python -m layers.build` before deploying.\n"
    )
    return layer_dir


def stage_code(staging_dir: Path, layer_source: LayerSource = "auto") -> StagedCode:
    """Prepare the asset directories under ``staging_dir`` (inside the cloud assembly)."""
    functions_root = staging_dir / "functions-code"
    # The asset root must contain the ``functions`` package: handlers are "functions.api.handler...".
    _fresh_copy(FUNCTIONS_PACKAGE, functions_root / "functions")

    layer_dirs: dict[str, Path] = {}
    placeholders: set[str] = set()
    for name in (BASE_LAYER, *extra_layers()):
        # layers/build.py writes the stamp once a layer is complete; its absence means "not built".
        built = layer_stamp(name).is_file()
        if layer_source == "built" and not built:
            raise FileNotFoundError(f"{layer_stamp(name)} is missing: run `python -m layers.build` first")
        if layer_source == "built" or (layer_source == "auto" and built):
            layer_dirs[name] = layer_build_dir(name)
        else:
            layer_dirs[name] = _placeholder(staging_dir, name)
            placeholders.add(name)
    return StagedCode(layer_dirs, functions_root, frozenset(placeholders))
