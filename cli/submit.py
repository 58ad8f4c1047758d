"""``renderq submit``: a job from flags, the way a pipeline script would build it."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderq.cli.analyze import frames_and_files
from renderq.cli.connection import client_verb
from renderq.cli.encode_flow import add_encode, plan_encode, submit_encode
from renderq.cli.estimates import add_test_frames, set_test_frames
from renderq.cli.failures import UserError, warn
from renderq.cli.output import print_document, to_dict
from renderq.cli.plugin_help import PluginHelpAction, plugin_names
from renderq.cli.progress import blocked_sentence
from renderq.cli.schema import parameter_types, path_parameters
from renderq.cli.upload_flow import add_upload, carry_project
from renderq.client.login import login_name
from renderq.client.paths import MissingPath, localize_paths
from renderq.client.units import parse_size
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

EPILOG = """\
Path parameters (a blender scene) are made absolute from this directory and must exist
here; --paths-on-nodes sends paths that only the render nodes have as they are typed.
--upload sends files to render nodes that share no disk with this machine; a path
parameter inside an uploaded folder then names the node's copy ({project}/...).
`renderq submit PLUGIN --help` lists a plugin's parameters.

examples:
  renderq submit blender --frames 1-250 --chunk 10 --param scene=/projects/shot010.blend
  renderq submit blender --frames 1-24 --param scene=shot010.blend   # in the scene's folder
  renderq submit command --frames 1-3 --require-ram 8GiB -- python render.py --frame {frame}
  renderq submit command --frames 1 --depends-on 41 -- ffmpeg -i /renders/shot010_%04d.png shot010.mp4
  renderq submit blender --frames 1-24 --upload shot010 --param scene=shot010/shot010.blend
  renderq submit blender --frames 1-250 --param scene=shot010.blend --encode mp4 --encode-fps 25
"""


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


INT32 = (1 << 31) - 1
INT64 = (1 << 63) - 1


def _count(text: str) -> int:
    """A whole number the API's int32 fields hold (argparse names the flag when it is not)."""
    value = _whole(text, "a whole number")
    if abs(value) > INT32:
        raise argparse.ArgumentTypeError(f"{value} is too large")
    return value


def _job_id(text: str) -> int:
    value = _whole(text, "a job id")
    if not 0 < value <= INT64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id")
    return value


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _seconds(text: str) -> float:
    """A number of seconds: finite, not negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or value > 10**9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 1e9")
    return value


def _size(text: str) -> int:
    try:
        size = parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if size > INT64:
        raise argparse.ArgumentTypeError(f"{text!r} is too large")
    return size


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "submit",
        parents=[common],
        usage="renderq submit PLUGIN --frames SPEC [options] [-- ARGV...]",
        help="submit a job",
        description="Submit a job and print its id. Everything after -- becomes the job's argv "
        "parameter (for the command plugin).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument(
        "-h", "--help", action=PluginHelpAction, help="show this help (after PLUGIN: its parameters too)"
    )
    parser.add_argument(
        "plugin",
        metavar="PLUGIN",
        help=f"renderer plugin: {plugin_names()} (`renderq plugins` lists the farm's)",
    )
    parser.add_argument(
        "--frames",
        metavar="SPEC",
        help="frame range: 1-100, 1-100x5, 1,5,10-20 (blender: the scene's range when left out)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse a scene (--param scene=) whose files are missing"
    )
    parser.add_argument("--chunk", type=_count, default=None, metavar="N", help="frames per task (default 1)")
    add_priority(parser)
    add_name(parser)
    parser.add_argument("--owner", default=login_name(), help="who the job belongs to (default $USER)")
    add_pool(parser)
    _add_parameters(parser)
    add_upload(parser)
    add_encode(parser)
    parser.add_argument(
        "--outputs",
        default="",
        metavar="DEST",
        help="where each frame's output files go as it completes: controller (the default: to the "
        "controller's store, checked by hash, for `renderq fetch`), keep (left where the renderer "
        "wrote them, e.g. a share), or s3://bucket/prefix (the controller's store, then pushed there)",
    )
    parser.add_argument(
        "--env",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="environment variable",
    )
    parser.add_argument(
        "--depends-on",
        action="append",
        type=_job_id,
        default=[],
        metavar="ID",
        help="start after this job completes (repeatable); if that one failed or was cancelled, "
        "this one is blocked until it is retried and completes",
    )
    parser.add_argument(
        "--frame-by-frame",
        action="store_true",
        help="with --depends-on: frame N starts as soon as frame N of that job completed",
    )
    add_test_frames(parser)
    _add_running(parser)
    add_reservation(parser)
    add_requirements(parser)
    parser.set_defaults(run=client_verb(_submit), takes_argv=True)


def _add_running(parser: argparse.ArgumentParser) -> None:
    """How the job's tasks run: retries, time limits, bad agents, licences."""
    add_max_retries(parser)
    parser.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS", help="kill a task that runs longer than this"
    )
    add_max_agent_failures(parser)
    add_min_runtime(parser)
    parser.add_argument(
        "--allow-unmatched",
        action="store_true",
        help="submit it even if no known agent could ever run it (one may join later)",
    )
    add_limit(parser)


# The flags of the job's settings that can change in flight, shared with `renderq job-set`
# so that both verbs spell and parse them alike.


def add_priority(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--priority", type=_count, default=None, metavar="N", help="0 to 100 (default 50)")


def add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="", help="job name")


def add_pool(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", default="", help="run only on agents of this pool")


def add_max_retries(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-retries", type=_count, metavar="N", help="automatic retries per frame (default 3)"
    )


def add_max_agent_failures(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-agent-failures",
        type=_count,
        metavar="N",
        help="failed tasks on one agent after which it gets no more of the job (default 3; 0 never)",
    )


def add_min_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-runtime",
        type=_seconds,
        metavar="SECONDS",
        help="a task that succeeds faster than this counts as failed (a renderer that exits 0 early)",
    )


