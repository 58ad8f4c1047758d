"""Describing a task's output files: size and xxh3-128 content hash.

The hash lets the controller and operators tell a good frame from a truncated one
and skip transfers of files already present; files are read in blocks so a large
EXR never has to fit in memory.
"""

from __future__ import annotations

from pathlib import Path

import xxhash

from renderq.v1 import resources_pb2

BLOCK_SIZE = 1 << 20


def describe_output(path: Path) -> resources_pb2.OutputFile:
    """Hash ``path`` (absolute). Blocking: call it in a thread. Raises OSError."""
    digest = xxhash.xxh3_128()
    size = 0
    with path.open("rb") as file:
        while block := file.read(BLOCK_SIZE):
            digest.update(block)
            size += len(block)
    return resources_pb2.OutputFile(path=str(path), size_bytes=size, xxh3_128=digest.hexdigest())
