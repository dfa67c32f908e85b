"""Edge: CloudFront in front of the web app (S3, origin access control) and the API (spec §7.1).

Behaviours and TTLs are the spec's: ``/static/*`` 1 day default, 1 year max; ``/images/*`` 30 days
default, 1 day min, 1 year max; ``/api/v1/*`` not cached by default (0), 1 hour max, every method. The default
behaviour (``/*``) is the web app's shell: a CloudFront Function rewrites its routes to ``/index.html``; the
objects' own ``Cache-Control`` (set by the deployment, cdk/webapp.py) decides how long anything is cached within
those TTLs (``index.html``/``config.json`` ``no-cache``, hashed chunks a year). The app's behaviours (default,
``/static/*``, ``/images/*``) send its security headers (strict CSP, HSTS two years with preload, no framing);
the API keeps its own response headers policy.

Headers for the API: CloudFront refuses ``Authorization`` in an origin request policy (it must be part of
the cache key so that a cached response is never served to another caller), so ``Authorization``,
``x-api-key`` and ``Accept`` are in the API cache policy — which forwards them and keys any cached response
by them — and the origin request policy forwards ``Content-Type``, the conditional-request headers the API
honours (``If-Match``, ``If-None-Match``) and every query string.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk import nag, webapp
from cdk.config import DeploymentConfig
from cdk.identity import Identity

API_PATTERN = "/api/v1/*"
STATIC_PATTERN = "/static/*"
IMAGES_PATTERN = "/images/*"
API_CACHE_KEY_HEADERS = ("Authorization", "x-api-key", "Accept")
API_FORWARDED_HEADERS = ("Content-Type", "If-Match", "If-None-Match")


class Edge(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        rest_api: apigw.RestApi,
        identity: Identity,
        live_url: str | None = None,
    ) -> None:
        """``live_url``: the live-updates WebSocket (``wss://...``), when the stacks have one: the app's CSP
        admits it (connect-src) and config.json names it (``live``)."""
        super().__init__(scope, id)
        self.cfg = cfg
        self.live_url = live_url
        removal = RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY
        self.logs = s3.Bucket(
            self,
            "Logs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging writes with ACLs.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(max(90, cfg.log_retention_days)))],
            removal_policy=removal,
        )
        nag.acknowledge(self.logs, "AwsSolutions-S1", nag.LOG_BUCKET)
        self.static = s3.Bucket(
            self,
            "Static",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="static-bucket/",
            removal_policy=removal,
        )
        self.distribution = self._build_distribution(rest_api)
        self.web_app = webapp.WebApp(
            self,
            "WebApp",
            cfg=cfg,
            bucket=self.static,
            distribution=self.distribution,
            user_pool=identity.pool,
            client=identity.client,
            live_url=live_url,
        )
        CfnOutput(
            self, "DistributionId", value=self.distribution.distribution_id, description="for tools/invalidate.py"
        )
        CfnOutput(self, "DistributionDomain", value=self.distribution.distribution_domain_name)
        CfnOutput(self, "StaticBucket", value=self.static.bucket_name)

    def _cache_policy(self, id: str, default: Duration, min_: Duration, max_: Duration) -> cloudfront.CachePolicy:
        return cloudfront.CachePolicy(
            self,
            id,
            comment=f"dCMMS {id}: spec §7.1 TTLs",
            default_ttl=default,
            min_ttl=min_,
            max_ttl=max_,
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )

    def _build_distribution(self, rest_api: apigw.RestApi) -> cloudfront.Distribution:
        headers = self._security_headers()  # the API's
        app_headers = webapp.security_headers(self, "WebAppHeaders", region=self.cfg.region, live_url=self.live_url)
        self.spa_router = webapp.spa_router(self, "SpaRouter")
        s3_origin = origins.S3BucketOrigin.with_origin_access_control(self.static)
        static = self._cache_policy("StaticCache", Duration.days(1), Duration.seconds(0), Duration.days(365))
        images = self._cache_policy("ImagesCache", Duration.days(30), Duration.days(1), Duration.days(365))
        api_cache = cloudfront.CachePolicy(
            self,
            "ApiCache",
            comment="dCMMS API: not cached unless the API says so; keyed by caller",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.hours(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list(*API_CACHE_KEY_HEADERS),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        api_requests = cloudfront.OriginRequestPolicy(
            self,
            "ApiRequests",
            comment="dCMMS API: body type, conditional requests and query strings to the origin",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*API_FORWARDED_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )

        def s3_behavior(
            policy: cloudfront.ICachePolicy, functions: list[cloudfront.FunctionAssociation] | None = None
        ) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=s3_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                compress=True,
                cache_policy=policy,
                response_headers_policy=app_headers,
                function_associations=functions,
            )

        edge = self.cfg.edge
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", edge.certificate_arn)
            if edge.certificate_arn
            else None
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{self.cfg.prefix} {self.cfg.region}",
            default_root_object="index.html",
            default_behavior=s3_behavior(
                static,
                [
                    cloudfront.FunctionAssociation(
                        function=self.spa_router, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                STATIC_PATTERN: s3_behavior(static),
                IMAGES_PATTERN: s3_behavior(images),
                API_PATTERN: cloudfront.BehaviorOptions(
                    origin=origins.RestApiOrigin(rest_api, read_timeout=Duration.seconds(30)),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                    compress=True,
                    cache_policy=api_cache,
                    origin_request_policy=api_requests,
                    response_headers_policy=headers,
                ),
            },
            domain_names=list(edge.domain_names) or None,
            certificate=certificate,
            # Both apply only with a custom certificate (the default one is fixed at TLSv1).
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            ssl_support_method=cloudfront.SSLMethod.SNI if certificate else None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass[edge.price_class.upper().replace("PRICECLASS_", "PRICE_CLASS_")],
            enable_logging=True,
            log_bucket=self.logs,
            log_file_prefix="cloudfront/",
            web_acl_id=edge.web_acl_arn,
        )
        if certificate is None:
            nag.acknowledge(
                distribution,
                "AwsSolutions-CFR4",
                f"No custom domain in {self.cfg.env_name} (edge.certificate_arn unset): the default *.cloudfront.net "
                "certificate fixes the viewer policy at TLSv1. With a certificate the policy is TLSv1.2_2021.",
            )
        if edge.web_acl_arn is None:
            nag.acknowledge(
                distribution,
                "AwsSolutions-CFR2",
                "A CLOUDFRONT-scope web ACL must live in us-east-1 and is supplied as edge.web_acl_arn; the API "
                "origin is protected meanwhile by the regional WAF on its stage.",
            )
        nag.acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Users are in every spec region (us-west, us-east, eu-west, ap-south); spec §7.1: geo_restriction none.",
        )
        return distribution

    def _security_headers(self) -> cloudfront.ResponseHeadersPolicy:
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="dCMMS security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, preload=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy="default-src 'self'; frame-ancestors 'none'; object-src 'none'",
                    override=False,
                ),
            ),
        )
