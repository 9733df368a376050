"""Command line: `serve` runs the local gateway, `fake-upstream` a misbehaving model server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import yaml

from .config import Config, ConfigError, log_config_warnings, parse_config
from .fake_upstream import FAIL_MODES

EXIT_BAD_CONFIG = 2  # also a port that is out of range or cannot be listened on


def load_config(path: str) -> Config:
    """The validated Config in the YAML file at `path`.

    Raises ConfigError naming `--config` when the file cannot be read or is not YAML, and naming the
    bad key (`timeouts.total`, `upstreams[1].url`, ...) when the document is refused.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError("--config", path, f"a readable YAML file ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError("--config", path, f"valid YAML ({error})") from None
    return parse_config(document)


def main(argv: list[str] | None = None) -> int:
    """Runs `serve` or `fake-upstream` with `argv` (default: sys.argv[1:]); returns the exit status.

    0 when the server stops; 2 (EXIT_BAD_CONFIG) with one line on stderr for a refused config, a port
    outside 0-65535, or an address that cannot be listened on.
    """
    parser = argparse.ArgumentParser(prog="python -m failover", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local failover gateway")
    serve.add_argument("--config", required=True, help="YAML file: topology, upstreams, timeouts, breaker, fallback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--region", default=None, help="caller region, preferred in active-active")
    fake = commands.add_parser("fake-upstream", help="run an OpenAI-shaped fake model server")
    fake.add_argument("--port", type=int, required=True)
    fake.add_argument("--name", required=True)
    fake.add_argument("--fail-mode", choices=FAIL_MODES, default="none")
    fake.add_argument("--retry-after", default=None, help="Retry-After value sent with --fail-mode http-429")
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
            return _refuse(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}")
        return 0

    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _refuse(str(error))
    log_config_warnings(config)
    # Imported only now so a bad config is refused fast, before the port is bound.
    from .gateway import bind, create_app, server

    try:
        sock = bind(args.host, args.port)
    except OSError as error:  # in use, no such address, not permitted
        return _refuse(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    print(f"failover gateway ({config.topology}, {len(config.upstreams)} upstreams) on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a foreground server quietly
        server(create_app(config, caller_region=args.region)).run(sockets=[sock])  # on uvloop when installed
    return 0


def _refuse(reason: str) -> int:
    """One line on stderr, exit status 2: what a shell script or service manager can act on."""
    print(f"failover: refusing to start: {reason}", file=sys.stderr)
    return EXIT_BAD_CONFIG


if __name__ == "__main__":
    sys.exit(main())
