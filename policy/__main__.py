"""Policy pack: every guardrail in rules.py as a mandatory policy (resource rules, then whole-stack rules).

    pulumi preview --policy-pack policy --policy-pack-config policy/production.json
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rules import RULES, STACK_RULES, Rule, StackRule

PACK_NAME = "ha-model-serving-guardrails"


def validation_policy(rule: Rule) -> ResourceValidationPolicy:
    """`rule` as a mandatory resource policy of the pack, with its config schema."""
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations(args.resource_type, args.props, args.get_config()):
            report_violation(message)

    schema = PolicyConfigSchema(properties={key: dict(value) for key, value in rule.config_schema.items()}) if rule.config_schema else None
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema,
    )


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    """`rule` as a mandatory stack policy of the pack, over every resource of the stack."""
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations([(resource.resource_type, resource.props) for resource in args.resources]):
            report_violation(message)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY)


PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[validation_policy(rule) for rule in RULES] + [stack_policy(rule) for rule in STACK_RULES],
)
