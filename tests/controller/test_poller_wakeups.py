"""gRPC's wake-up bytes read in bulk: every byte waiting is read in one turn, the queue
run once; a byte another loop took first is no error, and the bytes read before it are
written back, as are those of a run gRPC stops part way (an event for a closed loop),
so the rest of the queue runs; a loop bound to gRPC (both of a
running controller's) gets the bulk reader, and calls through it are answered."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from renderq.controller.api_thread import api_loop
from renderq.controller.poller_wakeups import _bulk_reader, read_wakeups_in_bulk, replace_reader

from .conftest import start_controller, stop_controller

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def wakeups() -> Iterator[Pair]:
    """A socket pair as gRPC's poller has: the read end non-blocking."""
    reading, writing = socket.socketpair()
    reading.setblocking(False)
    yield reading, writing
    reading.close()
    writing.close()


def waiting_bytes(sock: socket.socket) -> int:
    sock.setblocking(False)
    try:
        return len(sock.recv(1 << 16, socket.MSG_PEEK))
    except BlockingIOError:
        return 0


def test_every_waiting_byte_is_read_and_the_queue_run_once(wakeups: Pair) -> None:
    reading, writing = wakeups
    writing.send(b"1" * 300)  # 300 completions queued while the loop was busy
    runs: list[bytes] = []
    # As gRPC's reader: one byte, then the whole queue.
    _bulk_reader(reading, writing, lambda: runs.append(reading.recv(1)))()
    assert runs == [b"1"]
    assert waiting_bytes(reading) == 0


def test_a_byte_another_loop_read_first_is_no_error(wakeups: Pair) -> None:
    reading, writing = wakeups
    runs: list[bytes] = []
    # Nothing waits: gRPC's own read of its byte raises, as it would here.
    _bulk_reader(reading, writing, lambda: runs.append(reading.recv(1)))()
    assert runs == []
    assert waiting_bytes(reading) == 0, "no byte is written back where none was read here"


def test_bytes_read_before_another_loop_took_the_last_are_written_back(wakeups: Pair) -> None:
    reading, writing = wakeups
    writing.send(b"1" * 5)

    def handle_events() -> None:  # another loop reads the last byte first; its run may stop part way
        reading.recv(1 << 16)
        reading.recv(1)

    _bulk_reader(reading, writing, handle_events)()
    assert waiting_bytes(reading) == 4


def test_a_run_stopped_part_way_is_woken_again_and_the_rest_run(wakeups: Pair) -> None:
    reading, writing = wakeups
    queue = ["for a closed loop", "a", "b"]
    ran: list[str] = []

    def handle_events() -> None:  # as gRPC's: one byte, then the queue until it raises
        reading.recv(1)
        while queue:
            event = queue.pop(0)
            if event == "for a closed loop":
                raise RuntimeError("Event loop is closed")
            ran.append(event)

    writing.send(b"1" * len(queue))
    reader = _bulk_reader(reading, writing, handle_events)
    with pytest.raises(RuntimeError, match="closed"):
        reader()
    assert waiting_bytes(reading) == 2, "the rest of the queue waits for a wake-up that never comes"
    reader()
    assert ran == ["a", "b"]
    assert waiting_bytes(reading) == 0


def bulk_readers(loop: asyncio.AbstractEventLoop) -> int:
    """How many of ``loop``'s readers are this module's."""
    keys = loop._selector.get_map().values()  # type: ignore[attr-defined]
    return sum(
        bool(getattr(key.data[0], "_callback", None) and getattr(key.data[0]._callback, "in_bulk", False))
        for key in keys
    )


async def test_a_bound_loop_reads_in_bulk_and_its_calls_are_answered() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert read_wakeups_in_bulk(), "gRPC's reader of its wake-up socket was not found on this loop"
        assert replace_reader(asyncio.get_running_loop())  # once only: it is this module's now
        assert bulk_readers(asyncio.get_running_loop()) == 1
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answers = await asyncio.gather(*(stub.Check(health_pb2.HealthCheckRequest()) for _ in range(300)))
        assert {a.status for a in answers} == {health_pb2.HealthCheckResponse.SERVING}
    finally:
        await server.stop(None)


async def test_both_loops_of_a_controller_read_in_bulk(tmp_path: Path) -> None:
    task, _ = await start_controller(tmp_path, [])
    try:
        assert bulk_readers(asyncio.get_running_loop()) == 1, "the farm's loop"
        assert bulk_readers(api_loop()) == 1, "the API's loop"
    finally:
        await stop_controller(task)
