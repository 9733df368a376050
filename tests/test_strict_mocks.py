"""The shared mocks reject inputs the real provider would: unknown keys (nested too) and missing required properties."""

from __future__ import annotations

import asyncio
import gc
import logging

import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pytest

from offline.schema import SchemaError, check_inputs

HEALTH_CHECK_KEYS = "enabled, healthyThreshold, interval, matcher, path, port, protocol, timeout, unhealthyThreshold"


def test_misspelled_nested_key_fails_the_run_naming_resource_key_and_allowed_keys(pulumi_mocks):
    def program():
        aws.lb.TargetGroup("models-tg", port=8000, protocol="HTTP", vpc_id="vpc-1", health_check={"pathh": "/health"})

    with pytest.raises(SchemaError) as failure:
        pulumi_mocks.run(program)
    message = str(failure.value)
    assert "aws:lb/targetGroup:TargetGroup 'models-tg'" in message
    assert "unknown property healthCheck.pathh" in message
    assert f"(allowed: {HEALTH_CHECK_KEYS})" in message


def test_missing_required_nested_property_fails(pulumi_mocks):
    def program():
        aws.lb.Listener(
            "models-http",
            load_balancer_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/models/1",
            port=80,
            default_actions=[{"target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/models/1"}],
        )

    with pytest.raises(SchemaError, match=r"aws:lb/listener:Listener 'models-http': missing required property defaultActions\[0\]\.type"):
        pulumi_mocks.run(program)


def test_misspelled_key_inside_a_list_of_nested_args_fails(pulumi_mocks):
    def program():
        aws.ec2.LaunchTemplate(
            "models-server",
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"encrypted": "true", "volume_sise": 100}}],
        )

    with pytest.raises(SchemaError, match=r"unknown property blockDeviceMappings\[0\]\.ebs\.volume_sise \(allowed: .*volumeSize"):
        pulumi_mocks.run(program)


def test_azure_native_resource_with_a_bad_nested_key_fails(pulumi_mocks):
    def program():
        azure_native.apimanagement.Backend(
            "models-backend",
            resource_group_name="models",
            service_name="models-apim",
            protocol="http",
            url="https://models.openai.azure.com/openai",
            circuit_breaker={"rules": [{"name": "trip-on-429", "trip_duration": "PT1M", "failure_conditon": {"count": 3}}]},
        )

    with pytest.raises(SchemaError) as failure:
        pulumi_mocks.run(program)
    message = str(failure.value)
    assert "azure-native:apimanagement:Backend 'models-backend'" in message
    # A misspelled key has no wire name, so it is reported as written; the allowed keys show the right spelling.
    assert "unknown property circuitBreaker.rules[0].failure_conditon" in message
    assert "(allowed: acceptRetryAfter, failureCondition, name, tripDuration)" in message


def test_python_names_in_a_dict_of_a_union_type_fail_with_the_wire_name_and_the_args_class_passes(pulumi_mocks):
    # The SDK translates a dict's Python names only when it knows the dict's type; inside a union it sends them as written.
    def rule(name: str, condition) -> None:
        azure_native.cdn.Rule(name, resource_group_name="models", profile_name="models-fd", rule_set_name="models", order=1, conditions=[condition], actions=[])

    as_dict = {"name": "RequestMethod", "parameters": {"type_name": "DeliveryRuleRequestMethodConditionParameters", "operator": "Equal"}}
    with pytest.raises(SchemaError) as failure:
        pulumi_mocks.run(lambda: rule("models-post", as_dict))
    message = str(failure.value)
    assert "missing required property conditions[0].parameters.typeName (required by RequestMethodMatchConditionParametersArgs)" in message
    assert "unknown property conditions[0].parameters.type_name (the wire name is typeName" in message

    as_args = azure_native.cdn.DeliveryRuleRequestMethodConditionArgs(
        name="RequestMethod",
        parameters=azure_native.cdn.RequestMethodMatchConditionParametersArgs(type_name="DeliveryRuleRequestMethodConditionParameters", operator="Equal"),
    )
    assert pulumi_mocks.run(lambda: rule("models-post", as_args)).one("azure-native:cdn:Rule")["conditions"][0]["parameters"]["typeName"]


