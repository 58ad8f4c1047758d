"""``renderq outputs JOB``: a job's output files per frame, and where each one is now.

As each frame completes, its files go to the controller's store unless the job keeps
them where the renderer wrote them (``submit --outputs keep``), and may be pushed on to
object storage; this verb says which happened to each file, so that a user knows what
``renderq fetch`` will bring back and what it cannot (still on its way, failed, kept on
a node). With ``--urls`` the controller presigns a download URL for each pushed file.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from renderq.cli.cleanup import duration_flag
from renderq.cli.connection import client_verb
from renderq.cli.output import print_document, to_dict
from renderq.cli.tables import Column, print_table
from renderq.client.download import DownloadRefused, local_name
from renderq.client.units import format_size
from renderq.frame_range import FrameRangeError, parse_frames
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

SHORT_HASH = 12
"""Hex digits of the hash the table shows: enough to tell files apart by eye."""
COLUMNS = [
    Column("FRAME", right=True),
    Column("FILE", cut=True),
    Column("SIZE", right=True, spare=1),
    Column("XXH3", spare=2),
    Column("STORED", wrap=True),
]
URL_COLUMN = Column("URL")
"""Never cut nor wrapped: a URL is only useful whole."""
WHY_NO_URL = {
    pb.OUTPUT_STORAGE_UNSPECIFIED: "not collected",
    pb.OUTPUT_STORAGE_PENDING: "not stored yet",
    pb.OUTPUT_STORAGE_CONTROLLER: "not pushed to object storage",
    pb.OUTPUT_STORAGE_KEPT: "kept on its agent",
    pb.OUTPUT_STORAGE_FAILED: "its transfer failed",
}


def frames_flag(text: str) -> str:
    """An argparse type: a frame range in the farm's grammar, checked here, sent as typed."""
    try:
        parse_frames(text)
    except FrameRangeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "list a job's output files and where each is stored"
    parser = verbs.add_parser(
        "outputs",
        parents=[common],
        help=text,
        description=text.capitalize() + ": on the controller (`renderq fetch` brings them back), "
        "pending (on its way there), kept on the agent that rendered it, or failed (and why); "
        "with the s3:// URL of those pushed to object storage.",
    )
    parser.add_argument("job_id", type=int, metavar="JOB")
    parser.add_argument("--frames", type=frames_flag, metavar="SPEC", help="only these frames, e.g. 1-10,20")
    parser.add_argument(
        "--urls",
        action="store_true",
        help="a presigned download URL for each file pushed to object storage",
    )
    parser.add_argument(
        "--url-ttl",
        type=duration_flag,
        metavar="DURATION",
        help="how long the --urls stay valid, e.g. 30m, 12h (default 1h, at most 7d); implies --urls",
    )
    parser.set_defaults(run=client_verb(_outputs))


async def list_outputs(
    stub: FarmServiceAsyncStub,
    job_id: int,
    frames: str | None,
    urls: bool = False,
    url_ttl: float | None = None,
) -> list[fpb.FrameOutputs]:
    """The job's frames that have outputs (of ``frames``, None for all), in frame order."""
    request = fpb.ListOutputsRequest(job_id=job_id, frames=frames or "", urls=urls)
    if url_ttl is not None:
        request.url_ttl.FromNanoseconds(round(url_ttl * 1e9))
    return list((await stub.ListOutputs(request)).frames)


async def _outputs(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    urls = args.urls or args.url_ttl is not None
    frames = await list_outputs(stub, args.job_id, args.frames, urls, args.url_ttl)
    if args.json:
        print_document(outputs_document(args.job_id, frames))
        return 0
    columns = [*COLUMNS, URL_COLUMN] if urls else COLUMNS
    rows = [
        [*_row(frame, output), *([_url(output)] if urls else [])]
        for frame in frames
        for output in frame.outputs
    ]
    some = f"frames {args.frames} of job {args.job_id}" if args.frames else f"job {args.job_id}"
    print_table(columns, rows, f"{some}: no outputs recorded yet")
    return 0


def outputs_document(job_id: int, frames: list[fpb.FrameOutputs]) -> dict[str, Any]:
    """``{"job", "frames": [{"frame", "agent", "outputs": [OutputFile...]}]}``, each output
    by the JSON convention (cli/output.py): the full hash, the storage as its word."""
    return {
        "job": job_id,
        "frames": [
            {"frame": f.frame, "agent": f.agent_id, "outputs": [to_dict(o) for o in f.outputs]}
            for f in frames
        ],
    }


def _row(frame: fpb.FrameOutputs, output: pb.OutputFile) -> list[str]:
    return [
        str(frame.frame),
        _name(output.path),
        format_size(output.size_bytes),
        output.xxh3_128[:SHORT_HASH],
        where_stored(output, frame.agent_id),
    ]


def _name(path: str) -> str:
    """The name ``fetch`` gives the file; the path as recorded when it has none."""
    try:
        return local_name(path)
    except DownloadRefused:
        return path


def where_stored(output: pb.OutputFile, agent_id: str) -> str:
    """In words: ``controller``, ``pending``, ``kept on node7``, ``failed: <reason>``,
    with the s3:// URL of a file pushed there (or why its push failed)."""
    match output.storage:
        case pb.OUTPUT_STORAGE_CONTROLLER:
            where = "controller"
        case pb.OUTPUT_STORAGE_PENDING:
            where = "pending"
        case pb.OUTPUT_STORAGE_KEPT:
            where = f"kept on {agent_id}"
        case pb.OUTPUT_STORAGE_FAILED:
            return f"failed: {output.storage_error or 'no reason given'}"
        case _:
            where = f"on {agent_id} only (rendered before outputs were collected)"
    if output.object_url:
        return f"{where}, {output.object_url}"
    if output.storage_error:
        return f"{where} (push failed: {output.storage_error})"
    return where


def _url(output: pb.OutputFile) -> str:
    if output.download_url:
        return output.download_url
    if output.object_url:
        return "none: the controller gave no URL"
    return f"none: {WHY_NO_URL.get(output.storage, 'not pushed to object storage')}"
