"""``renderq agent-set`` against a real controller with an agent, and how ``renderq agents``
shows overrides and reservations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

import pytest

from renderq.v1 import resources_pb2 as rs

from .conftest import DEADLINE, CliRunner, FakeFarm, FarmWithAgent, Result, renderq_process

T = TypeVar("T")
AGENT = "scripted-1"


@dataclass
class Verb:
    """``renderq VERB --controller ADDRESS --data-dir DIR ...`` in this process (the flags
    go before any ``--``, which starts a job's command)."""

    cli: CliRunner
    farm: FarmWithAgent

    def where(self) -> list[str]:
        return ["--controller", self.farm.address, "--data-dir", str(self.farm.data_dir)]

    def __call__(self, verb: str, *argv: str) -> Result:
        return self.cli(verb, *self.where(), *argv, controller=False)


@pytest.fixture
def verb(cli: CliRunner, farm_with_agent: FarmWithAgent) -> Verb:
    return Verb(cli, farm_with_agent)


def fields(result: Result) -> dict[str, str]:
    """``name: value`` lines as a dict."""
    assert result.code == 0, result.err
    pairs = (line.split(":", 1) for line in result.lines)
    return {name: value.strip() for name, value in pairs}


def test_overrides_print_the_settings_in_force_with_what_the_agent_announced(verb: Verb) -> None:
    result = verb(
        "agent-set", AGENT, "--slots", "8", "--tags", "gpu,fast", "--pool", "gpu", "--cost-per-hour", "1.5"
    )
    assert fields(result) == {
        "agent": AGENT,
        "slots": "8 (override; agent announced 2)",
        "pool": "gpu (override; agent announced default)",
        "tags": "gpu,fast (override; agent announced none)",
        "cost per hour": "1.5 (override; agent announced 0)",
    }
    assert result.err == ""

    shown = fields(verb("agents", AGENT))
    assert shown["slots"] == "8 (override; agent announced 2)"
    assert shown["in use"] == "0 of 8 slots"
    assert shown["reserved"] == "nothing"

    _, row, note = verb("agents").lines
    assert row.split()[:3] == [AGENT, "online", "enabled"]
    assert "0/8*" in row.split() and "gpu*" in row.split() and "gpu,fast*" in row.split()
    assert note.startswith(f"* {AGENT}: slots 8 (override; agent announced 2), pool gpu (override; ")


def test_reset_hands_settings_back_to_the_agent(verb: Verb) -> None:
    assert verb("agent-set", AGENT, "--slots", "8", "--pool", "gpu", "--cost-per-hour", "3").code == 0
    partly = fields(verb("agent-set", AGENT, "--reset", "slots", "--reset", "cost-per-hour"))
    assert (partly["slots"], partly["cost per hour"]) == ("2", "0")
    assert partly["pool"] == "gpu (override; agent announced default)"

    no_tags = fields(verb("agent-set", AGENT, "--tags", ""))
    assert no_tags["tags"] == "none (override; agent announced none)", "an empty list is an override too"

    everything = verb("agent-set", AGENT, "--reset", "all", "--slots", "4")
    assert fields(everything) == {
        "agent": AGENT,
        "slots": "4 (override; agent announced 2)",
        "pool": "default",
        "tags": "none",
        "cost per hour": "0",
    }, "all: every setting not given a value"
    assert verb("agent-set", AGENT, "--reset", "all").out.count("override") == 0
    _, row = verb("agents").lines
    assert "*" not in row


def test_json_is_the_agent_with_what_it_announced_and_what_is_overridden(verb: Verb) -> None:
    result = verb("agent-set", AGENT, "--slots", "6", "--tags", "", "--json")
    assert result.code == 0, result.err
    agent = json.loads(result.out)
    assert agent["id"] == AGENT and agent["status"] == "online"
    assert (agent["slots"], agent["tags"]) == (6, [])
    assert agent["overrides"] == {"slots": 6, "tags": {"tags": []}}
    assert agent["announced"] == {"slots": 2, "pool": "default", "tags": {"tags": []}, "cost_per_hour": 0.0}
    assert (agent["cores_reserved"], agent["memory_reserved_bytes"], agent["gpus_in_use"]) == (0, 0, [])
    assert result.out == json.dumps(agent, indent=2, sort_keys=True) + "\n"

    reset = json.loads(verb("agent-set", AGENT, "--reset", "all", "--json").out)
    assert (reset["overrides"], reset["slots"]) == ({}, 2)
    assert json.loads(verb("agents", AGENT, "--json").out) == reset


def test_the_details_show_what_running_tasks_reserve(verb: Verb, farm_with_agent: FarmWithAgent) -> None:
    submitted = verb(
        "submit", "command", "--frames", "1", "--task-cores", "2", "--task-memory", "1GiB", "--", "true"
    )
    assert submitted.code == 0, submitted.err
    assign = farm_with_agent.run(farm_with_agent.agent.next_request("assign")).assign
    shown = fields(verb("agents", AGENT))
    assert shown["reserved"] == "2 cores, 1.0 GiB RAM"
    assert shown["in use"] == "1 of 2 slots"
    assert shown["running tasks"] == str(assign.task_id)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--slots", "0"], "renderq: overrides.slots: must be from 1 to 1024, not 0 (INVALID_ARGUMENT)"),
        (
            ["--cost-per-hour", "-2"],
            "renderq: overrides.cost_per_hour: must not be negative, not -2.0 (INVALID_ARGUMENT)",
        ),
        (
            [],
            "renderq: agent-set needs a change: --slots, --tags, --pool, --cost-per-hour or --reset SETTING",
        ),
        (
            ["--pool", "a", "--reset", "pool"],
            "renderq: --pool and --reset pool contradict each other; give one of them",
        ),
    ],
    ids=["slots-0", "negative-cost", "no-change", "contradiction"],
)
def test_a_refused_change_is_one_sentence_and_exit_code_2(verb: Verb, argv: list[str], message: str) -> None:
    result = verb("agent-set", AGENT, *argv)
    assert (result.code, result.out, result.err.strip()) == (2, "", message)
    unchanged = fields(verb("agents", AGENT))
    assert (unchanged["slots"], unchanged["cost per hour"], unchanged["pool"]) == ("2", "0", "default")


