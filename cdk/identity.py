"""Identity: the environment's Cognito user pool, where people sign in (integrations and devices keep API keys).

- **Sign-in by email** (the user name), case-insensitive; no self sign-up: an admin of a tenant invites people
  (the management API, or ``aws cognito-idp admin-create-user``: docs/deploy.md), Cognito emails a temporary
  password valid for 3 days. Account recovery by (verified) email only: no SMS anywhere in the pool.
- **The tenant** is the immutable custom attribute ``tenant_id``: set when a person is created, never changed,
  and not writable through the web client (its write attributes are the email alone). **The role** is the
  person's group: one group per ``dcmms.domain.model.Role``, surfaced as ``cognito:groups``.
- **The web client** has no secret (a browser cannot keep one): SRP sign-in (the web app), password sign-in
  (the CLI's ``dcmms token`` and the tests; the password travels over TLS to Cognito only) and refresh. ID and
  access tokens live 15 minutes and refresh tokens 12 hours: the API verifies tokens itself against the pool's
  keys, so a token cannot be recalled once issued; a short life bounds how long a removed group or a disabled
  person's token stays valid anywhere the API's own check of the person's standing does not reach, and 12 hours
  is a working shift, after which a person signs in again. User-existence errors are suppressed.
- **MFA** is optional, TOTP apps only (no SMS: its cost and SIM-swap risk); **threat protection** (full function,
  on the Plus plan) where ``cognito.threat_protection`` asks for it (production), else the Essentials plan, the
  least that allows the pre-token-generation trigger's V2_0 event.
- **The pre-token-generation trigger** (catalogue function ``pretoken``, event V2_0) writes ``custom:tenant_id``
  into the ID and the access token, from the person's attribute or, for a federated person, from their identity
  provider's tenant (``dcmms.gateway.pretoken``).
- **Federation**: each identity provider in ``cognito.identity_providers`` (SAML by metadata URL, OIDC by issuer
  and a client secret in Secrets Manager) is a provider of the pool that the web client supports, through the
  pool's hosted authorization endpoints on its Cognito domain (``<prefix>.auth.<region>.amazoncognito.com``).
  The domain exists only with providers: Cognito serves no request of a pool that has a domain through a VPC
  endpoint, which is how the API function reaches Cognito without NAT (cdk/network.py); an environment with
  providers needs NAT (enforced by cdk/config.py).
- **State**: retained, with deletion protection, in production (its people are not re-creatable); it lives in
  the service stack beside its trigger, under a logical id that must never change.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig, IdentityProviderConfig
from dcmms.domain.model import Role

TENANT_ATTRIBUTE = "tenant_id"  # custom:tenant_id in tokens and in the API
SAML_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
TOKEN_VALIDITY = Duration.minutes(15)
REFRESH_VALIDITY = Duration.hours(12)
TEMPORARY_PASSWORD_DAYS = 3
# Most privileged first: a group's precedence (lower wins) decides nothing in dCMMS (the API takes the most
# privileged group itself), but keeps the console's and Cognito's view of a person in two groups the same.
ROLE_ORDER = (Role.admin, Role.supervisor, Role.technician, Role.viewer)


class Identity(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, pretoken: lambda_.IFunction) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.pool = self._build_pool()
        self.pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, pretoken, cognito.LambdaVersion.V2_0
        )
        self.groups = {
            role: cognito.UserPoolGroup(
                self,
                f"Group-{role.value}",
                user_pool=self.pool,
                group_name=role.value,
                description=f"dCMMS {role.value}s: the role of everyone in this group, in their tenant",
                precedence=ROLE_ORDER.index(role),
            )
            for role in Role
        }
        self.providers = [self._build_provider(p) for p in cfg.cognito.identity_providers]
        # Provider name -> tenant: what the pre-token-generation trigger assigns a federated person.
        self.provider_tenants = {p.name: p.tenant_id for p in cfg.cognito.identity_providers}
        self.domain = (
            self.pool.add_domain(
                "Domain",
                cognito_domain=cognito.CognitoDomainOptions(domain_prefix=cfg.cognito.domain_prefix or cfg.prefix),
            )
            if self.providers
            else None
        )
        self.client = self._build_client()
        CfnOutput(self, "UserPoolId", value=self.pool.user_pool_id, description="Cognito user pool (people)")
        CfnOutput(self, "UserPoolClientId", value=self.client.user_pool_client_id, description="The web app's client")
        if self.domain is not None:
            CfnOutput(self, "UserPoolDomain", value=self.domain.base_url(), description="Hosted sign-in (federation)")
        self._acknowledge()

    def _build_pool(self) -> cognito.UserPool:
        cfg, plus = self.cfg, self.cfg.cognito.threat_protection
        return cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{cfg.prefix}-people",
            feature_plan=cognito.FeaturePlan.PLUS if plus else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION if plus else None,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            self_sign_up_enabled=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),  # a changed email takes effect once verified
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            custom_attributes={TENANT_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=128, mutable=False)},
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(TEMPORARY_PASSWORD_DAYS),
                password_history_size=5,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False, email=False),
            enable_sms_role=False,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="Your dCMMS account",
                email_body=(
                    "You have been invited to dCMMS. Sign in as {username} with the temporary password {####} "
                    f"within {TEMPORARY_PASSWORD_DAYS} days, then choose your own."
                ),
            ),
            deletion_protection=cfg.production,
            removal_policy=RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY,
        )

    def _build_provider(self, p: IdentityProviderConfig) -> cognito.UserPoolIdentityProviderBase:
        if p.type == "saml":
            assert p.metadata_url is not None  # cdk/config.py
            return cognito.UserPoolIdentityProviderSaml(
                self,
                f"Saml-{p.name}",
                user_pool=self.pool,
                name=p.name,
                metadata=cognito.UserPoolIdentityProviderSamlMetadata.url(p.metadata_url),
                attribute_mapping=cognito.AttributeMapping(
                    email=cognito.ProviderAttribute.other(p.email_attribute or SAML_EMAIL)
                ),
            )
        assert p.issuer_url and p.client_id and p.client_secret_name  # cdk/config.py
        return cognito.UserPoolIdentityProviderOidc(
            self,
            f"Oidc-{p.name}",
            user_pool=self.pool,
            name=p.name,
            issuer_url=p.issuer_url,
            client_id=p.client_id,
            # A dynamic reference, resolved by CloudFormation at deploy time: the secret is never in the template.
            client_secret=SecretValue.secrets_manager(p.client_secret_name).unsafe_unwrap(),
            scopes=["openid", "email"],
            attribute_request_method=cognito.OidcAttributeRequestMethod.GET,
            attribute_mapping=cognito.AttributeMapping(
                email=cognito.ProviderAttribute.other(p.email_attribute or "email")
            ),
        )

    def _build_client(self) -> cognito.UserPoolClient:
        cog = self.cfg.cognito
        supported = [cognito.UserPoolClientIdentityProvider.COGNITO] + [
            cognito.UserPoolClientIdentityProvider.custom(p.name) for p in cog.identity_providers
        ]
        client = self.pool.add_client(
            "WebClient",
            user_pool_client_name="web",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),  # + refresh, which Cognito always allows
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=TOKEN_VALIDITY,
            access_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_VALIDITY,
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes(TENANT_ATTRIBUTE),
            # Not custom:tenant_id: a person cannot move themselves to another tenant. (A federated person's email
            # is written from their provider's assertion, which needs it writable.)
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
            supported_identity_providers=supported,
            # Federation is OAuth's authorization-code flow through the pool's domain; without providers the
            # client has no OAuth flow at all (sign-in is the user pools API's SRP).
            disable_o_auth=not cog.identity_providers,
            o_auth=(
                cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(authorization_code_grant=True),
                    scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                    callback_urls=list(cog.callback_urls),
                    logout_urls=list(cog.logout_urls) or None,
                )
                if cog.identity_providers
                else None
            ),
        )
        for provider in self.providers:
            client.node.add_dependency(provider)  # the client names them: they must exist first
        return client

    def _acknowledge(self) -> None:
        nag.acknowledge(
            self.pool,
            "AwsSolutions-COG2",
            "MFA is optional, by TOTP app only: people are invited by their tenant's admins and enrol a second "
            "factor themselves; federated people's MFA is their own identity provider's; in production threat "
            "protection (Plus) challenges risky sign-ins. API keys (integrations, devices) are not pool users.",
        )
        if not self.cfg.cognito.threat_protection:
            nag.acknowledge(
                self.pool,
                "AwsSolutions-COG8",
                f"{self.cfg.env_name} runs the Essentials plan (cognito.threat_protection off): Plus bills every "
                "monthly active user with no free tier, for threat protection that test people do not need. "
                "Production runs Plus with full-function threat protection.",
            )
