"""A job's test frames: ``renderq submit``'s flags for them, and the estimate they gave,
in ``renderq job`` and ``renderq jobs`` (the words: ``client/estimates.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from renderq.cli.tables import Column
from renderq.client.estimates import estimate_text
from renderq.v1 import resources_pb2 as pb


def add_test_frames(parser: argparse.ArgumentParser) -> None:
    """``renderq submit``'s flags for test frames."""
    tests = parser.add_argument_group("test frames (rendered first, before any other frame starts)")
    tests.add_argument(
        "--test-frames",
        default="",
        metavar="SPEC",
        help="first, middle, last or frame numbers, comma separated (with --chunk, each one's whole "
        "chunk); their render times give the job's estimate",
    )
    tests.add_argument(
        "--stop-on-test-failure",
        action="store_true",
        help="a test frame that fails for good fails the job; the rest never starts (renderq retry JOB "
        "runs the test frames again, then the rest)",
    )
    tests.add_argument(
        "--hold-after-test",
        action="store_true",
        help="suspend the job once its test frames ended, until `renderq resume JOB`",
    )


def set_test_frames(job: pb.Job, args: argparse.Namespace) -> None:
    """Put the test frame flags into ``job``."""
    job.test_frames = args.test_frames
    job.stop_on_test_failure = args.stop_on_test_failure
    job.hold_after_test = args.hold_after_test


def estimate_fields(job: pb.Job) -> list[tuple[str, str]]:
    """``renderq job``'s lines about test frames: which, what then, and the estimate."""
    if not job.test_frames:
        return []
    then = [
        word
        for word, wanted in (
            ("stop the job if one fails", job.stop_on_test_failure),
            ("hold the job after them", job.hold_after_test),
        )
        if wanted
    ]
    measured = f" (from {job.estimate.frames_measured} test frame(s))" if job.estimate.frames_measured else ""
    return [
        ("test frames", "; ".join([job.test_frames, *then])),
        ("estimate", (estimate_text(job) + measured) or "after the test frames"),
    ]


def note_columns(columns: list[Column], rows: list[list[str]], jobs: Sequence[pb.Job]) -> None:
    """Add ``renderq jobs``' columns that only some jobs fill: why a job waits or is
    blocked (the point of the table for those rows), and the estimate."""
    for title, cell in (("REASON", lambda j: j.state_reason), ("ESTIMATE", estimate_text)):
        cells = [cell(j) for j in jobs]
        if any(cells):
            columns.append(Column(title, wrap=True))
            for row, text in zip(rows, cells, strict=True):
                row.append(text)
