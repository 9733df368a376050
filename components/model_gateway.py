"""ModelGateway: API Management in front of the Azure OpenAI accounts, as one pool with circuit breakers."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_azure_native as azure_native
import pulumi_random as random

from components.azure_names import incarnation_name, name_suffix
from components.settings import AzureSettings, TrafficShare

TYPE = "ha-model-serving:azure:ModelGateway"
# Built-in "Cognitive Services OpenAI User": call inference APIs, nothing on the account itself.
OPENAI_USER_ROLE = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
COGNITIVE_SERVICES_AUDIENCE = "https://cognitiveservices.azure.com"
POOL_BACKEND_ID = "openai-pool"
API_PATH = "openai"
# The one read the model proxy sends (`GET /v1/models`); every other call is a POST under the API's path.
MODELS_PATH = "/v1/models"
# Azure OpenAI SDKs send their key in this header; the gateway's subscription key takes its place.
SUBSCRIPTION_KEY_HEADER = "api-key"
TOKEN_VARIABLE = "managed-id-access-token"
METRIC_NAMESPACE = "ha-model-serving"
# Dimensions the service fills in for an inbound token metric (policy reference, azure-openai-emit-token-metric).
TOKEN_METRIC_DIMENSIONS = ("Subscription ID", "API ID", "Location")
BACKEND_RESPONSES_METRIC = "Backend responses"
# API Management names are at most 50 characters (learn.microsoft.com/rest/api/apimanagement, serviceName).
MAX_SERVICE_NAME = 50
# API Management answers 503 itself, naming the pool, when every member's breaker is open: sending
# the request to the same pool again cannot succeed.
NAMES_THE_POOL = (
    "context.Response.StatusReason != null && "
    '(context.Response.StatusReason.Contains("Backend pool") || context.Response.StatusReason.Contains("is temporarily unavailable"))'
)
POOL_EXHAUSTED = f"context.Response != null && context.Response.StatusCode == 503 && {NAMES_THE_POOL}"
RETRYABLE = f"context.Response.StatusCode == 429 || (context.Response.StatusCode == 503 && !({NAMES_THE_POOL}))"


@dataclass(frozen=True)
class ModelGatewayArgs:
    """The API Management service to declare in front of the Azure OpenAI accounts.

    openai_account_ids, openai_endpoints and shares are keyed by Azure location; subscription_id is the
    Azure subscription whose built-in role definition the gateway's identity is granted.
    """

    resource_group_name: pulumi.Input[str]
    # Start of the service's name (global_name_prefix); a suffix drawn per incarnation completes it,
    # and the name becomes <name>.azure-api.net.
    service_name_prefix: str
    subscription_id: pulumi.Input[str]
    # Per Azure location: the Azure OpenAI account's resource id and its endpoint (https://<subdomain>.openai.azure.com/).
    openai_account_ids: Mapping[str, pulumi.Input[str]]
    openai_endpoints: Mapping[str, pulumi.Input[str]]
    shares: Mapping[str, TrafficShare]
    settings: AzureSettings
    tags: Mapping[str, str]


def tier_family(sku: str) -> str:
    """`v2` for BasicV2/StandardV2, `classic` otherwise: Azure cannot move a service between the two.

    Microsoft's v2 tiers FAQ: an existing classic instance cannot be migrated to a v2 tier; the v2 tiers
    run on another platform. A change of family is therefore treated as a new service, with a new name.
    """
    return "v2" if sku.endswith("V2") else "classic"


def iso_seconds(seconds: int) -> str:
    """An ISO 8601 duration, as API Management's breaker rules take it."""
    return f"PT{seconds}S"


