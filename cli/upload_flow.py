"""``renderq submit --upload PATH``: a project's files carried to the agents by the controller.

For render nodes that share no disk with the artist. The paths are judged where they
were typed (like path parameters, see client/paths.py); the files are hashed here, only
what the controller lacks is sent (client/upload.py), and the job's ``files`` list them
so each agent materialises them into its workspace's ``project/`` folder. A path
parameter naming an uploaded file (or one inside an uploaded folder) then names the
agent's copy, ``{project}/...``, unless ``--paths-on-nodes`` says the paths are the
nodes' own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from renderq.cli.failures import UserError, warn
from renderq.client.project_files import Project, ProjectError, hash_listing, walk
from renderq.client.units import format_seconds, format_size, progress_bar
from renderq.client.upload import FileChanged, UploadReport, upload_project

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

REDRAW_EVERY = 0.1
"""Seconds between redraws of the live line: often enough to look alive, cheap at 1 GB/s."""


def upload_path(text: str) -> Path:
    """An ``--upload`` path made absolute where it was typed; it must exist here."""
    path = Path(os.path.abspath(Path(text).expanduser()))
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist on this machine")
    return path


def add_upload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upload",
        action="append",
        type=upload_path,
        default=[],
        metavar="PATH",
        help="send this file or folder to the agents through the controller (repeatable): it lands "
        "in the job's {project} folder, a folder under its own name; an archive given here "
        "(.zip, .tar, .tar.gz, .tgz, .gz) is unpacked there; only what the controller lacks is sent",
    )


class TransferProgress:
    """Bytes through a phase (hashing, uploading) on one line of stderr redrawn in place,
    with rate and time left; nothing when stderr is not a terminal (the summary says it)."""

    def __init__(self, verb: str, stream: TextIO = sys.stderr) -> None:
        self._verb = verb
        self._stream = stream
        self._live = stream.isatty()
        self._total = 0
        self._done = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._drawn = False

    def begin(self, total: int) -> None:
        self._total = total
        self._started = time.monotonic()

    def advance(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if self._live and self._total and now - self._drawn_at >= REDRAW_EVERY:
            self._drawn_at = now
            self._draw(now - self._started)

    def _draw(self, elapsed: float) -> None:
        rate = self._done / elapsed if elapsed > 0 else 0.0
        left = f"  {format_seconds((self._total - self._done) / rate)} left" if rate > 0 else ""
        line = (
            f"{self._verb} {progress_bar(self._done / self._total)}  {format_size(self._done)} of "
            f"{format_size(self._total)}  {format_size(int(rate))}/s{left}"
        )
        self._stream.write(f"\r{line}\x1b[K")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the live line, so what follows is printed on a clean one."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False


@dataclass(frozen=True)
class Carried:
    """The project a job carries and what sending it took."""

    project: Project
    report: UploadReport

    def summary(self) -> dict[str, int]:
        """For ``submit --json``, beside the job's own keys (its ``files`` are the manifest)."""
        return {
            "files_sent": self.report.files_sent,
            "bytes_sent": self.report.bytes_sent,
            "bytes_skipped": self.report.bytes_skipped,
        }

    def sentence(self) -> str:
        report = self.report
        return (
            f"uploaded {report.files_sent} of {report.files} files ({format_size(report.bytes_sent)} "
            f"sent, {format_size(report.bytes_skipped)} already on the controller)"
        )


async def carry_project(
    args: argparse.Namespace,
    stub: FarmServiceAsyncStub,
    parameters: MutableMapping[str, Any],
    path_names: Iterable[str],
) -> Carried | None:
    """Hash and send the ``--upload`` paths, and point path parameters at the agent's copy.

    None without ``--upload``. Refusals (a symlink out of a folder, a file changed while
    sent) leave as UserError; the controller's as its typed errors.
    """
    if not args.upload:
        return None
    # On this thread, so that Ctrl-C stops the hashing (a worker thread would finish it first).
    project = read_with_progress(args.upload)
    for note in project.skipped:
        warn(f"not uploaded: {note}", args.json)
    progress = TransferProgress("uploading")
    try:
        report = await upload_project(stub, project, progress)
    except FileChanged as changed:
        raise UserError(changed.message) from None
    finally:
        progress.close()
    if not args.paths_on_nodes:
        point_at_project(parameters, path_names, project)
    return Carried(project, report)


def read_with_progress(paths: Sequence[Path]) -> Project:
    """The project the paths make, hashed with a progress line."""
    progress = TransferProgress("hashing")
    try:
        listing = walk(paths)
        progress.begin(listing.size)
        return hash_listing(listing, progress.advance)
    except ProjectError as refused:
        raise UserError(str(refused)) from None
    finally:
        progress.close()


def point_at_project(
    parameters: MutableMapping[str, Any], path_names: Iterable[str], project: Project
) -> None:
    """Each path parameter (already absolute and resolved) that names an uploaded file,
    or a place inside an uploaded folder, becomes ``{project}/...``: the agent's copy."""
    for name in path_names:
        value = parameters.get(name)
        if isinstance(value, str) and os.path.isabs(value):
            on_agent = project.agent_path(Path(value))
            if on_agent is not None:
                parameters[name] = on_agent
