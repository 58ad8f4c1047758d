"""Acks to an agent are paced: the first goes at once, those stored within the next half
second go as one ack of the newest sequence, so a busy agent gets two acks a second, not one
per commit."""

from __future__ import annotations

from renderq.controller.acks import ACK_INTERVAL, Acks
from renderq.v1 import agent_service_pb2 as apb
from tests.waiting import until


class Link:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def send(self, request: apb.LinkRequest) -> None:
        self.acked.append(request.ack.sequence)


async def test_acks_within_the_interval_go_as_one_of_the_newest_sequence() -> None:
    acks, link = Acks(), Link()
    acks.stored("n1", link, 3)
    acks.stored("n1", link, 7)
    acks.stored("n1", link, 9)
    assert link.acked == [3], "the first ack goes at once"

    await until("the due ack", lambda: len(link.acked) == 2, within=10 * ACK_INTERVAL)
    assert link.acked == [3, 9]


async def test_each_agent_is_paced_on_its_own() -> None:
    acks, one, two = Acks(), Link(), Link()
    acks.stored("n1", one, 1)
    acks.stored("n2", two, 5)
    assert (one.acked, two.acked) == ([1], [5]), "one agent's last ack does not hold back another's"
