"""Renderers that misbehave: hang, flood their output, leave children behind. The farm
kills what it must, keeps what it should, and keeps answering meanwhile."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from renderq.agent.runner import LOG_LIMIT
from tests.system.conftest import Farm
from tests.waiting import eventually

from .conftest import (
    PeakRss,
    assert_every_frame_completed_once,
    frames,
    processes_marked,
    start_farm,
    task_pid,
    wait_assigned,
)

pytestmark = pytest.mark.system

MiB = 1024 * 1024
FLOOD_BYTES = 100_000_000
AGENT_RSS_BOUND = 500 * MiB


def submit(farm: Farm, mark: tuple[str, str], *args: str) -> str:
    """Submit a command job whose every process carries ``mark`` in its environment."""
    name, value = mark
    return str(farm.cli.json("submit", "command", "--env", f"{name}={value}", *args)["id"])


def test_hung_renderer_is_killed_at_its_timeout_and_fails_its_frame_after_the_retry(
    farm_factory: Callable[[], Farm],
    task_mark: tuple[str, str],
) -> None:
    farm: Farm = farm_factory()
    controller = start_farm(farm, ["a1"], "--kill-grace", "1")
    # It ignores SIGTERM (and so do its children): only the SIGKILL after the grace ends it.
    hang = "trap '' TERM; echo hanging; while :; do sleep 0.1; done"
    job_id = submit(
        farm, task_mark, "--frames", "1", "--timeout", "3", "--max-retries", "1", "--", "sh", "-c", hang
    )
    first = wait_assigned(controller, job_id)
    agent = farm.agents["a1"]
    task_pid(agent, first.attempt_id)

    listed = {str(job["id"]): job for job in farm.cli.json("jobs")}
    assert listed[job_id]["state"] == "running", "the job should still run while its renderer hangs"

    agent.wait_for_line(rf"task timed out job={job_id} task=\d+ attempt={first.attempt_id} ")
    ended = farm.cli.run("wait", job_id, "--timeout", "60", check=False)
    assert ended.returncode == 1, ended
    (frame,) = frames(farm.cli, job_id)
    assert frame["state"] == "failed"
    assert frame["error_message"] == "timed out after 3 s"
    assert (frame["attempt_count"], frame["failure_count"]) == (2, 2), "the frame was not retried once"
    eventually("no process of the hung task is left", lambda: not processes_marked(task_mark))


def test_renderer_flooding_100_mb_of_output_keeps_the_farm_responsive_and_the_agent_bounded(
    farm_factory: Callable[[], Farm],
    task_mark: tuple[str, str],
) -> None:
    farm: Farm = farm_factory()
    controller = start_farm(farm, ["a1"])
    agent = farm.agents["a1"]
    line = "Fra:1 Mem:512.00M (Peak 640.00M) | Time:00:01.00 | Sample 10/128 | a renderer talking a lot"
    flood = f"yes '{line}' | head -c {FLOOD_BYTES}; echo flood-done"
    with PeakRss(agent.popen.pid) as rss:
        job_id = submit(farm, task_mark, "--frames", "1", "--", "sh", "-c", flood)
        task_pid(agent, wait_assigned(controller, job_id).attempt_id)
        rounds = 0

        def other_calls_answer_and_the_frame_is_done() -> bool:
            nonlocal rounds
            assert any(str(job["id"]) == job_id for job in farm.cli.json("jobs"))
            assert [a["id"] for a in farm.cli.json("agents")] == [agent.agent_id]
            rounds += 1
            return bool(frames(farm.cli, job_id)[0]["state"] == "completed")

        eventually("the flooding frame completed", other_calls_answer_and_the_frame_is_done)
    print(f"flood: {rounds} rounds of CLI calls answered; agent peak RSS {rss.peak / MiB:.0f} MiB")
    assert rss.peak < AGENT_RSS_BOUND, f"the agent grew to {rss.peak / MiB:.0f} MiB"
    assert_every_frame_completed_once(farm.cli, job_id, 1)

    log = farm.cli.run("logs", job_id, "1").stdout
    output = (line + "\n") * (LOG_LIMIT // (len(line) + 1) + 1)
    assert log[:LOG_LIMIT] == output[:LOG_LIMIT], "the stored log is not the output's first bytes"
    dropped = FLOOD_BYTES + len("flood-done\n") - LOG_LIMIT
    assert log[LOG_LIMIT:].strip() == (
        f"[renderq: {dropped:,} bytes of output dropped: a task's log keeps its first {LOG_LIMIT:,} bytes]"
    )


def test_renderer_that_forks_children_and_exits_leaves_no_process_behind(
    farm_factory: Callable[[], Farm],
    task_mark: tuple[str, str],
) -> None:
    farm: Farm = farm_factory()
    start_farm(farm, ["a1"])
    fork = "\n".join(
        [
            "sleep 300 &",  # a child in the task's group
            "(sleep 300 &)",  # a grandchild, orphaned at once, still in the group
            "setsid sh -c 'sleep 300 &'",  # a daemon: a session of its own, orphaned at once
            "setsid sleep 300 &",  # a child in a session of its own
            "echo forked",  # and the renderer exits at once: they all linger
        ]
    )
    job_id = submit(farm, task_mark, "--frames", "1", "--", "sh", "-c", fork)
    assert farm.cli.run("wait", job_id, "--timeout", "60").returncode == 0
    assert_every_frame_completed_once(farm.cli, job_id, 1)
    eventually("no process of the task is left", lambda: not processes_marked(task_mark))
