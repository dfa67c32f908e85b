"""The layer build's choices, without the network: what is shipped, for which runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from layers import build


def test_roots_are_pyprojects_dependencies_without_boto3_and_botocore() -> None:
    roots = {r.name: r for r in build.root_requirements()}
    assert "boto3" not in roots and "botocore" not in roots
    assert {"fastapi", "pynamodb", "psycopg", "redis", "orjson"} <= set(roots)
    assert "tracer" in roots["aws-lambda-powertools"].extras  # X-Ray is on in AWS
    assert "binary" in roots["psycopg"].extras


def test_closure_leaves_out_what_only_the_runtime_provided_packages_need() -> None:
    # given pip's resolution: pynamodb needs botocore, which alone needs urllib3; pydantic needs its core
    resolved = {
        "pynamodb": ("6.1.0", ["botocore>=1.12.54", 'typing-extensions>=4; python_version < "3.11"']),
        "botocore": ("1.44.8", ["urllib3>=1.25.4", "jmespath<2"]),
        "urllib3": ("2.5.0", []),
        "jmespath": ("1.1.0", []),
        "pydantic": ("2.14.4", ["pydantic-core==2.50.5", 'email-validator>=2; extra == "email"']),
        "pydantic-core": ("2.50.5", []),
        "email-validator": ("2.3.0", []),
        "redis": ("6.4.0", ['hiredis>=3; extra == "hiredis"']),
        "hiredis": ("3.5.0", []),
        "typing-extensions": ("4.16.0", []),
    }
    roots = [Requirement("pynamodb==6.1.0"), Requirement("pydantic==2.14.4"), Requirement("redis[hiredis]==6.4.0")]
    # when the shipped set is computed for Python 3.12
    shipped = build.closure(roots, resolved, build.target_environment("3.12"))
    # then botocore's own dependencies, unrequested extras and markers for older Pythons are left out
    assert shipped == {
        "pynamodb": "6.1.0",
        "pydantic": "2.14.4",
        "pydantic-core": "2.50.5",
        "redis": "6.4.0",
        "hiredis": "3.5.0",
    }


def test_target_is_cpython_3_12_on_arm64_linux_matching_the_functions() -> None:
    from cdk import functions

    env = build.target_environment()
    assert (env["python_version"], env["platform_machine"], env["sys_platform"]) == ("3.12", "aarch64", "linux")
    assert functions.LAYER_PYTHON_VERSION == build.PYTHON_VERSION
    assert all(p.endswith("_aarch64") for p in build.PLATFORMS)


def test_directory_size_counts_files(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y" * 5)
    assert build.directory_size(tmp_path) == 15


# -- the extras' layers (reports) -------------------------------------------------------------------------------


def test_the_reports_extra_gets_a_layer_of_its_own_beside_the_base_one() -> None:
    assert build.extra_layers() == ("reports",)
    roots = {r.name: r for r in build.extra_requirements("reports")}
    assert set(roots) == {"reportlab", "openpyxl"}
    assert all(str(r.specifier).startswith("==") for r in roots.values())  # pinned, as the base roots
    assert build.layer_build_dir("base") == build.BUILD_DIR
    assert build.layer_build_dir("reports") == build.REPO_ROOT / "layers" / "build-reports"
    assert build.layer_stamp("reports") == build.layer_build_dir("reports") / "layer.json"
    with pytest.raises(SystemExit, match="no extra"):
        build.extra_requirements("nonexistent")


def test_an_extras_layer_ships_only_what_the_base_layer_does_not() -> None:
    # given pip's resolution of the extra against the base pins: reportlab needs pillow and charset-normalizer,
    # which the base layer already ships; openpyxl needs et-xmlfile; pydantic's "email" extra is new
    resolved = {
        "reportlab": ("5.1.0", ["pillow>=9", "charset-normalizer"]),
        "pillow": ("11.0.0", []),
        "charset-normalizer": ("3.4.0", []),
        "openpyxl": ("3.1.5", ["et-xmlfile"]),
        "et-xmlfile": ("2.0.0", []),
        "pydantic": ("2.14.4", ["pydantic-core==2.50.5", 'email-validator>=2; extra == "email"']),
        "pydantic-core": ("2.50.5", []),
        "email-validator": ("2.3.0", ["botocore"]),
        "botocore": ("1.44.8", []),
    }
    roots = [Requirement("reportlab==5.1.0"), Requirement("openpyxl==3.1.5"), Requirement("pydantic[email]")]
    base = ["charset_normalizer", "pydantic", "pydantic-core"]  # names as pins spell them
    # when the extra's packages are computed
    shipped = build.extra_packages(roots, resolved, build.target_environment(), base)
    # then the base layer's packages (any spelling) and the runtime's are left out, an extra of a base package kept
    assert shipped == {
        "reportlab": "5.1.0",
        "pillow": "11.0.0",
        "openpyxl": "3.1.5",
        "et-xmlfile": "2.0.0",
        "email-validator": "2.3.0",
    }


class _FakePip:
    """Stands in for pip: a resolution from a table, and installs that write one file of ``sizes[name]`` bytes."""

    def __init__(self, resolved: dict[str, tuple[str, list[str]]], sizes: dict[str, int]) -> None:
        self.resolved, self.sizes = resolved, sizes
        self.resolutions: list[list[str]] = []
        self.installs: list[list[str]] = []

    def resolve(
        self, roots: list[Requirement], python_version: str, platforms: tuple[str, ...]
    ) -> dict[str, tuple[str, list[str]]]:
        self.resolutions.append(sorted(str(r) for r in roots))
        return self.resolved

    def pip(self, *args: str) -> None:
        target = Path(args[args.index("--target") + 1])
        pins = [a for a in args if "==" in a]
        self.installs.append(pins)
        for pin in pins:
            name = pin.split("==")[0]
            (target / name).mkdir(parents=True, exist_ok=True)
            (target / name / "__init__.py").write_bytes(b"x" * self.sizes.get(name, 10))


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, _FakePip]:
    shared = tmp_path / "shared" / "dcmms"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "handler.py").write_bytes(b"f" * 100)
    monkeypatch.setattr(build, "BUILD_DIR", tmp_path / "layers" / "build")
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(build, "SHARED_PACKAGE", shared)
    monkeypatch.setattr(build, "FUNCTIONS_DIR", functions)
    monkeypatch.setattr(build, "root_requirements", lambda: [Requirement("orjson==3.11.0")])
    monkeypatch.setattr(build, "extra_requirements", lambda extra: [Requirement("reportlab==5.1.0")])
    fake = _FakePip(
        {
            "orjson": ("3.11.0", []),
            "reportlab": ("5.1.0", ["pillow", "orjson"]),
            "pillow": ("11.0.0", []),
        },
        {"orjson": 1000, "reportlab": 3000, "pillow": 2000},
    )
    monkeypatch.setattr(build, "resolve", fake.resolve)
    monkeypatch.setattr(build, "_pip", fake.pip)
    return tmp_path, fake


def test_build_makes_both_layers_and_counts_them_together_against_the_limit(
    fake_repo: tuple[Path, _FakePip], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, fake = fake_repo
    # when both layers are built
    summaries = build.build()
    # then the base layer holds its packages and dcmms, the reports layer only what the base does not ship
    base_site, reports_site = root / "layers" / "build" / "python", root / "layers" / "build-reports" / "python"
    assert sorted(p.name for p in base_site.iterdir()) == ["dcmms", "orjson"]
    assert sorted(p.name for p in reports_site.iterdir()) == ["pillow", "reportlab"]
    # the extra was resolved against the base layer's exact pins
    assert fake.resolutions[1] == ["orjson==3.11.0", "reportlab==5.1.0"]
    base, reports = summaries["base"], summaries["reports"]
    assert reports["packages"] == ["pillow==11.0.0", "reportlab==5.1.0"]
    assert reports["layer_bytes"] == 5000 and reports["function_bytes"] == 100
    assert reports["total_bytes"] == base["layer_bytes"] + 5000 + 100
    assert json.loads(build.layer_stamp("reports").read_text())["total_bytes"] == reports["total_bytes"]
    assert (root / "layers" / "build-reports" / ".gitignore").read_text() == "*\n"
    assert "with the base layer and the function code" in build.describe("reports", reports)
    # and a rebuild with unchanged inputs runs no pip at all
    installs = len(fake.installs)
    build.build()
    assert len(fake.installs) == installs and len(fake.resolutions) == 2
    # when the reports layer would take a function past 250 MB together with the base layer and the code
    monkeypatch.setattr(build, "LAMBDA_LIMIT_BYTES", reports["total_bytes"] - 1)
    for stamp in (build.layer_stamp("base"), build.layer_stamp("reports")):
        stamp.unlink()
    with pytest.raises(SystemExit, match="base layer \\+ reports layer \\+ function code"):
        build.build()
    # then neither layer is stamped as built
    assert not build.layer_stamp("base").exists() and not build.layer_stamp("reports").exists()


def test_each_layer_is_staged_built_or_as_a_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cdk import assets

    # given a built base layer and an unbuilt reports layer
    monkeypatch.setattr(build, "BUILD_DIR", tmp_path / "layers" / "build")
    (build.layer_build_dir("base") / "python").mkdir(parents=True)
    build.layer_stamp("base").write_text("{}")
    # when the code is staged (auto)
    staged = assets.stage_code(tmp_path / "staging")
    # then the base layer is the build, the reports layer a placeholder (flagged), base first
    assert list(staged.layer_dirs) == ["base", "reports"]
    assert staged.layer_dirs["base"] == build.layer_build_dir("base")
    assert staged.placeholder_layers == {"reports"}
    assert (staged.layer_dirs["reports"] / "python" / "PLACEHOLDER.txt").is_file()
    # and asking for built layers only fails, naming the missing one
    with pytest.raises(FileNotFoundError, match="build-reports"):
        assets.stage_code(tmp_path / "staging", "built")
