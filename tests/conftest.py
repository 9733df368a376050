"""Shared fixtures: run components or whole stacks under Pulumi mocks (see offline/runner.py)."""

import pytest

import proxy_package
from offline import PulumiMocks, Run
from proxy_package.build import BuildError, build


def pytest_configure(config: pytest.Config) -> None:
    """Rebuilds the proxy's Lambda package once, before any worker starts, when a source changed since its build.

    Every stack run refuses a stale package, as a deploy would; the rebuild reuses the installed
    dependencies, so it needs no network unless requirements.lock changed. A package that cannot be
    built is left as it is, and the stack tests report why with the build command.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    try:
        proxy_package.load()
    except proxy_package.ProxyPackageError:
        try:
            build()
        except BuildError:
            pass


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
