"""`sandbox` command: run the Salesforce and NetSuite stand-ins side by side.

One process serves both apps (each on its own uvicorn server) so the demo and the tests have a single
thing to start and stop. Per-API subcommands (`sandbox salesforce ...`, `sandbox netsuite ...`) are the
admin CLIs each stand-in ships.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from sandbox.tls import ensure_server_certificate

LOGGER = logging.getLogger("sandbox")


def _load_config(path: Path | None) -> dict[str, Any]:
    """Read the optional sandbox config file (YAML or JSON) with `salesforce:`/`netsuite:` sections."""
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    data = data or {}
    unknown = set(data) - {"salesforce", "netsuite"}
    if unknown:
        raise SystemExit(f"sandbox: unknown section(s) in {path}: {', '.join(sorted(unknown))}")
    return data


def _servers(args: argparse.Namespace) -> list[uvicorn.Server]:
    """Build one uvicorn server per (app, port), HTTPS ones too when `--tls` is given."""
    from sandbox.netsuite.app import create_app as create_netsuite_app
    from sandbox.salesforce.app import create_app as create_salesforce_app

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    config = _load_config(Path(args.config) if args.config else None)
    apps = []
    if args.salesforce_port:
        apps.append((create_salesforce_app(data_dir, config.get("salesforce") or {}), args.salesforce_port))
    if args.netsuite_port:
        apps.append((create_netsuite_app(data_dir, config.get("netsuite") or {}), args.netsuite_port))

    tls_files = ensure_server_certificate(data_dir / "tls", args.host) if args.tls else None
    servers = []
    for app, port in apps:
        servers.append(_server(app, args.host, port, None, args.log_level))
        if tls_files is not None:
            servers.append(_server(app, args.host, port + 10, tls_files, args.log_level))
    return servers


class _SharedSignalsServer(uvicorn.Server):
    """One of several servers in one process: they stop together on one handler (`_serve_all`'s), so none
    captures SIGINT/SIGTERM for itself (uvicorn's own capture would stop one server per signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int, tls_files: tuple[Path, Path] | None, log_level: str) -> uvicorn.Server:
    ssl: dict[str, Any] = {"ssl_certfile": str(tls_files[0]), "ssl_keyfile": str(tls_files[1])} if tls_files else {}
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        server_header=False,  # Salesforce and NetSuite send their own `server` values; uvicorn must not add one
        date_header=not getattr(app.state, "sends_date_header", False),  # the Salesforce app spells its own `Date`
        lifespan="on",
        **ssl,
    )
    return _SharedSignalsServer(config)


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(server.serve() for server in servers))


def _serve(args: argparse.Namespace) -> int:
    try:
        servers = _servers(args)
    except ValueError as exc:  # a bad config key or value: one line naming it, not a traceback
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    for server in servers:
        scheme = "https" if server.config.ssl_certfile else "http"
        print(f"sandbox: serving {scheme}://{server.config.host}:{server.config.port}", flush=True)
    asyncio.run(_serve_all(servers))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sandbox` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("salesforce", "netsuite"):
        if argv[0] == "salesforce":
            from sandbox.salesforce.cli import main as sub_main
        else:
            from sandbox.netsuite.cli import main as sub_main
        return sub_main(argv[1:])

    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Salesforce and NetSuite stand-ins until SIGINT/SIGTERM")
    serve.add_argument("--data-dir", default=".sandbox", help="where the SQLite files and TLS material live")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--salesforce-port", type=int, default=8701, help="0 to not serve Salesforce")
    serve.add_argument("--netsuite-port", type=int, default=8702, help="0 to not serve NetSuite")
    serve.add_argument("--tls", action="store_true", help="also serve HTTPS on port+10 (CA in DATA_DIR/tls/ca.pem)")
    serve.add_argument("--config", help="YAML/JSON file with `salesforce:` and `netsuite:` settings")
    serve.add_argument("--log-level", default="warning")
    sub.add_parser("salesforce", help="Salesforce stand-in admin commands (see `sandbox salesforce --help`)")
    sub.add_parser("netsuite", help="NetSuite stand-in admin commands (see `sandbox netsuite --help`)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return _serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
