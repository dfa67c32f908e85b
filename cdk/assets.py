"""The two code assets every function uses: the dependency layer and the ``functions/`` package.

No Docker and no bundling: each asset is a directory prepared here and handed to ``Code.from_asset``.

The layer is ``layers/build/`` when ``python -m layers.build`` has filled it (third-party wheels for the
Lambda runtime plus ``dcmms``). When it has not been built, a PLACEHOLDER layer holding only the ``dcmms``
package is staged instead, so that synthesis and the infra tests need neither the network nor a build;
such a template must not be deployed (the functions could not import their dependencies), and the stack
carries a warning saying so. ``make synth`` builds the layer first.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aws_cdk import aws_lambda as lambda_

from cdk.config import REPO_ROOT

LAYER_BUILD_DIR = REPO_ROOT / "layers" / "build"
# Written by layers/build.py once the layer is complete; its absence means "not built".
LAYER_STAMP = LAYER_BUILD_DIR / "layer.json"
SHARED_PACKAGE = REPO_ROOT / "shared" / "dcmms"
FUNCTIONS_PACKAGE = REPO_ROOT / "functions"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")

LayerSource = Literal["auto", "built", "placeholder"]


@dataclass(frozen=True)
class CodeAssets:
    layer: lambda_.Code
    functions: lambda_.Code
    layer_is_placeholder: bool


@dataclass(frozen=True)
class StagedCode:
    """The prepared directories; ``assets()`` wraps them anew for each stack (a Code belongs to one stack)."""

    layer_dir: Path
    functions_dir: Path
    layer_is_placeholder: bool

    def assets(self) -> CodeAssets:
        return CodeAssets(
            layer=lambda_.Code.from_asset(str(self.layer_dir), exclude=["layer.json"]),
            functions=lambda_.Code.from_asset(str(self.functions_dir)),
            layer_is_placeholder=self.layer_is_placeholder,
        )


def _fresh_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=_IGNORE)


def stage_code(staging_dir: Path, layer_source: LayerSource = "auto") -> StagedCode:
    """Prepare the asset directories under ``staging_dir`` (inside the cloud assembly)."""
    functions_root = staging_dir / "functions-code"
    # The asset root must contain the ``functions`` package: handlers are "functions.api.handler...".
    _fresh_copy(FUNCTIONS_PACKAGE, functions_root / "functions")

    built = LAYER_STAMP.is_file()
    if layer_source == "built" and not built:
        raise FileNotFoundError(f"{LAYER_STAMP} is missing: run `python -m layers.build` first")
    if layer_source == "built" or (layer_source == "auto" and built):
        layer_dir = LAYER_BUILD_DIR
        placeholder = False
    else:
        # PLACEHOLDER: only dcmms, none of its dependencies. Good for synthesis and tests, not for deploys.
        layer_dir = staging_dir / "layer-placeholder"
        _fresh_copy(SHARED_PACKAGE, layer_dir / "python" / "dcmms")
        placeholder = True
    return StagedCode(layer_dir, functions_root, placeholder)