def gateway_policy(pool_backend_id: str, pool_size: int, tokens_per_minute: int, retry_after_seconds: int) -> str:
    """The API's policy: managed identity to Azure OpenAI, the pool as backend, retries, token limits, metrics."""
    policies = ElementTree.Element("policies")

    inbound = ElementTree.SubElement(policies, "inbound")
    ElementTree.SubElement(inbound, "base")
    ElementTree.SubElement(
        inbound,
        "authentication-managed-identity",
        {"resource": COGNITIVE_SERVICES_AUDIENCE, "output-token-variable-name": TOKEN_VARIABLE, "ignore-error": "false"},
    )
    authorization = ElementTree.SubElement(inbound, "set-header", {"name": "Authorization", "exists-action": "override"})
    ElementTree.SubElement(authorization, "value").text = f'@("Bearer " + (string)context.Variables["{TOKEN_VARIABLE}"])'
    # The caller's subscription key must not travel on to Azure OpenAI.
    ElementTree.SubElement(inbound, "set-header", {"name": SUBSCRIPTION_KEY_HEADER, "exists-action": "delete"})
    ElementTree.SubElement(inbound, "set-backend-service", {"backend-id": pool_backend_id})
    ElementTree.SubElement(
        inbound,
        "azure-openai-token-limit",
        {
            "counter-key": "@(context.Subscription.Id)",
            "tokens-per-minute": str(tokens_per_minute),
            # Count what responses report rather than estimating prompts up front: no added latency.
            "estimate-prompt-tokens": "false",
            "remaining-tokens-header-name": "x-ratelimit-remaining-tokens",
            "tokens-consumed-header-name": "x-ratelimit-consumed-tokens",
        },
    )
    # Token metrics are an inbound-only policy, where no backend is chosen yet: only the dimensions the
    # service fills in there (TOKEN_METRIC_DIMENSIONS); which backend served is counted in outbound.
    metric = ElementTree.SubElement(inbound, "azure-openai-emit-token-metric", {"namespace": METRIC_NAMESPACE})
    for dimension in TOKEN_METRIC_DIMENSIONS:
        ElementTree.SubElement(metric, "dimension", {"name": dimension})

    backend = ElementTree.SubElement(policies, "backend")
    if pool_size > 1:
        # One more attempt per other pool member: the pool skips members whose breaker is open.
        backend = ElementTree.SubElement(
            backend, "retry", {"condition": f"@({RETRYABLE})", "count": str(pool_size - 1), "interval": "0", "first-fast-retry": "true"}
        )
    ElementTree.SubElement(backend, "forward-request", {"buffer-request-body": "true"})

    for section in ("outbound", "on-error"):
        element = ElementTree.SubElement(policies, section)
        ElementTree.SubElement(element, "base")
        if section == "outbound":
            _count_backend_responses(element)
        _exhausted_pool_as_throttling(element, retry_after_seconds)
    return ElementTree.tostring(policies, encoding="unicode")


def _count_backend_responses(outbound: ElementTree.Element) -> None:
    """One BACKEND_RESPONSES_METRIC per response, by the pool member that answered and its status code.

    `Backend ID` is filled in by the service only in the outbound section (policy reference, default
    dimensions of emit-metric), after the pool has picked a member.
    """
    metric = ElementTree.SubElement(outbound, "emit-metric", {"name": BACKEND_RESPONSES_METRIC, "value": "1", "namespace": METRIC_NAMESPACE})
    ElementTree.SubElement(metric, "dimension", {"name": "Backend ID"})
    ElementTree.SubElement(metric, "dimension", {"name": "Status code", "value": "@(context.Response.StatusCode.ToString())"})


def _exhausted_pool_as_throttling(section: ElementTree.Element, retry_after_seconds: int) -> None:
    """A 503 from an exhausted pool becomes 429 with Retry-After: client SDKs retry 429, after the breakers close."""
    when = ElementTree.SubElement(ElementTree.SubElement(section, "choose"), "when", {"condition": f"@({POOL_EXHAUSTED})"})
    response = ElementTree.SubElement(when, "return-response")
    ElementTree.SubElement(response, "set-status", {"code": "429", "reason": "Too Many Requests"})
    retry_after = ElementTree.SubElement(response, "set-header", {"name": "Retry-After", "exists-action": "override"})
    ElementTree.SubElement(retry_after, "value").text = str(retry_after_seconds)


