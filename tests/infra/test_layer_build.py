"""The layer build's choices, without the network: what is shipped, for which runtime."""

from __future__ import annotations

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
