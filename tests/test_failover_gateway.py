"""`python -m failover serve` end to end (a real process, real sockets, fake regions), and its HTTP surface."""

import errno
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import httpx
import pytest
import yaml

from tests.failover_fakes import chat, config_doc, gateway, regions, regions_in_thread, run

BANNER_TIMEOUT = 20


def start_gateway(config_path, preexec_fn=None):
    process = subprocess.Popen(
        [sys.executable, "-m", "failover", "serve", "--config", str(config_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
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
        # The faults here are resets, answered at once: timeouts generous enough that a new process's first
        # request on a loaded machine never fails over for being slow.
        doc = config_doc([primary, secondary], timeouts={"connect": 2.0, "first_byte": 5.0, "total": 10.0, "stream_idle": 5.0, "min_attempt": 0.1})
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
    assert "event=request method=POST path=/v1/chat/completions status=200 upstream=secondary attempts=2" in stderr
    assert "event=attempt_failed upstream=primary attempt=1 outcome=connect_error verdict=failed" in stderr
    # Warned once, at start: the variable naming the secondary's api-key is unset.
    warnings = [line for line in stderr.splitlines() if "failover config:" in line]
    assert len(warnings) == 1 and "upstreams[1] (secondary).headers_from_env.api-key" in warnings[0] and "FAILOVER_TEST_KEY_NOBODY_SETS" in warnings[0]


def test_running_out_of_file_descriptors_is_the_gateways_own_503_and_blames_no_upstream(tmp_path):
    # A process allowed few files (soft and hard limit, so starting up cannot raise it), and more
    # concurrent streams than it can hold connections for: each needs the caller's and the upstream's.
    def few_files():
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    def call(client):
        try:
            return client.post("/v1/chat/completions", json=chat(stream=True))
        except httpx.TransportError as error:
            # Past the limit the server cannot accept the caller at all: libuv (uvloop) then accepts and
            # closes pending connections to shed them (its EMFILE trick), which the caller sees as a reset.
            return error

    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode = b.mode = "slow"  # 200 events
        a.pace = b.pace = 0.003
        config_path = tmp_path / "gateway.yaml"
        doc = config_doc([a, b], "active-active", timeouts={"connect": 2.0, "first_byte": 5.0, "total": 10.0, "stream_idle": 5.0, "min_attempt": 0.1})
        config_path.write_text(yaml.safe_dump(doc))
        process, base_url = start_gateway(config_path, preexec_fn=few_files)
        try:
            with httpx.Client(base_url=base_url, timeout=10, limits=httpx.Limits(max_connections=None)) as client:
                with ThreadPoolExecutor(30) as pool:
                    answers = list(pool.map(lambda _: call(client), range(30)))
                ready = client.get("/ready")
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
    answered = [r for r in answers if isinstance(r, httpx.Response)]
    overloaded = [r for r in answered if r.status_code != 200]
    assert answered and all(r.text.rstrip().endswith("data: [DONE]") for r in answered if r.status_code == 200)
    for response in overloaded:
        assert response.status_code == 503 and response.json()["error"]["code"] == "proxy_overloaded" and response.headers["retry-after"] == "1"
        assert response.headers["x-failover-attempts"] == "1"  # no other upstream tried: it would fail the same way
    assert "outcome=connect_error" not in stderr and "breaker_open" not in stderr and ready.status_code == 200  # nobody blamed


@pytest.mark.parametrize(("number", "local"), [(errno.EMFILE, True), (errno.ENFILE, True), (errno.EADDRNOTAVAIL, True), (errno.ENOBUFS, True), (errno.ECONNREFUSED, False), (errno.ECONNRESET, False)])
def test_the_machines_own_shortages_are_told_from_an_upstream_refusing(number, local):
    from failover.transport import _out_of_local_resources

    try:
        try:
            raise OSError(number, os.strerror(number))
        except OSError as cause:
            raise aiohttp.ClientConnectionError("Cannot connect to host") from cause  # how aiohttp wraps it
    except aiohttp.ClientConnectionError as error:
        assert _out_of_local_resources(error) is local


def test_the_gateway_raises_its_open_file_limit_to_what_the_system_allows():
    probe = "import json, resource; from failover.gateway import raise_open_file_limit; raise_open_file_limit(); print(json.dumps(resource.getrlimit(resource.RLIMIT_NOFILE)))"

    def low_soft_limit():
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))

    result = subprocess.run([sys.executable, "-c", probe], preexec_fn=low_soft_limit, capture_output=True, text=True, timeout=30)
    soft, hard = json.loads(result.stdout)
    assert soft == hard and hard > 64, result.stderr


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


@pytest.mark.parametrize(("command", "port"), [("serve", "in-use"), ("serve", "70000"), ("fake-upstream", "in-use")])
def test_a_busy_or_impossible_port_is_one_clear_line_and_exit_status_2(tmp_path, command, port):
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(yaml.safe_dump({"topology": "active-passive", "upstreams": [{"name": "a", "url": "http://127.0.0.1:1"}]}))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        number = str(busy.getsockname()[1]) if port == "in-use" else port
        args = ["serve", "--config", str(config_path)] if command == "serve" else ["fake-upstream", "--name", "a"]
        result = subprocess.run([sys.executable, "-m", "failover", *args, "--port", number], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("failover: refusing to start: ")
    # The system's reason, once: asyncio's own message would name the address a second time.
    assert (result.stderr.count("in use") == 1 and "attempting to bind" not in result.stderr) if port == "in-use" else (f"--port: {port} is not allowed" in result.stderr)


def test_the_command_line_documents_its_options_and_offers_only_fail_modes_it_can_set(capsys):
    from failover.__main__ import main

    with pytest.raises(SystemExit) as finished:
        main(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert finished.value.code == 0 and "--host HOST address to listen on (default 127.0.0.1" in shown and "(default 8080)" in shown
    with pytest.raises(SystemExit) as finished:
        main(["fake-upstream", "--help"])
    assert "--fail-mode http-429 or http-503" in " ".join(capsys.readouterr().out.split())
    # raw sends bytes only code can set: offered, it would answer with an empty stream.
    with pytest.raises(SystemExit) as refused:
        main(["fake-upstream", "--port", "0", "--name", "a", "--fail-mode", "raw"])
    stderr = capsys.readouterr().err
    assert refused.value.code == 2 and stderr.count("\n") == 1
    assert stderr.startswith("failover: refusing to start: argument --fail-mode: invalid choice: 'raw'") and "see python -m failover fake-upstream --help" in stderr


def test_a_second_ctrl_c_still_answers_a_waiting_request_in_openais_shape(tmp_path):
    # uvicorn exits at once on a second Ctrl-C, cancelling requests without its graceful second.
    with regions_in_thread("a") as (_, (a,)):
        a.mode = "hang"
        config_path = tmp_path / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(config_doc([a], timeouts={"connect": 1, "first_byte": 5, "total": 30, "stream_idle": 5})))
        process, base_url = start_gateway(config_path)
        try:
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(httpx.post, f"{base_url}/v1/chat/completions", json=chat(), timeout=10)
                deadline = time.monotonic() + 5
                while not a.seen and time.monotonic() < deadline:
                    time.sleep(0.01)
                process.send_signal(signal.SIGINT)
                time.sleep(0.2)
                process.send_signal(signal.SIGINT)
                answered = waiting.result(timeout=10)
        finally:
            process.wait(timeout=10)
            _, stderr = process.communicate(timeout=10)
    assert answered.status_code == 503 and answered.json()["error"]["code"] == "proxy_shutting_down"
    assert "Exception in ASGI application" not in stderr


def test_ctrl_c_stops_the_fake_upstream_quietly_while_a_caller_holds_a_connection():
    process = subprocess.Popen([sys.executable, "-m", "failover", "fake-upstream", "--name", "a", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if not select.select([process.stdout], [], [], BANNER_TIMEOUT)[0]:
            pytest.fail(f"the fake upstream printed no banner within {BANNER_TIMEOUT} s")
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", process.stdout.readline()).group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.post("/v1/chat/completions", json=chat()).status_code == 200  # its connection stays open
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0 and stderr == ""


def test_ctrl_c_ends_a_stream_with_the_error_event_and_answers_a_waiting_request_503(tmp_path):
    with regions_in_thread("a") as (host, (a,)):
        # 200 events, one every 50 ms: still streaming when the gateway is stopped; the next request gets no answer.
        a.mode = "slow"
        a.script.extend(["slow", "hang"])
        config_path = tmp_path / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(config_doc([a], timeouts={"connect": 1, "first_byte": 5, "total": 30, "stream_idle": 5})))
        process, base_url = start_gateway(config_path)
        try:
            with httpx.Client(base_url=base_url, timeout=10) as client, ThreadPoolExecutor(1) as pool:
                with client.stream("POST", "/v1/chat/completions", json=chat(stream=True)) as response:
                    lines = response.iter_lines()
                    assert next(line for line in lines if line.startswith("data:"))
                    waiting = pool.submit(httpx.post, f"{base_url}/v1/chat/completions", json=chat(), timeout=10)
                    # And one still sending its body (1000 bytes announced, 10 sent).
                    uploading = socket.create_connection((client.base_url.host, client.base_url.port), timeout=10)
                    uploading.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":')
                    deadline = time.monotonic() + 5
                    while len(a.seen) < 2 and time.monotonic() < deadline:
                        time.sleep(0.01)
                    time.sleep(0.2)  # the upload's request has reached the app
                    process.send_signal(signal.SIGINT)
                    rest = list(lines)  # read to the end: a cut stream would raise here
                answered = waiting.result(timeout=10)
                with uploading:
                    upload_answer = b"".join(iter(lambda: uploading.recv(65536), b""))
        finally:
            exit_code = process.wait(timeout=10)
            _, stderr = process.communicate(timeout=10)
    data = [line[5:].strip() for line in rest if line.startswith("data:")]
    assert "[DONE]" not in data and "event: error" in rest
    assert json.loads(data[-1])["error"]["code"] == "proxy_shutting_down"
    # The request still waiting for its upstream: OpenAI's shape, not uvicorn's bare 500 after it cancels the task.
    assert answered.status_code == 503 and answered.json()["error"]["code"] == "proxy_shutting_down"
    assert answered.headers["connection"] == "close" and answered.headers["x-failover-attempts"] == "1"
    assert a.seen[1].caller_left_at is not None  # its upstream request was closed, not abandoned
    assert upload_answer.startswith(b"HTTP/1.1 503") and b'"code": "proxy_shutting_down"' in upload_answer
    assert "Cancel 1 running task" not in stderr and "Exception in ASGI application" not in stderr
    assert exit_code == 0


def test_answers_carry_one_date_and_no_server_header_of_the_upstream_or_the_gateway():
    async def scenario():
        async with regions("a", "b") as (a, b):
            async with gateway(config_doc([a, b])) as (client, _):
                plain = await client.post("/v1/chat/completions", json=chat())
                streamed = await client.post("/v1/chat/completions", json=chat(stream=True))
                a.mode = "context-length"
                relayed_error = await client.post("/v1/chat/completions", json=chat())
                return plain, streamed, relayed_error

    for response in run(scenario()):
        assert len(response.headers.get_list("date")) == 1
        assert response.headers.get_list("server") == []  # no fingerprint, and never two


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read_whole_or_sent_upstream():
    limit = 4096

    async def chunked(size: int):
        for _ in range(size // 1024):
            yield b" " * 1024

    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a], max_request_bytes=limit)) as (client, _):
                declared = await client.post("/v1/chat/completions", content=b" " * (limit + 1), headers={"content-type": "application/json"})
                streamed = await client.post("/v1/chat/completions", content=chunked(100 * 1024), headers={"content-type": "application/json"})
                padded = json.dumps(chat()).encode().ljust(limit)
                at_limit = await client.post("/v1/chat/completions", content=padded, headers={"content-type": "application/json"})
                return declared, streamed, at_limit, len(a.seen)

    declared, streamed, at_limit, seen = run(scenario())
    for response in (declared, streamed):
        assert response.status_code == 413 and response.headers["x-failover-attempts"] == "0"
        assert response.json()["error"]["code"] == "request_too_large" and "max_request_bytes" in response.json()["error"]["message"]
    assert at_limit.status_code == 200 and seen == 1
