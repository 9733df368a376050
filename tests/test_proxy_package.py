"""The model proxy's Lambda package: reproducible, current, and streaming when started the way the adapter starts it.

The packaged function runs from a clean directory holding only the archive's files, started as the
Lambda Web Adapter's /opt/bootstrap does (`exec "$LAMBDA_TASK_ROOT/$_HANDLER"`) with the function's
declared environment, by a Python that sees nothing but the package. The test client plays the
adapter's part: it waits for the readiness check, then sends the requests over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import subprocess
import zipfile
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

import proxy_package
from components.lambda_web_adapter import READINESS_PATH
from failover.config import ConfigError
from failover.lambda_app import config_from_environment, lambda_app
from failover.lambda_app import main as lambda_main
from proxy_package import local
from proxy_package.build import BuildError, build, package_entries
from tests.failover_fakes import chat, config_doc, regions_in_thread

READY_WITHIN = 30.0  # seconds; the app is ready in well under one, this only bounds a broken start
SIGV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"


@pytest.fixture(scope="module")
def package() -> proxy_package.ProxyPackage:
    return proxy_package.load()


def test_the_same_sources_build_the_same_bytes(package, tmp_path):
    # A second build elsewhere (reusing the installed dependencies, so no network) gives the same archive.
    shutil.copytree(package.archive.parent / "site", tmp_path / "site", symlinks=True)
    again = build(tmp_path)
    assert again.sha256 == package.sha256 and again.archive.read_bytes() == package.archive.read_bytes()


def test_the_archive_is_deterministic_and_ships_no_machine_specific_file(package):
    with zipfile.ZipFile(package.archive) as archive:
        entries = archive.infolist()
    names = [entry.filename for entry in entries]
    assert names == sorted(names)
    assert {(entry.date_time, entry.compress_type, entry.create_system) for entry in entries} == {((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3)}
    # The adapter's bootstrap executes the handler, so its mode must survive into the uploaded zip.
    assert {entry.filename: entry.external_attr >> 16 for entry in entries if entry.external_attr >> 16 != 0o100644} == {"run.sh": 0o100755}
    assert {"run.sh", "failover/lambda_app.py", "failover/gateway.py", "uvicorn/main.py", "starlette/applications.py", "httpx/_client.py"} <= set(names)
    assert not [name for name in names if name.startswith("bin/") or "__pycache__" in name or name.endswith(("/RECORD", ".so", ".pyc"))]
    assert not [name for name in names if name.startswith(("yaml/", "pulumi", "uvloop/", "httptools/"))]


def test_a_compiled_dependency_is_refused(tmp_path):
    (tmp_path / "fastlib").mkdir()
    (tmp_path / "fastlib" / "_speedups.cpython-312-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")
    with pytest.raises(BuildError, match="fastlib/_speedups.cpython-312-aarch64-linux-gnu.so is compiled for one platform"):
        package_entries(proxy_package.ROOT, tmp_path)


def test_load_names_each_source_that_changed_since_the_build(package, tmp_path):
    shutil.copy(package.archive, tmp_path / "proxy.zip")
    manifest = json.loads((package.archive.parent / "manifest.json").read_text())
    manifest["inputs"]["failover/router.py"] = "0" * 64
    manifest["inputs"]["failover/retired.py"] = "0" * 64
    del manifest["inputs"]["failover/sse.py"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(proxy_package.ProxyPackageError) as stale:
        proxy_package.load(tmp_path)
    assert "is stale: failover/router.py changed, failover/sse.py added, failover/retired.py removed since it was built" in str(stale.value)


def test_the_packaged_python_sees_only_what_the_package_ships(unpacked):
    task, path = unpacked
    probe = "import httpx; print(httpx.__file__); import yaml"
    result = subprocess.run(["python3", "-S", "-c", probe], env={"PATH": path, "PYTHONPATH": str(task)}, capture_output=True, text=True, timeout=30)
    assert result.stdout.startswith(str(task)), result.stderr
    assert "No module named 'yaml'" in result.stderr  # in this venv, but not in the package


def test_the_packaged_function_streams_each_event_as_the_upstream_sends_it(running):
    base_url, host, (primary, _) = running
    primary.gate = gate = host.call(_new_gate())
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", default_headers={"Authorization": SIGV4}, max_retries=0, timeout=10)
    stream = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}], stream=True)
    # The upstream holds the rest of its answer until the caller has the first event.
    first = next(iter(stream))
    assert primary.seen and not gate.is_set()
    host.call(_open(gate))
    rest = list(stream)
    assert first.choices[0].delta.content == "Hello"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in rest) == " from primary."
    assert rest[-1].choices[0].finish_reason == "stop"
    # The function URL's signature authenticated the caller to Lambda; it is not passed to the model.
    assert "authorization" not in primary.seen[-1].headers


def test_the_packaged_function_ends_a_broken_stream_with_the_error_event(running):
    base_url, _, (primary, secondary) = running
    primary.mode = "stream-cut"
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="model-key", max_retries=0, timeout=10)
    received = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}], stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["Hello", " from"]  # delivered before the cut, so no failover any more
    assert broken.value.body["code"] == "upstream_stream_broken"
    assert (len(primary.seen), len(secondary.seen)) == (1, 0)
    assert primary.seen[0].headers["authorization"] == "Bearer model-key"  # a model key is not a SigV4 signature


def test_a_presigned_querys_signature_never_reaches_the_model(running):
    # A SigV4 presigned request carries the caller's credentials in X-Amz-* query parameters.
    base_url, _, (primary, _) = running
    signed = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Security-Token=token&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
    response = httpx.post(f"{base_url}/v1/chat/completions?api-version=2024-10-21&{signed}&x%2Damz-expires=60&X-%41mz-Date=1&name=a%20b", json=chat(), timeout=10)
    assert response.status_code == 200
    assert primary.seen[-1].path == "/v1/chat/completions?api-version=2024-10-21&name=a%20b"


def test_the_packaged_function_serves_every_endpoint_and_streams_responses_as_they_come(running):
    base_url, host, (primary, _) = running
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", default_headers={"Authorization": SIGV4}, max_retries=0, timeout=10)
    assert [model.id for model in client.models.list()] == ["fake-primary"]
    assert client.embeddings.create(model="any", input="hi").data[0].embedding == pytest.approx([0.1, -0.2, 0.3])
    assert client.completions.create(model="any", prompt="hi").choices[0].text == "Hello from primary."
    primary.gate = gate = host.call(_new_gate())
    events = iter(client.responses.create(model="any", input="hi", stream=True))
    # The upstream holds the rest of its answer until the caller has the first words.
    first = [next(events) for _ in range(5)]
    assert first[-1].type == "response.output_text.delta" and not gate.is_set()
    host.call(_open(gate))
    rest = list(events)
    assert "".join(e.delta for e in first + rest if e.type == "response.output_text.delta") == "Hello from primary."
    assert rest[-1].type == "response.completed"
    assert [(seen.method, seen.path) for seen in primary.seen] == [("GET", "/v1/models"), ("POST", "/v1/embeddings"), ("POST", "/v1/completions"), ("POST", "/v1/responses")]


def test_a_bad_config_is_refused_per_request_without_failing_the_readiness_check(caplog):
    app = lambda_app({"FAILOVER_CONFIG": json.dumps({"topology": "mesh", "upstreams": []})})

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://function") as client:
            return await client.get(READINESS_PATH), await client.post("/v1/chat/completions", json=chat())

    ready, answer = asyncio.run(ask())
    assert ready.status_code == 200  # the adapter starts, so callers get an answer rather than an init timeout
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "proxy_misconfigured"
    assert "mesh" not in answer.text and "topology: 'mesh'" in caplog.text  # the reason goes to the log only


@pytest.mark.parametrize(
    "environ, named",
    [
        ({}, "FAILOVER_CONFIG: not set; expected a mapping of failover settings, as JSON"),
        (
            {"FAILOVER_CONFIG": "{topology: mesh"},
            "FAILOVER_CONFIG: not JSON (line 1, column 2: Expecting property name enclosed in double quotes); expected a mapping of failover settings, as JSON",
        ),
        ({"FAILOVER_CONFIG": "[]"}, "FAILOVER_CONFIG: it holds a JSON array, not a JSON object; expected a mapping of failover settings, as JSON"),
        ({"FAILOVER_CONFIG": '{"topology": "mesh", "upstreams": []}'}, "topology: 'mesh' is not allowed"),
    ],
)
def test_the_config_from_the_environment_is_refused_naming_the_variable_or_key(environ, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        config_from_environment(environ)


def test_a_port_that_is_not_one_is_refused_before_serving(caplog):
    assert lambda_main({"AWS_LWA_PORT": "http", "FAILOVER_CONFIG": "{}"}) == 2
    assert "AWS_LWA_PORT: 'http' is not allowed; expected a TCP port number from 1 to 65535" in caplog.text


@pytest.fixture
def running(function_and_regions):
    """The module's packaged function and fake regions, reset to answer normally with nothing seen yet."""
    _, _, fakes = function_and_regions
    for fake in fakes:
        fake.mode, fake.gate = "none", None
        fake.seen.clear()
    return function_and_regions


