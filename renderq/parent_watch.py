"""A service started by another renderq process stops when that process dies.

``renderq up`` runs the controller and the agent as children in sessions of their own
(so Ctrl-C reaches ``up``, which stops them in order). If ``up`` itself is killed with
SIGKILL it can stop nothing, and they would run on, holding the ports the next ``up``
needs. So ``up`` names itself in ``RENDERQ_STOP_WITH_PARENT``, and each child watches
that process: when it ends, the child sends itself SIGTERM and stops as it would for an
operator (the agent says goodbye and kills its tasks). On Linux the watch is a pidfd,
woken by the exit itself; elsewhere psutil waits for the pid.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading

import psutil

ENV = "RENDERQ_STOP_WITH_PARENT"


def stop_with_parent() -> None:
    """If ``$RENDERQ_STOP_WITH_PARENT`` names a process, stop this one (SIGTERM) when it ends."""
    value = os.environ.pop(ENV, "")  # not inherited by the tasks this process starts
    if not value.isdigit():
        return
    threading.Thread(target=_watch, args=(int(value),), name="stop-with-parent", daemon=True).start()


def _watch(pid: int) -> None:
    if os.getppid() == pid:
        _wait(pid)
    os.kill(os.getpid(), signal.SIGTERM)


def _wait(pid: int) -> None:
    """Return once process ``pid`` has ended (at once if it already has)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return
        except OSError:
            pass  # pidfds not allowed here: wait the portable way
        else:
            try:
                select.select([fd], [], [])
            finally:
                os.close(fd)
            return
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait()
