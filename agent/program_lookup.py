"""Where a task's program is on the PATH of its environment, looked up at most once a second.

A command names its program (``blender``, ``true``) and the child process would find it
by trying ``execve`` in each folder of PATH in turn: a dozen failed calls in the child
and as many paths joined in the agent before the fork, for every task. The agent
therefore looks the name up itself, as a shell does, and keeps the answer for
``FRESH`` seconds per name and PATH: a program installed or removed since is seen
within a second, and the program still gets the name it was given as ``argv[0]``.
"""

from __future__ import annotations

import os
import shutil
import time

FRESH = 1.0
"""Seconds a lookup serves later starts of the same name on the same PATH."""
MOST_KEPT = 256
"""Lookups kept at once; past it they are all dropped (a farm runs a few programs)."""

_found: dict[tuple[str, str], tuple[float, str | None]] = {}
"""(name, PATH) -> (when it was looked up, monotonic; the path found, or None)."""


def program_path(name: str, env: dict[str, str]) -> str | None:
    """The file ``name`` runs on the PATH of ``env``; None where the child must look for
    itself: a name with a folder in it, a PATH with a relative folder (or an empty one,
    the working folder), or a name not found (the start then fails as it would have,
    with the error the OS gives)."""
    if os.sep in name or (os.altsep and os.altsep in name):
        return None
    path = env.get("PATH", os.defpath)
    now = time.monotonic()
    looked_at, found = _found.get((name, path), (-FRESH, None))
    if now - looked_at >= FRESH:
        # A folder relative to the task's own (the child's) working folder: left to the child.
        relative = not all(os.path.isabs(folder) for folder in path.split(os.pathsep))
        found = None if relative else shutil.which(name, path=path)
        if len(_found) >= MOST_KEPT:
            _found.clear()
        _found[(name, path)] = (now, found)
    return found


def forget(name: str, env: dict[str, str]) -> None:
    """Drop what was found for ``name``: the file it named could not be run."""
    _found.pop((name, env.get("PATH", os.defpath)), None)
