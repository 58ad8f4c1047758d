"""The read-only verbs: ``jobs``, ``job``, ``frames``, ``tasks``, ``agents``, ``plugins``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.estimates import estimate_fields, note_columns
from renderq.cli.failures import warn
from renderq.cli.output import print_json, typed_parameters
from renderq.cli.schema import parameter_types
from renderq.cli.tables import Column, print_fields, print_table
from renderq.client.enums import from_label, label, labels
from renderq.client.paging import collect_pages
from renderq.client.units import elapsed, format_duration, format_size, format_time, progress_bar
from renderq.frame_range import format_frames
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    jobs = verbs.add_parser(
        "jobs", parents=[common], help="list jobs", description="List jobs, newest first."
    )
    jobs.add_argument(
        "--state",
        action="append",
        default=[],
        choices=labels(pb.JobState),
        help="only jobs in this state (repeatable)",
    )
    jobs.add_argument("--owner", default="", help="only this owner's jobs")
    jobs.add_argument("--name", default="", help="only jobs whose name contains this text")
    jobs.add_argument("--all-pages", action="store_true", help="every matching job, not only the first page")
    jobs.set_defaults(run=client_verb(_jobs))

    job = verbs.add_parser(
        "job", parents=[common], help="show one job", description="Show everything about a job."
    )
    job.add_argument("job_id", type=int, metavar="ID")
    job.set_defaults(run=client_verb(_job))

    frames = verbs.add_parser(
        "frames", parents=[common], help="list a job's frames", description="List every frame of a job."
    )
    frames.add_argument("job_id", type=int, metavar="ID")
    frames.add_argument(
        "--state",
        action="append",
        default=[],
        choices=labels(pb.FrameState),
        help="only frames in this state",
    )
    frames.set_defaults(run=client_verb(_frames))

    tasks = verbs.add_parser(
        "tasks",
        parents=[common],
        help="list a job's tasks",
        description="List the tasks (chunks of frames) of a job.",
    )
    tasks.add_argument("job_id", type=int, metavar="ID")
    tasks.set_defaults(run=client_verb(_tasks))

    agents = verbs.add_parser(
        "agents",
        parents=[common],
        help="list agents, or show one",
        description="List the render nodes; with AGENT, show everything about one of them: its "
        "settings (with what the agent announced where an operator overrides them) and what its "
        "running tasks reserve.",
    )
    agents.add_argument("agent_id", nargs="?", metavar="AGENT", help="an agent id: show that agent")
    agents.set_defaults(run=client_verb(_agents))

    plugins = verbs.add_parser(
        "plugins",
        parents=[common],
        help="list renderer plugins",
        description="List the renderers the farm knows.",
    )
    plugins.set_defaults(run=client_verb(_plugins))


def _exit_text(state_done: bool, exit_code: int) -> str:
    return str(exit_code) if state_done else "-"


async def _jobs(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.ListJobsRequest(
        states=[from_label(pb.JobState, s) for s in args.state], owner=args.owner, name_contains=args.name
    )

    async def page(token: str) -> fpb.ListJobsResponse:
        request.page_token = token
        return await stub.ListJobs(request)

    if args.all_pages:
        jobs = await collect_pages(page, lambda r: r.jobs)
    else:
        first = await page("")
        jobs = list(first.jobs)
        if first.next_page_token:
            warn("more jobs match than shown; pass --all-pages to list them all", args.json)
    if args.json:
        print_json(jobs, await parameter_types(stub))
        return 0
    columns = [
        Column("ID", right=True),
        Column("STATE"),
        Column("PRI", right=True, spare=4),
        Column("PROGRESS"),
        Column("FRAMES", right=True),
        Column("FAILED", right=True, spare=1),
        Column("OWNER", spare=2, cut=True),
        Column("PLUGIN", spare=5),
        Column("CREATED", spare=6),
        Column("ELAPSED", right=True, spare=3),
        Column("NAME", cut=True),
    ]
    rows = [
        [
            str(j.id),
            label(pb.JobState, j.state),
            str(j.priority),
            progress_bar(j.progress),
            f"{j.frames_completed}/{j.frame_count}",
            str(j.frames_failed),
            j.owner,
            j.plugin,
            format_time(j.create_time),
            elapsed(j.start_time, j.end_time),
            j.name,
        ]
        for j in jobs
    ]
    note_columns(columns, rows, jobs)
    print_table(columns, rows, empty="no jobs")
    return 0


async def _job(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    job = (await stub.GetJob(fpb.GetJobRequest(job_id=args.job_id))).job
    types = await parameter_types(stub)
    if args.json:
        print_json(job, types)
        return 0
    print_fields(
        [
            ("id", str(job.id)),
            ("name", job.name or "-"),
            ("owner", job.owner or "-"),
            ("plugin", job.plugin),
            ("state", label(pb.JobState, job.state)),
            ("reason", job.state_reason or "-"),
            ("progress", progress_bar(job.progress)),
            ("frames", job.frames),
            (
                "done",
                f"{job.frames_completed}/{job.frame_count} completed, {job.frames_running} running, "
                f"{job.frames_failed} failed",
            ),
            ("tasks", f"{job.task_count} of {job.chunk_size or 1} frame(s) each"),
            ("priority", str(job.priority)),
            ("pool", job.pool or "any"),
            ("requirements", _requirements(job.requirements)),
            ("reserves per task", _reservation(job.reservation)),
            ("limits", ", ".join(job.limits) or "-"),
            ("parameters", json.dumps(typed_parameters(job, types), sort_keys=True)),
            ("environment", json.dumps(dict(job.environment), sort_keys=True) if job.environment else "-"),
            ("depends on", _dependencies(job)),
            *estimate_fields(job),
            ("max retries", str(job.max_retries) if job.HasField("max_retries") else "default"),
            ("task timeout", format_duration(job.task_timeout) if job.HasField("task_timeout") else "none"),
            ("created", format_time(job.create_time)),
            ("started", format_time(job.start_time)),
            ("ended", format_time(job.end_time)),
            ("elapsed", elapsed(job.start_time, job.end_time)),
            ("last error", job.last_error or "-"),
            (
                "blocked agents",
                "; ".join(f"{b.agent_id} ({b.failures} failures): {b.reason}" for b in job.blocked_agents)
                or "-",
            ),
        ]
    )
    return 0


def _dependencies(job: pb.Job) -> str:
    if not job.depends_on:
        return "-"
    listed = ", ".join(str(d) for d in job.depends_on)
    return f"{listed} (frame by frame)" if job.frame_by_frame else listed


def _reservation(held: pb.TaskReservation) -> str:
    parts = [
        f"{held.cores} cores" if held.cores else "",
        f"{format_size(held.memory_bytes)} RAM" if held.memory_bytes else "",
        f"{held.gpus} GPUs" if held.gpus else "",
    ]
    return ", ".join(p for p in parts if p) or "a slot"


def _requirements(needs: pb.Requirements) -> str:
    parts = [
        f"{needs.min_cpu_cores} cores" if needs.min_cpu_cores else "",
        f"{format_size(needs.min_ram_bytes)} RAM" if needs.min_ram_bytes else "",
        f"{needs.min_gpu_count} GPUs" if needs.min_gpu_count else "",
        f"{format_size(needs.min_gpu_memory_bytes)} per GPU" if needs.min_gpu_memory_bytes else "",
        needs.os,
        *(f"renderer {name}" for name in needs.renderers),
        *(f"tag {tag}" for tag in needs.tags),
    ]
    return ", ".join(p for p in parts if p) or "none"


async def _frames(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    states = [from_label(pb.FrameState, s) for s in args.state]
    frames = await collect_pages(
        lambda token: stub.ListFrames(
            fpb.ListFramesRequest(job_id=args.job_id, states=states, page_token=token)
        ),
        lambda r: r.frames,
    )
    if args.json:
        print_json(frames)
        return 0
    done = {pb.FRAME_STATE_COMPLETED, pb.FRAME_STATE_FAILED}
    columns = [
        Column("FRAME", right=True),
        Column("STATE"),
        Column("PROGRESS", spare=7),
        Column("AGENT", spare=2, cut=True),
        Column("TRIES", right=True, spare=6),
        Column("FAILS", right=True, spare=3),
        Column("TIME", right=True, spare=1),
        Column("PEAK MEM", right=True, spare=5),
        Column("EXIT", right=True),
        Column("OUTPUT", spare=4, cut=True),
        Column("ERROR", wrap=True),
    ]
    rows = [
        [
            str(f.number),
            label(pb.FrameState, f.state),
            progress_bar(f.progress),
            f.agent_id or "-",
            str(f.attempt_count),
            str(f.failure_count),
            format_duration(f.render_time),
            format_size(f.peak_rss_bytes) if f.peak_rss_bytes else "-",
            _exit_text(f.state in done, f.exit_code),
            _outputs(f.outputs),
            f.error_message,
        ]
        for f in frames
    ]
    print_table(columns, rows, empty=f"no frames of job {args.job_id} match")
    return 0


def _outputs(outputs: Sequence[pb.OutputFile]) -> str:
    if not outputs:
        return "-"
    more = f" (+{len(outputs) - 1})" if len(outputs) > 1 else ""
    return outputs[0].path + more


async def _tasks(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    tasks = await list_tasks(stub, args.job_id)
    if args.json:
        print_json(tasks)
        return 0
    done = {pb.TASK_STATE_COMPLETED, pb.TASK_STATE_FAILED}
    columns = [
        Column("TASK", right=True),
        Column("#", right=True, spare=7),
        Column("FRAMES", cut=True),
        Column("STATE"),
        Column("PROGRESS", spare=3),
        Column("AGENT", spare=2, cut=True),
        Column("TRIES", right=True, spare=4),
        Column("EXIT", right=True),
        Column("CPU", right=True, spare=6),
        Column("PEAK MEM", right=True, spare=5),
        Column("STARTED", spare=8),
        Column("ELAPSED", right=True, spare=1),
        Column("ERROR", wrap=True),
    ]
    rows = [
        [
            str(t.id),
            str(t.index),
            format_frames(t.frames),
            label(pb.TaskState, t.state),
            progress_bar(t.progress),
            t.agent_id or "-",
            str(t.attempt_count),
            _exit_text(t.state in done, t.exit_code),
            format_duration(t.cpu_time),
            format_size(t.peak_rss_bytes) if t.peak_rss_bytes else "-",
            format_time(t.start_time),
            elapsed(t.start_time, t.end_time),
            t.error_message,
        ]
        for t in tasks
    ]
    print_table(columns, rows, empty=f"job {args.job_id} has no tasks")
    return 0


async def list_tasks(stub: FarmServiceAsyncStub, job_id: int) -> list[pb.Task]:
    return await collect_pages(
        lambda token: stub.ListTasks(fpb.ListTasksRequest(job_id=job_id, page_token=token)), lambda r: r.tasks
    )


async def _agents(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    if args.agent_id is not None:
        return await _agent(args, stub)
    agents = await collect_pages(
        lambda token: stub.ListAgents(fpb.ListAgentsRequest(page_token=token)), lambda r: r.agents
    )
    if args.json:
        print_json(agents)
        return 0
    columns = [
        Column("ID"),
        Column("STATUS"),
        Column("MODE"),
        Column("HOST", spare=1, cut=True),
        Column("ADDRESS", spare=7),
        Column("SLOTS", right=True),
        Column("CPU", right=True, spare=2),
        Column("RAM", right=True, spare=3),
        Column("GPUS", spare=4, cut=True),
        Column("POOL", spare=5, cut=True),
        Column("TAGS", spare=6, cut=True),
        Column("LAST SEEN", spare=8),
    ]
    rows = [
        [
            a.id,
            "refused" if a.problem else label(pb.AgentStatus, a.status),
            label(pb.AgentMode, a.mode),
            a.hardware.hostname or "-",
            a.address or "-",
            f"{a.slots_used}/{a.slots}{_marked(a, 'slots')}",
            f"{a.load.cpu_percent:.0f}%",
            f"{format_size(a.load.ram_used_bytes)} / {format_size(a.hardware.ram_bytes)}",
            _gpus(a.hardware.gpus),
            f"{a.pool or '-'}{_marked(a, 'pool')}",
            f"{','.join(a.tags) or '-'}{_marked(a, 'tags')}",
            format_time(a.last_seen_time),
        ]
        for a in agents
    ]
    print_table(columns, rows, empty="no agents")
    for a in agents:
        if a.problem:
            print(f"{a.id} is refused: {a.problem}")
    for a in agents:
        overridden = [f"{name} {text}" for name, text in setting_fields(a, only_overridden=True)]
        if overridden:
            print(f"{OVERRIDE_MARK} {a.id}: {', '.join(overridden)}")
    return 0


async def _agent(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    agent = (await stub.GetAgent(fpb.GetAgentRequest(agent_id=args.agent_id))).agent
    if args.json:
        print_json(agent)
    else:
        print_fields(agent_fields(agent))
    return 0


def agent_fields(agent: pb.Agent) -> list[tuple[str, str]]:
    """Everything about one agent, as ``renderq agents AGENT`` shows it."""
    hw, load = agent.hardware, agent.load
    fields = [
        ("id", agent.id),
        ("status", "refused" if agent.problem else label(pb.AgentStatus, agent.status)),
        ("mode", label(pb.AgentMode, agent.mode)),
    ]
    if agent.problem:
        fields.append(("problem", agent.problem))
    gpus = [f"{g.index}: {g.model}, {format_size(g.memory_bytes)}" for g in hw.gpus]
    ram = f"{format_size(load.ram_used_bytes)} / {format_size(hw.ram_bytes)}"
    fields += [
        ("host", hw.hostname or "-"),
        ("address", agent.address or "-"),
        ("system", f"{hw.os} {hw.arch}".strip() or "-"),
        ("version", agent.version or "-"),
        ("hardware", f"{hw.cpu_cores} cores, {format_size(hw.ram_bytes)} RAM"),
        ("GPUs", "; ".join(gpus) or "none"),
        ("load", f"CPU {load.cpu_percent:.0f}%, RAM {ram}, load {load.load_average:.2f}"),
        *setting_fields(agent),
        ("in use", f"{agent.slots_used} of {agent.slots} slots"),
        ("reserved", reserved_text(agent)),
        ("running tasks", ", ".join(str(t) for t in agent.running_task_ids) or "none"),
        ("plugins", ", ".join(agent.allowed_plugins) or "all"),
        ("last seen", format_time(agent.last_seen_time)),
    ]
    return fields


SETTINGS = (("slots", "slots"), ("pool", "pool"), ("tags", "tags"), ("cost_per_hour", "cost per hour"))
"""The settings an operator may override (``renderq agent-set``): field, then its name in text."""
OVERRIDE_MARK = "*"
"""Marks an overridden value in the agents table; a line under it tells the override."""


def setting_fields(agent: pb.Agent, only_overridden: bool = False) -> list[tuple[str, str]]:
    """Slots, pool, tags and cost per hour in force, each overridden one followed by what
    the agent announced: ``("slots", "8 (override; agent announced 4)")``."""
    in_force = _setting_texts(agent.slots, agent.pool, agent.tags, agent.cost_per_hour)
    said = agent.announced
    announced = _setting_texts(said.slots, said.pool, said.tags.tags, said.cost_per_hour)
    fields = []
    for field, name in SETTINGS:
        text = in_force[field]
        if agent.overrides.HasField(field):
            known = said.HasField(field)
            text += f" (override; agent announced {announced[field]})" if known else " (override)"
        elif only_overridden:
            continue
        fields.append((name, text))
    return fields


def _setting_texts(slots: int, pool: str, tags: Iterable[str], cost_per_hour: float) -> dict[str, str]:
    tag_text = ",".join(tags) or "none"
    return {
        "slots": str(slots),
        "pool": pool or "none",
        "tags": tag_text,
        "cost_per_hour": f"{cost_per_hour:g}",
    }


def _marked(agent: pb.Agent, field: str) -> str:
    return OVERRIDE_MARK if agent.overrides.HasField(field) else ""


def reserved_text(agent: pb.Agent) -> str:
    """What the tasks running on ``agent`` reserve: ``8 cores, 40 GiB RAM, GPUs 0,1``."""
    parts = [
        f"{agent.cores_reserved} cores" if agent.cores_reserved else "",
        f"{format_size(agent.memory_reserved_bytes)} RAM" if agent.memory_reserved_bytes else "",
        f"GPUs {','.join(str(g) for g in agent.gpus_in_use)}" if agent.gpus_in_use else "",
    ]
    return ", ".join(p for p in parts if p) or "nothing"


def _gpus(gpus: Sequence[pb.Gpu]) -> str:
    if not gpus:
        return "-"
    return f"{len(gpus)}x {gpus[0].model} {format_size(gpus[0].memory_bytes)}"


async def _plugins(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    listed = await stub.ListPlugins(fpb.ListPluginsRequest())
    if args.json:
        print_json(listed.plugins)
    else:
        columns = [
            Column("NAME"),
            Column("RENDERER", spare=1),
            Column("PARAMETERS (* required)", wrap=True),
            Column("DESCRIPTION", wrap=True),
            Column("ORIGIN", wrap=True),
        ]
        rows = [
            [
                p.name,
                p.renderer or "-",
                ", ".join(f"{q.name}{'*' if q.required else ''}" for q in p.parameters) or "-",
                p.description,
                p.origin or "-",
            ]
            for p in listed.plugins
        ]
        print_table(columns, rows, empty="no plugins")
    for broken in listed.broken:
        warn(f"plugin {broken.name!r} from {broken.origin} is left out: {broken.error}", args.json)
    return 0