def add_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME",
        help="a limit (licence) each task holds while it runs (repeatable; see `renderq limit list`)",
    )


def _add_parameters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="plugin parameter; VALUE is read as JSON when it parses (5, true, [1,2]), else as text",
    )
    parser.add_argument(
        "--paths-on-nodes",
        action="store_true",
        help="path parameters name places only the render nodes have (say P:\\shots on Windows nodes): "
        "send them as typed, neither made absolute nor checked here",
    )


def add_reservation(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The ``--task-*`` flags, in a group of their own (returned, to describe it further)."""
    held = parser.add_argument_group(
        "reservation (what each task holds on its agent; an agent runs several tasks only while they fit)"
    )
    held.add_argument("--task-cores", type=_count, default=0, metavar="N", help="CPU cores per task")
    held.add_argument(
        "--task-memory", type=_size, default=0, metavar="SIZE", help="memory per task, e.g. 40GiB"
    )
    held.add_argument(
        "--task-gpus",
        type=_count,
        default=0,
        metavar="N",
        help="whole GPUs per task, never shared (CUDA_VISIBLE_DEVICES and the {gpus} token)",
    )
    return held


def add_requirements(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The ``--require-*`` flags, in a group of their own (returned, to describe it further)."""
    needs = parser.add_argument_group("requirements (agents that lack them never get the job)")
    needs.add_argument("--require-cores", type=_count, default=0, metavar="N")
    needs.add_argument("--require-ram", type=_size, default=0, metavar="SIZE", help="e.g. 8GiB")
    needs.add_argument("--require-gpus", type=_count, default=0, metavar="N")
    needs.add_argument(
        "--require-gpu-memory", type=_size, default=0, metavar="SIZE", help="per GPU, e.g. 8GiB"
    )
    needs.add_argument("--require-os", default="", metavar="OS", help="Linux, Windows or Darwin")
    needs.add_argument(
        "--require-renderer",
        action="append",
        default=[],
        metavar="NAME",
        help="installed renderer (repeatable)",
    )
    needs.add_argument(
        "--require-tag", action="append", default=[], metavar="TAG", help="agent tag (repeatable)"
    )
    return needs


def _parameter(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def job_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The plugin parameters the flags give: ``--param`` and the command after ``--``."""
    parameters = {key: _parameter(value) for key, value in args.param}
    if args.argv:
        if "argv" in parameters:
            raise UserError("give the command after -- or as --param argv=..., not both")
        parameters["argv"] = args.argv
    return parameters


def reservation(args: argparse.Namespace) -> pb.TaskReservation:
    """What the ``--task-*`` flags reserve; a flag left out (None) reserves none of it."""
    return pb.TaskReservation(cores=args.task_cores, memory_bytes=args.task_memory, gpus=args.task_gpus)


def requirements(args: argparse.Namespace) -> pb.Requirements:
    """What the ``--require-*`` flags ask of an agent; a flag left out (None) asks nothing."""
    return pb.Requirements(
        min_cpu_cores=args.require_cores,
        min_ram_bytes=args.require_ram,
        min_gpu_count=args.require_gpus,
        min_gpu_memory_bytes=args.require_gpu_memory,
        os=args.require_os,
        renderers=args.require_renderer,
        tags=args.require_tag,
    )


def build_job(args: argparse.Namespace, parameters: dict[str, Any]) -> pb.Job:
    """The Job the flags describe, with ``parameters``; the controller validates it."""
    job = pb.Job(
        plugin=args.plugin,
        frames=args.frames,
        chunk_size=args.chunk,  # None leaves the field unset: the controller's default
        priority=args.priority,
        name=args.name,
        owner=args.owner,
        pool=args.pool,
        environment=dict(args.env),
        depends_on=args.depends_on,
        frame_by_frame=args.frame_by_frame,
        limits=args.limit,
        output_destination=args.outputs,
        reservation=reservation(args),
        requirements=requirements(args),
    )
    job.parameters.update(parameters)
    set_test_frames(job, args)
    if args.max_retries is not None:
        job.max_retries = args.max_retries
    if args.timeout is not None:
        job.task_timeout.FromTimedelta(timedelta(seconds=args.timeout))
    if args.max_agent_failures is not None:
        job.max_agent_failures = args.max_agent_failures
    if args.min_runtime is not None:
        job.min_runtime.FromTimedelta(timedelta(seconds=args.min_runtime))
    return job


async def _submit(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    types = await parameter_types(stub)
    parameters = job_parameters(args)
    paths = path_parameters(types, args.plugin)
    try:
        # Judged here, where the user typed them: the controller may not even see these disks.
        localize_paths(parameters, paths, Path.cwd(), check=not args.paths_on_nodes)
    except MissingPath as missing:
        raise UserError(str(missing)) from None
    await frames_and_files(args, stub, parameters)
    encode = plan_encode(args, parameters)
    carried = await carry_project(args, stub, parameters, paths)
    job = build_job(args, parameters)
    if carried is not None:
        job.files.extend(carried.project.manifest())
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=job, allow_unmatched=args.allow_unmatched))).job
    if job.state == pb.JOB_STATE_BLOCKED:
        warn(blocked_sentence(job), args.json)
    encoded = await submit_encode(args, stub, job, encode) if encode is not None else None
    if args.json:
        document = to_dict(job, types)
        if carried is not None:
            document.update(carried.summary())
        if encoded is not None:
            document["encode_job"] = to_dict(encoded, types)
        print_document(document)
    else:
        if carried is not None:
            print(carried.sentence(), file=sys.stderr)
        print(job.id)
    return 0
