"""The verbs against a real controller: what the fake farm can only promise.

The controller runs in this process (no agent), so these are quick; they need the
controller's side of JOB_STATE_BLOCKED and ForgetAgent, and the blender plugin that
leaves paths to the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import CliRunner, RealController, Result


@dataclass
class Verb:
    """``renderq VERB ... --controller ADDRESS --data-dir DIR`` against the real controller."""

    cli: CliRunner
    controller: RealController

    def __call__(self, *argv: str) -> Result:
        where = ["--controller", self.controller.address, "--data-dir", str(self.controller.data_dir)]
        return self.cli(*argv, *where, controller=False)


@pytest.fixture
def verb(cli: CliRunner, controller: RealController) -> Verb:
    return Verb(cli, controller)


def test_a_job_depending_on_a_cancelled_one_is_blocked_and_wait_says_why(verb: Verb) -> None:
    first = verb("submit", "demo", "--frames", "1")  # no agent: it stays queued
    assert first.code == 0, first.err
    assert verb("cancel", first.out.strip()).code == 0
    second = verb("submit", "demo", "--frames", "1", "--depends-on", first.out.strip())
    assert second.code == 0, second.err
    job_id = second.out.strip()
    assert second.err.startswith(f"renderq: job {job_id} is blocked: job {first.out.strip()} ")
    waited = verb("wait", job_id)
    assert waited.code == 5
    assert f"job {job_id} is blocked" in waited.err
    row = next(line for line in verb("jobs").lines if line.split()[0] == job_id)
    assert row.split()[1] == "blocked"


def test_forgetting_an_agent_the_farm_never_saw_is_not_found(verb: Verb) -> None:
    result = verb("forget", "node-never-seen")
    assert result.code == 2
    assert "node-never-seen" in result.err and "(NOT_FOUND)" in result.err


def test_a_scene_the_controller_cannot_see_is_accepted_once_checked_here(
    verb: Verb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shot010.blend").write_bytes(b"BLENDER")
    monkeypatch.chdir(tmp_path)
    here = verb("submit", "blender", "--frames", "1", "--param", "scene=shot010.blend", "--json")
    assert here.code == 0, here.err
    assert json.loads(here.out)["parameters"]["scene"] == str(tmp_path / "shot010.blend")
    nodes_only = verb(
        "submit", "blender", "--frames", "1", "--param", "scene=/mnt/nodes-only/a.blend", "--paths-on-nodes"
    )
    assert nodes_only.code == 0, nodes_only.err


def test_a_relative_scene_sent_as_typed_is_refused_by_the_controller(verb: Verb) -> None:
    result = verb("submit", "blender", "--frames", "1", "--param", "scene=shot010.blend", "--paths-on-nodes")
    assert result.code == 2
    assert "'shot010.blend' is a relative path; it must be absolute" in result.err


def test_a_limit_is_set_named_by_a_job_listed_and_deleted_once_no_job_names_it(verb: Verb) -> None:
    assert verb("limit", "set", "maya", "5").out.strip() == "limit maya: 0 of 5 in use"
    job_id = verb("submit", "demo", "--frames", "1", "--limit", "maya").out.strip()
    listed = json.loads(verb("limit", "list", "--json").out)
    assert listed == [{"capacity": 5, "holder_job_ids": [], "in_use": 0, "name": "maya"}]
    assert verb("limit", "list").lines[1].split()[:3] == ["maya", "0", "5"]
    refused = verb("limit", "delete", "maya")
    assert refused.code == 2 and f"job {job_id} still names limit 'maya'" in refused.err
    unknown = verb("submit", "demo", "--frames", "1", "--limit", "houdini")
    assert unknown.code == 2 and "there is no limit 'houdini'" in unknown.err
    assert verb("cancel", job_id).code == 0
    assert verb("limit", "delete", "maya").out.strip() == "limit maya deleted"


def test_unblock_names_what_the_job_blocks_and_job_shows_none_blocked(verb: Verb) -> None:
    job_id = verb("submit", "demo", "--frames", "1", "--max-agent-failures", "2", "--min-runtime", "1.5").out
    job_id = job_id.strip()
    shown = json.loads(verb("job", job_id, "--json").out)
    assert (shown["max_agent_failures"], shown["min_runtime"], shown["blocked_agents"]) == (2, 1.5, [])
    assert "blocked agents" in verb("job", job_id).out
    refused = verb("unblock", job_id, "node7")
    assert refused.code == 2 and "does not block agent 'node7'" in refused.err


def test_why_says_a_job_waits_for_a_limit_and_no_agent_has_joined(verb: Verb) -> None:
    assert verb("limit", "set", "nuke", "0").code == 0
    job_id = verb("submit", "demo", "--frames", "1", "--limit", "nuke").out.strip()
    said = verb("why", job_id)
    assert said.code == 0, said.err
    assert f"job {job_id}: limit nuke 0/0 held by jobs none" in said.lines
    assert f"job {job_id}: no agent has joined the farm" in said.lines
    answer = json.loads(verb("why", job_id, "1", "--json").out)
    assert "no agent has joined the farm" in answer["reasons"]
    missing = verb("why", job_id, "7")
    assert missing.code == 2 and f"job {job_id} has no frame 7" in missing.err
