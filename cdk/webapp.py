"""The web app (web/, Vite) behind CloudFront: its files in the static bucket, its runtime configuration, the
CloudFront Function for its routes and its response headers.

**The build.** ``npm --prefix web run build`` writes ``web/dist``: ``index.html`` at the root, content-hashed
chunks under ``assets/``, and ``web/public``'s few unhashed files (``favicon.svg``) at the root. Vite's base is
``/static/``, so the browser asks for ``/static/assets/<name>-<hash>.js`` and ``/static/favicon.svg``; CloudFront's
``/static/*`` behaviour passes the path to the bucket unchanged, so those objects are stored under the same keys
(``static/assets/...``, ``static/favicon.svg``). ``index.html`` and ``config.json`` are the bucket's root objects,
served by the default behaviour.

**Three BucketDeployments**, none pruning (a pruning deployment deletes what its sources lack under its prefix,
which at the root is the whole bucket, and under ``static/assets/`` the chunks that open tabs still load):

- ``Assets``: ``dist/assets`` → ``static/assets/``, ``public, max-age=31536000, immutable``. Old chunks stay.
- ``Public``: the other files of ``dist`` but ``index.html`` (web/public's, e.g. ``favicon.svg``) → ``static/``,
  ``no-cache``: their names carry no hash, so they are revalidated (as ``dcmms dev`` serves them). Only when the
  build has such files.
- ``Shell``: ``index.html`` and the generated ``config.json`` → the root, ``no-cache``, after the other two (a new
  shell must never reference a chunk that is not uploaded yet), then invalidates ``/``, ``/index.html`` and
  ``/config.json`` on the distribution (every app route is rewritten to ``/index.html`` before the cache lookup,
  so those three paths are every cached copy of the shell).

**Without a build** (tests/infra, CI before ``npm run build``) the app synthesizes against a PLACEHOLDER shell
(a page saying the app was not built, and no chunks) and the stack carries a warning; such a template must not be
deployed. The context key ``dcmms:web`` chooses: ``auto`` (the default: the build when ``web/dist/index.html``
exists, else the placeholder), ``built`` (the build, or synthesis fails: for deploy pipelines) or
``placeholder``.

**config.json** is what the app reads at start (``GET /config.json``): the user pool, its web client, region and
Cognito endpoint (the app signs in with SRP straight against Cognito), ``api`` (``""``: same origin, through
CloudFront's ``/api/v1/*``) and, when the stacks know one, ``live`` (the live-updates WebSocket URL, optional).
The pool's and client's ids are deploy-time values: the deployment's custom resource writes them into the object.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from cdk import nag
from cdk.config import REPO_ROOT, ConfigError, DeploymentConfig
from cdk.network import retention

WEB_DIST = REPO_ROOT / "web" / "dist"
ASSETS_DIR = "assets"  # Vite's build.assetsDir
STATIC_PREFIX = "static/"  # Vite's base (/static/), kept as the bucket key: no rewriting under /static/*
SHELL = "index.html"
CONFIG = "config.json"
IMMUTABLE = "public, max-age=31536000, immutable"
PUBLIC_FILES = "no-cache"  # unhashed names: revalidated
NO_CACHE = "no-cache"
INVALIDATED_PATHS = ("/", "/index.html", "/config.json")
HSTS_MAX_AGE = Duration.days(730)  # two years, includeSubDomains, preload

WebSource = Literal["auto", "built", "placeholder"]
WEB_SOURCES: tuple[WebSource, ...] = ("auto", "built", "placeholder")

# CloudFront Function (cloudfront-js-2.0), viewer request on the default behaviour: an app route (a path whose last
# segment has no file extension, outside /api/, /static/, /images/ and /ws) is the app shell, /index.html. It runs
# before the cache lookup, so every route shares the one cached shell. Files (/config.json, /favicon.ico) and the
# other prefixes pass unchanged; the other behaviours (/api/v1/*, /static/*, /images/*) never run it.
SPA_ROUTER_JS = """\
var PASS_THROUGH = /^\\/(?:api|static|images|ws)(?:\\/|$)/;
var FILE = /\\.[^\\/]*$/;

function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (!PASS_THROUGH.test(uri) && !FILE.test(uri)) {
    request.uri = '/index.html';
  }
  return request;
}
"""

PLACEHOLDER_SHELL = """\
<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>dCMMS</title></head>
  <body>
    <p>PLACEHOLDER: the dCMMS web app was not built when these stacks were synthesized
    (<code>npm --prefix web run build</code>, then synthesize and deploy again).</p>
  </body>
