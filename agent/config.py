"""The agent's settings: one typed object, each field one setting.

renderq/settings.py loads it from the defaults below, ``agent.toml``, ``RENDERQ_AGENT_*``
variables and the flags of ``renderq agent``; each field's docstring is its flag's help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from renderq import farm_key
from renderq.client.units import parse_size
from renderq.settings import Schema, ServerSettings, SettingsError, meta
from renderq.tls import TLS_ENV
from renderq.xdg import data_home

DEFAULT_PORT = 7421


@dataclass(frozen=True)
class AgentConfig(ServerSettings):
    listen: str = field(default=f"0.0.0.0:{DEFAULT_PORT}", metadata=meta(metavar="HOST:PORT"))
    """Where to serve the AgentService; port 0 picks a free one, logged and advertised."""
    data_dir: Path = field(default_factory=lambda: data_home() / "agent", metadata=meta(metavar="DIR"))
    """Where the agent keeps its id, the farm key and the job workspaces."""
    slots: int = field(default=1, metadata=meta(metavar="N", minimum=1))
    """How many tasks run at once."""
    pool: str = field(default="default", metadata=meta(metavar="NAME"))
    """The pool this node belongs to; a job asks for one."""
    tags: tuple[str, ...] = field(default=(), metadata=meta(metavar="TAG"))
    """Tags a job can require, such as gpu or fast."""
    cost_per_hour: float = field(default=0.0, metadata=meta(metavar="COST", minimum=0))
    """What an hour of this node costs, in the farm's currency per hour."""
    mdns: bool = True
    """Advertise this node over mDNS."""
    advertise_address: str | None = field(default=None, metadata=meta(metavar="IP"))
    """Address to advertise over mDNS (default: every address of this host)."""
    heartbeat_interval: float = field(default=2.0, metadata=meta(metavar="SECONDS", minimum=0))
    """Seconds between the heartbeats sent to the controller."""
    kill_grace: float = field(default=10.0, metadata=meta(metavar="SECONDS", minimum=0))
    """Seconds between SIGTERM and SIGKILL when a task is cancelled or times out."""
    blob_retention: float = field(default=7.0, metadata=meta(metavar="DAYS", minimum=0))
    """Days a cached project file no task has used is kept (checked at start and daily);
    0 keeps them forever."""
    allowed_plugins: tuple[str, ...] = field(default=(), metadata=meta(name="allow_plugin", metavar="NAME"))
    """Run only tasks of these plugins; none named: every plugin."""
    allowed_executables: tuple[str, ...] = field(
        default=(), metadata=meta(name="allow_executable", metavar="PROGRAM")
    )
    """Let tasks start only these programs, names on PATH or absolute paths; none named: any."""
    join: str | None = field(
        default=None, metadata=meta(metavar="TOKEN", env=("RENDERQ_JOIN_TOKEN",), secret=True)
    )
    """The farm's join token, from `renderq join-token` on the controller; kept in
    DATA_DIR/farm.key, so later starts need no token."""
    run_as: str | None = field(default=None, metadata=meta(metavar="USER", env=("RENDERQ_RUN_AS",)))
    """When the agent runs as root, run its tasks as this unprivileged user."""
    tls_dir: Path | None = field(default=None, metadata=meta(name="tls", metavar="DIR", env=(TLS_ENV,)))
    """Serve the controller's link over TLS with DIR/node.pem and DIR/node.key, made by `renderq certs`."""
    cores: int | None = field(default=None, metadata=meta(metavar="N", minimum=1))
    """CPU cores to report in place of those probed (a node shared with other work)."""
    memory: str | None = field(default=None, metadata=meta(metavar="SIZE"))
    """RAM to report in place of what was probed, such as 64GiB."""
    gpus: int | None = field(default=None, metadata=meta(metavar="N", minimum=0))
    """GPUs to report in place of those nvidia-smi lists, numbered from 0; 0 hides them."""
    gpu_model: str | None = field(default=None, metadata=meta(metavar="NAME"))
    """The model to report for every GPU, such as "RTX 4090"."""
    gpu_memory: str | None = field(default=None, metadata=meta(metavar="SIZE"))
    """Memory to report for each GPU, such as 24GiB."""
    renderers: tuple[str, ...] = field(default=(), metadata=meta(name="renderer", metavar="NAME[=VERSION]"))
    """A renderer to report as installed, with the version it reports, such as maya=2024:
    for one the probe cannot find (started by name, so it must be on PATH). NAME is the
    program (Render, aerender, 3dsmaxcmd, UnrealEditor-Cmd) or its plugin (maya,
    aftereffects, 3dsmax, unreal); repeatable; it wins over what the probe found."""

    def __post_init__(self) -> None:
        # The settings loader knows no sizes: a bad one is caught here, when the
        # settings are made, rather than when the first hello is sent.
        for key in ("memory", "gpu_memory"):
            _size(key, getattr(self, key))
        for text in self.renderers:
            _renderer(text)

    @property
    def memory_bytes(self) -> int | None:
        """``memory`` in bytes; None when not declared."""
        return _size("memory", self.memory)

    @property
    def gpu_memory_bytes(self) -> int | None:
        """``gpu_memory`` in bytes; None when not declared."""
        return _size("gpu_memory", self.gpu_memory)

    @property
    def declared_renderers(self) -> tuple[tuple[str, str], ...]:
        """``renderers`` as (name, version) pairs, the version "" where none was given."""
        return tuple(_renderer(text) for text in self.renderers)

    @property
    def key_file(self) -> Path:
        return self.data_dir / farm_key.FILE_NAME

    @property
    def workspaces(self) -> Path:
        return self.data_dir / "workspaces"

    @property
    def blob_cache(self) -> Path:
        """The blobs (project files by content) that every job's workspace is filled from."""
        return self.data_dir / "blobs"


def _size(key: str, text: str | None) -> int | None:
    """Bytes in a declared size; SettingsError, naming the key, for anything else."""
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError:
        raise SettingsError(f"{key} must be a size such as 512MiB or 24GiB, not {text!r}") from None


def _renderer(text: str) -> tuple[str, str]:
    """One declared renderer, NAME or NAME=VERSION; SettingsError for anything else (an
    empty name, spaces or control characters, which no program's name has)."""
    name, _, version = text.partition("=")
    name, version = name.strip(), version.strip()
    if not name or any(c.isspace() or not c.isprintable() for c in name + version):
        raise SettingsError(
            f"renderer must be NAME or NAME=VERSION without spaces, such as maya=2024, not {text!r}"
        )
    return name, version


SCHEMA = Schema("agent", AgentConfig)
"""AgentConfig as renderq/settings.py reads it: agent.toml, RENDERQ_AGENT_* and the flags."""
