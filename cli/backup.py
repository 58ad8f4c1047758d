"""``renderq backup FILE``: a consistent copy of the farm's database, taken while it runs.

The controller streams the copy (ExportDatabase); it is written to ``FILE.partial``,
opened with DuckDB to check that it is whole and to count what it holds, and only then
renamed to FILE, so a backup that is there is a backup that loads. ``renderq controller
--db FILE`` starts from it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.output import print_document
from renderq.client.units import format_size
from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

COUNTED = {"jobs": "jobs", "frames": "frames", "tokens": "tokens", "audit_records": "audit"}
"""What the summary counts: its key -> the table."""

EPILOG = """\
A nightly backup (cron, as the controller's user, keeping two weeks):
  0 3 * * *  renderq backup /backups/renderq-$(date +\\%a).duckdb --force
Restore: stop the controller, then start it on the copy:
  renderq controller --db /backups/renderq-Mon.duckdb
Task logs are files in the controller's DATA_DIR/logs: copy them with rsync if you keep them.
"""


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "copy the farm's database while the controller runs (admin)"
    parser = verbs.add_parser(
        "backup",
        parents=[common],
        help=text,
        description=text.capitalize() + ": every job, frame, attempt, agent, token and audit record.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="where to write the copy (a DuckDB file)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(run=client_verb(_backup))


def _target(args: argparse.Namespace) -> Path:
    target: Path = args.file
    if target.exists() and not args.force:
        raise UserError(f"{target} exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise UserError(f"the folder {target.parent} does not exist")
    return target


async def _backup(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    target = _target(args)
    partial = target.with_name(target.name + ".partial")
    try:
        size = await _receive(stub, partial)
        summary = _check(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    summary |= {"path": str(target), "size_bytes": size}
    if args.json:
        print_document(summary)
    else:
        counts = ", ".join(f"{summary[key]:,} {key.replace('_', ' ')}" for key in COUNTED)
        print(f"backup written to {target} ({format_size(size)}): {counts}")
    return 0


async def _receive(stub: FarmServiceAsyncStub, partial: Path) -> int:
    """Write the streamed copy to ``partial``; its size."""
    expected = written = 0
    with partial.open("wb") as out:
        async for block in stub.ExportDatabase(fpb.ExportDatabaseRequest()):
            if block.offset == 0:
                expected = block.size_bytes
            if block.offset != written:
                raise UserError(f"the copy arrived out of order (at byte {block.offset}, expected {written})")
            out.write(block.data)
            written += len(block.data)
        out.flush()
        os.fsync(out.fileno())
    if written != expected:
        raise UserError(f"the copy ended after {written:,} of {expected:,} bytes; try again")
    return written


def _check(path: Path) -> dict[str, Any]:
    """Open the copy as the controller would, and count what it holds."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise UserError(f"the copy does not open as a database: {error}") from None
    try:
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        summary: dict[str, Any] = {"schema_version": row[0] if row else None}
        for key, table in COUNTED.items():
            counted = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            summary[key] = counted[0] if counted else 0
    finally:
        con.close()
    return summary
