"""The controller's Prometheus metrics (served with ``--metrics-listen HOST:PORT``).

Gauges of the farm's current state are computed at scrape time from its memory, never
kept in step on the hot path; counters and histograms are plain numbers that the part
where the event happens bumps (``StateRules.frames_completed``,
``TaskEvents.render_seconds``, ``Dispatcher.delays``, ``Recorder.commit_seconds``) and
this collector reads. Everything runs on the event loop (renderq/metrics_endpoint.py).

Current state (gauges):

- ``renderq_jobs{state}``, ``renderq_tasks{state}``, ``renderq_frames{state}``: how many
  are in each state (every state listed, zeros too)
- ``renderq_agents{status, mode}``: agents of the farm (online or offline; enabled,
  disabled or draining)
- ``renderq_agents_refused``: nodes that failed to prove the farm key (listed, never used)
- ``renderq_slots{pool}``, ``renderq_slots_used{pool}``: task slots of the online agents,
  and how many of them run a task
- ``renderq_event_subscribers``: open event streams (WatchEvents, the TUI)
- ``renderq_event_subscriber_max_lag_events``: events waiting for the slowest of them

Since the controller started (counters):

- ``renderq_frames_completed_total``, ``renderq_frames_failed_total``: frames that ended
  completed, and failed for good (past their retries)
- ``renderq_frame_failures_total``: failed tries of frames, retried or not
- ``renderq_dispatch_passes_total``: scheduler runs
- ``renderq_store_commits_total``: batches written to DuckDB
- ``renderq_events_published_total``: events numbered so far (continues across restarts)
- ``renderq_event_resyncs_total``: watchers told to list again (too slow, or too old a cursor)

Histograms (seconds):

- ``renderq_frame_render_seconds``: render time of each completed frame, as its agent measured it
- ``renderq_dispatch_delay_seconds``: each task's wait from pending (submitted, retried,
  requeued) to assigned to an agent
- ``renderq_store_commit_seconds``: how long each DuckDB write of a batch took

Also ``renderq_build_info{role="controller", version}`` and the process's own
``process_*`` metrics (CPU seconds, resident memory, open files).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from renderq.controller.bus import EventBus
from renderq.controller.farm import Farm
from renderq.controller.recorder import Recorder
from renderq.metrics_endpoint import build_info
from renderq.v1 import resources_pb2 as pb


def _words(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    """Enum values as label words (``JOB_STATE_RUNNING`` -> ``running``), UNSPECIFIED left out."""
    return {
        number: name.removeprefix(prefix).lower()
        for name, number in enum.items()
        if not name.endswith("_UNSPECIFIED")
    }


JOB_STATES = _words(pb.JobState, "JOB_STATE_")
TASK_STATES = _words(pb.TaskState, "TASK_STATE_")
FRAME_STATES = _words(pb.FrameState, "FRAME_STATE_")
AGENT_STATUSES = _words(pb.AgentStatus, "AGENT_STATUS_")
AGENT_MODES = _words(pb.AgentMode, "AGENT_MODE_")


def _by_state(
    name: str, documentation: str, words: dict[int, str], counts: Counter[int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["state"])
    for number, word in words.items():
        family.add_metric([word], counts.get(number, 0))
    return family


class FarmCollector:
    """Reads the farm, the recorder and the event bus at scrape time."""

    def __init__(self, farm: Farm, recorder: Recorder, bus: EventBus) -> None:
        self._farm = farm
        self._recorder = recorder
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        yield build_info("controller")
        yield from self._work()
        yield from self._agents()
        yield from self._counters()
        yield from self._histograms()
        yield from self._events()

    def _work(self) -> Iterator[Metric]:
        state = self._farm.state
        frames: Counter[int] = Counter()
        for job in state.jobs.values():
            frames.update(job.counts)
        # One pass over the tasks: a counter of their states costs a C loop, not a Python one.
        tasks: Counter[int] = Counter(task.state for task in state.tasks.values())
        jobs: Counter[int] = Counter(job.state for job in state.jobs.values())
        yield _by_state("renderq_jobs", "Jobs in each state.", JOB_STATES, jobs)
        yield _by_state("renderq_tasks", "Tasks in each state.", TASK_STATES, tasks)
        yield _by_state("renderq_frames", "Frames in each state.", FRAME_STATES, frames)

    def _agents(self) -> Iterator[Metric]:
        state = self._farm.state
        agents: Counter[tuple[int, int]] = Counter((a.status, a.mode) for a in state.agents.values())
        family = GaugeMetricFamily(
            "renderq_agents", "Agents known to the farm, by status and mode.", labels=["status", "mode"]
        )
        for status, status_word in AGENT_STATUSES.items():
            for mode, mode_word in AGENT_MODES.items():
                family.add_metric([status_word, mode_word], agents.get((status, mode), 0))
        yield family
        yield GaugeMetricFamily(
            "renderq_agents_refused",
            "Nodes that failed to prove the farm key (never used).",
            value=len(state.refused),
        )
        slots: Counter[str] = Counter()
        used: Counter[str] = Counter()
        for agent in state.agents.values():
            if agent.online:
                slots[agent.pool] += agent.slots
                used[agent.pool] += agent.slots_used
        total = GaugeMetricFamily(
            "renderq_slots", "Task slots of the online agents, by pool.", labels=["pool"]
        )
        busy = GaugeMetricFamily(
            "renderq_slots_used", "Task slots of the online agents running a task, by pool.", labels=["pool"]
        )
        for pool in sorted(slots):
            total.add_metric([pool], slots[pool])
            busy.add_metric([pool], used[pool])
        yield total
        yield busy

    def _counters(self) -> Iterator[Metric]:
        farm = self._farm
        yield CounterMetricFamily(
            "renderq_frames_completed",
            "Frames completed since the controller started.",
            value=farm.rules.frames_completed,
        )
        yield CounterMetricFamily(
            "renderq_frames_failed",
            "Frames failed for good (past their retries) since the start.",
            value=farm.rules.frames_failed,
        )
        yield CounterMetricFamily(
            "renderq_frame_failures",
            "Failed tries of frames, retried or not, since the controller started.",
            value=farm.rules.frame_failures,
        )
        yield CounterMetricFamily(
            "renderq_dispatch_passes",
            "Scheduler runs since the controller started.",
            value=farm.dispatcher.passes,
        )
        yield CounterMetricFamily(
            "renderq_store_commits",
            "Batches of changes written to DuckDB since the controller started.",
            value=self._recorder.batches,
        )

    def _histograms(self) -> Iterator[Metric]:
        farm = self._farm
        yield farm.task_events.render_seconds.family(
            "renderq_frame_render_seconds", "Render time of each completed frame, as its agent measured it."
        )
        yield farm.dispatcher.delays.family(
            "renderq_dispatch_delay_seconds", "Each task's wait from pending to assigned to an agent."
        )
        yield self._recorder.commit_seconds.family(
            "renderq_store_commit_seconds", "How long each DuckDB write of a batch of changes took."
        )

    def _events(self) -> Iterator[Metric]:
        bus = self._bus
        lags = bus.lags()
        yield GaugeMetricFamily(
            "renderq_event_subscribers",
            "Open event streams (WatchEvents, WatchEventBatches).",
            value=len(lags),
        )
        yield GaugeMetricFamily(
            "renderq_event_subscriber_max_lag_events",
            "Events waiting to be sent to the slowest stream.",
            value=max(lags, default=0),
        )
        yield CounterMetricFamily(
            "renderq_events_published",
            "Events numbered and published (continues across restarts).",
            value=bus.last_sequence,
        )
        yield CounterMetricFamily(
            "renderq_event_resyncs",
            "Event streams told to list again: too slow, or too old a cursor.",
            value=bus.resyncs,
        )


def controller_registry(farm: Farm, recorder: Recorder, bus: EventBus) -> CollectorRegistry:
    """A registry of its own for one controller (several may run in one test process)."""
    registry = CollectorRegistry()
    registry.register(FarmCollector(farm, recorder, bus))
    ProcessCollector(registry=registry)
    return registry
