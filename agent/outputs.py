"""Describing a task's output files: size and xxh3-128 content hash.

The hash lets the controller and operators tell a good frame from a truncated one
and skip transfers of files already present; files are read in blocks so a large
EXR never has to fit in memory.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import xxhash

from renderq.regular_files import open_regular
from renderq.v1 import resources_pb2

BLOCK_SIZE = 1 << 20


class OutputProblem(Exception):
    """A frame's output cannot be reported; the message says which and why, in words."""


def describe_frame_outputs(
    frame: int, paths: Iterable[Path], workspace: Path | None, shares: Sequence[Path] = ()
) -> list[resources_pb2.OutputFile]:
    """Each of ``paths`` (once) hashed, or OutputProblem naming the first that cannot be.
    Blocking: call it in a thread."""
    outputs = []
    for path in dict.fromkeys(paths):
        try:
            outputs.append(describe_output(path, workspace, shares))
        except FileNotFoundError:
            raise OutputProblem(f"frame {frame}: output {path} was not written") from None
        except OSError as exc:
            raise OutputProblem(
                f"frame {frame}: output {path} cannot be read: {exc.strerror or exc}"
            ) from None
    return outputs


def describe_output(
    path: Path, workspace: Path | None = None, shares: Sequence[Path] = ()
) -> resources_pb2.OutputFile:
    """Hash ``path`` (absolute). Blocking: call it in a thread. Raises OSError.

    An output is read only below the job's ``workspace`` or one of the ``shares`` path
    mappings name, and only as the regular file a task wrote, never through a link the
    task made: not when the file is a link, nor when a folder on its way leads out of
    where it lies. Otherwise a job could have the agent (often root) read, say,
    /etc/shadow, and with outputs sent back, hand it to its owner as a frame."""
    roots = [root for root in (workspace, *shares) if root is not None]
    if roots:
        root = next((r for r in roots if path.is_relative_to(r)), None)
        if root is None:
            raise OSError(
                errno.EACCES,
                "it is outside the job's workspace and every mapped share (renderq pathmap add maps "
                "a share; an identity mapping such as /mnt/projects -> /mnt/projects will do)",
            )
        if leaves(path, root):
            raise OSError(errno.ELOOP, "a folder on its way is a link out of the job's workspace or share")
    digest = xxhash.xxh3_128()
    size = 0
    with open_regular(path) as file:
        while block := file.read(BLOCK_SIZE):
            digest.update(block)
            size += len(block)
    return resources_pb2.OutputFile(path=str(path), size_bytes=size, xxh3_128=digest.hexdigest())


def leaves(path: Path, root: Path) -> bool:
    """Whether ``path`` lies below ``root`` by name but a link on its way leads out."""
    if not path.is_relative_to(root):
        return False
    return not Path(os.path.realpath(path.parent)).is_relative_to(os.path.realpath(root))
