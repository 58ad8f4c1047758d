"""The agent's settings: one typed object built from the command line."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from renderq import farm_key
from renderq.server_flags import add_tls_flag
from renderq.xdg import data_home

DEFAULT_PORT = 7421


@dataclass(frozen=True)
class AgentConfig:
    listen: str = f"0.0.0.0:{DEFAULT_PORT}"
    """host:port of the AgentService; port 0 picks a free one (logged and advertised)."""
    data_dir: Path = field(default_factory=lambda: data_home() / "agent")
    """Holds the agent id file and the job workspaces."""
    slots: int = 1
    """How many tasks run at once."""
    pool: str = "default"
    tags: tuple[str, ...] = ()
    cost_per_hour: float = 0.0
    mdns: bool = True
    advertise_address: str | None = None
    """Address to advertise over mDNS; default: every address of this host."""
    heartbeat_interval: float = 2.0
    kill_grace: float = 10.0
    """Seconds between SIGTERM and SIGKILL when a task is cancelled or times out."""
    allowed_plugins: tuple[str, ...] = ()
    """Plugins this node agrees to run; empty: all."""
    allowed_executables: tuple[str, ...] = ()
    """Programs (names on PATH or absolute paths) its tasks may start; empty: any."""
    join: str | None = None
    """A join token (``renderq join-token``): the farm key, saved to ``key_file`` at start."""
    run_as: str | None = None
    """When the agent runs as root: the unprivileged user its tasks run as."""
    tls_dir: Path | None = None
    """Serve the link over TLS with the node certificate in this directory (renderq/tls.py)."""
    metrics_listen: str | None = None
    """host:port of the Prometheus metrics endpoint (HTTP); None serves none."""

    @property
    def key_file(self) -> Path:
        return self.data_dir / farm_key.FILE_NAME

    @property
    def workspaces(self) -> Path:
        return self.data_dir / "workspaces"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = AgentConfig()
    parser.add_argument("--listen", default=d.listen, help="host:port to serve on (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"agent state (default {d.data_dir})")
    parser.add_argument("--slots", type=int, default=d.slots, help="tasks run at once (default %(default)s)")
    parser.add_argument("--pool", default=d.pool, help="pool name (default %(default)s)")
    parser.add_argument("--tags", default="", help="comma-separated tags, e.g. gpu,fast")
    parser.add_argument(
        "--cost-per-hour",
        type=float,
        default=d.cost_per_hour,
        metavar="COST",
        help="what an hour of this node costs, in the farm's currency per hour (default %(default)s)",
    )
    parser.add_argument("--no-mdns", action="store_true", help="do not advertise over mDNS")
    parser.add_argument(
        "--advertise-address", default=None, help="IP to advertise (default: all of this host's)"
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=d.heartbeat_interval,
        metavar="SECONDS",
        help="seconds between the heartbeats sent to the controller (default %(default)s)",
    )
    parser.add_argument(
        "--kill-grace",
        type=float,
        default=d.kill_grace,
        metavar="SECONDS",
        help="seconds between SIGTERM and SIGKILL when a task is cancelled or times out "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--allow-plugin", action="append", default=[], metavar="NAME",
        help="run only tasks of this plugin (repeatable; default: every plugin)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-executable", action="append", default=[], metavar="PROGRAM",
        help="let tasks start only this program, a name on PATH or an absolute path "
        "(repeatable; default: any)",
    )  # fmt: skip
    parser.add_argument(
        "--join",
        metavar="TOKEN",
        default=os.environ.get("RENDERQ_JOIN_TOKEN"),
        help="the farm's join token, from `renderq join-token` on the controller (or $RENDERQ_JOIN_TOKEN); "
        "kept in DATA_DIR/farm.key, so later starts need no token",
    )
    parser.add_argument(
        "--run-as",
        metavar="USER",
        default=os.environ.get("RENDERQ_RUN_AS"),
        help="when the agent runs as root, run its tasks as this unprivileged user (or $RENDERQ_RUN_AS)",
    )
    add_tls_flag(parser, "the controller's link")
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default=None,
        help="serve Prometheus metrics over HTTP on HOST:PORT (default: none)",
    )


def from_args(args: argparse.Namespace) -> AgentConfig:
    d = AgentConfig()
    if args.slots < 1:
        raise SystemExit("renderq agent: --slots must be 1 or more")
    return AgentConfig(
        listen=args.listen,
        data_dir=args.data_dir or d.data_dir,
        slots=args.slots,
        pool=args.pool,
        tags=tuple(t for t in (s.strip() for s in args.tags.split(",")) if t),
        cost_per_hour=args.cost_per_hour,
        mdns=not args.no_mdns,
        advertise_address=args.advertise_address,
        heartbeat_interval=args.heartbeat_interval,
        kill_grace=args.kill_grace,
        allowed_plugins=tuple(args.allow_plugin),
        allowed_executables=tuple(args.allow_executable),
        join=args.join,
        run_as=args.run_as,
        tls_dir=Path(args.tls) if args.tls else None,
        metrics_listen=args.metrics_listen,
    )