</html>
"""


def cognito_endpoint(region: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/"


def content_security_policy(region: str, live_url: str | None = None) -> str:
    """The app's CSP: its own scripts and styles only (no inline script or style), data: images, XHR/fetch to
    itself and Cognito (and the live WebSocket when there is one); never framed."""
    connect = ["'self'", cognito_endpoint(region).rstrip("/")]
    if live_url:
        connect.append(live_url)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(connect),
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "object-src 'none'",
            "form-action 'self'",
        ]
    )


def runtime_config(region: str, user_pool_id: str, client_id: str, live_url: str | None = None) -> dict[str, Any]:
    """config.json (tokens are filled in at deploy time by the deployment's custom resource)."""
    config: dict[str, Any] = {
        "cognito": {
            "region": region,
            "user_pool_id": user_pool_id,
            "client_id": client_id,
            "endpoint": cognito_endpoint(region),
        },
        "api": "",
    }
    if live_url:
        config["live"] = live_url
    return config


def spa_router(scope: Construct, id: str) -> cloudfront.Function:
    return cloudfront.Function(
        scope,
        id,
        comment="dCMMS web app: app routes to /index.html",
        code=cloudfront.FunctionCode.from_inline(SPA_ROUTER_JS),
        runtime=cloudfront.FunctionRuntime.JS_2_0,
    )


def security_headers(
    scope: Construct, id: str, *, region: str, live_url: str | None
) -> cloudfront.ResponseHeadersPolicy:
    """The response headers of the app's behaviours (default, /static/*, /images/*)."""
    return cloudfront.ResponseHeadersPolicy(
        scope,
        id,
        comment="dCMMS web app: CSP, HSTS, nosniff, referrer policy, no framing",
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=content_security_policy(region, live_url), override=True
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, preload=True, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
            ),
        ),
    )


def is_built(dist: Path) -> bool:
    return (dist / SHELL).is_file() and (dist / ASSETS_DIR).is_dir()


