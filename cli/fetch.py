"""``renderq fetch JOB [FRAMES] -o DIR``: a job's stored outputs brought back into a folder.

For a studio whose render nodes share no disk with the artist: the controller collected
each frame's files as it completed (``renderq outputs`` says where each is), and this
verb downloads those it holds, verified and resumable (client/download.py). What it
cannot bring (still on its way, failed, kept on a node, frames not rendered yet) is
named, and the exit code says the folder is not complete yet, so a script can fetch
again later and get only what is new.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderq.cli.connection import client_verb
from renderq.cli.failures import FIXABLE, INCOMPLETE, INTERRUPTED, NOT_ALLOWED, UNREACHABLE, UserError, warn
from renderq.cli.output import print_document
from renderq.cli.outputs import frames_flag, list_outputs
from renderq.cli.upload_flow import TransferProgress
from renderq.client.download import DownloadRefused, FetchReport, Missing, fetch_outputs, plan_fetch
from renderq.client.enums import label, word
from renderq.client.units import format_size
from renderq.states import JOB_FINAL
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

EPILOG = f"""\
Each file is named by its base name; two outputs that would share one are refused before
anything is written (fetch their frames into separate folders). A file is written as
NAME.part and renamed once its size and xxh3-128 match; an interrupted fetch resumes, and
a file already there with the right content is skipped.

exit codes:
  0    every output of the frames is in DIR
  {INCOMPLETE}    some are not on the controller yet (or failed, or are kept on a node), or the
       job is still running: what is there was fetched; fetch again later
  {FIXABLE}    as for every verb: a request to fix (an unknown job, a clash of names, a link in DIR)
  {UNREACHABLE}    as for every verb: the controller cannot be reached
  {NOT_ALLOWED}    as for every verb: not allowed (no valid API token)
  {INTERRUPTED}  interrupted (Ctrl-C): the .part files stay, the next fetch resumes them
"""


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "download a job's output files from the controller into a folder"
    parser = verbs.add_parser(
        "fetch",
        parents=[common],
        help=text,
        description=text.capitalize() + ",\nverified by their hash; with --json, a summary.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job_id", type=int, metavar="JOB")
    parser.add_argument(
        "frames",
        nargs="?",
        type=frames_flag,
        metavar="FRAMES",
        help="only these frames, e.g. 1-10,20 (default: every frame)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="the folder to download into (created if it does not exist)",
    )
    parser.set_defaults(run=client_verb(_fetch))


async def _fetch(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    job = (await stub.GetJob(fpb.GetJobRequest(job_id=args.job_id))).job
    frames = await list_outputs(stub, args.job_id, args.frames)
    progress = TransferProgress("fetching")
    try:
        plan = plan_fetch(frames)
        report = await fetch_outputs(stub, job.id, plan.wanted, args.output_dir, progress)
    except DownloadRefused as refused:
        raise UserError(refused.message) from None
    finally:
        progress.close()
    notes = missing_notes(plan.missing)
    if job.state not in JOB_FINAL:
        state = label(pb.JobState, job.state)
        notes.append(f"job {job.id} is {state}: the frames it renders later have outputs to fetch then")
    for note in notes:
        warn(note, args.json)
    if args.json:
        print_document(fetch_document(job.id, report, plan.missing))
    else:
        print(
            f"fetched {report.files_fetched} files ({format_size(report.bytes_fetched)}) into "
            f"{args.output_dir}; {report.files_skipped} already there"
        )
    return INCOMPLETE if notes else 0


def missing_notes(missing: list[Missing]) -> list[str]:
    """In frame order, a sentence per frame for its outputs not on the controller, by
    where they are; one per file that failed, with its reason."""
    by_frame: dict[tuple[int, int], list[Missing]] = defaultdict(list)
    notes: list[tuple[int, str]] = []
    for item in missing:
        if item.output.storage == pb.OUTPUT_STORAGE_FAILED:
            reason = item.output.storage_error or "no reason given"
            notes.append((item.frame, f"{item.output.path} did not reach the controller: {reason}"))
        else:
            by_frame[item.frame, item.output.storage].append(item)
    for (frame, storage), items in by_frame.items():
        notes.append((frame, _where(storage, len(items), items[0].agent_id)))
    return [f"frame {frame}: {text}" for frame, text in sorted(notes, key=lambda note: note[0])]


def _where(storage: int, count: int, agent: str) -> str:
    outputs = f"{count} outputs" if count > 1 else "1 output"
    if storage == pb.OUTPUT_STORAGE_PENDING:
        way = "their way" if count > 1 else "its way"
        return f"{outputs} still on {way} to the controller; fetch again later"
    if storage == pb.OUTPUT_STORAGE_KEPT:
        return f'{outputs} kept on {agent}, where rendered (the job\'s outputs are "keep")'
    return f"{outputs} only on {agent}: rendered before outputs were collected"


def fetch_document(job_id: int, report: FetchReport, missing: list[Missing]) -> dict[str, Any]:
    """``fetch --json``: what was fetched and skipped, and each output not fetched."""
    return {
        "job": job_id,
        "files_fetched": report.files_fetched,
        "files_skipped": report.files_skipped,
        "bytes_fetched": report.bytes_fetched,
        "missing": [
            {
                "frame": m.frame,
                "agent": m.agent_id,
                "path": m.output.path,
                "storage": word(pb.OutputStorage.DESCRIPTOR, m.output.storage),
                "storage_error": m.output.storage_error,
            }
            for m in missing
        ],
    }
