"""What the controller writes on an agent's link: requests in the order sent, and, to an
agent that takes them, assignments waiting one behind the other in one message, cut
before they grow large."""

from __future__ import annotations

import asyncio

import pytest

from renderq.controller import links
from renderq.controller.links import LinkSession
from renderq.v1 import agent_service_pb2 as apb

DEADLINE = 10.0


class RecordedCall:
    """Stands for the Link stream: keeps what is written, one write at a time."""

    def __init__(self) -> None:
        self.written: list[apb.LinkRequest] = []
        self.wrote = asyncio.Event()

    async def write(self, request: apb.LinkRequest) -> None:
        self.written.append(request)
        self.wrote.set()


def assign(attempt_id: int) -> apb.LinkRequest:
    return apb.LinkRequest(assign=apb.AssignTask(attempt_id=attempt_id, job_id=1))


def cancel(attempt_id: int) -> apb.LinkRequest:
    return apb.LinkRequest(cancel=apb.CancelTask(attempt_id=attempt_id, reason="test"))


def summary(written: list[apb.LinkRequest]) -> list[tuple[str, list[int]]]:
    """Each message as its kind and the attempts it names."""
    out: list[tuple[str, list[int]]] = []
    for request in written:
        kind = request.WhichOneof("kind")
        if kind == "assign_many":
            out.append((kind, [t.attempt_id for t in request.assign_many.tasks]))
        elif kind == "assign":
            out.append((kind, [request.assign.attempt_id]))
        else:
            out.append((str(kind), [request.cancel.attempt_id]))
    return out


async def written_after_sending(
    session: LinkSession, requests: list[apb.LinkRequest], count: int
) -> list[apb.LinkRequest]:
    """Send ``requests`` before the writer's first turn; the first ``count`` messages written."""
    call = RecordedCall()
    for request in requests:
        session.send(request)
    writer = asyncio.create_task(session.write_loop(call))
    try:
        async with asyncio.timeout(DEADLINE):
            while len(call.written) < count:
                call.wrote.clear()
                await call.wrote.wait()
    except TimeoutError:
        pytest.fail(f"waited {DEADLINE} s for {count} messages, {len(call.written)} written")
    finally:
        writer.cancel()
    return call.written


async def test_assignments_waiting_together_go_in_one_message_in_order() -> None:
    requests = [assign(1), assign(2), assign(3), cancel(2), assign(4), assign(5)]
    written = await written_after_sending(LinkSession(assign_many=True), requests, 3)
    assert summary(written) == [("assign_many", [1, 2, 3]), ("cancel", [2]), ("assign_many", [4, 5])]


async def test_an_agent_that_does_not_take_them_gets_each_assignment_alone() -> None:
    written = await written_after_sending(LinkSession(), [assign(1), assign(2)], 2)
    assert summary(written) == [("assign", [1]), ("assign", [2])]


async def test_a_lone_assignment_goes_as_it_is() -> None:
    written = await written_after_sending(LinkSession(assign_many=True), [assign(1), cancel(1)], 2)
    assert summary(written) == [("assign", [1]), ("cancel", [1])]


async def test_assignments_stop_joining_a_message_past_its_share_of_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(links, "ASSIGN_MANY_BYTES", 2 * assign(1).ByteSize() + 1)  # room for a third
    requests = [assign(n) for n in range(1, 6)]
    written = await written_after_sending(LinkSession(assign_many=True), requests, 2)
    assert summary(written) == [("assign_many", [1, 2, 3]), ("assign_many", [4, 5])]
