"""``renderq submit blender --encode mp4|mov``: the frames of a render encoded into a movie
by a second job, submitted right after it.

The encode job is an ``ffmpeg`` job that depends on the render and takes its outputs as
inputs (``inputs_from``): the controller places each stored frame in the encode's
workspace as ``{project}/job-<id>/<file name>``, so the encode runs on any node, sharing
no disk with the one that rendered. Its ``input`` is the render's output pattern with
Blender's ``####`` written as ffmpeg's ``%04d`` and the format's extension; one task
covers every frame (an encode cannot be split). What can be judged before the render is
submitted is judged first, so a mistake never leaves a render without its encode.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from renderq.cli.failures import UserError
from renderq.frame_range import FrameRangeError, parse_frames
from renderq.plugins.blender import EXTENSIONS, BlenderPlugin
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

CONTAINERS = {"mp4": "h264", "mov": "prores"}
"""Each ``--encode`` container and the codec its movie gets."""
DEFAULT_FPS = 24.0
_HASHES = re.compile(r"#+")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_BLENDER_DEFAULTS = {p.name: p.default for p in BlenderPlugin.parameters}


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames per second") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames per second above 0")
    return value


def add_encode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encode",
        choices=tuple(CONTAINERS),
        help="blender only: then encode the frames into {renders}/NAME.mp4 (h264) or .mov (prores) "
        "with a second job, an ffmpeg job after the render, on any node",
    )
    parser.add_argument(
        "--encode-fps",
        type=_fps,
        metavar="N",
        help=f"frames per second of --encode's movie (default {DEFAULT_FPS:g})",
    )


@dataclass(frozen=True)
class Encode:
    """The encode the flags ask for, judged before the render job is submitted."""

    container: str
    fps: float | None
    frame_count: int
    pattern: str
    """The render's frames as an ffmpeg pattern below its job folder (``frame_%04d.png``)."""


def plan_encode(args: argparse.Namespace, parameters: dict[str, Any]) -> Encode | None:
    """The encode ``--encode`` asks for (None without it); UserError for what cannot work."""
    if args.encode is None:
        if args.encode_fps is not None:
            raise UserError(
                "--encode-fps sets the frame rate of --encode's movie: give --encode mp4 or mov too"
            )
        return None
    if args.plugin != "blender":
        raise UserError(
            f"--encode encodes a blender render's frames; {args.plugin!r} jobs have none to encode"
        )
    if args.outputs == "keep":
        raise UserError(
            "--encode needs the frames on the controller; --outputs keep leaves them on the nodes"
        )
    if not args.frames:
        raise UserError("--encode needs the frames to encode: give --frames, such as 1-250")
    try:
        frames = parse_frames(args.frames)
    except FrameRangeError as error:
        raise UserError(f"--frames {args.frames!r}: {error}") from None
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise UserError(
            f"--encode needs frames without gaps (such as 1-250) to make a movie, not {args.frames!r}"
        )
    return Encode(args.encode, args.encode_fps, len(frames), _frames_pattern(parameters))


def _frames_pattern(parameters: dict[str, Any]) -> str:
    """The base name of the files Blender writes for ``parameters`` as an ffmpeg pattern:
    a run of N ``#`` is the frame number padded to N digits; none means 4 at the end."""
    output = parameters.get("output", _BLENDER_DEFAULTS["output"])
    image_format = parameters.get("format", _BLENDER_DEFAULTS["format"])
    if not isinstance(output, str) or image_format not in EXTENSIONS:
        return ""  # the controller refuses the render with the parameter named
    name = re.split(r"[/\\]", output)[-1]
    runs = _HASHES.findall(name)
    if len(runs) > 1:
        raise UserError(f"--encode needs one run of # in the blender output's file name, not {name!r}")
    if "%" in name:
        raise UserError(f"--encode cannot encode frames whose names have a % in them ({name!r})")
    pattern = _HASHES.sub(lambda run: f"%0{len(run.group())}d", name) if runs else name + "%04d"
    return pattern + EXTENSIONS[image_format]


def encode_job(args: argparse.Namespace, render: pb.Job, encode: Encode) -> pb.Job:
    """The ffmpeg job that encodes ``render``'s frames: after it, with its outputs as inputs."""
    movie = _UNSAFE_NAME.sub("_", render.name).strip("._") or f"job-{render.id}"
    parameters: dict[str, Any] = {
        "input": f"{{project}}/job-{render.id}/{encode.pattern}",
        "output": f"{{renders}}/{movie}.{encode.container}",
        "codec": CONTAINERS[encode.container],
    }
    if encode.fps is not None:
        parameters["fps"] = encode.fps
    job = pb.Job(
        plugin="ffmpeg",
        name=f"{render.name} ({encode.container})",
        frames=render.frames,
        chunk_size=encode.frame_count,
        priority=render.priority,
        owner=render.owner,
        pool=render.pool,
        depends_on=[render.id],
        inputs_from=[render.id],
        output_destination=args.outputs,
    )
    job.parameters.update(parameters)
    return job


async def submit_encode(
    args: argparse.Namespace, stub: FarmServiceAsyncStub, render: pb.Job, encode: Encode
) -> pb.Job:
    """The encode job as the controller made it; a refusal says the render stands alone."""
    request = fpb.CreateJobRequest(job=encode_job(args, render, encode), allow_unmatched=args.allow_unmatched)
    try:
        job = (await stub.CreateJob(request)).job
    except grpc.aio.AioRpcError as error:
        raise UserError(
            f"job {render.id} was submitted, but not its encode job: {error.details()} "
            f"(`renderq cancel {render.id}` if the render alone is of no use)"
        ) from None
    if not args.json:
        print(f"job {job.id} encodes its frames into {job.parameters['output']}", file=sys.stderr)
    return job
