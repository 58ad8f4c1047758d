"""The agent's Prometheus metrics (served with ``--metrics-listen HOST:PORT``).

Read at scrape time from the agent's own parts, on the event loop
(renderq/metrics_endpoint.py); the only numbers kept on the way are a task's duration
(``Attempts.task_seconds``) and the count of links (``LinkService.links``).

- ``renderq_agent_slots``: tasks this node runs at once (``--slots``)
- ``renderq_agent_running_tasks``: tasks running now
- ``renderq_agent_task_seconds`` (histogram): how long each task ran, from its assignment
  until its processes ended (completed, failed or cancelled)
- ``renderq_agent_outbox_events``: events waiting for the controller's ack (a link that
  is down, or a controller that cannot store, makes it grow)
- ``renderq_agent_events_total``: events reported since the agent started
- ``renderq_agent_link_state{state}``: 1 for the link's state now (``linked``,
  ``unlinked``, ``stopping``), 0 for the others
- ``renderq_agent_links_total``: links opened by a controller that proved the farm key
- ``renderq_agent_load_average``: the node's 1-minute load average
- ``renderq_agent_cpus``: its logical CPUs (to read the load average against)
- ``renderq_agent_memory_used_bytes``, ``renderq_agent_memory_bytes``: its memory in use, and in all

Also ``renderq_build_info{role="agent", version}`` and the agent process's own
``process_*`` metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import psutil
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from renderq.agent.attempts import Attempts
from renderq.agent.link import LinkService
from renderq.agent.outbox import Outbox
from renderq.metrics_endpoint import build_info

LINK_STATES = ("linked", "unlinked", "stopping")


class AgentCollector:
    """Reads the attempts, the outbox and the link at scrape time."""

    def __init__(self, slots: int, attempts: Attempts, outbox: Outbox, links: LinkService) -> None:
        self._slots = slots
        self._attempts = attempts
        self._outbox = outbox
        self._links = links

    def collect(self) -> Iterator[Metric]:
        yield build_info("agent")
        yield from self._work()
        yield from self._link()
        yield from self._host()

    def _work(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("renderq_agent_slots", "Tasks this node runs at once.", value=self._slots)
        yield GaugeMetricFamily(
            "renderq_agent_running_tasks", "Tasks running now.", value=len(self._attempts.running_ids())
        )
        yield self._attempts.task_seconds.family(
            "renderq_agent_task_seconds",
            "How long each task ran, from its assignment until its processes ended.",
        )
        yield GaugeMetricFamily(
            "renderq_agent_outbox_events", "Events waiting for the controller's ack.", value=len(self._outbox)
        )
        yield CounterMetricFamily(
            "renderq_agent_events",
            "Events reported since the agent started.",
            value=self._outbox.last_sequence,
        )

    def _link(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "renderq_agent_link_state", "1 for the link's state now, 0 for the others.", labels=["state"]
        )
        now = self._links.state
        for word in LINK_STATES:
            state.add_metric([word], 1 if word == now else 0)
        yield state
        yield CounterMetricFamily(
            "renderq_agent_links",
            "Links opened by a controller that proved the farm key.",
            value=self._links.links,
        )

    def _host(self) -> Iterator[Metric]:
        memory = psutil.virtual_memory()
        yield GaugeMetricFamily(
            "renderq_agent_load_average", "The node's 1-minute load average.", value=psutil.getloadavg()[0]
        )
        yield GaugeMetricFamily(
            "renderq_agent_cpus", "The node's logical CPUs.", value=psutil.cpu_count() or 0
        )
        yield GaugeMetricFamily(
            "renderq_agent_memory_used_bytes",
            "The node's memory in use.",
            value=memory.total - memory.available,
        )
        yield GaugeMetricFamily("renderq_agent_memory_bytes", "The node's memory in all.", value=memory.total)


def agent_registry(slots: int, attempts: Attempts, outbox: Outbox, links: LinkService) -> CollectorRegistry:
    """A registry of its own for one agent (several may run in one test process)."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(slots, attempts, outbox, links))
    ProcessCollector(registry=registry)
    return registry
