"""Run the stack program offline, under Pulumi mocks, and query what it declares (tests and reports); records.py compares runs."""

from offline.runner import Declared, PulumiMocks, Run

__all__ = ["Declared", "PulumiMocks", "Run"]
