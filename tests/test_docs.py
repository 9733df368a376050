"""The documentation says what the program and its tools do: examples are their output, tables list what they export."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path

import boto3
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends

from benchmarks.proxy_overhead import CONCURRENCY, FAILOVER_REQUESTS, TARGETS, THROUGHPUT_TARGET
from failover.fake_upstream import FakeUpstream
from offline.runner import ACCOUNT
from ops.drill import HttpProber, main

ROOT = Path(__file__).resolve().parent.parent
DRY_RUN = "$ python -m ops.drill --stack dev --scenario region-outage-us-east-1 --dry-run"


def readme_example(command: str, last_line: str) -> list[str]:
    """The lines the README shows after `command`, up to and including `last_line`."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(command) + 1
    return lines[start : lines.index(last_line, start) + 1]


def test_the_readmes_drill_dry_run_is_what_the_tool_prints_for_the_dev_stack(dev, tmp_path, capsys):
    # Staged as the drill tests stage it: every entry point a fake model server on 127.0.0.1, the alarms in moto.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fleet = asyncio.run_coroutine_threadsafe(FakeUpstream("fleet").start(), loop).result(timeout=5)
    outputs = json.loads(json.dumps(dev.outputs))
    try:
        with mock_aws():
            for region, entry in outputs["regions"].items():
                name = entry["degradedAlarmArn"].rsplit(":", 1)[1]
                cloudwatch_backends[ACCOUNT][region].put_metric_alarm(
                    name=name, namespace=None, metric_name=None, comparison_operator=None, evaluation_periods=None, period=None,
                    threshold=None, statistic=None, description="", dimensions=[], alarm_actions=[], rule=f'ALARM("{name}-member")',
                )  # fmt: skip
                entry.update(endpoint=fleet.url, healthUrl=f"{fleet.url}/health", proxyUrl=f"{fleet.url}/")
            (tmp_path / "outputs.json").write_text(json.dumps(outputs))
            status = main(
                ["--stack", "dev", "--scenario", "region-outage-us-east-1", "--outputs", str(tmp_path / "outputs.json"), "--dry-run"],
                clients=lambda service, region: boto3.client(service, region_name=region),
                prober=HttpProber(signer=None, model="any", timeout=5.0),
            )
    finally:
        asyncio.run_coroutine_threadsafe(fleet.stop(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
    printed = capsys.readouterr().out.splitlines()
    assert status == 0 and printed[-1] == "Dry run: nothing was started."
    assert readme_example(DRY_RUN, "Dry run: nothing was started.") == printed, "show the dev stack's dry run as the tool prints it"
    assert re.search(r"fault 10 min, stated RTO 3600 s", "\n".join(printed))  # Pulumi.dev.yaml's drillFaultMinutes and rtoSeconds


def exported_paths(outputs: dict) -> set[str]:
    """Every leaf of the stack outputs as a dotted path, regions and drill scenarios by placeholder."""
    paths: set[str] = set()

    def walk(value, path: str) -> None:
        if not isinstance(value, dict) or not value:
            paths.add(path)
            return
        for key, item in value.items():
            placeholder = {"regions": "<region>", "drills.scenarios": "<scenario>"}.get(path)
            walk(item, f"{path}.{placeholder or key}" if path else key)

    walk(outputs, "")
    return paths


def documented_paths(page: Path, section: str) -> set[str]:
    """The paths the first column of a section's table names; `.key` continues the row's first path."""
    text = page.read_text()
    table = text[text.index(f"## {section}") :].split("\n## ", 1)[0]
    paths = set()
    for row in re.findall(r"^\| (`[^|]+) \|", table, flags=re.MULTILINE):
        first, *rest = re.findall(r"`([^`]+)`", row)
        parent = first.rsplit(".", 1)[0] + "." if "." in first else ""
        paths |= {first, *(parent + key.lstrip(".") for key in rest if key.startswith("."))}
        paths |= {key for key in rest if not key.startswith(".")}
    return paths


def test_topology_doc_lists_exactly_the_outputs_the_stacks_export(dev, prod):
    exported = exported_paths(dev.outputs) | exported_paths(prod.outputs)
    documented = documented_paths(ROOT / "docs" / "topology.md", "Stack outputs")
    assert sorted(exported - documented) == [], "document these outputs in docs/topology.md, Stack outputs"
    assert sorted(documented - exported) == [], "docs/topology.md documents outputs no stack exports"


DOCUMENTED = ("components", "failover", "ops", "proxy_package", "offline", "report", "command_line.py")


def test_every_public_class_and_function_has_a_docstring():
    import ast

    missing = []
    for place in DOCUMENTED:
        for path in [ROOT / place] if place.endswith(".py") else sorted((ROOT / place).rglob("*.py")):
            pending = [(node, "") for node in ast.parse(path.read_text()).body]
            while pending:
                node, prefix = pending.pop()
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                    if ast.get_docstring(node) is None:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {prefix}{node.name}")
                    if isinstance(node, ast.ClassDef):
                        pending += [(child, f"{prefix}{node.name}.") for child in node.body]
    assert missing == [], "say what these take, return and raise"


def test_the_benchmark_targets_the_docs_state_are_the_ones_the_benchmark_checks():
    (plain_p50, plain_p99), (stream_p50, stream_p99) = TARGETS["non-streaming"], TARGETS["streaming"]
    stated = (
        f"added p50 under {plain_p50:g} ms and p99 under {plain_p99:g} ms for plain requests, under {stream_p50:g} ms and "
        f"{stream_p99:g} ms for streams; throughput at {CONCURRENCY} callers at least {THROUGHPUT_TARGET:g} of a direct call"
    )
    failover_load = f"({FAILOVER_REQUESTS} requests, concurrency {CONCURRENCY})"
    for page in ("README.md", "benchmarks/README.md"):
        text = " ".join((ROOT / page).read_text().split())
        assert stated in text and failover_load in text, f"{page}: state the targets benchmarks/proxy_overhead.py checks"


def test_the_readmes_partial_destroy_recovery_targets_exactly_the_deletion_protected_resources(prod):
    # After a destroy stopped part way, a plain `pulumi up` would create again what it deleted; the README targets these alone.
    readme = (ROOT / "README.md").read_text()
    (pattern,) = re.findall(r"grep -oE '([^']+)'", readme)
    protected = {r.urn for r in prod.resources if r.get("deletionProtection") is True or r.get("enableDeletionProtection") is True}
    assert protected and {r.urn for r in prod.resources if re.fullmatch(pattern, r.urn)} == protected
    deployed = (ROOT / "offline" / "identities" / "prod.txt").read_text().split()
    assert len([urn for urn in deployed if re.fullmatch(pattern, urn)]) == len(protected), "the URNs of the deployed stack match too"