class ModelGateway(pulumi.ComponentResource):
    """API Management with a managed identity, one breaker-guarded backend per account, a pool, the API and a subscription."""

    def __init__(self, name: str, args: ModelGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        # A service cannot move to another location or tier family: either is a new service, so either
        # draws a new suffix and the new service is created under its own name before the old one goes.
        self.name_suffix = name_suffix(
            f"{name}-apim",
            {"location": settings.primary_location, "tierFamily": tier_family(settings.apim_sku)},
            child,
        )
        self.service = self._service(name, args, self.name_suffix)
        in_service = {"resource_group_name": args.resource_group_name, "service_name": self.service.name}

        self.role_assignments = self._role_assignments(name, args)
        self.backends = self._backends(name, args, in_service)
        self.pool = azure_native.apimanagement.Backend(
            f"{name}-pool",
            **in_service,
            backend_id=POOL_BACKEND_ID,
            type="Pool",
            description="Every Azure OpenAI account, by priority and weight",
            pool=azure_native.apimanagement.BackendBaseParametersPoolArgs(
                services=[
                    azure_native.apimanagement.BackendPoolItemArgs(
                        id=backend.id, priority=args.shares[location].priority, weight=args.shares[location].weight
                    )
                    for location, backend in self.backends.items()
                ]
            ),
            opts=child,
        )

        self.api = azure_native.apimanagement.Api(
            f"{name}-openai",
            **in_service,
            api_id="openai",
            path=API_PATH,
            display_name="Azure OpenAI",
            description="Azure OpenAI inference across every configured location",
            protocols=["https"],
            subscription_required=True,
            subscription_key_parameter_names=azure_native.apimanagement.SubscriptionKeyParameterNamesContractArgs(
                header=SUBSCRIPTION_KEY_HEADER
            ),
            opts=child,
        )
        # Every inference call (chat, completions, embeddings, ...) is a POST under /openai; the pool decides where it goes.
        self.operation = azure_native.apimanagement.ApiOperation(
            f"{name}-openai-inference",
            **in_service,
            api_id=self.api.name,
            operation_id="inference",
            display_name="Inference",
            method="POST",
            url_template="/*",
            opts=child,
        )
        # The model list is a GET (`client.models.list()`): Azure OpenAI's v1 API serves it at /openai/v1/models
        # (Azure OpenAI API lifecycle, "v1 API support"), and API Management answers 404 to a request no
        # operation matches. The API's policy applies to it as to every operation.
        self.models_operation = azure_native.apimanagement.ApiOperation(
            f"{name}-openai-models",
            **in_service,
            api_id=self.api.name,
            operation_id="list-models",
            display_name="List models",
            method="GET",
            url_template=MODELS_PATH,
            opts=child,
        )
        self.policy = azure_native.apimanagement.ApiPolicy(
            f"{name}-openai-policy",
            **in_service,
            api_id=self.api.name,
            policy_id="policy",
            format="rawxml",
            value=gateway_policy(POOL_BACKEND_ID, len(self.backends), settings.tokens_per_minute, settings.breaker_trip_seconds),
            # The policy names the pool by id: it must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pool]),
        )
        self.subscription = azure_native.apimanagement.Subscription(
            f"{name}-clients",
            **in_service,
            sid="model-clients",
            display_name="Model clients",
            scope=self.api.id,
            state="active",
            allow_tracing=False,
            opts=child,
        )
        secrets = azure_native.apimanagement.list_subscription_secrets_output(
            resource_group_name=args.resource_group_name,
            service_name=self.service.name,
            sid=self.subscription.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.subscription_key: pulumi.Output[str] = pulumi.Output.secret(secrets.apply(lambda result: result.primary_key))

        self.gateway_url: pulumi.Output[str] = self.service.gateway_url
        self.gateway_hosts = self._gateway_hosts(settings)
        self.register_outputs({"gateway_url": self.gateway_url, "gateway_hosts": self.gateway_hosts})

    def _role_assignments(self, name: str, args: ModelGatewayArgs) -> dict[str, azure_native.authorization.RoleAssignment]:
        """The gateway's identity may call inference on each Azure OpenAI account, one assignment per account."""
        role_definition_id = pulumi.Output.concat(
            "/subscriptions/", args.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", OPENAI_USER_ROLE
        )
        return {
            location: azure_native.authorization.RoleAssignment(
                f"{name}-openai-user-{location}",
                principal_id=self.service.identity.apply(lambda identity: identity.principal_id),
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id,
                # This one account only: the gateway gets no rights on the group or the subscription.
                scope=account_id,
                description="API Management calls Azure OpenAI with its managed identity",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for location, account_id in args.openai_account_ids.items()
        }

    def _backends(self, name: str, args: ModelGatewayArgs, in_service: dict[str, pulumi.Input[str]]) -> dict[str, azure_native.apimanagement.Backend]:
        """One backend per Azure OpenAI account, each guarded by a breaker on throttling and server errors."""
        settings = args.settings
        return {
            location: azure_native.apimanagement.Backend(
                f"{name}-{location}",
                **in_service,
                backend_id=f"openai-{location}",
                type="Single",
                protocol="http",
                url=pulumi.Output.concat(endpoint, "openai"),
                description=f"Azure OpenAI in {location}",
                tls=azure_native.apimanagement.BackendTlsPropertiesArgs(validate_certificate_chain=True, validate_certificate_name=True),
                circuit_breaker=azure_native.apimanagement.BackendCircuitBreakerArgs(
                    rules=[
                        azure_native.apimanagement.CircuitBreakerRuleArgs(
                            name="throttled-or-failing",
                            failure_condition=azure_native.apimanagement.CircuitBreakerFailureConditionArgs(
                                count=settings.breaker_failure_count,
                                interval=iso_seconds(settings.breaker_interval_seconds),
                                status_code_ranges=[
                                    azure_native.apimanagement.FailureStatusCodeRangeArgs(min=429, max=429),
                                    azure_native.apimanagement.FailureStatusCodeRangeArgs(min=500, max=599),
                                ],
                            ),
                            trip_duration=iso_seconds(settings.breaker_trip_seconds),
                            # A throttled account says when it has capacity again; trust it over the fixed trip.
                            accept_retry_after=True,
                        )
                    ]
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for location, endpoint in args.openai_endpoints.items()
        }

    def _service(self, name: str, args: ModelGatewayArgs, suffix: random.RandomString) -> azure_native.apimanagement.ApiManagementService:
        settings = args.settings
        sku = azure_native.apimanagement.ApiManagementServiceSkuPropertiesArgs(name=settings.apim_sku, capacity=settings.apim_capacity)
        additional_locations = [
            azure_native.apimanagement.AdditionalLocationArgs(location=location, sku=sku)
            for location in settings.locations
            if settings.multi_region_gateway and location != settings.primary_location
        ]
        return azure_native.apimanagement.ApiManagementService(
            f"{name}-apim",
            service_name=incarnation_name(args.service_name_prefix, suffix, max_length=MAX_SERVICE_NAME),
            resource_group_name=args.resource_group_name,
            location=settings.primary_location,
            sku=sku,
            additional_locations=additional_locations or None,
            identity=azure_native.apimanagement.ApiManagementServiceIdentityArgs(type="SystemAssigned"),
            publisher_name=settings.publisher_name,
            publisher_email=settings.publisher_email,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _gateway_hosts(self, settings: AzureSettings) -> dict[str, pulumi.Output[str]]:
        """Host name per gateway location: each regional gateway for multi-region Premium, else the one gateway."""
        if not settings.multi_region_gateway:
            return {settings.primary_location: self.service.gateway_url.apply(_host)}
        hosts = {settings.primary_location: self.service.gateway_regional_url.apply(_host)}
        for location in settings.locations:
            if location != settings.primary_location:
                hosts[location] = self.service.additional_locations.apply(lambda found, wanted=location: _host(_regional_url(found, wanted)))
        return hosts


def _host(url: str) -> str:
    return url.removeprefix("https://").removeprefix("http://").rstrip("/")


def _regional_url(additional_locations, location: str) -> str:
    # Azure may report a location by display name ("East US 2"): compare the normalised forms.
    for found in additional_locations or []:
        if found.location.replace(" ", "").lower() == location:
            return found.gateway_regional_url
    raise ValueError(f"API Management reports no gateway in {location}")
