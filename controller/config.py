"""The controller's settings: one typed object built from the command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from renderq import farm_key
from renderq.server_flags import add_tls_flag
from renderq.xdg import data_home

DEFAULT_PORT = 7420


@dataclass(frozen=True)
class ControllerConfig:
    listen: str = f"0.0.0.0:{DEFAULT_PORT}"
    """host:port of the FarmService; port 0 picks a free one (logged at start)."""
    data_dir: Path = field(default_factory=data_home)
    """Holds the database (unless ``db`` says otherwise) and the task logs."""
    db: Path | None = None
    agents: tuple[str, ...] = ()
    """Explicit agent addresses (host:port) for networks mDNS does not reach."""
    mdns: bool = True
    """Browse for agents and advertise the controller over mDNS."""
    agent_timeout: float = 10.0
    """Seconds of silence after which an agent is offline and its tasks requeued."""
    tls_dir: Path | None = None
    """Serve FarmService over TLS with this directory's node certificate and dial agents
    over TLS, trusting only its farm CA (renderq/tls.py)."""
    metrics_listen: str | None = None
    """host:port of the Prometheus metrics endpoint (HTTP); None serves none."""

    @property
    def db_path(self) -> Path:
        return self.db or self.data_dir / "renderq.duckdb"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def key_file(self) -> Path:
        """The farm key, created at the first start (see renderq/farm_key.py)."""
        return self.data_dir / farm_key.FILE_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ControllerConfig()
    parser.add_argument("--listen", default=d.listen, help="host:port to serve on (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"state directory (default {d.data_dir})")
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file (default DATA_DIR/renderq.duckdb)")
    parser.add_argument(
        "--agent", action="append", default=[], metavar="HOST:PORT", help="dial this agent (repeatable)"
    )
    parser.add_argument("--no-mdns", action="store_true", help="neither browse nor advertise over mDNS")
    parser.add_argument(
        "--agent-timeout",
        type=float,
        default=d.agent_timeout,
        metavar="SECONDS",
        help="seconds of silence before an agent is offline and its tasks requeued (default %(default)s)",
    )
    add_tls_flag(parser, "the API and the agent links")
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default=None,
        help="serve Prometheus metrics over HTTP on HOST:PORT (default: none)",
    )


def from_args(args: argparse.Namespace) -> ControllerConfig:
    d = ControllerConfig()
    return ControllerConfig(
        listen=args.listen,
        data_dir=args.data_dir or d.data_dir,
        db=args.db,
        agents=tuple(args.agent),
        mdns=not args.no_mdns,
        agent_timeout=args.agent_timeout,
        tls_dir=Path(args.tls) if args.tls else None,
        metrics_listen=args.metrics_listen,
    )
