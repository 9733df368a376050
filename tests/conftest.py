"""Shared fixtures: run components or whole stacks under Pulumi mocks (see offline/runner.py)."""

import pytest

from offline import PulumiMocks, Run


@pytest.fixture
def pulumi_mocks() -> PulumiMocks:
    return PulumiMocks()


@pytest.fixture(scope="session")
def dev() -> Run:
    """Pulumi.dev.yaml as it is, run once per test process."""
    return PulumiMocks().run_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Run:
    """Pulumi.prod.yaml as it is, run once per test process."""
    return PulumiMocks().run_stack("prod")
