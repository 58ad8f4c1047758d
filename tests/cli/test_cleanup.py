"""``renderq cleanup`` against a real controller and a scripted agent: what each agent
freed and the total, in text and JSON; refusals in one sentence; durations as people type them."""

from __future__ import annotations

import asyncio
import json

import pytest

from renderq.client.units import parse_duration
from renderq.v1 import agent_service_pb2 as apb

from ..controller.test_link_protocol import complete
from .conftest import CliRunner, FarmWithAgent, Result


def verb(cli: CliRunner, farm: FarmWithAgent, name: str, *argv: str) -> Result:
    """``renderq NAME --controller ... --data-dir ... ARGV`` (the flags before any ``--``)."""
    return cli(name, "--controller", farm.address, "--data-dir", str(farm.data_dir), *argv, controller=False)


def completed_job(cli: CliRunner, farm: FarmWithAgent) -> str:
    submitted = verb(cli, farm, "submit", "command", "--frames", "1", "--", "true")
    assert submitted.code == 0, submitted.err
    farm.run(complete(farm.agent, farm.run(farm.agent.next_request("assign")).assign))
    waited = verb(cli, farm, "wait", submitted.out.strip())
    assert waited.code == 0, waited.err
    return submitted.out.strip()


def answer_cleanups(farm: FarmWithAgent, count: int, removed: int, freed: int) -> None:
    """The scripted agent answers the next ``count`` cleanups (the CLI's call waits for it)."""

    async def answer() -> None:
        for _ in range(count):
            asked = (await farm.agent.next_request("cleanup")).cleanup
            done = apb.CleanupDone(request_id=asked.request_id, workspaces_removed=removed, bytes_freed=freed)
            await farm.agent.send(apb.LinkResponse(cleaned=done))

    asyncio.run_coroutine_threadsafe(answer(), farm.loop)


def test_cleanup_says_what_each_agent_freed_and_the_total(
    cli: CliRunner, farm_with_agent: FarmWithAgent
) -> None:
    job_id = completed_job(cli, farm_with_agent)
    answer_cleanups(farm_with_agent, 2, 1, 3 << 29)

    text = verb(cli, farm_with_agent, "cleanup", job_id)
    as_json = verb(cli, farm_with_agent, "cleanup", "--state", "completed", "--older-than", "0s", "--json")

    assert (text.code, text.err) == (0, "")
    assert [line.split() for line in text.lines] == [
        ["cleaned", "the", "workspaces", "of", "job", job_id],
        ["AGENT", "WORKSPACES", "FREED", "NOTE"],
        ["scripted-1", "1", "1.5", "GiB", "-"],
        ["total", "1", "1.5", "GiB"],
    ]
    assert json.loads(as_json.out) == {
        "job_ids": [int(job_id)],
        "agents": [{"agent_id": "scripted-1", "workspaces_removed": 1, "bytes_freed": 3 << 29, "error": ""}],
    }


def test_a_job_that_runs_is_refused_and_no_match_is_said(
    cli: CliRunner, farm_with_agent: FarmWithAgent
) -> None:
    submitted = verb(cli, farm_with_agent, "submit", "command", "--frames", "1", "--", "true")
    farm_with_agent.run(farm_with_agent.agent.next_request("assign"))

    refused = verb(cli, farm_with_agent, "cleanup", submitted.out.strip())
    nothing = verb(cli, farm_with_agent, "cleanup", "--owner", "nobody-here")

    assert (refused.code, refused.out) == (2, "")
    assert refused.err.startswith(f"renderq: job {submitted.out.strip()} is ")
    assert refused.err.endswith("; cancel it or let it end first (FAILED_PRECONDITION)\n")
    assert (nothing.code, nothing.out) == (0, "no ended job matches: nothing to clean\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "say which workspaces to remove: JOB ..., or --state, --older-than, --owner, or --all"),
        (
            ["3", "--owner", "ana"],
            "name jobs, or choose them with --state, --older-than, --owner or --all; not both",
        ),
        (
            ["--all", "--state", "failed"],
            "--all is every ended job: leave out --state, --older-than and --owner",
        ),
    ],
)
def test_the_command_line_must_say_which_workspaces(cli: CliRunner, argv: list[str], message: str) -> None:
    result = cli("cleanup", *argv)

    assert (result.code, result.out, result.err) == (2, "", f"renderq: {message}\n")
    as_json = json.loads(cli("cleanup", *argv, "--json").err)
    assert as_json == {"error": {"code": None, "exit_code": 2, "message": message}}


def test_a_duration_that_is_not_one_is_refused_by_its_flag(cli: CliRunner) -> None:
    result = cli("cleanup", "--older-than", "a week")

    assert result.code == 2
    assert (
        "argument --older-than: 'a week' is not a duration; write seconds or a number with s, m, h or d"
        in (result.err)
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("1.5H", 5400)],
)
def test_durations_read_as_people_type_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
