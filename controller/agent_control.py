"""What an admin does to agents: enable, disable, drain, forget, override settings."""

from __future__ import annotations

import logging
from collections.abc import Callable

from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.link_messages import drain_request
from renderq.controller.model import Agent
from renderq.controller.work_queue import WorkQueue
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


class AgentControl:
    def __init__(self, state: FarmState, queue: WorkQueue) -> None:
        self.state = state
        self.queue = queue
        self.on_forget: Callable[[str, str], None] = lambda agent_id, address: None
        """Called with an agent's id and address once it is forgotten (the links stop dialling it)."""

    def set_mode(self, agent_id: str, mode: pb.AgentMode) -> Agent:
        agent = self.state.agent(agent_id)
        agent.mode = mode
        link = self.state.links.get(agent_id)
        if mode == pb.AGENT_MODE_DRAINING and link is not None:
            link.send(drain_request())
        self.state.rec.changed(agent)
        self.queue.offer(agent_id)
        return agent

    def set_overrides(self, agent_id: str, new: pb.AgentSettings, paths: list[str]) -> Agent:
        """Override (or, for a path whose field ``new`` leaves unset, stop overriding) the
        settings ``paths`` names; in force at once, kept across restarts of either side."""
        agent = self.state.agent(agent_id)
        if not paths:
            raise InvalidField("update_mask", f"name the settings to change: {', '.join(OVERRIDABLE)}")
        for path in paths:
            if path not in OVERRIDABLE:
                only = ", ".join(OVERRIDABLE)
                raise InvalidField("update_mask", f"{path!r} cannot be overridden; only {only}")
        _check_overrides(new)
        for path in paths:
            if not new.HasField(path):
                agent.overrides.ClearField(path)
            elif path == "tags":
                agent.overrides.tags.CopyFrom(new.tags)
            else:
                setattr(agent.overrides, path, getattr(new, path))
        agent.settle_settings()
        self.state.rec.changed(agent)
        self.queue.offer(agent_id)
        log.info("agent overrides agent=%s %s", agent_id, agent.overrides)
        return agent

    def forget(self, agent_id: str) -> None:
        """Remove an offline agent from the records for good; ``on_forget`` stops its dialling."""
        state = self.state
        agent = state.agents.get(agent_id)
        refused = state.refused.pop(agent_id, None)
        if agent is None:
            if refused is None:
                raise NoSuchResource(f"agent {agent_id!r} does not exist")
            self.on_forget(agent_id, refused.address)
            state.rec.deleted(refused)
            return
        if agent_id in state.links:
            raise NotPossibleNow(
                f"agent {agent_id} is online; stop the agent on its node first (a running agent "
                "would be found again over mDNS), or disable it to keep work off it"
            )
        if agent.holds:
            raise NotPossibleNow(
                f"agent {agent_id} still holds {len(agent.holds)} task(s); they return to the queue "
                f"once it has been silent for {state.agent_timeout:.0f} s: forget it then"
            )
        del state.agents[agent_id]
        self.on_forget(agent_id, agent.address)
        state.rec.deleted(agent)
        log.info("agent forgotten agent=%s address=%s", agent_id, agent.address)


OVERRIDABLE = ("slots", "tags", "pool", "cost_per_hour")
MOST_SLOTS = 1024


def _check_overrides(new: pb.AgentSettings) -> None:
    if new.HasField("slots") and not 1 <= new.slots <= MOST_SLOTS:
        raise InvalidField("overrides.slots", f"must be from 1 to {MOST_SLOTS}, not {new.slots}")
    if new.HasField("cost_per_hour") and not new.cost_per_hour >= 0:
        raise InvalidField("overrides.cost_per_hour", f"must not be negative, not {new.cost_per_hour}")
    for tag in new.tags.tags:
        if not tag or "," in tag or tag != tag.strip():
            raise InvalidField("overrides.tags", f"{tag!r} is not a tag: no commas, no spaces around")
