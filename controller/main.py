"""Starting and stopping the controller: the store, the farm, the server, the links."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import dataclass

import grpc

from renderq import farm_key, mdns, tls
from renderq.controller import blob_serving
from renderq.controller.api import FarmApi
from renderq.controller.api_thread import ApiServer
from renderq.controller.audit import AuditLog
from renderq.controller.auth import AuthInterceptor
from renderq.controller.backup import DatabaseExport
from renderq.controller.blob_store import BlobStore
from renderq.controller.bus import EventBus
from renderq.controller.config import ControllerConfig
from renderq.controller.discovery import Discovery
from renderq.controller.farm import Farm
from renderq.controller.farm_calls import FarmCalls
from renderq.controller.interpreter_settings import tune_interpreter
from renderq.controller.links import LinkManager
from renderq.controller.long_lived import settle_restored
from renderq.controller.loop_wakeups import wake_only_when_asleep
from renderq.controller.metrics import controller_registry
from renderq.controller.object_storage import ObjectStorage
from renderq.controller.poller_wakeups import read_wakeups_in_bulk
from renderq.controller.recorder import Recorder
from renderq.controller.store import Batch, Store
from renderq.controller.task_logs import TaskLogs
from renderq.controller.tokens import TokenBook
from renderq.grpc_limits import MESSAGE_SIZE_OPTIONS
from renderq.metrics_endpoint import MetricsEndpoint, MetricsListenError
from renderq.port_holder import holder_of
from renderq.stop_signals import STOP_SIGNALS

log = logging.getLogger("renderq.controller")

SERVER_OPTIONS = [
    *MESSAGE_SIZE_OPTIONS,
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Two controllers on one port would split the farm's clients between them.
    ("grpc.so_reuseport", 0),
]
TIMEOUT_CHECK_INTERVAL = 1.0
LOG_PRUNE_INTERVAL = 3600.0
"""Seconds between two looks for task logs past their retention."""
BLOB_COLLECT_INTERVAL = 24 * 3600.0


class ListenError(RuntimeError):
    """The controller cannot serve on the address it was given."""


async def check_timeouts(farm: Farm) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + TIMEOUT_CHECK_INTERVAL
        await asyncio.sleep(TIMEOUT_CHECK_INTERVAL)
        farm.liveness.forgive(loop.time() - due)
        farm.liveness.check_timeouts(time.time())


async def prune_logs(farm: Farm, logs: TaskLogs) -> None:
    """At start, then hourly: remove the task logs of jobs that ended longer ago than the
    retention, so a farm's logs do not fill its disk over the years."""
    while True:
        try:
            removed = await logs.prune(farm.state.jobs, time.time())
        except OSError as e:
            log.warning("cannot remove old task logs in %s: %s", logs.root, e)
        else:
            if removed:
                shown = ",".join(map(str, removed[:50])) + (",..." if len(removed) > 50 else "")
                log.info(
                    "task logs removed after %g days (log retention) jobs=%d ids=%s",
                    logs.retention_days, len(removed), shown,
                )  # fmt: skip
        await asyncio.sleep(LOG_PRUNE_INTERVAL)


async def collect_blobs(farm: Farm) -> None:
    """At start, then daily: remove the blobs no job references, unused for the retention
    (CollectBlobs' default), so deleted jobs' projects do not fill the disk."""
    while True:
        try:
            removed, freed, kept = await blob_serving.collect(
                farm.state, farm.blobs, blob_serving.RETENTION, False
            )
        except OSError as e:
            log.warning("cannot collect blobs in %s: %s", farm.blobs.root, e)
        else:
            if removed:
                log.info(
                    "blobs no job uses collected removed=%d bytes_freed=%d kept=%d", removed, freed, kept
                )
        await asyncio.sleep(BLOB_COLLECT_INTERVAL)


@dataclass
class Parts:
    """What one controller run is made of, opened from the database."""

    store: Store
    bus: EventBus
    recorder: Recorder
    logs: TaskLogs
    farm: Farm
    book: TokenBook
    audit: AuditLog


def open_parts(config: ControllerConfig) -> Parts:
    """The store opened (and migrated), a new epoch recorded, the farm restored."""
    store = Store(config.db_path)
    loaded = store.load()
    epoch = int(loaded.meta.get("epoch", "0")) + 1
    store.write(Batch(meta={"epoch": str(epoch)}))
    bus = EventBus(int(loaded.meta.get("event_sequence", "0")))
    recorder = Recorder(store, bus)
    logs = TaskLogs(config.log_dir, config.log_retention)
    farm = Farm(
        recorder, logs, epoch, config.agent_timeout, BlobStore(config.blob_dir), ObjectStorage(config)
    )
    farm.restore(loaded)
    book = TokenBook(loaded.tokens, recorder)
    book.ensure_local_admin(config.data_dir)
    audit = AuditLog(recorder, store, loaded.audit_sequence)
    del loaded
    settle_restored()
    return Parts(store, bus, recorder, logs, farm, book, audit)


