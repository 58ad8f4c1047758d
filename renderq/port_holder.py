"""Who holds a port a renderq server could not bind: said in the error, when it is renderq.

"Address already in use" leaves an operator guessing; a farm left running by a dropped
SSH session is the usual culprit, and the fix is to stop that one.
"""

from __future__ import annotations

import contextlib

import psutil


def holder_of(listen: str) -> str:
    """`` (held by renderq controller, pid 1234: stop it first)`` when a renderq process
    listens on the port of ``listen`` (``host:port``); else ``""``."""
    port_text = listen.rpartition(":")[2]
    if not port_text.isdigit() or int(port_text) == 0:
        return ""
    port = int(port_text)
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                words = psutil.Process(conn.pid).cmdline()
                if "renderq" in " ".join(words):
                    what = _role(words)
                    return f" (held by {what}, pid {conn.pid}: stop it first, e.g. kill {conn.pid})"
    return ""


def _role(words: list[str]) -> str:
    """``renderq controller`` / ``renderq agent`` / ``renderq up`` from a command line."""
    for verb in ("controller", "agent", "up", "tui"):
        if verb in words:
            return f"renderq {verb}"
    return "a renderq process"