@pytest.fixture(scope="module")
def function_and_regions(unpacked, dev):
    with regions_in_thread("primary", "secondary") as (host, fakes):
        # Timeouts no busy machine reaches, so only a fault the test sets up moves a request off the primary.
        config = config_doc(fakes, timeouts={"connect": 5, "first_byte": 10, "total": 30, "stream_idle": 10})
        with packaged_function(unpacked, dev, config) as base_url:
            yield base_url, host, fakes


@pytest.fixture(scope="module")
def unpacked(package, tmp_path_factory) -> tuple[Path, str]:
    return local.unpack(package.archive, tmp_path_factory.mktemp("lambda"))


@contextlib.contextmanager
def packaged_function(unpacked: tuple[Path, str], dev, config: dict) -> Iterator[str]:
    """The unpacked function started like the adapter's bootstrap does, with the dev stack's declared environment."""
    task, path = unpacked
    function = dev.one("aws:lambda/function:Function", region="us-east-1")
    port = local.free_port()
    environment = {
        **function["environment"]["variables"],
        "FAILOVER_CONFIG": json.dumps(config),
        "AWS_LWA_PORT": str(port),  # the declared 8080 may be taken on a shared machine
        "AWS_REGION": "us-east-1",
    }
    process = local.start(task, path, function["handler"], environment)
    base_url = f"http://127.0.0.1:{port}"
    try:
        readiness = base_url + environment["AWS_LWA_READINESS_CHECK_PATH"]
        try:
            local.wait_until_ready(process, readiness, environment["AWS_LWA_READINESS_CHECK_HEALTHY_STATUS"], within=READY_WITHIN)
        except local.NotReady as error:
            pytest.fail(str(error))
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)  # what Lambda sends when it shuts the environment down
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def _new_gate() -> asyncio.Event:
    return asyncio.Event()


async def _open(gate: asyncio.Event) -> None:
    gate.set()
