"""The user pool: email sign-in by invitation, the tenant attribute no one can write through the app, a group per
role, the web client, optional TOTP, threat protection in production, the pre-token-generation trigger, and
federation when an environment lists identity providers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk import config
from dcmms.catalogue import by_name
from dcmms.domain.model import Role
from tests.infra.conftest import Synthesis, acknowledgments, function_by_name, only, render, resources

ENVS = ("dev", "prod")


def _pool(synthesis: Synthesis, env: str) -> tuple[str, dict[str, Any]]:
    (pool_id, pool), *more = resources(synthesis.template(env, "service"), "AWS::Cognito::UserPool").items()
    assert not more
    return pool_id, pool


@pytest.mark.parametrize("env", ENVS)
def test_people_sign_in_by_email_when_invited_with_a_strong_password(synthesis: Synthesis, env: str) -> None:
    _, pool = _pool(synthesis, env)
    p = pool["Properties"]
    assert p["UserPoolName"] == f"dcmms-{env}-people"
    assert p["UsernameAttributes"] == ["email"] and p["UsernameConfiguration"] == {"CaseSensitive": False}
    assert p["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up: admins invite
    assert p["AutoVerifiedAttributes"] == ["email"]
    assert p["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireUppercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": 3,
        "PasswordHistorySize": 5,
    }
    # recovery by email only, and no SMS anywhere
    assert p["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    assert "SmsConfiguration" not in p
    assert not [r for r in resources(synthesis.template(env, "service"), "AWS::IAM::Role") if "smsRole" in r]


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_is_an_immutable_attribute_the_web_client_cannot_write(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    _, pool = _pool(synthesis, env)
    schema = {a["Name"]: a for a in pool["Properties"]["Schema"]}
    assert schema["tenant_id"]["AttributeDataType"] == "String" and schema["tenant_id"]["Mutable"] is False
    client = only(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert "custom:tenant_id" in client["ReadAttributes"]
    assert client["WriteAttributes"] == ["email"]


@pytest.mark.parametrize("env", ENVS)
def test_one_group_per_role_from_the_domain(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    pool_id, _ = _pool(synthesis, env)
    groups = [g["Properties"] for g in resources(template, "AWS::Cognito::UserPoolGroup").values()]
    assert sorted(g["GroupName"] for g in groups) == sorted(r.value for r in Role)
    assert all(g["UserPoolId"] == {"Ref": pool_id} for g in groups)
    admin = next(g for g in groups if g["GroupName"] == "admin")
    assert admin["Precedence"] == min(g["Precedence"] for g in groups)


@pytest.mark.parametrize("env", ENVS)
def test_web_client_has_no_secret_short_tokens_and_hides_who_exists(synthesis: Synthesis, env: str) -> None:
    client = only(synthesis.template(env, "service"), "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["ClientName"] == "web" and client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
    ]
    assert client["PreventUserExistenceErrors"] == "ENABLED" and client["EnableTokenRevocation"] is True
    units = client["TokenValidityUnits"]
    assert (client["IdTokenValidity"], units["IdToken"]) == (15, "minutes")
    assert (client["AccessTokenValidity"], units["AccessToken"]) == (15, "minutes")
    assert (client["RefreshTokenValidity"], units["RefreshToken"]) == (12 * 60, "minutes")
    # no provider configured (cdk.json): the pool's own sign-in only, no OAuth flow, no domain
    assert client["SupportedIdentityProviders"] == ["COGNITO"] and client["AllowedOAuthFlowsUserPoolClient"] is False
    assert not resources(synthesis.template(env, "service"), "AWS::Cognito::UserPoolDomain")


@pytest.mark.parametrize("env", ENVS)
def test_mfa_is_optional_by_totp_only(synthesis: Synthesis, env: str) -> None:
    _, pool = _pool(synthesis, env)
    assert pool["Properties"]["MfaConfiguration"] == "OPTIONAL"
    assert pool["Properties"]["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_threat_protection_and_plan_per_environment(synthesis: Synthesis) -> None:
    _, dev = _pool(synthesis, "dev")
    _, prod = _pool(synthesis, "prod")
    assert prod["Properties"]["UserPoolTier"] == "PLUS"
    assert prod["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}  # full function
    # Essentials: the least plan that sends V2_0 pre-token events; threat protection off (cost)
    assert dev["Properties"]["UserPoolTier"] == "ESSENTIALS" and "UserPoolAddOns" not in dev["Properties"]
    assert "AwsSolutions-COG8" in acknowledgments(synthesis, "dcmms-dev-us-west-2-service")
    assert "AwsSolutions-COG8" not in acknowledgments(synthesis, "dcmms-prod-us-west-2-service")
    for env in ENVS:
        ((_, reason),) = acknowledgments(synthesis, f"dcmms-{env}-us-west-2-service")["AwsSolutions-COG2"]
        assert "TOTP" in reason


def test_production_keeps_its_people(synthesis: Synthesis) -> None:
    _, dev = _pool(synthesis, "dev")
    _, prod = _pool(synthesis, "prod")
    assert prod["Properties"]["DeletionProtection"] == "ACTIVE"
    assert (prod["DeletionPolicy"], prod["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert dev["Properties"].get("DeletionProtection", "INACTIVE") == "INACTIVE" and dev["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize("env", ENVS)
def test_pre_token_generation_trigger_v2_is_the_catalogue_function(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    pool_id, pool = _pool(synthesis, env)
    fn_id, fn = function_by_name(template, "pretoken")
    assert fn["Properties"]["Handler"] == by_name("pretoken").handler
    config_ = pool["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert config_ == {"LambdaArn": {"Fn::GetAtt": [fn_id, "Arn"]}, "LambdaVersion": "V2_0"}
    (permission,) = [
        r["Properties"]
        for r in resources(template, "AWS::Lambda::Permission").values()
        if r["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert permission["SourceArn"] == {"Fn::GetAtt": [pool_id, "Arn"]}  # this pool only


@pytest.mark.parametrize("env", ENVS)
def test_pool_client_and_domain_are_outputs(synthesis: Synthesis, env: str) -> None:
    outputs = synthesis.template(env, "service")["Outputs"]
    pool_id, _ = _pool(synthesis, env)
    by_value = {render(o["Value"]): name for name, o in outputs.items()}
    assert by_value[f"<{pool_id}>"].startswith("IdentityUserPoolId")
    assert any(name.startswith("IdentityUserPoolClientId") for name in outputs)
    assert not any(name.startswith("IdentityUserPoolDomain") for name in outputs)  # no provider, no domain


# -- federation (an environment that lists identity providers) ----------------------------------------------------

PROVIDERS = [
    {
        "tenant_id": "helios-solar",
        "name": "HeliosAD",
        "type": "saml",
        "metadata_url": "https://login.helios.example.com/federationmetadata.xml",
    },
    {
        "tenant_id": "boreas-wind",
        "name": "Boreas-Okta",
        "type": "oidc",
        "issuer_url": "https://boreas.okta.example.com",
        "client_id": "0oa-dcmms",
        "client_secret_name": "dcmms/idp/boreas-okta",
    },
]
FEDERATED = {
    "network": {"nat_gateways": 1},
    "cognito": {
        "identity_providers": PROVIDERS,
        "callback_urls": ["https://app.dcmms.example.com/signed-in"],
        "logout_urls": ["https://app.dcmms.example.com/"],
    },
}


def _federated_config(**cognito: Any) -> config.DeploymentConfig:
    dcmms = config.read_cdk_json_context()["dcmms"]
    overrides = {**FEDERATED, "cognito": {**FEDERATED["cognito"], **cognito}}
    return config.load({"dcmms": dcmms, "dcmms:overrides:dev": overrides}, "dev", "us-west-2")


@pytest.fixture(scope="module")
def federated() -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The Identity and Network constructs of a development environment with two tenants' providers."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    from cdk.identity import Identity
    from cdk.network import Network

    cfg = _federated_config()
    app = App()
    stack = Stack(app, "federated")
    pretoken = lambda_.Function(
        stack,
        "Pretoken",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
    )
    identity = Identity(stack, "Identity", cfg=cfg, pretoken=pretoken)
    network_stack = Stack(app, "network")
    Network(network_stack, "Network", cfg=cfg)
    assembly = app.synth()
    return (
        assembly.get_stack_by_name("federated").template,
        assembly.get_stack_by_name("network").template,
        identity,
    )


def test_each_configured_provider_is_federated_into_the_pool(federated) -> None:
    template, _, _ = federated
    providers = {
        p["Properties"]["ProviderName"]: p["Properties"]
        for p in resources(template, "AWS::Cognito::UserPoolIdentityProvider").values()
    }
    assert set(providers) == {"HeliosAD", "Boreas-Okta"}
    saml, oidc = providers["HeliosAD"], providers["Boreas-Okta"]
    assert saml["ProviderType"] == "SAML"
    assert saml["ProviderDetails"]["MetadataURL"] == PROVIDERS[0]["metadata_url"]
    assert saml["AttributeMapping"] == {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"}
    assert oidc["ProviderType"] == "OIDC"
    assert oidc["ProviderDetails"]["oidc_issuer"] == PROVIDERS[1]["issuer_url"]
    assert oidc["ProviderDetails"]["client_id"] == "0oa-dcmms"
    # the secret is a dynamic reference CloudFormation resolves at deploy time, never a value in the template
    assert (
        oidc["ProviderDetails"]["client_secret"] == "{{resolve:secretsmanager:dcmms/idp/boreas-okta:SecretString:::}}"
    )
    # no provider may assert a tenant: the tenant is the trigger's, from the configuration
    for provider in providers.values():
        assert set(provider["AttributeMapping"]) == {"email"}


def test_the_web_client_signs_people_in_through_their_provider(federated) -> None:
    template, _, _ = federated
    client = only(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert sorted(client["SupportedIdentityProviders"]) == sorted(["COGNITO", "HeliosAD", "Boreas-Okta"])
    assert client["AllowedOAuthFlowsUserPoolClient"] is True and client["AllowedOAuthFlows"] == ["code"]
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert client["CallbackURLs"] == ["https://app.dcmms.example.com/signed-in"]
    assert client["LogoutURLs"] == ["https://app.dcmms.example.com/"]
    assert client["WriteAttributes"] == ["email"]  # the providers' mapped attribute, and nothing else
    domain = only(template, "AWS::Cognito::UserPoolDomain")["Properties"]
    assert domain["Domain"] == "dcmms-dev"  # the environment's prefix
    assert any(name.startswith("IdentityUserPoolDomain") for name in template["Outputs"])


def test_the_trigger_learns_each_providers_tenant(federated) -> None:
    _, _, identity = federated
    assert identity.provider_tenants == {"HeliosAD": "helios-solar", "Boreas-Okta": "boreas-wind"}
    assert json.loads(json.dumps(identity.provider_tenants)) == identity.provider_tenants


def test_with_a_pool_domain_cognito_is_reached_through_nat_not_its_endpoint(federated) -> None:
    """Cognito's VPC endpoint serves no pool that has a domain, so none is created and NAT carries those calls."""
    _, network, _ = federated
    services = {
        render(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1]
        for e in resources(network, "AWS::EC2::VPCEndpoint").values()
    }
    assert "cognito-idp" not in services and "apigateway" in services
    assert resources(network, "AWS::EC2::NatGateway")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"network": {"nat_gateways": 0}}, "nat_gateways >= 1"),
        ({"cognito": {"callback_urls": []}}, "callback_urls"),
        ({"cognito": {"callback_urls": ["http://app.example.com/"]}}, "must be https"),
        ({"cognito": {"identity_providers": [PROVIDERS[0] | {"metadata_url": None}]}}, "needs metadata_url"),
        ({"cognito": {"identity_providers": [PROVIDERS[1] | {"client_secret_name": ""}]}}, "client_secret_name"),
        ({"cognito": {"identity_providers": [PROVIDERS[0], PROVIDERS[0]]}}, "unique"),
        ({"cognito": {"identity_providers": [PROVIDERS[0] | {"name": "Acme_AD"}]}}, "letters, digits or hyphens"),
        ({"cognito": {"identity_providers": [PROVIDERS[0] | {"tenant_id": ""}]}}, "tenant_id"),
        ({"cognito": {"identity_providers": [PROVIDERS[0] | {"type": "ldap"}]}}, "not one of"),
        ({"cognito": {"domain_prefix": "my-cognito-pool"}}, "domain_prefix"),
    ],
)
def test_federation_settings_that_cannot_deploy_are_refused(change: dict[str, Any], message: str) -> None:
    dcmms = config.read_cdk_json_context()["dcmms"]
    overrides = json.loads(json.dumps(FEDERATED))
    for block, values in change.items():
        overrides[block] = {**overrides[block], **values}
    # a JSON null does not survive the CDK context: drop the Nones as cdk.json would
    for provider in overrides["cognito"]["identity_providers"]:
        for key in [k for k, v in provider.items() if v is None]:
            del provider[key]
    with pytest.raises(config.ConfigError, match=message):
        config.load({"dcmms": dcmms, "dcmms:overrides:dev": overrides}, "dev", "us-west-2")


def test_threat_protection_is_on_in_production_only() -> None:
    context = {"dcmms": config.read_cdk_json_context()["dcmms"]}
    assert config.load(context, "prod", "eu-west-1").cognito.threat_protection is True
    assert config.load(context, "dev", "us-west-2").cognito.threat_protection is False
