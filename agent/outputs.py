"""Describing a task's output files: size and xxh3-128 content hash.

The hash lets the controller and operators tell a good frame from a truncated one
and skip transfers of files already present; files are read in blocks so a large
EXR never has to fit in memory.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import xxhash

from renderq.regular_files import open_regular
from renderq.v1 import resources_pb2

BLOCK_SIZE = 1 << 20


def describe_output(path: Path, workspace: Path | None = None) -> resources_pb2.OutputFile:
    """Hash ``path`` (absolute). Blocking: call it in a thread. Raises OSError.

    An output is read only as the regular file a task wrote, never through a link the task
    made: not when the file is a link, nor when a folder on its way below ``workspace``
    leads out of it. Otherwise a task could have the agent (often root) read, say,
    /etc/shadow and report it as a frame."""
    if workspace is not None and leaves(path, workspace):
        raise OSError(errno.ELOOP, "a folder on its way is a link out of the job's workspace")
    digest = xxhash.xxh3_128()
    size = 0
    with open_regular(path) as file:
        while block := file.read(BLOCK_SIZE):
            digest.update(block)
            size += len(block)
    return resources_pb2.OutputFile(path=str(path), size_bytes=size, xxh3_128=digest.hexdigest())


def leaves(path: Path, workspace: Path) -> bool:
    """Whether ``path`` lies below ``workspace`` by name but a link on its way leads out
    (the agent hashes, and serves to the controller, no file reached that way)."""
    if not path.is_relative_to(workspace):
        return False
    return not Path(os.path.realpath(path.parent)).is_relative_to(os.path.realpath(workspace))
