"""One agent process: its gRPC server, its attempts, its outbox and its advertisement,
started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import grpc

from renderq import __version__, farm_key, tls
from renderq.agent.advertise import Advertiser, advertised_addresses
from renderq.agent.attempts import Attempts
from renderq.agent.config import AgentConfig
from renderq.agent.hardware import probe_hardware
from renderq.agent.identity import load_or_create_agent_id
from renderq.agent.link import NO_KEY, LinkService
from renderq.agent.metrics import agent_registry
from renderq.agent.outbox import Outbox
from renderq.agent.run_as import check_can_enter, resolve_task_user
from renderq.agent.scene_analysis import SceneAnalyst
from renderq.grpc_limits import MESSAGE_SIZE_OPTIONS
from renderq.health import Health
from renderq.metrics_endpoint import MetricsEndpoint, MetricsListenError
from renderq.port_holder import holder_of
from renderq.private_files import write_private
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc, resources_pb2

log = logging.getLogger(__name__)

GRPC_OPTIONS = [
    *MESSAGE_SIZE_OPTIONS,
    # Controllers keep links open for days and ping them to notice dead peers.
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Two agents on one port would split the controller's links between them.
    ("grpc.so_reuseport", 0),
]


AGENT_SERVICE = apb.DESCRIPTOR.services_by_name["AgentService"].full_name
STOP_GRACE = 1.0
"""Seconds for the link to end by itself before the server cuts it."""


class AgentStartError(Exception):
    """A setting or the host keeps the agent from starting; the message says which."""


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::]:7421`` for IPv6) into its parts; raises AgentStartError."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise AgentStartError(f"the listen address {listen!r} must be host:port, e.g. 0.0.0.0:7421")
    return host, int(port)


class AgentServer:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.agent_id = ""
        self.session_id = uuid.uuid4().hex
        self.host = ""
        self.port = 0
        self._outbox = Outbox()
        self._attempts: Attempts | None = None
        """Made at start, once the user that tasks run as is known."""
        self._server: grpc.aio.Server | None = None
        self._links: LinkService | None = None
        self._hardware: asyncio.Task[resources_pb2.Hardware] | None = None
        self._advertiser: Advertiser | None = None
        self._advertising: asyncio.Task[None] | None = None
        self._blob_collection: asyncio.Task[None] | None = None
        self._health = Health([AGENT_SERVICE])
        self._metrics: MetricsEndpoint | None = None
        self.metrics_port = 0
        """The port of the Prometheus endpoint (``--metrics-listen``); 0: none."""
        self.farm_key: bytes | None = None

    async def start(self) -> None:
        """Listen and advertise; raises AgentStartError with a sentence for the operator."""
        config = self.config
        self.host, _ = split_listen(config.listen)
        try:
            task_user = resolve_task_user(config)
        except ValueError as exc:
            raise AgentStartError(str(exc)) from None
        try:
            self.agent_id = await asyncio.to_thread(load_or_create_agent_id, config.data_dir)
        except OSError as exc:
            reason = exc.strerror or exc
            raise AgentStartError(f"cannot keep the agent id in {config.data_dir}: {reason}") from exc
        if task_user is not None:
            try:
                await asyncio.to_thread(check_can_enter, task_user, config.workspaces)
            except ValueError as exc:
                raise AgentStartError(str(exc)) from None
        self._attempts = Attempts(config, self._outbox, task_user)
        self.farm_key = await asyncio.to_thread(self._load_farm_key)
        addresses: list[str] = []
        if config.mdns:
            try:
                addresses = advertised_addresses(config, self.host)
            except ValueError as exc:
                raise AgentStartError(str(exc)) from None
        # Probing runs behind the server's start: only the first hello waits for it.
        self._hardware = asyncio.create_task(probe_hardware(config), name="probe-hardware")
        self._server = grpc.aio.server(options=GRPC_OPTIONS)
        hardware = self._hardware
        analyst = SceneAnalyst(
            self._attempts.blobs, lambda: asyncio.shield(hardware), config.data_dir / "scenes"
        )
        self._links = LinkService(
            self._hello,
            self._attempts,
            self._outbox,
            config.heartbeat_interval,
            self.farm_key,
            analyst,
        )
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(self._links, self._server)
        await self._health.add_to(self._server)
        await self._listen()
        await self._server.start()
        self._blob_collection = asyncio.create_task(
            self._attempts.blobs.collect_daily(config.blob_retention), name="blob retention"
        )
        if self.farm_key is not None:
            # Ready for a link; without the key it refuses every controller, so it is not.
            await self._health.serving()
        if config.mdns:
            self._advertiser = Advertiser(self.agent_id, self.port, config, addresses)
            self._advertising = asyncio.create_task(self._advertiser.start(), name="advertise")

    async def _listen(self) -> None:
        """Bind the link's port and, if asked for, the metrics endpoint; raises AgentStartError."""
        assert self._server is not None and self._links is not None and self._attempts is not None
        config = self.config
        try:
            if config.tls_dir is None:
                self.port = self._server.add_insecure_port(config.listen)
            else:
                credentials = tls.server_credentials(config.tls_dir)
                self.port = self._server.add_secure_port(config.listen, credentials)
                log.info("link tls=on cert=%s", config.tls_dir / tls.NODE_CERT)
            if config.metrics_listen is not None:
                registry = agent_registry(config.slots, self._attempts, self._outbox, self._links)
                self._metrics = MetricsEndpoint(registry)
                self.metrics_port = await self._metrics.start(config.metrics_listen)
        except (tls.TlsError, MetricsListenError) as exc:
            await self.stop()
            raise AgentStartError(str(exc)) from None
        except RuntimeError:
            await self.stop()
            raise AgentStartError(
                f"cannot listen on {config.listen}: the port is taken or the address is not this host's"
                f"{holder_of(config.listen)}"
            ) from None

    async def stop(self, reason: str = "shut down") -> None:
        """Withdraw the advertisement, say goodbye on the link (the controller requeues
        this agent's frames at once), then kill running tasks: no link is left to report
        them, and their attempts end with this session."""
        await self._health.stopping()
        if self._advertising is not None:
            self._advertising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._advertising
        if self._advertiser is not None:
            await self._advertiser.stop()
        if self._links is not None:
            await self._links.farewell(reason, STOP_GRACE)
        if self._server is not None:
            await self._server.stop(grace=STOP_GRACE)
        if self._attempts is not None:
            await self._attempts.shutdown()
        for task in (self._hardware, self._blob_collection):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._metrics is not None:
            await self._metrics.close()

    def _load_farm_key(self) -> bytes | None:
        """The farm key: from the join token (saved for later starts), else from its file."""
        config = self.config
        try:
            if config.join:
                write_private(config.key_file, farm_key.from_token(config.join))
                log.info("farm key saved path=%s", config.key_file)
            key = farm_key.load(config.key_file)
        except farm_key.FarmKeyError as exc:
            raise AgentStartError(str(exc)) from None
        except OSError as exc:
            raise AgentStartError(
                f"cannot keep the farm key in {config.key_file}: {exc.strerror or exc}"
            ) from None
        if key is None:
            log.warning("%s", NO_KEY)
        return key

    async def _hello(self) -> apb.AgentHello:
        assert self._hardware is not None
        assert self._attempts is not None
        config = self.config
        return apb.AgentHello(
            agent_id=self.agent_id,
            version=__version__,
            session_id=self.session_id,
            hardware=await asyncio.shield(self._hardware),
            slots=config.slots,
            pool=config.pool,
            tags=config.tags,
            known_attempt_ids=self._attempts.known_ids(),
            port=self.port,
            cost_per_hour=config.cost_per_hour,
            allowed_plugins=config.allowed_plugins,
            takes_assign_many=True,
        )
