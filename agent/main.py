"""Running the agent: ``serve`` for embedding and tests, ``main`` for the command line."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType

from renderq.agent.child_process import watch_children_without_threads
from renderq.agent.config import AgentConfig
from renderq.agent.server import AgentServer, AgentStartError
from renderq.plugins.registry import log_broken_plugins
from renderq.stop_signals import STOP_SIGNALS

log = logging.getLogger(__name__)
# Operators and scripts wait for the listening line under the agent's own name.
agent_log = logging.getLogger("renderq.agent")


async def serve(
    config: AgentConfig,
    ready: asyncio.Event | None = None,
    why_stopped: Callable[[], str] = lambda: "shut down",
) -> None:
    """Run the agent until cancelled; set ``ready`` once it listens. ``why_stopped`` says,
    once it is cancelled, why (the controller is told: "the agent stopped: SIGTERM").

    Raises AgentStartError when it cannot start.
    """
    server = AgentServer(config)
    await server.start()
    try:
        agent_log.info(
            "renderq agent %s listening on %s:%d tls=%s",
            server.agent_id, server.host, server.port, "on" if config.tls_dir else "off",
        )  # fmt: skip
        if server.metrics_port:
            agent_log.info("metrics on http://%s:%d/metrics", server.host, server.metrics_port)
        log_broken_plugins()
        if ready is not None:
            ready.set()
        await asyncio.Future()
    finally:
        await server.stop(why_stopped())
        log.info("agent stopped agent=%s", server.agent_id)


def main(config: AgentConfig) -> int:
    """Run the agent until SIGINT or SIGTERM; return the process exit code."""
    watch_children_without_threads()
    try:
        asyncio.run(_serve_until_signalled(config))
    except AgentStartError as exc:
        log.error("renderq agent cannot start: %s", exc)
        return 1
    return 0


async def _serve_until_signalled(config: AgentConfig) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopping = ""

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        # A second signal must not cut short the killing of running tasks.
        if not stopping:
            stopping = signal.Signals(signum).name
            log.info("agent stopping signal=%s", signal.Signals(signum).name)
            loop.call_soon_threadsafe(task.cancel)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        await serve(config, why_stopped=lambda: stopping or "shut down")
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
