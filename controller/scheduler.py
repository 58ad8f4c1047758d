"""Which pending task goes to which agent: a pure function of demand and capacity.

Called by the dispatcher whenever something changed (work added, room freed, an agent
joined); never on a timer. Higher priority first; within a priority, each start goes to
the owner running the fewest tasks (then the oldest job), so one user's thousand-frame
job does not starve another's. Among agents that qualify, the cheapest is filled first,
then the one with most free slots. A task starts only where its reservation (cores,
memory, whole GPUs) fits what the agent has left, with every limit its job names free,
on an agent its job has not blocked; a job that failed on some agents tries the others
first. A task holding test frames goes to the fastest agent that qualifies and has room
(most GPUs when its job reserves GPUs, else most CPU cores), so the estimate and the
operator's look come soon.

The cost of a pass grows with the starts it makes, not with jobs x agents: jobs with the
same needs share one list of the agents that qualify (what an agent could ever run is
cached across passes, keyed on its profile), each list is walked once per pass by a
cursor (room only shrinks during a pass), and a job that cannot start now leaves the pass
for good. ``explain`` says why in words, from the same predicates (``placement.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from renderq.controller.holdings import task_memory
from renderq.controller.model import Agent, Job, Task
from renderq.controller.placement import Kind, Room, idle_reason, kind_of, refusal, room_reason, unmet_by_task
from renderq.controller.test_frames import is_test_task

Needs = tuple[str, str, bytes, int, int, int]
"""What makes two jobs' tasks interchangeable to an agent: plugin, pool, requirements,
cores, memory, GPUs."""

NextTask = Callable[[Job], Task | None]


@dataclass(frozen=True)
class Assignment:
    job: Job
    agent: Agent
    gpus: tuple[int, ...] = ()
    """The GPU indices the task gets (as many as its job reserves)."""
    task: Task | None = None
    """The task this start is for, when the caller said which comes next (``next_task``)."""


@dataclass
class Qualified:
    """Which kinds of agent could ever run tasks of which needs, remembered across passes,
    and each agent's kind while its profile (hardware, pool, tags, plugins) is unchanged."""

    kinds: dict[str, tuple[int, Kind]] = field(default_factory=dict)
    answers: dict[tuple[Needs, Kind], bool] = field(default_factory=dict)
    most: int = 100_000

    def kind(self, agent: Agent) -> Kind:
        known = self.kinds.get(agent.id)
        if known is not None and known[0] == agent.profile:
            return known[1]
        kind = kind_of(agent)
        self.kinds[agent.id] = (agent.profile, kind)
        return kind

    def check(self, needs: Needs, job: Job, memory: int, kind: Kind, agent: Agent) -> bool:
        """Whether agents of ``kind`` (``agent`` is one) could ever run ``job``'s tasks."""
        known = self.answers.get((needs, kind))
        if known is None:
            if len(self.answers) >= self.most:
                self.answers.clear()
            known = self.answers[(needs, kind)] = unmet_by_task(job, agent, memory) is None
        return known


def needs_of(job: Job, memory: int) -> Needs:
    res = job.reservation
    req = job.requirements.SerializeToString(deterministic=True)
    return (job.plugin, job.pool, req, res.cores, memory, res.gpus)


@dataclass(eq=False, slots=True)
class _Candidates:
    """The agents that qualify for some needs, in preference order, and how far the pass
    has found them full."""

    rooms: list[Room]
    cursor: int = 0


Grouped = dict[int, dict[str, list[Job]]]
"""Jobs by priority, then by owner, each owner's in id order."""


def group(jobs: Iterable[Job]) -> Grouped:
    """``jobs`` as ``assignments`` takes turns through them (a caller may keep this
    between passes while the jobs and their priorities stay the same)."""
    grouped: Grouped = {}
    for job in sorted(jobs, key=attrgetter("id")):
        grouped.setdefault(job.priority, {}).setdefault(job.owner, []).append(job)
    return grouped


def plan(
    jobs: Iterable[Job] | Grouped,
    agents: Sequence[Agent],
    running_by_owner: Mapping[str, int],
    free_limits: Mapping[str, int] | None = None,
    next_task: NextTask | None = None,
    qualified: Qualified | None = None,
) -> list[Assignment]:
    """Every start ``assignments`` makes, at once."""
    return list(assignments(jobs, agents, running_by_owner, free_limits, next_task, qualified))


def assignments(
    jobs: Iterable[Job] | Grouped,
    agents: Sequence[Agent],
    running_by_owner: Mapping[str, int],
    free_limits: Mapping[str, int] | None = None,
    next_task: NextTask | None = None,
    qualified: Qualified | None = None,
) -> Iterator[Assignment]:
    """Assign pending tasks of ``jobs`` to the room ``agents`` have, one start at a time.

    ``jobs`` have pending tasks and may run now (or are ``group`` of such); ``agents``
    are those that may have room (others are ignored); ``running_by_owner`` counts the
    tasks running per owner; ``free_limits`` says how many more tasks may start under
    each limit (a job naming a used-up or unknown limit starts nothing). ``next_task``
    tells which task of a job comes next (its memory reservation may have been raised):
    the caller takes that task off the queue before asking for the next start. Without
    it, each start stands for the next task of the job's queue, reserving what the job
    reserves.
    """
    qualified = qualified or Qualified()
    rooms = [Room.of(a, qualified.kind(a)) for a in agents if idle_reason(a) is None and a.free_slots > 0]
    if not rooms:
        return
    rooms.sort(key=lambda r: (r.agent.cost_per_hour, -r.slots, r.agent.id))
    work = _Pass(rooms, dict(free_limits or {}), next_task, qualified)
    grouped = jobs if isinstance(jobs, dict) else group(jobs)
    owners = dict(running_by_owner)
    for priority in sorted(grouped, reverse=True):
        # (running, the owner's next job id, owner, its jobs, where it is in them)
        turns = [
            (owners.get(owner, 0), owned[0].id, owner, owned, 0) for owner, owned in grouped[priority].items()
        ]
        heapq.heapify(turns)
        while turns and work.slots_left:
            running, _, owner, owned, at = heapq.heappop(turns)
            start = work.start(owned[at])
            if start is None:
                at += 1  # nothing of this job fits anywhere now: it leaves the pass
            else:
                running += 1
                owners[owner] = running
                yield start
            if at < len(owned):
                heapq.heappush(turns, (running, owned[at].id, owner, owned, at))


