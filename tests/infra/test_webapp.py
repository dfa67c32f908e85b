"""The web app behind CloudFront (cdk/webapp.py): the SPA router, its response headers, the deployments of the
build (Cache-Control, no pruning, the invalidation) and config.json.

The session's synthesis uses web/dist when it holds a build and the placeholder otherwise, so its assertions hold
either way; the placeholder and the key layout of a build are proven on a small stack of their own, against a
fake build in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cdk import webapp
from cdk.config import ConfigError
from tests.infra.conftest import REGION, Synthesis, acknowledgments, only, render, resources

STACK = f"dcmms-prod-{REGION}-service"
YEAR = 31_536_000


def _template(synthesis: Synthesis) -> dict[str, Any]:
    return synthesis.templates[STACK]


def _config(template: dict[str, Any]) -> dict[str, Any]:
    return only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def _deployments(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """destination key prefix ("" for the root) -> (logical id, properties) of each BucketDeployment."""
    found = {}
    for logical_id, res in resources(template, "Custom::CDKBucketDeployment").items():
        props = res["Properties"]
        prefix = props.get("DestinationBucketKeyPrefix", "")
        assert prefix not in found, f"two deployments into {prefix!r}"
        found[prefix] = (logical_id, props)
    return found


def _staged(outdir: Path, props: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """(staged asset directory, its markers) of each source of a deployment."""
    markers = props.get("SourceMarkers") or [{} for _ in props["SourceObjectKeys"]]
    return [
        (outdir / f"asset.{key.removesuffix('.zip')}", marks)
        for key, marks in zip(props["SourceObjectKeys"], markers, strict=True)
    ]


# -- the SPA router (CloudFront Function) ---------------------------------------------------------------


def _route(code: str, uris: list[str]) -> list[str]:
    """The URIs the function forwards, evaluated by Node (CloudFront's cloudfront-js-2.0 is ECMAScript 5.1+)."""
    node = shutil.which("node")
    assert node, "node is needed (jsii runs aws-cdk-lib on it)"
    harness = (
        code + "\nvar uris = JSON.parse(process.argv[1]);\n"
        "process.stdout.write(JSON.stringify(uris.map(function (uri) {\n"
        "  return handler({version: '1.0', context: {eventType: 'viewer-request'},\n"
        "                  request: {method: 'GET', uri: uri, querystring: {}, headers: {}, cookies: {}}}).uri;\n"
        "})));\n"
    )
    done = subprocess.run([node, "-e", harness, json.dumps(uris)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


APP_ROUTES = ["/", "/work-orders/123", "/work-orders/", "/sites/site-1/assets", "/sign-in", "/apis", "/wsx/1"]
PASSED_THROUGH = [
    "/static/assets/x.js",
    "/static/assets/index-DU3fod2Z.css",
    "/static/favicon.svg",
    "/api/v1/sites",
    "/api/v1/work-orders/wo-1",
    "/api",
    "/config.json",
    "/index.html",
    "/favicon.ico",
    "/images/site.png",
    "/ws",
    "/ws/live",
    "/static",
]


def test_spa_router_rewrites_app_routes_and_leaves_files_and_other_prefixes_alone(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    (function,) = resources(template, "AWS::CloudFront::Function").values()
    props = function["Properties"]
    assert props["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and props["AutoPublish"] is True
    assert props["FunctionCode"] == webapp.SPA_ROUTER_JS
    assert _route(props["FunctionCode"], APP_ROUTES) == ["/index.html"] * len(APP_ROUTES)
    assert _route(props["FunctionCode"], PASSED_THROUGH) == PASSED_THROUGH


def test_spa_router_runs_on_the_default_behaviour_at_viewer_request(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    (function_id,) = resources(template, "AWS::CloudFront::Function")
    associations = _config(template)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert associations == [
        {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [function_id, "FunctionARN"]}}
    ]


# -- response headers -----------------------------------------------------------------------------------


def _csp(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in directives, f"{name} twice"
        directives[name] = values
    return directives


def test_app_behaviours_send_a_strict_csp_hsts_and_no_framing(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    config = _config(template)
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    policy_id = config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"]
    assert policy_id.startswith("EdgeWebAppHeaders")
    assert {p: behaviours[p]["ResponseHeadersPolicyId"]["Ref"] for p in ("/static/*", "/images/*")} == {
        "/static/*": policy_id,
        "/images/*": policy_id,
    }
    assert behaviours["/api/v1/*"]["ResponseHeadersPolicyId"]["Ref"] != policy_id  # the API keeps its own
    security = template["Resources"][policy_id]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]

    csp = security["ContentSecurityPolicy"]
    assert csp["Override"] is True
    assert "unsafe-inline" not in csp["ContentSecurityPolicy"] and "unsafe-eval" not in csp["ContentSecurityPolicy"]
    directives = _csp(render(csp["ContentSecurityPolicy"]))
    (live,) = [r for r in resources(template, "AWS::ApiGatewayV2::Api") if "Live" in r]
    assert directives == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # the live updates' WebSocket, named (not every browser takes 'self' for ws:)
        "connect-src": [
            "'self'",
            f"https://cognito-idp.{REGION}.amazonaws.com",
            f"wss://<{live}>.execute-api.{REGION}.<AWS::URLSuffix>/ws",
        ],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
        "form-action": ["'self'"],
    }
    assert security["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 2 * 365 * 86_400,
        "IncludeSubdomains": True,
        "Preload": True,
        "Override": True,
    }
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "strict-origin-when-cross-origin", "Override": True}
    assert "XSSProtection" not in security  # obsolete; CSP replaces it


def test_the_live_websocket_is_admitted_and_named_only_when_the_stacks_have_one() -> None:
    assert "wss:" not in webapp.content_security_policy("eu-west-1")
    live = "wss://abc123.execute-api.eu-west-1.amazonaws.com/live"
    connect = _csp(webapp.content_security_policy("eu-west-1", live))["connect-src"]
    assert connect == ["'self'", "https://cognito-idp.eu-west-1.amazonaws.com", live]
    assert "live" not in webapp.runtime_config("eu-west-1", "pool", "client")
    assert webapp.runtime_config("eu-west-1", "pool", "client", live)["live"] == live


# -- the deployments ------------------------------------------------------------------------------------


def test_the_build_is_deployed_hashed_chunks_immutable_and_the_shell_uncached(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    deployments = _deployments(template)
    (static_bucket,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("EdgeStatic")]
    (distribution,) = resources(template, "AWS::CloudFront::Distribution")
    assert set(deployments) in ({"static/assets/", ""}, {"static/assets/", "static/", ""})
    for _, props in deployments.values():
        assert props["DestinationBucketName"] == {"Ref": static_bucket}
        # none prunes: at the root that would empty the bucket, under static/assets/ it would delete the chunks
        # that open tabs still load
        assert props["Prune"] is False

    assets_id, assets = deployments["static/assets/"]
    assert assets["SystemMetadata"] == {"cache-control": f"public, max-age={YEAR}, immutable"}
    assert "DistributionId" not in assets  # hashed names are never invalidated

    shell_id, shell = deployments[""]
    assert shell["SystemMetadata"] == {"cache-control": "no-cache"}
    assert shell["DistributionId"] == {"Ref": distribution}
    assert shell["DistributionPaths"] == ["/", "/index.html", "/config.json"]
    assert shell["WaitForDistributionInvalidation"] is True
    # the shell goes last: it must never name a chunk that is not uploaded yet
    waits_for = set(template["Resources"][shell_id].get("DependsOn", []))
    assert assets_id in waits_for
    if "static/" in deployments:  # web/public's unhashed files (favicon.svg), when the build has them
        public_id, public = deployments["static/"]
        assert public["SystemMetadata"] == {"cache-control": "no-cache"}  # unhashed names
        assert "DistributionId" not in public and public_id in waits_for

    # the /static/* behaviour passes the path to the bucket unchanged, so the chunks' keys are static/assets/...
    static = next(b for b in _config(template)["CacheBehaviors"] if b["PathPattern"] == "/static/*")
    origin = next(o for o in _config(template)["Origins"] if o["Id"] == static["TargetOriginId"])
    assert origin.get("OriginPath", "") == ""


def test_config_json_names_the_pool_its_web_client_and_cognito(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    _, shell = _deployments(template)[""]
    sources = _staged(synthesis.outdir, shell)
    assert sorted(f.name for directory, _ in sources for f in directory.iterdir()) == ["config.json", "index.html"]
    (directory, markers) = next((d, m) for d, m in sources if (d / "config.json").exists())
    text = (directory / "config.json").read_text()
    for marker, value in markers.items():  # what the deployment's handler writes in at deploy time
        text = text.replace(marker, render(value))
    config = json.loads(text)
    (pool,) = resources(template, "AWS::Cognito::UserPool")
    (client,) = resources(template, "AWS::Cognito::UserPoolClient")
    assert config == {
        "cognito": {
            "region": REGION,
            "user_pool_id": f"<{pool}>",
            "client_id": f"<{client}>",
            "endpoint": f"https://cognito-idp.{REGION}.amazonaws.com/",
        },
        "api": "",
        "live": f"wss://<{next(iter(resources(template, 'AWS::ApiGatewayV2::Api')))}>.execute-api.{REGION}.<AWS::URLSuffix>/ws",
    }


def test_the_deployment_handler_findings_are_acknowledged_precisely(synthesis: Synthesis) -> None:
    template = _template(synthesis)
    (static_bucket,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("EdgeStatic")]
    on_handler = {
        rule
        for rule, places in acknowledgments(synthesis, STACK).items()
        for path, reason in places
        if "/Custom::CDKBucketDeployment" in path and reason.strip()
    }
    assert on_handler == {
        "AwsSolutions-L1",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        f"AwsSolutions-IAM5[Resource::<{static_bucket}.Arn>/*]",
        f"AwsSolutions-IAM5[Resource::arn:aws:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-{REGION}/*]",
        "AwsSolutions-IAM5[Resource::*]",
        *(f"AwsSolutions-IAM5[Action::s3:{a}*]" for a in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")),
    }
    # Resource::* covers the invalidation actions and nothing else
    (policy,) = [p for k, p in resources(template, "AWS::IAM::Policy").items() if "CDKBucketDeployment" in k]
    anywhere = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Resource"] == "*"]
    assert [sorted(s["Action"]) for s in anywhere] == [["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"]]


def test_the_stack_warns_exactly_when_it_deploys_the_placeholder(synthesis: Synthesis) -> None:
    _, shell = _deployments(_template(synthesis))[""]
    (page,) = [d / "index.html" for d, _ in _staged(synthesis.outdir, shell) if (d / "index.html").exists()]
    warnings = [str(a["data"]) for a in synthesis.annotations[STACK] if a["type"] == "aws:cdk:warning"]
    warned = any("dcmms:placeholder-web" in w for w in warnings)
    assert warned is ("PLACEHOLDER" in page.read_text())


# -- a small stack: the placeholder, and where a build's files go ---------------------------------------


def _small_stack(outdir: Path, dist: Path, context: dict[str, str] | None = None) -> tuple[Any, webapp.WebApp]:
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_cloudfront as cloudfront
    from aws_cdk import aws_cloudfront_origins as origins
    from aws_cdk import aws_cognito as cognito
    from aws_cdk import aws_s3 as s3

    from cdk import config

    app = App(outdir=str(outdir), context=context or {})
    stack = Stack(app, "WebAppTest", env=Environment(region=REGION))
    cfg = config.load(config.read_cdk_json_context(), "dev", REGION)
    bucket = s3.Bucket(stack, "Static")
    distribution = cloudfront.Distribution(
        stack,
        "Distribution",
        default_behavior=cloudfront.BehaviorOptions(origin=origins.S3BucketOrigin.with_origin_access_control(bucket)),
    )
    pool = cognito.UserPool(stack, "Pool")
    web = webapp.WebApp(
        stack,
        "WebApp",
        cfg=cfg,
        bucket=bucket,
        distribution=distribution,
        user_pool=pool,
        client=pool.add_client("Web"),
        dist=dist,
    )
    return stack, web


def _fake_build(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<script type="module" src="/static/assets/index-AbC123.js"></script>')
    (dist / "assets" / "index-AbC123.js").write_text("export {};\n")
    (dist / "assets" / "index-DeF456.css").write_text("body{}\n")
    (dist / "favicon.svg").write_text("<svg/>")
    return dist


def _synth(stack: Any) -> tuple[dict[str, Any], Path]:
    from aws_cdk import Stage

    assembly = Stage.of(stack).synth()  # type: ignore[union-attr]
    return assembly.get_stack_by_name(stack.stack_name).template, Path(assembly.directory)


def test_a_build_goes_to_static_assets_static_and_the_root(tmp_path: Path) -> None:
    stack, web = _small_stack(tmp_path / "out", _fake_build(tmp_path))
    assert web.placeholder is False
    template, outdir = _synth(stack)
    files = {
        prefix: sorted(f.name for directory, _ in _staged(outdir, props) for f in directory.iterdir())
        for prefix, (_, props) in _deployments(template).items()
    }
    assert files == {
        "static/assets/": ["index-AbC123.js", "index-DeF456.css"],
        "static/": ["favicon.svg"],
        "": ["config.json", "index.html"],
    }


def test_without_a_build_the_app_is_a_placeholder_with_a_warning(tmp_path: Path) -> None:
    from aws_cdk.assertions import Annotations, Match

    stack, web = _small_stack(tmp_path / "out", tmp_path / "no-dist")
    assert web.placeholder is True
    Annotations.from_stack(stack).has_warning("/WebAppTest/WebApp", Match.string_like_regexp("PLACEHOLDER"))
    template, outdir = _synth(stack)
    deployments = _deployments(template)
    assert set(deployments) == {"static/assets/", ""}  # both deployments exist, the public one has nothing
    _, shell = deployments[""]
    (page,) = [d / "index.html" for d, _ in _staged(outdir, shell) if (d / "index.html").exists()]
    assert "PLACEHOLDER" in page.read_text() and "npm --prefix web run build" in page.read_text()


def test_dcmms_web_context_forces_the_placeholder_or_requires_a_build(tmp_path: Path) -> None:
    dist = _fake_build(tmp_path)
    _, web = _small_stack(tmp_path / "a", dist, {"dcmms:web": "placeholder"})
    assert web.placeholder is True
    with pytest.raises(ConfigError, match="npm --prefix web run build"):
        _small_stack(tmp_path / "b", tmp_path / "no-dist", {"dcmms:web": "built"})
    with pytest.raises(ConfigError, match="dcmms:web"):
        _small_stack(tmp_path / "c", dist, {"dcmms:web": "yes"})
