"""tools/invalidate.py against a stubbed CloudFront client (botocore Stubber: no network)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tools import invalidate

DISTRIBUTION = "E2EXAMPLE123"


@pytest.fixture
def cloudfront():
    client = boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _response(invalidation_id: str, paths: list[str]) -> dict:
    return {
        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{DISTRIBUTION}/invalidation/{invalidation_id}",
        "Invalidation": {
            "Id": invalidation_id,
            "Status": "InProgress",
            "CreateTime": "2026-11-28T12:00:00Z",
            "InvalidationBatch": {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": "r"},
        },
    }


def test_creates_one_invalidation_for_the_given_paths(cloudfront) -> None:
    client, stubber = cloudfront
    paths = ["/static/app.js", "/images/*", "/api/v1/sites/*"]
    stubber.add_response(
        "create_invalidation",
        _response("I1ABC", paths),
        {
            "DistributionId": DISTRIBUTION,
            "InvalidationBatch": {"Paths": {"Quantity": 3, "Items": paths}, "CallerReference": ANY},
        },
    )
    assert invalidate.create_invalidation(client, DISTRIBUTION, paths) == "I1ABC"


def test_cli_takes_paths_from_argv_and_prints_the_id(cloudfront, capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = cloudfront
    stubber.add_response(
        "create_invalidation",
        _response("I2XYZ", ["/static/a%20b.css"]),
        {
            "DistributionId": DISTRIBUTION,
            "InvalidationBatch": {
                "Paths": {"Quantity": 1, "Items": ["/static/a%20b.css"]},
                "CallerReference": ANY,
            },
        },
    )
    assert invalidate.main(["--distribution", DISTRIBUTION, "/static/a b.css", "/static/a b.css"], client=client) == 0
    assert capsys.readouterr().out.strip() == "I2XYZ"


def test_each_call_has_its_own_caller_reference(cloudfront) -> None:
    client, stubber = cloudfront
    seen: list[str] = []
    for invalidation_id in ("I1", "I2"):
        stubber.add_response("create_invalidation", _response(invalidation_id, ["/x"]))
    client.meta.events.register(
        "provide-client-params.cloudfront.CreateInvalidation",
        lambda params, **_: seen.append(params["InvalidationBatch"]["CallerReference"]),
    )
    invalidate.create_invalidation(client, DISTRIBUTION, ["/x"])
    invalidate.create_invalidation(client, DISTRIBUTION, ["/x"])
    assert len(set(seen)) == 2


@pytest.mark.parametrize(
    ("paths", "message"),
    [(["static/app.js"], "start with '/'"), ([], "at least one"), ([f"/p{i}/*" for i in range(16)], "wildcard")],
)
def test_unusable_paths_are_refused_before_calling_cloudfront(paths: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        invalidate.normalise(paths)


def test_cli_requires_a_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(invalidate.ENV_DISTRIBUTION, raising=False)
    with pytest.raises(SystemExit):
        invalidate.main(["/static/*"], client=object())
