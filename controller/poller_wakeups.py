"""gRPC's wake-up bytes read all at once, so its poller thread never waits on them.

Why: grpcio's asyncio stack (1.85) has one poller thread per process. For every
completion (a message read or written, a call arriving) it queues the event and writes
one byte to a socket shared by every event loop of the process; a loop that finds the
socket readable reads one byte and runs (or hands to its loop) every queued event. A
loop reads one byte per turn, so while the farm's loop dispatches a thousand agents
(thousands of completions a second, turns of up to half a second) the socket fills, the
poller blocks in ``write`` (84 % of the samples in ``bench/scale.py --agents 1000``),
and a call arriving at the API's idle loop waited behind the farm's backlog: ListJobs
answered in up to a second although it is made in half a millisecond.

Each loop's reader of that socket is replaced here by one that reads every byte
waiting but the last, then lets gRPC read the last and run the queue to its end. Safe,
since the poller queues an event before writing its byte: every event whose byte was
read here is run by this run of the queue. Where that run does not happen or stops part
way, the bytes read here are written back to the poller's socket, and the process is
where gRPC's own reader would have left it (one byte read, every event left in the
queue with a byte of its own): another loop read the last byte first
(``BlockingIOError``; its run may stop part way too), or gRPC's run stopped at an event
it could not hand on (its loop closed: a test's loop, a stopped controller's). Without
that, the events behind would wait for the next completion, or forever on an idle
process (a test's client that never connected).

It reaches into asyncio's selector (which reader a socket has), gRPC's reader
(``functools.partial`` of ``PollerCompletionQueue._handle_events``) and the poller's
writing socket (the other socket the poller holds, found by the garbage collector's
``get_referents``); where any has another shape, the loop keeps gRPC's own reader and
nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import socket
from collections.abc import Callable
from typing import TypeGuard

import grpc

POLLER = "PollerCompletionQueue"
"""The class whose ``_handle_events`` gRPC registers as each loop's reader."""
PEEK_BYTES = 1 << 16
"""Most wake-up bytes read in one turn; any more are read in the next."""


def read_wakeups_in_bulk() -> bool:
    """The running loop bound to gRPC's poller and its reader replaced; True when it
    reads in bulk now. Call it while a server or channel of the process is open, so
    the poller outlives this call."""
    grpc.aio.init_grpc_aio()  # binds the running loop (as making a channel on it would)
    try:
        return replace_reader(asyncio.get_running_loop())
    finally:
        grpc.aio.shutdown_grpc_aio()


def replace_reader(loop: asyncio.AbstractEventLoop) -> bool:
    """The reader gRPC registered on ``loop`` replaced by one that reads in bulk; False
    where none is found (not bound yet, or shapes this module does not know)."""
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return False
    for key in list(selector.get_map().values()):
        reader = key.data[0] if isinstance(key.data, tuple) else None
        callback = getattr(reader, "_callback", None)
        if getattr(callback, "in_bulk", False):
            return True
        if _is_grpc_reader(callback) and isinstance(key.fileobj, socket.socket):
            writing = _writing_socket(getattr(callback.func, "__self__", None), key.fileobj)
            if writing is None:
                return False
            loop.add_reader(key.fileobj, _bulk_reader(key.fileobj, writing, callback))
            return True
    return False


def _is_grpc_reader(callback: object) -> TypeGuard[functools.partial[None]]:
    if not isinstance(callback, functools.partial):
        return False
    return type(getattr(callback.func, "__self__", None)).__name__ == POLLER


def _writing_socket(poller: object, reading: socket.socket) -> socket.socket | None:
    """The socket the poller writes its wake-up bytes to: the one it holds besides
    ``reading``; None unless there is exactly one."""
    held = [o for o in gc.get_referents(poller) if isinstance(o, socket.socket) and o is not reading]
    return held[0] if len(held) == 1 else None


def _bulk_reader(
    sock: socket.socket, writing: socket.socket, handle_events: Callable[[], None]
) -> Callable[[], None]:
    def read_in_bulk() -> None:
        try:
            waiting = len(sock.recv(PEEK_BYTES, socket.MSG_PEEK))
            read_here = len(sock.recv(waiting - 1)) if waiting > 1 else 0
        except BlockingIOError:
            return  # another loop read them first: it runs the queue
        try:
            handle_events()  # reads the last byte, runs this loop's events, hands on the others'
        except BlockingIOError:
            _write_back(writing, read_here)  # another loop read the last byte
        except Exception:
            _write_back(writing, read_here)  # the run stopped part way
            raise  # logged by the loop, as gRPC's own reader's would be

    read_in_bulk.in_bulk = True  # type: ignore[attr-defined]
    return read_in_bulk


def _write_back(writing: socket.socket, count: int) -> None:
    """``count`` wake-up bytes written as the poller would. Where the socket is full,
    hundreds wait already, each a run of the whole queue."""
    if count:
        with contextlib.suppress(OSError):  # full, or closed with the poller
            writing.send(b"1" * count, socket.MSG_DONTWAIT)