def test_correct_resources_pass_with_python_or_wire_names_and_values_from_other_resources(pulumi_mocks):
    def program():
        target_group = aws.lb.TargetGroup(
            "models-tg", port=8000, protocol="HTTP", vpc_id="vpc-1", health_check={"path": "/health", "healthy_threshold": 2}
        )
        aws.lb.Listener(
            "models-http",
            load_balancer_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/models/1",
            port=80,
            default_actions=[{"type": "forward", "targetGroupArn": target_group.arn}],
        )

    run = pulumi_mocks.run(program)
    assert run.one("aws:lb/targetGroup:TargetGroup")["healthCheck"] == {"path": "/health", "healthyThreshold": 2}


def test_a_failed_run_does_not_leak_into_the_next(pulumi_mocks):
    def broken():
        target_group = aws.lb.TargetGroup("models-tg", port=8000, protocol="HTTP", vpc_id="vpc-1", health_check={"pathh": "/"})
        aws.lb.TargetGroup("models-tg-dependent", port=8000, protocol="HTTP", vpc_id=target_group.id)

    with pytest.raises(SchemaError):
        pulumi_mocks.run(broken)
    assert pulumi_mocks.run(lambda: aws.lb.TargetGroup("models-tg", port=8000, protocol="HTTP", vpc_id="vpc-1")).resources


def test_a_failed_run_leaves_no_unread_errors_to_be_logged_later(pulumi_mocks, caplog):
    # Each output of the failed run holds its error; collected unread (after the next run, or at exit) each
    # would print "Future exception was never retrieved" under a run that passed.
    def broken():
        aws.lb.TargetGroup("models-tg", port=8000, protocol="HTTP", vpc_id="vpc-1", health_check={"pathh": "/"})

    with pytest.raises(SchemaError):
        pulumi_mocks.run(broken)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        pulumi_mocks.run(lambda: None)
        gc.collect()
        assert caplog.messages == []
        # Only the run's own error is quiet: any other unread error is still logged.
        stray = asyncio.get_event_loop().create_future()
        stray.set_exception(RuntimeError("not the run's"))
        del stray
        gc.collect()
    assert len(caplog.messages) == 1 and "not the run's" in caplog.messages[0]


@pytest.mark.parametrize(
    "token, inputs, problem",
    [
        ("aws:autoscaling/group:Group", {"minSize": 1}, "missing required property maxSize"),
        ("aws:lb/targetGroup:TargetGroup", {"__defaults": [], "port": 8000}, None),
        ("aws:lb/targetGroup:TargetGroup", {"tags": {"anyKey": "tags are free-form"}}, None),
        ("aws:lb/targetGroup:TargetGroup", {"healthCheck": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}, None),
        (
            "aws:lb/targetGroup:TargetGroup",
            {"healthCheck": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": {"pathh": "/"}}},
            "unknown property healthCheck.pathh",
        ),
        ("aws:lb/targetGroupp:TargetGroupp", {}, "the installed provider SDK declares no such resource type"),
        ("pulumi-python:dynamic:Resource", {"anything": 1}, None),
    ],
    ids=["top-level-required", "engine-internal-keys", "map-keys-are-free", "unknown-value", "secret-is-checked", "unknown-type", "no-sdk-package"],
)
def test_wire_values_are_read_the_way_the_engine_sends_them(token, inputs, problem):
    if problem is None:
        check_inputs(token, "r", inputs)
    else:
        with pytest.raises(SchemaError, match=problem):
            check_inputs(token, "r", inputs)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_both_stacks_pass_with_every_provider_resource_checked(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    declared = [r for r in run.resources if r.type.startswith(("aws:", "azure-native:", "random:"))]
    assert declared and all(r.schema_checked for r in declared), [r.name for r in declared if not r.schema_checked]


def test_args_come_from_the_resource_module_not_a_same_named_input_type():
    from offline.schema import args_type_of, schema_of

    # azure-native's monitor package also exports an ActionGroupArgs input type (an alert rule's action).
    args = args_type_of("azure-native:monitor:ActionGroup")
    assert args.__module__.endswith("action_group")
    assert "groupShortName" in schema_of(args).properties
