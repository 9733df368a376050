"""Run the built package on this machine the way Lambda and the Lambda Web Adapter run it (tests, benchmarks).

Lambda unpacks the zip into `LAMBDA_TASK_ROOT` keeping each entry's permission bits; the adapter's
`/opt/bootstrap` then does `exec "$LAMBDA_TASK_ROOT/$_HANDLER"` with the function's environment,
and sends requests once `GET <AWS_LWA_READINESS_CHECK_PATH>` answers a healthy status, polling
every 10 ms (aws/aws-lambda-web-adapter: layer/bootstrap, docs/guide/src/configuration/readiness-check.md).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Mapping

import httpx

READINESS_POLL_SECONDS = 0.01


def unpack(archive: Path, directory: Path) -> tuple[Path, str]:
    """The archive unpacked into `directory/task`, and a PATH whose `python3` is this interpreter.

    Returns (task root, PATH). Permission bits come from the zip entries, as Lambda applies them.
    """
    task, bin_dir = directory / "task", directory / "bin"
    bin_dir.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zipped:
        for entry in zipped.infolist():
            Path(zipped.extract(entry, task)).chmod(entry.external_attr >> 16 & 0o777)
    (bin_dir / "python3").symlink_to(sys.executable)
    return task, f"{bin_dir}:/usr/bin:/bin"


def start(task: Path, path: str, handler: str, environment: Mapping[str, str]) -> subprocess.Popen[str]:
    """The handler started as the adapter's bootstrap starts it, with only `environment` (plus the bootstrap's own).

    Its output goes to `log_file(task)`, as Lambda sends it to CloudWatch: a pipe nobody reads
    would stop the gateway once a few hundred log lines filled it.
    """
    variables = {**environment, "LAMBDA_TASK_ROOT": str(task), "_HANDLER": handler, "PATH": path}
    with log_file(task).open("a") as log:
        return subprocess.Popen([f"{task}/{handler}"], cwd=task, env=variables, stdout=log, stderr=subprocess.STDOUT, text=True)


def log_file(task: Path) -> Path:
    """Where a function started from `task` writes its output."""
    return task.parent / "function.log"


class NotReady(RuntimeError):
    """The function exited, or did not pass the readiness check in time; the message has its output."""


def wait_until_ready(process: subprocess.Popen[str], url: str, healthy_status: str, within: float) -> None:
    """The adapter's readiness check: GET `url` every 10 ms until it answers `healthy_status` (e.g. "200")."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotReady(f"the packaged function exited with {process.returncode}: {log_file(Path(process.args[0]).parent).read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if str(httpx.get(url, timeout=1).status_code) == healthy_status:
                return
        time.sleep(READINESS_POLL_SECONDS)
    raise NotReady(f"the packaged function did not answer {url} with {healthy_status} within {within} s: {log_file(Path(process.args[0]).parent).read_text()}")


def free_port() -> int:
    """A port nothing listens on now, for a function whose server binds the port it is told (AWS_LWA_PORT)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