def test_an_unknown_agent_is_not_found_in_text_and_json_without_a_traceback(verb: Verb) -> None:
    process = renderq_process("agent-set", "node-never-seen", "--slots", "3", *verb.where())
    out, err = process.communicate(timeout=DEADLINE)
    assert (process.returncode, out) == (2, b"")
    assert err.decode().strip() == "renderq: agent 'node-never-seen' does not exist (NOT_FOUND)"
    result = verb("agent-set", "node-never-seen", "--slots", "3", "--json")
    assert result.code == 2
    assert json.loads(result.err) == {
        "error": {"code": "NOT_FOUND", "exit_code": 2, "message": "agent 'node-never-seen' does not exist"}
    }


def test_the_details_show_overrides_reservations_and_gpus_in_use(cli: CliRunner, farm: FakeFarm) -> None:
    agent = rs.Agent(
        id="node-a",
        status=rs.AGENT_STATUS_ONLINE,
        mode=rs.AGENT_MODE_ENABLED,
        slots=8,
        slots_used=2,
        pool="gpu",
        tags=["rtx"],
        cost_per_hour=2.0,
        cores_reserved=8,
        memory_reserved_bytes=40 << 30,
        gpus_in_use=[0, 1],
        running_task_ids=[12, 13],
    )
    agent.hardware.gpus.add(index=0, model="RTX 4090", memory_bytes=24 << 30)
    agent.announced.MergeFrom(
        rs.AgentSettings(slots=4, pool="render", tags=rs.TagList(tags=["rtx"]), cost_per_hour=2.0)
    )
    agent.overrides.MergeFrom(rs.AgentSettings(slots=8, pool="gpu"))
    farm.agents = [agent]
    shown = fields(cli("agents", "node-a"))
    assert shown["slots"] == "8 (override; agent announced 4)"
    assert shown["pool"] == "gpu (override; agent announced render)"
    assert (shown["tags"], shown["cost per hour"]) == ("rtx", "2")
    assert shown["reserved"] == "8 cores, 40 GiB RAM, GPUs 0,1"
    assert shown["running tasks"] == "12, 13"
    assert shown["GPUs"] == "0: RTX 4090, 24 GiB"


def test_the_agents_table_still_fits_a_narrow_terminal_with_overrides(
    cli: CliRunner, farm: FakeFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = rs.Agent(id="node-a", status=rs.AGENT_STATUS_ONLINE, slots=8, pool="a-rather-long-pool-name")
    agent.hardware.hostname = "render-node-with-a-long-host-name.studio.example"
    agent.announced.MergeFrom(rs.AgentSettings(slots=4, pool="default"))
    agent.overrides.MergeFrom(rs.AgentSettings(slots=8, pool="a-rather-long-pool-name"))
    farm.agents = [agent]
    monkeypatch.setenv("COLUMNS", "60")
    *table, note = cli("agents").lines
    assert all(len(line) <= 60 for line in table), table
    assert "0/8*" in table[1]
    assert note == (
        "* node-a: slots 8 (override; agent announced 4), "
        "pool a-rather-long-pool-name (override; agent announced default)"
    )