class _Pass:
    """The room, limits and pending counts one pass works through."""

    def __init__(
        self, rooms: list[Room], limits: dict[str, int], next_task: NextTask | None, qualified: Qualified
    ) -> None:
        self.rooms = rooms
        self.slots_left = sum(r.slots for r in rooms)
        self.limits = limits
        self.next_task = next_task
        self.qualified = qualified
        self.left: dict[int, int] = {}
        self.candidates: dict[Needs, _Candidates] = {}
        self.kinds = {r.kind: r.agent for r in rooms}
        """Each kind of agent among the rooms, with one agent of it."""

    def start(self, job: Job) -> Assignment | None:
        """One start for ``job``, taken from the room; None when it cannot start now."""
        left = self.left.get(job.id, len(job.pending))
        if left <= 0 or any(self.limits.get(name, 0) <= 0 for name in job.limits):
            return None
        task = None
        memory = job.reservation.memory_bytes
        if self.next_task is not None:
            task = self.next_task(job)
            if task is None:
                return None
            memory = task_memory(job, task)
        if task is not None and is_test_task(job, task):
            room = self._fastest_room(job, memory)
        else:
            room = self._room_for(job, memory)
        if room is None:
            return None
        res = job.reservation
        gpus = room.take(res.cores, memory, res.gpus)
        self.slots_left -= 1
        self.left[job.id] = left - 1
        for name in job.limits:
            self.limits[name] -= 1
        return Assignment(job, room.agent, gpus, task)

    def _candidates(self, job: Job, memory: int) -> _Candidates:
        """The rooms of agents that could ever run ``job``'s tasks, found once per pass and needs."""
        needs = needs_of(job, memory)
        found = self.candidates.get(needs)
        if found is None:
            check = self.qualified.check
            fit = {kind: check(needs, job, memory, kind, agent) for kind, agent in self.kinds.items()}
            found = _Candidates([r for r in self.rooms if fit[r.kind]])
            self.candidates[needs] = found
        return found

    def _room_for(self, job: Job, memory: int) -> Room | None:
        found = self._candidates(job, memory)
        res = job.reservation
        cores, gpus = res.cores, res.gpus
        rooms, i = found.rooms, found.cursor
        while i < len(rooms) and not rooms[i].fits(cores, memory, gpus):
            i += 1
        found.cursor = i
        if not (job.blocked or job.agent_failures):
            return rooms[i] if i < len(rooms) else None
        best, fewest = None, 0
        for room in rooms[i:]:
            if room.agent.id in job.blocked or not room.fits(cores, memory, gpus):
                continue
            failures = job.agent_failures.get(room.agent.id, 0)
            if not failures:
                return room
            if best is None or failures < fewest:
                best, fewest = room, failures
        return best

    def _fastest_room(self, job: Job, memory: int) -> Room | None:
        """The room of the fastest agent that could take one of ``job``'s tasks now (most
        GPUs if it reserves GPUs, else most cores; then the fewest failures of the job, then
        the cheapest): a scan of every qualifying room, made only for test tasks."""
        res = job.reservation
        fitting = [
            (index, room)
            for index, room in enumerate(self._candidates(job, memory).rooms)
            if room.agent.id not in job.blocked and room.fits(res.cores, memory, res.gpus)
        ]
        if not fitting:
            return None

        def speed(entry: tuple[int, Room]) -> tuple[int, int, int]:
            index, room = entry
            hw = room.agent.hardware
            power = len(hw.gpus) if res.gpus else hw.cpu_cores
            return (job.agent_failures.get(room.agent.id, 0), -power, index)

        return min(fitting, key=speed)[1]


def explain(
    job: Job, agents: Sequence[Agent], free_limits: Mapping[str, int], memory: int | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """Why ``job``'s next pending task does not start: the reasons that hold the whole job
    back, and for each agent the first reason ``assignments`` passes it over (empty: it
    could take one). The same predicates, in the same order, so the two never disagree."""
    need = job.reservation.memory_bytes if memory is None else memory
    res = job.reservation
    held = [f"limit {name} is used up" for name in job.limits if free_limits.get(name, 0) <= 0]
    verdicts = []
    for agent in sorted(agents, key=lambda a: a.id):
        why = idle_reason(agent) or refusal(job, agent, need)
        if why is None:
            why = room_reason(Room.of(agent), res.cores, need, res.gpus)
        verdicts.append((agent.id, why or ""))
    if not agents:
        held.append("no agent has joined the farm")
    elif all(refusal(job, agent, need) for agent in agents):
        held.append("no known agent could ever run it; it waits for one that can")
    elif all(why for _, why in verdicts):
        held.append("no agent can take one of its tasks now")
    return held, verdicts
