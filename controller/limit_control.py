"""Limits: farm-wide counters such as renderer licences (``renderq limit set maya 5``).

Only the capacity is stored. Who holds a limit follows from what runs (``holdings.py``):
every attempt an agent holds a slot for (from assignment until the agent reports its
process ended) holds each limit its job named when it started, so the count is right
across a controller restart (the agents' running attempts are restored) and a task that
is being stopped keeps its licence until its process is gone. Lowering a capacity stops
new starts and kills nothing.
"""

from __future__ import annotations

import logging
import re

from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Limit
from renderq.controller.work_queue import WorkQueue
from renderq.states import JOB_FINAL

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MOST = 1_000_000


def usage(state: FarmState) -> dict[str, set[int]]:
    """Limit name -> ids of the jobs holding it; the count of holders is ``held``."""
    return {name: set(jobs) for name, jobs in state.holdings.limit_jobs.items()}


def held(state: FarmState) -> dict[str, int]:
    """Limit name -> running attempts holding it now."""
    return dict(state.holdings.by_limit)


class LimitControl:
    def __init__(self, state: FarmState, queue: WorkQueue) -> None:
        self.state = state
        self.queue = queue

    def set(self, name: str, capacity: int) -> Limit:
        """Create the limit or change its capacity."""
        if not NAME.fullmatch(name):
            raise InvalidField(
                "limit.name", f"{name!r} is not a limit name: letters, digits, '.', '_' and '-', up to 64"
            )
        if not 0 <= capacity <= MOST:
            raise InvalidField("limit.capacity", f"must be from 0 to {MOST:,}, not {capacity}")
        limit = self.state.limits.get(name)
        if limit is None:
            limit = self.state.limits[name] = Limit(name, capacity)
        limit.capacity = capacity
        self.state.rec.changed(limit)
        self.queue.wake()  # a raised capacity may let waiting tasks start
        log.info("limit set name=%s capacity=%d", name, capacity)
        return limit

    def delete(self, name: str) -> None:
        limit = self.state.limits.get(name)
        if limit is None:
            raise NoSuchResource(f"there is no limit {name!r}; `renderq limit list` shows them")
        jobs = self.state.jobs.values()
        naming = sorted(j.id for j in jobs if name in j.limits and j.state not in JOB_FINAL)
        if naming:
            raise NotPossibleNow(
                f"job {naming[0]} still names limit {name!r}; cancel it or let it finish first"
            )
        del self.state.limits[name]
        self.state.rec.deleted(limit)
        log.info("limit deleted name=%s", name)

    def free(self) -> dict[str, int]:
        """Limit name -> how many more tasks naming it may start now."""
        in_use = self.state.holdings.by_limit
        limits = self.state.limits.values()
        return {limit.name: max(0, limit.capacity - in_use[limit.name]) for limit in limits}
