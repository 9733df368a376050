"""Globally unique Azure names: account subdomains and the API Management host live in shared DNS zones."""

from __future__ import annotations

import hashlib
import re

# API Management service names are at most 50 characters; the location suffix of an account name fits in the rest of 64.
MAX_PREFIX = 40


def stack_slug(project: str, stack: str) -> str:
    """`<project>-<stack>` in lower-case letters, digits and single hyphens: fits every cloud's naming rules."""
    return re.sub(r"[^a-z0-9]+", "-", f"{project}-{stack}".lower()).strip("-")


def global_name_prefix(project: str, stack: str, subscription_id: str) -> str:
    """`<project>-<stack>-<6 hex>`: stable per subscription and stack, distinct across subscriptions."""
    digest = hashlib.sha256(f"{subscription_id}/{stack}".encode()).hexdigest()[:6]
    base = stack_slug(project, stack)
    return f"{base[: MAX_PREFIX - 7].rstrip('-')}-{digest}"
