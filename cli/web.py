"""``renderq tui --web``: the cockpit in a browser, through textual-serve.

textual-serve starts one process per browser session and relays its terminal over a
websocket. Each session is ``renderq tui --web-session`` against the controller resolved
once here, so every visitor sees the same farm; that process asks its visitor for an API
token and never uses the serving user's own (see renderq/tui/token_screen.py). Tokens
then cross the network in the page's websocket, so any host but loopback needs TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import shlex
import ssl
import sys
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from renderq.cli.failures import UserError
from renderq.client.address import resolve_controller
from renderq.tls import LOOPBACK_NAMES, NODE_CERT, NODE_KEY


def serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; refuse a non-loopback host without ``--tls``."""
    host, port = split_host_port(args.web)
    tls_dir: Path | None = args.tls
    if tls_dir is None and not is_loopback(host):
        raise UserError(
            f"--web {args.web}: serving beyond this machine sends API tokens over the network; "
            "pass --tls DIR (a folder `renderq certs` wrote, with node.pem and node.key), "
            f"or serve on loopback (--web 127.0.0.1:{port})"
        )
    address = asyncio.run(resolve_controller(args.controller))
    context = server_context(tls_dir) if tls_dir is not None else None
    _WebServer(session_command(address, tls_dir), host, port, context).serve()
    return 0


def split_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8420`` for IPv6) as its parts, or a UserError naming the flag."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--web {value!r} is not HOST:PORT (for example 127.0.0.1:8420)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def session_command(address: str, tls_dir: Path | None) -> str:
    """The shell command textual-serve runs for each browser session."""
    argv = [sys.executable, "-m", "renderq", "tui", "--controller", address]
    if tls_dir is not None:
        argv += ["--tls", str(tls_dir.absolute())]
    return shlex.join([*argv, "--web-session"])


def server_context(tls_dir: Path) -> ssl.SSLContext:
    """The HTTPS context of this machine's farm certificate (``renderq certs``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls_dir / NODE_CERT, tls_dir / NODE_KEY)
    except (OSError, ssl.SSLError) as error:
        raise UserError(
            f"--tls {tls_dir}: cannot use {NODE_CERT} and {NODE_KEY} there ({error}); "
            "make them with `renderq certs --dir DIR --host NAME`"
        ) from None
    return context


class _WebServer(Server):
    """textual-serve's server, over HTTPS when given a context (its own ``serve`` has none)."""

    def __init__(self, command: str, host: str, port: int, context: ssl.SSLContext | None) -> None:
        scheme = "https" if context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        super().__init__(command, host, port, title="renderq", public_url=f"{scheme}://{shown}:{port}")
        self._context = context

    def serve(self, debug: bool = False) -> None:
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        try:
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                ssl_context=self._context,
                loop=loop,
                print=lambda *args: None,
            )
        except KeyboardInterrupt:
            pass
        finally:
            loop.close()
