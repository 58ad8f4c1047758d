"""An event loop woken from another thread only when it sleeps.

Why: asyncio's ``call_soon_threadsafe`` writes a byte to the loop's self-pipe for every
callback, whether the loop sleeps in ``select`` or is busy and will see the callback in
its next turn anyway. In the controller the API's thread hands the farm's loop every
gRPC completion it reads for it (poller_wakeups.py): thousands a second while a
thousand agents dispatch. Each write is a system call, and a thread that lets the
interpreter's lock go for one while the farm's loop wants it waits a switch interval to
get it back: the API thread spent its turns handing over the farm's completions, 2 ms
each, while calls to the API waited behind them.

Here the loop's ``select`` notes that it sleeps, and the loop's wake-up writes only
then. Correct with any interleaving, since both steps hold the interpreter's lock: the
loop marks itself asleep before it looks at its ready queue (a callback already there
makes it poll, not sleep), and a caller adds its callback before it looks at the mark
(a loop already asleep, or about to, gets its byte).

It reaches into the selector loop's ``_selector``, ``_ready`` and ``_write_to_self``
(which ``call_soon_threadsafe`` and signal handlers use); a loop of another shape keeps
its own wake-ups.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any


def wake_only_when_asleep(loop: asyncio.AbstractEventLoop) -> bool:
    """``loop``'s wake-ups from other threads skipped while it is awake; True when
    done (or done before). Call it on ``loop``'s own thread, never while it sleeps:
    a loop asleep in the old ``select`` would not be marked so."""
    selector = getattr(loop, "_selector", None)
    ready = getattr(loop, "_ready", None)
    write_to_self: Callable[[], None] | None = getattr(loop, "_write_to_self", None)
    if selector is None or not isinstance(ready, collections.deque) or write_to_self is None:
        return False
    if getattr(write_to_self, "only_when_asleep", False):
        return True
    select = selector.select
    asleep = [False]

    def marked_select(timeout: float | None = None) -> list[Any]:
        asleep[0] = True
        try:
            return select(0 if ready else timeout)  # a callback added before the mark: poll
        finally:
            asleep[0] = False

    def wake() -> None:
        if asleep[0]:
            write_to_self()

    wake.only_when_asleep = True  # type: ignore[attr-defined]
    selector.select = marked_select
    loop._write_to_self = wake  # type: ignore[attr-defined]
    return True
