"""Command line: `serve` runs the local gateway, `fake-upstream` a misbehaving model server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from typing import NoReturn

from .config import CONFIG_EXPECTED, Config, ConfigError, UnreadableConfig, log_config_warnings, parse_config
from .documents import UnreadableDocument, load_yaml
from .fake_upstream import COMMAND_LINE_FAIL_MODES

EXIT_BAD_CONFIG = 2  # also a port that is out of range or cannot be listened on


def load_config(path: str) -> Config:
    """The gateway's config from a YAML file; UnreadableConfig naming the file and what is wrong with it (documents.py), or ConfigError."""
    try:
        document = load_yaml(path, f"--config {path}", CONFIG_EXPECTED, kind=dict)
    except UnreadableDocument as unreadable:
        raise UnreadableConfig(unreadable) from None
    return parse_config(document)


class _Parser(argparse.ArgumentParser):
    """Bad usage refused in one line like any other reason not to start (the project's commands do the same,
    command_line.py; this package ships alone in the Lambda package, so it says it in its own words)."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_refuse(f"{message} (see {self.prog} --help)"))


def main(argv: list[str] | None = None) -> int:
    """Runs `serve` or `fake-upstream` with `argv` (default: sys.argv[1:]); returns the exit status.

    0 when the server stops; 2 with one line on stderr for bad input: a refused config, a port out of
    range, or an address that cannot be listened on.
    """
    parser = _Parser(prog="python -m failover", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local failover gateway")
    serve.add_argument("--config", required=True, help="YAML file: topology, upstreams, timeouts, breaker, fallback")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on, 0 for any free port (default 8080)")
    serve.add_argument("--region", default=None, help="caller region, preferred in active-active (default: none)")
    fake = commands.add_parser("fake-upstream", help="run an OpenAI-shaped fake model server on 127.0.0.1")
    fake.add_argument("--port", type=int, required=True, help="port to listen on, 0 for any free port")
    fake.add_argument("--name", required=True, help="its name, in its answers (Hello from <name>.)")
    fake.add_argument("--fail-mode", choices=COMMAND_LINE_FAIL_MODES, default="none", help="how it misbehaves (default none: it answers)")
    fake.add_argument("--retry-after", default=None, help="Retry-After value sent with --fail-mode http-429 or http-503 (default: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the gateway logs one line per request itself
    if not 0 <= args.port <= 65535:
        return _refuse(f"--port: {args.port} is not allowed; expected a port from 0 (any free port) to 65535")

    if args.command == "fake-upstream":
        from .fake_upstream import run

        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a foreground server quietly
                asyncio.run(run(args.name, args.port, args.fail_mode, args.retry_after))
        except OSError as error:
            return _refuse(f"cannot listen on 127.0.0.1:{args.port}: {_socket_problem(error)}")
        return 0

    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _refuse(str(error))
    log_config_warnings(config)
    # Imported only now so a bad config is refused fast, before the port is bound.
    from .gateway import bind, create_app, raise_open_file_limit, server, unread_limit

    raise_open_file_limit()
    try:
        sock = bind(args.host, args.port, unread_limit(config))
    except OSError as error:  # in use, no such address, not permitted
        return _refuse(f"cannot listen on {args.host}:{args.port}: {_socket_problem(error)}")
    print(f"failover gateway ({config.topology}, {len(config.upstreams)} upstreams) on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a foreground server quietly
        server(create_app(config, caller_region=args.region)).run(sockets=[sock])  # on uvloop when installed
    return 0


def _socket_problem(error: OSError) -> str:
    """The system's words for a bind error: asyncio's own wraps them in a message naming the address again."""
    return os.strerror(error.errno) if isinstance(error.errno, int) and error.errno > 0 else (error.strerror or str(error))


def _refuse(reason: str) -> int:
    """One line on stderr, exit status 2: what a shell script or service manager can act on."""
    print(f"failover: refusing to start: {reason}", file=sys.stderr)
    return EXIT_BAD_CONFIG


if __name__ == "__main__":
    sys.exit(main())
