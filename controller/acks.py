"""Acks to agents, at most one per agent every ``ACK_INTERVAL`` seconds.

An ack tells an agent that its events up to a sequence are stored and may be forgotten, so
a later ack says everything an earlier one would have: one per agent per commit was more
link messages than the assignments themselves with 1,000 agents dispatching (each commit
acked every agent it stored events of). An ack that comes later costs only memory on the
agent (the events it keeps meanwhile) and, after a lost link, a few more events replayed,
which the controller applies once by their sequence.
"""

from __future__ import annotations

import asyncio
import math

from renderq.controller.farm_state import LinkHandle
from renderq.controller.link_messages import ack_request

ACK_INTERVAL = 0.5
"""Least seconds between two acks to one agent."""


class Acks:
    def __init__(self) -> None:
        self._sent: dict[str, float] = {}
        """Agent id -> when (the loop's clock) its last ack went."""
        self._due: dict[str, tuple[LinkHandle, int]] = {}
        """Agent id -> the link and the newest stored sequence of an ack waiting to go."""

    def stored(self, agent_id: str, link: LinkHandle, sequence: int) -> None:
        """``agent_id``'s events up to ``sequence`` are stored: ack them now, or with the
        ack already due to that agent."""
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._sent.get(agent_id, -math.inf)
        if agent_id in self._due:
            self._due[agent_id] = (link, sequence)
        elif waited >= ACK_INTERVAL:
            self._send(agent_id, link, sequence)
        else:
            self._due[agent_id] = (link, sequence)
            loop.call_later(ACK_INTERVAL - waited, self._send_due, agent_id)

    def _send_due(self, agent_id: str) -> None:
        link, sequence = self._due.pop(agent_id)
        self._send(agent_id, link, sequence)

    def _send(self, agent_id: str, link: LinkHandle, sequence: int) -> None:
        self._sent[agent_id] = asyncio.get_running_loop().time()
        link.send(ack_request(sequence))
