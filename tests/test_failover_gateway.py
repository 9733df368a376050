"""`python -m failover serve` end to end: a real process, real sockets, fake regions."""

import re
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.failover_fakes import chat, config_doc, regions_in_thread

BANNER_TIMEOUT = 20


def start_gateway(config_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "failover", "serve", "--config", str(config_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Bounded: a gateway that hangs before its banner fails the test instead of blocking it.
    if not select.select([process.stdout], [], [], BANNER_TIMEOUT)[0]:
        process.kill()
        pytest.fail(f"the gateway printed no banner within {BANNER_TIMEOUT} s")
    banner = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
    if not match:
        process.kill()
        pytest.fail(f"no address in {banner!r}; stderr: {process.communicate(timeout=10)[1]}")
    return process, f"http://127.0.0.1:{match.group(1)}"


def test_gateway_process_serves_fails_over_and_reports_readiness(tmp_path):
    with regions_in_thread("primary", "secondary") as (_, (primary, secondary)):
        config_path = tmp_path / "gateway.yaml"
        doc = config_doc([primary, secondary])
        doc["upstreams"][1]["headers_from_env"] = {"api-key": "FAILOVER_TEST_KEY_NOBODY_SETS"}
        config_path.write_text(yaml.safe_dump(doc))
        process, base_url = start_gateway(config_path)
        try:
            with httpx.Client(base_url=base_url, timeout=5) as client:
                assert client.get("/health").status_code == 200
                assert client.get("/ready").status_code == 200
                first = client.post("/v1/chat/completions", json=chat(), headers={"authorization": "Bearer k"})
                primary.mode = "reset"
                second = client.post("/v1/chat/completions", json=chat())
                streamed = client.post("/v1/chat/completions", json=chat(stream=True))
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
    assert first.status_code == 200 and first.headers["x-failover-upstream"] == "primary"
    assert second.status_code == 200 and second.headers["x-failover-upstream"] == "secondary"
    assert second.headers["x-failover-attempts"] == "2"
    assert streamed.text.rstrip().endswith("data: [DONE]") and streamed.headers["x-failover-upstream"] == "secondary"
    assert (len(primary.seen), len(secondary.seen)) == (3, 2)
    assert "Bearer k" not in stderr and '"messages"' not in stderr  # no keys or bodies in logs
    assert "via secondary after 2 attempt(s)" in stderr
    # Warned once, at start: the variable naming the secondary's api-key is unset.
    warnings = [line for line in stderr.splitlines() if "failover config:" in line]
    assert len(warnings) == 1 and "upstreams[1] (secondary).headers_from_env.api-key" in warnings[0] and "FAILOVER_TEST_KEY_NOBODY_SETS" in warnings[0]


@pytest.mark.parametrize(
    ("mutate", "named_key"),
    [
        (lambda doc: doc.update(topology="mesh"), "topology"),
        (lambda doc: doc["upstreams"][1].update(url="ftp://x"), "upstreams[1].url"),
        (lambda doc: doc["upstreams"][1].update(weight=0), "upstreams[1].weight"),
        (lambda doc: doc["timeouts"].update(first_byte=99), "timeouts.first_byte"),
    ],
)
def test_serve_refuses_bad_config_with_exit_code_2_naming_the_key(tmp_path, mutate, named_key):
    doc = config_doc([], "active-passive")
    doc["upstreams"] = [{"name": "a", "url": "http://127.0.0.1:1"}, {"name": "b", "url": "http://127.0.0.1:2"}]
    doc["timeouts"] = dict(doc["timeouts"])
    mutate(doc)
    config_path = tmp_path / "bad.yaml"
    config_path.write_text(yaml.safe_dump(doc))
    result = subprocess.run([sys.executable, "-m", "failover", "serve", "--config", str(config_path), "--port", "0"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert f"{named_key}: " in result.stderr
    assert result.stdout == ""  # refused before binding (the banner comes after the bind)


def test_the_shipped_example_config_is_valid():
    from failover.__main__ import load_config

    config = load_config(str(Path(__file__).parent.parent / "failover" / "examples" / "two-local-upstreams.yaml"))
    assert [u.name for u in config.upstreams] == ["primary", "secondary"]
    assert config.topology == "active-passive"