class WebApp(Construct):
    """The build (or its placeholder) and config.json in the static bucket, invalidated on deploy."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        bucket: s3.IBucket,
        distribution: cloudfront.IDistribution,
        user_pool: cognito.IUserPool,
        client: cognito.IUserPoolClient,
        live_url: str | None = None,
        dist: Path | None = None,
    ) -> None:
        """``dist``: the build's directory (default web/dist)."""
        super().__init__(scope, id)
        self.cfg = cfg
        dist = dist or WEB_DIST
        self.placeholder = not self._use_build(dist)
        self.config = runtime_config(cfg.region, user_pool.user_pool_id, client.user_pool_client_id, live_url)
        # One handler function serves every BucketDeployment of the stack (a singleton); its logs, kept as long
        # as the functions' own.
        self.log_group = logs.LogGroup(
            self,
            "DeployLogs",
            retention=retention(cfg.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        common: dict[str, Any] = {
            "destination_bucket": bucket,
            "prune": False,
            "log_group": self.log_group,
        }
        if self.placeholder:
            assets = [s3deploy.Source.data("PLACEHOLDER.txt", "The web app was not built: no chunks.\n")]
            shell = s3deploy.Source.data(SHELL, PLACEHOLDER_SHELL)
            public: list[Path] = []
        else:
            assets = [s3deploy.Source.asset(str(dist / ASSETS_DIR))]
            shell = s3deploy.Source.asset(str(dist), exclude=["*", f"!{SHELL}"])
            public = sorted(p for p in dist.iterdir() if p.name not in (SHELL, ASSETS_DIR))
        self.assets = s3deploy.BucketDeployment(
            self,
            "Assets",
            sources=assets,
            destination_key_prefix=f"{STATIC_PREFIX}{ASSETS_DIR}/",
            cache_control=[s3deploy.CacheControl.from_string(IMMUTABLE)],
            **common,
        )
        self.public = (
            s3deploy.BucketDeployment(
                self,
                "Public",
                sources=[s3deploy.Source.asset(str(dist), exclude=[SHELL, ASSETS_DIR])],
                destination_key_prefix=STATIC_PREFIX,
                cache_control=[s3deploy.CacheControl.from_string(PUBLIC_FILES)],
                **common,
            )
            if public
            else None
        )
        self.shell = s3deploy.BucketDeployment(
            self,
            "Shell",
            sources=[shell, s3deploy.Source.json_data(CONFIG, self.config)],
            cache_control=[s3deploy.CacheControl.from_string(NO_CACHE)],
            distribution=distribution,
            distribution_paths=list(INVALIDATED_PATHS),
            **common,
        )
        self.shell.node.add_dependency(self.assets)
        if self.public is not None:
            self.shell.node.add_dependency(self.public)
        self._acknowledge(bucket)

    def _use_build(self, dist: Path) -> bool:
        mode = self.node.try_get_context("dcmms:web") or "auto"
        if mode not in WEB_SOURCES:
            raise ConfigError(f"dcmms:web {mode!r}: one of {', '.join(WEB_SOURCES)}")
        built = is_built(dist)
        if mode == "built" and not built:
            raise ConfigError(
                f"dcmms:web=built but {dist} holds no build (index.html and assets/): run `npm --prefix web run build`"
            )
        if mode == "placeholder" or not built:
            why = "-c dcmms:web=placeholder" if built else f"{dist} holds no build (index.html and assets/)"
            Annotations.of(self).add_warning_v2(
                "dcmms:placeholder-web",
                f"The web app is a PLACEHOLDER (a page saying it was not built, no chunks): {why}. Run "
                "`npm --prefix web run build` before synthesizing a template to deploy; never deploy this one.",
            )
            return False
        return True

    def _acknowledge(self, bucket: s3.IBucket) -> None:
        """cdk-nag's findings on the BucketDeployment handler: CDK's own singleton function (its runtime pinned by
        aws-cdk-lib) and the grants BucketDeployment gives its role, which these stacks cannot narrow (it adds them
        itself, to its own role or to one passed in). A wildcard resource not named here fails synthesis."""
        role = self.assets.handler_role
        handler = role.node.scope  # the singleton function that owns its ServiceRole
        assert handler is not None
        nag.acknowledge(
            handler,
            "AwsSolutions-L1",
            "CDK's BucketDeployment handler (one per stack): aws-cdk-lib pins its runtime and moves it forward with "
            "the library, together with the AWS CLI layer it runs.",
        )
        nag.acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            nag.BASIC_LAMBDA_POLICY,
        )
        static_objects = nag.finding_resource(self, bucket.arn_for_objects("*"))
        for resource in _wildcard_resources(role):
            if resource == static_objects:
                reason = (
                    "The deployments write the build into the static bucket (content-hashed names, known only when "
                    "the app is built); the handler writes no other bucket."
                )
            elif resource == "*":
                reason = (
                    "cloudfront:CreateInvalidation and GetInvalidation, granted by BucketDeployment on *: the handler "
                    "invalidates the one distribution the Shell deployment names (/, /index.html, /config.json)."
                )
            elif resource.endswith("/*") and "-assets-" in resource:
                reason = (
                    "The handler reads the deployments' zipped sources from the CDK bootstrap assets bucket of this "
                    "account and region (object keys are content hashes): read only."
                )
            else:
                raise ValueError(f"BucketDeployment handler: unexpected wildcard resource {resource!r}")
            nag.acknowledge(role, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
        for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"):
            nag.acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's read grant (assets bucket) and read-write grant (static bucket) to the BucketDeployment "
                "handler, on those two buckets only. No deployment here prunes, so it deletes nothing.",
            )


def _wildcard_resources(role: iam.IRole) -> list[str]:
    """The role's resources ending in ``*``, written as cdk-nag writes them in a finding (cdk/nag.py's renderer
    does not take the Fn::Sub the synthesizer names its assets bucket with)."""
    policy = role.node.try_find_child("DefaultPolicy")
    if not isinstance(policy, iam.Policy):
        return []
    document = Stack.of(role).resolve(policy.document.to_json())
    found: list[str] = []
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        found += [r for r in map(_render, resources) if r.endswith("*") and r not in found]
    return found


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    ((fn, arg),) = value.items()
    if fn == "Fn::Sub":
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", arg)
    if fn == "Fn::Join":
        return arg[0].join(_render(part) for part in arg[1])
    if fn == "Ref":
        return f"<{arg}>"
    if fn == "Fn::GetAtt":
        return f"<{arg[0]}.{arg[1]}>"
    raise ValueError(f"cannot write {value!r} as a cdk-nag finding")
