"""One shared fixture: run components or whole stacks under Pulumi mocks (see offline/runner.py)."""

import pytest

from offline import PulumiMocks


@pytest.fixture
def pulumi_mocks() -> PulumiMocks:
    return PulumiMocks()
