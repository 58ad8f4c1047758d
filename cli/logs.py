"""``renderq logs``: a task attempt's output, raw, as it arrives."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.listings import list_tasks
from renderq.cli.output import print_json_line
from renderq.client.units import is_set
from renderq.states import TASK_ACTIVE
from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "logs",
        parents=[common],
        help="print a task's log",
        description="Print the log of the task that renders FRAME (or of --task). Without either, the "
        "job's running task, else the one that started last. --json prints JSON Lines: one object "
        "per line of the log, with its task, attempt and byte offset.",
    )
    parser.add_argument("job_id", type=int, metavar="ID")
    parser.add_argument("frame", type=int, nargs="?", metavar="FRAME")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until the attempt ends"
    )
    parser.add_argument(
        "--attempt", type=int, default=0, metavar="N", help="attempt id (default: the latest)"
    )
    parser.add_argument("--task", type=int, default=0, metavar="N", help="task id instead of a frame")
    parser.set_defaults(run=client_verb(_logs))


async def _logs(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.TailLogRequest(job_id=args.job_id, attempt_id=args.attempt, follow=args.follow)
    if args.frame is not None:
        request.frame = args.frame
    else:
        request.task_id = args.task or await _relevant_task(stub, args.job_id)
    if args.json:
        lines = LogLines()
        async for chunk in stub.TailLog(request):
            for record in lines.feed(chunk):
                print_json_line(record)
        for record in lines.end():
            print_json_line(record)
        return 0
    out = sys.stdout.buffer
    async for chunk in stub.TailLog(request):
        out.write(chunk.data)
        out.flush()
    return 0


class LogLines:
    """A log's chunks (bytes cut anywhere) as whole lines of text, each with the byte
    offset it starts at; a line still open waits for the chunk that ends it."""

    def __init__(self) -> None:
        self._pending = b""
        self._offset = 0
        self._ids = (0, 0)

    def feed(self, chunk: fpb.TailLogResponse) -> list[dict[str, Any]]:
        if not self._pending:
            self._offset = chunk.offset
        self._ids = (chunk.task_id, chunk.attempt_id)
        *complete, self._pending = (self._pending + chunk.data).split(b"\n")
        return [self._record(line, len(line) + 1) for line in complete]

    def end(self) -> list[dict[str, Any]]:
        """The last line when the log does not end with a newline."""
        if not self._pending:
            return []
        line, self._pending = self._pending, b""
        return [self._record(line, len(line))]

    def _record(self, line: bytes, length: int) -> dict[str, Any]:
        task_id, attempt_id = self._ids
        # A newline byte never occurs inside a UTF-8 character, so each line decodes alone.
        record = {
            "task_id": task_id,
            "attempt_id": attempt_id,
            "offset": self._offset,
            "text": line.decode(errors="replace"),
        }
        self._offset += length
        return record


async def _relevant_task(stub: FarmServiceAsyncStub, job_id: int) -> int:
    """The task a person asking for "the job's log" means: one that runs now, else the
    one that started last."""
    tasks = await list_tasks(stub, job_id)
    started = [t for t in tasks if t.state in TASK_ACTIVE] or [t for t in tasks if is_set(t.start_time)]
    if not started:
        raise UserError(f"job {job_id} has no task that has started yet, so there is no log to show")
    return max(started, key=lambda t: t.start_time.ToNanoseconds()).id
