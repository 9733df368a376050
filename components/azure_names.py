"""Azure names that outlive their resource: a suffix drawn once per incarnation, kept in the stack's state.

Azure OpenAI accounts (with their custom subdomains) and API Management services are soft-deleted
when deleted, and Azure refuses their name for 48 hours afterwards ("FlagMustBeSetForRestore",
"ServiceAlreadyExistsInSoftDeletedState"; learn.microsoft.com/azure/ai-services/recover-purge-resources,
learn.microsoft.com/azure/api-management/soft-delete). Their names are also DNS labels in zones every
Azure tenant shares (`<subdomain>.openai.azure.com`, `<service>.azure-api.net`).

So each such name ends in a suffix drawn by pulumi-random when the resource is first created and kept
in the state: `pulumi destroy` then `pulumi up` draws new names next to the soft-deleted ones instead
of colliding with them, and a change of anything that makes Azure replace the resource (its keepers)
draws a new suffix too, so the replacement can be created before the old one is deleted.
"""

from __future__ import annotations

import re
from typing import Mapping

import pulumi
import pulumi_random as random

from components.settings.stack import stack_slug

# 36^6 (about 2e9) suffixes per prefix: a collision with another tenant's name is improbable, and
# `pulumi up --replace <suffix urn>` draws another.
SUFFIX_LENGTH = 6
# API Management names are 1-50 characters and account names 2-64; the longest Azure location name
# (e.g. australiasoutheast) is 18 characters, 20 leaves room for new ones.
MAX_PREFIX = 33
LONGEST_LOCATION = 20
# Both rules hold for API Management (^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$, 1-50) and for account
# names used as DNS labels (letters, digits and hyphens, starting and ending with a letter or digit).
AZURE_DNS_NAME = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")


def global_name_prefix(project: str, stack: str) -> str:
    """The stack's slug, cut to at most MAX_PREFIX characters so a location and the suffix still fit every limit."""
    return stack_slug(project, stack)[:MAX_PREFIX].rstrip("-")


def name_suffix(name: str, keepers: Mapping[str, str], opts: pulumi.ResourceOptions) -> random.RandomString:
    """A suffix of SUFFIX_LENGTH lower-case letters and digits, kept in state until the resource carrying it goes.

    `keepers` are the inputs whose change makes Azure replace that resource (its location, for
    example): a new value draws a new suffix, so the replacement gets a name of its own.
    """
    return random.RandomString(
        f"{name}-name-suffix", length=SUFFIX_LENGTH, special=False, upper=False, keepers=dict(keepers), opts=opts
    )


def incarnation_name(prefix: str, suffix: random.RandomString, *parts: str, max_length: int = 64) -> pulumi.Output[str]:
    """`<prefix>-<parts...>-<suffix>`, checked against Azure's DNS name rules before anything is declared.

    The suffix is always SUFFIX_LENGTH lower-case letters and digits, so the name is checked with a
    stand-in for it. Raises ValueError if the name would be longer than `max_length` or not lower-case
    letters, digits and hyphens starting with a letter.
    """
    shape = "-".join([prefix, *parts, "0" * SUFFIX_LENGTH])
    if len(shape) > max_length or not AZURE_DNS_NAME.fullmatch(shape):
        placeholder = "-".join([prefix, *parts, f"<{SUFFIX_LENGTH} letters or digits>"])
        raise ValueError(
            f"Azure name {placeholder!r} must be at most {max_length} lower-case letters, digits and hyphens, starting with a letter"
        )
    return suffix.result.apply(lambda drawn: "-".join([prefix, *parts, drawn]))
