"""The controller's settings: one typed object, each field one setting.

renderq/settings.py loads it from the defaults below, ``controller.toml``,
``RENDERQ_CONTROLLER_*`` variables and the flags of ``renderq controller``; each field's
docstring is its flag's help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from renderq import farm_key
from renderq.client.credentials import DATA_DIR_ENV
from renderq.settings import Schema, ServerSettings, meta
from renderq.tls import TLS_ENV
from renderq.xdg import data_home

DEFAULT_PORT = 7420


@dataclass(frozen=True)
class ControllerConfig(ServerSettings):
    listen: str = field(default=f"0.0.0.0:{DEFAULT_PORT}", metadata=meta(metavar="HOST:PORT"))
    """Where to serve the FarmService (the API); port 0 picks a free one, logged at start."""
    data_dir: Path = field(default_factory=data_home, metadata=meta(metavar="DIR", env=(DATA_DIR_ENV,)))
    """Where the controller keeps the database (unless `db` says otherwise), the task logs,
    the farm key and the local admin token, where the client verbs on this machine look for it."""
    db: Path | None = field(default=None, metadata=meta(metavar="FILE"))
    """The DuckDB file (default: DATA_DIR/renderq.duckdb)."""
    agents: tuple[str, ...] = field(default=(), metadata=meta(name="agent", metavar="HOST:PORT"))
    """Agents to dial, for networks mDNS does not reach."""
    mdns: bool = True
    """Browse for agents and advertise the controller over mDNS."""
    agent_timeout: float = field(default=10.0, metadata=meta(metavar="SECONDS", minimum=0))
    """Seconds of silence before an agent is offline and its tasks requeued."""
    log_retention: float = field(default=30.0, metadata=meta(metavar="DAYS", minimum=0))
    """Days the task logs of a job are kept after it ended (checked hourly); 0 keeps them forever."""
    tls_dir: Path | None = field(default=None, metadata=meta(name="tls", metavar="DIR", env=(TLS_ENV,)))
    """Serve the API and dial the agents over TLS with DIR/node.pem and DIR/node.key,
    trusting only the farm CA in DIR/ca.pem; `renderq certs` makes them."""
    s3_endpoint: str | None = field(default=None, metadata=meta(metavar="URL"))
    """The S3-compatible service jobs with `--outputs s3://BUCKET/PREFIX` push their output
    files to, such as http://minio.local:9000 (default: Amazon S3)."""
    s3_region: str = field(default="us-east-1", metadata=meta(metavar="REGION"))
    """The region requests to S3 are signed for."""
    s3_access_key_id: str | None = field(default=None, metadata=meta(metavar="KEY_ID"))
    """The access key id for S3 (default: boto3's own, from AWS_* variables or ~/.aws)."""
    s3_secret_access_key: str | None = field(
        default=None, repr=False, metadata=meta(metavar="SECRET", secret=True)
    )
    """The secret of that access key; never shown or logged (`renderq config show` prints ***)."""

    @property
    def db_path(self) -> Path:
        return self.db or self.data_dir / "renderq.duckdb"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def blob_dir(self) -> Path:
        """Project files uploaded by content (see controller/blob_store.py)."""
        return self.data_dir / "blobs"

    @property
    def key_file(self) -> Path:
        """The farm key, created at the first start (see renderq/farm_key.py)."""
        return self.data_dir / farm_key.FILE_NAME


SCHEMA = Schema("controller", ControllerConfig)
"""ControllerConfig as renderq/settings.py reads it: controller.toml, RENDERQ_CONTROLLER_* and the flags."""
