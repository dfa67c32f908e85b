"""CloudFront: spec §7.1 behaviours and TTLs, origin access control, TLS, headers, logging."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesis, only, render, resources

DAY = 86_400


def _distribution(synthesis: Synthesis, env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    template = synthesis.template(env, "service")
    return template, only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def _behaviours(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["PathPattern"]: b for b in config["CacheBehaviors"]}


def _policy(template: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    return template["Resources"][ref["Ref"]]["Properties"]


def _origin(config: dict[str, Any], origin_id: str) -> dict[str, Any]:
    return next(o for o in config["Origins"] if o["Id"] == origin_id)


@pytest.mark.parametrize(
    ("pattern", "default", "minimum", "maximum"),
    [("/static/*", DAY, 0, 365 * DAY), ("/images/*", 30 * DAY, DAY, 365 * DAY)],
)
def test_static_and_image_behaviours_use_the_s3_origin_with_spec_ttls(
    synthesis: Synthesis, pattern: str, default: int, minimum: int, maximum: int
) -> None:
    template, config = _distribution(synthesis, "prod")
    behaviour = _behaviours(config)[pattern]
    cache = _policy(template, behaviour["CachePolicyId"])["CachePolicyConfig"]
    assert (cache["DefaultTTL"], cache["MinTTL"], cache["MaxTTL"]) == (default, minimum, maximum)
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["Compress"] is True
    origin = _origin(config, behaviour["TargetOriginId"])
    assert "OriginAccessControlId" in origin and origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    oac = only(template, "AWS::CloudFront::OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3" and oac["SigningBehavior"] == "always"


def test_static_bucket_admits_only_this_distribution(synthesis: Synthesis) -> None:
    template, _ = _distribution(synthesis, "prod")
    (distribution_id,) = resources(template, "AWS::CloudFront::Distribution")
    policy = next(
        p["Properties"]["PolicyDocument"]
        for k, p in resources(template, "AWS::S3::BucketPolicy").items()
        if k.startswith("EdgeStatic")
    )
    reads = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert reads and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in reads)
    for statement in reads:
        source = render(statement["Condition"]["StringEquals"]["AWS:SourceArn"])
        assert source.endswith(f":distribution/<{distribution_id}>")
    bucket = next(b for k, b in resources(template, "AWS::S3::Bucket").items() if k.startswith("EdgeStatic"))
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())


def test_api_behaviour_is_uncached_by_default_and_forwards_what_the_api_reads(synthesis: Synthesis) -> None:
    template, config = _distribution(synthesis, "prod")
    api = _behaviours(config)["/api/v1/*"]
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
    assert api["ViewerProtocolPolicy"] == "redirect-to-https" and api["Compress"] is True
    cache = _policy(template, api["CachePolicyId"])["CachePolicyConfig"]
    assert (cache["DefaultTTL"], cache["MinTTL"], cache["MaxTTL"]) == (0, 0, 3600)
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    # Authorization and x-api-key are in the cache key (CloudFront forbids Authorization in an origin
    # request policy): a response cached for one caller is never served to another.
    assert set(key["HeadersConfig"]["Headers"]) == {"Authorization", "x-api-key", "Accept"}
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    forwarded = _policy(template, api["OriginRequestPolicyId"])["OriginRequestPolicyConfig"]
    assert set(forwarded["HeadersConfig"]["Headers"]) == {"Content-Type", "If-Match", "If-None-Match"}
    assert forwarded["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert forwarded["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    assert "Authorization" not in forwarded["HeadersConfig"]["Headers"]
    origin = _origin(config, api["TargetOriginId"])
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    assert ".execute-api." in render(origin["DomainName"])


def test_tls_minimum_with_the_custom_certificate_and_https_everywhere(synthesis: Synthesis) -> None:
    _, config = _distribution(synthesis, "prod")
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    assert config["Aliases"] == ["app.dcmms.example.com"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"redirect-to-https"}
    # without a certificate (dev), CloudFront's default *.cloudfront.net certificate is used
    _, dev = _distribution(synthesis, "dev")
    assert "ViewerCertificate" not in dev and "Aliases" not in dev


def test_access_logging_and_security_headers_on_every_behaviour(synthesis: Synthesis) -> None:
    template, config = _distribution(synthesis, "prod")
    assert config["Logging"]["Prefix"] == "cloudfront/"
    assert render(config["Logging"]["Bucket"]).startswith("<EdgeLogs")
    behaviours = {"/*": config["DefaultCacheBehavior"], **_behaviours(config)}
    policies = {pattern: b["ResponseHeadersPolicyId"]["Ref"] for pattern, b in behaviours.items()}
    # the web app's behaviours share its policy (tests/infra/test_webapp.py); the API keeps its own
    assert policies["/*"] == policies["/static/*"] == policies["/images/*"] != policies["/api/v1/*"]
    for policy_id in set(policies.values()):
        security = template["Resources"][policy_id]["Properties"]["ResponseHeadersPolicyConfig"][
            "SecurityHeadersConfig"
        ]
        assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * DAY
        assert security["StrictTransportSecurity"]["IncludeSubdomains"] is True
        assert security["ContentTypeOptions"]["Override"] is True
        assert security["FrameOptions"]["FrameOption"] == "DENY"
        assert security["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    api = template["Resources"][policies["/api/v1/*"]]["Properties"]["ResponseHeadersPolicyConfig"]
    assert api["SecurityHeadersConfig"]["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * DAY


def test_default_behaviour_serves_the_web_app_shell_from_the_bucket(synthesis: Synthesis) -> None:
    template, config = _distribution(synthesis, "prod")
    default = config["DefaultCacheBehavior"]
    static = _behaviours(config)["/static/*"]
    # the same origin (the static bucket, through origin access control) and cache policy as /static/*: the
    # objects' own Cache-Control decides (index.html and config.json no-cache, hashed chunks a year)
    assert default["TargetOriginId"] == static["TargetOriginId"]
    assert default["CachePolicyId"] == static["CachePolicyId"]
    assert default["AllowedMethods"] == ["GET", "HEAD"] and default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultRootObject"] == "index.html"
    # the SPA router runs on the default behaviour only (the others never see an app route)
    (association,) = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function_id = association["FunctionARN"]["Fn::GetAtt"][0]
    assert template["Resources"][function_id]["Type"] == "AWS::CloudFront::Function"
    assert all("FunctionAssociations" not in b for b in config["CacheBehaviors"])
    # no distribution-wide error responses: a 403/404 of the API must stay the API's own (problem+json)
    assert "CustomErrorResponses" not in config