def listen(server: grpc.aio.Server, config: ControllerConfig) -> int:
    """Bind ``config.listen``; the port. Raises ListenError with the reason."""
    try:
        if config.tls_dir is None:
            return server.add_insecure_port(config.listen)
        return server.add_secure_port(config.listen, tls.server_credentials(config.tls_dir))
    except (RuntimeError, tls.TlsError) as e:
        raise ListenError(f"cannot listen on {config.listen}: {e}{holder_of(config.listen)}") from None


def dial_agents(config: ControllerConfig, farm: Farm, links: LinkManager) -> None:
    """The agents named by flags, and every agent the farm knows, however it was first found."""
    for address in config.agents:
        links.dial([address])
    for agent in list(farm.state.agents.values()):
        if agent.address:
            links.dial([agent.address], agent.id)
    farm.agent_control.on_forget = links.forget


def build_api(config: ControllerConfig, parts: Parts) -> ApiServer:
    """The API server: FarmService behind the token check (on the farm's loop), health and
    reflection open to all."""
    export = DatabaseExport(parts.store, config.data_dir / "exports")
    api = FarmApi(parts.farm, parts.bus, parts.logs, parts.book, parts.audit, export)
    return ApiServer(FarmCalls(api, AuthInterceptor(parts.book, parts.audit)), SERVER_OPTIONS)


async def start_metrics(config: ControllerConfig, parts: Parts) -> MetricsEndpoint | None:
    """The Prometheus endpoint on ``config.metrics_listen`` (None: not asked for). Raises ListenError."""
    if config.metrics_listen is None:
        return None
    endpoint = MetricsEndpoint(controller_registry(parts.farm, parts.recorder, parts.bus))
    try:
        port = await endpoint.start(config.metrics_listen)
    except MetricsListenError as e:
        raise ListenError(str(e)) from None
    log.info("metrics on http://%s:%d/metrics", config.metrics_listen.rsplit(":", 1)[0], port)
    return endpoint


async def serve(config: ControllerConfig, started: asyncio.Future[int] | None = None) -> None:
    """Run the controller until cancelled; ``started`` gets the port once it serves."""
    parts = open_parts(config)
    farm = parts.farm
    server = build_api(config, parts)
    try:
        port = await server.open(lambda s: listen(s, config))
        read_wakeups_in_bulk()  # the farm's loop, as the API's (while the API's server keeps the poller)
        wake_only_when_asleep(asyncio.get_running_loop())  # the API's thread hands it gRPC's completions
        metrics = await start_metrics(config, parts)
    except ListenError:
        await server.stop()
        parts.store.close()
        raise
    host = config.listen.rsplit(":", 1)[0]
    links = LinkManager(farm, farm_key.load_or_create(config.key_file), config.tls_dir)
    discovery = Discovery(links, port, mdns.listen_addresses(host)) if config.mdns else None
    writer = asyncio.create_task(parts.recorder.run(), name="recorder")
    background = [
        asyncio.create_task(farm.dispatcher.run(), name="dispatcher"),
        asyncio.create_task(check_timeouts(farm), name="timeouts"),
        asyncio.create_task(prune_logs(farm, parts.logs), name="log retention"),
        asyncio.create_task(collect_blobs(farm), name="blob collection"),
    ]
    try:
        await server.start()
        log.info(
            "renderq controller listening on %s:%d db=%s tls=%s",
            host,
            port,
            config.db_path,
            "on" if config.tls_dir else "off",
        )
        log.info("farm key path=%s (renderq join-token prints the line that adds a node)", config.key_file)
        dial_agents(config, farm, links)
        if discovery is not None:
            await discovery.start()
        await server.serving()
        farm.outputs.push_restored()
        if started is not None:
            started.set_result(port)
        done, _ = await asyncio.wait([writer, *background], return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        await server.stop()
        if discovery is not None:
            await discovery.close()
        await links.close()
        await stop_tasks(background, writer, parts)
        if metrics is not None:
            await metrics.close()


async def stop_tasks(background: list[asyncio.Task[None]], writer: asyncio.Task[None], parts: Parts) -> None:
    """Stop the background tasks, let the writer store what is left, close the store."""
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    # The writer may be inside a transaction: let it store what is left, then stop.
    if not writer.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(parts.recorder.flush()), 10)
        writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    await parts.recorder.writes_ended()
    parts.store.close()
    log.info("renderq controller stopped")


def raise_open_files_limit() -> None:
    """Every linked agent holds a socket: the soft limit most shells and systemd give a
    service (1,024) would stop a farm at about a thousand agents, so the controller takes
    the hard limit it is allowed (systemd's is 524,288)."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(config: ControllerConfig) -> int:
    """Run the controller in the foreground; SIGINT, SIGTERM or SIGHUP stops it cleanly."""
    raise_open_files_limit()
    tune_interpreter()

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        await serve(config)

    try:
        asyncio.run(run())
    except asyncio.CancelledError:
        pass
    except ListenError as e:
        log.error("%s", e)
        return 1
    return 0
