"""Tasks the controller sends ahead (``AssignTask.queued``) wait for the agent's one slot:
each starts as a task ends, in the order sent; a cancel ends one that waits without a
process, its frames handed back, and a stopping agent starts none."""

from __future__ import annotations

from pathlib import Path

from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from tests.agent.conftest import FakeController, shell, task


def ahead(attempt_id: int, argv: list[str], frames: list[int]) -> apb.AssignTask:
    assignment = task(attempt_id, argv, frames)
    assignment.queued = True
    return assignment


async def slot_taken_until(controller: FakeController, go: Path) -> Path:
    """Attempt 1 running in the agent's one slot until ``go`` (returned) exists."""
    await controller.assign(task(1, shell('while [ ! -e "$1" ]; do sleep 0.02; done', str(go))))
    await controller.event("started", lambda e: e.attempt_id == 1 and e.HasField("started"))
    return go


def order_of(controller: FakeController, kind: str) -> list[int]:
    return [event.attempt_id for event in controller.events if event.WhichOneof("kind") == kind]


async def test_tasks_sent_ahead_wait_for_the_slot_and_start_in_order(
    controller: FakeController, tmp_path: Path
) -> None:
    go = await slot_taken_until(controller, tmp_path / "go")
    for attempt_id in (2, 3, 4):
        await controller.assign(ahead(attempt_id, shell("true"), [attempt_id]))
    await controller.cancel(4)
    await controller.finished(4)  # the link is in order: 2 and 3 arrived before

    assert order_of(controller, "started") == [1], "a task sent ahead started beside the running one"
    go.touch()
    await controller.finished(3)

    ends = [(e.WhichOneof("kind"), e.attempt_id) for e in controller.events]
    ends = [end for end in ends if end[0] in ("started", "finished") and end[1] != 4]
    assert ends == [(kind, n) for n in (1, 2, 3) for kind in ("started", "finished")]
    assert all(controller.of(n, "finished")[0].finished.exit_code == 0 for n in (1, 2, 3))


async def test_a_cancelled_waiting_task_ends_unstarted_with_its_frames_back(
    controller: FakeController, tmp_path: Path
) -> None:
    go = await slot_taken_until(controller, tmp_path / "go")
    await controller.assign(ahead(2, shell("true"), [5, 6]))
    await controller.assign(ahead(3, shell("true"), [7]))

    await controller.cancel(2, "job cancelled")
    finished = await controller.finished(2)
    go.touch()
    await controller.finished(3)

    assert finished.cancelled and finished.error_message == "cancelled: job cancelled"
    assert list(finished.failed_frames) == [5, 6]
    assert not controller.of(2, "started"), "a cancelled waiting task never starts"
    assert order_of(controller, "started") == [1, 3]


async def test_stopping_the_agent_starts_no_waiting_task(
    agent: AgentServer, controller: FakeController, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    await controller.assign(task(1, shell("sleep 300")))
    await controller.event("started", lambda e: e.attempt_id == 1 and e.HasField("started"))
    await controller.assign(ahead(2, shell('touch "$1"', str(marker)), [2]))
    await controller.assign(ahead(3, shell("true"), [3]))
    await controller.cancel(3)
    await controller.finished(3)  # 2 arrived before

    await agent.stop()  # kills 1: its slot frees while the agent stops

    assert order_of(controller, "started") == [1]
    assert not marker.exists(), "a waiting task started while the agent stopped"


async def test_tasks_sent_ahead_in_one_message_wait_and_start_in_its_order(
    controller: FakeController, tmp_path: Path
) -> None:
    """``assign_many``: what the controller sends an agent whose hello says it takes it."""
    assert controller.hello.takes_assign_many
    go = await slot_taken_until(controller, tmp_path / "go")
    many = apb.AssignTasks(tasks=[ahead(n, shell("true"), [n]) for n in (2, 3, 4)])
    await controller.send(apb.LinkRequest(assign_many=many))
    go.touch()
    await controller.finished(4)

    assert order_of(controller, "started") == [1, 2, 3, 4]
    assert all(controller.of(n, "finished")[0].finished.exit_code == 0 for n in (2, 3, 4))
