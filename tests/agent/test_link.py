"""The Link protocol as the controller sees it: hello, outbox replay and acks,
duplicate assigns, heartbeats and one link at a time."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from renderq import __version__
from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc
from tests.agent.conftest import Connect, FakeController, shell, task


async def test_hello_tells_who_the_agent_is(agent: AgentServer, controller: FakeController) -> None:
    hello = controller.hello

    assert hello.agent_id == agent.agent_id
    assert hello.agent_id == (agent.config.data_dir / "agent-id").read_text().strip()
    assert hello.version == __version__
    assert hello.session_id == agent.session_id
    assert hello.port == agent.port
    assert hello.slots == 1
    assert hello.pool == "test-pool"
    assert list(hello.tags) == ["fast", "test"]
    assert hello.cost_per_hour == 1.5
    assert hello.hardware.cpu_cores > 0
    assert hello.hardware.ram_bytes > 0
    assert list(hello.known_attempt_ids) == []


async def test_unacked_events_are_replayed_after_a_reconnect(connect: Connect) -> None:
    first = await connect()
    await first.assign(task(21, shell("echo replay me"), frames=[1, 2]))
    await first.finished(21)
    sent = [e for e in first.events if e.attempt_id == 21]
    await first.close()

    second = await connect()
    assert list(second.hello.known_attempt_ids) == [21]
    replayed = [await second.event(f"replay of event {e.sequence}", lambda _: True) for e in sent]
    assert replayed == sent

    await second.ack(sent[-1].sequence)
    await second.close()
    third = await connect()
    assert list(third.hello.known_attempt_ids) == []
    # The agent replays before its first heartbeat: a heartbeat first means nothing was left.
    first_message = await third.next_message("the first message after hello")
    assert first_message.HasField("heartbeat"), f"expected no replay after the ack, got {first_message}"


async def test_ack_drops_only_the_events_up_to_its_sequence(connect: Connect) -> None:
    first = await connect()
    await first.assign(task(22, shell("echo partly acked"), frames=[1]))
    await first.finished(22)
    sent = [e for e in first.events if e.attempt_id == 22]
    await first.ack(sent[1].sequence)
    await first.close()

    second = await connect()
    replayed = [await second.event(f"replay of event {e.sequence}", lambda _: True) for e in sent[2:]]
    assert replayed == sent[2:]
    assert list(second.hello.known_attempt_ids) == [22]


async def test_events_keep_flowing_on_a_new_link_while_the_task_runs(
    connect: Connect, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    first = await connect()
    await first.assign(
        task(23, shell('echo before; while [ ! -e "$1" ]; do sleep 0.05; done; echo after', str(go)))
    )
    await first.log_text_until(23, "before")
    await first.close()

    second = await connect()
    assert 23 in second.hello.known_attempt_ids
    go.touch()
    finished = await second.finished(23)

    assert finished.exit_code == 0
    assert "before" in second.log(23)
    assert "after" in second.log(23)


async def test_a_duplicate_assign_is_ignored(controller: FakeController, tmp_path: Path) -> None:
    go = tmp_path / "go"
    waiting = task(24, shell('echo run; while [ ! -e "$1" ]; do sleep 0.05; done', str(go)))
    await controller.assign(waiting)
    await controller.assign(waiting)
    # Requests are handled in order: once this one is done, the duplicate was seen.
    await controller.assign(task(25, shell("true")))
    await controller.finished(25)
    go.touch()
    await controller.finished(24)

    assert len(controller.of(24, "started")) == 1
    assert len(controller.of(24, "finished")) == 1
    assert controller.log(24).count("run") == 1


async def test_cancel_of_an_unknown_attempt_is_ignored(controller: FakeController) -> None:
    await controller.cancel(999)
    await controller.assign(task(26, shell("echo still fine")))
    finished = await controller.finished(26)

    assert finished.exit_code == 0
    assert not finished.cancelled


async def test_heartbeat_lists_running_attempts_and_load(controller: FakeController, tmp_path: Path) -> None:
    go = tmp_path / "go"
    await controller.assign(task(27, shell('echo up; while [ ! -e "$1" ]; do sleep 0.05; done', str(go))))
    message = await controller.wait_for(
        "a heartbeat listing attempt 27",
        lambda m: m.HasField("heartbeat") and 27 in m.heartbeat.running_attempt_ids,
    )
    go.touch()
    await controller.finished(27)

    assert message.heartbeat.load.ram_used_bytes > 0
    assert message.heartbeat.load.load_average >= 0


async def test_a_new_link_replaces_the_old_one(connect: Connect) -> None:
    old = await connect()
    new = await connect()

    await old.ended()
    heartbeat = await new.wait_for("a heartbeat on the new link", lambda m: m.HasField("heartbeat"))
    assert heartbeat.heartbeat.load.ram_used_bytes > 0


async def test_a_link_must_start_with_hello(agent: AgentServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}") as channel:
        call = agent_service_pb2_grpc.AgentServiceStub(channel).Link()
        await call.write(apb.LinkRequest(ack=apb.Ack(sequence=1)))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "hello" in (raised.value.details() or "")
